// `vision demo`: the loop on a built-in synthetic data set, as a user would type it. Every step
// is this same binary run as a child process with the command line printed first, so the demo
// doubles as a tour of the commands:
//   datagen → train (+ export) → val → autolabel → stats start → deploy edge (local) →
//   deploy remote + edge (stream) → stats overview → [dashboard until Ctrl+C] → stats stop
// On a terminal the demo ends by serving the dashboard of its statistics until Ctrl+C
// (--no-serve skips that, --serve asks for it elsewhere). With --model (any YOLOv8-style
// detection ONNX for the four shape classes) the demo skips training and uses that model.
// With VISION_LLM_BASE_URL set (an OpenAI-compatible endpoint; VISION_LLM_MODEL names the model)
// autolabel runs a second time with a vision LLM.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include <nlohmann/json.hpp>

#include "common.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_client.hpp"

namespace fs = std::filesystem;

namespace vision::cli {

namespace {

struct DemoOptions {
  CommonOptions common;
  std::string model;
  int epochs = 20;
  int train_images = 400;
  int val_images = 48;
  int unlabeled_images = 24;
  bool serve = false;
  bool no_serve = false;
};

pid_t spawn(const std::vector<std::string>& args) {
  std::string line = "$ vision";
  for (const auto& arg : args) line += " " + arg;
  std::fprintf(stderr, "\n\033[1m%s\033[0m\n", line.c_str());
  const std::string program = vision_executable().string();
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv = {const_cast<char*>(program.c_str())};
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    // Children take signals themselves; the demo forwards none.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_UNBLOCK, &all, nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int step(const std::vector<std::string>& args) { return wait_child(spawn(args)); }

fs::path newest_model(const fs::path& root) {
  fs::path best;
  fs::file_time_type best_time{};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root / "models", ec)) {
    const fs::path candidate = entry.path() / "model.onnx";
    if (fs::is_regular_file(candidate, ec) && (best.empty() || fs::last_write_time(candidate, ec) > best_time)) {
      best = candidate;
      best_time = fs::last_write_time(candidate, ec);
    }
  }
  return best;
}

// The statistics service the demo started keeps running, so its dashboard shows the demo's
// data; the caller stops the service afterwards, as it does without this step.
void serve_dashboard_until_interrupted(int ui_port) {
  const std::string url = "http://127.0.0.1:" + std::to_string(ui_port) + "/";
  std::printf("demo_dashboard=%s\n", url.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "\nThe dashboard shows the demo's statistics at %s\nPress Ctrl+C to end the demo.\n", url.c_str());
  while (!interrupt::requested()) interrupt::sleep_for(std::chrono::minutes(1));
}

// The optional LLM step: a few images, so that a paid API costs cents. 0 when it is not asked for.
template <class With>
int llm_autolabel_step(const Config& config, const With& with, const fs::path& unlabeled, const fs::path& labeled) {
  const char* base_url = std::getenv("VISION_LLM_BASE_URL");
  if (base_url == nullptr || *base_url == '\0') return 0;
  const char* model = std::getenv("VISION_LLM_MODEL");
  std::vector<std::string> args = {"autolabel", "--mode", "llm", "--on-conflict", "overwrite", "--max-images", "4",
                                   "--set", "autolabel.llm.base_url=" + std::string(base_url),
                                   "--set", "data.unlabeled_dir=" + unlabeled.string(),
                                   "--set", "data.labeled_dir=" + labeled.string()};
  if (model != nullptr && *model != '\0') {
    args.insert(args.end(), {"--set", "autolabel.llm.model=" + std::string(model)});
  } else if (config.string("autolabel.llm.model").empty()) {
    args.insert(args.end(), {"--set", "autolabel.llm.model=gpt-4o-mini"});
  }
  // No key in the environment: a local server that needs none.
  const std::string key_env = config.string("autolabel.llm.api_key_env");
  const char* key = key_env.empty() ? nullptr : std::getenv(key_env.c_str());
  if (key == nullptr || *key == '\0') args.insert(args.end(), {"--set", "autolabel.llm.api_key_env="});
  return step(with(args));
}

int run_demo(const DemoOptions& options) {
  auto config = load_config(options.common, {"app", "workspace"});
  if (!config) return 2;
  const fs::path root = config->root();
  const fs::path data = root / "datasets/demo-shapes";
  const fs::path unlabeled = root / "datasets/demo-unlabeled";
  const fs::path labeled = root / "datasets/demo-labeled";
  std::vector<std::string> common = {"--workdir", root.string(), "--set", "class_map.names=[" + [] {
    std::string names;
    for (const auto& n : k_shape_class_names) names += (names.empty() ? "" : ",") + n;
    return names;
  }() + "]"};
  if (!options.common.config_file.empty()) common.insert(common.end(), {"--config", options.common.config_file});
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };

  std::fprintf(stderr, "Vision demo in %s\n", root.c_str());
  if (step({"datagen", "--out", data.string(), "--train", std::to_string(options.train_images), "--val",
            std::to_string(options.val_images), "--seed", "7"}) != 0 ||
      step({"datagen", "--out", unlabeled.string(), "--train", std::to_string(options.unlabeled_images), "--val", "0",
            "--seed", "8"}) != 0) {
    return report_error({ErrorCode::runtime, "demo: writing the synthetic data set failed"});
  }
  int failures = 0;
  const auto count = [&](int code) { failures += code != 0 ? 1 : 0; };
  fs::path model = options.model.empty() ? fs::path() : fs::absolute(options.model);
  if (options.model.empty()) {
    // 400 images at 160 px for 20 epochs: about five minutes on two cores, and 500 optimiser
    // steps, enough for a detector that finds most shapes (mAP50 about 0.55).
    const int trained = step(with({"train", "--data", data.string(), "--epochs", std::to_string(options.epochs), "--img-size",
                                   "160", "--batch-size", "16", "--set", "export.quantize_mode=static"}));
    if (trained == 3) {
      std::fprintf(stderr,
                   "\nThe synthetic data set is in %s.\n"
                   "This build of Vision has no trainer (VISION_WITH_TRAINING=OFF), so the rest of the\n"
                   "demo needs a detection model for the shapes classes:\n"
                   "  scripts/vision demo --model path/to/yolov8-shapes.onnx\n",
                   data.c_str());
      return 0;
    }
    count(trained);
    model = newest_model(root);
    if (model.empty()) return report_error({ErrorCode::runtime, "demo: training wrote no model.onnx"});
  }
  count(step(with({"val", "--model", model.string(), "--data", data.string()})));
  count(step(with({"autolabel", "--model", model.string(), "--on-conflict", "overwrite", "--set",
                   "data.unlabeled_dir=" + (unlabeled / "images/train").string(), "--set",
                   "data.labeled_dir=" + labeled.string()})));
  count(llm_autolabel_step(*config, with, unlabeled / "images/train", root / "datasets/demo-llm-labeled"));

  const int api_port = net::free_loopback_port();
  const int ui_port = net::free_loopback_port();
  const std::string stats_url = "http://127.0.0.1:" + std::to_string(api_port);
  const std::vector<std::string> ports = {"--api-port", std::to_string(api_port), "--ui-port", std::to_string(ui_port)};
  auto stats_start = with({"stats", "start"});
  stats_start.insert(stats_start.end(), ports.begin(), ports.end());
  const int stats_start_code = step(stats_start);
  count(stats_start_code);
  const std::vector<std::string> edge_common = {"--set", "deploy.edge.images_dir=" + (data / "images/val").string(),
                                                "--set", "deploy.edge.fps_limit=0", "--set",
                                                "deploy.edge.stats_endpoint=" + stats_url + "/api/v1/push"};
  auto edge = with({"deploy", "edge", "--model", model.string()});
  edge.insert(edge.end(), edge_common.begin(), edge_common.end());
  count(step(edge));

  const int remote_port = net::free_loopback_port();
  const pid_t remote = spawn(with({"deploy", "remote", "--model", model.string(), "--port", std::to_string(remote_port),
                                   "--set", "deploy.remote.stats_endpoint=" + stats_url + "/api/v1/push"}));
  net::HttpClient probe({"http://127.0.0.1:" + std::to_string(remote_port), 1.0, ""});
  for (int i = 0; i < 100; ++i) {
    if (auto health = probe.get("/health"); health && health->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto stream = with({"deploy", "edge", "--mode", "stream", "--set",
                      "deploy.edge.stream_endpoint=http://127.0.0.1:" + std::to_string(remote_port) + "/api/v1/frame",
                      "--set", "deploy.edge.source_id=edge-stream"});
  // Both report to the demo's service with the defaults: the server says in /health that it
  // reports each streamed frame, so the edge keeps its copy in stats.jsonl and no frame is
  // counted twice.
  stream.insert(stream.end(), edge_common.begin(), edge_common.end());
  count(step(stream));
  kill(remote, SIGTERM);
  wait_child(remote);  // 130: stopped by the signal, as intended

  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(config->number("statistics.flush_interval_sec") * 1000) + 500));
  net::HttpClient stats({stats_url, 5.0, ""});
  if (auto overview = stats.get("/api/v1/overview"); overview && overview->status == 200) {
    const auto o = nlohmann::json::parse(overview->body);
    std::printf("demo_stats_events=%s\ndemo_stats_sources=%s\n", o["events"].dump().c_str(), o["sources"].dump().c_str());
  }
  const bool on_terminal = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1;
  if (stats_start_code == 0 && (options.serve || (on_terminal && !options.no_serve))) serve_dashboard_until_interrupted(ui_port);
  auto stats_stop = with({"stats", "stop"});
  stats_stop.insert(stats_stop.end(), ports.begin(), ports.end());
  count(step(stats_stop));
  std::fprintf(stderr, "\nDemo finished with %d failed step(s). Runs: %s/runs; labeled set: %s; annotated frames: %s/outputs.\n"
                       "See the dashboard with: scripts/vision stats serve --workdir %s\n",
               failures, root.c_str(), labeled.c_str(), root.c_str(), root.c_str());
  return failures == 0 ? 0 : 1;
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<DemoOptions>();
  auto* command = app.add_subcommand("demo", "Run the loop on a built-in synthetic data set, step by step");
  add_common_options(*command, options->common);
  command->add_option("--model", options->model, "Detection ONNX for the shapes classes; skips training");
  command->add_option("--epochs", options->epochs, "Training epochs when no --model is given")->capture_default_str();
  command->add_option("--train", options->train_images, "Synthetic training images")->capture_default_str();
  command->add_option("--val", options->val_images, "Synthetic validation images")->capture_default_str();
  command->add_option("--unlabeled", options->unlabeled_images, "Images to auto-label")->capture_default_str();
  auto* serve = command->add_flag("--serve", options->serve,
                                  "End by serving the dashboard until Ctrl+C even when not on a terminal");
  command->add_flag("--no-serve", options->no_serve,
                    "End after the last step; on a terminal the demo otherwise serves the dashboard until Ctrl+C")
      ->excludes(serve);
  command->callback([&action, options] { action = [options] { return run_demo(*options); }; });
}

}  // namespace vision::cli
