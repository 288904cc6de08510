// Faster R-CNN validation: samples → images → the model in eval mode → YOLO's evaluator.
#include "faster_rcnn_validation.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>

#include <opencv2/core.hpp>

#include "compute_threads.hpp"
#include "training_run.hpp"
#include "vision/image/image_files.hpp"
#include "vision/train/faster_rcnn/weights.hpp"

namespace vision::train {

Expected<torch::Tensor> sample_image(const DetectionSample& sample) {
  auto image = read_image(sample.image);
  if (!image) return std::unexpected(image.error());
  cv::Mat bgr = image->isContinuous() ? *image : image->clone();
  // HWC BGR bytes → CHW RGB floats; clone() before the Mat goes away.
  return torch::from_blob(bgr.data, {bgr.rows, bgr.cols, 3}, torch::kUInt8)
      .permute({2, 0, 1})
      .flip({0})
      .to(torch::kFloat32)
      .div(255.0)
      .contiguous()
      .clone();
}

Expected<DetectionMetrics> evaluate_faster_rcnn(faster_rcnn::FasterRcnnImpl& model, const std::vector<DetectionSample>& val,
                                                const std::vector<std::string>& names, int batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  auto& heads = model.roi_heads->options;
  const auto kept = heads;
  heads.score_thresh = k_faster_rcnn_val_score_threshold;
  heads.detections_per_img = k_faster_rcnn_val_detections;
  model.eval();
  const auto restore = [&] {
    heads = kept;
    if (was_training) model.train();
  };
  const auto device = model.parameters().front().device();
  DetectionEvaluator evaluator(names);
  for (size_t start = 0; start < val.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(val.size(), start + static_cast<size_t>(batch_size));
    std::vector<torch::Tensor> images;
    for (size_t i = start; i < end; ++i) {
      auto image = sample_image(val[i]);
      if (!image) {
        restore();
        return std::unexpected(image.error());
      }
      images.push_back(image->to(device));
    }
    const auto output = model.forward(images);
    for (size_t i = start; i < end; ++i) {
      const auto& result = output.results[i - start];
      const auto boxes_cpu = result.boxes.to(torch::kCPU, torch::kFloat32).contiguous();
      const auto classes_cpu = result.classes.to(torch::kCPU, torch::kInt64).contiguous();
      const auto scores_cpu = result.scores.to(torch::kCPU, torch::kFloat32).contiguous();
      const auto boxes = boxes_cpu.accessor<float, 2>();
      const auto classes = classes_cpu.accessor<int64_t, 1>();
      const auto scores = scores_cpu.accessor<float, 1>();
      std::vector<Detection> detections;
      for (int64_t k = 0; k < boxes.size(0); ++k) {
        Detection d;
        d.class_id = static_cast<int>(classes[k]);
        d.class_name = names[static_cast<size_t>(d.class_id)];
        d.score = scores[k];
        for (int c = 0; c < 4; ++c) d.bbox_xyxy[static_cast<size_t>(c)] = boxes[k][c];
        detections.push_back(std::move(d));
      }
      std::vector<GroundTruthBox> truth;
      for (size_t b = 0; b < val[i].boxes.size(); ++b) truth.push_back({val[i].class_ids[b], val[i].boxes[b]});
      evaluator.add(truth, detections);
    }
  }
  restore();
  return evaluator.compute();
}

Expected<DetectionMetrics> validate_faster_rcnn_checkpoint(const CheckpointValOptions& options) {
  auto device = resolve_device(options.device);
  if (!device) return std::unexpected(device.error());
  if (options.threads > 0) train::set_compute_threads(options.threads);
  auto meta = faster_rcnn::read_weights_meta(options.checkpoint);
  if (!meta) return std::unexpected(meta.error());
  auto names = options.dataset.class_names.empty() ? meta->names : options.dataset.class_names;
  if (names != meta->names) {
    return fail(ErrorCode::config, options.checkpoint.string() + " was trained on other classes than class_map.names");
  }
  DetectionSamplesOptions samples_options;
  samples_options.dir = options.dataset.dir;
  samples_options.class_names = names;
  samples_options.strictness = options.dataset.strictness;
  samples_options.val_fraction = options.val_fraction;
  auto samples = load_detection_samples(samples_options);
  if (!samples) return std::unexpected(samples.error());
  auto spec = faster_rcnn::variant_spec(meta->variant);
  if (!spec) return std::unexpected(spec.error());
  const int64_t img_size = options.img_size > 0 ? options.img_size : meta->img_size;
  faster_rcnn::FasterRcnn model(*spec, static_cast<int64_t>(names.size()), faster_rcnn::transform_options_for_img_size(img_size));
  if (auto loaded = faster_rcnn::load_weights(options.checkpoint, *model); !loaded) return std::unexpected(loaded.error());
  model->to(*device);
  return evaluate_faster_rcnn(*model, samples->val, names, options.batch_size);
}

}  // namespace vision::train
