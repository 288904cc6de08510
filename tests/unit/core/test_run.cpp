// Run folders: ids, the files a run writes at start and end, and failures turned into runs.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "helpers/test_support.hpp"
#include "vision/core/run.hpp"

namespace fs = std::filesystem;
using vision::Config;
using vision::Run;
using vision::RunSpec;
using vision::test::read_json;
using vision::test::TempDir;

namespace {

Config config_in(const TempDir& dir) {
  vision::ConfigSources sources;
  sources.workdir = dir.path();
  return *Config::load(sources);
}

const RunSpec k_spec{"train", "backend", "yolo"};

}  // namespace

TEST(RunId, IsRunNameAndUtcTimestamp) {
  const auto time = std::chrono::sys_days{std::chrono::year{2026} / 1 / 2} + std::chrono::hours{3} +
                    std::chrono::minutes{4} + std::chrono::seconds{5};
  EXPECT_EQ(vision::make_run_id("exp001", time), "exp001-20260102-030405");
}

TEST(Run, StartWritesResolvedConfigAndRunningMetrics) {
  TempDir dir;
  auto run = Run::start(config_in(dir), k_spec);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_TRUE(std::regex_match(run->id(), std::regex(R"(exp001-\d{8}-\d{6}(-\d+)?)"))) << run->id();
  EXPECT_EQ(run->dir(), dir / "runs" / run->id());
  EXPECT_TRUE(fs::exists(run->dir() / "config.resolved.toml"));
  EXPECT_TRUE(fs::exists(dir / "config.resolved.toml"));
  EXPECT_EQ(read_json(run->dir() / "metrics.json")["status"], "running");
}

TEST(Run, TwoRunsInTheSameSecondGetDifferentFolders) {
  // Retry when the clock ticks between the two starts, so the test really covers one second;
  // each attempt in a fresh work-dir, so that an earlier attempt's folders take no names.
  for (int attempt = 0; attempt < 5; ++attempt) {
    TempDir dir;
    const Config config = config_in(dir);
    auto first = Run::start(config, k_spec);
    auto second = Run::start(config, k_spec);
    ASSERT_TRUE(first && second);
    if (first->id().substr(0, 22) != second->id().substr(0, 22)) continue;
    EXPECT_NE(first->id(), second->id());
    EXPECT_EQ(second->id(), first->id() + "-2");
    EXPECT_TRUE(fs::is_directory(first->dir()));
    EXPECT_TRUE(fs::is_directory(second->dir()));
    return;
  }
  FAIL() << "the clock ticked between every pair of starts";
}

TEST(Run, ConcurrentStartsNeverShareAFolder) {
  TempDir dir;
  const Config config = config_in(dir);
  std::vector<std::string> ids(16);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back([&, i] {
      auto run = Run::start(config, k_spec);
      if (run) ids[i] = run->id();
    });
  }
  for (auto& t : threads) t.join();
  const std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
  EXPECT_FALSE(unique.contains(""));
}

TEST(ExecuteRun, SuccessWritesOkMetricsAndArtifacts) {
  TempDir dir;
  testing::internal::CaptureStdout();
  const int code = vision::execute_run(config_in(dir), k_spec, [](vision::Run& run) -> vision::Expected<void> {
    run.artifacts()["epochs_trained"] = 3;
    return {};
  });
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 0);
  const fs::path run_dir = vision::test::only_run_dir(dir.path());
  const auto metrics = read_json(run_dir / "metrics.json");
  EXPECT_EQ(metrics["status"], "ok");
  EXPECT_EQ(metrics["mode"], "train");
  EXPECT_TRUE(metrics["error"].is_null());
  EXPECT_TRUE(metrics["elapsed_ms"].is_number());
  const auto artifacts = read_json(run_dir / "artifacts.json");
  EXPECT_EQ(artifacts["backend"], "yolo");
  EXPECT_EQ(artifacts["artifacts"]["epochs_trained"], 3);
  const std::string id = run_dir.filename().string();
  EXPECT_NE(out.find("run_id=" + id + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("status=ok\n"), std::string::npos);
  EXPECT_NE(out.find("resolved_config=" + (run_dir / "config.resolved.toml").string()), std::string::npos);
  EXPECT_NE(out.find("artifacts=" + (run_dir / "artifacts.json").string()), std::string::npos);
  // The JSONL log got the start and done events.
  const std::string log = vision::test::read_text(dir / "log.txt");
  EXPECT_NE(log.find("\"event\":\"train.start\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"train.done\""), std::string::npos);
}

TEST(ExecuteRun, FailureKeepsMetricsPartialArtifactsAndExitCode) {
  TempDir dir;
  testing::internal::CaptureStdout();
  const int code = vision::execute_run(config_in(dir), k_spec, [](vision::Run& run) -> vision::Expected<void> {
    run.artifacts()["dataset"] = "checked";
    return vision::fail(vision::ErrorCode::not_found, "data.yolo_dataset_dir: folder not found: /x");
  });
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 1);
  const fs::path run_dir = vision::test::only_run_dir(dir.path());
  const auto metrics = read_json(run_dir / "metrics.json");
  EXPECT_EQ(metrics["status"], "failed");
  EXPECT_EQ(metrics["error"], "data.yolo_dataset_dir: folder not found: /x");
  EXPECT_EQ(read_json(run_dir / "artifacts.json")["artifacts"]["dataset"], "checked");
  EXPECT_NE(out.find("status=failed"), std::string::npos);
}

TEST(ExecuteRun, ExceptionsBecomeFailedRuns) {
  TempDir dir;
  testing::internal::CaptureStdout();
  const int code = vision::execute_run(config_in(dir), k_spec, [](vision::Run&) -> vision::Expected<void> {
    throw std::runtime_error("tensor shape mismatch");
  });
  testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 1);
  const auto metrics = read_json(vision::test::only_run_dir(dir.path()) / "metrics.json");
  EXPECT_EQ(metrics["status"], "failed");
  EXPECT_EQ(metrics["error"], "tensor shape mismatch");
}

TEST(ExecuteRun, ComponentNotInBuildExitsThree) {
  TempDir dir;
  testing::internal::CaptureStdout();
  const int code = vision::execute_run(config_in(dir), k_spec, [](vision::Run&) -> vision::Expected<void> {
    return vision::fail(vision::ErrorCode::not_in_build, "this build has no trainer");
  });
  testing::internal::GetCapturedStdout();
  EXPECT_EQ(code, 3);
}

namespace {

// Starts the helper that waits inside a run, sends `signal` once the run is underway (to the
// helper's foreign thread when `foreign_thread`, else to the process), and returns the exit
// code and the run folder.
std::pair<int, fs::path> interrupt_run(const TempDir& dir, int signal, bool foreign_thread = false) {
  const pid_t pid = fork();
  if (pid == 0) {
    const std::string workdir = dir.path().string();
    const int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(VISION_RUN_UNTIL_SIGNAL, VISION_RUN_UNTIL_SIGNAL, workdir.c_str(),
          foreign_thread ? "--foreign-thread" : nullptr, nullptr);
    _exit(127);
  }
  fs::path run_dir;
  for (int i = 0; i < 200 && run_dir.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::error_code ec;
    if (!fs::is_directory(dir / "runs", ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir / "runs")) {
      if (fs::exists(entry.path() / "metrics.json")) run_dir = entry.path();
    }
  }
  if (foreign_thread) {
    long tid = 0;
    std::ifstream(dir / "foreign.tid") >> tid;
    syscall(SYS_tgkill, pid, tid, signal);
  } else {
    kill(pid, signal);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), run_dir};
}

}  // namespace

TEST(ExecuteRun, SigtermWritesInterruptedMetrics) {
  TempDir dir;
  const auto [code, run_dir] = interrupt_run(dir, SIGTERM);
  ASSERT_FALSE(run_dir.empty()) << "the run never started";
  EXPECT_EQ(code, 130);
  const auto metrics = read_json(run_dir / "metrics.json");
  EXPECT_EQ(metrics["status"], "interrupted");
  EXPECT_EQ(metrics["mode"], "deploy-edge");
  const auto artifacts = read_json(run_dir / "artifacts.json");
  EXPECT_EQ(artifacts["status"], "interrupted");
  EXPECT_EQ(artifacts["artifacts"]["frames"], 0);
}

// Libraries loaded before main start threads that do not block the signals; a signal the
// kernel gives to one of them must still stop the run cleanly, not kill the process.
TEST(ExecuteRun, ASignalLandingOnALibraryThreadStillStopsTheRunCleanly) {
  TempDir dir;
  const auto [code, run_dir] = interrupt_run(dir, SIGTERM, true);
  ASSERT_FALSE(run_dir.empty()) << "the run never started";
  EXPECT_EQ(code, 130);
  EXPECT_EQ(read_json(run_dir / "metrics.json")["status"], "interrupted");
}

TEST(ExecuteRun, SigintWritesInterruptedMetrics) {
  TempDir dir;
  const auto [code, run_dir] = interrupt_run(dir, SIGINT);
  ASSERT_FALSE(run_dir.empty()) << "the run never started";
  EXPECT_EQ(code, 130);
  EXPECT_EQ(read_json(run_dir / "metrics.json")["status"], "interrupted");
}
