// `vision stats serve|start|stop|status`: the statistics service.
#include "common.hpp"

namespace vision::cli {

namespace {

int not_yet(const CommonOptions& options) {
  if (!load_config(options, {"app", "workspace", "deploy.statistics", "statistics"})) return 2;
  return report_error({ErrorCode::not_implemented,
                       "the statistics service is not available yet in this version of Vision"});
}

}  // namespace

void add_stats_command(CLI::App& app, Action& action) {
  auto* stats = app.add_subcommand("stats", "Statistics API and dashboard");
  stats->require_subcommand(1);
  for (const auto& [name, help] : std::vector<std::pair<std::string, std::string>>{
           {"serve", "Run the API and the dashboard in the foreground"},
           {"start", "Start the service in the background (pid file in the work-dir)"},
           {"stop", "Stop the background service"},
           {"status", "Exit 0 only when the background service is healthy"}}) {
    auto options = std::make_shared<CommonOptions>();
    auto* command = stats->add_subcommand(name, help);
    add_common_options(*command, *options);
    command->callback([&action, options] { action = [options] { return not_yet(*options); }; });
  }
}

}  // namespace vision::cli
