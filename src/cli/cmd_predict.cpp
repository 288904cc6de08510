// `vision predict`: run a model on an image, a folder or a video.
#include "common.hpp"

namespace vision::cli {

namespace {

struct PredictOptions {
  CommonOptions common;
  std::string model;
  std::string source;
  double confidence = 0.25;
  std::string save_dir;
  bool json = false;
};

int run_predict(const PredictOptions& options) {
  return run_command(
      options.common, "predict", [](const Config&) { return RunSpec{"predict", "", ""}; },
      [&options](Run& run) -> Expected<void> {
        if (auto ok = require_path(options.model, "--model", false); !ok) return ok;
        std::error_code ec;
        if (!std::filesystem::exists(options.source, ec)) {
          return fail(ErrorCode::not_found, "--source: not found: " + options.source);
        }
        run.artifacts()["model"] = std::filesystem::absolute(options.model).string();
        return fail(ErrorCode::not_implemented,
                    "predict: the inference engine is not available yet in this version of Vision");
      });
}

}  // namespace

void add_predict_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<PredictOptions>();
  auto* command = app.add_subcommand("predict", "Detect objects in an image, folder or video");
  add_common_options(*command, options->common);
  command->add_option("--model", options->model, "ONNX model")->required();
  command->add_option("--source", options->source, "Image file, folder or video file")->required();
  command->add_option("--conf", options->confidence, "Score threshold")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  command->add_option("--save", options->save_dir, "Write annotated images into this folder");
  command->add_flag("--json", options->json, "One JSON object per image or frame on stdout");
  command->callback([&action, options] { action = [options] { return run_predict(*options); }; });
}

}  // namespace vision::cli
