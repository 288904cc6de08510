// The backends this build delivers, registered by name. Each entry binds config keys to the
// module's options struct and calls the module; nothing below src/cli reads Config.
#include "common.hpp"
#include "vision/autolabel/model_autolabel.hpp"

namespace vision::cli {

namespace {

Expected<void> autolabel_with_model(Run& run) {
  const Config& c = run.config();
  auto on_conflict = parse_on_conflict(c.string("autolabel.on_conflict"));
  if (!on_conflict) return std::unexpected(on_conflict.error());
  ModelAutolabelOptions options;
  options.unlabeled_dir = c.path("data.unlabeled_dir");
  options.labeled_dir = c.path("data.labeled_dir");
  options.class_names = c.class_names();
  options.on_conflict = *on_conflict;
  options.visualize = c.boolean("autolabel.visualize");
  options.batch_size = static_cast<int>(c.integer("autolabel.batch_size"));
  options.val_fraction = c.number("autolabel.val_fraction");
  options.detector.model_path = c.path("autolabel.model.onnx_model");
  options.detector.confidence = static_cast<float>(c.number("autolabel.confidence"));
  run.artifacts()["model"] = options.detector.model_path.string();
  auto report = run_model_autolabel(options);
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report, options.labeled_dir));
  return {};
}

}  // namespace

void register_backends() {
  autolabelers().add("model", autolabel_with_model);
}

}  // namespace vision::cli
