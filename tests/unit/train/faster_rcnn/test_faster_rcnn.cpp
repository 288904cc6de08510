// The whole Faster R-CNN model: every variant's state_dict names, shapes and parameter counts
// against torchvision 0.21's (tests/data/faster_rcnn/<variant>_state.txt,
// bench/faster_rcnn/param_counts.json), eval detections on a batch of two image sizes and on
// images without a proposal, and the training losses (the overfit is
// test_faster_rcnn_overfit.cpp, labelled slow).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "state_listing.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

frcnn::FasterRcnn make_model(const std::string& variant, int64_t classes, int64_t img_size = 800) {
  return frcnn::FasterRcnn(vision::value_or_throw(frcnn::variant_spec(variant)), classes,
                           frcnn::transform_options_for_img_size(img_size));
}

}  // namespace

TEST(FasterRcnnModel, StateDictEqualsTorchvisionsForEveryVariant) {
  // torchvision's listing is of num_classes=3, background included: two Vision classes.
  for (const std::string variant : {"mobilenet_v3", "resnet50_fpn", "resnet50_fpn_v2", "resnet18_fpn"}) {
    const auto expected = frcnn::testing::torchvision_state(variant);
    ASSERT_GT(expected.size(), 100U) << variant << ": reference listing missing";
    auto model = make_model(variant, 2);
    frcnn::testing::expect_same_state(expected, frcnn::testing::module_state(*model), variant);
  }
}

TEST(FasterRcnnModel, ParameterCountsEqualTorchvisions) {
  struct Case {
    std::string variant;
    int64_t torchvision_classes, total;  // param_counts.json: "<variant>": {"<classes>": {"total"}}
  };
  const std::vector<Case> cases = {
      {"mobilenet_v3", 3, 18959754},    {"mobilenet_v3", 91, 19410754},   {"resnet50_fpn", 3, 41357406},
      {"resnet50_fpn", 91, 41808406},   {"resnet50_fpn_v2", 3, 43261278}, {"resnet50_fpn_v2", 91, 43712278},
      {"resnet18_fpn", 3, 28279006},    {"resnet18_fpn", 91, 28730006},
  };
  for (const auto& c : cases) {
    auto model = make_model(c.variant, c.torchvision_classes - 1);
    EXPECT_EQ(frcnn::testing::parameter_count(*model), c.total) << c.variant << " " << c.torchvision_classes;
  }
}

TEST(FasterRcnnModel, HeadOptionsCarryTheVariantAndAddTheBackground) {
  const auto spec = vision::value_or_throw(frcnn::variant_spec("mobilenet_v3"));
  const auto heads = frcnn::head_options(spec, 5);
  EXPECT_EQ(heads.roi_heads.num_classes, 6);
  EXPECT_EQ(heads.roi_heads.featmap_names, spec.box_roi_pool_names);
  EXPECT_EQ(heads.rpn.anchors.sizes, spec.anchor_sizes);
  EXPECT_EQ(heads.rpn.score_thresh, 0.05);
  EXPECT_EQ(heads.rpn.in_channels, 256);
}

TEST(FasterRcnnModel, EvalGivesBoxesInsideEachOriginalImage) {
  torch::manual_seed(3);
  auto model = make_model("mobilenet_v3", 3, 192);
  model->eval();
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> images = {torch::rand({3, 120, 200}), torch::rand({3, 260, 150})};
  const auto output = model->forward(images);
  ASSERT_EQ(output.results.size(), 2U);
  EXPECT_FALSE(output.losses.loss_classifier.defined());
  int64_t detections = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& result = output.results[i];
    const auto height = static_cast<double>(images[i].size(1)), width = static_cast<double>(images[i].size(2));
    ASSERT_EQ(result.boxes.dim(), 2);
    ASSERT_EQ(result.boxes.size(0), result.classes.size(0));
    ASSERT_EQ(result.boxes.size(0), result.scores.size(0));
    detections += result.boxes.size(0);
    if (result.boxes.size(0) == 0) continue;
    const auto x = result.boxes.index({torch::indexing::Slice(), torch::tensor({0, 2})});
    const auto y = result.boxes.index({torch::indexing::Slice(), torch::tensor({1, 3})});
    EXPECT_GE(x.min().item<double>(), 0.0) << "image " << i;
    EXPECT_LE(x.max().item<double>(), width + 1e-3) << "image " << i;
    EXPECT_GE(y.min().item<double>(), 0.0) << "image " << i;
    EXPECT_LE(y.max().item<double>(), height + 1e-3) << "image " << i;
    EXPECT_GE(result.classes.min().item<int64_t>(), 0);
    EXPECT_LT(result.classes.max().item<int64_t>(), 3);
    EXPECT_LE(result.boxes.size(0), 100);
  }
  // Untrained, every class scores about 1/4 > box_score_thresh, so detections exist to check.
  EXPECT_GT(detections, 0);
}

TEST(FasterRcnnModel, AnImageWithoutProposalsGivesNoDetections) {
  // A model early in training may score every anchor under the RPN's threshold (0.05 for
  // mobilenet_v3): that image has no proposal, and no box, instead of an error.
  torch::manual_seed(3);
  auto model = make_model("mobilenet_v3", 3, 160);
  model->eval();
  model->rpn->options.score_thresh = 1.1;
  torch::NoGradGuard no_grad;
  const auto output = model->forward({torch::rand({3, 120, 160}), torch::rand({3, 160, 120})});
  ASSERT_EQ(output.results.size(), 2U);
  for (const auto& result : output.results) {
    EXPECT_EQ(result.boxes.size(0), 0);
    EXPECT_EQ(result.boxes.size(1), 4);
    EXPECT_EQ(result.scores.size(0), 0);
  }
}

TEST(FasterRcnnModel, TrainingReturnsTheFourLossesAndNeedsTargets) {
  torch::manual_seed(4);
  auto model = make_model("mobilenet_v3", 2, 160);
  model->train();
  const std::vector<torch::Tensor> images = {torch::rand({3, 100, 140})};
  EXPECT_THROW(model->forward(images), c10::Error);
  const std::vector<frcnn::ImageBoxes> targets = {
      {torch::tensor({{10.0F, 20.0F, 60.0F, 80.0F}}), torch::tensor({1}, torch::kLong)}};
  const auto losses = model->forward(images, targets).losses;
  std::vector<std::string> names;
  for (const auto& [name, value] : losses.named()) {
    names.push_back(name);
    ASSERT_TRUE(value.defined()) << name;
    EXPECT_TRUE(std::isfinite(value.item<double>())) << name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}));
}
