// RoIAlign against a direct per-sample bilinear loop and against torchvision.ops.roi_align,
// its gradient, the FPN level rule and MultiScaleRoiAlign against torchvision's figures.
// The torchvision figures come from bench/faster_rcnn/head_reference.py (torchvision 0.21).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "faster_rcnn/roi_align.hpp"
#include "reference_inputs.hpp"
#include "vision/train/faster_rcnn/roi_heads.hpp"

namespace frcnn = vision::train::faster_rcnn;
using frcnn::testing::reference_feature;

namespace {

// One bilinear sample of map [H, W] as RoIAlign's kernel takes it, written out plainly.
double sample(const torch::TensorAccessor<double, 2>& map, int64_t height, int64_t width, double y,
              double x) {
  if (y < -1.0 || y > height || x < -1.0 || x > width) return 0.0;
  y = std::max(y, 0.0);
  x = std::max(x, 0.0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1 = y0 + 1, x1 = x0 + 1;
  if (y0 >= height - 1) {
    y0 = y1 = height - 1;
    y = static_cast<double>(y0);
  }
  if (x0 >= width - 1) {
    x0 = x1 = width - 1;
    x = static_cast<double>(x0);
  }
  const double ly = y - y0, lx = x - x0;
  return (1 - ly) * (1 - lx) * map[y0][x0] + (1 - ly) * lx * map[y0][x1] +
         ly * (1 - lx) * map[y1][x0] + ly * lx * map[y1][x1];
}

// RoIAlign (aligned = false) one output value at a time.
torch::Tensor direct_roi_align(const torch::Tensor& input, const torch::Tensor& rois, double scale,
                               int64_t out_h, int64_t out_w, int64_t ratio) {
  const auto in = input.to(torch::kDouble).contiguous();
  const auto r = rois.to(torch::kDouble).contiguous();
  const auto a = in.accessor<double, 4>();
  const auto ra = r.accessor<double, 2>();
  const int64_t channels = in.size(1), height = in.size(2), width = in.size(3);
  auto out = torch::zeros({r.size(0), channels, out_h, out_w}, torch::kDouble);
  auto o = out.accessor<double, 4>();
  for (int64_t k = 0; k < r.size(0); ++k) {
    const auto n = static_cast<int64_t>(ra[k][0]);
    const double x1 = ra[k][1] * scale, y1 = ra[k][2] * scale;
    const double bin_w = std::max(ra[k][3] * scale - x1, 1.0) / out_w;
    const double bin_h = std::max(ra[k][4] * scale - y1, 1.0) / out_h;
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t ph = 0; ph < out_h; ++ph)
        for (int64_t pw = 0; pw < out_w; ++pw) {
          double sum = 0;
          for (int64_t iy = 0; iy < ratio; ++iy)
            for (int64_t ix = 0; ix < ratio; ++ix)
              sum += sample(a[n][c], height, width, y1 + ph * bin_h + (iy + 0.5) * bin_h / ratio,
                            x1 + pw * bin_w + (ix + 0.5) * bin_w / ratio);
          o[k][c][ph][pw] = sum / static_cast<double>(ratio * ratio);
        }
  }
  return out;
}

}  // namespace

TEST(RoiAlign, EqualsDirectBilinearLoop) {
  torch::manual_seed(8);
  const auto input = torch::randn({2, 3, 10, 12});
  // scale 0.25: the map covers 48 × 40 image pixels.
  const auto rois = torch::tensor({{0.0, 4.0, 6.0, 30.0, 22.0},      // inside
                                   {1.0, 0.0, 0.0, 48.0, 40.0},      // the whole map
                                   {1.0, 10.3, 7.9, 11.0, 9.0},      // under one cell
                                   {0.0, -9.0, -3.0, 20.0, 15.0},    // starts before the map
                                   {1.0, 30.0, 25.0, 70.0, 61.0}});  // runs past it
  for (const int64_t ratio : {1, 2, 3}) {
    const auto ours = frcnn::roi_align(input, rois, 0.25, 7, 7, ratio);
    ASSERT_EQ(ours.sizes(), (std::vector<int64_t>{5, 3, 7, 7}));
    EXPECT_TRUE(torch::allclose(ours.to(torch::kDouble),
                                direct_roi_align(input, rois, 0.25, 7, 7, ratio), 1e-5, 1e-5))
        << "sampling ratio " << ratio;
  }
  const auto wide = frcnn::roi_align(input, rois, 0.25, 2, 5, 2);
  EXPECT_TRUE(torch::allclose(wide.to(torch::kDouble), direct_roi_align(input, rois, 0.25, 2, 5, 2),
                              1e-5, 1e-5));
  EXPECT_EQ(frcnn::roi_align(input, torch::zeros({0, 5}), 0.25, 7, 7, 2).sizes(),
            (std::vector<int64_t>{0, 3, 7, 7}));
}

TEST(RoiAlign, EqualsTorchvision) {
  const auto rois = torch::tensor(
      {{0.0, 1.0, 2.0, 9.0, 7.0}, {0.0, 3.3, 0.4, 3.9, 1.0}, {0.0, 10.0, 6.0, 17.5, 14.0}});
  const auto expected =
      torch::tensor({-0.49021721, 0.77801037,  1.85556412,  0.64015079,  -1.18067420, -2.71214271,
                     -2.48559332, -1.84310675, -0.74891412, 3.55293083,  2.60207081,  1.01349318,
                     1.29163933,  1.32417369,  1.32384741,  -3.43357253, -4.21697140, -4.90339804,
                     0.30545506,  0.46152523,  0.60777950,  4.26582432,  3.49848485,  2.63469410,
                     0.07902971,  0.07942522,  0.03935659,  -4.53738308, -4.93944359, -2.48454809,
                     0.02125445,  0.05196470,  0.02873206,  -0.41393083, -2.42267060, -1.39605498});
  const auto ours = frcnn::roi_align(reference_feature(2, 6, 8), rois, 0.5, 2, 3, 2);
  EXPECT_TRUE(torch::allclose(ours.flatten(), expected, 1e-5, 1e-5)) << ours.flatten();
}

TEST(RoiAlign, GradientIsTheSamplingWeights) {
  torch::manual_seed(9);
  auto input = torch::randn({1, 2, 6, 6}, torch::kDouble).requires_grad_(true);
  const auto rois =
      torch::tensor({{0.0, 1.0, 1.0, 9.0, 7.0}, {0.0, 2.5, 3.0, 10.0, 10.0}}, torch::kDouble);
  frcnn::roi_align(input, rois, 0.5, 3, 3, 2).sum().backward();
  // Inside the map every bin's weights sum to 1: the gradient sums to rois · channels · bins.
  EXPECT_NEAR(input.grad().sum().item<double>(), 2 * 2 * 9, 1e-9);
  // RoIAlign is linear in its input, so a unit step in one cell changes the sum by its gradient.
  torch::NoGradGuard no_grad;
  const double base = frcnn::roi_align(input, rois, 0.5, 3, 3, 2).sum().item<double>();
  for (const int64_t cell : {0, 7, 14, 21, 35, 40}) {
    auto bumped = input.detach().clone();
    bumped.view(-1)[cell] += 1.0;
    EXPECT_NEAR(frcnn::roi_align(bumped, rois, 0.5, 3, 3, 2).sum().item<double>() - base,
                input.grad().view(-1)[cell].item<double>(), 1e-9);
  }
}

TEST(MapLevels, FpnRuleClampedToPooledLevels) {
  const auto boxes = torch::tensor({{0.0, 0.0, 224.0, 224.0},      // level 4
                                    {10.0, 10.0, 122.0, 122.0},    // 112: level 3
                                    {0.0, 0.0, 56.0, 56.0},        // 56: level 2
                                    {0.0, 0.0, 448.0, 448.0},      // level 5
                                    {0.0, 0.0, 10.0, 10.0},        // below: clamped to 2
                                    {0.0, 0.0, 2000.0, 2000.0}});  // above: clamped to 5
  EXPECT_TRUE(torch::equal(frcnn::map_levels(boxes, 2, 5),
                           torch::tensor({2, 1, 0, 3, 0, 3}, torch::kLong)));
}

TEST(InferScale, NearestPowerOfTwoOfTheHeightRatio) {
  EXPECT_EQ(frcnn::infer_scale(64, 256), 0.25);
  EXPECT_EQ(frcnn::infer_scale(13, 100), 0.125);  // 0.13: log2 −2.94 → −3
  EXPECT_EQ(frcnn::infer_scale(38, 100), 0.5);    // 0.38: log2 −1.40 → −1
  EXPECT_EQ(frcnn::infer_scale(50, 800), 1.0 / 16);
}

TEST(MultiScaleRoiAlign, EqualsTorchvision) {
  frcnn::MultiScaleRoiAlign pool(std::vector<std::string>{"0", "1"}, 2, 2);
  const frcnn::FeatureMaps maps{
      {"0", "1", "2"},
      {reference_feature(2, 64, 64), reference_feature(2, 32, 32) * 0.5 + 1,
       reference_feature(2, 16, 16)}};
  const auto boxes = torch::tensor({{10.0, 20.0, 66.0, 76.0},    // 56 px: map "0"
                                    {30.0, 40.0, 142.0, 152.0},  // 112 px: map "1"
                                    {0.0, 0.0, 250.0, 240.0},    // clamped to map "1"
                                    {5.0, 5.0, 9.0, 9.0}});      // clamped to map "0"
  const auto expected = torch::tensor(
      {-3.30472374, 4.85606766,  5.06996727,  -4.64614677, 2.75169969,  -0.08819211, 0.89229870,
       -3.39588833, 1.38155580,  0.11608982,  0.14519958,  1.33848763,  -0.13242376, 1.94936347,
       0.56128514,  1.92095435,  1.28224397,  1.04746246,  1.42676783,  1.52597880,  1.34602642,
       1.49181318,  0.55643868,  0.74005777,  -7.33789015, -7.34848642, -6.21916199, -7.30745745,
       -2.53165197, -1.23024178, -7.70540714, -6.87272453});
  const auto ours = pool->forward(maps, {boxes}, {{256, 256}});
  ASSERT_EQ(ours.sizes(), (std::vector<int64_t>{4, 2, 2, 2}));
  EXPECT_TRUE(torch::allclose(ours.flatten(), expected, 1e-5, 1e-5)) << ours.flatten();
}

TEST(MultiScaleRoiAlign, SplitsBoxesByImage) {
  // The same box in two images of a batch reads each image's own map.
  frcnn::MultiScaleRoiAlign pool(std::vector<std::string>{"0"}, 7, 2);
  const auto map = torch::stack({torch::ones({4, 16, 16}), torch::full({4, 16, 16}, 3.0)});
  const auto box = torch::tensor({{8.0, 8.0, 40.0, 40.0}});
  const auto out =
      pool->forward(frcnn::FeatureMaps{{"0"}, {map}}, {box, box}, {{64, 64}, {64, 64}});
  EXPECT_TRUE(torch::allclose(out[0], torch::ones({4, 7, 7})));
  EXPECT_TRUE(torch::allclose(out[1], torch::full({4, 7, 7}, 3.0)));
}

TEST(MultiScaleRoiAlign, MapsOfOneScalePoolFromTheFirst) {
  // mobilenet_v3_large_fpn: "0" and "1" are both at stride 32, so k_min = k_max and every box,
  // small or large, pools from "0".
  frcnn::MultiScaleRoiAlign pool(std::vector<std::string>{"0", "1"}, 7, 2);
  const frcnn::FeatureMaps maps{{"0", "1", "pool"},
                                {torch::ones({1, 4, 10, 10}), torch::full({1, 4, 10, 10}, 3.0),
                                 torch::zeros({1, 4, 5, 5})}};
  const auto boxes = torch::tensor({{0.0, 0.0, 16.0, 16.0}, {0.0, 0.0, 320.0, 320.0}});
  const auto out = pool->forward(maps, {boxes}, {{320, 320}});
  EXPECT_TRUE(torch::allclose(out, torch::ones({2, 4, 7, 7})));
}
