// Faster R-CNN's backbones against torchvision: parameter names, shapes and counts, feature maps,
// the forward pass on shared weights, FrozenBatchNorm2d and the starting weights. The figures come
// from bench/faster_rcnn/torchvision_reference.py (tests/data/faster_rcnn/<variant>_state.txt is
// its state_dict listing of each model built with 3 classes).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "state_listing.hpp"
#include "vision/train/faster_rcnn/backbone.hpp"
#include "vision/train/faster_rcnn/variant.hpp"

namespace frcnn = vision::train::faster_rcnn;
using frcnn::testing::parameter_count;

namespace {

frcnn::BackboneWithFpn make_backbone(const std::string& variant) {
  return frcnn::BackboneWithFpn(vision::value_or_throw(frcnn::variant_spec(variant)).backbone);
}

// torchvision_reference.py's deterministic_fill: entry k of the sorted state (num_batches_tracked
// aside) gets sin(0.37·i + k), weights scaled by 1/√fan_in, BatchNorm weights and variances near 1.
void deterministic_fill(torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& p : module.named_parameters()) state[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) {
    if (!b.key().ends_with("num_batches_tracked")) state[b.key()] = b.value();
  }
  torch::NoGradGuard no_grad;
  int k = 0;
  for (auto& [key, t] : state) {
    const auto wave = torch::sin(torch::arange(t.numel(), torch::kFloat32) * 0.37 + k++).reshape(t.sizes());
    if (key.ends_with("running_var")) {
      t.copy_(1.0 + 0.25 * wave);
    } else if (t.dim() >= 2) {
      t.copy_(wave / std::sqrt(static_cast<double>(t.numel() / t.size(0))));
    } else if (key.ends_with("weight")) {
      t.copy_(1.0 + 0.1 * wave);
    } else {
      t.copy_(0.1 * wave);
    }
  }
}

const std::vector<std::string> k_variants = {"mobilenet_v3", "resnet50_fpn", "resnet50_fpn_v2", "resnet18_fpn"};

}  // namespace

TEST(FasterRcnnBackbone, StateDictNamesAndShapesEqualTorchvisions) {
  for (const auto& variant : k_variants) {
    const auto expected = frcnn::testing::torchvision_state(variant, "backbone.");
    ASSERT_GT(expected.size(), 100U) << variant << ": reference listing missing";
    auto backbone = make_backbone(variant);
    frcnn::testing::expect_same_state(expected, frcnn::testing::module_state(*backbone, "backbone."), variant);
  }
}

TEST(FasterRcnnBackbone, ParameterCountsEqualTorchvisions) {
  // sum(p.numel() for p in model.backbone.parameters()), the same for 3 and 91 classes
  // (bench/faster_rcnn/param_counts.json).
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"mobilenet_v3", 4439344}, {"resnet50_fpn", 26852416}, {"resnet50_fpn_v2", 26854464}, {"resnet18_fpn", 13774016}};
  for (const auto& [variant, count] : cases) {
    auto backbone = make_backbone(variant);
    EXPECT_EQ(parameter_count(*backbone), count) << variant;
  }
}

TEST(FasterRcnnBackbone, FeatureMapsOfA320By416Image) {
  struct Case {
    std::string variant;
    std::vector<std::string> names;
    std::vector<std::vector<int64_t>> sizes;  // {h, w}
  };
  const std::vector<std::vector<int64_t>> resnet = {{80, 104}, {40, 52}, {20, 26}, {10, 13}, {5, 7}};
  const std::vector<Case> cases = {
      {"mobilenet_v3", {"0", "1", "pool"}, {{10, 13}, {10, 13}, {5, 7}}},  // both at stride 32
      {"resnet50_fpn", {"0", "1", "2", "3", "pool"}, resnet},
      {"resnet50_fpn_v2", {"0", "1", "2", "3", "pool"}, resnet},
      {"resnet18_fpn", {"0", "1", "2", "3", "pool"}, resnet},
  };
  torch::NoGradGuard no_grad;
  for (const auto& c : cases) {
    auto backbone = make_backbone(c.variant);
    backbone->eval();
    const auto features = backbone->forward(torch::rand({1, 3, 320, 416}));
    EXPECT_EQ(features.names, c.names) << c.variant;
    ASSERT_EQ(features.maps.size(), c.sizes.size()) << c.variant;
    for (size_t i = 0; i < c.sizes.size(); ++i) {
      EXPECT_EQ(features.maps[i].sizes(), (std::vector<int64_t>{1, 256, c.sizes[i][0], c.sizes[i][1]}))
          << c.variant << " map " << c.names[i];
    }
  }
}

TEST(FasterRcnnBackbone, ForwardEqualsTorchvisionsWithTheSameWeights) {
  // Per map: mean, mean |x|, flat[0] and flat[numel / 2] of torchvision's backbone on the same
  // weights and image (torchvision_reference.py, "parity").
  struct Map {
    std::string variant, name;
    double mean, abs_mean, first, middle;
  };
  const std::vector<Map> expected = {
      {"mobilenet_v3", "0", -0.0143682202, 6.80931711, 9.37125397, -8.39256287},
      {"mobilenet_v3", "1", 0.0178052206, 6.79854822, -3.45573545, 7.21810055},
      {"mobilenet_v3", "pool", 0.0196050294, 5.88780308, -3.45573545, 7.21810055},
      {"resnet50_fpn", "0", -0.000750695064, 0.276445597, 0.139668256, -0.22345981},
      {"resnet50_fpn", "1", -0.000392226153, 0.265914887, 0.0720662028, 0.0450229645},
      {"resnet50_fpn", "2", 0.000975169532, 0.238072991, -0.191580117, 0.191048503},
      {"resnet50_fpn", "3", -0.000341687788, 0.294449002, 0.0576250255, -0.229029804},
      {"resnet50_fpn", "pool", -0.000578234554, 0.256391138, 0.0576250255, -0.229029804},
      {"resnet50_fpn_v2", "0", 0.0066260607, 0.202962399, -0.12322215, 0.119961545},
      {"resnet50_fpn_v2", "1", 0.00624878006, 0.170949057, 0.0794276074, -0.007566805},
      {"resnet50_fpn_v2", "2", 0.00529057765, 0.1449586, 0.101501621, -0.0764031559},
      {"resnet50_fpn_v2", "3", 0.00466673262, 0.149230808, 0.0192493144, -0.0935366452},
      {"resnet50_fpn_v2", "pool", 0.00469498662, 0.131501615, 0.0192493144, -0.0935366452},
      {"resnet18_fpn", "0", 0.000798512192, 0.13534303, 0.0826826543, -0.0274996012},
      {"resnet18_fpn", "1", 8.25560492e-05, 0.139451012, -0.129175276, 0.105082124},
      {"resnet18_fpn", "2", -0.000369852263, 0.0645064786, -0.106802613, 0.0966131464},
      {"resnet18_fpn", "3", 0.000348718604, 0.066398412, 0.0788583681, -0.109315634},
      {"resnet18_fpn", "pool", 0.000326916575, 0.064467214, 0.0788583681, -0.109315634},
  };
  torch::NoGradGuard no_grad;
  const auto image = (0.5 + 0.5 * torch::sin(torch::arange(3 * 64 * 96, torch::kFloat32) * 0.01)).reshape({1, 3, 64, 96});
  for (const auto& variant : k_variants) {
    auto backbone = make_backbone(variant);
    backbone->eval();
    deterministic_fill(*backbone);
    const auto features = backbone->forward(image);
    for (const auto& map : expected) {
      if (map.variant != variant) continue;
      const auto at = std::ranges::find(features.names, map.name) - features.names.begin();
      ASSERT_LT(at, static_cast<std::ptrdiff_t>(features.names.size())) << variant << " " << map.name;
      const auto flat = features.maps[static_cast<size_t>(at)].flatten();
      const double tolerance = 1e-4 * map.abs_mean;
      EXPECT_NEAR(flat.mean().item<double>(), map.mean, tolerance) << variant << " " << map.name;
      EXPECT_NEAR(flat.abs().mean().item<double>(), map.abs_mean, tolerance) << variant << " " << map.name;
      EXPECT_NEAR(flat[0].item<double>(), map.first, tolerance) << variant << " " << map.name;
      EXPECT_NEAR(flat[flat.numel() / 2].item<double>(), map.middle, tolerance) << variant << " " << map.name;
    }
  }
}

TEST(FasterRcnnBackbone, PoolMapTakesEveryOtherPixelOfTheCoarsest) {
  torch::NoGradGuard no_grad;
  auto backbone = make_backbone("resnet18_fpn");
  const auto features = backbone->forward(torch::rand({1, 3, 128, 160}));
  const auto& coarsest = features.maps[3];
  using torch::indexing::None;
  using torch::indexing::Slice;
  EXPECT_TRUE(features.maps[4].equal(coarsest.index({Slice(), Slice(), Slice(None, None, 2), Slice(None, None, 2)})));
}

TEST(FrozenBatchNorm2d, ScalesAndShiftsByItsBuffersAndNeverLearns) {
  frcnn::FrozenBatchNorm2d norm(2);
  norm->weight.copy_(torch::tensor({2.0F, 0.5F}));
  norm->bias.copy_(torch::tensor({1.0F, -1.0F}));
  norm->running_mean.copy_(torch::tensor({3.0F, 0.0F}));
  norm->running_var.copy_(torch::tensor({4.0F - 1e-5F, 1.0F - 1e-5F}));
  // Channel 0: (x − 3)·2/2 + 1; channel 1: x·0.5 − 1.
  const auto x = torch::tensor({5.0F, 4.0F}).reshape({1, 2, 1, 1});
  const auto y = norm->forward(x).flatten();
  EXPECT_NEAR(y[0].item<float>(), 3.0F, 1e-5F);
  EXPECT_NEAR(y[1].item<float>(), 1.0F, 1e-5F);
  EXPECT_TRUE(norm->parameters().empty());
  norm->train();
  norm->forward(torch::rand({4, 2, 3, 3}));
  EXPECT_FLOAT_EQ(norm->running_mean[0].item<float>(), 3.0F);
}

TEST(FasterRcnnBackbone, StartsFromTorchvisionsInitialisation) {
  torch::manual_seed(0);  // the bounds below are statistical: one fixed draw, no flaky run
  auto mobilenet = make_backbone("mobilenet_v3");
  auto resnet = make_backbone("resnet50_fpn");
  const auto params = resnet->named_parameters();
  // ResNet and MobileNetV3: He-normal by fan-out, std √(2 / fan_out).
  const auto& stem = params["body.conv1.weight"];  // 64×3×7×7
  EXPECT_NEAR(stem.std().item<double>(), std::sqrt(2.0 / (64 * 49)), 0.05 * std::sqrt(2.0 / (64 * 49)));
  const auto expand = mobilenet->named_parameters()["body.2.block.0.0.weight"];  // 64×16×1×1
  EXPECT_NEAR(expand.std().item<double>(), std::sqrt(2.0 / 64), 0.1 * std::sqrt(2.0 / 64));
  EXPECT_TRUE(mobilenet->named_parameters()["body.4.block.2.fc1.bias"].eq(0).all().item<bool>());
  // FPN: He-uniform with a = 1, bound √(3 / fan_in); zero biases.
  const auto& lateral = params["fpn.inner_blocks.3.0.weight"];  // 256×2048×1×1
  const double bound = std::sqrt(3.0 / 2048);
  EXPECT_LE(lateral.abs().max().item<double>(), bound);
  EXPECT_NEAR(lateral.std().item<double>(), bound / std::sqrt(3.0), 0.02 * bound);
  EXPECT_TRUE(params["fpn.layer_blocks.0.0.bias"].eq(0).all().item<bool>());
  EXPECT_TRUE(params["body.layer1.0.bn1.weight"].eq(1).all().item<bool>());
}

TEST(FasterRcnnBackbone, TrainingUpdatesBatchNormButNotFrozenBatchNorm) {
  auto trained = make_backbone("resnet50_fpn_v2");
  auto frozen = make_backbone("resnet18_fpn");
  trained->train();
  frozen->train();
  const auto images = torch::rand({2, 3, 64, 64});
  trained->forward(images);
  frozen->forward(images);
  EXPECT_FALSE(trained->named_buffers()["body.bn1.running_mean"].eq(0).all().item<bool>());
  EXPECT_FALSE(trained->named_buffers()["fpn.inner_blocks.0.1.running_mean"].eq(0).all().item<bool>());
  EXPECT_TRUE(frozen->named_buffers()["body.bn1.running_mean"].eq(0).all().item<bool>());
}

TEST(FasterRcnnBackbone, GradientsReachTheFirstConvolution) {
  for (const auto& [variant, first_conv] : {std::pair{"mobilenet_v3", "body.0.0.weight"}, {"resnet18_fpn", "body.conv1.weight"}}) {
    auto backbone = make_backbone(variant);
    backbone->train();
    const auto features = backbone->forward(torch::rand({2, 3, 64, 64}));
    torch::stack(std::vector<torch::Tensor>{features.maps[0].mean(), features.maps.back().mean()}).sum().backward();
    const auto grad = backbone->named_parameters()[first_conv].grad();
    ASSERT_TRUE(grad.defined()) << variant;
    EXPECT_GT(grad.abs().sum().item<double>(), 0.0) << variant;
  }
}
