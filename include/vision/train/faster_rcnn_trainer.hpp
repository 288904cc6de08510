// `vision train` with backend "faster_rcnn": trains a Faster R-CNN variant on detection samples
// (a YOLO data set or the original's flat LabelRecord folder) with torchvision's reference recipe,
// validates every epoch with YOLO's evaluator and writes best.pt / last.pt (weight files with the
// training state), results.csv and the plots. The header stays free of LibTorch.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/core/error.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/train/distributed.hpp"

namespace vision {

struct FasterRcnnTrainOptions {
  DetectionSamplesOptions samples;
  std::filesystem::path models_dir;  // best.pt, last.pt
  std::filesystem::path run_dir;     // results.csv, plots
  std::string run_id;

  std::string variant = "mobilenet_v3";
  std::filesystem::path weights;      // a weight file or checkpoint of the same variant; empty = from scratch
  std::filesystem::path resume_from;  // a last.pt to continue; empty = a new training
  std::string device = "cpu";
  std::uint64_t seed = 42;
  int epochs = 26;
  int batch_size = 2;
  int img_size = 800;  // the transform's min_size (transform_options_for_img_size)
  int threads = 0;     // LibTorch intra-op threads; 0 = every core
  int workers = 0;     // train.faster_rcnn.num_workers, at most the cores LibTorch's threads leave free
  bool dry_run = false;

  double lr = 0.005, momentum = 0.9, weight_decay = 5e-4;
  double fliplr = 0.5;  // torchvision's reference augmentation, the only one
  int patience = 0;     // epochs without a better fitness before stopping; 0 = never stop early

  // Data parallel, as the yolo backend's: batch_size is the global batch, rank 0 alone writes.
  // sync_bn is not available for the variants that train BatchNorm.
  train::DataParallelOptions data_parallel;
};

struct FasterRcnnEpochResult {
  int epoch = 0;  // 1-based
  double loss_objectness = 0, loss_rpn_box_reg = 0, loss_classifier = 0, loss_box_reg = 0;
  double precision = 0, recall = 0, map50 = 0, map50_95 = 0, fitness = 0;
  double lr = 0;  // at the epoch's end
  double train_seconds = 0, val_seconds = 0;
  double images_per_second = 0;  // training phase only
};

struct FasterRcnnTrainReport {
  int epochs_trained = 0;        // epochs finished, counting those of a resumed run
  int interrupted_in_epoch = 0;  // 1-based epoch a Ctrl+C or SIGTERM stopped; 0 = not stopped
  int best_epoch = 0;
  bool stopped_early = false;
  DetectionMetrics best;  // metrics of best.pt
  std::vector<FasterRcnnEpochResult> epochs;
  std::filesystem::path best_pt, last_pt, results_csv;
  std::vector<std::filesystem::path> plots;
  double images_per_second = 0;
  std::int64_t parameters = 0;
  int loader_workers = 0;
  nlohmann::json optimizer;  // the recipe's settings
  nlohmann::json weights;    // what was loaded from train.faster_rcnn.weights / resume
  nlohmann::json samples;    // to_json(DetectionSamples): source, counts, skips by reason
};

using FasterRcnnEpochCallback = std::function<void(const FasterRcnnEpochResult&)>;

// An interrupt ends the training between two batches with interrupted_in_epoch set; the
// checkpoints of the epochs that finished stay.
Expected<FasterRcnnTrainReport> train_faster_rcnn(const FasterRcnnTrainOptions& options,
                                                  const FasterRcnnEpochCallback& on_epoch = {});

// artifacts.json fields, the yolo backend's keys plus "samples".
nlohmann::json to_json(const FasterRcnnTrainReport& report);

}  // namespace vision
