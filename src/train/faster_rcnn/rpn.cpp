// The region proposal network: anchors, head, proposal filtering and losses, following
// torchvision 0.21's models/detection/anchor_utils.py and rpn.py.
#include "vision/train/faster_rcnn/rpn.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "faster_rcnn/stages.hpp"

namespace vision::train::faster_rcnn {

namespace {

// RegionProposalNetwork's fixed choices: unit weights for the deltas, smooth-L1 β.
constexpr std::array<double, 4> k_rpn_box_weights = {1.0, 1.0, 1.0, 1.0};
constexpr double k_smooth_l1_beta = 1.0 / 9;

}  // namespace

AnchorGenerator::AnchorGenerator(const AnchorOptions& options) {
  TORCH_CHECK(options.sizes.size() == options.aspect_ratios.size(),
              "AnchorGenerator: one list of sizes and one of aspect ratios per feature map");
  // generate_anchors: float32, w = size / √ratio, h = size · √ratio, ratio-major, rounded
  // (half to even, as torch.round).
  for (size_t map = 0; map < options.sizes.size(); ++map) {
    const auto sizes = torch::tensor(options.sizes[map], torch::kFloat);
    const auto h_ratios = torch::sqrt(torch::tensor(options.aspect_ratios[map], torch::kFloat));
    const auto ws = ((1 / h_ratios).unsqueeze(1) * sizes.unsqueeze(0)).reshape(-1);
    const auto hs = (h_ratios.unsqueeze(1) * sizes.unsqueeze(0)).reshape(-1);
    m_cell_anchors.push_back((torch::stack({-ws, -hs, ws, hs}, 1) / 2).round());
  }
}

std::vector<int64_t> AnchorGenerator::num_anchors_per_location() const {
  std::vector<int64_t> counts;
  for (const auto& cell : m_cell_anchors) counts.push_back(cell.size(0));
  return counts;
}

torch::Tensor AnchorGenerator::operator()(const ImageBatch& images,
                                          const FeatureMaps& features) const {
  TORCH_CHECK(features.maps.size() == m_cell_anchors.size(),
              "AnchorGenerator: ", m_cell_anchors.size(), " anchor sets for ", features.maps.size(),
              " feature maps");
  const int64_t image_h = images.tensors.size(-2), image_w = images.tensors.size(-1);
  std::vector<torch::Tensor> per_map;
  for (size_t map = 0; map < m_cell_anchors.size(); ++map) {
    const auto& feature = features.maps[map];
    const int64_t grid_h = feature.size(-2), grid_w = feature.size(-1);
    const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(feature.device());
    const auto shift_x = torch::arange(grid_w, long_options) * (image_w / grid_w);
    const auto shift_y = torch::arange(grid_h, long_options) * (image_h / grid_h);
    const auto grid = torch::meshgrid({shift_y, shift_x}, "ij");
    const auto sx = grid[1].reshape(-1), sy = grid[0].reshape(-1);
    const auto shifts = torch::stack({sx, sy, sx, sy}, 1).to(feature.scalar_type());
    const auto cell = m_cell_anchors[map].to(feature.options());
    per_map.push_back((shifts.view({-1, 1, 4}) + cell.view({1, -1, 4})).reshape({-1, 4}));
  }
  return torch::cat(per_map);
}

RpnHeadImpl::RpnHeadImpl(int64_t in_channels, int64_t num_anchors, int64_t conv_depth) {
  conv = register_module("conv", torch::nn::ModuleList());
  for (int64_t i = 0; i < conv_depth; ++i) {
    // torchvision's Conv2dNormActivation without a norm: 3×3, padding 1, bias, ReLU.
    conv->push_back(torch::nn::Sequential(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, in_channels, 3).padding(1)),
        torch::nn::ReLU()));
  }
  cls_logits = register_module(
      "cls_logits", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, num_anchors, 1)));
  bbox_pred = register_module(
      "bbox_pred", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, num_anchors * 4, 1)));
  // RPNHead's init: every conv weight ~ N(0, 0.01²), every bias 0.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* layer = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::normal_(layer->weight, 0.0, 0.01);
      torch::nn::init::zeros_(layer->bias);
    }
  }
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> RpnHeadImpl::forward(
    const std::vector<torch::Tensor>& features) {
  std::vector<torch::Tensor> logits, deltas;
  for (const auto& feature : features) {
    auto t = feature;
    for (const auto& block : *conv) t = block->as<torch::nn::Sequential>()->forward(t);
    logits.push_back(cls_logits(t));
    deltas.push_back(bbox_pred(t));
  }
  return {logits, deltas};
}

std::pair<torch::Tensor, torch::Tensor> flatten_rpn_outputs(
    const std::vector<torch::Tensor>& objectness, const std::vector<torch::Tensor>& deltas) {
  std::vector<torch::Tensor> flat_objectness, flat_deltas;
  for (size_t map = 0; map < objectness.size(); ++map) {
    const int64_t n = objectness[map].size(0), a = objectness[map].size(1);
    const int64_t h = objectness[map].size(2), w = objectness[map].size(3);
    // [N, A, H, W] → [N, H, W, A]: location-major, then anchor, as the anchors are laid out.
    flat_objectness.push_back(objectness[map].permute({0, 2, 3, 1}).reshape({n, -1}));
    flat_deltas.push_back(
        deltas[map].view({n, a, 4, h, w}).permute({0, 3, 4, 1, 2}).reshape({n, -1, 4}));
  }
  return {torch::cat(flat_objectness, 1), torch::cat(flat_deltas, 1)};
}

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> filter_proposals(
    const torch::Tensor& proposals, const torch::Tensor& objectness, const ImageSizes& image_sizes,
    const std::vector<int64_t>& anchors_per_map, const ProposalFilter& filter) {
  const auto logits = objectness.detach();
  // The best pre_nms_top_n anchors of each map, as indices into the concatenation.
  std::vector<torch::Tensor> top, levels;
  int64_t offset = 0;
  for (size_t map = 0; map < anchors_per_map.size(); ++map) {
    const int64_t count = anchors_per_map[map];
    const auto in_map = logits.slice(1, offset, offset + count);
    top.push_back(std::get<1>(in_map.topk(std::min(filter.pre_nms_top_n, count), 1)) + offset);
    levels.push_back(
        torch::full({top.back().size(1)}, static_cast<int64_t>(map), top.back().options()));
    offset += count;
  }
  const auto top_index = torch::cat(top, 1);
  const auto level = torch::cat(levels);
  std::vector<torch::Tensor> boxes_out, scores_out;
  for (int64_t image = 0; image < proposals.size(0); ++image) {
    auto boxes =
        clip_boxes_to_image(proposals[image].index_select(0, top_index[image]), image_sizes[image]);
    auto scores = torch::sigmoid(logits[image].index_select(0, top_index[image]));
    auto image_level = level;
    auto keep = remove_small_boxes(boxes, filter.min_size);
    keep =
        keep.index_select(0, torch::where(scores.index_select(0, keep) >= filter.score_thresh)[0]);
    boxes = boxes.index_select(0, keep);
    scores = scores.index_select(0, keep);
    image_level = image_level.index_select(0, keep);
    keep = batched_nms(boxes, scores, image_level, filter.nms_thresh)
               .slice(0, 0, filter.post_nms_top_n);
    boxes_out.push_back(boxes.index_select(0, keep));
    scores_out.push_back(scores.index_select(0, keep));
  }
  return {boxes_out, scores_out};
}

AnchorTargets assign_anchor_targets(const torch::Tensor& anchors,
                                    const std::vector<ImageTargets>& targets,
                                    const Matcher& matcher) {
  AnchorTargets out;
  for (const auto& target : targets) {
    if (target.boxes.numel() == 0) {
      out.labels.push_back(torch::zeros({anchors.size(0)}, anchors.options()));
      out.matched_gt.push_back(torch::zeros_like(anchors));
      continue;
    }
    const auto matches = matcher(box_iou(target.boxes, anchors));
    out.matched_gt.push_back(target.boxes.index_select(0, matches.clamp_min(0)));
    auto labels = (matches >= 0).to(anchors.scalar_type());
    labels.masked_fill_(matches == Matcher::k_between_thresholds, -1.0);
    out.labels.push_back(labels);
  }
  return out;
}

RpnLosses rpn_loss(const torch::Tensor& objectness, const torch::Tensor& deltas,
                   const std::vector<torch::Tensor>& labels,
                   const std::vector<torch::Tensor>& regression_targets,
                   int64_t batch_size_per_image, double positive_fraction) {
  std::vector<torch::Tensor> positive, negative;
  for (const auto& image_labels : labels) {
    auto [pos, neg] = sample_balanced(image_labels, batch_size_per_image, positive_fraction);
    positive.push_back(pos);
    negative.push_back(neg);
  }
  const auto pos_index = torch::where(torch::cat(positive))[0];
  const auto sampled = torch::cat({pos_index, torch::where(torch::cat(negative))[0]});
  const auto all_labels = torch::cat(labels);
  const auto all_targets = torch::cat(regression_targets);
  RpnLosses losses;
  losses.box_reg = torch::smooth_l1_loss(deltas.index_select(0, pos_index),
                                         all_targets.index_select(0, pos_index), at::Reduction::Sum,
                                         k_smooth_l1_beta) /
                   static_cast<double>(sampled.numel());
  losses.objectness = torch::binary_cross_entropy_with_logits(
      objectness.flatten().index_select(0, sampled), all_labels.index_select(0, sampled));
  return losses;
}

RegionProposalNetworkImpl::RegionProposalNetworkImpl(const RpnOptions& rpn_options)
    : options(rpn_options), anchor_generator(rpn_options.anchors) {
  const auto per_location = anchor_generator.num_anchors_per_location();
  TORCH_CHECK(
      !per_location.empty() &&
          std::ranges::all_of(per_location, [&](int64_t n) { return n == per_location[0]; }),
      "RegionProposalNetwork: the shared head needs the same number of anchors on every map");
  head = register_module("head", RpnHead(options.in_channels, per_location[0], options.conv_depth));
}

RpnOutput RegionProposalNetworkImpl::forward(const ImageBatch& images, const FeatureMaps& features,
                                             const std::vector<ImageTargets>& targets) {
  auto [objectness_maps, delta_maps] = head->forward(features.maps);
  const auto anchors = anchor_generator(images, features);
  std::vector<int64_t> anchors_per_map;
  for (const auto& map : objectness_maps)
    anchors_per_map.push_back(map.size(1) * map.size(2) * map.size(3));
  auto [objectness, deltas] = flatten_rpn_outputs(objectness_maps, delta_maps);
  const int64_t num_images = objectness.size(0);
  const BoxCoder coder(k_rpn_box_weights);
  // Proposals carry no gradient: Faster R-CNN does not backpropagate through them.
  const auto proposals =
      coder.decode(deltas.detach().reshape({-1, 4}), anchors.repeat({num_images, 1}))
          .view({num_images, -1, 4});
  const bool training = is_training();
  const ProposalFilter filter{training ? options.pre_nms_top_n_train : options.pre_nms_top_n_test,
                              training ? options.post_nms_top_n_train : options.post_nms_top_n_test,
                              options.nms_thresh, options.score_thresh};
  RpnOutput out;
  std::tie(out.boxes, out.scores) =
      filter_proposals(proposals, objectness, images.sizes, anchors_per_map, filter);
  if (!training) return out;

  TORCH_CHECK(static_cast<int64_t>(targets.size()) == num_images,
              "RegionProposalNetwork: training needs ", num_images, " targets, got ",
              targets.size());
  const Matcher matcher(options.fg_iou_thresh, options.bg_iou_thresh,
                        /*allow_low_quality_matches=*/true);
  const auto assigned = assign_anchor_targets(anchors, targets, matcher);
  std::vector<torch::Tensor> regression_targets;
  for (const auto& matched : assigned.matched_gt)
    regression_targets.push_back(coder.encode(matched, anchors));
  out.losses = rpn_loss(objectness, deltas.reshape({-1, 4}), assigned.labels, regression_targets,
                        options.batch_size_per_image, options.positive_fraction);
  return out;
}

}  // namespace vision::train::faster_rcnn
