// `vision demo`: the whole loop on a built-in synthetic data set.
#include "common.hpp"

namespace vision::cli {

void add_demo_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<CommonOptions>();
  auto* command = app.add_subcommand("demo", "Run the whole loop on a built-in synthetic data set");
  add_common_options(*command, *options);
  command->callback([&action, options] {
    action = [options] {
      if (!load_config(*options, {"app", "workspace"})) return 2;
      return report_error({ErrorCode::not_implemented,
                           "the demo needs the inference engine, which is not available yet"});
    };
  });
}

}  // namespace vision::cli
