// `vision autolabel`: label data.unlabeled_dir into data.labeled_dir.
#include "common.hpp"

namespace vision::cli {

namespace {

struct AutolabelOptions {
  CommonOptions common;
  std::optional<std::string> mode, confidence, on_conflict, model, max_images;
};

int run_autolabel(AutolabelOptions options) {
  set_if(options.common, "autolabel.mode", options.mode);
  set_if(options.common, "autolabel.confidence", options.confidence);
  set_if(options.common, "autolabel.on_conflict", options.on_conflict);
  set_if(options.common, "autolabel.model.onnx_model", options.model);
  set_if(options.common, "autolabel.llm.max_images", options.max_images);
  return run_command(
      options.common, "autolabel",
      [](const Config& c) { return RunSpec{"autolabel", "autolabel_mode", c.string("autolabel.mode")}; },
      [](const Config& c) -> Expected<void> {
        if (auto ok = require_path(c.path("data.unlabeled_dir"), "data.unlabeled_dir", true); !ok) return ok;
        // A missing key stops the run before any image is read or sent.
        if (c.string("autolabel.mode") == "llm") return require_llm_api_key(c, "autolabel.llm");
        return require_path(c.path("autolabel.model.onnx_model"), "autolabel.model.onnx_model", false);
      },
      [](Run& run) -> Expected<void> {
        const Config& c = run.config();
        auto backend = autolabelers().find(c.string("autolabel.mode"));
        if (!backend) return std::unexpected(backend.error());
        return backend->get()(run);
      });
}

}  // namespace

void add_autolabel_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<AutolabelOptions>();
  auto* command = app.add_subcommand("autolabel", "Label unlabeled images with a model or a vision LLM");
  add_common_options(*command, options->common);
  command->add_option("--mode", options->mode, "autolabel.mode (model|llm)");
  command->add_option("--conf", options->confidence, "autolabel.confidence");
  command->add_option("--on-conflict", options->on_conflict, "autolabel.on_conflict (skip|overwrite|merge)");
  command->add_option("--model", options->model, "autolabel.model.onnx_model");
  command->add_option("--max-images", options->max_images, "autolabel.llm.max_images (0 = all)");
  command->callback([&action, options] { action = [options] { return run_autolabel(*options); }; });
}

}  // namespace vision::cli
