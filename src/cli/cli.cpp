#include "vision/cli/cli.hpp"

#include <cstdio>

#include "common.hpp"
#include "vision/core/interrupt.hpp"

namespace vision::cli {

int main(int argc, char** argv) {
  interrupt::install();
  register_backends();
  CLI::App app{"Vision: train, export, auto-label, deploy and watch your own object detectors.",
               "vision"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(VISION_VERSION));
  app.footer("Exit codes: 0 ok, 1 run failed, 2 config or usage error, 3 component not in this "
             "build, 130 interrupted.");
  Action action;
  add_init_command(app, action);
  add_config_command(app, action);
  add_train_commands(app, action);
  add_predict_command(app, action);
  add_autolabel_command(app, action);
  add_deploy_command(app, action);
  add_stats_command(app, action);
  add_demo_command(app, action);
  add_datagen_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (!action) return report_error({ErrorCode::usage, "no command given; see vision --help"});
  try {
    return action();
  } catch (const VisionError& e) {
    return report_error(e.error());
  } catch (const std::exception& e) {
    return report_error({ErrorCode::runtime, e.what()});
  }
}

}  // namespace vision::cli
