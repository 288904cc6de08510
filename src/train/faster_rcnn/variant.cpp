// The variant table, read from torchvision 0.21's builders (bench/faster_rcnn/torchvision_reference.py
// prints each builder's constants).
#include "vision/train/faster_rcnn/variant.hpp"

#include <string>

#include "vision/core/config.hpp"

namespace vision::train::faster_rcnn {

namespace {

// _default_anchorgen: one size per FPN level, three ratios each.
void single_size_anchors(VariantSpec& spec) {
  spec.anchor_sizes = {{32}, {64}, {128}, {256}, {512}};
  spec.aspect_ratios.assign(spec.anchor_sizes.size(), {0.5, 1.0, 2.0});
}

std::string unknown_variant(std::string_view name) {
  std::string list;
  for (const auto& accepted : faster_rcnn_variants()) list += (list.empty() ? "" : "|") + accepted;
  return "train.faster_rcnn.variant = \"" + std::string(name) + "\": must be one of " + list;
}

}  // namespace

// A test holds this table and faster_rcnn_variants(), the config rule's list, to the same names.
Expected<VariantSpec> variant_spec(std::string_view name) {
  VariantSpec spec;
  spec.name = name == "resnet50" ? "resnet50_fpn" : std::string(name);
  if (spec.name == "mobilenet_v3") {
    // fasterrcnn_mobilenet_v3_large_fpn: five sizes on each of its three maps, an RPN score
    // threshold of 0.05. RoIAlign gets the "0" and "1" it has of "0".."3"; both are at stride 32,
    // so torchvision's level mapper sends every box to "0".
    spec.backbone = {BackboneKind::mobilenet_v3_large, NormKind::batch_norm, NormKind::none};
    spec.anchor_sizes.assign(3, {32, 64, 128, 256, 512});
    spec.aspect_ratios.assign(3, {0.5, 1.0, 2.0});
    spec.rpn_score_thresh = 0.05;
    spec.box_roi_pool_names = {"0", "1"};
  } else if (spec.name == "resnet50_fpn") {
    spec.backbone = {BackboneKind::resnet50, NormKind::batch_norm, NormKind::none};
    single_size_anchors(spec);
  } else if (spec.name == "resnet50_fpn_v2") {
    // fasterrcnn_resnet50_fpn_v2: BatchNorm in the FPN, two convs in the RPN head, conv+fc box head.
    spec.backbone = {BackboneKind::resnet50, NormKind::batch_norm, NormKind::batch_norm};
    single_size_anchors(spec);
    spec.rpn_conv_depth = 2;
    spec.box_head = BoxHeadKind::conv_fc;
  } else if (spec.name == "resnet18_fpn") {
    // resnet18_fpn: resnet_fpn_backbone("resnet18", weights=None, trainable_layers=5) keeps that
    // function's FrozenBatchNorm2d; the Python original passes the default anchors and RoIAlign.
    spec.backbone = {BackboneKind::resnet18, NormKind::frozen_batch_norm, NormKind::none};
    single_size_anchors(spec);
  } else {
    return fail(ErrorCode::config, unknown_variant(name));
  }
  return spec;
}

}  // namespace vision::train::faster_rcnn
