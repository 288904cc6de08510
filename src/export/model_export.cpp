// The export pipeline: checkpoint → model.onnx → parity with LibTorch on real images →
// model-int8.onnx → mAP and latency of both → model.json. A Faster R-CNN weight file takes the
// same steps with its own graph, parity on detections and manifest, and no INT8 file.
#include "vision/export/model_export.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <functional>
#include <random>

#include <nlohmann/json.hpp>
#include <onnxruntime_cxx_api.h>

#include "checkpoint_model.hpp"
#include "vision/core/exception_error.hpp"
#include "vision/core/log.hpp"
#include "vision/core/percentile.hpp"
#include "vision/core/run.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/eval/validate.hpp"
#include "vision/image/image_files.hpp"
#include "vision/image/letterbox.hpp"
#include "vision/infer/detector.hpp"
#include "vision/infer/ort_env.hpp"
#include "vision/train/faster_rcnn/weights.hpp"

namespace vision {

namespace {

constexpr int kParityImages = 4;

std::uint64_t size_of(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// Letterboxed NCHW floats of the given images, as the inference engine prepares them.
Expected<std::vector<float>> letterboxed_batch(const std::vector<std::filesystem::path>& images, int size) {
  const auto plane = static_cast<size_t>(size) * static_cast<size_t>(size);
  std::vector<float> blob(images.size() * 3 * plane);
  cv::Mat boxed;
  for (size_t i = 0; i < images.size(); ++i) {
    auto image = read_image(images[i]);
    if (!image) return std::unexpected(image.error());
    letterbox(*image, {size, size, k_letterbox_pad_value, true}, boxed);
    bgr_to_rgb_chw(boxed, blob.data() + i * 3 * plane);
  }
  return blob;
}

// Runs the images through the ONNX file in ONNX Runtime and through the checkpoint in LibTorch.
Expected<ParityReport> compare_with_checkpoint(onnx_export::CheckpointModel& model, const std::filesystem::path& onnx,
                                               const std::vector<std::filesystem::path>& images) {
  const int size = model.summary().img_size;
  auto blob = letterboxed_batch(images, size);
  if (!blob) return std::unexpected(blob.error());
  DetectorOptions options;
  options.model_path = onnx;
  options.device = "cpu";
  options.max_batch = static_cast<int>(images.size());
  auto detector = Detector::open(options);
  if (!detector) return std::unexpected(detector.error());
  auto onnx_output = (*detector)->run_raw_output(blob->data(), static_cast<int>(images.size()));
  if (!onnx_output) return std::unexpected(onnx_output.error());
  const auto torch_output = model.infer(blob->data(), static_cast<int>(images.size()));
  if (!torch_output) return std::unexpected(torch_output.error());
  if (onnx_output->shape.size() != 3) {
    return fail(ErrorCode::runtime, "export check failed: " + onnx.string() + " gives an output of rank " +
                                        std::to_string(onnx_output->shape.size()) + ", not [N, 4 + classes, anchors]");
  }
  auto report = compare_outputs(onnx_output->values, *torch_output, static_cast<std::size_t>(onnx_output->shape[1]),
                                static_cast<std::size_t>(onnx_output->shape[2]));
  if (!report) return fail(ErrorCode::runtime, "export check failed: " + onnx.string() + ": " + report.error().message);
  return report;
}

Expected<void> check_parity(onnx_export::CheckpointModel& model, const std::filesystem::path& onnx,
                            const std::vector<std::filesystem::path>& images, ModelExportReport& report) {
  auto parity = compare_with_checkpoint(model, onnx, images);
  if (!parity) return std::unexpected(parity.error());
  report.parity = *parity;
  report.parity_images = static_cast<int>(images.size());
  if (!parity->ok()) return fail(ErrorCode::runtime, "export check failed: " + describe(*parity) + " for " + onnx.string());
  return {};
}

// `count` of the items' images (DatasetItem or DetectionSample), chosen by a seeded shuffle.
template <class Item>
std::vector<std::filesystem::path> pick(const std::vector<Item>& items, int count, std::uint64_t seed) {
  std::vector<std::filesystem::path> paths;
  for (const auto& item : items) paths.push_back(item.image);
  std::mt19937_64 rng(seed);
  std::shuffle(paths.begin(), paths.end(), rng);
  paths.resize(std::min(paths.size(), static_cast<size_t>(std::max(count, 0))));
  return paths;
}

// The validation settings for one exported file.
ValidateOptions validate_options(const ModelFileReport& file, const ModelExportOptions& o, const std::vector<std::string>& names) {
  ValidateOptions val = default_validate_options();
  val.dataset = o.dataset;
  val.dataset.class_names = names;
  val.detector.model_path = file.path;
  val.detector.threads = o.threads;
  val.detector.device = "cpu";
  return val;
}

// `validate` gives the file's metrics; `run_once` is one batch-1 inference through the detector,
// the thing timed.
Expected<void> measure(ModelFileReport& file, const ModelExportOptions& o,
                       const std::function<Expected<DetectionMetrics>(const ValidateOptions&)>& validate,
                       const std::vector<std::string>& names, const std::function<Expected<void>(Detector&)>& run_once) {
  auto metrics = validate(validate_options(file, o, names));
  if (!metrics) return std::unexpected(metrics.error());
  file.map50 = metrics->map50;
  file.map50_95 = metrics->map50_95;

  DetectorOptions options;
  options.model_path = file.path;
  options.threads = o.threads;
  options.device = "cpu";
  auto detector = Detector::open(options);
  if (!detector) return std::unexpected(detector.error());
  std::vector<double> times;
  for (int i = 0; i < o.latency_runs + 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (auto ok = run_once(**detector); !ok) return ok;
    if (i >= 5) times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  file.latency_ms = percentile(times, 0.5);
  return {};
}

nlohmann::json file_json(const ModelFileReport& f, bool evaluated) {
  nlohmann::json j = {{"path", f.path.string()}, {"size_bytes", f.size_bytes}};
  if (evaluated) {
    j["map50"] = f.map50;
    j["map50_95"] = f.map50_95;
    j["latency_ms"] = f.latency_ms;
  }
  return j;
}

Expected<void> write_manifest(const ModelExportOptions& o, const onnx_export::CheckpointSummary& s, const ModelExportReport& r) {
  const int size = s.img_size;
  std::int64_t anchors = 0;
  for (int stride : {8, 16, 32}) anchors += static_cast<std::int64_t>(size / stride) * (size / stride);
  nlohmann::json files = {{"onnx", r.fp32.path.filename().string()}, {"checkpoint", std::filesystem::absolute(o.checkpoint).string()}};
  if (!r.int8.path.empty()) files["int8"] = r.int8.path.filename().string();
  nlohmann::json manifest = {
      {"format", "yolov8-detect-onnx"},
      {"task", "detect"},
      {"names", s.names},
      {"num_classes", s.names.size()},
      {"img_size", size},
      {"stride", {8, 16, 32}},
      {"scale", std::string(1, s.scale)},
      {"input", {{"name", "images"}, {"dtype", "float32"}, {"shape", {"N", 3, size, size}}, {"layout", "RGB, 0..1, letterbox pad " + std::to_string(k_letterbox_pad_value)}}},
      {"output", {{"name", "output0"}, {"dtype", "float32"}, {"shape", {"N", 4 + static_cast<std::int64_t>(s.names.size()), anchors}},
                  {"layout", "cx, cy, w, h in input pixels, then class scores"}}},
      {"opset", r.opset},
      {"files", files},
      {"quantization", r.int8.path.empty() ? nlohmann::json(nullptr)
                                           : nlohmann::json{{"mode", r.quantize_mode}, {"calib_samples", o.calib_samples}}},
      {"source_run", s.run_id},
      {"export_run", o.run_id},
      {"epochs_trained", s.epoch},
      {"metrics", to_json(r)},
      {"class_map_sha256", class_map_sha256(s.names)},
      {"vision_version", VISION_VERSION}};
  return write_file_atomic(r.manifest, manifest.dump(2) + "\n");
}

// The report's opset and model.onnx path, in an output folder that now exists.
ModelExportReport started_report(const ModelExportOptions& o) {
  ModelExportReport report;
  report.opset = o.opset;
  std::filesystem::create_directories(o.output_dir);
  report.fp32.path = o.output_dir / "model.onnx";
  return report;
}

// model.onnx at the checkpoint's size and classes, tagged with the run that trained it (else this one).
OnnxExportOptions onnx_options(const ModelExportOptions& o, const onnx_export::CheckpointSummary& summary,
                               const ModelExportReport& report) {
  OnnxExportOptions onnx;
  onnx.output = report.fp32.path;
  onnx.img_height = onnx.img_width = summary.img_size;
  onnx.opset = o.opset;
  onnx.class_names = summary.names;
  onnx.run_id = summary.run_id.empty() ? o.run_id : summary.run_id;
  return onnx;
}

// model.onnx stays only when its parity check passed; then it is logged with the check's figures.
Expected<void> keep_proven(const Expected<void>& checked, ModelExportReport& report) {
  if (!checked) {
    std::filesystem::remove(report.fp32.path);
    return checked;
  }
  report.fp32.size_bytes = size_of(report.fp32.path);
  log::info("train.export.onnx.ok", "wrote " + report.fp32.path.string(),
            {{"max_box_diff", report.parity.max_box_diff}, {"max_score_diff", report.parity.max_score_diff}});
  return {};
}

// The data set whose images check and measure the export; its classes must be the checkpoint's.
Expected<YoloDataset> export_dataset(const ModelExportOptions& o, const std::vector<std::string>& names) {
  DatasetOptions dataset_options = o.dataset;
  if (dataset_options.class_names.empty()) dataset_options.class_names = names;
  if (dataset_options.class_names != names) {
    return fail(ErrorCode::config, o.checkpoint.string() + " was trained on other classes than class_map.names");
  }
  return load_yolo_dataset(dataset_options);
}

// RGB float CHW in 0..1 of an image as it is, what a Faster R-CNN export takes.
struct FullImage {
  cv::Mat bgr;
  std::vector<float> chw;
};

Expected<FullImage> full_image(const std::filesystem::path& path) {
  auto image = read_image(path);
  if (!image) return std::unexpected(image.error());
  FullImage out{*image, std::vector<float>(3 * image->total())};
  bgr_to_rgb_chw(out.bgr, out.chw.data());
  return out;
}

// One image through a boxes/labels/scores graph in ONNX Runtime.
DetectionList run_detection_graph(Ort::Session& session, const FullImage& image) {
  const std::array<std::int64_t, 4> shape = {1, 3, image.bgr.rows, image.bgr.cols};
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value input = Ort::Value::CreateTensor<float>(memory, const_cast<float*>(image.chw.data()), image.chw.size(),
                                                     shape.data(), shape.size());
  const char* in_names[] = {"images"};
  const char* out_names[] = {"boxes", "labels", "scores"};
  auto outputs = session.Run(Ort::RunOptions{nullptr}, in_names, &input, 1, out_names, 3);
  const auto values = [&]<class T>(size_t i, T) {
    const T* data = outputs[i].GetTensorData<T>();
    return std::vector<T>(data, data + outputs[i].GetTensorTypeAndShapeInfo().GetElementCount());
  };
  return {values(0, 0.0F), values(1, std::int64_t{0}), values(2, 0.0F)};
}

Expected<void> check_detection_parity(onnx_export::FasterRcnnCheckpoint& model, const std::filesystem::path& onnx,
                                      const std::vector<std::filesystem::path>& images, ModelExportReport& report) {
  Ort::SessionOptions session_options;
  session_options.SetLogSeverityLevel(ORT_LOGGING_LEVEL_ERROR);
  Ort::Session session = [&] {
    MutedCerr mute;
    return Ort::Session(ort_env(), onnx.c_str(), session_options);
  }();
  std::vector<DetectionList> exported, reference;
  for (const auto& path : images) {
    auto image = full_image(path);
    if (!image) return std::unexpected(image.error());
    exported.push_back(run_detection_graph(session, *image));
    auto torch_result = model.infer(image->chw.data(), image->bgr.rows, image->bgr.cols);
    if (!torch_result) return std::unexpected(torch_result.error());
    reference.push_back(std::move(*torch_result));
  }
  auto parity = compare_detections(exported, reference);
  if (!parity) return fail(ErrorCode::runtime, "export check failed: " + onnx.string() + ": " + parity.error().message);
  report.parity = *parity;
  report.parity_images = static_cast<int>(images.size());
  if (!parity->ok()) return fail(ErrorCode::runtime, "export check failed: " + describe(*parity) + " for " + onnx.string());
  return {};
}

Expected<void> write_faster_rcnn_manifest(const ModelExportOptions& o, const onnx_export::CheckpointSummary& s,
                                          const ModelExportReport& r) {
  nlohmann::json manifest = {
      {"format", "faster-rcnn-boxes-labels-scores-onnx"},
      {"task", "detect"},
      {"variant", s.variant},
      {"names", s.names},
      {"num_classes", s.names.size()},
      {"img_size", s.img_size},
      {"input", {{"name", "images"}, {"dtype", "float32"}, {"shape", {1, 3, "H", "W"}}, {"layout", "RGB, 0..1, the image as it is"}}},
      {"output", {{"boxes", {{"dtype", "float32"}, {"shape", {"K", 4}}, {"layout", "x1, y1, x2, y2 in input pixels"}}},
                  {"labels", {{"dtype", "int64"}, {"shape", {"K"}}, {"layout", "class id + 1 (0 = background)"}}},
                  {"scores", {{"dtype", "float32"}, {"shape", {"K"}}, {"layout", "highest first"}}}}},
      {"opset", r.opset},
      {"files", {{"onnx", r.fp32.path.filename().string()}, {"checkpoint", std::filesystem::absolute(o.checkpoint).string()}}},
      {"quantization", nullptr},
      {"int8_skipped", r.int8_skipped.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.int8_skipped)},
      {"source_run", s.run_id},
      {"export_run", o.run_id},
      {"metrics", to_json(r)},
      {"class_map_sha256", class_map_sha256(s.names)},
      {"vision_version", VISION_VERSION}};
  return write_file_atomic(r.manifest, manifest.dump(2) + "\n");
}

// The INT8 quantizer keeps YOLO's head in float by finding its per-stride Reshapes; a Faster R-CNN
// graph (RoiAlign, NMS, data-dependent shapes) has no such head, so it gets no INT8 file.
constexpr const char* k_faster_rcnn_int8_skipped =
    "the INT8 quantizer handles YOLO graphs only; a Faster R-CNN export stays FP32";

// The samples the Faster R-CNN trainer reads from the same folder; their classes must be the file's.
Expected<DetectionSamples> export_samples(const ModelExportOptions& o, const std::vector<std::string>& names) {
  if (!o.dataset.class_names.empty() && o.dataset.class_names != names) {
    return fail(ErrorCode::config, o.checkpoint.string() + " was trained on other classes than class_map.names");
  }
  DetectionSamplesOptions options;
  options.dir = o.dataset.dir;
  options.class_names = names;
  options.strictness = o.dataset.strictness;
  options.val_fraction = o.val_fraction;
  options.seed = o.seed;
  return load_detection_samples(options);
}

Expected<ModelExportReport> run_faster_rcnn_export(const ModelExportOptions& o, onnx_export::FasterRcnnCheckpoint& model) {
  const auto& summary = model.summary();
  auto samples = export_samples(o, summary.names);
  if (!samples) return std::unexpected(samples.error());
  ModelExportReport report = started_report(o);
  if (auto ok = model.write_onnx(onnx_options(o, summary, report)); !ok) return std::unexpected(ok.error());
  const auto& check_items = samples->val.empty() ? samples->train : samples->val;
  const auto checked = check_detection_parity(model, report.fp32.path, pick(check_items, kParityImages, o.seed), report);
  if (auto ok = keep_proven(checked, report); !ok) return std::unexpected(ok.error());
  if (o.quantize) {
    report.int8_skipped = k_faster_rcnn_int8_skipped;
    log::info("train.export.int8.skipped", std::string("no model-int8.onnx: ") + k_faster_rcnn_int8_skipped);
  }
  if (o.evaluate) {
    const auto sample_paths = pick(check_items, 1, o.seed);
    if (sample_paths.empty()) return fail(ErrorCode::config, "no image to measure " + report.fp32.path.string() + " on");
    auto sample = full_image(sample_paths.front());
    if (!sample) return std::unexpected(sample.error());
    const auto run_once = [&](Detector& detector) -> Expected<void> {
      auto result = detector.detect(sample->bgr);
      if (!result) return std::unexpected(result.error());
      return {};
    };
    const auto validate = [&](const ValidateOptions& val) { return validate_onnx_samples(val, samples->val, summary.names); };
    if (auto ok = measure(report.fp32, o, validate, summary.names, run_once); !ok) return std::unexpected(ok.error());
    report.evaluated = true;
  }
  report.manifest = o.output_dir / "model.json";
  if (auto ok = write_faster_rcnn_manifest(o, summary, report); !ok) return std::unexpected(ok.error());
  return report;
}

Expected<ModelExportReport> run_export(const ModelExportOptions& o) {
  // A file whose meta record is no Faster R-CNN one goes the YOLO way, which names its faults.
  if (train::faster_rcnn::read_weights_meta(o.checkpoint)) {
    auto faster_rcnn = onnx_export::FasterRcnnCheckpoint::open(o.checkpoint);
    if (!faster_rcnn) return std::unexpected(faster_rcnn.error());
    return run_faster_rcnn_export(o, *faster_rcnn);
  }
  auto model = onnx_export::CheckpointModel::open(o.checkpoint);
  if (!model) return std::unexpected(model.error());
  const auto& summary = model->summary();
  auto dataset = export_dataset(o, summary.names);
  if (!dataset) return std::unexpected(dataset.error());

  ModelExportReport report = started_report(o);
  if (auto ok = model->write_onnx(onnx_options(o, summary, report)); !ok) return std::unexpected(ok.error());
  const auto& check_items = dataset->val.empty() ? dataset->train : dataset->val;
  const auto checked = check_parity(*model, report.fp32.path, pick(check_items, kParityImages, o.seed), report);
  if (auto ok = keep_proven(checked, report); !ok) return std::unexpected(ok.error());

  if (o.quantize) {
    QuantizeOptions q;
    q.input = report.fp32.path;
    q.output = o.output_dir / "model-int8.onnx";
    q.mode = o.quantize_mode;
    q.threads = o.threads;
    if (o.quantize_mode == QuantizeMode::static_qdq) q.calibration_images = pick(dataset->train, o.calib_samples, o.seed);
    auto quantized = quantize_onnx(q);
    if (!quantized) return std::unexpected(quantized.error());
    report.quantize_mode = o.quantize_mode == QuantizeMode::static_qdq ? "static" : "dynamic";
    report.int8.path = q.output;
    report.int8.size_bytes = size_of(q.output);
    log::info("train.export.int8.ok", "wrote " + q.output.string() + " (" + report.quantize_mode + ")");
  }

  if (o.evaluate) {
    auto sample = letterboxed_batch(pick(check_items, 1, o.seed), summary.img_size);
    if (!sample) return std::unexpected(sample.error());
    const auto run_once = [&](Detector& detector) { return detector.run_raw(sample->data(), 1); };
    const auto validate = [](const ValidateOptions& val) { return validate_onnx(val); };
    if (auto ok = measure(report.fp32, o, validate, summary.names, run_once); !ok) return std::unexpected(ok.error());
    if (!report.int8.path.empty()) {
      if (auto ok = measure(report.int8, o, validate, summary.names, run_once); !ok) return std::unexpected(ok.error());
    }
    report.evaluated = true;
  }
  report.manifest = o.output_dir / "model.json";
  if (auto ok = write_manifest(o, summary, report); !ok) return std::unexpected(ok.error());
  return report;
}

}  // namespace

std::string class_map_sha256(const std::vector<std::string>& names) {
  const std::string text = nlohmann::json(names).dump();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

Expected<ModelExportReport> export_model(const ModelExportOptions& o) {
  try {
    return run_export(o);
  } catch (...) {
    return std::unexpected(error_from_current_exception("export of " + o.checkpoint.string() + " failed"));
  }
}

Expected<ParityReport> check_export_parity(const std::filesystem::path& checkpoint, const std::filesystem::path& onnx,
                                           const std::vector<std::filesystem::path>& images) {
  try {
    auto model = onnx_export::CheckpointModel::open(checkpoint);
    if (!model) return std::unexpected(model.error());
    return compare_with_checkpoint(*model, onnx, images);
  } catch (...) {
    return std::unexpected(error_from_current_exception("export check of " + onnx.string() + " failed"));
  }
}

nlohmann::json to_json(const ModelExportReport& r) {
  nlohmann::json j = {{"onnx_path", r.fp32.path.string()},
                      {"int8_path", r.int8.path.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.int8.path.string())},
                      {"opset", r.opset},
                      {"quantize_mode", r.quantize_mode.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.quantize_mode)},
                      {"fp32", file_json(r.fp32, r.evaluated)},
                      {"int8", r.int8.path.empty() ? nlohmann::json(nullptr) : file_json(r.int8, r.evaluated)},
                      {"parity", to_json(r.parity)}};
  j["parity"]["images"] = r.parity_images;
  if (!r.int8_skipped.empty()) j["int8_skipped"] = r.int8_skipped;
  if (!r.manifest.empty()) j["manifest"] = r.manifest.string();
  return j;
}

}  // namespace vision
