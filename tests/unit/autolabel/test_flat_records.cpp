// autolabel's on_conflict with an image the Python original already labeled in its flat form
// (<labeled_dir>/<stem>.json naming the image): skip, overwrite and merge as for Vision's own
// labels, through the autolabel loop with a labeler that always finds the same two boxes.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/autolabel/autolabel_runner.hpp"
#include "vision/data/label_records.hpp"

namespace fs = std::filesystem;
using vision::Detection;
using vision::OnConflict;
using vision::test::read_text;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

const std::vector<std::string> k_names = {"cat", "dog"};
const Detection k_old_cat{0, "cat", 0.9F, {0, 0, 100, 100}};

class FlatRecords : public testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a.jpg", "b.jpg"}) {
      fs::create_directories(m_dir / "unlabeled");
      cv::imwrite((m_dir / "unlabeled" / name).string(), cv::Mat(100, 200, CV_8UC3, cv::Scalar(40, 80, 120)));
    }
    write_flat("a", (m_dir / "unlabeled/a.jpg").string(), {k_old_cat});
  }

  void write_flat(const std::string& stem, const std::string& image_path, const std::vector<Detection>& detections) {
    fs::create_directories(m_dir / "labeled");
    write_text(m_dir / "labeled" / (stem + ".json"),
               vision::to_json(vision::LabelRecord{image_path, "model:/old.onnx", detections}).dump());
  }

  // Every image gets a cat over the old one (IoU 0.9) and a dog beside it.
  vision::AutolabelReport autolabel(OnConflict on_conflict) {
    vision::AutolabelJob job;
    job.unlabeled_dir = m_dir / "unlabeled";
    job.labeled_dir = m_dir / "labeled";
    job.class_names = k_names;
    job.on_conflict = on_conflict;
    job.visualize = false;
    job.provenance = "model:/new.onnx";
    const vision::BatchLabeler label = [this](const std::vector<vision::ImageToLabel>& batch)
        -> vision::Expected<std::vector<std::expected<vision::ImageLabels, vision::LabelFailure>>> {
      std::vector<std::expected<vision::ImageLabels, vision::LabelFailure>> results;
      for (const auto& item : batch) {
        m_labeled.push_back(item.relative.string());
        results.push_back(vision::ImageLabels{{{0, "cat", 0.8F, {10, 0, 100, 100}}, {1, "dog", 0.7F, {120, 0, 200, 100}}}});
      }
      return results;
    };
    auto report = vision::run_autolabel(job, label);
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : vision::AutolabelReport{};
  }

  TempDir m_dir;
  std::vector<std::string> m_labeled;  // the images the labeler saw
};

}  // namespace

TEST_F(FlatRecords, SkipLeavesAnImageTheOriginalLabeled) {
  const std::string flat_before = read_text(m_dir / "labeled/a.json");
  const auto report = autolabel(OnConflict::skip);
  EXPECT_EQ(m_labeled, std::vector<std::string>{"b.jpg"});
  EXPECT_EQ(report.counts.skipped, 1);
  EXPECT_EQ(report.counts.created, 1);
  EXPECT_FALSE(fs::exists(m_dir / "labeled/labels/a.txt"));
  EXPECT_EQ(read_text(m_dir / "labeled/a.json"), flat_before);
}

TEST_F(FlatRecords, OverwriteReplacesTheOriginalsLabelsAndKeepsItsFile) {
  const std::string flat_before = read_text(m_dir / "labeled/a.json");
  const auto report = autolabel(OnConflict::overwrite);
  EXPECT_EQ(m_labeled, (std::vector<std::string>{"a.jpg", "b.jpg"}));
  EXPECT_EQ(report.counts.overwritten, 1);
  EXPECT_EQ(report.counts.created, 1);
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a.txt"),
            "0 0.275000 0.500000 0.450000 1.000000\n1 0.800000 0.500000 0.400000 1.000000\n");
  EXPECT_EQ(read_text(m_dir / "labeled/a.json"), flat_before);
}

TEST_F(FlatRecords, MergeKeepsTheOriginalsBoxesAndAddsTheNewOnes) {
  const auto report = autolabel(OnConflict::merge);
  EXPECT_EQ(report.counts.merged, 1);
  EXPECT_EQ(report.counts.created, 1);
  EXPECT_EQ(report.counts.detections, 1 + 2);  // a: the dog (the cat overlaps the old one); b: both
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a.txt"),
            "0 0.250000 0.500000 0.500000 1.000000\n1 0.800000 0.500000 0.400000 1.000000\n");
  const auto record = vision::label_record_from_json(vision::test::read_json(m_dir / "labeled/records/a.json"));
  ASSERT_TRUE(record);
  ASSERT_EQ(record->detections.size(), 2U);
  EXPECT_FLOAT_EQ(record->detections[0].score, 0.9F);  // the original's score survives
}

TEST_F(FlatRecords, VisionsOwnLabelsComeBeforeTheFlatRecord) {
  fs::create_directories(m_dir / "labeled/labels");
  write_text(m_dir / "labeled/labels/a.txt", "1 0.100000 0.100000 0.100000 0.100000\n");
  autolabel(OnConflict::merge);
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a.txt"),
            "1 0.100000 0.100000 0.100000 0.100000\n0 0.275000 0.500000 0.450000 1.000000\n"
            "1 0.800000 0.500000 0.400000 1.000000\n");
}

TEST_F(FlatRecords, ARecordOfAnotherImageWithTheSameStemIsNotThisImagesLabel) {
  fs::create_directories(m_dir / "elsewhere");
  cv::imwrite((m_dir / "elsewhere/b.jpg").string(), cv::Mat(100, 200, CV_8UC3, cv::Scalar(0, 0, 0)));
  write_flat("b", (m_dir / "elsewhere/b.jpg").string(), {k_old_cat});
  const auto report = autolabel(OnConflict::skip);
  EXPECT_EQ(m_labeled, std::vector<std::string>{"b.jpg"});
  EXPECT_EQ(report.counts.created, 1);
  EXPECT_FALSE(vision::find_flat_record(m_dir / "labeled", m_dir / "unlabeled/b.jpg"));
  EXPECT_TRUE(vision::find_flat_record(m_dir / "labeled", m_dir / "unlabeled/a.jpg"));
}

TEST_F(FlatRecords, MergeFailsAnImageWhoseRecordDisagreesWithClassMap) {
  write_flat("a", (m_dir / "unlabeled/a.jpg").string(), {{1, "bird", 0.9F, {0, 0, 10, 10}}});
  const auto report = autolabel(OnConflict::merge);
  EXPECT_EQ(report.failures, 1);
  EXPECT_EQ(report.failures_by_reason.at("write_failed"), 1);
  ASSERT_EQ(report.failed.size(), 1U);
  EXPECT_NE(report.failed[0].find("a.json: detections[0]: class 1 \"bird\""), std::string::npos) << report.failed[0];
  EXPECT_FALSE(fs::exists(m_dir / "labeled/labels/a.txt"));
}
