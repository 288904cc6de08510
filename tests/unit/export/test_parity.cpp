// The export's parity check: boxes compared relative to their pixel magnitude, scores
// absolutely, the raw differences kept; detections after NMS with their ties; and a graph broken
// on purpose fails it.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include <onnx/onnx_pb.h>
#include <opencv2/imgcodecs.hpp>
#include <torch/torch.h>

#include "checkpoint_model.hpp"
#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/export/model_export.hpp"
#include "vision/export/parity.hpp"
#include "vision/train/checkpoint.hpp"
#include "vision/train/onnx_weights.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;

namespace {

// One image, two anchors, four box rows and one score row: [1, 5, 2].
constexpr std::size_t kChannels = 5;
constexpr std::size_t kAnchors = 2;

// An output whose every box value is `box` and every score `score`.
std::vector<float> output(float box, float score) {
  std::vector<float> values(kChannels * kAnchors, box);
  for (std::size_t a = 0; a < kAnchors; ++a) values[4 * kAnchors + a] = score;
  return values;
}

vision::ParityReport compare(const std::vector<float>& exported, const std::vector<float>& reference) {
  auto report = vision::compare_outputs(exported, reference, kChannels, kAnchors);
  EXPECT_TRUE(report) << report.error().message;
  return report.value_or(vision::ParityReport{});
}

}  // namespace

TEST(Parity, BoxesAreComparedRelativeToTheirMagnitude) {
  struct Case {
    float value, diff;
    bool passes;
  };
  // The bound is 1e-4 · max(1, |value|): 1e-4 px at 0 and 1, 0.064 px at 640.
  for (const auto& c : {Case{0, 9e-5F, true}, Case{0, 2e-4F, false}, Case{1, 9e-5F, true}, Case{1, 2e-4F, false},
                        Case{640, 1.2e-3F, true}, Case{640, 0.06F, true}, Case{640, 0.07F, false},
                        Case{-640, 0.06F, true}}) {
    SCOPED_TRACE(std::to_string(c.value) + " ± " + std::to_string(c.diff));
    auto exported = output(c.value, 0.5F);
    exported[kAnchors + 1] += c.diff;  // the cy of the second anchor
    const auto report = compare(exported, output(c.value, 0.5F));
    EXPECT_EQ(report.ok(), c.passes);
    // The raw difference is kept (to the float spacing at the value's magnitude).
    EXPECT_NEAR(report.max_box_diff, c.diff, 2e-7 * std::max(1.0F, std::abs(c.value)));
    EXPECT_NEAR(report.box_margin, c.diff / (1e-4 * std::max(1.0F, std::abs(c.value))), 0.05);
    EXPECT_EQ(report.max_score_diff, 0);
  }
}

TEST(Parity, ScoresAreComparedAbsolutely) {
  for (const float score : {0.0F, 0.5F, 1.0F}) {
    SCOPED_TRACE(score);
    auto close = output(320, score);
    close[4 * kAnchors] += 9e-5F;
    EXPECT_TRUE(compare(close, output(320, score)).ok());
    auto far = output(320, score);
    far[4 * kAnchors] += 2e-4F;
    const auto report = compare(far, output(320, score));
    EXPECT_FALSE(report.ok());
    EXPECT_GT(report.score_margin, 1.5);
    EXPECT_EQ(report.max_box_diff, 0);  // a score row is never read as a box
  }
}

TEST(Parity, RowsAreFoundInEveryImageOfTheBatch) {
  // Two images: the score row of the second image sits after its four box rows.
  auto reference = output(640, 0.5F);
  reference.insert(reference.end(), reference.begin(), reference.end());
  auto exported = reference;
  exported[kChannels * kAnchors + 4 * kAnchors + 1] += 0.01F;  // image 2, score, anchor 2
  const auto report = compare(exported, reference);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.max_box_diff, 0);
  EXPECT_NEAR(report.max_score_diff, 0.01, 1e-6);
}

TEST(Parity, NotANumberNeverPasses) {
  auto exported = output(10, 0.5F);
  exported[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(compare(exported, output(10, 0.5F)).ok());
  exported = output(10, 0.5F);
  exported[4 * kAnchors] = std::numeric_limits<float>::infinity();
  const auto report = compare(exported, output(10, 0.5F));
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(vision::to_json(report)["score_margin"].is_null());
}

TEST(Parity, SizesThatDoNotMatchAreAnError) {
  const auto reference = output(1, 0.5F);
  auto shorter = reference;
  shorter.pop_back();
  EXPECT_FALSE(vision::compare_outputs(shorter, reference, kChannels, kAnchors));
  EXPECT_FALSE(vision::compare_outputs(reference, reference, kChannels, kAnchors + 1));
  EXPECT_FALSE(vision::compare_outputs(reference, reference, 4, kAnchors));  // no score row
}

// A checkpoint of a trained model (the Ultralytics fixture's weights: an untrained model's
// boxes hardly depend on its input), exported; then the graph is broken the way a wrong
// operator or layout would break it, and the check must see it.
class BrokenGraph : public ::testing::Test {
 protected:
  void SetUp() override {
    vision::train::YoloDetector model(vision::YoloModelOptions{4, 'n', 16});
    const auto fixture = fs::path(VISION_SOURCE_DIR) / "../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
    ASSERT_TRUE(vision::train::import_onnx_weights(*model, fixture));
    model->eval();
    vision::train::CheckpointMeta meta;
    meta.model = {4, 'n', 16};
    meta.names = {"circle", "square", "triangle", "star"};
    meta.img_size = 160;
    ASSERT_TRUE(vision::train::save_checkpoint(m_dir / "best.pt", *model, meta));
    auto checkpoint = vision::onnx_export::CheckpointModel::open(m_dir / "best.pt");
    ASSERT_TRUE(checkpoint) << checkpoint.error().message;
    ASSERT_TRUE(checkpoint->write_onnx({m_dir / "model.onnx", 160, 160, 17, meta.names, "run"}));
    for (int i = 0; i < 2; ++i) {
      m_images.push_back(m_dir / ("shapes_" + std::to_string(i) + ".png"));
      ASSERT_TRUE(cv::imwrite(m_images.back().string(), vision::make_shape_sample(40 + i, {.size = 320}).image));
    }
  }

  onnx::ModelProto read_model() const {
    onnx::ModelProto model;
    std::ifstream in(m_dir / "model.onnx", std::ios::binary);
    EXPECT_TRUE(model.ParseFromIstream(&in));
    return model;
  }

  fs::path write_model(const onnx::ModelProto& model, const std::string& name) const {
    const fs::path file = m_dir / name;
    std::ofstream out(file, std::ios::binary);
    EXPECT_TRUE(model.SerializeToOstream(&out));
    return file;
  }

  // The model with its n-th Sigmoid (counting from the end when n < 0) replaced by `op`.
  fs::path with_op(int n, const std::string& op, const std::string& name) const {
    auto model = read_model();
    std::vector<onnx::NodeProto*> sigmoids;
    for (auto& node : *model.mutable_graph()->mutable_node()) {
      if (node.op_type() == "Sigmoid") sigmoids.push_back(&node);
    }
    EXPECT_GT(sigmoids.size(), 2U);
    sigmoids.at(n >= 0 ? static_cast<size_t>(n) : sigmoids.size() - static_cast<size_t>(-n))->set_op_type(op);
    return write_model(model, name);
  }

  TempDir m_dir;
  std::vector<fs::path> m_images;
};

TEST_F(BrokenGraph, TheTrueExportPasses) {
  const auto report = vision::check_export_parity(m_dir / "best.pt", m_dir / "model.onnx", m_images);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok()) << vision::describe(*report);
  EXPECT_LT(report->box_margin, 0.5);
  EXPECT_LT(report->score_margin, 0.5);
}

TEST_F(BrokenGraph, AWrongOperatorInTheBackboneFailsBoxesAndScores) {
  const auto report = vision::check_export_parity(m_dir / "best.pt", with_op(0, "Tanh", "backbone.onnx"), m_images);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(report->ok());
  EXPECT_GT(report->box_margin, 1) << vision::describe(*report);
}

// HardSigmoid, the piecewise-linear stand-in for the sigmoid, moves scores by a few hundredths.
TEST_F(BrokenGraph, AWrongOperatorOnTheClassScoresFailsTheScores) {
  const auto report = vision::check_export_parity(m_dir / "best.pt", with_op(-1, "HardSigmoid", "scores.onnx"), m_images);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(report->ok());
  EXPECT_GT(report->score_margin, 1) << vision::describe(*report);
  EXPECT_LT(report->box_margin, 1);  // the boxes do not go through the score sigmoid
}

TEST_F(BrokenGraph, AnOutputOfAnotherLayoutFailsTheCheck) {
  // The final Concat takes (centres, sizes, scores); with centres and sizes swapped the boxes
  // come out as w, h, cx, cy: the right values in the wrong rows.
  auto model = read_model();
  onnx::NodeProto* last_concat = nullptr;
  for (auto& node : *model.mutable_graph()->mutable_node()) {
    if (node.op_type() == "Concat") last_concat = &node;
  }
  ASSERT_NE(last_concat, nullptr);
  ASSERT_EQ(last_concat->input_size(), 3);
  const std::string centres = last_concat->input(0);
  last_concat->set_input(0, last_concat->input(1));
  last_concat->set_input(1, centres);
  const auto report = vision::check_export_parity(m_dir / "best.pt", write_model(model, "swapped.onnx"), m_images);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(report->ok());
  EXPECT_GT(report->box_margin, 1) << vision::describe(*report);
  EXPECT_LT(report->score_margin, 1);
}

// Two overlapping boxes of one label with equal scores: which one NMS keeps is float rounding, so
// an export that kept the other one passes as a tie; a clear score gap or little overlap does not.
TEST(Parity, DetectionsSwappedInATieAreCountedNotFailed) {
  const vision::DetectionList reference{{10, 10, 50, 50}, {1}, {0.3F}};
  struct Case {
    const char* name;
    std::vector<float> box;
    float score;
    bool ok;
    std::int64_t ties;
  };
  const std::vector<Case> cases = {
      {"same box", {10, 10, 50, 50}, 0.3F, true, 0},
      {"tie with an overlapping box", {12, 10, 52, 50}, 0.3F + 3e-8F, true, 1},
      {"score gap beyond a tie", {12, 10, 52, 50}, 0.3F + 5e-5F, false, 0},
      {"tie with a box that barely overlaps", {40, 10, 80, 50}, 0.3F, false, 0},
  };
  for (const auto& c : cases) {
    const vision::DetectionList exported{c.box, {1}, {c.score}};
    const auto report = vision::compare_detections(std::span(&exported, 1), std::span(&reference, 1));
    ASSERT_TRUE(report) << c.name;
    EXPECT_EQ(report->ok(), c.ok) << c.name;
    EXPECT_EQ(report->ties, c.ties) << c.name;
    EXPECT_EQ(report->detections, 1) << c.name;
  }
}
