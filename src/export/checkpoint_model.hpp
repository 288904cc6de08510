// A trained checkpoint as the exporter sees it: its class names and size, its ONNX graph, and
// its LibTorch outputs for the parity check. LibTorch stays behind the pointer (the bridge,
// torch_bridge.cpp, implements it), so the export pipeline itself compiles without it; its
// exceptions come back as errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/export/onnx_export.hpp"
#include "vision/export/parity.hpp"

namespace vision::onnx_export {

struct CheckpointSummary {
  std::vector<std::string> names;
  int img_size = 640;
  char scale = 'n';
  int epoch = 0;
  std::string run_id;
  std::string variant;  // a Faster R-CNN's VariantSpec::name; empty for YOLO
};

class CheckpointModel {
 public:
  static Expected<CheckpointModel> open(const std::filesystem::path& checkpoint);
  CheckpointModel(CheckpointModel&&) noexcept;
  CheckpointModel& operator=(CheckpointModel&&) noexcept;
  ~CheckpointModel();

  const CheckpointSummary& summary() const;
  Expected<void> write_onnx(const OnnxExportOptions& options);
  // The decoded output [N, 4 + nc, A] for `batch` NCHW images at the checkpoint's size.
  Expected<std::vector<float>> infer(const float* nchw, int batch);

 private:
  struct Impl;
  explicit CheckpointModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// A Faster R-CNN weight file (vision/train/faster_rcnn/weights.hpp): its graph has a free input
// size and gives detections after NMS (faster_rcnn_onnx.hpp), so LibTorch's side is one image's
// detections too.
class FasterRcnnCheckpoint {
 public:
  // Errors as read_weights_meta's: invalid_data for a file that is no Faster R-CNN weight file.
  static Expected<FasterRcnnCheckpoint> open(const std::filesystem::path& weights);
  FasterRcnnCheckpoint(FasterRcnnCheckpoint&&) noexcept;
  FasterRcnnCheckpoint& operator=(FasterRcnnCheckpoint&&) noexcept;
  ~FasterRcnnCheckpoint();

  const CheckpointSummary& summary() const;
  Expected<void> write_onnx(const OnnxExportOptions& options);
  // LibTorch's eval forward on one RGB image, float CHW in 0..1: labels 1-based as the export's.
  Expected<DetectionList> infer(const float* chw, int height, int width);

 private:
  struct Impl;
  explicit FasterRcnnCheckpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace vision::onnx_export
