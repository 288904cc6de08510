// Progress away from a terminal: plain lines, at most one per tenth of the total and per
// interval, then a final line; never a carriage return or an escape sequence. On a terminal:
// one line redrawn in place.
#include <gtest/gtest.h>

#include <sstream>
#include <vector>

#include "vision/core/progress.hpp"

using vision::Progress;
using vision::ProgressOutput;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

ProgressOutput plain(std::ostream& stream, std::chrono::milliseconds interval) {
  return {.stream = &stream, .terminal = false, .plain_interval = interval};
}

}  // namespace

TEST(Progress, PlainLinesComeEveryTenthWhenTheIntervalAllows) {
  std::ostringstream out;
  {
    Progress progress("autolabel", 100, "img", plain(out, std::chrono::milliseconds(0)));
    for (int done = 1; done <= 100; ++done) progress.update(done);
  }
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 10U) << out.str();  // 10 %, 20 %, … 90 %, then the final line
  EXPECT_TRUE(lines[0].starts_with("autolabel 10/100 img (10%)")) << lines[0];
  EXPECT_NE(lines[0].find("img/s"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("ETA "), std::string::npos) << lines[0];
  EXPECT_TRUE(lines[8].starts_with("autolabel 90/100 img (90%)")) << lines[8];
  EXPECT_TRUE(lines[9].starts_with("autolabel 100/100 img (100%)")) << lines[9];
  EXPECT_NE(lines[9].find("  in 0:0"), std::string::npos) << "the final line has the elapsed time: " << lines[9];
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
  EXPECT_EQ(out.str().find('\033'), std::string::npos);
}

TEST(Progress, PlainLinesWaitForTheIntervalSoAFastRunWritesOnlyTheFinalLine) {
  std::ostringstream out;
  Progress progress("epoch 1/3", 25, "batches", plain(out, std::chrono::hours(1)));
  for (int done = 1; done <= 25; ++done) progress.update(done, "box 1.234");
  EXPECT_EQ(out.str(), "") << "nothing before the interval has passed";
  progress.finish();
  progress.finish();
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1U) << out.str();
  EXPECT_TRUE(lines[0].starts_with("epoch 1/3 25/25 batches (100%)")) << lines[0];
  EXPECT_TRUE(lines[0].ends_with("  box 1.234")) << "the last note is kept: " << lines[0];
}

TEST(Progress, AnUnknownTotalCountsWithoutPercentages) {
  std::ostringstream out;
  {
    Progress progress("deploy edge", 0, "frames", plain(out, std::chrono::milliseconds(0)));
    progress.update(1);
    progress.update(2);
  }
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 3U) << out.str();
  EXPECT_TRUE(lines[0].starts_with("deploy edge 1 frames  ")) << lines[0];
  EXPECT_TRUE(lines[2].starts_with("deploy edge 2 frames  ")) << lines[2];
  EXPECT_EQ(out.str().find('%'), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("ETA"), std::string::npos) << out.str();
}

TEST(Progress, ATerminalGetsOneLineRedrawnInPlace) {
  std::ostringstream out;
  {
    Progress progress("val", 3, "img", {.stream = &out, .terminal = true});
    for (int done = 1; done <= 3; ++done) progress.update(done);
  }
  const std::string text = out.str();
  EXPECT_TRUE(text.starts_with("\r\033[Kval ")) << text;
  EXPECT_EQ(lines_of(text).size(), 1U) << "one line, ended once";
  EXPECT_TRUE(text.ends_with("\n"));
  EXPECT_NE(text.rfind("\r\033[Kval 3/3 img (100%)"), std::string::npos) << text;
}
