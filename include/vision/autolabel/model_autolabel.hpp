// Autolabel with a detection model (autolabel.mode = "model"): every image under the
// unlabeled folder (recursive) goes through the inference engine in batches, and the results
// become a trainable YOLO data set (see labeled_dataset.hpp).
#pragma once

#include "vision/autolabel/autolabel_runner.hpp"
#include "vision/core/error.hpp"
#include "vision/infer/detector.hpp"

namespace vision {

struct ModelAutolabelOptions {
  AutolabelJob job;          // batch_size images go through the model at once
  DetectorOptions detector;  // model path, confidence, threads
};

// Runs to the end, or until interrupt::requested(); the dataset files are written either way.
Expected<AutolabelReport> run_model_autolabel(const ModelAutolabelOptions& options);

}  // namespace vision
