// The trainer's charts as PNG files, laid out like Ultralytics' results.png, PR_curve.png and
// confusion_matrix.png so runs read the same; drawn with OpenCV, which stays out of this header.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace vision {

struct DetectionMetrics;

// One series of a results plot: a name and one value per epoch (NaN: no value that epoch).
struct Series {
  std::string name;
  std::vector<double> values;
};

// A grid of small line charts (one per series, 2 rows as Ultralytics' results.png), epochs on
// x, each with the raw values and a Gaussian-smoothed line. 1200×600.
Expected<void> write_results_plot(const std::filesystem::path& png,
                                  const std::vector<Series>& series);

// Per-class precision–recall curves (metrics.pr_curve) plus their mean, legend with AP50 per
// class and mAP50 for all. 900×700.
Expected<void> write_pr_curve_plot(const std::filesystem::path& png,
                                   const DetectionMetrics& metrics);

// The (nc+1)² confusion matrix (last row/column = background), coloured by the share of each
// true column, with the counts. 800×700.
Expected<void> write_confusion_matrix_plot(const std::filesystem::path& png,
                                           const DetectionMetrics& metrics);

}  // namespace vision
