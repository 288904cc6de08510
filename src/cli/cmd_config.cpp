// `vision config show` and `vision config check`.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "scopes.hpp"

namespace vision::cli {

namespace {

struct ConfigOptions {
  CommonOptions common;
  bool json = false;
  std::string command;  // check: validate only what this command uses
};

int run_show(const ConfigOptions& options) {
  auto config = load_config(options.common, {"app"});
  if (!config) return 2;
  if (options.json) {
    std::printf("%s\n", config->to_json().dump(2).c_str());
  } else {
    std::printf("%s", config->to_toml().c_str());
  }
  return 0;
}

int run_check(const ConfigOptions& options) {
  std::vector<std::string> scopes;
  if (!options.command.empty()) {
    auto found = scopes_for_command(options.command);
    if (!found) return report_error(found.error());
    scopes = *found;
  }
  auto config = load_config(options.common, scopes);
  if (!config) return 2;
  const auto source = config->source_file().empty() ? std::string("built-in defaults")
                                                    : config->source_file().string();
  std::printf("config ok: %s\n", source.c_str());
  return 0;
}

}  // namespace

void add_config_command(CLI::App& app, Action& action) {
  auto* config = app.add_subcommand("config", "Show or check the resolved configuration");
  config->require_subcommand(1);

  auto show_options = std::make_shared<ConfigOptions>();
  auto* show = config->add_subcommand("show", "Print the resolved config (secrets redacted)");
  add_common_options(*show, show_options->common);
  show->add_flag("--json", show_options->json, "Print JSON instead of TOML");
  show->callback([&action, show_options] { action = [show_options] { return run_show(*show_options); }; });

  auto check_options = std::make_shared<ConfigOptions>();
  auto* check = config->add_subcommand("check", "Validate the config; exit 2 naming each bad key");
  add_common_options(*check, check_options->common);
  check->add_option("--for", check_options->command,
                    "Check only what this command uses (train, val, export, predict, autolabel, "
                    "labels-import, deploy-edge, deploy-remote, stats)");
  check->callback([&action, check_options] { action = [check_options] { return run_check(*check_options); }; });
}

}  // namespace vision::cli
