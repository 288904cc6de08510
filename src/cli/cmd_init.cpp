// `vision init`: a work-dir with config.toml (from the embedded example) and its folders.
#include <cstdio>
#include <fstream>

#include "common.hpp"

namespace fs = std::filesystem;

namespace vision::cli {

namespace {

struct InitOptions {
  CommonOptions common;
  bool force = false;
};

// The example's paths assume the config sits in a folder named work-dir (they resolve against
// its parent); anywhere else they are rewritten to point inside the new work-dir.
std::string example_for(const fs::path& root) {
  std::string text = example_config_toml();
  if (root.filename() == "work-dir") return text;
  const auto replace_all = [&text](const std::string& from, const std::string& to) {
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
      text.replace(at, from.size(), to);
    }
  };
  replace_all("\"./work-dir/", "\"./");
  replace_all("\"./work-dir\"", "\".\"");
  return text;
}

int run_init(const InitOptions& options) {
  const fs::path root = fs::absolute(options.common.workdir.empty() ? fs::path("work-dir")
                                                                    : fs::path(options.common.workdir))
                            .lexically_normal();
  const fs::path config_file = root / "config.toml";
  std::error_code ec;
  if (fs::exists(config_file, ec) && !options.force) {
    return report_error({ErrorCode::usage, config_file.string() +
                                               " already exists; keep it, or pass --force to "
                                               "replace it with the example"});
  }
  fs::create_directories(root, ec);
  if (ec) return report_error({ErrorCode::io, "cannot create " + root.string() + ": " + ec.message()});
  {
    std::ofstream out(config_file, std::ios::trunc);
    out << example_for(root);
    if (!out) return report_error({ErrorCode::io, "cannot write " + config_file.string()});
  }
  ConfigSources sources;
  sources.config_file = config_file;
  auto config = Config::load(sources);
  if (!config) return report_error(config.error());
  if (auto ok = ensure_workdir_layout(config->root()); !ok) return report_error(ok.error());
  std::printf("config=%s\nworkdir=%s\n", config_file.c_str(), config->root().c_str());
  std::fprintf(stderr, "Created %s; edit class_map and the data paths, then run a command with "
                       "--config %s\n", config_file.c_str(), config_file.c_str());
  return 0;
}

}  // namespace

void add_init_command(CLI::App& app, Action& action) {
  auto* command = app.add_subcommand("init", "Create a work-dir with config.toml and its folders");
  auto options = std::make_shared<InitOptions>();
  add_common_options(*command, options->common);
  command->add_flag("--force", options->force, "Replace an existing config.toml");
  command->callback([&action, options] { action = [options] { return run_init(*options); }; });
}

}  // namespace vision::cli
