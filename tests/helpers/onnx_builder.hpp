// Small ONNX models written with the ONNX protobuf classes, so engine tests run real ONNX
// Runtime sessions on outputs whose decoded boxes can be worked out by hand.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace vision::test {

enum class YoloLayout { channels_first, anchors_first };  // [N, C, A] or [N, A, C]

struct ConstantYoloModel {
  int input_height = 64;
  int input_width = 64;
  bool dynamic_batch = true;
  int channels = 0;  // 4+nc (v8) or 5+nc (v5)
  int anchors = 0;
  YoloLayout layout = YoloLayout::channels_first;
  // channels × anchors values for channels_first, anchors × channels for anchors_first.
  std::vector<float> output;
  // Added to the output once per unit of the image's mean pixel value (0..1): lets a test
  // tell the images of a batch apart. Same shape as `output`; empty = none.
  std::vector<float> brightness_gain;
  std::map<std::string, std::string> metadata;
};

// Writes a model: images [N,3,H,W] → output0 = output + mean(image) · brightness_gain.
void write_constant_yolo_model(const std::filesystem::path& file, const ConstantYoloModel& model);

// A Faster R-CNN style model: image [3,H,W] (dynamic H, W) → boxes [K,4], labels [K] int64,
// scores [K], all constant.
void write_constant_rcnn_model(const std::filesystem::path& file, const std::vector<float>& boxes,
                               const std::vector<std::int64_t>& labels, const std::vector<float>& scores,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace vision::test
