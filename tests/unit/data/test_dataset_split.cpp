// The hash split of a labeled folder: the fraction it follows and both splits kept non-empty.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vision/data/dataset_split.hpp"

namespace {

// The first `count` keys "k<i>.jpg" that in_val_split puts on the wanted side at 0.2.
std::vector<std::string> keys_on_side(bool val, std::size_t count) {
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < count; ++i) {
    const std::string key = "k" + std::to_string(i) + ".jpg";
    if (vision::in_val_split(key, 0.2) == val) keys.push_back(key);
  }
  return keys;
}

}  // namespace

TEST(DatasetSplit, ValFollowsTheFraction) {
  int in_val = 0;
  for (int i = 0; i < 2000; ++i) in_val += vision::in_val_split("dir/image_" + std::to_string(i) + ".jpg", 0.2) ? 1 : 0;
  EXPECT_NEAR(in_val, 400, 80);
  EXPECT_FALSE(vision::in_val_split("x.jpg", 0.0));
  EXPECT_TRUE(vision::in_val_split("x.jpg", 1.0));
}

TEST(DatasetSplit, AnEmptyValTakesTheLastTrainKey) {
  const auto keys = keys_on_side(false, 3);
  EXPECT_EQ(vision::val_split(keys, 0.2), (std::vector<bool>{false, false, true}));
}

TEST(DatasetSplit, AnEmptyTrainTakesTheLastValKey) {
  const std::vector<std::string> keys = {"a.jpg", "b.jpg"};
  EXPECT_EQ(vision::val_split(keys, 1.0), (std::vector<bool>{true, false}));
}

TEST(DatasetSplit, NoFractionOrOneKeyMovesNothing) {
  EXPECT_EQ(vision::val_split(keys_on_side(false, 2), 0.0), (std::vector<bool>{false, false}));
  EXPECT_EQ(vision::val_split({"only.jpg"}, 1.0), (std::vector<bool>{true}));
}

TEST(DatasetSplit, KeysKeepTheirSideWhenOthersAreAdded) {
  auto keys = keys_on_side(true, 2);
  const auto train = keys_on_side(false, 2);
  keys.insert(keys.end(), train.begin(), train.end());
  EXPECT_EQ(vision::val_split(keys, 0.2), (std::vector<bool>{true, true, false, false}));
}
