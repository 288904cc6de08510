// The JSONL log: whole lines from many threads and processes, contract fields, context fields,
// level filter.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <sstream>
#include <thread>

#include "helpers/test_support.hpp"
#include "vision/core/error.hpp"
#include "vision/core/log.hpp"

using vision::Logger;
using vision::LogLevel;
using vision::test::TempDir;

namespace {

void write_lines(Logger& logger, int threads, int lines_per_thread, int process) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < lines_per_thread; ++i) {
        logger.write(LogLevel::info, "test.line", "a line long enough to make torn writes visible "
                                                  "if lines were ever written in pieces",
                     {{"process", process}, {"thread", t}, {"i", i}});
      }
    });
  }
  for (auto& w : workers) w.join();
}

}  // namespace

TEST(Log, EightThreadsTimesTwoProcessesGiveWholeLines) {
  TempDir dir;
  const auto file = dir / "log.txt";
  const pid_t child = fork();
  if (child == 0) {
    Logger logger;
    logger.set_stderr_enabled(false);
    logger.open(file, LogLevel::info);
    write_lines(logger, 8, 1000, 1);
    _exit(0);
  }
  Logger logger;
  logger.set_stderr_enabled(false);
  logger.open(file, LogLevel::info);
  write_lines(logger, 8, 1000, 0);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  std::istringstream lines(vision::test::read_text(file));
  std::string line;
  int count = 0;
  int per_process[2] = {0, 0};
  while (std::getline(lines, line)) {
    ++count;
    nlohmann::json parsed;
    ASSERT_NO_THROW(parsed = nlohmann::json::parse(line)) << "line " << count << ": " << line;
    EXPECT_EQ(parsed["event"], "test.line");
    ++per_process[parsed["process"].get<int>()];
  }
  EXPECT_EQ(count, 16000);
  EXPECT_EQ(per_process[0], 8000);
  EXPECT_EQ(per_process[1], 8000);
}

TEST(Log, LinesCarryTheContractFields) {
  TempDir dir;
  Logger logger;
  logger.set_stderr_enabled(false);
  logger.open(dir / "sub/log.txt", LogLevel::debug);
  logger.write(LogLevel::warn, "deploy.edge.frame", "slow frame", {{"latency_ms", 12.5}});
  const auto line = nlohmann::json::parse(vision::test::read_text(dir / "sub/log.txt"));
  EXPECT_EQ(line["level"], "WARN");
  EXPECT_EQ(line["event"], "deploy.edge.frame");
  EXPECT_EQ(line["message"], "slow frame");
  EXPECT_EQ(line["latency_ms"], 12.5);
  EXPECT_TRUE(std::regex_match(line["ts_utc"].get<std::string>(),
                               std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)")))
      << line["ts_utc"];
}

TEST(Log, LevelFilterDropsLowerLevels) {
  TempDir dir;
  Logger logger;
  logger.set_stderr_enabled(false);
  logger.open(dir / "log.txt", LogLevel::warn);
  logger.write(LogLevel::debug, "a.debug", "hidden");
  logger.write(LogLevel::info, "a.info", "hidden");
  logger.write(LogLevel::warn, "a.warn", "shown");
  logger.write(LogLevel::error, "a.error", "shown");
  const std::string text = vision::test::read_text(dir / "log.txt");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_EQ(text.find("hidden"), std::string::npos);
}

TEST(Log, FieldsCannotOverwriteContractKeys) {
  TempDir dir;
  Logger logger;
  logger.set_stderr_enabled(false);
  logger.open(dir / "log.txt", LogLevel::info);
  logger.write(LogLevel::info, "x.y", "m", {{"event", "spoofed"}, {"extra", 1}});
  const auto line = nlohmann::json::parse(vision::test::read_text(dir / "log.txt"));
  EXPECT_EQ(line["event"], "x.y");
  EXPECT_EQ(line["extra"], 1);
}

// A data-parallel rank's {"rank": N} reaches every line; a line's own field of that name wins.
TEST(Log, ContextFieldsReachEveryLine) {
  TempDir dir;
  Logger logger;
  logger.set_stderr_enabled(false);
  logger.open(dir / "log.txt", LogLevel::info);
  logger.set_context({{"rank", 1}});
  logger.write(LogLevel::info, "test.plain", "no fields");
  logger.write(LogLevel::info, "test.own", "own rank", {{"rank", 7}, {"epoch", 2}});
  logger.close();
  std::istringstream lines(vision::test::read_text(dir / "log.txt"));
  std::string text;
  ASSERT_TRUE(std::getline(lines, text));
  EXPECT_EQ(nlohmann::json::parse(text)["rank"], 1);
  ASSERT_TRUE(std::getline(lines, text));
  const auto own = nlohmann::json::parse(text);
  EXPECT_EQ(own["rank"], 7);
  EXPECT_EQ(own["epoch"], 2);
}

TEST(Log, ParsesLevelNames) {
  EXPECT_EQ(vision::parse_log_level("DEBUG"), LogLevel::debug);
  EXPECT_EQ(vision::parse_log_level("ERROR"), LogLevel::error);
  EXPECT_FALSE(vision::parse_log_level("TRACE"));
}

TEST(Log, UnwritableFileIsAnIoError) {
  Logger logger;
  try {
    logger.open("/proc/vision-cannot-write/log.txt", LogLevel::info);
    FAIL() << "opening an unwritable log should throw";
  } catch (const vision::VisionError& e) {
    EXPECT_EQ(e.error().code, vision::ErrorCode::io);
  }
}
