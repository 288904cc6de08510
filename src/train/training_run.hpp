// What every backend's training loop does the same way, so the rule lives in one place: the
// device, the results.csv, best / last by fitness with early stopping on patience, the plots and
// the facade's error. Private to src/train.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/eval/plots.hpp"

namespace vision::train {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start);

// train.device: cpu, cuda, cuda:N, N (cuda:N, as Ultralytics reads it) or mps.
Expected<torch::Device> resolve_device(const std::string& name);

// The number format of results.csv and the logs: %.5g.
std::string format_number(double value);

// results.csv: `columns` (the first is "epoch") and one row per epoch, its epoch number then the
// values, written through a temporary file.
struct ResultsRow {
  int epoch = 0;
  std::vector<double> values;
};
Expected<void> write_results_csv(const std::filesystem::path& path, const std::vector<std::string>& columns,
                                 const std::vector<ResultsRow>& rows);

// best.pt and last.pt in the models folder, which it creates.
struct CheckpointPaths {
  std::filesystem::path best, last;
};
CheckpointPaths name_checkpoints(const std::filesystem::path& models_dir);

// Which epoch is the best (the first, then any with a higher fitness) and when `patience` epochs
// without a better one end a training before its last epoch; `patience_key` names the setting
// in the log line.
class FitnessTracker {
 public:
  FitnessTracker(int patience, std::string patience_key) : m_patience(patience), m_patience_key(std::move(patience_key)) {}
  // A resumed run carries its best over.
  void restore(int best_epoch, double best_fitness) {
    m_best_epoch = best_epoch;
    m_best_fitness = best_fitness;
  }
  // Records an epoch; true when it is the best so far.
  bool add(int epoch, double fitness);
  // True (and logged) when the training ends early after `epoch` of `epochs`.
  bool stops_early(int epoch, int epochs) const;
  int best_epoch() const { return m_best_epoch; }
  double best_fitness() const { return m_best_fitness; }

 private:
  int m_patience;
  std::string m_patience_key;
  int m_best_epoch = 0;
  double m_best_fitness = 0;
};

// results.png from the per-epoch series, PR_curve.png and confusion_matrix.png from the best
// metrics, in run_dir; returns their paths.
Expected<std::vector<std::filesystem::path>> write_training_plots(const std::filesystem::path& run_dir,
                                                                  const std::vector<Series>& series,
                                                                  const DetectionMetrics& best);

// Resume bookkeeping: a checkpoint that already finished `epochs` is an error; otherwise the
// earlier run's best.pt (beside `resume_from`) is copied into models_dir, so it stays the best
// when no resumed epoch beats it.
Expected<void> carry_resume_over(const std::filesystem::path& resume_from, const std::filesystem::path& models_dir,
                                 int epochs_done, int epochs, int best_epoch);

// The error a facade returns for the exception that ended `step`: a VisionError as it is, any
// other with the step and the library's own words. Call it only inside a catch block.
Error facade_error(const std::string& step);

}  // namespace vision::train
