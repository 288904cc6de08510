// `vision datagen`: write the synthetic shapes data set (YOLO layout) for tests, demos and
// benchmarks.
#include <cstdio>

#include "common.hpp"
#include "vision/data/synthetic_shapes.hpp"

namespace vision::cli {

namespace {

struct DatagenOptions {
  std::string out_dir;
  int train = 400;
  int val = 100;
  int size = 320;
  std::uint64_t seed = 7;
};

int run_datagen(const DatagenOptions& options) {
  const auto ok = write_shape_dataset({options.out_dir, options.train, options.val, options.size, options.seed});
  if (!ok) return report_error(ok.error());
  std::printf("dataset=%s\n", std::filesystem::absolute(options.out_dir).lexically_normal().c_str());
  return 0;
}

}  // namespace

void add_datagen_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<DatagenOptions>();
  auto* command = app.add_subcommand("datagen", "Write the synthetic shapes data set (YOLO layout)");
  command->add_option("--out", options->out_dir, "Output folder")->required();
  command->add_option("--train", options->train, "Training images")->capture_default_str()->check(CLI::NonNegativeNumber);
  command->add_option("--val", options->val, "Validation images")->capture_default_str()->check(CLI::NonNegativeNumber);
  command->add_option("--size", options->size, "Image size in pixels")->capture_default_str()->check(CLI::Range(32, 4096));
  command->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  command->callback([&action, options] { action = [options] { return run_datagen(*options); }; });
}

}  // namespace vision::cli
