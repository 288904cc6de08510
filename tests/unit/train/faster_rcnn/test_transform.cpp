// The Faster R-CNN input transform: min/max sizes from img_size, resized sizes, padding to 32,
// normalisation, the bilinear resize and box scaling there and back. Figures computed by hand;
// bench/faster_rcnn/torchvision_reference.py prints torchvision's for the same cases.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <array>
#include <vector>

#include "vision/train/faster_rcnn/transform.hpp"

namespace frcnn = vision::train::faster_rcnn;
using Size = std::array<int64_t, 2>;

TEST(FasterRcnnTransform, ImgSizeSetsTheShortSideAndTorchvisionsRatioCapsTheLong) {
  struct Case {
    int64_t img_size, max_size;
  };
  // max_size = round(img_size · 1333 / 800).
  for (const Case& c : {Case{800, 1333}, Case{640, 1066}, Case{320, 533}, Case{1024, 1706}, Case{96, 160}}) {
    const auto options = frcnn::transform_options_for_img_size(c.img_size);
    EXPECT_EQ(options.min_size, c.img_size);
    EXPECT_EQ(options.max_size, c.max_size) << "img_size " << c.img_size;
  }
}

TEST(FasterRcnnTransform, ResizedSizesMatchTorchvisions) {
  struct Case {
    int64_t min_size, max_size;
    Size in, out;
  };
  // scale = min(min_size / short, max_size / long), each side floored:
  //   480×640 at 800/1333: min(1.667, 2.083) → 800×1066.67 → 800×1066
  //   1000×300: min(2.667, 1.333) → the long side caps: 1333×399.9 → 1333×399
  //   427×640: min(1.8735, 2.083) → 800×1199.06 → 800×1199
  const std::vector<Case> cases = {
      {800, 1333, {480, 640}, {800, 1066}},  {800, 1333, {375, 500}, {800, 1066}},
      {800, 1333, {1000, 300}, {1333, 399}}, {800, 1333, {333, 333}, {800, 800}},
      {800, 1333, {427, 640}, {800, 1199}},  {640, 1066, {480, 640}, {640, 853}},
      {640, 1066, {1000, 300}, {1066, 319}}, {640, 1066, {427, 640}, {640, 959}},
  };
  for (const auto& c : cases) {
    frcnn::TransformOptions options;
    options.min_size = c.min_size;
    options.max_size = c.max_size;
    EXPECT_EQ(frcnn::resized_size(c.in, options), c.out) << c.in[0] << "x" << c.in[1] << " at " << c.min_size;
  }
}

TEST(FasterRcnnTransform, BatchPadsToMultiplesOf32AndKeepsEachSize) {
  frcnn::TransformOptions options;  // 800 / 1333
  const auto batch = frcnn::transform_images(
      {torch::rand({3, 480, 640}), torch::rand({3, 1000, 300}), torch::rand({3, 427, 640})}, options);
  // Largest h 1333 → 1344, largest w 1199 → 1216.
  EXPECT_EQ(batch.tensors.sizes(), (std::vector<int64_t>{3, 3, 1344, 1216}));
  EXPECT_EQ(batch.sizes, (std::vector<Size>{{800, 1066}, {1333, 399}, {800, 1199}}));
  using torch::indexing::None;
  using torch::indexing::Slice;
  EXPECT_TRUE(batch.tensors.index({1, Slice(), Slice(), Slice(399, None)}).eq(0).all().item<bool>());
  EXPECT_TRUE(batch.tensors.index({0, Slice(), Slice(800, None), Slice()}).eq(0).all().item<bool>());
  EXPECT_FALSE(batch.tensors.index({2, Slice(), Slice(799, 800), Slice(1198, 1199)}).eq(0).all().item<bool>());
}

TEST(FasterRcnnTransform, NormalisesWithImageNetMeanAndStd) {
  frcnn::TransformOptions options;
  auto image = torch::zeros({3, 1, 3});
  image.index_put_({torch::indexing::Slice(), 0, 1}, 1.0);
  image.index_put_({torch::indexing::Slice(), 0, 2}, 0.5);
  const auto out = frcnn::normalize_image(image, options);
  const double mean[] = {0.485, 0.456, 0.406}, std[] = {0.229, 0.224, 0.225};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(out[c][0][0].item<double>(), -mean[c] / std[c], 1e-6);
    EXPECT_NEAR(out[c][0][1].item<double>(), (1.0 - mean[c]) / std[c], 1e-6);
    EXPECT_NEAR(out[c][0][2].item<double>(), (0.5 - mean[c]) / std[c], 1e-6);
  }
  EXPECT_NEAR(out[0][0][0].item<double>(), -2.1179039, 1e-6);
}

TEST(FasterRcnnTransform, ResizesBilinearlyWithHalfPixelCentres) {
  // A 2×3 ramp (r·3 + c) / 10 at min_size 4, max_size 8: scale min(4/2, 8/3) = 2 → 4×6. With
  // align_corners false, output pixel i reads source (i + 0.5)/2 − 0.5, clamped to the image:
  // rows 0, 0.25, 0.75, 1 and columns 0, 0.25, 0.75, 1.25, 1.75, 2.
  frcnn::TransformOptions options;
  options.min_size = 4;
  options.max_size = 8;
  const auto ramp = (torch::arange(6, torch::kFloat32).reshape({1, 2, 3}) / 10).expand({3, 2, 3});
  const auto batch = frcnn::transform_images({ramp}, options);
  EXPECT_EQ(batch.sizes, (std::vector<Size>{{4, 6}}));
  EXPECT_EQ(batch.tensors.sizes(), (std::vector<int64_t>{1, 3, 32, 32}));
  const double rows[] = {0, 0.25, 0.75, 1}, cols[] = {0, 0.25, 0.75, 1.25, 1.75, 2};
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 6; ++x) {
      const double value = (rows[y] * 3 + cols[x]) / 10;
      EXPECT_NEAR(batch.tensors[0][0][y][x].item<double>(), (value - 0.485) / 0.229, 1e-5) << y << "," << x;
    }
  }
  // torchvision's output at (1, 1) and (3, 5) (torchvision_reference.py, "tiny").
  EXPECT_NEAR(batch.tensors[0][0][1][1].item<double>(), -1.681222677230835, 1e-5);
  EXPECT_NEAR(batch.tensors[0][0][3][5].item<double>(), 0.0655021220445633, 1e-5);
}

TEST(FasterRcnnTransform, BoxesFollowTheImageThereAndBack) {
  // 480×640 → 800×1066: x by 1066/640 = 1.665625, y by 800/480 = 5/3.
  const auto box = torch::tensor({{10.0F, 20.0F, 110.0F, 220.0F}});
  const auto resized = frcnn::resize_boxes(box, {480, 640}, {800, 1066});
  const auto expected = torch::tensor({{16.65625F, 33.333333F, 183.21875F, 366.66667F}});
  EXPECT_TRUE(torch::allclose(resized, expected, 1e-6, 1e-4)) << resized;
  EXPECT_TRUE(torch::allclose(frcnn::resize_boxes(resized, {800, 1066}, {480, 640}), box, 1e-6, 1e-4));
  EXPECT_EQ(frcnn::resize_boxes(torch::zeros({0, 4}), {480, 640}, {800, 1066}).sizes(),
            (std::vector<int64_t>{0, 4}));
}

TEST(FasterRcnnTransform, RejectsImagesThatAreNotFloatChw) {
  frcnn::TransformOptions options;
  EXPECT_THROW(frcnn::normalize_image(torch::rand({4, 4}), options), c10::Error);
  EXPECT_THROW(frcnn::normalize_image(torch::zeros({3, 4, 4}, torch::kUInt8), options), c10::Error);
  EXPECT_THROW(frcnn::transform_images({}, options), c10::Error);
}
