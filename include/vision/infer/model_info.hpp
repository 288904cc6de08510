// What a detection ONNX model looks like from the outside, worked out from its graph and its
// metadata. Output layouts (N = batch, A = anchors / candidate boxes, nc = classes):
//   yolov8               [N, 4+nc, A]  cx, cy, w, h in input pixels, then class scores
//                        (ours, Ultralytics YOLOv8 / YOLO11 exports)
//   yolov8_transposed    [N, A, 4+nc]  the same, anchors first
//   yolov5               [N, A, 5+nc]  cx, cy, w, h, objectness, class scores
//   boxes_labels_scores  boxes [K,4] xyxy, labels [K] (1-based, 0 = background), scores [K]
//                        (torchvision-style Faster R-CNN; a leading batch dim of 1 is fine)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace vision {

enum class ModelFormat { yolov8, yolov8_transposed, yolov5, boxes_labels_scores };
const char* model_format_name(ModelFormat format);

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;  // -1 for dynamic dimensions
};

struct ModelInfo {
  ModelFormat format = ModelFormat::yolov8;
  std::string input_name;
  std::vector<std::string> output_names;  // in the order the decoder reads them
  int input_width = 0;
  int input_height = 0;
  bool dynamic_batch = false;
  bool dynamic_size = false;  // H and W are free (Faster R-CNN style)
  int num_classes = 0;
  int stride = 32;
  std::vector<std::string> names;  // the model's class names; empty when it has none
  std::map<std::string, std::string> metadata;
};

// Ultralytics writes names as a Python dict: "{0: 'person', 1: 'bicycle'}". JSON and a plain
// list are accepted too. Returns the names in id order; gaps become "class<id>". A class id
// outside 0..k_max_class_count-1 is an error (ErrorCode::invalid_data) naming it.
Expected<std::vector<std::string>> parse_names_metadata(const std::string& text);

// Decides the format from the tensors and metadata; `origin` names the model in errors.
Expected<ModelInfo> describe_model(const std::vector<TensorSpec>& inputs,
                                   const std::vector<TensorSpec>& outputs,
                                   const std::map<std::string, std::string>& metadata,
                                   const std::string& origin);

}  // namespace vision
