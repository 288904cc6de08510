#include "vision/infer/detector.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include <onnxruntime_cxx_api.h>

#include "vision/core/contracts.hpp"
#include "vision/core/log.hpp"
#include "vision/image/letterbox.hpp"
#include "vision/image/nms.hpp"
#include "vision/infer/decode.hpp"
#include "vision/infer/ort_env.hpp"

namespace vision {

namespace {

bool cuda_available() {
  const auto providers = Ort::GetAvailableProviders();
  return std::ranges::find(providers, "CUDAExecutionProvider") != providers.end();
}

std::vector<TensorSpec> tensor_specs(Ort::Session& session, bool inputs) {
  Ort::AllocatorWithDefaultOptions allocator;
  std::vector<TensorSpec> specs;
  const size_t count = inputs ? session.GetInputCount() : session.GetOutputCount();
  for (size_t i = 0; i < count; ++i) {
    TensorSpec spec;
    spec.name = (inputs ? session.GetInputNameAllocated(i, allocator) : session.GetOutputNameAllocated(i, allocator)).get();
    const auto type = inputs ? session.GetInputTypeInfo(i) : session.GetOutputTypeInfo(i);
    if (type.GetONNXType() == ONNX_TYPE_TENSOR) spec.shape = type.GetTensorTypeAndShapeInfo().GetShape();
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::map<std::string, std::string> model_metadata(Ort::Session& session) {
  Ort::AllocatorWithDefaultOptions allocator;
  std::map<std::string, std::string> metadata;
  const Ort::ModelMetadata meta = session.GetModelMetadata();
  for (const auto& key : meta.GetCustomMetadataMapKeysAllocated(allocator)) {
    const auto value = meta.LookupCustomMetadataMapAllocated(key.get(), allocator);
    metadata[key.get()] = value ? value.get() : "";
  }
  return metadata;
}

}  // namespace

struct Detector::Impl {
  DetectorOptions options;
  Ort::SessionOptions session_options;
  std::unique_ptr<Ort::Session> session;
  ModelInfo info;
  std::string provider = "CPU";
  std::vector<const char*> input_names;
  std::vector<const char*> output_names;
  std::vector<std::string> class_names;
  std::vector<int> class_remap;  // model class → project class, -1 = not in the project
  std::int64_t dropped = 0;
  std::vector<float> blob;
  std::vector<cv::Mat> letterboxed;
  Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

  std::vector<Ort::Value> run(const float* data, int batch, int height, int width) {
    std::vector<std::int64_t> shape = {batch, 3, height, width};
    if (info.format == ModelFormat::boxes_labels_scores && info.dynamic_size && !info.dynamic_batch &&
        session->GetInputTypeInfo(0).GetTensorTypeAndShapeInfo().GetShape().size() == 3) {
      shape.erase(shape.begin());
    }
    const size_t count = static_cast<size_t>(batch) * 3 * static_cast<size_t>(height) * static_cast<size_t>(width);
    Ort::Value input = Ort::Value::CreateTensor<float>(memory, const_cast<float*>(data), count, shape.data(), shape.size());
    return session->Run(Ort::RunOptions{nullptr}, input_names.data(), &input, 1, output_names.data(), output_names.size());
  }

  // The outputs of a run hold what describe_model promised for `batch` images, so decoding never
  // reads past them: a model whose shapes change at run time is an error naming it.
  Expected<void> check_outputs(std::vector<Ort::Value>& outputs, int batch) const {
    const auto problem = [&](const std::string& what) {
      return fail(ErrorCode::invalid_data, options.model_path.string() + ": " + what);
    };
    for (auto& output : outputs) {
      if (!output.IsTensor()) return problem("an output is not a tensor");
    }
    if (info.format == ModelFormat::boxes_labels_scores) {
      if (outputs.size() < 3) return problem("expected boxes, labels and scores outputs");
      const auto scores = outputs[2].GetTensorTypeAndShapeInfo().GetElementCount();
      if (outputs[0].GetTensorTypeAndShapeInfo().GetElementCount() != 4 * scores ||
          outputs[1].GetTensorTypeAndShapeInfo().GetElementCount() != scores) {
        return problem("boxes, labels and scores outputs of different lengths");
      }
      return {};
    }
    const auto type = outputs[0].GetTensorTypeAndShapeInfo();
    const auto shape = type.GetShape();
    if (type.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) return problem("output 0 is not float32");
    if (shape.size() != 3 || shape[0] != batch || shape[1] <= 0 || shape[2] <= 0 ||
        static_cast<size_t>(shape[0] * shape[1] * shape[2]) != type.GetElementCount()) {
      return problem("output 0 has an unexpected shape for a batch of " + std::to_string(batch));
    }
    const std::int64_t channels = info.format == ModelFormat::yolov8 ? shape[1] : shape[2];
    const std::int64_t want = info.num_classes + (info.format == ModelFormat::yolov5 ? 5 : 4);
    if (channels != want) {
      return problem("output 0 has " + std::to_string(channels) + " channels at run time, " + std::to_string(want) + " when loaded");
    }
    return {};
  }

  std::vector<ScoredBox> decode(std::vector<Ort::Value>& outputs, int image) const {
    const DecodeOptions decode_options{options.confidence, 30000, options.multi_label};
    if (info.format == ModelFormat::boxes_labels_scores) {
      auto& labels_value = outputs[1];
      const auto count = static_cast<int>(outputs[2].GetTensorTypeAndShapeInfo().GetElementCount());
      std::vector<std::int64_t> labels(static_cast<size_t>(count));
      const auto type = labels_value.GetTensorTypeAndShapeInfo().GetElementType();
      for (int i = 0; i < count; ++i) {
        if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64) labels[i] = labels_value.GetTensorData<std::int64_t>()[i];
        else if (type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32) labels[i] = labels_value.GetTensorData<std::int32_t>()[i];
        else labels[i] = static_cast<std::int64_t>(labels_value.GetTensorData<float>()[i]);
      }
      return decode_boxes_labels_scores(outputs[0].GetTensorData<float>(), labels.data(),
                                        outputs[2].GetTensorData<float>(), count, decode_options);
    }
    const auto shape = outputs[0].GetTensorTypeAndShapeInfo().GetShape();
    const int d1 = static_cast<int>(shape[1]);
    const int d2 = static_cast<int>(shape[2]);
    const float* data = outputs[0].GetTensorData<float>() + static_cast<size_t>(image) * static_cast<size_t>(d1) * static_cast<size_t>(d2);
    switch (info.format) {
      case ModelFormat::yolov8: return decode_yolov8(data, d1, d2, decode_options);
      case ModelFormat::yolov8_transposed: return decode_yolov8_transposed(data, d1, d2, decode_options);
      case ModelFormat::yolov5: return decode_yolov5(data, d1, d2, decode_options);
      case ModelFormat::boxes_labels_scores: break;
    }
    return {};
  }

  std::vector<Detection> finish(std::vector<ScoredBox>& boxes, const LetterboxTransform& transform) {
    const NmsOptions nms_options{options.nms_iou_threshold, options.nms_max_detections, true};
    std::vector<Detection> detections;
    for (int index : nms(boxes, nms_options)) {
      const ScoredBox& box = boxes[static_cast<size_t>(index)];
      const int project = project_class(box.class_id);
      if (project < 0) {
        ++dropped;
        continue;
      }
      Detection d;
      d.class_id = project;
      d.class_name = class_names[static_cast<size_t>(project)];
      d.score = std::clamp(box.score, 0.0F, 1.0F);
      d.bbox_xyxy = unletterbox_box(box.xyxy, transform);
      detections.push_back(std::move(d));
    }
    return detections;
  }

  void build_class_map() {
    const auto model_name = [&](int i) {
      return i < static_cast<int>(info.names.size()) ? info.names[static_cast<size_t>(i)]
                                                      : "class" + std::to_string(i);
    };
    if (options.class_names.empty()) {
      for (int i = 0; i < info.num_classes; ++i) {
        class_names.push_back(model_name(i));
        class_remap.push_back(i);
      }
      return;
    }
    class_names = options.class_names;
    if (info.names.empty()) return;  // no names to match: model class i is project class i
    std::vector<std::string> unknown;
    for (int i = 0; i < static_cast<int>(info.names.size()); ++i) {
      const auto it = std::ranges::find(class_names, model_name(i));
      class_remap.push_back(it == class_names.end() ? -1 : static_cast<int>(it - class_names.begin()));
      if (it == class_names.end()) unknown.push_back(model_name(i));
    }
    if (!unknown.empty()) {
      std::string list;
      for (const auto& name : unknown) list += (list.empty() ? "" : ", ") + name;
      log::warn("infer.class_map.unknown", "model classes not in class_map are dropped: " + list,
                {{"model", options.model_path.string()}, {"classes", unknown}});
    }
  }

  // The project class of a model class, or -1 when the project does not have it.
  int project_class(int model_class) {
    if (model_class < 0 || model_class >= k_max_class_count) return -1;
    if (model_class < static_cast<int>(class_remap.size())) return class_remap[static_cast<size_t>(model_class)];
    if (options.class_names.empty()) {
      // A model without class metadata (Faster R-CNN style): name classes as they appear.
      while (static_cast<int>(class_remap.size()) <= model_class) {
        const int i = static_cast<int>(class_remap.size());
        class_names.push_back("class" + std::to_string(i));
        class_remap.push_back(i);
      }
      return model_class;
    }
    if (info.names.empty() && model_class < static_cast<int>(class_names.size())) return model_class;
    return -1;
  }
};

Detector::Detector(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Detector::~Detector() = default;

Expected<std::unique_ptr<Detector>> Detector::open(const DetectorOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.model_path, ec)) {
    return fail(ErrorCode::not_found, "model not found: " + options.model_path.string());
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  try {
    impl->session_options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    if (options.threads > 0) impl->session_options.SetIntraOpNumThreads(options.threads);
    impl->session_options.SetInterOpNumThreads(1);
    const bool want_cuda = options.device.starts_with("cuda");
    if (want_cuda || options.device == "auto") {
      if (cuda_available()) {
        OrtCUDAProviderOptions cuda;
        cuda.device_id = options.device.starts_with("cuda:") ? std::stoi(options.device.substr(5)) : 0;
        impl->session_options.AppendExecutionProvider_CUDA(cuda);
        impl->provider = "CUDA";
      } else if (want_cuda) {
        return fail(ErrorCode::not_in_build, "device \"" + options.device +
                                                 "\": this ONNX Runtime has no CUDA execution provider");
      }
    }
    {
      MutedCerr mute;
      impl->session = std::make_unique<Ort::Session>(ort_env(), options.model_path.c_str(), impl->session_options);
    }
    auto info = describe_model(tensor_specs(*impl->session, true), tensor_specs(*impl->session, false),
                               model_metadata(*impl->session), options.model_path.string());
    if (!info) return std::unexpected(info.error());
    impl->info = std::move(*info);
  } catch (const Ort::Exception& e) {
    return fail(ErrorCode::invalid_data, options.model_path.string() + ": ONNX Runtime cannot load it: " + e.what());
  }
  impl->input_names = {impl->info.input_name.c_str()};
  for (const auto& name : impl->info.output_names) impl->output_names.push_back(name.c_str());
  impl->build_class_map();
  return std::unique_ptr<Detector>(new Detector(std::move(impl)));
}

Expected<std::vector<ImageDetections>> Detector::detect(const std::vector<cv::Mat>& images) {
  Impl& m = *m_impl;
  std::vector<ImageDetections> results;
  results.reserve(images.size());
  const bool dynamic_size = m.info.format == ModelFormat::boxes_labels_scores && m.info.dynamic_size;
  const size_t chunk = m.info.dynamic_batch && !dynamic_size ? static_cast<size_t>(std::max(m.options.max_batch, 1)) : 1;
  try {
    for (size_t start = 0; start < images.size(); start += chunk) {
      const auto started = std::chrono::steady_clock::now();
      const size_t count = std::min(chunk, images.size() - start);
      std::vector<LetterboxTransform> transforms(count);
      int width = m.info.input_width;
      int height = m.info.input_height;
      if (dynamic_size) {
        width = images[start].cols;
        height = images[start].rows;
      }
      const size_t plane = static_cast<size_t>(width) * static_cast<size_t>(height);
      m.blob.resize(count * 3 * plane);
      m.letterboxed.resize(count);
      for (size_t i = 0; i < count; ++i) {
        const cv::Mat& image = images[start + i];
        if (image.empty() || image.type() != CV_8UC3) {
          return fail(ErrorCode::invalid_data, "image " + std::to_string(start + i) + " is empty or not 8-bit BGR");
        }
        if (dynamic_size) {
          transforms[i] = {1.0F, 0, 0, image.cols, image.rows};
          bgr_to_rgb_chw(image, m.blob.data());
        } else {
          transforms[i] = letterbox(image, {width, height, k_letterbox_pad_value, true}, m.letterboxed[i]);
          bgr_to_rgb_chw(m.letterboxed[i], m.blob.data() + i * 3 * plane);
        }
      }
      auto outputs = m.run(m.blob.data(), static_cast<int>(count), height, width);
      if (auto ok = m.check_outputs(outputs, static_cast<int>(count)); !ok) return std::unexpected(ok.error());
      std::vector<ImageDetections> chunk_results(count);
      for (size_t i = 0; i < count; ++i) {
        auto boxes = m.decode(outputs, static_cast<int>(i));
        chunk_results[i].width = images[start + i].cols;
        chunk_results[i].height = images[start + i].rows;
        chunk_results[i].detections = m.finish(boxes, transforms[i]);
      }
      const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      for (auto& r : chunk_results) {
        r.latency_ms = elapsed / static_cast<double>(count);
        results.push_back(std::move(r));
      }
    }
  } catch (const Ort::Exception& e) {
    return fail(ErrorCode::runtime, m.options.model_path.string() + ": inference failed: " + e.what());
  } catch (const cv::Exception& e) {
    return fail(ErrorCode::runtime, std::string("image processing failed: ") + e.what());
  }
  return results;
}

Expected<ImageDetections> Detector::detect(const cv::Mat& image) {
  auto results = detect(std::vector<cv::Mat>{image});
  if (!results) return std::unexpected(results.error());
  return std::move(results->front());
}

const ModelInfo& Detector::model() const { return m_impl->info; }
const std::vector<std::string>& Detector::class_names() const { return m_impl->class_names; }
std::int64_t Detector::dropped_unknown_class() const { return m_impl->dropped; }
const std::string& Detector::provider() const { return m_impl->provider; }

Expected<void> Detector::run_raw(const float* nchw, int batch) {
  try {
    m_impl->run(nchw, batch, m_impl->info.input_height, m_impl->info.input_width);
  } catch (const Ort::Exception& e) {
    return fail(ErrorCode::runtime, std::string("inference failed: ") + e.what());
  }
  return {};
}

Expected<Detector::RawOutput> Detector::run_raw_output(const float* nchw, int batch) {
  try {
    auto outputs = m_impl->run(nchw, batch, m_impl->info.input_height, m_impl->info.input_width);
    const auto info = outputs[0].GetTensorTypeAndShapeInfo();
    const float* data = outputs[0].GetTensorData<float>();
    return RawOutput{info.GetShape(), std::vector<float>(data, data + info.GetElementCount())};
  } catch (const Ort::Exception& e) {
    return fail(ErrorCode::runtime, std::string("inference failed: ") + e.what());
  }
}

}  // namespace vision
