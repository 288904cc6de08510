// Validation of a LibTorch model: letterbox, forward, decode, NMS, metrics.
#include "validation.hpp"

#include <torch/torch.h>

#include "vision/eval/validate.hpp"
#include "vision/image/image_files.hpp"
#include "vision/image/nms.hpp"
#include "vision/infer/decode.hpp"

namespace vision::train {

Expected<ValidationSet> ValidationSet::load(const std::vector<DatasetItem>& items, int img_size,
                                            std::uint64_t cache_bytes) {
  ValidationSet set;
  set.m_img_size = img_size;
  const auto image_bytes = 3ULL * static_cast<std::uint64_t>(img_size) * static_cast<std::uint64_t>(img_size);
  const bool cache = image_bytes * items.size() <= cache_bytes;
  set.m_letterbox = {img_size, img_size, k_letterbox_pad_value, true};
  for (const auto& item : items) {
    auto image = read_image(item.image);
    if (!image) return std::unexpected(image.error());
    if (cache) {
      cv::Mat boxed;
      set.m_transforms.push_back(letterbox(*image, set.m_letterbox, boxed));
      set.m_images.push_back(std::move(boxed));
    } else {
      set.m_transforms.push_back(letterbox_transform(image->cols, image->rows, set.m_letterbox));
    }
    set.m_paths.push_back(item.image);
    set.m_truth.push_back(ground_truth_pixels(item, image->cols, image->rows));
  }
  return set;
}

Expected<cv::Mat> ValidationSet::letterboxed(std::size_t index) const {
  if (!m_images.empty()) return m_images[index];
  auto image = read_image(m_paths[index]);
  if (!image) return std::unexpected(image.error());
  const auto& loaded = m_transforms[index];
  if (image->cols != loaded.source_width || image->rows != loaded.source_height) {
    return fail(ErrorCode::invalid_data, m_paths[index].string() + ": the image changed size during training");
  }
  cv::Mat boxed;
  letterbox(*image, m_letterbox, boxed);
  return boxed;
}

Expected<DetectionMetrics> ValidationSet::evaluate(YoloDetectorImpl& model, const std::vector<std::string>& names,
                                                   int batch_size,
                                                   const std::function<void(std::int64_t, std::int64_t)>& progress) const {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const auto defaults = default_validate_options().detector;
  const DecodeOptions decode_options{defaults.confidence, 30000, defaults.multi_label};
  const NmsOptions nms_options{defaults.nms_iou_threshold, defaults.nms_max_detections, true};
  const auto device = model.parameters().front().device();
  const auto plane = static_cast<std::int64_t>(m_img_size) * m_img_size;
  const auto total = static_cast<std::int64_t>(m_paths.size());

  DetectionEvaluator evaluator(names);
  for (std::int64_t start = 0; start < total; start += batch_size) {
    const auto count = std::min<std::int64_t>(batch_size, total - start);
    auto input = torch::empty({count, 3, m_img_size, m_img_size});
    for (std::int64_t i = 0; i < count; ++i) {
      auto image = letterboxed(static_cast<size_t>(start + i));
      if (!image) {
        if (was_training) model.train();
        return std::unexpected(image.error());
      }
      bgr_to_rgb_chw(*image, input.data_ptr<float>() + i * 3 * plane);
    }
    const auto output = model.head->decode(model.forward(input.to(device))).to(torch::kCPU).contiguous();
    const auto channels = static_cast<int>(output.size(1));
    const auto anchors = static_cast<int>(output.size(2));
    for (std::int64_t i = 0; i < count; ++i) {
      const auto index = static_cast<size_t>(start + i);
      auto boxes = decode_yolov8(output[i].data_ptr<float>(), channels, anchors, decode_options);
      std::vector<Detection> detections;
      for (int k : nms(boxes, nms_options)) {
        const auto& box = boxes[static_cast<size_t>(k)];
        Detection d;
        d.class_id = box.class_id;
        d.class_name = names[static_cast<size_t>(box.class_id)];
        d.score = box.score;
        d.bbox_xyxy = unletterbox_box(box.xyxy, m_transforms[index]);
        detections.push_back(std::move(d));
      }
      evaluator.add(m_truth[index], detections);
    }
    if (progress) progress(start + count, total);
  }
  if (was_training) model.train();
  return evaluator.compute();
}

}  // namespace vision::train
