// Validation during training: the val split kept in memory when it fits the budget, read again
// every evaluation when it does not, with the same figures either way.
#include <gtest/gtest.h>

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

std::vector<DatasetItem> write_items(const fs::path& dir, int n) {
  std::vector<DatasetItem> items;
  for (int i = 0; i < n; ++i) {
    auto sample = vision::make_shape_sample(static_cast<std::uint64_t>(40 + i), {.size = 96});
    DatasetItem item;
    item.image = dir / ("val" + std::to_string(i) + ".png");
    cv::imwrite(item.image.string(), sample.image);
    item.boxes = std::move(sample.boxes);
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace

TEST(ValidationSet, ReadingEachEpochGivesTheCachedFigures) {
  TempDir dir;
  const auto items = write_items(dir.path(), 5);
  torch::manual_seed(3);
  vision::train::YoloDetector model(vision::YoloModelOptions{4, 'n', 16});

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
  EXPECT_EQ(b->instances, a->instances);
  EXPECT_DOUBLE_EQ(b->precision, a->precision);
  EXPECT_DOUBLE_EQ(b->recall, a->recall);
  EXPECT_DOUBLE_EQ(b->map50_95, a->map50_95);
  EXPECT_EQ(b->confusion, a->confusion);
}

TEST(ValidationSet, AnImageGoneSinceLoadingIsAnErrorNamingIt) {
  TempDir dir;
  const auto items = write_items(dir.path(), 3);
  vision::train::YoloDetector model(vision::YoloModelOptions{4, 'n', 16});
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
