// labels import: the Python original's flat LabelRecords into Vision's layout — where images are
// found, every reason a record is skipped, class ids that conflict, idempotence, and that bad
// input leaves the target as it was.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <ostream>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/label_records.hpp"
#include "vision/autolabel/label_import.hpp"
#include "vision/data/yolo_dataset.hpp"

namespace fs = std::filesystem;
using vision::Detection;
using vision::LabelImportOptions;
using vision::test::read_json;
using vision::test::read_text;
using vision::test::read_tree;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

const std::vector<std::string> k_names = {"cat", "dog"};

// A 200×100 image; `shade` makes images with different bytes.
fs::path write_image(const fs::path& file, int shade = 80) {
  fs::create_directories(file.parent_path());
  cv::imwrite(file.string(), cv::Mat(100, 200, CV_8UC3, cv::Scalar(40, shade, 120)));
  return file;
}

// A flat record as the original wrote it: <dir>/<stem>.json.
void write_record(const fs::path& dir, const std::string& stem, const std::string& image_path,
                  const std::vector<Detection>& detections) {
  fs::create_directories(dir);
  write_text(dir / (stem + ".json"), vision::to_json(vision::LabelRecord{image_path, "model:/old/model.onnx", detections}).dump());
}

const Detection k_cat{0, "cat", 0.9F, {20, 10, 60, 50}};
const Detection k_dog{1, "dog", 0.8F, {100, 0, 200, 100}};

class LabelImport : public testing::Test {
 protected:
  LabelImportOptions options() const {
    LabelImportOptions o;
    o.from = m_dir / "flat";
    o.to = m_dir / "labeled";
    return o;
  }

  vision::LabelImportReport import_ok(const LabelImportOptions& o) {
    auto report = vision::import_flat_labels(o);
    EXPECT_TRUE(report) << report.error().message;
    return report ? *report : vision::LabelImportReport{};
  }

  TempDir m_dir;
};

// Runs the body in `dir` as the current directory, as the original ran in its repository.
class CurrentDirectory {
 public:
  explicit CurrentDirectory(const fs::path& dir) : m_saved(fs::current_path()) { fs::current_path(dir); }
  ~CurrentDirectory() { fs::current_path(m_saved); }
  CurrentDirectory(const CurrentDirectory&) = delete;
  CurrentDirectory& operator=(const CurrentDirectory&) = delete;

 private:
  fs::path m_saved;
};

}  // namespace

TEST_F(LabelImport, WritesATrainableSetFromAbsoluteAndRelativeImagePaths) {
  const fs::path absolute = write_image(m_dir / "pictures/a.jpg");
  write_image(m_dir / "pictures/b.png", 90);
  write_image(m_dir / "pictures/c.jpg", 100);
  write_record(m_dir / "flat", "a", absolute.string(), {k_cat});
  write_record(m_dir / "flat", "b", "../pictures/b.png", {k_dog, k_cat});  // from the record's folder
  write_record(m_dir / "flat", "c", "pictures/c.jpg", {});                 // from the current directory
  const CurrentDirectory cwd(m_dir.path());
  const auto report = import_ok(options());

  EXPECT_EQ(report.records, 3);
  EXPECT_EQ(report.imported(), 3);
  EXPECT_EQ(report.skipped, 0);
  EXPECT_EQ(report.counts.detections, 3);
  EXPECT_EQ(report.image_paths_resolved, (std::map<std::string, std::int64_t>{{"absolute", 1}, {"record_folder", 1}, {"cwd", 1}}));
  EXPECT_EQ(report.class_names, k_names);
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a.txt"), "0 0.200000 0.300000 0.200000 0.400000\n");
  EXPECT_EQ(fs::file_size(m_dir / "labeled/labels/c.txt"), 0U);
  EXPECT_TRUE(fs::is_regular_file(m_dir / "labeled/images/b.png"));
  EXPECT_FALSE(fs::equivalent(m_dir / "labeled/images/b.png", m_dir / "pictures/b.png"));  // copied by default
  EXPECT_FALSE(fs::exists(m_dir / "labeled/previews"));

  const auto record_json = read_json(m_dir / "labeled/records/b.json");
  const auto record = vision::label_record_from_json(record_json);
  ASSERT_TRUE(record) << record.error().message;
  EXPECT_EQ(record->image_path, "images/b.png");
  EXPECT_EQ(record->source, "import:" + (m_dir / "flat/b.json").string());
  ASSERT_EQ(record->detections.size(), 2U);
  EXPECT_FLOAT_EQ(record->detections[0].score, 0.8F);
  EXPECT_EQ(record_json["imported"]["source"], "model:/old/model.onnx");
  EXPECT_EQ(record_json["imported"]["image_path"], "../pictures/b.png");
  EXPECT_EQ(record_json["imported"]["image_path_base"], "record_folder");

  auto dataset = vision::load_yolo_dataset({m_dir / "labeled", k_names, vision::LabelStrictness::strict});
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ(dataset->train.size() + dataset->val.size(), 3U);
  EXPECT_FALSE(dataset->val.empty());
}

TEST_F(LabelImport, TheRecordsFolderWinsOverTheCurrentDirectory) {
  write_image(m_dir / "flat/x.jpg", 10);
  write_image(m_dir / "x.jpg", 200);
  write_record(m_dir / "flat", "x", "x.jpg", {});
  const CurrentDirectory cwd(m_dir.path());
  const auto image = vision::resolve_flat_record_image(m_dir / "flat/x.json", "x.jpg");
  ASSERT_TRUE(image);
  EXPECT_EQ(image->path, m_dir / "flat/x.jpg");
  EXPECT_EQ(image->base, vision::ImagePathBase::record_folder);
  EXPECT_FALSE(vision::resolve_flat_record_image(m_dir / "flat/x.json", "nowhere.jpg"));
}

struct BadRecord {
  std::string name;
  std::string reason;
  std::string message;  // a part of the skip message
  std::function<void(const fs::path& dir)> make;  // writes flat/bad.json (and its image)
};

void PrintTo(const BadRecord& record, std::ostream* out) { *out << record.name; }

class SkippedRecord : public LabelImport, public testing::WithParamInterface<BadRecord> {};

TEST_P(SkippedRecord, IsCountedByReasonAndTheOthersAreImported) {
  // "a" sorts before "bad": the record a duplicate repeats comes first.
  write_record(m_dir / "flat", "a", write_image(m_dir / "pictures/a.jpg").string(), {k_cat});
  GetParam().make(m_dir.path());
  const auto report = import_ok(options());
  EXPECT_EQ(report.records, 2);
  EXPECT_EQ(report.imported(), 1);
  EXPECT_EQ(report.skipped, 1);
  EXPECT_EQ(report.skipped_by_reason, (std::map<std::string, std::int64_t>{{GetParam().reason, 1}}));
  ASSERT_EQ(report.skipped_records.size(), 1U);
  EXPECT_NE(report.skipped_records[0].find(GetParam().message), std::string::npos) << report.skipped_records[0];
  EXPECT_TRUE(fs::exists(m_dir / "labeled/labels/a.txt"));
  EXPECT_FALSE(fs::exists(m_dir / "labeled/labels/bad.txt"));
}

INSTANTIATE_TEST_SUITE_P(
    LabelImport, SkippedRecord,
    testing::Values(
        BadRecord{"BrokenJson", "unreadable_json", "bad.json: not valid JSON",
                  [](const fs::path& d) { write_text(d / "flat/bad.json", "{\"image_path\": "); }},
        BadRecord{"NoImagePath", "invalid_record", "image_path: missing",
                  [](const fs::path& d) { write_text(d / "flat/bad.json", R"({"schema_version": 1, "detections": []})"); }},
        BadRecord{"ScoreOutOfRange", "invalid_record", "detections[0].score",
                  [](const fs::path& d) {
                    write_text(d / "flat/bad.json",
                               R"({"image_path": "x.jpg", "detections": [{"class_id": 0, "class_name": "cat",
                                   "score": 7, "bbox_xyxy": [0, 0, 5, 5]}]})");
                  }},
        BadRecord{"ImageMissing", "image_missing", "image_path \"gone.jpg\" names no file",
                  [](const fs::path& d) { write_record(d / "flat", "bad", "gone.jpg", {k_cat}); }},
        BadRecord{"ImageUnreadable", "image_unreadable", "bad.jpg",
                  [](const fs::path& d) {
                    write_text(d / "pictures/bad.jpg", "not an image");
                    write_record(d / "flat", "bad", (d / "pictures/bad.jpg").string(), {k_cat});
                  }},
        BadRecord{"BoxOutsideTheImage", "box_outside_image", "detections[1].bbox_xyxy [100, 0, 260, 100] reaches outside",
                  [](const fs::path& d) {
                    write_record(d / "flat", "bad", write_image(d / "pictures/bad.jpg", 1).string(),
                                 {k_cat, {1, "dog", 0.5F, {100, 0, 260, 100}}});
                  }},
        BadRecord{"DegenerateBox", "degenerate_box", "detections[0].bbox_xyxy [50, 20, 50, 40] has no area",
                  [](const fs::path& d) {
                    write_record(d / "flat", "bad", write_image(d / "pictures/bad.jpg", 1).string(),
                                 {{0, "cat", 0.5F, {50, 20, 50, 40}}});
                  }},
        BadRecord{"SameImageAsAnEarlierRecord", "duplicate_image", "is the image of an earlier record",
                  [](const fs::path& d) { write_record(d / "flat", "bad", (d / "pictures/a.jpg").string(), {k_cat}); }},
        BadRecord{"AnotherImageOfTheSameStemInTheTarget", "duplicate_stem", "another image of this name in the target",
                  [](const fs::path& d) {
                    write_image(d / "labeled/images/bad.png", 3);
                    write_record(d / "flat", "bad", write_image(d / "pictures/bad.jpg", 1).string(), {k_cat});
                  }}),
    [](const testing::TestParamInfo<BadRecord>& info) { return info.param.name; });

TEST_F(LabelImport, ABoxOverhangingTheEdgeALittleIsClipped) {
  write_record(m_dir / "flat", "a", write_image(m_dir / "pictures/a.jpg").string(), {{1, "dog", 0.7F, {100, -1, 203, 100}}});
  auto o = options();
  o.class_names = k_names;
  const auto report = import_ok(o);
  EXPECT_EQ(report.imported(), 1);
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a.txt"), "1 0.750000 0.500000 0.500000 1.000000\n");
}

TEST_F(LabelImport, ImportingTwiceDuplicatesNothing) {
  for (const char* stem : {"a", "b", "c"}) {
    write_record(m_dir / "flat", stem, write_image(m_dir / "pictures" / (std::string(stem) + ".jpg"), stem[0]).string(), {k_cat});
  }
  ASSERT_EQ(import_ok(options()).imported(), 3);
  const auto before = read_tree(m_dir / "labeled");
  const auto again = import_ok(options());
  EXPECT_EQ(again.imported(), 0);
  EXPECT_EQ(again.skipped_by_reason, (std::map<std::string, std::int64_t>{{"already_in_target", 3}}));
  EXPECT_EQ(read_tree(m_dir / "labeled"), before);
}

TEST_F(LabelImport, OverwriteAndMergeReplaceOrExtendWhatTheTargetHas) {
  const fs::path image = write_image(m_dir / "pictures/a.jpg");
  write_record(m_dir / "flat", "a", image.string(), {k_cat});
  import_ok(options());
  write_record(m_dir / "flat", "a", image.string(), {{0, "cat", 0.6F, {22, 10, 60, 50}}, k_dog});
  auto o = options();
  o.on_conflict = vision::OnConflict::merge;
  const auto merged = import_ok(o);
  EXPECT_EQ(merged.counts.merged, 1);
  EXPECT_EQ(merged.counts.detections, 1);  // the second cat overlaps the first
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a.txt"),
            "0 0.200000 0.300000 0.200000 0.400000\n1 0.750000 0.500000 0.500000 1.000000\n");
  o.on_conflict = vision::OnConflict::overwrite;
  const auto overwritten = import_ok(o);
  EXPECT_EQ(overwritten.counts.overwritten, 1);
  EXPECT_EQ(read_text(m_dir / "labeled/labels/a.txt"),
            "0 0.205000 0.300000 0.190000 0.400000\n1 0.750000 0.500000 0.500000 1.000000\n");
}

TEST_F(LabelImport, LinksImagesWhenAsked) {
  const fs::path a = write_image(m_dir / "pictures/a.jpg");
  const fs::path b = write_image(m_dir / "pictures/b.jpg", 1);
  write_record(m_dir / "flat", "a", a.string(), {});
  auto o = options();
  o.class_names = k_names;
  o.image_transfer = vision::ImageTransfer::hard_link;
  import_ok(o);
  EXPECT_TRUE(fs::equivalent(m_dir / "labeled/images/a.jpg", a));
  EXPECT_FALSE(fs::is_symlink(m_dir / "labeled/images/a.jpg"));
  fs::remove(m_dir / "flat/a.json");
  write_record(m_dir / "flat", "b", b.string(), {});
  o.image_transfer = vision::ImageTransfer::symlink;
  import_ok(o);
  EXPECT_TRUE(fs::is_symlink(m_dir / "labeled/images/b.jpg"));
  EXPECT_EQ(fs::read_symlink(m_dir / "labeled/images/b.jpg"), b);
}

TEST_F(LabelImport, ImagesUnderTheUnlabeledFolderKeepTheirPathsThere) {
  write_record(m_dir / "flat", "frame0", write_image(m_dir / "unlabeled/cam2/frame0.jpg").string(), {k_cat});
  auto o = options();
  o.unlabeled_dir = m_dir / "unlabeled";
  import_ok(o);
  EXPECT_TRUE(fs::exists(m_dir / "labeled/images/cam2/frame0.jpg"));
  EXPECT_TRUE(fs::exists(m_dir / "labeled/labels/cam2/frame0.txt"));
  EXPECT_TRUE(fs::exists(m_dir / "labeled/records/cam2/frame0.json"));
}

TEST_F(LabelImport, ClassNamesExtendTheTargetsDatasetYaml) {
  write_image(m_dir / "labeled/images/old.jpg", 5);
  ASSERT_TRUE(vision::write_dataset_yaml(m_dir / "labeled", {"train.txt", "val.txt", {"cat", "dog"}, ""}));
  write_record(m_dir / "flat", "a", write_image(m_dir / "pictures/a.jpg").string(), {k_dog, {2, "bird", 0.5F, {0, 0, 9, 9}}});
  const auto report = import_ok(options());
  EXPECT_EQ(report.class_names, (std::vector<std::string>{"cat", "dog", "bird"}));
  const auto names = vision::read_dataset_yaml_names(m_dir / "labeled/dataset.yaml");
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, report.class_names);
}

struct ClassConflict {
  std::string name;
  std::vector<std::string> class_map;
  std::vector<std::string> target_names;  // the target's dataset.yaml; none when empty
  std::vector<std::vector<Detection>> records;
  std::string message;  // a part of the error
};

void PrintTo(const ClassConflict& conflict, std::ostream* out) { *out << conflict.name; }

class ConflictingClasses : public LabelImport, public testing::WithParamInterface<ClassConflict> {};

TEST_P(ConflictingClasses, StopTheImportBeforeTheTargetChanges) {
  const auto& p = GetParam();
  write_image(m_dir / "labeled/images/old.jpg", 5);
  write_text(m_dir / "labeled/labels/old.txt", "0 0.5 0.5 0.1 0.1\n");
  if (!p.target_names.empty()) ASSERT_TRUE(vision::write_dataset_yaml(m_dir / "labeled", {"train.txt", "val.txt", p.target_names, ""}));
  for (size_t i = 0; i < p.records.size(); ++i) {
    const std::string stem = "r" + std::to_string(i);
    write_record(m_dir / "flat", stem, write_image(m_dir / "pictures" / (stem + ".jpg"), static_cast<int>(i)).string(), p.records[i]);
  }
  const auto before = read_tree(m_dir / "labeled");
  auto o = options();
  o.class_names = p.class_map;
  const auto report = vision::import_flat_labels(o);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(report.error().message.find(p.message), std::string::npos) << report.error().message;
  EXPECT_EQ(read_tree(m_dir / "labeled"), before);
}

INSTANTIATE_TEST_SUITE_P(
    LabelImport, ConflictingClasses,
    testing::Values(
        ClassConflict{"OneIdTwoNames", {}, {}, {{k_cat}, {{0, "dog", 0.5F, {0, 0, 9, 9}}}},
                      "r1.json: detections[0] is class_id 0 \"dog\", "},
        ClassConflict{"OneNameTwoIds", {}, {}, {{k_cat, k_dog}, {{2, "dog", 0.5F, {0, 0, 9, 9}}}},
                      "r1.json: detections[0] is class_id 2 \"dog\", "},
        ClassConflict{"AnIdWithoutAName", {}, {}, {{{2, "bird", 0.5F, {0, 0, 9, 9}}}}, "class id 0 has no name"},
        ClassConflict{"TheTargetsYaml", {}, {"dog", "cat"}, {{k_cat}}, "dataset.yaml has \"dog\" at 0"},
        ClassConflict{"ClassMap", {"cat", "bird"}, {}, {{k_cat, k_dog}}, "class_map.names has \"bird\" at 1"},
        ClassConflict{"BeyondTheClassMap", {"cat"}, {}, {{k_dog}}, "class_map.names has no class at 1"},
        ClassConflict{"ClassMapAndTargetYaml", {"cat", "dog"}, {"dog", "cat"}, {{k_cat}}, "differ from class_map.names"}),
    [](const testing::TestParamInfo<ClassConflict>& info) { return info.param.name; });

TEST_F(LabelImport, AFolderWithoutUsableRecordsLeavesTheTargetAsItWas) {
  write_image(m_dir / "labeled/images/old.jpg");
  write_text(m_dir / "labeled/labels/old.txt", "0 0.5 0.5 0.1 0.1\n");
  write_record(m_dir / "flat", "a", "gone.jpg", {k_cat});
  write_text(m_dir / "flat/b.json", "[]");
  const auto before = read_tree(m_dir / "labeled");
  const auto report = import_ok(options());
  EXPECT_EQ(report.imported(), 0);
  EXPECT_EQ(report.skipped_by_reason, (std::map<std::string, std::int64_t>{{"image_missing", 1}, {"invalid_record", 1}}));
  EXPECT_EQ(read_tree(m_dir / "labeled"), before);
}

TEST_F(LabelImport, AFolderWithoutRecordsIsAnError) {
  fs::create_directories(m_dir / "flat/records");
  write_text(m_dir / "flat/records/nested.json", "{}");  // Vision's own records are not flat records
  const auto report = vision::import_flat_labels(options());
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::not_found);
  EXPECT_FALSE(vision::import_flat_labels({.from = m_dir / "missing", .to = m_dir / "labeled"}));
}
