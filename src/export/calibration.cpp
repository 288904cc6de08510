#include "calibration.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <unordered_set>

#include <onnxruntime_cxx_api.h>

#include "vision/image/image_files.hpp"
#include "vision/image/letterbox.hpp"
#include "vision/infer/ort_env.hpp"

namespace vision::quantize {

namespace {

// Bins per tensor histogram: with the 99.999th percentile over a few million values the clip
// points fall within 1/2048 of the min-max span of the exact order statistics.
constexpr int k_histogram_bins = 2048;

struct ImageInput {
  std::string name;
  std::int64_t batch = 1;  // a fixed batch gets the same image in every slot
  int height = 0;
  int width = 0;
};

ImageInput image_input(const onnx::GraphProto& graph) {
  std::unordered_set<std::string> initializers;
  for (const auto& tensor : graph.initializer()) initializers.insert(tensor.name());
  for (const auto& input : graph.input()) {
    if (initializers.contains(input.name())) continue;
    const auto& shape = input.type().tensor_type().shape();
    if (shape.dim_size() != 4 || !shape.dim(2).has_dim_value() || !shape.dim(3).has_dim_value() ||
        (shape.dim(1).has_dim_value() && shape.dim(1).dim_value() != 3)) {
      throw VisionError(ErrorCode::invalid_data,
                        "input '" + input.name() +
                            "' is not an image batch [N, 3, H, W] with a fixed H and W; "
                            "calibration cannot feed it");
    }
    const std::int64_t batch =
        shape.dim(0).has_dim_value() ? std::max<std::int64_t>(shape.dim(0).dim_value(), 1) : 1;
    return {input.name(), batch, static_cast<int>(shape.dim(2).dim_value()),
            static_cast<int>(shape.dim(3).dim_value())};
  }
  throw VisionError(ErrorCode::invalid_data,
                    "the model has no input to feed calibration images to");
}

// The model with every tensor of `tensors` also a graph output, serialised.
std::string augmented_model(const onnx::ModelProto& model,
                            const std::vector<std::string>& tensors) {
  onnx::ModelProto copy = model;
  auto* graph = copy.mutable_graph();
  std::unordered_set<std::string> outputs;
  for (const auto& output : graph->output()) outputs.insert(output.name());
  for (const auto& tensor : tensors) {
    if (outputs.contains(tensor)) continue;
    auto* output = graph->add_output();
    output->set_name(tensor);
    output->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  return copy.SerializeAsString();
}

struct Histogram {
  std::vector<double> counts = std::vector<double>(k_histogram_bins, 0.0);
  double total = 0;
};

// The lower and upper clip points that leave (100 - percentile) / 2 percent of the values in
// each tail.
TensorRange clip_range(const Histogram& histogram, const TensorRange& extremes, double percentile) {
  const double tail = histogram.total * (100.0 - percentile) / 200.0;
  const double width = (static_cast<double>(extremes.max) - extremes.min) / k_histogram_bins;
  TensorRange range = extremes;
  double seen = 0;
  for (int i = 0; i < k_histogram_bins; ++i) {
    seen += histogram.counts[static_cast<size_t>(i)];
    if (seen > tail) {
      range.min = static_cast<float>(extremes.min + width * i);
      break;
    }
  }
  seen = 0;
  for (int i = k_histogram_bins - 1; i >= 0; --i) {
    seen += histogram.counts[static_cast<size_t>(i)];
    if (seen > tail) {
      range.max = static_cast<float>(extremes.min + width * (i + 1));
      break;
    }
  }
  return range;
}

}  // namespace

std::unordered_map<std::string, TensorRange> calibrate(const onnx::ModelProto& model,
                                                       const std::vector<std::string>& tensors,
                                                       const CalibrationSettings& settings) {
  const ImageInput input = image_input(model.graph());
  const std::string serialized = augmented_model(model, tensors);
  Ort::SessionOptions options;
  if (settings.threads > 0) options.SetIntraOpNumThreads(settings.threads);
  // No graph rewrites: the tensors read back must be the graph's own, not fused replacements.
  options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_DISABLE_ALL);
  // The shared environment logs warnings; calibration's own were never shown.
  options.SetLogSeverityLevel(ORT_LOGGING_LEVEL_ERROR);
  Ort::Session session = [&] {
    MutedCerr mute;
    return Ort::Session(ort_env(), serialized.data(), serialized.size(), options);
  }();

  std::vector<const char*> output_names;
  output_names.reserve(tensors.size());
  for (const auto& tensor : tensors) output_names.push_back(tensor.c_str());
  const char* input_names[] = {input.name.c_str()};
  const std::array<std::int64_t, 4> dims = {input.batch, 3, input.height, input.width};
  const size_t plane =
      static_cast<size_t>(3) * static_cast<size_t>(input.height) * static_cast<size_t>(input.width);
  std::vector<float> pixels(plane * static_cast<size_t>(input.batch));
  const auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  cv::Mat boxed;

  // One pass over the images; `visit(i, values, count)` sees tensor i of every image.
  const auto pass = [&](const std::function<void(size_t, const float*, size_t)>& visit) {
    for (const auto& file : settings.images) {
      const cv::Mat image = value_or_throw(read_image(file));
      letterbox(image, LetterboxOptions{.target_width = input.width, .target_height = input.height},
                boxed);
      bgr_to_rgb_chw(boxed, pixels.data());
      for (std::int64_t slot = 1; slot < input.batch; ++slot) {
        std::copy_n(
            pixels.begin(), plane,
            pixels.begin() + static_cast<std::ptrdiff_t>(plane * static_cast<size_t>(slot)));
      }
      Ort::Value tensor = Ort::Value::CreateTensor<float>(memory, pixels.data(), pixels.size(),
                                                          dims.data(), dims.size());
      const auto outputs = session.Run(Ort::RunOptions{nullptr}, input_names, &tensor, 1,
                                       output_names.data(), output_names.size());
      for (size_t i = 0; i < outputs.size(); ++i) {
        const auto info = outputs[i].GetTensorTypeAndShapeInfo();
        visit(i, outputs[i].GetTensorData<float>(), info.GetElementCount());
      }
    }
  };

  std::vector<TensorRange> extremes(
      tensors.size(), {std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()});
  pass([&](size_t i, const float* values, size_t count) {
    if (count == 0) return;
    const auto [lo, hi] = std::minmax_element(values, values + count);
    extremes[i].min = std::min(extremes[i].min, *lo);
    extremes[i].max = std::max(extremes[i].max, *hi);
  });
  std::vector<TensorRange> ranges = extremes;
  if (settings.method == CalibrationMethod::percentile) {
    std::vector<Histogram> histograms(tensors.size());
    pass([&](size_t i, const float* values, size_t count) {
      const double lo = extremes[i].min;
      const double span = static_cast<double>(extremes[i].max) - lo;
      if (!(span > 0)) return;
      auto& histogram = histograms[i];
      const double per_bin = k_histogram_bins / span;
      for (size_t v = 0; v < count; ++v) {
        const auto bin = static_cast<int>((values[v] - lo) * per_bin);
        histogram.counts[static_cast<size_t>(std::clamp(bin, 0, k_histogram_bins - 1))] += 1;
      }
      histogram.total += static_cast<double>(count);
    });
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (histograms[i].total > 0)
        ranges[i] = clip_range(histograms[i], extremes[i], settings.percentile);
    }
  }

  std::unordered_map<std::string, TensorRange> result;
  for (size_t i = 0; i < tensors.size(); ++i) {
    // Tensors that never held a value (empty) get the degenerate range {0, 0}.
    const bool seen = ranges[i].min <= ranges[i].max;
    result[tensors[i]] = {seen ? std::min(ranges[i].min, 0.0F) : 0.0F,
                          seen ? std::max(ranges[i].max, 0.0F) : 0.0F};
  }
  return result;
}

}  // namespace vision::quantize
