// The LibTorch side of a Faster R-CNN export: opens a weight file as the model it was saved
// from, writes its graph and runs its eval forward for the parity check, keeping LibTorch's
// exceptions inside.
#include <torch/torch.h>

#include "checkpoint_model.hpp"
#include "faster_rcnn_onnx.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"
#include "vision/train/faster_rcnn/weights.hpp"

namespace vision::onnx_export {

namespace frcnn = train::faster_rcnn;

struct FasterRcnnCheckpoint::Impl {
  std::filesystem::path file;
  CheckpointSummary summary;
  frcnn::FasterRcnn model{nullptr};
};

Expected<FasterRcnnCheckpoint> FasterRcnnCheckpoint::open(const std::filesystem::path& weights) {
  auto meta = frcnn::read_weights_meta(weights);
  if (!meta) return std::unexpected(meta.error());
  auto spec = frcnn::variant_spec(meta->variant);
  if (!spec) return fail(ErrorCode::invalid_data, weights.string() + ": " + spec.error().message);
  try {
    auto impl = std::make_unique<Impl>();
    impl->file = weights;
    impl->summary.names = meta->names;
    impl->summary.img_size = static_cast<int>(meta->img_size);
    impl->summary.variant = spec->name;
    impl->model = frcnn::FasterRcnn(*spec, static_cast<int64_t>(meta->names.size()),
                                    frcnn::transform_options_for_img_size(meta->img_size));
    if (auto loaded = frcnn::load_weights(weights, *impl->model); !loaded)
      return std::unexpected(loaded.error());
    impl->model->to(torch::kCPU);
    impl->model->eval();
    return FasterRcnnCheckpoint(std::move(impl));
  } catch (const c10::Error& e) {
    return fail(ErrorCode::runtime, "opening " + weights.string() +
                                        " failed in LibTorch: " + e.what_without_backtrace());
  }
}

FasterRcnnCheckpoint::FasterRcnnCheckpoint(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
FasterRcnnCheckpoint::FasterRcnnCheckpoint(FasterRcnnCheckpoint&&) noexcept = default;
FasterRcnnCheckpoint& FasterRcnnCheckpoint::operator=(FasterRcnnCheckpoint&&) noexcept = default;
FasterRcnnCheckpoint::~FasterRcnnCheckpoint() = default;

const CheckpointSummary& FasterRcnnCheckpoint::summary() const {
  return m_impl->summary;
}

Expected<void> FasterRcnnCheckpoint::write_onnx(const OnnxExportOptions& options) {
  try {
    return write_faster_rcnn_onnx(*m_impl->model, options);
  } catch (const c10::Error& e) {
    return fail(ErrorCode::runtime, "writing " + options.output.string() +
                                        " failed in LibTorch: " + e.what_without_backtrace());
  }
}

Expected<DetectionList> FasterRcnnCheckpoint::infer(const float* chw, int height, int width) {
  try {
    torch::NoGradGuard no_grad;
    const auto image = torch::from_blob(const_cast<float*>(chw), {3, height, width}, torch::kFloat);
    const auto result = m_impl->model->forward({image}).results.at(0);
    const auto boxes = result.boxes.contiguous();
    const auto labels = (result.classes + 1).contiguous();
    const auto scores = result.scores.contiguous();
    return DetectionList{{boxes.data_ptr<float>(), boxes.data_ptr<float>() + boxes.numel()},
                         {labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel()},
                         {scores.data_ptr<float>(), scores.data_ptr<float>() + scores.numel()}};
  } catch (const c10::Error& e) {
    return fail(ErrorCode::runtime, "running " + m_impl->file.string() +
                                        " failed in LibTorch: " + e.what_without_backtrace());
  }
}

}  // namespace vision::onnx_export
