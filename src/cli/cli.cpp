#include "vision/cli/cli.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/image/image_files.hpp"

namespace vision::cli {

namespace {

// The subcommand the user was typing: the deepest one CLI11 parsed.
const CLI::App& innermost(const CLI::App& app) {
  for (const auto* sub : app.get_subcommands()) {
    if (sub->parsed()) return innermost(*sub);
  }
  return app;
}

// "--imgsz" → "--img-size": Ultralytics' names first, then the closest flag ignoring dashes.
std::string flag_hint(const CLI::App& command, const std::string& word) {
  static const std::map<std::string, std::string> k_ultralytics = {{"imgsz", "--img-size"}, {"batch", "--batch-size"}};
  const auto without_dashes = [](std::string text) {
    std::erase(text, '-');
    return text;
  };
  std::string bare = word.substr(0, word.find('='));
  bare = bare.substr(std::min(bare.find_first_not_of('-'), bare.size()));
  std::vector<std::string> flags, keys;
  for (const auto* option : command.get_options()) {
    for (const auto& name : option->get_lnames()) {
      flags.push_back("--" + name);
      keys.push_back(without_dashes(name));
    }
  }
  if (const auto alias = k_ultralytics.find(bare);
      alias != k_ultralytics.end() && std::find(flags.begin(), flags.end(), alias->second) != flags.end()) {
    return alias->second;
  }
  const std::string key = without_dashes(bare);
  for (size_t i = 0; i < keys.size(); ++i) {
    // "--save-dir" for "--save": one name a longer spelling of the other.
    if (std::min(key.size(), keys[i].size()) >= 4 && (key.starts_with(keys[i]) || keys[i].starts_with(key))) return flags[i];
  }
  const auto match = closest_match(key, keys);
  if (match.empty()) return {};
  return flags[static_cast<size_t>(std::find(keys.begin(), keys.end(), match) - keys.begin())];
}

// CLI11's error as one `vision: usage error: …` line, with a "did you mean" for a mistyped flag.
std::string usage_message(const CLI::App& app, const CLI::ParseError& error) {
  const CLI::App& command = innermost(app);
  std::string message = error.what();
  for (const auto& extra : command.remaining()) {
    if (!extra.starts_with("-")) continue;
    if (const auto hint = flag_hint(command, extra); !hint.empty()) {
      message += " (did you mean " + hint + " for " + extra + "?)";
    }
  }
  std::string path;
  for (const auto* c = &command; c->get_parent() != nullptr; c = c->get_parent()) path = c->get_name() + " " + path;
  return message + "; see vision " + path + "--help";
}

}  // namespace

int main(int argc, char** argv) {
  interrupt::install();
  quiet_image_library_logs();
  register_backends();
  CLI::App app{"Vision: train, export, auto-label, deploy and watch your own object detectors.",
               "vision"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(VISION_VERSION));
  app.footer("Exit codes: 0 ok, 1 run failed, 2 config or usage error, 3 component not in this "
             "build, 4 trained but export failed, 130 interrupted.");
  Action action;
  add_init_command(app, action);
  add_config_command(app, action);
  add_train_commands(app, action);
  add_predict_command(app, action);
  add_autolabel_command(app, action);
  add_labels_command(app, action);
  add_deploy_command(app, action);
  add_stats_command(app, action);
  add_demo_command(app, action);
  add_datagen_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return report_error({ErrorCode::usage, usage_message(app, e)});
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
