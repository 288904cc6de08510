// Black-box tests of the `vision` binary: exit codes, stdout contract, run files.
#include <gtest/gtest.h>

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

TEST(CliRun, MissingDataFolderFailsTheRunWithMetrics) {
  TempDir dir;
  const auto train = run_vision({"train", "--workdir", dir.path().string(), "--set",
                                 "class_map.names=[a]", "--set", "data.yolo_dataset_dir=/nonexistent/yolo"});
  EXPECT_EQ(train.exit_code, 1) << train.err;
  EXPECT_NE(train.out.find("status=failed"), std::string::npos) << train.out;
  const fs::path run_dir = vision::test::only_run_dir(dir.path());
  const auto metrics = read_json(run_dir / "metrics.json");
  EXPECT_EQ(metrics["status"], "failed");
  EXPECT_NE(metrics["error"].get<std::string>().find("data.yolo_dataset_dir"), std::string::npos);
  EXPECT_NE(metrics["error"].get<std::string>().find("/nonexistent/yolo"), std::string::npos);
  EXPECT_TRUE(fs::exists(run_dir / "config.resolved.toml"));
  EXPECT_TRUE(fs::exists(dir / "config.resolved.toml"));
  EXPECT_TRUE(fs::exists(dir / "log.txt"));
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

TEST(CliRun, MissingModelFileFailsWithItsPath) {
  TempDir dir;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"predict", "--model", "/none/m.onnx", "--source", dir.path().string()},
        std::vector<std::string>{"deploy", "remote", "--model", "/none/m.onnx"},
        std::vector<std::string>{"deploy", "edge", "--model", "/none/m.onnx", "--set",
                                 "deploy.edge.images_dir=" + dir.path().string()}}) {
    TempDir workdir;
    auto full = args;
    full.insert(full.end(), {"--workdir", workdir.path().string()});
    const auto result = run_vision(full);
    EXPECT_EQ(result.exit_code, 1) << args[0] << ": " << result.err;
    const auto metrics = read_json(vision::test::only_run_dir(workdir.path()) / "metrics.json");
    EXPECT_EQ(metrics["status"], "failed");
    EXPECT_NE(metrics["error"].get<std::string>().find("/none/m.onnx"), std::string::npos) << metrics.dump();
  }
}

TEST(CliRun, UndeliveredBackendsSayNotAvailableYet) {
  TempDir dir;
  ASSERT_EQ(run_vision({"datagen", "--out", (dir / "data").string(), "--train", "2", "--val", "1", "--size", "64"}).exit_code, 0);
  const auto train = run_vision({"train", "--workdir", dir.path().string(), "--set",
                                 "class_map.names=[circle,square,triangle,star]", "--data",
                                 (dir / "data").string(), "--backend", "faster_rcnn"});
  EXPECT_EQ(train.exit_code, 1);
  const auto metrics = read_json(vision::test::only_run_dir(dir.path()) / "metrics.json");
  EXPECT_NE(metrics["error"].get<std::string>().find("not available yet"), std::string::npos);
  const auto artifacts = read_json(vision::test::only_run_dir(dir.path()) / "artifacts.json");
  EXPECT_EQ(artifacts["backend"], "faster_rcnn");
  EXPECT_EQ(artifacts["artifacts"]["dataset"]["train"]["images"], 2);  // the data set was read first
}

TEST(CliUsage, UnknownFlagsAndCommandsExitTwo) {
  EXPECT_EQ(run_vision({"train", "--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(run_vision({"teleport"}).exit_code, 2);
  EXPECT_EQ(run_vision({}).exit_code, 2);
  const auto help = run_vision({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("autolabel"), std::string::npos);
}
