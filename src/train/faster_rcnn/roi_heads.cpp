// The RoI heads: box heads, predictor, training samples, losses and post-processing, following
// torchvision 0.21's models/detection/roi_heads.py and faster_rcnn.py.
#include "vision/train/faster_rcnn/roi_heads.hpp"

#include <torch/torch.h>

#include <string>

#include "faster_rcnn/stages.hpp"

namespace vision::train::faster_rcnn {

namespace {

// fasterrcnn_resnet50_fpn_v2's box head: four 256-channel convs before the fc layer.
const std::vector<int64_t> k_conv_fc_channels = {256, 256, 256, 256};
constexpr double k_smooth_l1_beta = 1.0 / 9;

}  // namespace

TwoMlpHeadImpl::TwoMlpHeadImpl(int64_t in_features, int64_t representation_size) {
  fc6 = register_module("fc6", torch::nn::Linear(in_features, representation_size));
  fc7 = register_module("fc7", torch::nn::Linear(representation_size, representation_size));
}

torch::Tensor TwoMlpHeadImpl::forward(const torch::Tensor& x) {
  return torch::relu(fc7(torch::relu(fc6(x.flatten(1)))));
}

FastRcnnConvFcHeadImpl::FastRcnnConvFcHeadImpl(int64_t in_channels, int64_t resolution,
                                               const std::vector<int64_t>& conv_channels,
                                               int64_t fc_size) {
  int64_t previous = in_channels;
  for (size_t i = 0; i < conv_channels.size(); ++i) {
    // Conv2dNormActivation with BatchNorm2d: 3×3, padding 1, no bias; Kaiming-normal
    // (fan_out, ReLU) weights as FastRCNNConvFCHead initialises them.
    torch::nn::Conv2d conv(
        torch::nn::Conv2dOptions(previous, conv_channels[i], 3).padding(1).bias(false));
    torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    convs.push_back(register_module(
        std::to_string(i),
        torch::nn::Sequential(conv, torch::nn::BatchNorm2d(conv_channels[i]), torch::nn::ReLU())));
    previous = conv_channels[i];
  }
  fc = register_module(std::to_string(conv_channels.size() + 1),
                       torch::nn::Linear(previous * resolution * resolution, fc_size));
}

torch::Tensor FastRcnnConvFcHeadImpl::forward(const torch::Tensor& x) {
  auto y = x;
  for (auto& block : convs) y = block->forward(y);
  return torch::relu(fc(y.flatten(1)));
}

FastRcnnPredictorImpl::FastRcnnPredictorImpl(int64_t in_features, int64_t num_classes) {
  cls_score = register_module("cls_score", torch::nn::Linear(in_features, num_classes));
  bbox_pred = register_module("bbox_pred", torch::nn::Linear(in_features, num_classes * 4));
}

std::pair<torch::Tensor, torch::Tensor> FastRcnnPredictorImpl::forward(const torch::Tensor& x) {
  const auto flat = x.flatten(1);
  return {cls_score(flat), bbox_pred(flat)};
}

TrainingSamples select_training_samples(const std::vector<torch::Tensor>& proposals,
                                        const std::vector<ImageTargets>& targets,
                                        const Matcher& matcher, const BoxCoder& coder,
                                        int64_t batch_size_per_image, double positive_fraction) {
  TrainingSamples out;
  for (size_t image = 0; image < proposals.size(); ++image) {
    const auto gt = targets[image].boxes.to(proposals[image].scalar_type());
    // The gt boxes join the proposals, so every object has at least one positive.
    auto candidates = torch::cat({proposals[image], gt});
    const auto long_options =
        torch::TensorOptions().dtype(torch::kLong).device(candidates.device());
    torch::Tensor matched, labels;
    if (gt.numel() == 0) {
      matched = torch::zeros({candidates.size(0)}, long_options);
      labels = torch::zeros({candidates.size(0)}, long_options);
    } else {
      const auto matches = matcher(box_iou(gt, candidates));
      matched = matches.clamp_min(0);
      labels = targets[image].labels.index_select(0, matched).to(torch::kLong);
      labels.masked_fill_(matches == Matcher::k_below_low_threshold, 0);
      labels.masked_fill_(matches == Matcher::k_between_thresholds, -1);
    }
    const auto [positive, negative] =
        sample_balanced(labels, batch_size_per_image, positive_fraction);
    const auto sampled = torch::where(positive | negative)[0];
    candidates = candidates.index_select(0, sampled);
    // An image without objects encodes its (all background, unused) targets against a zero box.
    const auto gt_or_zero = gt.numel() == 0 ? torch::zeros({1, 4}, candidates.options()) : gt;
    out.regression_targets.push_back(
        coder.encode(gt_or_zero.index_select(0, matched.index_select(0, sampled)), candidates));
    out.labels.push_back(labels.index_select(0, sampled));
    out.proposals.push_back(candidates);
  }
  return out;
}

RoiHeadsLosses fastrcnn_loss(const torch::Tensor& class_logits, const torch::Tensor& box_regression,
                             const std::vector<torch::Tensor>& labels,
                             const std::vector<torch::Tensor>& regression_targets) {
  const auto all_labels = torch::cat(labels);
  const auto all_targets = torch::cat(regression_targets);
  const auto positive = torch::where(all_labels > 0)[0];
  const auto per_class = box_regression.reshape({class_logits.size(0), class_logits.size(1), 4});
  RoiHeadsLosses losses;
  losses.classifier = torch::cross_entropy_loss(class_logits, all_labels);
  losses.box_reg =
      torch::smooth_l1_loss(per_class.index({positive, all_labels.index_select(0, positive)}),
                            all_targets.index_select(0, positive), at::Reduction::Sum,
                            k_smooth_l1_beta) /
      static_cast<double>(all_labels.numel());
  return losses;
}

std::vector<ImageDetections> postprocess_detections(const torch::Tensor& class_logits,
                                                    const torch::Tensor& box_regression,
                                                    const std::vector<torch::Tensor>& proposals,
                                                    const ImageSizes& image_sizes,
                                                    const BoxCoder& coder,
                                                    const DetectionFilter& filter) {
  const int64_t num_classes = class_logits.size(-1);
  std::vector<int64_t> per_image;
  for (const auto& p : proposals) per_image.push_back(p.size(0));
  const auto all_boxes =
      coder.decode(box_regression, torch::cat(proposals)).split_with_sizes(per_image);
  const auto all_scores = torch::softmax(class_logits, -1).split_with_sizes(per_image);
  std::vector<ImageDetections> out;
  for (size_t image = 0; image < proposals.size(); ++image) {
    const auto& scores_in = all_scores[image];
    const auto class_ids =
        torch::arange(num_classes,
                      torch::TensorOptions().dtype(torch::kLong).device(scores_in.device()))
            .view({1, -1})
            .expand_as(scores_in);
    // Every (proposal, object class) pair is one candidate; the background column goes.
    auto boxes =
        clip_boxes_to_image(all_boxes[image], image_sizes[image]).slice(1, 1).reshape({-1, 4});
    auto scores = scores_in.slice(1, 1).reshape(-1);
    auto labels = class_ids.slice(1, 1).reshape(-1);
    auto keep = torch::where(scores > filter.score_thresh)[0];
    keep = keep.index_select(0, remove_small_boxes(boxes.index_select(0, keep), filter.min_size));
    boxes = boxes.index_select(0, keep);
    scores = scores.index_select(0, keep);
    labels = labels.index_select(0, keep);
    keep = batched_nms(boxes, scores, labels, filter.nms_thresh)
               .slice(0, 0, filter.detections_per_img);
    out.push_back(
        {boxes.index_select(0, keep), labels.index_select(0, keep), scores.index_select(0, keep)});
  }
  return out;
}

RoiHeadsImpl::RoiHeadsImpl(const RoiHeadsOptions& heads_options) : options(heads_options) {
  box_roi_pool = register_module(
      "box_roi_pool",
      MultiScaleRoiAlign(options.featmap_names, options.pool_size, options.sampling_ratio));
  if (options.box_head == BoxHeadKind::two_mlp) {
    two_mlp_head = register_module(
        "box_head", TwoMlpHead(options.in_channels * options.pool_size * options.pool_size,
                               options.representation_size));
  } else {
    conv_fc_head = register_module(
        "box_head", FastRcnnConvFcHead(options.in_channels, options.pool_size, k_conv_fc_channels,
                                       options.representation_size));
  }
  box_predictor = register_module(
      "box_predictor", FastRcnnPredictor(options.representation_size, options.num_classes));
}

torch::Tensor RoiHeadsImpl::box_features(const FeatureMaps& features,
                                         const std::vector<torch::Tensor>& boxes,
                                         const std::vector<std::array<int64_t, 2>>& image_sizes) {
  const auto pooled = box_roi_pool(features, boxes, image_sizes);
  return two_mlp_head ? two_mlp_head(pooled) : conv_fc_head(pooled);
}

RoiHeadsOutput RoiHeadsImpl::forward(const FeatureMaps& features,
                                     const std::vector<torch::Tensor>& proposals,
                                     const std::vector<std::array<int64_t, 2>>& image_sizes,
                                     const std::vector<ImageTargets>& targets) {
  const BoxCoder coder(options.bbox_reg_weights);
  RoiHeadsOutput out;
  if (!is_training()) {
    const auto [class_logits, box_regression] =
        box_predictor(box_features(features, proposals, image_sizes));
    out.detections = postprocess_detections(
        class_logits, box_regression, proposals, image_sizes, coder,
        DetectionFilter{options.score_thresh, options.nms_thresh, options.detections_per_img});
    return out;
  }
  TORCH_CHECK(targets.size() == proposals.size(), "RoiHeads: training needs ", proposals.size(),
              " targets, got ", targets.size());
  for (const auto& target : targets) {
    TORCH_CHECK(target.boxes.is_floating_point(), "RoiHeads: target boxes must be floating point");
    TORCH_CHECK(target.labels.scalar_type() == torch::kLong,
                "RoiHeads: target labels must be int64");
  }
  const Matcher matcher(options.fg_iou_thresh, options.bg_iou_thresh,
                        /*allow_low_quality_matches=*/false);
  const auto samples = select_training_samples(
      proposals, targets, matcher, coder, options.batch_size_per_image, options.positive_fraction);
  const auto [class_logits, box_regression] =
      box_predictor(box_features(features, samples.proposals, image_sizes));
  out.losses =
      fastrcnn_loss(class_logits, box_regression, samples.labels, samples.regression_targets);
  return out;
}

}  // namespace vision::train::faster_rcnn
