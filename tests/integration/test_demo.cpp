// `vision demo` end to end with the fixture model (no training): off a terminal it ends after
// its last step; with --serve it keeps the dashboard of its data up until Ctrl+C, then stops
// the statistics service it started and exits 0.
#include <gtest/gtest.h>
#include <signal.h>

#include <sstream>

#include "helpers/test_support.hpp"
#include "vision/net/http_client.hpp"

namespace fs = std::filesystem;
using vision::test::BackgroundProcess;
using vision::test::run_vision;
using vision::test::TempDir;
using vision::test::wait_until;

namespace {

const std::string k_model =
    (fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx").string();

// Six val images: each edge run (local, then streamed through the server) reports six events.
std::vector<std::string> demo_args(const fs::path& root) {
  return {"demo", "--model", k_model, "--workdir", root.string(), "--train", "8", "--val", "6", "--unlabeled", "4"};
}

// The value of a `key=value` line of stdout; empty when there is none.
std::string value_of(const std::string& out, const std::string& key) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
  }
  return "";
}

}  // namespace

TEST(Demo, OffATerminalRunsEveryStepAndEnds) {
  TempDir dir;
  const auto result = run_vision(demo_args(dir / "wd"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(value_of(result.out, "demo_stats_events"), "12") << result.out;
  EXPECT_EQ(value_of(result.out, "demo_stats_sources"), "2") << result.out;
  EXPECT_EQ(value_of(result.out, "demo_dashboard"), "") << "no serving without a terminal";
  EXPECT_FALSE(fs::exists(dir / "wd/stats.pid")) << "the demo stops the service it started";
  // The steps' progress reaches a piped log as plain lines.
  EXPECT_NE(result.err.find("\nautolabel 4/4 img (100%)"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find('\r'), std::string::npos);
}

TEST(Demo, ServeKeepsTheDashboardOfItsDataUpUntilCtrlC) {
  TempDir dir;
  auto args = demo_args(dir / "wd");
  args.push_back("--serve");
  BackgroundProcess demo(VISION_BINARY, args);
  ASSERT_TRUE(wait_until([&] { return !value_of(demo.out(), "demo_dashboard").empty() || !demo.running(); }, 180))
      << demo.err();
  const std::string url = value_of(demo.out(), "demo_dashboard");
  ASSERT_FALSE(url.empty()) << demo.out() << demo.err();
  EXPECT_NE(demo.err().find("Press Ctrl+C"), std::string::npos) << demo.err();
  EXPECT_EQ(value_of(demo.out(), "demo_stats_events"), "12") << "the overview comes first";

  const auto base = vision::net::split_url(url);
  ASSERT_TRUE(base) << url;
  vision::net::HttpClient client({base->first, 5.0, ""});
  const auto page = client.get("/");
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<html"), std::string::npos);
  const auto overview = client.get("/api/v1/overview");
  ASSERT_TRUE(overview) << overview.error().message;
  EXPECT_EQ(nlohmann::json::parse(overview->body)["events"], 12) << overview->body;
  EXPECT_TRUE(demo.running()) << "it serves until Ctrl+C";

  EXPECT_EQ(demo.stop(SIGINT, 60), 0) << demo.err();
  EXPECT_FALSE(fs::exists(dir / "wd/stats.pid")) << "Ctrl+C stops the service the demo started";
  vision::net::HttpClient after({base->first, 2.0, ""});
  EXPECT_FALSE(after.get("/api/v1/overview")) << "nothing answers on the dashboard port any more";
}

TEST(Demo, ServingIsChosenByFlagsThatHelpDocuments) {
  const auto help = run_vision({"demo", "--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  EXPECT_NE(help.out.find("--serve"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--no-serve"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("serves the dashboard until Ctrl+C"), std::string::npos) << help.out;
  const auto both = run_vision({"demo", "--serve", "--no-serve"});
  EXPECT_EQ(both.exit_code, 2) << both.err;
}
