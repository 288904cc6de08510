// Checkpoints (best.pt, last.pt): a LibTorch archive holding the averaged (EMA) weights used for
// inference and export under "model", a JSON text under "meta" (architecture, class names,
// image size, epoch, best fitness, the per-epoch history), and — in last.pt only — the raw
// training weights and the optimiser state for `resume`. Public for the export bridge, which
// opens best.pt.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/core/error.hpp"
#include "vision/train/yolo_layers.hpp"

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace vision::train {

struct CheckpointMeta {
  YoloModelOptions model;
  std::vector<std::string> names;
  int img_size = 640;
  int epoch = 0;   // epochs completed
  int epochs = 0;  // epochs planned
  double best_fitness = 0;
  int best_epoch = 0;
  std::int64_t ema_updates = 0;
  std::string run_id;
  nlohmann::json history = nlohmann::json::array();  // one object per epoch (results.csv rows)
  nlohmann::json extra = nlohmann::json::object();   // optimiser choice, metrics, …
};

// What resume needs beyond the inference weights.
struct TrainingState {
  YoloDetectorImpl* train_model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
};

// Writes through a temporary file and a rename, so a crash never leaves half a checkpoint.
Expected<void> save_checkpoint(const std::filesystem::path& path, YoloDetectorImpl& model, const CheckpointMeta& meta,
                               const std::optional<TrainingState>& state = std::nullopt);

struct LoadedCheckpoint {
  CheckpointMeta meta;
  YoloDetector model{nullptr};  // EMA weights, eval mode
  bool has_training_state = false;
};

Expected<LoadedCheckpoint> load_checkpoint(const std::filesystem::path& path);

// Restores the raw weights and optimiser state of a last.pt into a fresh training setup.
Expected<void> load_training_state(const std::filesystem::path& path, const TrainingState& state);

}  // namespace vision::train
