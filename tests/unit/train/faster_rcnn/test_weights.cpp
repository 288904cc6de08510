// Faster R-CNN weight files: a save/load round trip restores every entry, a different class count
// loads all but the predictor, and each way a file can fail to fit names the file (and the key).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>

#include "helpers/test_support.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"
#include "vision/train/faster_rcnn/weights.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

frcnn::FasterRcnn make_model(const std::string& variant, int64_t classes, uint64_t seed) {
  torch::manual_seed(seed);
  return frcnn::FasterRcnn(vision::value_or_throw(frcnn::variant_spec(variant)), classes,
                           frcnn::transform_options_for_img_size(320));
}

// Whether every entry whose name starts with `prefix` holds the same values in both models.
bool same_entries(torch::nn::Module& a, torch::nn::Module& b, const std::string& prefix) {
  const auto b_params = b.named_parameters();
  const auto b_buffers = b.named_buffers();
  for (const auto& p : a.named_parameters()) {
    if (p.key().starts_with(prefix) && !torch::equal(p.value(), b_params[p.key()])) return false;
  }
  for (const auto& entry : a.named_buffers()) {
    if (entry.key().starts_with(prefix) && !torch::equal(entry.value(), b_buffers[entry.key()])) return false;
  }
  return true;
}

}  // namespace

TEST(FasterRcnnWeights, SaveAndLoadRestoreEveryEntry) {
  vision::test::TempDir dir;
  auto saved = make_model("mobilenet_v3", 2, 1);
  ASSERT_TRUE(frcnn::save_weights(dir / "w.pt", *saved, {"mobilenet_v3", {"cat", "dog"}, 320}));
  EXPECT_FALSE(std::filesystem::exists(dir / "w.pt.tmp"));
  auto loaded = make_model("mobilenet_v3", 2, 2);
  ASSERT_FALSE(same_entries(*saved, *loaded, ""));
  const auto result = frcnn::load_weights(dir / "w.pt", *loaded);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_FALSE(result->predictor_reinitialised);
  EXPECT_EQ(result->meta.names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(result->meta.img_size, 320);
  EXPECT_TRUE(same_entries(*saved, *loaded, ""));
}

TEST(FasterRcnnWeights, AnotherClassCountKeepsAFreshPredictor) {
  vision::test::TempDir dir;
  auto saved = make_model("mobilenet_v3", 2, 1);
  ASSERT_TRUE(frcnn::save_weights(dir / "w.pt", *saved, {"mobilenet_v3", {"cat", "dog"}, 320}));
  auto loaded = make_model("mobilenet_v3", 5, 2);
  const auto fresh_cls_score = loaded->roi_heads->box_predictor->cls_score->weight.clone();
  const auto result = frcnn::load_weights(dir / "w.pt", *loaded);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->predictor_reinitialised);
  EXPECT_TRUE(same_entries(*saved, *loaded, "backbone."));
  EXPECT_TRUE(same_entries(*saved, *loaded, "rpn."));
  EXPECT_TRUE(same_entries(*saved, *loaded, "roi_heads.box_head."));
  EXPECT_TRUE(torch::equal(loaded->roi_heads->box_predictor->cls_score->weight, fresh_cls_score));
}

TEST(FasterRcnnWeights, FailuresNameTheFileAndTheFirstKeyThatDiffers) {
  vision::test::TempDir dir;
  const auto missing = frcnn::load_weights(dir / "none.pt", *make_model("mobilenet_v3", 2, 1));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, vision::ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("none.pt"), std::string::npos);

  vision::test::write_text(dir / "text.pt", "not an archive");
  const auto unreadable = frcnn::load_weights(dir / "text.pt", *make_model("mobilenet_v3", 2, 1));
  ASSERT_FALSE(unreadable);
  EXPECT_EQ(unreadable.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(unreadable.error().message.find("text.pt"), std::string::npos);

  auto resnet18 = make_model("resnet18_fpn", 2, 1);
  ASSERT_TRUE(frcnn::save_weights(dir / "r18.pt", *resnet18, {"resnet18_fpn", {"a", "b"}, 320}));
  const auto other_variant = frcnn::load_weights(dir / "r18.pt", *make_model("resnet50_fpn", 2, 1));
  ASSERT_FALSE(other_variant);
  EXPECT_EQ(other_variant.error().message,
            (dir / "r18.pt").string() + ": weights of variant resnet18_fpn, the model is resnet50_fpn");

  // A file that claims the variant yet holds another one's layers stops at the first entry:
  // resnet18_fpn's FrozenBatchNorm2d has no num_batches_tracked, resnet50_fpn's BatchNorm2d has.
  ASSERT_TRUE(frcnn::save_weights(dir / "claims_r50.pt", *resnet18, {"resnet50_fpn", {"a", "b"}, 320}));
  const auto wrong_layers = frcnn::load_weights(dir / "claims_r50.pt", *make_model("resnet50_fpn", 2, 1));
  ASSERT_FALSE(wrong_layers);
  EXPECT_EQ(wrong_layers.error().code, vision::ErrorCode::invalid_data);
  EXPECT_EQ(wrong_layers.error().message,
            (dir / "claims_r50.pt").string() +
                ": does not fit the model at backbone.body.bn1.num_batches_tracked (missing)");
}
