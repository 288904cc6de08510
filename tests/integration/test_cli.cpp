// Black-box tests of the `vision` binary: exit codes, stdout contract, run files.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "helpers/test_support.hpp"

namespace fs = std::filesystem;
using vision::test::read_json;
using vision::test::run_vision;
using vision::test::TempDir;
using vision::test::write_text;

TEST(CliInit, CreatesAConfigThatChecks) {
  TempDir dir;
  const auto init = run_vision({"init", "--workdir", (dir / "x").string()});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_TRUE(fs::exists(dir / "x/config.toml"));
  for (const char* folder : {"datasets/yolo", "datasets/labeled", "datasets/unlabeled", "models",
                             "runs", "outputs", "stats", "tmp"}) {
    EXPECT_TRUE(fs::is_directory(dir / "x" / folder)) << folder;
  }
  const auto check = run_vision({"config", "check", "--config", (dir / "x/config.toml").string()});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("config ok"), std::string::npos);
  // Paths of the new config point inside the new work-dir.
  const auto show = run_vision({"config", "show", "--json", "--config", (dir / "x/config.toml").string()});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const auto resolved = nlohmann::json::parse(show.out);
  EXPECT_EQ(resolved["workspace"]["root"], (dir / "x").string());
  EXPECT_EQ(resolved["data"]["unlabeled_dir"], (dir / "x/datasets/unlabeled").string());
}

TEST(CliInit, NeverOverwritesWithoutForce) {
  TempDir dir;
  write_text(dir / "x/config.toml", "# mine\n");
  const auto again = run_vision({"init", "--workdir", (dir / "x").string()});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already exists"), std::string::npos);
  EXPECT_EQ(vision::test::read_text(dir / "x/config.toml"), "# mine\n");
  EXPECT_EQ(run_vision({"init", "--force", "--workdir", (dir / "x").string()}).exit_code, 0);
}

TEST(CliConfig, BadConfigExitsTwoNamingTheKey) {
  TempDir dir;
  write_text(dir / "bad.toml", "[train]\nimg_size = 100\nepochz = 3\n");
  const auto check = run_vision({"config", "check", "--config", (dir / "bad.toml").string()});
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_NE(check.err.find("train.epochz"), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("did you mean \"train.epochs\""), std::string::npos) << check.err;

  write_text(dir / "bad2.toml", "[train]\nimg_size = 100\n");
  const auto rule = run_vision({"config", "check", "--config", (dir / "bad2.toml").string()});
  EXPECT_EQ(rule.exit_code, 2);
  EXPECT_NE(rule.err.find("train.img_size = 100: must be a positive multiple of 32"), std::string::npos)
      << rule.err;
}

TEST(CliConfig, CheckForACommandIgnoresOtherSections) {
  TempDir dir;
  write_text(dir / "c.toml", "[train]\nepochs = 0\n[deploy.edge]\nimages_dir = \"/x\"\nlocal_model = \"/m\"\n");
  EXPECT_EQ(run_vision({"config", "check", "--for", "deploy-edge", "--config", (dir / "c.toml").string()}).exit_code, 0);
  EXPECT_EQ(run_vision({"config", "check", "--for", "train", "--config", (dir / "c.toml").string()}).exit_code, 2);
  EXPECT_EQ(run_vision({"config", "check", "--for", "nonsense", "--config", (dir / "c.toml").string()}).exit_code, 2);
}

TEST(CliConfig, ShowTypesSetValuesAndRedactsSecrets) {
  TempDir dir;
  const auto show = run_vision({"config", "show", "--workdir", dir.path().string(), "--set",
                                "train.device=0", "--set", "deploy.statistics.api_key=topsecret"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("device = \"0\""), std::string::npos) << show.out;
  EXPECT_EQ(show.out.find("topsecret"), std::string::npos);
  EXPECT_NE(show.out.find("api_key = \"***\""), std::string::npos);
}

// A missing input is a usage error found before a run starts: exit 2, no run folder to litter runs/.
TEST(CliRun, MissingDataFolderIsAUsageErrorWithoutARun) {
  TempDir dir;
  const auto train = run_vision({"train", "--workdir", dir.path().string(), "--set",
                                 "class_map.names=[a]", "--set", "data.yolo_dataset_dir=/nonexistent/yolo"});
  EXPECT_EQ(train.exit_code, 2) << train.err;
  EXPECT_EQ(train.out.find("status="), std::string::npos) << train.out;
  EXPECT_NE(train.err.find("vision: usage error: data.yolo_dataset_dir"), std::string::npos) << train.err;
  EXPECT_NE(train.err.find("/nonexistent/yolo"), std::string::npos) << train.err;
  EXPECT_FALSE(fs::exists(dir / "runs") && !fs::is_empty(dir / "runs"));
}

TEST(CliRun, ConfigErrorsExitTwoBeforeAnyRunStarts) {
  TempDir dir;
  const auto edge = run_vision({"deploy", "edge", "--workdir", dir.path().string(), "--set",
                                "deploy.edge.jpeg_quality=0", "--set", "deploy.edge.images_dir=/x",
                                "--set", "deploy.edge.local_model=/m.onnx"});
  EXPECT_EQ(edge.exit_code, 2);
  EXPECT_NE(edge.err.find("deploy.edge.jpeg_quality"), std::string::npos) << edge.err;
  EXPECT_FALSE(fs::exists(dir / "runs") && !fs::is_empty(dir / "runs"));
}

TEST(CliRun, MissingModelFileIsAUsageErrorNamingIt) {
  TempDir dir;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"predict", "--model", "/none/m.onnx", "--source", dir.path().string()},
        std::vector<std::string>{"val", "--model", "/none/m.onnx", "--data", dir.path().string()},
        std::vector<std::string>{"export", "--model", "/none/m.onnx"},
        std::vector<std::string>{"deploy", "remote", "--model", "/none/m.onnx"},
        std::vector<std::string>{"deploy", "edge", "--model", "/none/m.onnx", "--set",
                                 "deploy.edge.images_dir=" + dir.path().string()}}) {
    TempDir workdir;
    auto full = args;
    full.insert(full.end(), {"--workdir", workdir.path().string(), "--set", "class_map.names=[a]"});
    const auto result = run_vision(full);
    EXPECT_EQ(result.exit_code, 2) << args[0] << ": " << result.err;
    EXPECT_NE(result.err.find("vision: usage error: "), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("/none/m.onnx"), std::string::npos) << result.err;
    EXPECT_FALSE(fs::exists(workdir / "runs") && !fs::is_empty(workdir / "runs")) << args[0];
  }
}

// Backend faster_rcnn trains where the build has a trainer (a dry run here); a build without
// LibTorch says it has none. Either way the data set is read first.
TEST(CliRun, FasterRcnnBackendTrainsWhereTheBuildHasATrainer) {
  TempDir dir;
  ASSERT_EQ(run_vision({"datagen", "--out", (dir / "data").string(), "--train", "2", "--val", "1", "--size", "64"}).exit_code, 0);
  const auto train = run_vision({"train", "--workdir", dir.path().string(), "--set",
                                 "class_map.names=[circle,square,triangle,star]", "--data", (dir / "data").string(),
                                 "--backend", "faster_rcnn", "--dry-run", "--img-size", "64", "--batch-size", "2"});
#ifdef VISION_WITH_TRAINING
  EXPECT_EQ(train.exit_code, 0) << train.err;
#else
  // A build without LibTorch has no backend to train with at all: exit 3, "not in this build".
  EXPECT_EQ(train.exit_code, 3);
  const auto metrics = read_json(vision::test::only_run_dir(dir.path()) / "metrics.json");
  EXPECT_NE(metrics["error"].get<std::string>().find("no trainer"), std::string::npos);
#endif
  const auto artifacts = read_json(vision::test::only_run_dir(dir.path()) / "artifacts.json");
  EXPECT_EQ(artifacts["backend"], "faster_rcnn");
  EXPECT_EQ(artifacts["artifacts"]["dataset"]["train"]["images"], 2);  // the data set was read first
}

TEST(CliUsage, UnknownFlagsAndCommandsExitTwo) {
  const auto unknown = run_vision({"train", "--no-such-flag"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err.rfind("vision: usage error: ", 0), 0U) << unknown.err;
  EXPECT_EQ(run_vision({"teleport"}).exit_code, 2);
  EXPECT_EQ(run_vision({}).exit_code, 2);
  const auto help = run_vision({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("autolabel"), std::string::npos);
}

// CLI11's errors read like Vision's own, and a mistyped or Ultralytics-named flag gets a hint.
TEST(CliUsage, MistypedFlagsGetADidYouMean) {
  struct Case {
    std::vector<std::string> args;
    std::string hint;
  };
  for (const auto& c : {Case{{"train", "--imgsz", "320"}, "--img-size"}, Case{{"train", "--epoch", "3"}, "--epochs"},
                        Case{{"predict", "--model", "m.onnx", "--source", ".", "--save-dir", "x"}, "--save"},
                        Case{{"deploy", "edge", "--max-frame", "3"}, "--max-frames"}}) {
    const auto result = run_vision(c.args);
    EXPECT_EQ(result.exit_code, 2) << c.args[1];
    EXPECT_EQ(result.err.rfind("vision: usage error: ", 0), 0U) << result.err;
    EXPECT_NE(result.err.find("did you mean " + c.hint), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << "one line:\n" << result.err;
  }
}

TEST(CliUsage, ValAndExportListOnlyTheirFlags) {
  const auto val = run_vision({"val", "--help"});
  EXPECT_EQ(val.exit_code, 0);
  EXPECT_NE(val.out.find("--model"), std::string::npos);
  EXPECT_EQ(val.out.find("--epochs"), std::string::npos) << val.out;
  const auto exported = run_vision({"export", "--help"});
  EXPECT_EQ(exported.exit_code, 0);
  EXPECT_NE(exported.out.find("--data"), std::string::npos);
  for (const char* flag : {"--epochs", "--batch-size", "--img-size", "--backend"}) {
    EXPECT_EQ(exported.out.find(flag), std::string::npos) << flag << "\n" << exported.out;
  }
}

TEST(CliUsage, AWorkdirWithoutConfigSaysSoAndSuggestsInit) {
  TempDir dir;
  const auto result = run_vision({"train", "--workdir", (dir / "typo").string()});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("no config.toml was found in " + (dir / "typo").string()), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("vision init"), std::string::npos) << result.err;
}

// The lines a third-party library writes on its own (OpenCV's [ WARN:…], FFmpeg's [mov @ …],
// libjpeg's "Premature end of JPEG file") never reach the user: every stderr line is Vision's.
TEST(CliQuiet, BrokenCamerasVideosAndJpegsGiveOnlyVisionsLines) {
  TempDir dir;
  const fs::path model = fs::path(VISION_SOURCE_DIR) / "../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
  write_text(dir / "notes.mp4", "this is a text file, not a video\n");
  fs::create_directories(dir / "images");
  const auto good = vision::test::run_vision({"datagen", "--out", (dir / "data").string(), "--train", "1", "--val", "1", "--size", "64"});
  ASSERT_EQ(good.exit_code, 0) << good.err;
  const fs::path jpeg = dir / "images" / "truncated.jpg";
  {
    // A real JPEG cut in half.
    fs::path first;
    for (const auto& entry : fs::directory_iterator(dir / "data" / "images" / "train")) first = entry.path();
    const auto bytes = vision::test::read_text(first);
    ASSERT_GT(bytes.size(), 100U);
    write_text(dir / "images" / "whole.jpg", bytes);
    write_text(jpeg, bytes.substr(0, bytes.size() / 2));
  }
  const std::vector<std::string> common = {"--workdir", (dir / "wd").string(), "--set", "class_map.names=[circle,square,triangle,star]",
                                           "--model", model.string()};
  const auto with = [&](std::vector<std::string> args) {
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  struct Case {
    std::string name;
    std::vector<std::string> args;
    int exit_code;
    std::string names;  // what Vision's message must name
  };
  for (const auto& c : {Case{"camera", with({"deploy", "edge", "--source", "camera", "--set", "deploy.edge.camera_id=57"}), 1,
                             "deploy.edge.camera_id"},
                        Case{"video", with({"deploy", "edge", "--source", "video", "--set",
                                            "deploy.edge.video_path=" + (dir / "notes.mp4").string()}),
                             1, "deploy.edge.video_path"},
                        Case{"jpeg edge", with({"deploy", "edge", "--source", "images", "--set",
                                                "deploy.edge.images_dir=" + (dir / "images").string()}),
                             0, jpeg.string()},
                        Case{"jpeg predict", {"predict", "--model", model.string(), "--source", jpeg.string()}, 0, jpeg.string()}}) {
    SCOPED_TRACE(c.name);
    const auto result = run_vision(c.args);
    EXPECT_EQ(result.exit_code, c.exit_code) << result.err;
    EXPECT_NE(result.err.find(c.names), std::string::npos) << result.err;
    std::istringstream lines(result.err);
    for (std::string line; std::getline(lines, line);) {
      const bool ours = line.empty() || line.starts_with("[INFO] ") || line.starts_with("[WARN] ") ||
                        line.starts_with("[ERROR] ") || line.starts_with("vision: ") ||
                        line.starts_with("deploy edge ");  // its progress, in plain lines off a terminal
      EXPECT_TRUE(ours) << "a line Vision did not write: " << line << "\nin:\n" << result.err;
    }
  }
}

// deploy remote, like stats serve, refuses to face the network without a key: exit 2 before any run.
TEST(CliRun, ARemoteServerOnANonLoopbackHostNeedsAKey) {
  TempDir dir;
  const fs::path model = fs::path(VISION_SOURCE_DIR) / "../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
  const auto refused = run_vision({"deploy", "remote", "--workdir", dir.path().string(), "--model", model.string(), "--set",
                                   "deploy.remote.listen_host=0.0.0.0"});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("deploy.remote.ingest_api_key"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--insecure"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(dir / "runs") && !fs::is_empty(dir / "runs"));
}
