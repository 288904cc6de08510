// Faster R-CNN's eval forward as one ONNX graph, stage by stage as faster_rcnn.cpp chains them:
// transform (normalise, bilinear resize by the min/max size rule, pad to 32), backbone + FPN
// (norms folded into the convs), anchors from the feature maps' shapes, RPN head, proposal
// decoding and filtering (per-map TopK, clip, small boxes, score threshold, NMS per map by the
// offset trick), MultiScaleRoIAlign (RoiAlign per map, each box on the map of its FPN level), box
// head, predictor and the detection filter, then boxes back to the input's pixels. Every constant
// comes from the model's own options (VariantSpec through head_options).
#include "faster_rcnn_onnx.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "onnx_graph.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"

namespace vision::onnx_export {

namespace {

namespace frcnn = train::faster_rcnn;
using Names = std::vector<std::string>;

// RegionProposalNetwork and postprocess_detections keep these out of their options (torchvision's
// fixed choices, stages.hpp): the RPN decodes with unit weights, small boxes go below these sizes.
constexpr std::array<double, 4> k_rpn_box_weights = {1.0, 1.0, 1.0, 1.0};
constexpr double k_rpn_min_size = 1e-3;
constexpr double k_detection_min_size = 1e-2;
// BoxCoder's clamp of dw, dh before exp (torchvision's bbox_xform_clip) and the FPN level rule.
const double k_box_xform_clip = std::log(1000.0 / 16);
constexpr double k_canonical_scale = 224;
constexpr double k_canonical_level = 4;
constexpr double k_level_eps = 1e-6;

std::vector<float> values_of(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<std::int64_t> dims_of(const torch::Tensor& t) {
  return {t.sizes().begin(), t.sizes().end()};
}

// A conv's weight and bias with the norm after it folded in (none, BatchNorm2d in eval mode or
// FrozenBatchNorm2d: both are y = x·scale + shift per channel).
std::pair<torch::Tensor, torch::Tensor> fold_norm(const torch::nn::Conv2dImpl& conv,
                                                  torch::nn::Module* norm) {
  auto weight = conv.weight.detach();
  auto bias = conv.bias.defined() ? conv.bias.detach() : torch::zeros({weight.size(0)});
  torch::Tensor scale, shift;
  if (norm == nullptr) return {weight, bias};
  if (auto* bn = norm->as<torch::nn::BatchNorm2d>()) {
    scale = bn->weight.detach() / torch::sqrt(bn->running_var.detach() + bn->options.eps());
    shift = bn->bias.detach() - bn->running_mean.detach() * scale;
  } else if (auto* frozen = norm->as<frcnn::FrozenBatchNorm2d>()) {
    scale = frozen->weight * (frozen->running_var + frozen->eps).rsqrt();
    shift = frozen->bias - frozen->running_mean * scale;
  } else {
    TORCH_CHECK(
        false,
        "Faster R-CNN export: a norm layer that is neither BatchNorm2d nor FrozenBatchNorm2d");
  }
  return {weight * scale.view({-1, 1, 1, 1}), bias * scale + shift};
}

class Emitter {
 public:
  explicit Emitter(OnnxGraph& graph) : g(graph) {}

  std::string op(const std::string& type, const Names& inputs) {
    return g.node(type, inputs, type);
  }
  std::string ints(const std::vector<std::int64_t>& values) {
    return g.add_int64("i", {static_cast<std::int64_t>(values.size())}, values);
  }
  std::string scalar_int(std::int64_t value) { return g.add_int64("s", {}, {value}); }
  std::string floats(const std::vector<float>& values) {
    return g.add_float("f", {static_cast<std::int64_t>(values.size())}, values);
  }
  std::string scalar_float(double value) {
    return g.add_float("s", {}, {static_cast<float>(value)});
  }

  std::string cast(const std::string& x, onnx::TensorProto::DataType to) {
    const std::string y = op("Cast", {x});
    g.attr_int("to", to);
    return y;
  }
  std::string concat(const Names& xs, std::int64_t axis) {
    const std::string y = op("Concat", xs);
    g.attr_int("axis", axis);
    return y;
  }
  std::string slice(const std::string& x, std::int64_t start, std::int64_t end, std::int64_t axis,
                    std::int64_t step = 1) {
    return op("Slice", {x, ints({start}), ints({end}), ints({axis}), ints({step})});
  }
  std::string gather(const std::string& x, const std::string& indices, std::int64_t axis) {
    const std::string y = op("Gather", {x, indices});
    g.attr_int("axis", axis);
    return y;
  }
  std::string reshape(const std::string& x, const std::vector<std::int64_t>& shape) {
    return op("Reshape", {x, ints(shape)});
  }
  std::string unsqueeze(const std::string& x, std::int64_t axis) {
    return op("Unsqueeze", {x, ints({axis})});
  }
  std::string transpose(const std::string& x, const std::vector<std::int64_t>& perm) {
    const std::string y = op("Transpose", {x});
    g.attr_ints("perm", perm);
    return y;
  }
  // Dimension `axis` of x as a 1-element int64 tensor.
  std::string dim(const std::string& x, std::int64_t axis) {
    return slice(op("Shape", {x}), axis, axis + 1, 0);
  }
  std::string reduce(const std::string& type, const std::string& x) {
    const std::string y = op(type, {x});
    g.attr_int("keepdims", 0);
    return y;
  }

  std::string conv(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias,
                   std::int64_t stride, std::int64_t groups) {
    const std::int64_t k = weight.size(2);
    const std::string y = op("Conv", {x, g.add_float("w", dims_of(weight), values_of(weight)),
                                      g.add_float("b", {weight.size(0)}, values_of(bias))});
    g.attr_ints("kernel_shape", {k, k});
    g.attr_ints("strides", {stride, stride});
    g.attr_ints("pads", {(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2});
    g.attr_ints("dilations", {1, 1});
    g.attr_int("group", groups);
    return y;
  }

  std::string conv_norm(const std::string& x, const torch::nn::Conv2dImpl& c,
                        torch::nn::Module* norm) {
    const auto [weight, bias] = fold_norm(c, norm);
    return conv(x, weight, bias, c.options.stride()->at(0), c.options.groups());
  }

  std::string activate(const std::string& x, frcnn::Activation activation) {
    switch (activation) {
      case frcnn::Activation::relu:
        return op("Relu", {x});
      case frcnn::Activation::hardswish:
        return op("HardSwish", {x});
      case frcnn::Activation::none:
        break;
    }
    return x;
  }

  std::string conv_norm_activation(const std::string& x, frcnn::ConvNormActivationImpl& m) {
    return activate(conv_norm(x, *m.conv, m.norm.is_empty() ? nullptr : m.norm.ptr().get()),
                    m.options.activation);
  }

  std::string squeeze_excitation(const std::string& x, frcnn::SqueezeExcitationImpl& m) {
    const std::string pooled = op("GlobalAveragePool", {x});
    const std::string squeezed = op("Relu", {conv_norm(pooled, *m.fc1, nullptr)});
    // torch's hardsigmoid: clamp(x / 6 + 1/2, 0, 1).
    const std::string weights = op("HardSigmoid", {conv_norm(squeezed, *m.fc2, nullptr)});
    g.attr_float("alpha", 1.0F / 6);
    g.attr_float("beta", 0.5F);
    return op("Mul", {weights, x});
  }

  std::string inverted_residual(const std::string& x, frcnn::InvertedResidualImpl& m) {
    std::string y = x;
    for (const auto& child : m.block->children()) {
      if (auto* c = child->as<frcnn::ConvNormActivation>())
        y = conv_norm_activation(y, *c);
      else
        y = squeeze_excitation(y, *child->as<frcnn::SqueezeExcitation>());
    }
    return m.residual ? op("Add", {y, x}) : y;
  }

  // MobileNetV3BodyImpl returns the outputs of its layers 13 and 16 (backbone.hpp).
  Names mobilenet(const std::string& x, frcnn::MobileNetV3BodyImpl& body) {
    Names outputs;
    std::string y = x;
    for (const auto& layer : body.layers) {
      if (auto* c = layer.ptr()->as<frcnn::ConvNormActivation>())
        y = conv_norm_activation(y, *c);
      else
        y = inverted_residual(y, *layer.ptr()->as<frcnn::InvertedResidual>());
      outputs.push_back(y);
    }
    return {outputs.at(13), outputs.at(16)};
  }

  std::string resnet_block(const std::string& x, frcnn::ResNetBlockImpl& m) {
    std::string y = op("Relu", {conv_norm(x, *m.conv1, m.bn1.ptr().get())});
    y = conv_norm(y, *m.conv2, m.bn2.ptr().get());
    if (m.bottleneck) y = conv_norm(op("Relu", {y}), *m.conv3, m.bn3.ptr().get());
    std::string identity = x;
    if (m.downsample) {
      identity =
          conv_norm(x, *m.downsample->ptr(0)->as<torch::nn::Conv2d>(), m.downsample->ptr(1).get());
    }
    return op("Relu", {op("Add", {y, identity})});
  }

  Names resnet(const std::string& x, frcnn::ResNetBodyImpl& body) {
    std::string y = op("Relu", {conv_norm(x, *body.conv1, body.bn1.ptr().get())});
    y = op("MaxPool", {y});
    g.attr_ints("kernel_shape", {3, 3});
    g.attr_ints("strides", {2, 2});
    g.attr_ints("pads", {1, 1, 1, 1});
    Names outputs;
    for (auto* stage : {&body.layer1, &body.layer2, &body.layer3, &body.layer4}) {
      for (const auto& block : (*stage)->children())
        y = resnet_block(y, *block->as<frcnn::ResNetBlock>());
      outputs.push_back(y);
    }
    return outputs;
  }

  // The FPN's maps, finest first, then "pool".
  Names fpn(const Names& features, frcnn::FeaturePyramidNetworkImpl& m) {
    const auto block = [&](torch::nn::ModuleList& list, size_t i, const std::string& x) {
      return conv_norm_activation(x, *list[i]->as<frcnn::ConvNormActivation>());
    };
    const size_t levels = features.size();
    Names maps(levels);
    std::string last_inner = block(m.inner_blocks, levels - 1, features.back());
    maps[levels - 1] = block(m.layer_blocks, levels - 1, last_inner);
    for (size_t i = levels - 1; i-- > 0;) {
      const std::string lateral = block(m.inner_blocks, i, features[i]);
      // torch's nearest interpolation to the lateral's size: source = floor(destination · in /
      // out).
      const std::string upsampled = op("Resize", {last_inner, "", "", op("Shape", {lateral})});
      g.attr_string("mode", "nearest");
      g.attr_string("coordinate_transformation_mode", "asymmetric");
      g.attr_string("nearest_mode", "floor");
      last_inner = op("Add", {lateral, upsampled});
      maps[i] = block(m.layer_blocks, i, last_inner);
    }
    // LastLevelMaxPool: a 1×1 max-pool of stride 2.
    maps.push_back(op("MaxPool", {maps.back()}));
    g.attr_ints("kernel_shape", {1, 1});
    g.attr_ints("strides", {2, 2});
    return maps;
  }

  // BoxCoder::decode over the last axis: codes [..., 4] against references broadcast to them.
  std::string decode(const std::string& codes, const std::string& references,
                     const std::array<double, 4>& weights) {
    const auto part = [&](const std::string& x, std::int64_t i) { return slice(x, i, i + 1, -1); };
    const std::string w = op("Sub", {part(references, 2), part(references, 0)});
    const std::string h = op("Sub", {part(references, 3), part(references, 1)});
    const std::string half = scalar_float(0.5);
    const std::string x = op("Add", {part(references, 0), op("Mul", {half, w})});
    const std::string y = op("Add", {part(references, 1), op("Mul", {half, h})});
    const auto term = [&](std::int64_t i) {
      return op("Div", {part(codes, i), scalar_float(weights[i])});
    };
    const std::string cx = op("Add", {op("Mul", {term(0), w}), x});
    const std::string cy = op("Add", {op("Mul", {term(1), h}), y});
    const std::string clip = scalar_float(k_box_xform_clip);
    const std::string half_w =
        op("Mul", {op("Mul", {half, op("Exp", {op("Min", {term(2), clip})})}), w});
    const std::string half_h =
        op("Mul", {op("Mul", {half, op("Exp", {op("Min", {term(3), clip})})}), h});
    return concat({op("Sub", {cx, half_w}), op("Sub", {cy, half_h}), op("Add", {cx, half_w}),
                   op("Add", {cy, half_h})},
                  -1);
  }

  // clip_boxes_to_image: x into [0, width], y into [0, height]; size_hw is float [2] {h, w}.
  std::string clip_boxes(const std::string& boxes, const std::string& size_hw) {
    const std::string zero = scalar_float(0);
    const auto limit = [&](std::int64_t i) { return reshape(slice(size_hw, i, i + 1, 0), {}); };
    const std::string xs = op("Clip", {slice(boxes, 0, 4, -1, 2), zero, limit(1)});
    const std::string ys = op("Clip", {slice(boxes, 1, 4, -1, 2), zero, limit(0)});
    // Interleave back to x1 y1 x2 y2, as the stack on the last axis does.
    return op("Reshape",
              {concat({unsqueeze(xs, -1), unsqueeze(ys, -1)}, -1), op("Shape", {boxes})});
  }

  // Boxes [N, 4] whose width and height are both >= min_size, as a bool mask [N].
  std::string large_enough(const std::string& boxes, double min_size) {
    const std::string w = op("Sub", {slice(boxes, 2, 3, 1), slice(boxes, 0, 1, 1)});
    const std::string h = op("Sub", {slice(boxes, 3, 4, 1), slice(boxes, 1, 2, 1)});
    const std::string size = scalar_float(min_size);
    return reshape(op("And", {op("GreaterOrEqual", {w, size}), op("GreaterOrEqual", {h, size})}),
                   {-1});
  }

  std::string compress(const std::string& x, const std::string& mask) {
    const std::string y = op("Compress", {x, mask});
    g.attr_int("axis", 0);
    return y;
  }

  // batched_nms by the offset trick: each group's boxes move by group · (largest coordinate + 1),
  // so one NonMaxSuppression never pairs two groups. Indices [M] of the kept boxes, best first,
  // at most max_kept. The 0 joined to the coordinates keeps the maximum defined for no boxes
  // (every box here is clipped to the image, so it never raises the maximum). Equal scores keep
  // their input order, as torch's stable sort does: TopK puts the lower index first among equal
  // values, and NonMaxSuppression, whose order among equal scores is its own, sees ranks.
  std::string batched_nms(const std::string& boxes, const std::string& scores,
                          const std::string& groups, double iou, std::int64_t max_kept) {
    const std::string largest = reduce("ReduceMax", concat({reshape(boxes, {-1}), floats({0})}, 0));
    const std::string offsets = op("Mul", {groups, op("Add", {largest, scalar_float(1)})});
    const std::string shifted = op("Add", {boxes, unsqueeze(offsets, 1)});
    const std::string count = op("Shape", {scores});
    const auto sorted = g.node_outputs("TopK", {scores, count}, "sorted", 2);
    g.attr_int("axis", 0);
    const std::string ranks = cast(op("Range", {reshape(count, {}), scalar_int(0), scalar_int(-1)}),
                                   onnx::TensorProto::FLOAT);
    const std::string selected =
        op("NonMaxSuppression",
           {unsqueeze(gather(shifted, sorted[1], 0), 0), unsqueeze(unsqueeze(ranks, 0), 0),
            ints({max_kept}), floats({static_cast<float>(iou)})});
    return gather(sorted[1], reshape(slice(selected, 2, 3, 1), {-1}), 0);
  }

  OnnxGraph& g;
};

struct Transformed {
  std::string images;      // normalised, resized, padded [1, 3, H', W']
  std::string input_hw;    // int64 [2] the input's {h, w}
  std::string resized_hw;  // int64 [2] after resizing, before padding
  std::string padded_hw;   // int64 [2]
};

// GeneralizedRCNNTransform: normalise, resize (scale = min(min_size / short side, max_size / long
// side) in doubles, each side floored), pad bottom and right to a multiple of size_divisible.
Transformed transform(Emitter& e, const std::string& images, const frcnn::TransformOptions& t) {
  Transformed out;
  const auto per_channel = [&](const std::array<double, 3>& v) {
    return e.g.add_float(
        "c", {1, 3, 1, 1},
        {static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2])});
  };
  const std::string normalised =
      e.op("Div", {e.op("Sub", {images, per_channel(t.image_mean)}), per_channel(t.image_std)});
  out.input_hw = e.slice(e.op("Shape", {images}), 2, 4, 0);
  const std::string hw = e.cast(out.input_hw, onnx::TensorProto::DOUBLE);
  const auto as_double = [&](std::int64_t v) {
    return e.cast(e.ints({v}), onnx::TensorProto::DOUBLE);
  };
  const std::string scale =
      e.op("Min", {e.op("Div", {as_double(t.min_size), e.reduce("ReduceMin", hw)}),
                   e.op("Div", {as_double(t.max_size), e.reduce("ReduceMax", hw)})});
  // Cast truncates, which is the floor for these positive sizes.
  out.resized_hw = e.cast(e.op("Mul", {hw, scale}), onnx::TensorProto::INT64);
  const std::string resized =
      e.op("Resize", {normalised, "", "", e.concat({e.ints({1, 3}), out.resized_hw}, 0)});
  e.g.attr_string("mode", "linear");
  e.g.attr_string("coordinate_transformation_mode", "half_pixel");
  const std::string divisor = e.ints({t.size_divisible});
  out.padded_hw = e.op(
      "Mul", {e.op("Div", {e.op("Add", {out.resized_hw, e.ints({t.size_divisible - 1})}), divisor}),
              divisor});
  const std::string pads =
      e.concat({e.ints({0, 0, 0, 0, 0, 0}), e.op("Sub", {out.padded_hw, out.resized_hw})}, 0);
  out.images = e.op("Pad", {resized, pads});
  return out;
}

// AnchorGenerator for one map: shifts (the padded size over the map size, per axis, integer
// division) at every location, row by row, plus each cell anchor → [H·W·A, 4].
std::string anchors(Emitter& e, const std::string& map, const std::string& padded_hw,
                    const torch::Tensor& cell) {
  const std::string grid_h = e.dim(map, 2), grid_w = e.dim(map, 3);
  const std::string stride_h = e.op("Div", {e.slice(padded_hw, 0, 1, 0), grid_h});
  const std::string stride_w = e.op("Div", {e.slice(padded_hw, 1, 2, 0), grid_w});
  const auto steps = [&](const std::string& count, const std::string& stride) {
    return e.op("Mul",
                {e.op("Range", {e.scalar_int(0), e.reshape(count, {}), e.scalar_int(1)}), stride});
  };
  const std::string grid = e.concat({grid_h, grid_w}, 0);
  const std::string sx =
      e.reshape(e.op("Expand", {e.unsqueeze(steps(grid_w, stride_w), 0), grid}), {-1, 1});
  const std::string sy =
      e.reshape(e.op("Expand", {e.unsqueeze(steps(grid_h, stride_h), 1), grid}), {-1, 1});
  const std::string shifts = e.cast(e.concat({sx, sy, sx, sy}, 1), onnx::TensorProto::FLOAT);
  const std::string cells = e.g.add_float("cell_anchors", {1, cell.size(0), 4}, values_of(cell));
  return e.reshape(e.op("Add", {e.unsqueeze(shifts, 1), cells}), {-1, 4});
}

// The RPN: head per map, proposals decoded, the pre_nms_top_n best of each map, clipped, small and
// low-scoring ones dropped, NMS per map, the post_nms_top_n best → proposals [P, 4].
std::string proposals(Emitter& e, frcnn::RegionProposalNetworkImpl& rpn, const Names& maps,
                      const Transformed& t) {
  const auto& o = rpn.options;
  const auto& cells = rpn.anchor_generator.cell_anchors();
  const std::string resized_hw = e.cast(t.resized_hw, onnx::TensorProto::FLOAT);
  Names boxes, scores, levels;
  for (size_t level = 0; level < maps.size(); ++level) {
    std::string x = maps[level];
    for (const auto& block : *rpn.head->conv) {
      x = e.op("Relu",
               {e.conv_norm(x, *block->as<torch::nn::Sequential>()->ptr(0)->as<torch::nn::Conv2d>(),
                            nullptr)});
    }
    const auto a = cells[level].size(0);
    // [1, A, H, W] → [H·W·A] and [1, 4·A, H, W] → [H·W·A, 4]: location-major, then anchor.
    const std::string logits =
        e.reshape(e.transpose(e.conv_norm(x, *rpn.head->cls_logits, nullptr), {0, 2, 3, 1}), {-1});
    const std::string deltas = e.reshape(
        e.transpose(e.reshape(e.conv_norm(x, *rpn.head->bbox_pred, nullptr), {1, a, 4, -1}),
                    {0, 3, 1, 2}),
        {-1, 4});
    const std::string decoded =
        e.decode(deltas, anchors(e, maps[level], t.padded_hw, cells[level]), k_rpn_box_weights);
    const std::string k = e.op("Min", {e.op("Shape", {logits}), e.ints({o.pre_nms_top_n_test})});
    const auto top = e.g.node_outputs("TopK", {logits, k}, "topk", 2);
    e.g.attr_int("axis", 0);
    boxes.push_back(e.gather(decoded, top[1], 0));
    scores.push_back(e.op("Sigmoid", {top[0]}));
    levels.push_back(e.op("Expand", {e.floats({static_cast<float>(level)}), k}));
  }
  const std::string all_boxes = e.clip_boxes(e.concat(boxes, 0), resized_hw);
  const std::string all_scores = e.concat(scores, 0);
  const std::string keep =
      e.op("And", {e.large_enough(all_boxes, k_rpn_min_size),
                   e.op("GreaterOrEqual", {all_scores, e.scalar_float(o.score_thresh)})});
  const std::string kept_boxes = e.compress(all_boxes, keep);
  const std::string selected =
      e.batched_nms(kept_boxes, e.compress(all_scores, keep), e.compress(e.concat(levels, 0), keep),
                    o.nms_thresh, o.post_nms_top_n_test);
  return e.gather(kept_boxes, selected, 0);
}

// MultiScaleRoIAlign: each map's scale is map height / resized height rounded to a power of two
// (the RoIs are scaled by it, so RoiAlign's spatial_scale stays 1 and the scale can follow the
// input size); each box goes to its FPN level floor(4 + log2(√area / 224) + 1e-6), clamped to the
// maps' levels, and is pooled there (RoiAlign avg, output_half_pixel = torchvision's
// aligned=False).
std::string roi_pool(Emitter& e, const frcnn::RoiHeadsOptions& o, const Names& maps,
                     const Names& map_names, const std::string& boxes, const Transformed& t) {
  Names pooled_maps;
  for (size_t i = 0; i < map_names.size(); ++i) {
    if (std::ranges::find(o.featmap_names, map_names[i]) != o.featmap_names.end())
      pooled_maps.push_back(maps[i]);
  }
  const std::string image_h = e.cast(e.slice(t.resized_hw, 0, 1, 0), onnx::TensorProto::DOUBLE);
  const std::string ln2 = e.scalar_float(std::numbers::ln2);
  Names log_scales;  // log2 of each map's scale: −its FPN level
  for (const auto& map : pooled_maps) {
    const std::string ratio =
        e.cast(e.op("Div", {e.cast(e.dim(map, 2), onnx::TensorProto::DOUBLE), image_h}),
               onnx::TensorProto::FLOAT);
    log_scales.push_back(e.op("Round", {e.op("Div", {e.op("Log", {ratio}), ln2})}));
  }
  const auto pool = [&](const std::string& map, const std::string& rois,
                        const std::string& log_scale) {
    const std::string scaled = e.op("Mul", {rois, e.op("Pow", {e.scalar_float(2), log_scale})});
    const std::string y =
        e.op("RoiAlign", {map, scaled, e.op("Expand", {e.ints({0}), e.dim(rois, 0)})});
    e.g.attr_string("mode", "avg");
    e.g.attr_int("output_height", o.pool_size);
    e.g.attr_int("output_width", o.pool_size);
    e.g.attr_int("sampling_ratio", o.sampling_ratio);
    e.g.attr_float("spatial_scale", 1.0F);
    e.g.attr_string("coordinate_transformation_mode", "output_half_pixel");
    return y;
  };
  if (pooled_maps.size() == 1) return pool(pooled_maps[0], boxes, log_scales[0]);

  const std::string k_min = e.reshape(e.op("Neg", {log_scales.front()}), {});
  const std::string k_max = e.reshape(e.op("Neg", {log_scales.back()}), {});
  const std::string area =
      e.op("Mul", {e.op("Sub", {e.slice(boxes, 2, 3, 1), e.slice(boxes, 0, 1, 1)}),
                   e.op("Sub", {e.slice(boxes, 3, 4, 1), e.slice(boxes, 1, 2, 1)})});
  const std::string log2_size = e.op(
      "Div",
      {e.op("Log", {e.op("Div", {e.op("Sqrt", {area}), e.scalar_float(k_canonical_scale)})}), ln2});
  const std::string level =
      e.op("Floor", {e.op("Add", {e.op("Add", {e.scalar_float(k_canonical_level), log2_size}),
                                  e.scalar_float(k_level_eps)})});
  const std::string index =
      e.reshape(e.op("Sub", {e.op("Clip", {level, k_min, k_max}), k_min}), {-1});
  std::string result = e.op(
      "Expand",
      {e.floats({0}), e.concat({e.dim(boxes, 0), e.ints({frcnn::BackboneWithFpnImpl::k_out_channels,
                                                         o.pool_size, o.pool_size})},
                               0)});
  for (size_t l = 0; l < pooled_maps.size(); ++l) {
    const std::string members = e.transpose(
        e.op("NonZero", {e.op("Equal", {index, e.floats({static_cast<float>(l)})})}), {1, 0});
    const std::string pooled =
        pool(pooled_maps[l], e.op("GatherND", {boxes, members}), log_scales[l]);
    result = e.op("ScatterND", {result, members, pooled});
  }
  return result;
}

std::string linear(Emitter& e, const std::string& x, const torch::nn::LinearImpl& m) {
  const std::string y = e.op("Gemm", {x, e.g.add_float("w", dims_of(m.weight), values_of(m.weight)),
                                      e.g.add_float("b", dims_of(m.bias), values_of(m.bias))});
  e.g.attr_int("transB", 1);
  return y;
}

std::string box_head(Emitter& e, frcnn::RoiHeadsImpl& heads, const std::string& pooled) {
  const auto flatten = [&](const std::string& x) {
    const std::string y = e.op("Flatten", {x});
    e.g.attr_int("axis", 1);
    return y;
  };
  if (heads.two_mlp_head) {
    auto& m = *heads.two_mlp_head;
    return e.op("Relu", {linear(e, e.op("Relu", {linear(e, flatten(pooled), *m.fc6)}), *m.fc7)});
  }
  auto& m = *heads.conv_fc_head;
  std::string y = pooled;
  for (auto& block : m.convs) {
    y = e.op("Relu",
             {e.conv_norm(y, *block->ptr(0)->as<torch::nn::Conv2d>(), block->ptr(1).get())});
  }
  return e.op("Relu", {linear(e, flatten(y), *m.fc)});
}

struct Detections {
  std::string boxes, labels, scores;
};

// postprocess_detections: softmax, each class's box decoded and clipped, background dropped,
// score > score_thresh, small boxes dropped, NMS per class, the detections_per_img best.
Detections detect(Emitter& e, frcnn::RoiHeadsImpl& heads, const std::string& features,
                  const std::string& proposals, const Transformed& t) {
  const auto& o = heads.options;
  auto& predictor = *heads.box_predictor;
  const std::int64_t classes = o.num_classes;
  const std::string scores = e.op("Softmax", {linear(e, features, *predictor.cls_score)});
  e.g.attr_int("axis", -1);
  const std::string codes = e.reshape(linear(e, features, *predictor.bbox_pred), {0, classes, 4});
  const std::string decoded = e.decode(codes, e.unsqueeze(proposals, 1), o.bbox_reg_weights);
  const std::string clipped = e.clip_boxes(decoded, e.cast(t.resized_hw, onnx::TensorProto::FLOAT));
  const std::string boxes = e.reshape(e.slice(clipped, 1, classes, 1), {-1, 4});
  const std::string class_scores = e.reshape(e.slice(scores, 1, classes, 1), {-1});
  std::vector<std::int64_t> ids;
  for (std::int64_t c = 1; c < classes; ++c) ids.push_back(c);
  const std::string labels =
      e.reshape(e.op("Expand", {e.g.add_int64("class_ids", {1, classes - 1}, ids),
                                e.concat({e.dim(proposals, 0), e.ints({classes - 1})}, 0)}),
                {-1});
  const std::string keep =
      e.op("And", {e.op("Greater", {class_scores, e.scalar_float(o.score_thresh)}),
                   e.large_enough(boxes, k_detection_min_size)});
  const std::string kept_boxes = e.compress(boxes, keep);
  const std::string kept_scores = e.compress(class_scores, keep);
  const std::string kept_labels = e.compress(labels, keep);
  const std::string selected =
      e.batched_nms(kept_boxes, kept_scores, e.cast(kept_labels, onnx::TensorProto::FLOAT),
                    o.nms_thresh, o.detections_per_img);
  return {e.gather(kept_boxes, selected, 0), e.gather(kept_labels, selected, 0),
          e.gather(kept_scores, selected, 0)};
}

}  // namespace

Expected<void> write_faster_rcnn_onnx(frcnn::FasterRcnnImpl& model,
                                      const OnnxExportOptions& options) {
  if (options.opset < 16) {
    return fail(ErrorCode::config,
                "Faster R-CNN export needs opset 16 or later (RoiAlign's output_half_pixel), got " +
                    std::to_string(options.opset));
  }
  torch::NoGradGuard no_grad;
  OnnxGraph graph("vision_faster_rcnn", options.opset);
  Emitter e(graph);
  graph.input("images", {1, 3, -1, -1}, {"", "", "height", "width"});
  const Transformed t = transform(e, "images", model.transform);

  auto& backbone = *model.backbone;
  Names body;
  if (auto* mobilenet = dynamic_cast<frcnn::MobileNetV3BodyImpl*>(backbone.body.get()))
    body = e.mobilenet(t.images, *mobilenet);
  else
    body = e.resnet(t.images, *dynamic_cast<frcnn::ResNetBodyImpl*>(backbone.body.get()));
  const Names maps = e.fpn(body, *backbone.fpn);
  Names map_names;
  for (size_t i = 0; i + 1 < maps.size(); ++i) map_names.push_back(std::to_string(i));
  map_names.emplace_back("pool");

  const std::string boxes = proposals(e, *model.rpn, maps, t);
  auto& heads = *model.roi_heads;
  const std::string features =
      box_head(e, heads, roi_pool(e, heads.options, maps, map_names, boxes, t));
  const Detections d = detect(e, heads, features, boxes, t);

  // Back to the input's pixels: × input size / resized size, each ratio in float32 as resize_boxes.
  const std::string ratios = e.op("Div", {e.cast(t.input_hw, onnx::TensorProto::FLOAT),
                                          e.cast(t.resized_hw, onnx::TensorProto::FLOAT)});
  const std::string scaled = e.op("Mul", {d.boxes, e.gather(ratios, e.ints({1, 0, 1, 0}), 0)});
  graph.rename_output(scaled, "boxes");
  graph.rename_output(d.labels, "labels");
  graph.rename_output(d.scores, "scores");
  graph.output("boxes", {-1, 4}, {"detections"});
  graph.output("labels", {-1}, {"detections"}, onnx::TensorProto::INT64);
  graph.output("scores", {-1}, {"detections"});

  std::vector<std::string> names = options.class_names;
  for (auto i = static_cast<std::int64_t>(names.size()); i < model.num_classes; ++i)
    names.push_back("class" + std::to_string(i));
  graph.metadata("description", "Vision Faster R-CNN detector");
  graph.metadata("author", "vision");
  graph.metadata("task", "detect");
  graph.metadata("variant", model.spec.name);
  graph.metadata("imgsz", "[" + std::to_string(options.img_height) + ", " +
                              std::to_string(options.img_width) + "]");
  graph.metadata("names", ultralytics_names_text(names));
  graph.metadata("vision_version", VISION_VERSION);
  if (!options.run_id.empty()) graph.metadata("run_id", options.run_id);
  return graph.save(options.output);
}

}  // namespace vision::onnx_export
