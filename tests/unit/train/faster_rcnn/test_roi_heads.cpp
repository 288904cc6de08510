// The RoI heads: training samples, the Fast R-CNN losses and the post-processing against
// hand-computed cases, the module in both modes, and the parameter counts and names of the
// rpn.* and roi_heads.* parts of each variant against torchvision 0.21's
// (bench/faster_rcnn/head_reference.py).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "faster_rcnn/stages.hpp"
#include "state_listing.hpp"
#include "vision/train/faster_rcnn/roi_heads.hpp"
#include "vision/train/faster_rcnn/rpn.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

frcnn::AnchorOptions one_size_per_map() {
  // torchvision's _default_anchorgen (ResNet FPNs, and the original's resnet18_fpn).
  return {{{32}, {64}, {128}, {256}, {512}}, std::vector<std::vector<double>>(5, {0.5, 1.0, 2.0})};
}

struct Variant {
  std::string name;
  frcnn::RpnOptions rpn;
  frcnn::RoiHeadsOptions roi_heads;
  int64_t rpn_params;
  int64_t roi_heads_params_4, roi_heads_params_91;  // for 4 and 91 classes (background included)
  std::set<std::string> keys;
};

const std::set<std::string> k_two_mlp_keys = {"rpn.head.conv.0.0.weight",
                                              "rpn.head.conv.0.0.bias",
                                              "rpn.head.cls_logits.weight",
                                              "rpn.head.cls_logits.bias",
                                              "rpn.head.bbox_pred.weight",
                                              "rpn.head.bbox_pred.bias",
                                              "roi_heads.box_head.fc6.weight",
                                              "roi_heads.box_head.fc6.bias",
                                              "roi_heads.box_head.fc7.weight",
                                              "roi_heads.box_head.fc7.bias",
                                              "roi_heads.box_predictor.cls_score.weight",
                                              "roi_heads.box_predictor.cls_score.bias",
                                              "roi_heads.box_predictor.bbox_pred.weight",
                                              "roi_heads.box_predictor.bbox_pred.bias"};

std::set<std::string> v2_keys() {
  std::set<std::string> keys = {"rpn.head.conv.0.0.weight",
                                "rpn.head.conv.0.0.bias",
                                "rpn.head.conv.1.0.weight",
                                "rpn.head.conv.1.0.bias",
                                "rpn.head.cls_logits.weight",
                                "rpn.head.cls_logits.bias",
                                "rpn.head.bbox_pred.weight",
                                "rpn.head.bbox_pred.bias",
                                "roi_heads.box_head.5.weight",
                                "roi_heads.box_head.5.bias",
                                "roi_heads.box_predictor.cls_score.weight",
                                "roi_heads.box_predictor.cls_score.bias",
                                "roi_heads.box_predictor.bbox_pred.weight",
                                "roi_heads.box_predictor.bbox_pred.bias"};
  for (int block = 0; block < 4; ++block) {
    const auto prefix = "roi_heads.box_head." + std::to_string(block);
    for (const char* key : {".0.weight", ".1.weight", ".1.bias", ".1.running_mean",
                            ".1.running_var", ".1.num_batches_tracked"})
      keys.insert(prefix + key);
  }
  return keys;
}

std::vector<Variant> variants() {
  Variant mobilenet{"mobilenet_v3", {}, {}, 609355, 13916180, 14362055, k_two_mlp_keys};
  mobilenet.rpn.anchors = {std::vector<std::vector<double>>(3, {32, 64, 128, 256, 512}),
                           std::vector<std::vector<double>>(3, {0.5, 1.0, 2.0})};
  Variant resnet50{"resnet50_fpn", {}, {}, 593935, 13916180, 14362055, k_two_mlp_keys};
  resnet50.rpn.anchors = one_size_per_map();
  Variant resnet18 = resnet50;
  resnet18.name = "resnet18_fpn";
  Variant v2{"resnet50_fpn_v2", {}, {}, 1184015, 15227924, 15673799, v2_keys()};
  v2.rpn.anchors = one_size_per_map();
  v2.rpn.conv_depth = 2;
  v2.roi_heads.box_head = frcnn::BoxHeadKind::conv_fc;
  return {mobilenet, resnet50, resnet18, v2};
}

frcnn::FeatureMaps two_maps(int64_t channels) {
  return {{"0", "1"}, {torch::rand({2, channels, 16, 16}), torch::rand({2, channels, 8, 8})}};
}

}  // namespace

TEST(HeadParameters, CountsAndNamesEqualTorchvision) {
  for (auto variant : variants()) {
    for (const int64_t classes : {4, 91}) {
      variant.roi_heads.num_classes = classes;
      torch::nn::Module model;
      auto rpn = model.register_module("rpn", frcnn::RegionProposalNetwork(variant.rpn));
      auto roi_heads = model.register_module("roi_heads", frcnn::RoiHeads(variant.roi_heads));
      EXPECT_EQ(frcnn::testing::parameter_count(*rpn), variant.rpn_params) << variant.name;
      EXPECT_EQ(frcnn::testing::parameter_count(*roi_heads),
                classes == 4 ? variant.roi_heads_params_4 : variant.roi_heads_params_91)
          << variant.name << " " << classes;
      std::set<std::string> keys;
      for (const auto& p : model.named_parameters()) keys.insert(p.key());
      for (const auto& b : model.named_buffers()) keys.insert(b.key());
      EXPECT_EQ(keys, variant.keys) << variant.name;
    }
  }
}

TEST(SelectTrainingSamples, AddsGroundTruthMatchesAndEncodes) {
  const std::vector<torch::Tensor> proposals = {
      torch::tensor({{0.0, 0.0, 10.0, 10.0}, {50.0, 50.0, 60.0, 60.0}, {0.0, 0.0, 10.0, 12.0}}),
      torch::tensor({{0.0, 0.0, 5.0, 5.0}})};
  const std::vector<frcnn::ImageTargets> targets = {
      {torch::tensor({{0.0, 0.0, 10.0, 10.0}}), torch::tensor({3}, torch::kLong)},
      {torch::zeros({0, 4}), torch::zeros({0}, torch::kLong)}};
  const frcnn::Matcher matcher(0.5, 0.5, false);
  const frcnn::BoxCoder coder({10, 10, 5, 5});
  const auto samples =
      frcnn::select_training_samples(proposals, targets, matcher, coder, 512, 0.25);
  // Image 0: IoU with the gt 1, 0, 100/120, and the appended gt itself 1; every one sampled.
  EXPECT_TRUE(torch::equal(samples.proposals[0].slice(0, 3), targets[0].boxes));
  EXPECT_TRUE(torch::equal(samples.labels[0], torch::tensor({3, 0, 3, 3}, torch::kLong)));
  // Against [50,50,60,60]: centre 50 px off on a 10 px box → 10·(−5); against [0,0,10,12]:
  // dy = 10·(5 − 6)/12, dh = 5·ln(10/12).
  const auto expected = torch::tensor({{0.0, 0.0, 0.0, 0.0},
                                       {-50.0, -50.0, 0.0, 0.0},
                                       {0.0, -10.0 / 12, 0.0, 5 * std::log(10.0 / 12)},
                                       {0.0, 0.0, 0.0, 0.0}});
  EXPECT_TRUE(torch::allclose(samples.regression_targets[0], expected, 1e-5, 1e-5));
  // Image 1 has no objects: its one proposal is background.
  EXPECT_TRUE(torch::equal(samples.labels[1], torch::tensor({0}, torch::kLong)));
}

TEST(FastRcnnLoss, HandComputedTinyExample) {
  // Softmax at the label: 2/4, 1/3, 3/5 → cross-entropy (ln 2 + ln 3 + ln(5/3)) / 3.
  const auto logits =
      torch::tensor({{0.0, std::log(2.0), 0.0}, {0.0, 0.0, 0.0}, {0.0, 0.0, std::log(3.0)}});
  const std::vector<torch::Tensor> labels = {torch::tensor({1, 0}, torch::kLong),
                                             torch::tensor({2}, torch::kLong)};
  auto regression = torch::full({3, 12}, 7.0);  // columns of other classes must not count
  regression[0].slice(0, 4, 8) = torch::tensor({0.05, 0.0, 0.0, 0.0});
  regression[2].slice(0, 8, 12) = torch::tensor({1.0, 0.0, 0.0, 0.0});
  const std::vector<torch::Tensor> targets = {torch::zeros({2, 4}),
                                              torch::tensor({{0.0, 0.0, 0.0, 0.5}})};
  const auto losses = frcnn::fastrcnn_loss(logits, regression, labels, targets);
  EXPECT_NEAR(losses.classifier.item<double>(),
              (std::log(2.0) + std::log(3.0) + std::log(5.0 / 3)) / 3, 1e-6);
  // Smooth L1 (β = 1/9) of the two positives' own-class deltas, over all 3 samples.
  const double beta = 1.0 / 9;
  const double sum = 0.5 * 0.05 * 0.05 / beta + (1.0 - beta / 2) + (0.5 - beta / 2);
  EXPECT_NEAR(losses.box_reg.item<double>(), sum / 3, 1e-6);
}

TEST(PostprocessDetections, ThresholdSmallBoxesPerClassNmsAndTopN) {
  // Image 60 wide, 50 high; background, class 1, class 2.
  const std::vector<torch::Tensor> proposals = {
      torch::tensor({{0.0, 0.0, 20.0, 20.0},
                     {2.0, 2.0, 22.0, 22.0},                     // IoU 0.68 with 0
                     {40.0, 40.0, 70.0, 70.0},                   // clipped
                     {10.0, 10.0, 10.005, 30.0}})};              // too thin
  const auto probabilities = torch::tensor({{0.10, 0.80, 0.10},  // class 2 loses NMS to row 1's
                                            {0.10, 0.70, 0.20},  // class 1 loses NMS to row 0's
                                            {0.15, 0.10, 0.75},
                                            {0.08, 0.90, 0.02}});  // thin; 0.02 under the threshold
  const auto logits = torch::log(probabilities);
  const auto regression = torch::zeros({4, 12});
  const frcnn::BoxCoder coder({10, 10, 5, 5});
  const auto detections = frcnn::postprocess_detections(logits, regression, proposals, {{50, 60}},
                                                        coder, {0.05, 0.5, 100});
  ASSERT_EQ(detections.size(), 1u);
  EXPECT_TRUE(torch::allclose(detections[0].boxes, torch::tensor({{0.0, 0.0, 20.0, 20.0},
                                                                  {40.0, 40.0, 60.0, 50.0},
                                                                  {2.0, 2.0, 22.0, 22.0},
                                                                  {40.0, 40.0, 60.0, 50.0}})));
  EXPECT_TRUE(torch::equal(detections[0].labels, torch::tensor({1, 2, 2, 1}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(detections[0].scores, torch::tensor({0.80, 0.75, 0.20, 0.10})));
  const auto capped = frcnn::postprocess_detections(logits, regression, proposals, {{50, 60}},
                                                    coder, {0.05, 0.5, 2});
  EXPECT_EQ(capped[0].labels.size(0), 2);
}

TEST(RoiHeads, EvalDetectionsAndTrainingLossesForBothBoxHeads) {
  torch::manual_seed(6);
  for (const auto kind : {frcnn::BoxHeadKind::two_mlp, frcnn::BoxHeadKind::conv_fc}) {
    frcnn::RoiHeadsOptions options;
    options.num_classes = 3;
    options.box_head = kind;
    options.in_channels = 8;
    options.representation_size = 32;
    options.score_thresh = 0.0;
    frcnn::RoiHeads heads(options);
    const auto features = two_maps(8);
    const std::vector<std::array<int64_t, 2>> sizes = {{64, 64}, {64, 48}};
    const auto corner = torch::rand({30, 2}) * 40;
    const auto proposal = torch::cat({corner, corner + 4 + torch::rand({30, 2}) * 20}, 1);
    const std::vector<torch::Tensor> proposals = {proposal, proposal.slice(0, 0, 10)};

    heads->eval();
    const auto out = heads->forward(features, proposals, sizes);
    ASSERT_EQ(out.detections.size(), 2u);
    EXPECT_GT(out.detections[0].boxes.size(0), 0);
    EXPECT_LE(out.detections[0].boxes.size(0), 100);
    EXPECT_TRUE(
        ((out.detections[0].labels >= 1) & (out.detections[0].labels <= 2)).all().item<bool>());
    EXPECT_LE(out.detections[1].boxes.select(1, 2).max().item<double>(), 48.0);

    heads->train();
    const std::vector<frcnn::ImageTargets> targets = {
        {torch::tensor({{5.0, 5.0, 30.0, 40.0}, {20.0, 10.0, 60.0, 30.0}}),
         torch::tensor({1, 2}, torch::kLong)},
        {torch::zeros({0, 4}), torch::zeros({0}, torch::kLong)}};
    const auto trained = heads->forward(features, proposals, sizes, targets);
    ASSERT_TRUE(trained.losses.classifier.defined());
    (trained.losses.classifier + trained.losses.box_reg).backward();
    EXPECT_GT(heads->box_predictor->bbox_pred->weight.grad().abs().sum().item<double>(), 0.0);
    EXPECT_THROW(heads->forward(features, proposals, sizes),
                 c10::Error);  // training without targets
  }
}
