// The dashboard in a real browser: headless Chromium loads it from the UI port against a
// seeded database; the dumped DOM must show the KPI values and the charts (a series of a
// single bucket as a drawn point), and a screenshot is saved for people to look at.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <regex>

#include <nlohmann/json.hpp>

#include "helpers/test_support.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/stats/stats_service.hpp"

namespace fs = std::filesystem;
using namespace vision;
using vision::test::run_process;
using vision::test::TempDir;

namespace {

constexpr const char* k_chromium = "/usr/bin/chromium";

// 180 events over the last 50 minutes from three sources.
std::vector<stats::NewEvent> seeded_events() {
  const std::int64_t now = vision::now_utc_micros();
  const char* sources[] = {"edge-lobby", "edge-parking", "remote-gate"};
  const char* classes[] = {"person", "car", "bicycle", "dog", "truck"};
  std::vector<stats::NewEvent> events;
  for (int i = 0; i < 180; ++i) {
    stats::NewEvent e;
    e.source_id = sources[i % 3 == 2 ? 2 : (i % 5 == 0 ? 1 : 0)];
    e.ts_utc = vision::format_utc_micros(now - (50LL * 60 - i * 16) * 1'000'000);
    nlohmann::json counts = nlohmann::json::object();
    std::int64_t total = 0;
    for (int c = 0; c < 5; ++c) {
      const int n = (i * (c + 3) + c) % (6 - c) == 0 ? (i + c) % 4 : 0;
      if (n > 0) {
        counts[classes[c]] = n;
        total += n;
      }
    }
    e.counts_by_class = counts.dump();
    e.total_detections = total;
    e.latency_ms =
        std::round((18.0 + (i % 23) * 1.7 + (i % 40 == 0 ? 90.0 : 0.0) + (i > 120 ? 6.0 : 0.0)) *
                   100) /
        100;
    e.ts_received_utc = e.ts_utc;
    events.push_back(std::move(e));
  }
  return events;
}

std::vector<std::string> chromium_args(const fs::path& profile) {
  return {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1440,1180",
          "--user-data-dir=" + profile.string(), "--virtual-time-budget=6000",
          // Bounds the whole page load in real time, so a hung page cannot hang the test.
          "--timeout=20000"};
}

std::string attribute_after(const std::string& dom, const std::string& anchor,
                            const std::string& attribute) {
  const std::regex pattern(anchor + R"([^>]*?)" + attribute + R"(="([^"]*)\")");
  std::smatch match;
  return std::regex_search(dom, match, pattern) ? match[1].str() : std::string("<missing>");
}

// The page's DOM after Chromium ran its scripts; fails the test when no refresh finished.
std::string loaded_dom(const fs::path& dir, const std::string& url) {
  auto args = chromium_args(dir / "profile");
  args.push_back("--dump-dom");
  args.push_back(url);
  const auto dump = run_process(k_chromium, args, dir);
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_NE(dump.out.find("data-loaded=\"true\""), std::string::npos)
      << "the page never finished a refresh:\n"
      << dump.out.substr(0, 4000);
  return dump.out;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

}  // namespace

// A statistics service on ephemeral ports with a fresh database; skipped without Chromium.
class StatsDashboard : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(k_chromium)) GTEST_SKIP() << "no " << k_chromium << " (install the chromium package)";
    stats::StatsServiceOptions options;
    options.api_port = 0;
    options.ui_port = 0;
    options.store.db_path = m_dir / "stats.db";
    auto service = stats::StatsService::start(options);
    ASSERT_TRUE(service) << service.error().message;
    m_service = std::move(*service);
  }

  TempDir m_dir;
  std::unique_ptr<stats::StatsService> m_service;
};

TEST_F(StatsDashboard, ShowsKpisAndChartsOfASeededDatabaseInChromium) {
  const auto events = seeded_events();
  ASSERT_TRUE(m_service->store().insert(events));
  const auto expected = *m_service->store().overview({});
  const auto classes = *m_service->store().class_totals({});
  size_t classes_with_detections = 0;
  for (const auto& c : classes) classes_with_detections += c.detections > 0 ? 1 : 0;

  const std::string url = m_service->dashboard_url() + "?window=1h";
  const std::string dom = loaded_dom(m_dir.path(), url);
  if (HasFailure()) return;
  EXPECT_EQ(attribute_after(dom, R"(id="status")", "data-state"), "ok");

  EXPECT_EQ(attribute_after(dom, R"(data-kpi="events")", "data-value"),
            std::to_string(expected.events));
  EXPECT_EQ(attribute_after(dom, R"(data-kpi="detections")", "data-value"),
            std::to_string(expected.detections));
  EXPECT_EQ(attribute_after(dom, R"(data-kpi="sources")", "data-value"), "3");
  EXPECT_NEAR(std::stod(attribute_after(dom, R"(data-kpi="avg_latency")", "data-value")),
              expected.avg_latency_ms, 1e-6);
  EXPECT_DOUBLE_EQ(std::stod(attribute_after(dom, R"(data-kpi="p50_latency")", "data-value")),
                   expected.p50_latency_ms);
  EXPECT_DOUBLE_EQ(std::stod(attribute_after(dom, R"(data-kpi="p95_latency")", "data-value")),
                   expected.p95_latency_ms);
  EXPECT_EQ(attribute_after(dom, R"(data-kpi="last_event")", "data-value"), expected.last_ts_utc);

  EXPECT_GT(std::stoi(attribute_after(dom, R"(data-chart="latency")", "data-points")), 30);
  EXPECT_NE(dom.find("class=\"line line-avg\""), std::string::npos);
  EXPECT_NE(dom.find("class=\"line line-max\""), std::string::npos);
  EXPECT_EQ(count(dom, "class=\"point "), 0U) << "lines of many buckets need no points";
  EXPECT_GT(std::stoi(attribute_after(dom, R"(data-chart="detections")", "data-points")), 30);
  EXPECT_GT(count(dom, "class=\"bar\""), 10U);
  EXPECT_EQ(count(dom, "class=\"donut-slice\""), classes_with_detections);
  EXPECT_EQ(count(dom, "<tr data-source="), 3U);
  EXPECT_EQ(count(dom, "<tr data-id="), 50U) << "first page of the event log";
  EXPECT_NE(dom.find("id=\"detail-json\""), std::string::npos);
  EXPECT_NE(dom.find("<option value=\"edge-parking\">"), std::string::npos)
      << "source filter lists the sources";

  const fs::path artifacts = VISION_TEST_ARTIFACTS_DIR;
  fs::create_directories(artifacts);
  const fs::path screenshot = artifacts / "stats-dashboard.png";
  fs::remove(screenshot);
  auto shot_args = chromium_args(m_dir / "profile-shot");
  shot_args.push_back("--screenshot=" + screenshot.string());
  shot_args.push_back(url);
  const auto shot = run_process(k_chromium, shot_args, m_dir.path());
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(fs::exists(screenshot));
  EXPECT_GT(fs::file_size(screenshot), 20000U) << "a blank page compresses to almost nothing";
  std::cout << "dashboard screenshot: " << screenshot.string() << std::endl;
  RecordProperty("screenshot", screenshot.string());
}

// Three events in one bucket: a line through a single point would draw nothing, so each trend
// series shows a dot of its colour where that bucket is.
TEST_F(StatsDashboard, ASeriesOfOneBucketIsDrawnAsAPoint) {
  std::vector<stats::NewEvent> events;
  for (int i = 0; i < 3; ++i) {
    stats::NewEvent e;
    e.source_id = "edge-001";
    e.ts_utc = "2025-01-01T12:00:0" + std::to_string(i) + ".000000Z";
    e.counts_by_class = R"({"car":1})";
    e.total_detections = 1;
    e.latency_ms = 20.0 + i;
    e.ts_received_utc = e.ts_utc;
    events.push_back(std::move(e));
  }
  ASSERT_TRUE(m_service->store().insert(events));

  // All time: the buckets are days, and the three events share one.
  const std::string dom = loaded_dom(m_dir.path(), m_service->dashboard_url() + "?window=all");
  if (HasFailure()) return;
  EXPECT_EQ(attribute_after(dom, R"(data-chart="latency")", "data-points"), "1");
  EXPECT_EQ(attribute_after(dom, R"(data-chart="detections")", "data-points"), "1");
  for (const char* series : {"line-avg", "line-max", "line-events"}) {
    SCOPED_TRACE(series);
    const std::regex point(std::string(R"(<circle class="point )") + series +
                           R"re(" cx="([0-9.]+)" cy="([0-9.]+)" r="4")re");
    std::smatch match;
    ASSERT_TRUE(std::regex_search(dom, match, point)) << "no drawn point in:\n" << dom.substr(0, 6000);
    EXPECT_GT(std::stod(match[1].str()), 0.0) << "inside the chart";
    EXPECT_GT(std::stod(match[2].str()), 0.0) << "inside the chart";
  }
}
