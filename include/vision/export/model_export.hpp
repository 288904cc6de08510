// After training (and in `vision export --model best.pt`): writes model.onnx from a checkpoint
// (a YOLO checkpoint or a Faster R-CNN weight file, told apart by its meta record),
// proves it against LibTorch on real images, writes model-int8.onnx, measures both on the val
// split and on this CPU, and writes the model.json manifest (SPEC 3.3 and 5). Free of LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/error.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/export/parity.hpp"
#include "vision/export/quantize.hpp"

namespace vision {

struct ModelExportOptions {
  std::filesystem::path checkpoint;  // best.pt
  std::filesystem::path output_dir;  // models/<run_id>
  std::string run_id;
  DatasetOptions dataset;            // val images for parity and mAP, train images for calibration
  // A Faster R-CNN weight file reads dataset.dir as its trainer does (load_detection_samples: a
  // YOLO data set or a flat LabelRecord folder split by autolabel.val_fraction).
  double val_fraction = 0.2;
  bool onnx = true;                  // export.onnx
  bool quantize = true;              // export.quantize
  QuantizeMode quantize_mode = QuantizeMode::static_qdq;
  int opset = 17;
  int calib_samples = 32;
  std::uint64_t seed = 42;           // which training images calibrate
  int threads = 0;                   // ONNX Runtime threads for measuring; 0 = every core
  bool evaluate = true;              // mAP on the val split and latency, for the report
  int latency_runs = 50;
};

struct ModelFileReport {
  std::filesystem::path path;
  std::uint64_t size_bytes = 0;
  double map50 = 0, map50_95 = 0;
  double latency_ms = 0;  // median of batch-1 runs after warm-up
};

struct ModelExportReport {
  int opset = 17;
  std::string quantize_mode;  // "dynamic" | "static" | "" when not quantized
  bool evaluated = false;
  ModelFileReport fp32;
  ModelFileReport int8;       // path empty when export.quantize = false or the model cannot be quantized
  std::string int8_skipped;   // why export.quantize = true wrote no INT8 file (Faster R-CNN); else empty
  ParityReport parity;  // ONNX Runtime against LibTorch on parity_images val images
  int parity_images = 0;
  std::filesystem::path manifest;
};

Expected<ModelExportReport> export_model(const ModelExportOptions& options);

// The check export_model makes before it keeps model.onnx: the images, letterboxed to the
// checkpoint's size, through `onnx` in ONNX Runtime and through `checkpoint` in LibTorch.
Expected<ParityReport> check_export_parity(const std::filesystem::path& checkpoint, const std::filesystem::path& onnx,
                                           const std::vector<std::filesystem::path>& images);

// artifacts.export: {onnx_path, int8_path, opset, quantize_mode, fp32: {…}, int8: {…}, parity: {…}},
// plus int8_skipped (the reason) when the model could not be quantized.
nlohmann::json to_json(const ModelExportReport& report);

// SHA-256 (lower-case hex) of the class map as the manifest records it: the JSON text of the
// names array, e.g. ["circle","square"].
std::string class_map_sha256(const std::vector<std::string>& names);

}  // namespace vision
