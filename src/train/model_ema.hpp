// Exponential moving average of the model's weights and BatchNorm statistics (Ultralytics'
// ModelEMA): decay = 0.9999·(1 − exp(−updates / 2000)), so the average follows the model
// closely early on and smooths it later. Validation and checkpoints use the average.
// Private to src/train.
#pragma once

#include <cstdint>

#include "vision/train/yolo_layers.hpp"

namespace vision::train {

class ModelEma {
 public:
  ModelEma(YoloDetectorImpl& model, double decay = 0.9999, double tau = 2000, std::int64_t updates = 0);
  void update(YoloDetectorImpl& model);
  YoloDetector& model() { return m_ema; }
  std::int64_t updates() const { return m_updates; }

 private:
  YoloDetector m_ema;
  double m_decay;
  double m_tau;
  std::int64_t m_updates;
};

}  // namespace vision::train
