// The flat LabelRecord reader in data: each record problem's reason, the box rule's tolerance,
// a caller's own rule before the duplicate check, and which files count as records.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/label_records.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

vision::LabelRecord record_with(const std::array<float, 4>& box) {
  return {"x.png", "model:/m.onnx", {{0, "cat", 0.9F, box}}};
}

}  // namespace

TEST(LabelRecords, BoxRuleAllowsASmallOverhangOnly) {
  struct Case {
    std::array<float, 4> box;
    std::string reason;  // empty: usable
  };
  const std::vector<Case> cases = {
      {{0, 0, 200, 100}, ""},
      {{-3, -1, 203, 101}, ""},  // within 2 % of each side
      {{-5, 0, 50, 50}, "box_outside_image"},
      {{0, 0, 50, 103}, "box_outside_image"},
      {{20, 10, 20, 50}, "degenerate_box"},
      {{201, 10, 203, 50}, "degenerate_box"},  // on the overhang only: nothing left once clipped
  };
  for (const auto& c : cases) {
    const auto problem = vision::record_box_problem(record_with(c.box), 200, 100);
    EXPECT_EQ(problem ? problem->reason : "", c.reason) << c.box[0] << " " << c.box[2];
    if (problem) {
      EXPECT_NE(problem->message.find("detections[0].bbox_xyxy"), std::string::npos) << problem->message;
    }
  }
}

TEST(LabelRecords, ReadingNamesTheReason) {
  TempDir dir;
  write_text(dir / "broken.json", "{");
  write_text(dir / "wrong.json", R"({"image_path": "x.png"})");
  EXPECT_EQ(vision::read_flat_record(dir / "broken.json").error().reason, "unreadable_json");
  EXPECT_EQ(vision::read_flat_record(dir / "missing.json").error().reason, "unreadable_json");
  EXPECT_EQ(vision::read_flat_record(dir / "wrong.json").error().reason, "invalid_record");
}

TEST(LabelRecords, OnlyJsonFilesDirectlyInTheFolderAreRecords) {
  TempDir dir;
  write_text(dir / "b.json", "{}");
  write_text(dir / "a.json", "{}");
  write_text(dir / "notes.txt", "");
  write_text(dir / "records/c.json", "{}");
  EXPECT_EQ(vision::list_flat_records(dir.path()), (std::vector<fs::path>{dir / "a.json", dir / "b.json"}));
}

TEST(LabelRecords, ARecordThatFailsARuleDoesNotClaimItsImage) {
  TempDir dir;
  cv::imwrite((dir / "x.png").string(), cv::Mat(100, 200, CV_8UC3, cv::Scalar::all(0)));
  write_text(dir / "a.json", vision::to_json(record_with({0, 0, 50, 50})).dump());
  write_text(dir / "b.json", vision::to_json(record_with({0, 0, 50, 50})).dump());
  std::set<fs::path> seen;
  const vision::FlatRecordRule refuse = [](const vision::LabelRecord&) {
    return std::optional<vision::FlatRecordProblem>({"unknown_class", "refused"});
  };
  EXPECT_EQ(vision::check_flat_record(dir / "a.json", seen, refuse).error().message, (dir / "a.json").string() + ": refused");
  const auto checked = vision::check_flat_record(dir / "a.json", seen);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->width, 200);
  EXPECT_EQ(checked->image.base, vision::ImagePathBase::record_folder);
  EXPECT_EQ(vision::check_flat_record(dir / "b.json", seen).error().reason, "duplicate_image");
}
