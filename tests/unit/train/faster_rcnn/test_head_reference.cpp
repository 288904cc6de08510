// The RPN and the RoI heads chained on a tiny model (4 channels, 2 maps, fixed weights) against
// torchvision 0.21's proposals, detections and, with the same torch seed, training losses —
// figures printed by bench/faster_rcnn/head_reference.py (end_to_end_figures).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <string>
#include <vector>

#include "reference_inputs.hpp"
#include "vision/train/faster_rcnn/roi_heads.hpp"
#include "vision/train/faster_rcnn/rpn.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

struct TinyModel {
  frcnn::RegionProposalNetwork rpn{nullptr};
  frcnn::RoiHeads heads{nullptr};
  frcnn::ImageBatch images{torch::zeros({2, 3, 64, 64}), {{64, 64}, {60, 50}}};
  frcnn::FeatureMaps features;
  std::vector<frcnn::ImageTargets> targets;

  TinyModel() {
    frcnn::RpnOptions rpn_options;
    rpn_options.anchors = {{{16}, {32}}, {{0.5, 1.0, 2.0}, {0.5, 1.0, 2.0}}};
    rpn_options.in_channels = 4;
    rpn_options.pre_nms_top_n_train = 50;
    rpn_options.pre_nms_top_n_test = 30;
    rpn_options.post_nms_top_n_train = 20;
    rpn_options.post_nms_top_n_test = 10;
    rpn = frcnn::RegionProposalNetwork(rpn_options);
    frcnn::RoiHeadsOptions head_options;
    head_options.num_classes = 3;
    head_options.featmap_names = {"0", "1"};
    head_options.in_channels = 4;
    head_options.representation_size = 16;
    head_options.detections_per_img = 10;
    heads = frcnn::RoiHeads(head_options);
    frcnn::testing::fill_parameters(*rpn);
    frcnn::testing::fill_parameters(*heads);
    features = {{"0", "1"},
                {frcnn::testing::reference_feature(8, 16, 16).reshape({2, 4, 16, 16}),
                 frcnn::testing::reference_feature(8, 8, 8).reshape({2, 4, 8, 8}) * 0.5}};
    targets = {{torch::tensor({{8.0, 8.0, 40.0, 30.0}, {30.0, 20.0, 60.0, 60.0}}),
                torch::tensor({1, 2}, torch::kLong)},
               {torch::tensor({{5.0, 5.0, 25.0, 45.0}}), torch::tensor({2}, torch::kLong)}};
  }
};

void expect_close(const torch::Tensor& ours, const torch::Tensor& theirs) {
  ASSERT_EQ(ours.numel(), theirs.numel());
  EXPECT_TRUE(torch::allclose(ours.flatten().to(torch::kFloat), theirs, 1e-4, 1e-4))
      << ours.flatten();
}

}  // namespace

TEST(HeadReference, ProposalsAndDetectionsEqualTorchvision) {
  struct Expected {
    std::vector<float> proposals, boxes;  // x1 y1 x2 y2 each
    std::vector<int64_t> labels;
    std::vector<float> scores;
  };
  const std::vector<Expected> expected = {
      {{0.00000000,  24.07571220, 64.00000000, 24.78338814, 0.00000000,  27.94830322, 64.00000000,
        28.87251282, 0.00000000,  33.94407654, 64.00000000, 35.68149567, 36.06749725, 42.18711853,
        64.00000000, 46.06922913, 0.00000000,  42.26851273, 42.24297333, 46.71686172, 0.00000000,
        0.00000000,  25.63899422, 0.99054813,  0.00000000,  1.38874292,  21.70875168, 7.27177382,
        0.00000000,  7.49346018,  15.75127888, 15.56347084, 0.00000000,  4.44986963,  18.12188721,
        12.39120674, 0.00000000,  8.45810699,  22.10484695, 16.40251160},
       {0.08871841,  0.00000000,  25.95936775, 0.99947393,  0.00000000,  42.17841339, 41.61351395,
        46.69358063, 0.12506866,  1.37496018,  21.97613525, 7.32184219,  36.23959351, 42.17656708,
        64.00000000, 46.10188293, 0.47803497,  24.07342148, 64.00000000, 24.78913116, 0.14473248,
        4.43343544,  18.34428787, 12.45512199, 0.00000000,  0.00000000,  25.24941444, 0.98673213,
        0.30446815,  42.28907013, 42.82270050, 46.75457001, 0.00000000,  7.27900314,  15.49800777,
        15.52567863, 0.00000000,  1.24153185,  21.36887741, 7.24749708},
       {2, 1, 2, 2, 2, 2, 1, 2, 1, 1},
       {0.32572651, 0.32312721, 0.32205054, 0.32150164, 0.31950596, 0.31833479, 0.31777197,
        0.31770322, 0.31737339, 0.31708983}},
      {{0.00000000,  25.82403564, 50.00000000, 26.55793762, 0.00000000,  27.41590118, 50.00000000,
        28.25763702, 0.00000000,  28.50011253, 50.00000000, 29.47942162, 0.00000000,  32.97953415,
        50.00000000, 34.42993546, 17.82646561, 34.89218521, 50.00000000, 36.81547165, 14.13703728,
        41.25653458, 50.00000000, 44.74462509, 42.43397903, 42.50043106, 50.00000000, 46.89274979,
        0.00000000,  15.93534374, 26.03174973, 20.78107262, 0.00000000,  12.05788994, 25.64169502,
        16.99079323, 0.00000000,  21.04097366, 22.72190285, 26.64904404},
       {0.00000000,  25.82138443, 50.00000000, 26.56521606, 17.79755974, 34.88619614, 50.00000000,
        36.83449936, 0.00000000,  12.04510307, 25.96451569, 17.03978348, 42.42456818, 42.49595261,
        50.00000000, 46.93686295, 0.00000000,  27.41248703, 50.00000000, 28.26587296, 0.00000000,
        28.49596977, 50.00000000, 29.48891258, 0.00069714,  15.91997337, 26.35497284, 20.82805443,
        0.18314552,  32.97534561, 50.00000000, 34.44289780, 14.29730225, 41.24671936, 50.00000000,
        44.77520752, 0.11069870,  21.02860069, 23.00336647, 26.69785881},
       {2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
       {0.33369488, 0.33322245, 0.33321220, 0.33316427, 0.33291772, 0.33229703, 0.33171377,
        0.32564703, 0.32430285, 0.32346833}}};

  TinyModel model;
  model.rpn->eval();
  model.heads->eval();
  torch::NoGradGuard no_grad;
  const auto proposals = model.rpn->forward(model.images, model.features);
  const auto out = model.heads->forward(model.features, proposals.boxes, model.images.sizes);
  for (size_t image = 0; image < expected.size(); ++image) {
    SCOPED_TRACE("image " + std::to_string(image));
    expect_close(proposals.boxes[image], torch::tensor(expected[image].proposals));
    const auto& detections = out.detections[image];
    expect_close(detections.boxes, torch::tensor(expected[image].boxes));
    EXPECT_TRUE(torch::equal(detections.labels, torch::tensor(expected[image].labels)));
    expect_close(detections.scores, torch::tensor(expected[image].scores));
  }
}

TEST(HeadReference, TrainingLossesEqualTorchvisionWithTheSameSeed) {
  // The samplers draw from torch's default generator in torchvision's order, so the seed
  // reproduces torchvision's samples and with them its losses.
  TinyModel model;
  model.rpn->train();
  model.heads->train();
  torch::manual_seed(0);
  const auto proposals = model.rpn->forward(model.images, model.features, model.targets);
  const auto out =
      model.heads->forward(model.features, proposals.boxes, model.images.sizes, model.targets);
  EXPECT_NEAR(proposals.losses.objectness.item<double>(), 0.6868896484375, 1e-5);
  EXPECT_NEAR(proposals.losses.box_reg.item<double>(), 0.0062489742413163185, 1e-6);
  EXPECT_NEAR(out.losses.classifier.item<double>(), 1.0235707759857178, 1e-5);
  EXPECT_NEAR(out.losses.box_reg.item<double>(), 0.008171740919351578, 1e-6);
}
