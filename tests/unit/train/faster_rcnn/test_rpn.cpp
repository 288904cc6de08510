// The region proposal network: anchors, head layout and init, output flattening, proposal
// filtering, anchor targets and the losses against hand-computed cases, then the module.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "faster_rcnn/stages.hpp"
#include "vision/train/faster_rcnn/rpn.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

frcnn::ImageBatch batch(int64_t n, int64_t h, int64_t w,
                        std::vector<std::array<int64_t, 2>> sizes) {
  return {torch::zeros({n, 3, h, w}), std::move(sizes)};
}

frcnn::FeatureMaps maps(std::vector<torch::Tensor> tensors) {
  std::vector<std::string> names;
  for (size_t i = 0; i < tensors.size(); ++i) names.push_back(std::to_string(i));
  return {names, std::move(tensors)};
}

}  // namespace

TEST(AnchorGenerator, CellAnchorsRoundedRatioMajor) {
  // Size 32: ratio 0.5 → w = 32·√2 ≈ 45.25, h ≈ 22.63, halves ±22.63 / ±11.31 → 23, 11;
  // size 5, ratio 1: ±2.5 rounds half to even → ±2.
  const frcnn::AnchorGenerator generator({{{32, 64}, {5}}, {{0.5, 1.0, 2.0}, {1.0}}});
  EXPECT_EQ(generator.num_anchors_per_location(), (std::vector<int64_t>{6, 1}));
  const auto expected = torch::tensor({{-23.0, -11.0, 23.0, 11.0},
                                       {-45.0, -23.0, 45.0, 23.0},
                                       {-16.0, -16.0, 16.0, 16.0},
                                       {-32.0, -32.0, 32.0, 32.0},
                                       {-11.0, -23.0, 11.0, 23.0},
                                       {-23.0, -45.0, 23.0, 45.0}});
  EXPECT_TRUE(torch::equal(generator.cell_anchors()[0], expected));
  EXPECT_TRUE(torch::equal(generator.cell_anchors()[1], torch::tensor({{-2.0, -2.0, 2.0, 2.0}})));
}

TEST(AnchorGenerator, LocationMajorThenAnchorWithIntegerStrides) {
  const frcnn::AnchorGenerator generator({{{16}, {32}}, {{1.0, 2.0}, {1.0}}});
  // Padded batch 100 × 64: a 13 × 8 map has strides 100 / 13 = 7 (integer) and 8.
  const auto anchors = generator(batch(2, 100, 64, {{100, 64}, {90, 60}}),
                                 maps({torch::zeros({2, 4, 13, 8}), torch::zeros({2, 4, 2, 2})}));
  ASSERT_EQ(anchors.sizes(), (std::vector<int64_t>{13 * 8 * 2 + 4, 4}));
  // Map 0: location (x 0, y 0) with both anchors, then (x 8, y 0), …; row 1 starts at y 7.
  EXPECT_TRUE(torch::equal(anchors[0], torch::tensor({-8.0, -8.0, 8.0, 8.0})));
  EXPECT_TRUE(torch::equal(anchors[1], torch::tensor({-6.0, -11.0, 6.0, 11.0})));
  EXPECT_TRUE(torch::equal(anchors[2], torch::tensor({0.0, -8.0, 16.0, 8.0})));
  EXPECT_TRUE(torch::equal(anchors[16], torch::tensor({-8.0, -1.0, 8.0, 15.0})));
  // Map 1 (stride 50 × 32) follows: (0,0), (32,0), (0,50), (32,50).
  EXPECT_TRUE(torch::equal(anchors.slice(0, 208), torch::tensor({{-16.0, -16.0, 16.0, 16.0},
                                                                 {16.0, -16.0, 48.0, 16.0},
                                                                 {-16.0, 34.0, 16.0, 66.0},
                                                                 {16.0, 34.0, 48.0, 66.0}})));
}

TEST(RpnHead, TorchvisionNamesShapesAndInit) {
  torch::manual_seed(1);
  frcnn::RpnHead head(256, 3, 2);
  std::set<std::string> names;
  for (const auto& p : head->named_parameters()) names.insert(p.key());
  EXPECT_EQ(names, (std::set<std::string>{"conv.0.0.weight", "conv.0.0.bias", "conv.1.0.weight",
                                          "conv.1.0.bias", "cls_logits.weight", "cls_logits.bias",
                                          "bbox_pred.weight", "bbox_pred.bias"}));
  // N(0, 0.01²) weights, zero biases.
  EXPECT_NEAR(head->named_parameters()["conv.0.0.weight"].std().item<double>(), 0.01, 5e-4);
  EXPECT_EQ(head->cls_logits->bias.abs().sum().item<double>(), 0.0);
  const auto [logits, deltas] =
      head->forward({torch::rand({2, 256, 6, 5}), torch::rand({2, 256, 3, 3})});
  EXPECT_EQ(logits[0].sizes(), (std::vector<int64_t>{2, 3, 6, 5}));
  EXPECT_EQ(deltas[1].sizes(), (std::vector<int64_t>{2, 12, 3, 3}));
}

TEST(FlattenRpnOutputs, OrdersByLocationThenAnchor) {
  // One image, 2 anchors, a 1 × 2 map: objectness channel a at column x is 10·a + x.
  const auto objectness = torch::tensor({0.0, 1.0, 10.0, 11.0}).view({1, 2, 1, 2});
  // Deltas channel 4·a + k at column x is 100·a + 10·k + x.
  std::vector<float> d;
  for (int a = 0; a < 2; ++a)
    for (int k = 0; k < 4; ++k)
      for (int x = 0; x < 2; ++x) d.push_back(100 * a + 10 * k + x);
  const auto deltas = torch::tensor(d).view({1, 8, 1, 2});
  const auto [flat_objectness, flat_deltas] = frcnn::flatten_rpn_outputs({objectness}, {deltas});
  EXPECT_TRUE(torch::equal(flat_objectness, torch::tensor({{0.0, 10.0, 1.0, 11.0}})));
  EXPECT_TRUE(torch::equal(flat_deltas[0][1], torch::tensor({100.0, 110.0, 120.0, 130.0})));
  EXPECT_TRUE(torch::equal(flat_deltas[0][2], torch::tensor({1.0, 11.0, 21.0, 31.0})));
}

TEST(FilterProposals, TopKClipSmallScoreNmsPerMapAndTopN) {
  // Map 0 has 4 anchors, map 1 has 2. Per image 100 × 100 and 40 × 40.
  const auto boxes =
      torch::tensor({{10.0, 10.0, 50.0, 50.0},      // logit 2: kept
                     {12.0, 12.0, 52.0, 52.0},      // logit 1: IoU 0.82 with 0 → suppressed
                     {-30.0, -30.0, -10.0, -10.0},  // logit 3: clipped to nothing → dropped
                     {60.0, 60.0, 90.0, 90.0},      // logit −5: 4th of map 0, past top 3
                     {11.0, 11.0, 51.0, 51.0},      // logit 0.5: overlaps 0, other map → kept
                     {70.0, 70.0, 120.0, 130.0}});  // logit −3: sigmoid 0.047 < 0.05
  const auto proposals = torch::stack({boxes, boxes});
  const auto logits = torch::tensor({2.0, 1.0, 3.0, -5.0, 0.5, -3.0}).repeat({2, 1});
  const frcnn::ProposalFilter filter{3, 10, 0.7, 0.05};
  const auto [kept, scores] =
      frcnn::filter_proposals(proposals, logits, {{100, 100}, {40, 40}}, {4, 2}, filter);
  EXPECT_TRUE(
      torch::equal(kept[0], torch::tensor({{10.0, 10.0, 50.0, 50.0}, {11.0, 11.0, 51.0, 51.0}})));
  EXPECT_TRUE(torch::allclose(scores[0], torch::sigmoid(torch::tensor({2.0, 0.5}))));
  EXPECT_TRUE(
      torch::equal(kept[1], torch::tensor({{10.0, 10.0, 40.0, 40.0}, {11.0, 11.0, 40.0, 40.0}})));

  // post_nms_top_n keeps the best; with no score threshold the clipped low scorer stays, last.
  EXPECT_EQ(
      frcnn::filter_proposals(proposals, logits, {{100, 100}, {40, 40}}, {4, 2}, {3, 1, 0.7, 0.05})
          .first[0]
          .size(0),
      1);
  const auto all =
      frcnn::filter_proposals(proposals, logits, {{100, 100}, {40, 40}}, {4, 2}, {3, 10, 0.7, 0.0});
  EXPECT_TRUE(torch::equal(all.first[0][2], torch::tensor({70.0, 70.0, 100.0, 100.0})));
}

TEST(AssignAnchorTargets, LabelsAndMatchedBoxes) {
  const auto anchors = torch::tensor({{0.0, 0.0, 10.0, 10.0},    // IoU 1
                                      {0.0, 0.0, 10.0, 9.0},     // 0.9
                                      {20.0, 20.0, 30.0, 30.0},  // 0
                                      {0.0, 0.0, 10.0, 5.0}});   // 0.5: between 0.3 and 0.7
  const frcnn::Matcher matcher(0.7, 0.3, true);
  const std::vector<frcnn::ImageTargets> targets = {
      {torch::tensor({{0.0, 0.0, 10.0, 10.0}}), torch::tensor({1}, torch::kLong)},
      {torch::zeros({0, 4}), torch::zeros({0}, torch::kLong)}};
  const auto assigned = frcnn::assign_anchor_targets(anchors, targets, matcher);
  EXPECT_TRUE(torch::equal(assigned.labels[0], torch::tensor({1.0, 1.0, 0.0, -1.0})));
  EXPECT_TRUE(
      torch::equal(assigned.matched_gt[0], torch::tensor({0.0, 0.0, 10.0, 10.0}).repeat({4, 1})));
  EXPECT_TRUE(torch::equal(assigned.labels[1], torch::zeros({4})));
}

TEST(RpnLoss, HandComputedTinyExample) {
  // Anchors: positive, negative, ignored, negative; the batch takes all three sampled ones.
  const auto labels = torch::tensor({1.0, 0.0, -1.0, 0.0});
  const auto logits = torch::tensor({2.0, -1.0, 5.0, 0.0});
  const auto targets = torch::zeros({4, 4});
  auto deltas = torch::zeros({4, 4});
  deltas[0] = torch::tensor({0.05, 0.5, -0.2, 0.0});
  deltas[2] = torch::tensor({9.0, 9.0, 9.0, 9.0});  // ignored: no box loss
  const auto losses = frcnn::rpn_loss(logits, deltas, {labels}, {targets}, 256, 0.5);
  // BCE: −ln σ(2), −ln(1 − σ(−1)) = ln(1 + e^−1), ln 2; mean of 3.
  const double bce = (std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-1.0)) + std::log(2.0)) / 3;
  EXPECT_NEAR(losses.objectness.item<double>(), bce, 1e-6);
  // Smooth L1, β = 1/9: 0.5·d²/β for |d| < β, else |d| − β/2; summed, over 3 sampled.
  const double beta = 1.0 / 9;
  const double l1 = 0.5 * 0.05 * 0.05 / beta + (0.5 - beta / 2) + (0.2 - beta / 2);
  EXPECT_NEAR(losses.box_reg.item<double>(), l1 / 3, 1e-6);
}

TEST(RegionProposalNetwork, EvalProposalsAndTrainingLosses) {
  torch::manual_seed(4);
  frcnn::RpnOptions options;
  options.anchors = {{{16, 32}, {16, 32}}, {{0.5, 1.0, 2.0}, {0.5, 1.0, 2.0}}};
  options.in_channels = 8;
  options.post_nms_top_n_test = 20;
  frcnn::RegionProposalNetwork rpn(options);
  const auto images = batch(2, 64, 64, {{64, 64}, {60, 50}});
  const auto features = maps({torch::rand({2, 8, 8, 8}), torch::rand({2, 8, 4, 4})});

  rpn->eval();
  const auto out = rpn->forward(images, features);
  ASSERT_EQ(out.boxes.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_LE(out.boxes[i].size(0), 20);
    EXPECT_GT(out.boxes[i].size(0), 0);
    EXPECT_LE(out.boxes[i].select(1, 2).max().item<double>(), images.sizes[i][1]);
    EXPECT_LE(out.boxes[i].select(1, 3).max().item<double>(), images.sizes[i][0]);
    EXPECT_TRUE(torch::equal(out.scores[i], std::get<0>(out.scores[i].sort(0, true))));
  }
  EXPECT_FALSE(out.losses.objectness.defined());

  rpn->train();
  const std::vector<frcnn::ImageTargets> targets = {
      {torch::tensor({{8.0, 8.0, 40.0, 30.0}}), torch::tensor({1}, torch::kLong)},
      {torch::zeros({0, 4}), torch::zeros({0}, torch::kLong)}};
  const auto trained = rpn->forward(images, features, targets);
  ASSERT_TRUE(trained.losses.objectness.defined());
  EXPECT_GT(trained.losses.box_reg.item<double>(), 0.0);
  (trained.losses.objectness + trained.losses.box_reg).backward();
  EXPECT_GT(rpn->head->cls_logits->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_THROW(rpn->forward(images, features), c10::Error);  // training without targets
}
