// Box IoU, clipping, small-box removal, the box coder and (batched) NMS of the Faster R-CNN
// heads against hand-computed cases and, for NMS, a naive reference on random boxes.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "faster_rcnn/box_ops.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

torch::Tensor random_boxes(int64_t n, double extent) {
  const auto xy = torch::rand({n, 2}, torch::kFloat) * extent;
  const auto wh = torch::rand({n, 2}, torch::kFloat) * extent / 4 + 1;
  return torch::cat({xy, xy + wh}, 1);
}

// The textbook greedy NMS over a full IoU matrix: visit by score (ties by index), keep a box
// unless a kept box of its group overlaps it by more than the threshold.
std::vector<int64_t> naive_nms(const torch::Tensor& boxes, const torch::Tensor& scores,
                               const torch::Tensor& groups, double threshold) {
  const auto iou = frcnn::box_iou(boxes, boxes);
  const auto order = std::get<1>(scores.sort(/*stable=*/true, 0, /*descending=*/true));
  const auto overlap = iou.accessor<float, 2>();
  const auto group = groups.accessor<int64_t, 1>();
  std::vector<int64_t> kept;
  for (int64_t k = 0; k < order.size(0); ++k) {
    const int64_t i = order[k].item<int64_t>();
    if (std::ranges::none_of(
            kept, [&](int64_t j) { return group[i] == group[j] && overlap[i][j] > threshold; }))
      kept.push_back(i);
  }
  return kept;
}

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const auto c = t.to(torch::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

}  // namespace

TEST(BoxIou, HandComputedPairs) {
  const auto a = torch::tensor({{0.0, 0.0, 2.0, 2.0}, {0.0, 0.0, 4.0, 1.0}});
  const auto b = torch::tensor({{1.0, 1.0, 3.0, 3.0}, {0.0, 0.0, 2.0, 2.0}, {5.0, 5.0, 6.0, 6.0}});
  // [0,0,2,2]∩[1,1,3,3] = 1, union 7; [0,0,4,1] only touches [1,1,3,3] (zero height) and
  // meets [0,0,2,2] in 2, union 4 + 4 − 2.
  const auto expected = torch::tensor({{1.0 / 7, 1.0, 0.0}, {0.0, 2.0 / 6, 0.0}});
  EXPECT_TRUE(torch::allclose(frcnn::box_iou(a, b), expected.to(torch::kFloat)));
}

TEST(ClipBoxesToImage, ClampsXToWidthAndYToHeight) {
  const auto boxes = torch::tensor({{-5.0, 3.0, 20.0, 40.0}, {2.0, -1.0, 8.0, 25.0}});
  const auto clipped = frcnn::clip_boxes_to_image(boxes, {30, 10});  // h 30, w 10
  EXPECT_TRUE(
      torch::equal(clipped, torch::tensor({{0.0, 3.0, 10.0, 30.0}, {2.0, 0.0, 8.0, 25.0}})));
}

TEST(RemoveSmallBoxes, KeepsSidesAtLeastMinSize) {
  const auto boxes =
      torch::tensor({{0.0, 0.0, 1.0, 1.0}, {0.0, 0.0, 0.0005, 1.0}, {0.0, 0.0, 1.0, 0.25}});
  EXPECT_EQ(to_vector(frcnn::remove_small_boxes(boxes, 0.25)), (std::vector<int64_t>{0, 2}));
}

TEST(BoxCoder, EncodesHandComputedOffsets) {
  // Reference [0,0,10,20]: centre (5,10), 10 × 20. Box [0,0,20,40]: centre (10,20), 20 × 40.
  // dx = 5/10, dy = 10/20, dw = dh = ln 2; times the RoI weights (10,10,5,5).
  const auto reference = torch::tensor({{0.0, 0.0, 10.0, 20.0}}, torch::kDouble);
  const auto box = torch::tensor({{0.0, 0.0, 20.0, 40.0}}, torch::kDouble);
  const auto codes = frcnn::BoxCoder({10, 10, 5, 5}).encode(box, reference);
  const auto expected =
      torch::tensor({{5.0, 5.0, 5 * std::log(2.0), 5 * std::log(2.0)}}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(codes, expected));
}

TEST(BoxCoder, DecodeInvertsEncodeForBothWeightSets) {
  torch::manual_seed(3);
  const auto references = random_boxes(50, 100).to(torch::kDouble);
  const auto boxes = random_boxes(50, 100).to(torch::kDouble);
  for (const std::array<double, 4> weights :
       {std::array<double, 4>{1, 1, 1, 1}, std::array<double, 4>{10, 10, 5, 5}}) {
    const frcnn::BoxCoder coder(weights);
    const auto decoded = coder.decode(coder.encode(boxes, references), references);
    ASSERT_EQ(decoded.sizes(), (std::vector<int64_t>{50, 1, 4}));
    EXPECT_TRUE(torch::allclose(decoded.squeeze(1), boxes, 1e-9, 1e-9));
  }
}

TEST(BoxCoder, DecodesSeveralBoxesPerReferenceAndClampsScale) {
  const auto reference = torch::tensor({{0.0, 0.0, 16.0, 8.0}});
  // Two boxes per reference; the second asks for e^100 and gets 1000/16 times the size.
  const auto codes = torch::tensor({{0.5, -0.25, 0.0, 0.0, 0.0, 0.0, 100.0, 100.0}});
  const auto decoded = frcnn::BoxCoder({1, 1, 1, 1}).decode(codes, reference);
  ASSERT_EQ(decoded.sizes(), (std::vector<int64_t>{1, 2, 4}));
  // Centre (8,4) + (0.5·16, −0.25·8) = (16, 2), same size 16 × 8.
  EXPECT_TRUE(
      torch::allclose(decoded[0][0], torch::tensor({8.0, -2.0, 24.0, 6.0}).to(torch::kFloat)));
  EXPECT_TRUE(torch::allclose(decoded[0][1],
                              torch::tensor({-492.0, -246.0, 508.0, 254.0}).to(torch::kFloat)));
}

TEST(Nms, SuppressesOverlapsAboveThresholdHighestScoreFirst) {
  // B overlaps A by 81 / 119 ≈ 0.68; C is apart. Scores out of order on purpose.
  const auto boxes =
      torch::tensor({{20.0, 20.0, 30.0, 30.0}, {0.0, 0.0, 10.0, 10.0}, {1.0, 1.0, 11.0, 11.0}});
  const auto scores = torch::tensor({0.7, 0.9, 0.8});
  EXPECT_EQ(to_vector(frcnn::nms(boxes, scores, 0.5)), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(to_vector(frcnn::nms(boxes, scores, 0.7)), (std::vector<int64_t>{1, 2, 0}));
  EXPECT_EQ(frcnn::nms(torch::zeros({0, 4}), torch::zeros({0}), 0.5).numel(), 0);
}

TEST(Nms, EqualsNaiveReferenceOnRandomBoxes) {
  torch::manual_seed(11);
  for (int round = 0; round < 5; ++round) {
    const auto boxes = random_boxes(300, 200);
    // Coarse scores so ties occur: they must keep their input order.
    const auto scores = torch::randint(0, 40, {300}).to(torch::kFloat) / 40;
    const auto groups = torch::zeros({300}, torch::kLong);
    for (const double threshold : {0.3, 0.5, 0.7})
      EXPECT_EQ(to_vector(frcnn::nms(boxes, scores, threshold)),
                naive_nms(boxes, scores, groups, threshold));
  }
}

TEST(BatchedNms, NeverSuppressesAcrossGroups) {
  const auto boxes =
      torch::tensor({{0.0, 0.0, 10.0, 10.0}, {0.0, 0.0, 10.0, 10.0}, {1.0, 0.0, 10.0, 10.0}});
  const auto scores = torch::tensor({0.9, 0.8, 0.7});
  const auto groups = torch::tensor({1, 2, 1}, torch::kLong);
  EXPECT_EQ(to_vector(frcnn::batched_nms(boxes, scores, groups, 0.5)),
            (std::vector<int64_t>{0, 1}));
}

TEST(BatchedNms, EqualsNaiveReferenceOnRandomBoxes) {
  torch::manual_seed(12);
  // 400 boxes take the offset trick, 1500 one NMS per group.
  for (const int64_t n : {400, 400, 400, 1500, 1500}) {
    const auto boxes = random_boxes(n, 300);
    const auto scores = torch::rand({n});
    const auto groups = torch::randint(0, 5, {n}, torch::kLong);
    for (const double threshold : {0.5, 0.7})
      EXPECT_EQ(to_vector(frcnn::batched_nms(boxes, scores, groups, threshold)),
                naive_nms(boxes, scores, groups, threshold));
  }
}
