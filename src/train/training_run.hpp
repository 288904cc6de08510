// What every backend's training loop does the same way, so the rule lives in one place: the
// device, the results.csv, best / last by fitness with early stopping on patience, the plots and
// the facade's error. Private to src/train.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/core/error.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/eval/plots.hpp"

namespace vision::train {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start);

// train.device: cpu, cuda, cuda:N, N (cuda:N, as Ultralytics reads it) or mps.
Expected<torch::Device> resolve_device(const std::string& name);

// Sets the compute threads, LibTorch's and OpenBLAS's (`threads`, 0 = every core), and returns
// how many of the `workers` loader threads to use: loader threads only help on cores LibTorch
// leaves free, on a busy core they stall its OpenMP regions (measured on 2 cores, mosaic at
// 320 px: 9.0 images/s without workers, 7.7 with 2). Without a free core batches are built
// between steps.
int set_training_threads(int threads, int workers);

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

// After an interrupt: a checkpoint not written yet (stopped before the first epoch ended; best.pt
// exists then only when a resumed run carried one over) is named by an empty path.
void forget_unwritten_checkpoints(std::filesystem::path& best, std::filesystem::path& last);

// The fields every backend's epoch row has (epoch, the val metrics and fitness, the timings), in
// the checkpoints' history and artifacts.json; each backend adds its losses and learning rates.
template <typename Epoch>
nlohmann::json epoch_common_json(const Epoch& e) {
  return {{"epoch", e.epoch},          {"precision", e.precision},         {"recall", e.recall},
          {"map50", e.map50},          {"map50_95", e.map50_95},           {"fitness", e.fitness},
          {"train_seconds", e.train_seconds}, {"val_seconds", e.val_seconds}, {"images_per_second", e.images_per_second}};
}
template <typename Epoch>
void read_epoch_common(const nlohmann::json& j, Epoch& e) {
  e.epoch = j.at("epoch").get<int>();
  for (auto [key, field] : {std::pair{"precision", &Epoch::precision}, {"recall", &Epoch::recall}, {"map50", &Epoch::map50},
                            {"map50_95", &Epoch::map50_95}, {"fitness", &Epoch::fitness},
                            {"train_seconds", &Epoch::train_seconds}, {"val_seconds", &Epoch::val_seconds},
                            {"images_per_second", &Epoch::images_per_second}}) {
    e.*field = j.at(key).template get<double>();
  }
}

// artifacts.json fields of a training report (either backend's: the same member names), each
// epoch through `epoch_json`: epochs_trained, best_map50, best_map50_95, per_class, …
template <typename Report, typename EpochJson>
nlohmann::json training_report_json(const Report& r, const EpochJson& epoch_json) {
  const auto path_or_null = [](const std::filesystem::path& p) { return p.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.string()); };
  nlohmann::json epochs = nlohmann::json::array();
  double seconds = 0;
  for (const auto& e : r.epochs) {
    epochs.push_back(epoch_json(e));
    seconds += e.train_seconds + e.val_seconds;
  }
  nlohmann::json plots = nlohmann::json::array();
  for (const auto& p : r.plots) plots.push_back(p.string());
  const auto best = to_json(r.best);
  return {{"epochs_trained", r.epochs_trained},
          {"best_epoch", r.best_epoch},
          {"stopped_early", r.stopped_early},
          {"best_map50", r.best.map50},
          {"best_map50_95", r.best.map50_95},
          {"best_metrics", best},
          {"per_class", best.value("per_class", nlohmann::json::array())},
          {"best_pt", path_or_null(r.best_pt)},
          {"last_pt", path_or_null(r.last_pt)},
          {"results_csv", r.results_csv.string()},
          {"plots", plots},
          {"parameters", r.parameters},
          {"loader_workers", r.loader_workers},
          {"optimizer", r.optimizer},
          {"weights", r.weights},
          {"images_per_second", r.images_per_second},
          {"seconds_per_epoch", r.epochs.empty() ? 0.0 : seconds / static_cast<double>(r.epochs.size())},
          {"epochs", epochs}};
}

// Resume bookkeeping: a checkpoint that already finished `epochs` is an error; otherwise the
// earlier run's best.pt (beside `resume_from`) is copied into models_dir, so it stays the best
// when no resumed epoch beats it.
Expected<void> carry_resume_over(const std::filesystem::path& resume_from, const std::filesystem::path& models_dir,
                                 int epochs_done, int epochs, int best_epoch);

// The error a facade returns for the exception that ended `step`: a VisionError as it is, any
// other with the step and the library's own words. Call it only inside a catch block.
Error facade_error(const std::string& step);

}  // namespace vision::train
