// `vision stats serve|start|stop|status|install-systemd`: binds flags and config to
// StatsServiceOptions / BackgroundOptions and calls the stats module.
#include <algorithm>
#include <cstdio>
#include <utility>

#include "common.hpp"
#include "scopes.hpp"
#include "vision/core/log.hpp"
#include "vision/core/secrets.hpp"
#include "vision/stats/background_service.hpp"
#include "vision/stats/stats_service.hpp"

namespace fs = std::filesystem;

namespace vision::cli {

namespace {

struct StatsOptions {
  CommonOptions common;
  std::optional<std::string> api_port, ui_port, public_host;
  bool insecure = false;
  double wait_sec = 20.0;
  std::string output;
  std::string user;
};

std::optional<Config> load_stats_config(StatsOptions& options) {
  set_if(options.common, "deploy.statistics.api_port", options.api_port);
  set_if(options.common, "deploy.statistics.ui_port", options.ui_port);
  set_if(options.common, "deploy.statistics.public_host", options.public_host);
  auto scopes = scopes_for_command("stats");
  if (!scopes) {
    report_error(scopes.error());
    return std::nullopt;
  }
  return load_config(options.common, *scopes);
}

stats::StatsServiceOptions service_options(const Config& c, bool insecure) {
  stats::StatsServiceOptions o;
  o.public_host = c.string("deploy.statistics.public_host");
  o.api_port = static_cast<int>(c.integer("deploy.statistics.api_port"));
  o.ui_port = static_cast<int>(c.integer("deploy.statistics.ui_port"));
  o.store.storage = c.string("deploy.statistics.storage");
  o.store.db_path = c.path("deploy.statistics.db_path");
  o.store.postgres_url = c.string("deploy.statistics.postgres_url");
  o.api_key = c.string("deploy.statistics.api_key");
  o.read_api_key = c.string("deploy.statistics.read_api_key");
  o.ack_after_commit = c.string("deploy.statistics.ack") == "commit";
  o.cors_origins = c.strings("deploy.statistics.cors_origins");
  o.rate_limit_per_sec = c.number("deploy.statistics.rate_limit_per_sec");
  o.retention_days = static_cast<int>(c.integer("deploy.statistics.retention_days"));
  o.flush_interval_sec = c.number("statistics.flush_interval_sec");
  o.insecure = insecure;
  return o;
}

// The `vision stats serve …` command line that reproduces this invocation's config, and the
// environment that carries the secrets given with --set (never on a command line, which any
// user of the machine can read in ps).
struct ServeCommand {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> secrets;
};

ServeCommand serve_command(const StatsOptions& options) {
  ServeCommand serve;
  auto& command = serve.argv;
  command = {vision_executable().string(), "stats", "serve"};
  const fs::path config_file = choose_config_file(options.common);
  if (!config_file.empty()) {
    command.push_back("--config");
    command.push_back(fs::absolute(config_file).string());
  }
  if (!options.common.workdir.empty()) {
    command.push_back("--workdir");
    command.push_back(fs::absolute(options.common.workdir).string());
  }
  const auto secret_keys = secret_config_keys();
  for (const auto& override_value : options.common.overrides) {
    const auto key = override_value.substr(0, override_value.find('='));
    if (std::ranges::find(secret_keys, key) != secret_keys.end()) {
      serve.secrets.emplace_back(secret_env_name(key), override_value.substr(std::min(override_value.size(), key.size() + 1)));
      continue;
    }
    command.push_back("--set");
    command.push_back(override_value);
  }
  if (options.insecure) command.push_back("--insecure");
  return serve;
}

stats::BackgroundOptions background_options(const Config& c, const StatsOptions& options) {
  stats::BackgroundOptions b;
  auto serve = serve_command(options);
  b.command = std::move(serve.argv);
  b.environment = std::move(serve.secrets);
  b.pid_file = c.root() / "stats.pid";
  b.output_file = c.root() / "stats" / "service.log";
  b.health_url = stats::local_url(c.string("deploy.statistics.public_host"),
                                  static_cast<int>(c.integer("deploy.statistics.api_port"))) +
                 "/health";
  b.timeout_sec = options.wait_sec;
  return b;
}

int run_serve(StatsOptions options) {
  auto config = load_stats_config(options);
  if (!config) return 2;
  auto service_opts = service_options(*config, options.insecure);
  if (auto ok = stats::check_exposure(service_opts); !ok) return report_error(ok.error());
  if (auto ok = ensure_workdir_layout(config->root()); !ok) return report_error(ok.error());
  if (auto ok = open_run_log(*config); !ok) return report_error(ok.error());
  auto result = stats::serve(service_opts, [&](const stats::StatsService& service) {
    std::printf("api=%s\ndashboard=%s\nstorage=%s\n", service.api_url().c_str(),
                service.dashboard_url().c_str(), service_opts.store.storage.c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "vision: statistics API on %s, dashboard on %s (Ctrl+C stops)\n",
                 service.api_url().c_str(), service.dashboard_url().c_str());
  });
  if (!result) return report_error(result.error());
  return 0;
}

int run_start(StatsOptions options) {
  auto config = load_stats_config(options);
  if (!config) return 2;
  if (auto ok = stats::check_exposure(service_options(*config, options.insecure)); !ok) {
    return report_error(ok.error());
  }
  if (config->integer("deploy.statistics.api_port") == 0) {
    return report_error({ErrorCode::usage,
                         "stats start needs a fixed deploy.statistics.api_port (0 picks a random "
                         "port, which the health check cannot find); use stats serve for that"});
  }
  if (auto ok = ensure_workdir_layout(config->root()); !ok) return report_error(ok.error());
  const auto background = background_options(*config, options);
  auto status = stats::start_background(background);
  if (!status) {
    std::fprintf(stderr, "vision: %s\n", status.error().message.c_str());
    return 1;
  }
  const std::string api =
      stats::local_url(config->string("deploy.statistics.public_host"),
                       static_cast<int>(config->integer("deploy.statistics.api_port")));
  const std::string ui =
      stats::local_url(config->string("deploy.statistics.public_host"),
                       static_cast<int>(config->integer("deploy.statistics.ui_port"))) +
      "/";
  std::printf("pid=%d\napi=%s\ndashboard=%s\npid_file=%s\nlog=%s\n", status->pid, api.c_str(),
              ui.c_str(), background.pid_file.c_str(), background.output_file.c_str());
  std::fprintf(stderr, "vision: statistics service %s\n", status->detail.c_str());
  return 0;
}

int run_stop(StatsOptions options) {
  auto config = load_stats_config(options);
  if (!config) return 2;
  auto status = stats::stop_background(background_options(*config, options));
  if (!status) return report_error(status.error());
  std::fprintf(stderr, "vision: statistics service %s\n", status->detail.c_str());
  return 0;
}

// stop, then start with the same config: a new binary or config without editing the pid file.
int run_restart(StatsOptions options) {
  if (const int code = run_stop(options); code != 0) return code;
  return run_start(options);
}

int run_status(StatsOptions options) {
  auto config = load_stats_config(options);
  if (!config) return 2;
  const auto status = stats::background_status(background_options(*config, options));
  std::printf("status=%s\npid=%d\n",
              status.healthy   ? "healthy"
              : status.running ? "unhealthy"
                               : "stopped",
              status.pid);
  if (!status.health.empty()) std::printf("health=%s\n", status.health.c_str());
  std::fprintf(stderr, "vision: statistics service %s\n", status.detail.c_str());
  return status.healthy ? 0 : 1;
}

int run_install_systemd(StatsOptions options) {
  auto config = load_stats_config(options);
  if (!config) return 2;
  stats::SystemdUnitOptions unit;
  auto serve = serve_command(options);
  unit.command = std::move(serve.argv);
  unit.working_directory = fs::current_path();
  unit.user = options.user;
  if (!serve.secrets.empty()) {
    if (options.output.empty()) {
      return report_error({ErrorCode::usage, "the secrets given with --set go into an environment file beside the unit; "
                                             "pass --output so that both can be written"});
    }
    // The secrets in a file only its owner reads, which the unit names.
    unit.environment_file = fs::absolute(options.output).string() + ".env";
    std::string text;
    for (const auto& [name, value] : serve.secrets) text += name + "=" + value + "\n";
    if (auto ok = write_private_file(unit.environment_file, text); !ok) return report_error(ok.error());
  }
  const std::string text = stats::systemd_unit(unit);
  if (options.output.empty()) {
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  if (auto ok = write_file_atomic(options.output, text); !ok) return report_error(ok.error());
  std::printf("unit=%s\n", fs::absolute(options.output).c_str());
  if (!unit.environment_file.empty()) std::printf("environment_file=%s\n", unit.environment_file.c_str());
  std::fprintf(stderr,
               "vision: wrote %s; install it as /etc/systemd/system/vision-stats.service, then run "
               "systemctl daemon-reload && systemctl enable --now vision-stats\n",
               options.output.c_str());
  return 0;
}

void add_service_flags(CLI::App& command, StatsOptions& options) {
  command.add_option("--api-port", options.api_port, "deploy.statistics.api_port (default 7797)");
  command.add_option("--ui-port", options.ui_port, "deploy.statistics.ui_port (default 7796)");
  command.add_option("--public-host", options.public_host,
                     "deploy.statistics.public_host (default 127.0.0.1)");
  command.add_flag("--insecure", options.insecure,
                   "Allow a non-loopback public_host without deploy.statistics.api_key");
}

}  // namespace

void add_stats_command(CLI::App& app, Action& action) {
  auto* stats = app.add_subcommand("stats", "Statistics API and dashboard");
  stats->require_subcommand(1);

  auto add = [&](const std::string& name, const std::string& help, int (*run)(StatsOptions)) {
    auto options = std::make_shared<StatsOptions>();
    auto* command = stats->add_subcommand(name, help);
    add_common_options(*command, options->common);
    command->callback(
        [&action, options, run] { action = [options, run] { return run(*options); }; });
    return std::pair{command, options};
  };

  auto [serve, serve_options] = add(
      "serve", "Run the API and the dashboard in the foreground until Ctrl+C / SIGTERM", run_serve);
  add_service_flags(*serve, *serve_options);

  auto [start, start_options] = add("start",
                                    "Start the service in the background (pid file "
                                    "<root>/stats.pid) and wait until /health answers",
                                    run_start);
  add_service_flags(*start, *start_options);
  start->add_option("--wait-sec", start_options->wait_sec,
                    "How long to wait for /health (default 20)");

  auto [stop, stop_options] = add(
      "stop", "Stop the background service (SIGTERM: it commits queued events first)", run_stop);
  add_service_flags(*stop, *stop_options);
  stop->add_option("--wait-sec", stop_options->wait_sec,
                   "How long to wait for it to exit (default 20); it is never killed");

  auto [restart, restart_options] =
      add("restart", "Stop the background service (committing what it acknowledged), then start it again", run_restart);
  add_service_flags(*restart, *restart_options);
  restart->add_option("--wait-sec", restart_options->wait_sec, "How long to wait for the stop and for /health (default 20)");

  auto [status, status_options] =
      add("status", "Exit 0 only when the background service is running and healthy", run_status);
  // The same flags as start, so the health check asks the right port.
  add_service_flags(*status, *status_options);

  auto [systemd, systemd_options] = add(
      "install-systemd", "Print (or write with --output) a systemd unit for `vision stats serve`",
      run_install_systemd);
  add_service_flags(*systemd, *systemd_options);
  systemd->add_option("--output", systemd_options->output,
                      "Write the unit to this file instead of stdout");
  systemd->add_option("--user", systemd_options->user,
                      "User= of the unit (default: none, i.e. root)");
}

}  // namespace vision::cli
