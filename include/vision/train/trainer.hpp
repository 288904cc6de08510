// `vision train` with backend "yolo": trains the YOLOv8-style detector on a YOLO data set,
// validates every epoch and writes best.pt / last.pt, results.csv and the plots. The options
// are a plain struct (the CLI binds config keys to it); the header stays free of LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/core/error.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/train/distributed.hpp"
#include "vision/train/yolo_model.hpp"

namespace vision {

struct YoloTrainOptions {
  DatasetOptions dataset;
  std::filesystem::path models_dir;  // best.pt, last.pt
  std::filesystem::path run_dir;     // results.csv, plots
  std::string run_id;

  char scale = 'n';
  std::filesystem::path weights;      // our .pt or an Ultralytics YOLOv8 ONNX; empty = from scratch
  std::filesystem::path resume_from;  // a last.pt to continue; empty = a new training
  std::string device = "cpu";
  std::uint64_t seed = 42;
  bool deterministic = true;
  int epochs = 50;
  int batch_size = 16;
  int img_size = 640;
  int threads = 0;  // LibTorch intra-op threads; 0 = every core
  int workers = 2;  // data loader threads, at most the cores LibTorch's threads leave free
  bool dry_run = false;
  // "fp32", or "bf16": the forward pass under bf16 autocast on a CPU with AVX512-BF16 or AMX
  // (FP32, logged, elsewhere).
  std::string precision = "fp32";

  std::string optimizer = "auto";
  double lr0 = 0.01, lrf = 0.01, momentum = 0.937, weight_decay = 5e-4;
  double warmup_epochs = 3.0, warmup_bias_lr = 0.1;
  bool cos_lr = false;
  int nbs = 64;
  double box = 7.5, cls = 0.5, dfl = 1.5;
  bool ema = true;
  double grad_clip = 10.0;
  int patience = 100;  // epochs without a better fitness before stopping; 0 = never stop early
  int close_mosaic = 10;
  double mosaic = 1.0, hsv_h = 0.015, hsv_s = 0.7, hsv_v = 0.4, translate = 0.1, scale_gain = 0.5, fliplr = 0.5;

  // Data parallel (world_size > 1): batch_size is the global batch; rank 0 alone validates and
  // writes (models_dir and run_dir are not touched on the other ranks).
  train::DataParallelOptions data_parallel;
};

struct EpochResult {
  int epoch = 0;  // 1-based
  double box_loss = 0, cls_loss = 0, dfl_loss = 0;
  double precision = 0, recall = 0, map50 = 0, map50_95 = 0, fitness = 0;
  std::array<double, 3> lr{};
  double train_seconds = 0, val_seconds = 0;
  double images_per_second = 0;  // training phase only
};

struct YoloTrainReport {
  int epochs_trained = 0;       // epochs finished, counting those of a resumed run
  int interrupted_in_epoch = 0;  // 1-based epoch a Ctrl+C or SIGTERM stopped; 0 = not stopped
  int best_epoch = 0;
  bool stopped_early = false;
  DetectionMetrics best;  // metrics of best.pt
  std::vector<EpochResult> epochs;
  std::filesystem::path best_pt, last_pt, results_csv;
  std::vector<std::filesystem::path> plots;
  double images_per_second = 0;  // whole training phase
  std::int64_t parameters = 0;
  int loader_workers = 0;        // after leaving LibTorch its cores
  nlohmann::json optimizer;      // the resolved choice
  nlohmann::json weights;        // what was loaded from train.yolo.weights / resume
};

// Called after every epoch (for logging); may be empty.
using EpochCallback = std::function<void(const EpochResult&)>;

// An interrupt ends the training between two batches with a report whose interrupted_in_epoch
// is set; the checkpoints of the epochs that finished stay.
Expected<YoloTrainReport> train_yolo(const YoloTrainOptions& options, const EpochCallback& on_epoch = {});

// artifacts.json fields of a training: epochs_trained, best_map50, best_map50_95, per_class, …
nlohmann::json to_json(const YoloTrainReport& report);

// `vision val --model best.pt`: evaluates a checkpoint on the val split.
struct CheckpointValOptions {
  std::filesystem::path checkpoint;
  DatasetOptions dataset;
  double val_fraction = 0.2;  // autolabel.val_fraction: a flat LabelRecord folder's split (Faster R-CNN)
  int img_size = 0;  // 0 = the size the checkpoint was trained at
  int batch_size = 16;
  int threads = 0;
  std::string device = "cpu";
};
Expected<DetectionMetrics> validate_checkpoint(const CheckpointValOptions& options);

}  // namespace vision
