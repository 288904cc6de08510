// Validation during training: the val split kept in memory when it fits the budget, read again
// every evaluation when it does not, with the same figures either way.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <filesystem>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "validation.hpp"
#include "vision/data/synthetic_shapes.hpp"

namespace fs = std::filesystem;
using vision::DatasetItem;
using vision::test::TempDir;
using vision::train::ValidationSet;

namespace {

const std::vector<std::string> k_names = {"circle", "square", "triangle", "star"};

// Shapes images, each labelled with one box over most of the image, of class i % 4: an
// untrained model's wide boxes, clipped to the image, overlap it, so detections match truth and
// the scores the model gives each image decide the figures.
std::vector<DatasetItem> write_items(const fs::path& dir, int n) {
  std::vector<DatasetItem> items;
  for (int i = 0; i < n; ++i) {
    const auto sample = vision::make_shape_sample(static_cast<std::uint64_t>(40 + i), {.size = 96});
    DatasetItem item;
    item.image = dir / ("val" + std::to_string(i) + ".png");
    cv::imwrite(item.image.string(), sample.image);
    item.boxes.push_back({i % 4, 0.5F, 0.5F, 0.9F, 0.9F});
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace

// An untrained model whose class outputs start at 0 (probability 0.5) rather than at the few-
// objects prior: every anchor passes the 0.001 threshold, so the figures depend on what the
// model sees in each image and on the boxes of that image.
vision::train::YoloDetector eager_model() {
  torch::manual_seed(3);
  vision::train::YoloDetector model(vision::YoloModelOptions{4, 'n', 16});
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < model->head->cls->size(); ++i) {
    model->head->cls[i]->as<torch::nn::Sequential>()->ptr(2)->as<torch::nn::Conv2d>()->bias.zero_();
  }
  return model;
}

TEST(ValidationSet, ReadingEachEpochGivesTheCachedFigures) {
  TempDir dir;
  const auto items = write_items(dir.path(), 5);
  auto model = eager_model();

  auto cached = ValidationSet::load(items, 64);
  auto uncached =
      ValidationSet::load(items, 64, /*cache_bytes=*/3 * 64 * 64 * 4);  // room for 4 of 5
  ASSERT_TRUE(cached) << cached.error().message;
  ASSERT_TRUE(uncached) << uncached.error().message;
  EXPECT_TRUE(cached->cached());
  EXPECT_FALSE(uncached->cached());
  EXPECT_EQ(uncached->size(), 5U);

  const auto a = cached->evaluate(*model, k_names, 2);
  const auto b = uncached->evaluate(*model, k_names, 2);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(a->images, 5);
  EXPECT_GT(a->instances, 0);
  EXPECT_GT(a->map50, 0.0)
      << "the figures must not be empty, or they would match whatever was read";
  EXPECT_EQ(b->instances, a->instances);
  EXPECT_DOUBLE_EQ(b->precision, a->precision);
  EXPECT_DOUBLE_EQ(b->recall, a->recall);
  EXPECT_DOUBLE_EQ(b->map50_95, a->map50_95);
  EXPECT_EQ(b->confusion, a->confusion);

  // The same images paired with each other's boxes give other figures: the equality above is
  // about reading the right image for each truth.
  auto swapped = items;
  std::swap(swapped[0].image, swapped[1].image);
  std::swap(swapped[2].image, swapped[3].image);
  const auto c = ValidationSet::load(swapped, 64, 0)->evaluate(*model, k_names, 2);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_NE(c->map50_95, a->map50_95);
}

TEST(ValidationSet, AnImageGoneSinceLoadingIsAnErrorNamingIt) {
  TempDir dir;
  const auto items = write_items(dir.path(), 3);
  auto model = eager_model();
  auto set = ValidationSet::load(items, 64, /*cache_bytes=*/0);
  ASSERT_TRUE(set) << set.error().message;
  fs::remove(items[1].image);
  const auto metrics = set->evaluate(*model, k_names, 2);
  ASSERT_FALSE(metrics);
  EXPECT_NE(metrics.error().message.find("val1.png"), std::string::npos) << metrics.error().message;
  EXPECT_TRUE(model->is_training()) << "evaluate puts the model back in training mode";
}

TEST(ValidationSet, AnUnreadableImageFailsTheLoad) {
  TempDir dir;
  auto items = write_items(dir.path(), 2);
  vision::test::write_text(items[0].image, "not an image");
  const auto set = ValidationSet::load(items, 64);
  ASSERT_FALSE(set);
  EXPECT_NE(set.error().message.find("val0.png"), std::string::npos) << set.error().message;
}

TEST(ValidationSet, AnImageThatChangedSizeIsAnError) {
  TempDir dir;
  const auto items = write_items(dir.path(), 2);
  auto model = eager_model();
  auto set = ValidationSet::load(items, 64, /*cache_bytes=*/0);
  ASSERT_TRUE(set) << set.error().message;
  cv::imwrite(items[0].image.string(), vision::make_shape_sample(1, {.size = 80}).image);
  const auto metrics = set->evaluate(*model, k_names, 2);
  ASSERT_FALSE(metrics);
  EXPECT_NE(metrics.error().message.find("val0.png"), std::string::npos) << metrics.error().message;
  EXPECT_NE(metrics.error().message.find("changed size"), std::string::npos)
      << metrics.error().message;
}
