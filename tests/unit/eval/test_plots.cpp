// The chart writers: each PNG decodes at its size and the data lands where the axes say; the
// checks find curves by colour, so they hold whatever the margins are.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "helpers/test_support.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/eval/plots.hpp"
#include "vision/image/draw.hpp"

using vision::DetectionEvaluator;
using vision::Series;

namespace {

const cv::Vec3b k_results_bgr(180, 119, 31);  // the raw line of results.png
const cv::Vec3b k_mean_bgr(255, 0, 0);        // the "all classes" PR curve
const cv::Vec3b k_darkest_blue_bgr(107, 48, 8);

cv::Vec3b bgr(const cv::Scalar& color) {
  return {static_cast<uchar>(color[0]), static_cast<uchar>(color[1]), static_cast<uchar>(color[2])};
}

// Pixels within a small distance of `color` (anti-aliased edges drift from it).
cv::Mat mask_of(const cv::Mat& image, const cv::Vec3b& color, int tolerance = 12) {
  cv::Mat mask;
  const cv::Scalar lo(std::max(color[0] - tolerance, 0), std::max(color[1] - tolerance, 0),
                      std::max(color[2] - tolerance, 0));
  const cv::Scalar hi(std::min(color[0] + tolerance, 255), std::min(color[1] + tolerance, 255),
                      std::min(color[2] + tolerance, 255));
  cv::inRange(image, lo, hi, mask);
  return mask;
}

// Pixels of `color` inside the part of the image given in fractions of its size.
int count_in(const cv::Mat& image, const cv::Vec3b& color, double x0, double y0, double x1,
             double y1) {
  const cv::Rect region(
      cv::Point(static_cast<int>(x0 * image.cols), static_cast<int>(y0 * image.rows)),
      cv::Point(static_cast<int>(x1 * image.cols), static_cast<int>(y1 * image.rows)));
  return cv::countNonZero(mask_of(image(region), color));
}

// The row holding most pixels of `color`, and how many.
std::pair<int, int> fullest_row(const cv::Mat& image, const cv::Vec3b& color) {
  const cv::Mat mask = mask_of(image, color);
  std::pair<int, int> best{-1, 0};
  for (int y = 0; y < mask.rows; ++y) {
    const int count = cv::countNonZero(mask.row(y));
    if (count > best.second) best = {y, count};
  }
  return best;
}

vision::Detection det(int cls, float score, std::array<float, 4> box) {
  return {cls, "c", score, box};
}

}  // namespace

TEST(ResultsPlot, RisingSeriesRunsFromLowerLeftToUpperRight) {
  vision::test::TempDir dir;
  std::vector<double> rising;
  for (int epoch = 1; epoch <= 10; ++epoch) rising.push_back(epoch * 0.1);
  ASSERT_TRUE(vision::write_results_plot(dir / "results.png", {{"metrics/mAP50", rising}}));
  const cv::Mat image = cv::imread((dir / "results.png").string());
  ASSERT_EQ(image.size(), cv::Size(1200, 600));
  // The one chart fills the canvas below the legend band.
  EXPECT_GT(count_in(image, k_results_bgr, 0.75, 0.1, 1.0, 0.35), 20);   // upper right
  EXPECT_GT(count_in(image, k_results_bgr, 0.0, 0.65, 0.25, 0.92), 20);  // lower left
  EXPECT_EQ(count_in(image, k_results_bgr, 0.05, 0.1, 0.25, 0.35), 0);   // upper left
  EXPECT_EQ(count_in(image, k_results_bgr, 0.75, 0.65, 1.0, 0.92), 0);   // lower right
}

TEST(ResultsPlot, GridOfTenSurvivesNanAndEmptySeries) {
  vision::test::TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Series> series;
  for (int i = 0; i < 8; ++i)
    series.push_back({"train/loss" + std::to_string(i), {3.0, 2.0, 1.5, 1.2}});
  series.push_back({"val/box_loss", {nan, 2.0, nan, 1.0}});
  series.push_back({"metrics/empty", {}});
  ASSERT_TRUE(vision::write_results_plot(dir / "grid.png", series));
  const cv::Mat image = cv::imread((dir / "grid.png").string());
  ASSERT_EQ(image.size(), cv::Size(1200, 600));
  // 2 rows of 5: the fifth column's lower chart is the empty one, the fourth draws 2 points.
  EXPECT_EQ(count_in(image, k_results_bgr, 0.8, 0.55, 1.0, 1.0), 0);
  EXPECT_GT(count_in(image, k_results_bgr, 0.6, 0.55, 0.8, 1.0), 20);
  EXPECT_GT(count_in(image, k_results_bgr, 0.8, 0.05, 1.0, 0.5), 20);

  ASSERT_TRUE(vision::write_results_plot(dir / "none.png", {}));
  EXPECT_EQ(cv::imread((dir / "none.png").string()).size(), cv::Size(1200, 600));
}

TEST(PrCurvePlot, MeanCurveLiesBetweenItsClasses) {
  // "found": perfect (precision 1 at every recall); "missed": truth, no predictions (0);
  // "ghost": no truth, so no curve. Their mean sits half-way up.
  DetectionEvaluator evaluator({"found", "ghost", "missed"});
  evaluator.add({{0, {0, 0, 10, 10}}, {2, {50, 50, 60, 60}}},
                {det(0, 0.9F, {0, 0, 10, 10}), det(1, 0.9F, {80, 80, 90, 90})});
  const auto metrics = evaluator.compute();
  vision::test::TempDir dir;
  ASSERT_TRUE(vision::write_pr_curve_plot(dir / "PR_curve.png", metrics));
  const cv::Mat image = cv::imread((dir / "PR_curve.png").string());
  ASSERT_EQ(image.size(), cv::Size(900, 700));
  const auto found = fullest_row(image, bgr(vision::class_color(0)));
  const auto missed = fullest_row(image, bgr(vision::class_color(2)));
  const auto mean = fullest_row(image, k_mean_bgr);
  EXPECT_GT(found.second, 300);  // horizontal lines across most of the plot
  EXPECT_GT(missed.second, 300);
  EXPECT_GT(mean.second, 300);
  EXPECT_LT(found.first, image.rows / 4);  // precision 1 near the top, 0 near the bottom
  EXPECT_GT(missed.first, image.rows * 3 / 4);
  EXPECT_NEAR(mean.first, (found.first + missed.first) / 2.0, 3);
}

TEST(ConfusionMatrixPlot, PerfectDiagonalIsTheDarkestBlue) {
  vision::DetectionMetrics metrics;
  metrics.per_class = {{.name = "cat"}, {.name = "dog"}};
  metrics.confusion = {{5, 0, 0}, {0, 3, 0}, {0, 0, 0}};  // [predicted][true], background last
  vision::test::TempDir dir;
  ASSERT_TRUE(vision::write_confusion_matrix_plot(dir / "confusion_matrix.png", metrics));
  const cv::Mat image = cv::imread((dir / "confusion_matrix.png").string());
  ASSERT_EQ(image.size(), cv::Size(800, 700));
  cv::Mat labels, stats, centroids;
  // 4-connected: diagonal cells touch only at a corner.
  const int found = cv::connectedComponentsWithStats(mask_of(image, k_darkest_blue_bgr, 6), labels,
                                                     stats, centroids, 4);
  std::vector<cv::Point> cells;  // large dark blocks; the colour bar's top is only a sliver
  for (int i = 1; i < found; ++i) {
    if (stats.at<int>(i, cv::CC_STAT_AREA) > 5000)
      cells.emplace_back(cvRound(centroids.at<double>(i, 0)), cvRound(centroids.at<double>(i, 1)));
  }
  ASSERT_EQ(cells.size(), 2U);
  std::sort(cells.begin(), cells.end(), [](auto a, auto b) { return a.x < b.x; });
  EXPECT_GT(cells[1].y, cells[0].y + 100);  // down the diagonal
  // Off the diagonal (predicted cat, true dog) stays white.
  EXPECT_EQ(image.at<cv::Vec3b>(cells[0].y - 30, cells[1].x - 30), cv::Vec3b(255, 255, 255));
}

TEST(Plots, UnwritablePathIsAnErrorNamingTheFile) {
  vision::test::TempDir dir;
  vision::test::write_text(dir / "file", "not a folder");
  const auto png = dir / "file" / "plot.png";
  vision::DetectionMetrics metrics;
  const auto results = vision::write_results_plot(png, {{"loss", {1.0, 0.5}}});
  const auto pr = vision::write_pr_curve_plot(png, metrics);
  const auto confusion = vision::write_confusion_matrix_plot(png, metrics);
  for (const auto& outcome : {results, pr, confusion}) {
    ASSERT_FALSE(outcome);
    EXPECT_EQ(outcome.error().code, vision::ErrorCode::io);
    EXPECT_NE(outcome.error().message.find(png.string()), std::string::npos)
        << outcome.error().message;
  }
}
