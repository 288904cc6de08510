// Coming from the Python original (#17), through the real vision binary: a folder laid out as the
// original left it (its example config, its YOLO set, a flat LabelRecord folder) passes
// `config check`, `train --dry-run` with yolo and every faster_rcnn variant the original knew,
// `labels import`, and a real one-epoch training on the imported set.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"

namespace fs = std::filesystem;
using vision::test::printed_artifacts;
using vision::test::ProcessResult;
using vision::test::read_json;
using vision::test::read_text;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

// The original's example config as it shipped: every section and key it had, its paths
// (./work-dir/models/exp001/… for autolabel, edge and remote) and its spellings (train.device =
// "0", the faster_rcnn variant names). @BACKEND@ and @VARIANT@ are filled in per run.
constexpr std::string_view k_original_config = R"toml(# Vision Refactor Project: example configuration
[app]
schema_version = 1

[workspace]
root = "./work-dir"
run_name = "exp001"
log_file = "log.txt"
log_level = "INFO"

[class_map]
names = ["circle", "square", "triangle", "star"]
id_map = { circle = 0, square = 1, triangle = 2, star = 3 }

[data]
yolo_dataset_dir = "./work-dir/datasets/yolo"
labeled_dir = "./work-dir/datasets/labeled"
unlabeled_dir = "./work-dir/datasets/unlabeled"

[train]
backend = "@BACKEND@"
device = "0"
seed = 42
epochs = 50
batch_size = 16
img_size = 640
dry_run = false

[train.yolo]
weights = ""

[train.faster_rcnn]
variant = "@VARIANT@"
lr = 0.005
momentum = 0.9
weight_decay = 0.0005
num_workers = 0
max_samples = 0

[export]
onnx = true
opset = 17
quantize = true
quantize_mode = "static"
calib_samples = 32

[autolabel]
mode = "model"
confidence = 0.5
batch_size = 2
visualize = true
on_conflict = "skip"

[autolabel.model]
onnx_model = "./work-dir/models/exp001/model-int8.onnx"
backend = "yolo"

[autolabel.llm]
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
prompt = "Detect every object of the listed classes and answer in JSON."
timeout_sec = 60
max_retries = 2
retry_backoff_sec = 1.5
qps_limit = 1.0
max_images = 0

[deploy.edge]
source_id = "edge-001"
mode = "local"
source = "images"
camera_id = 0
video_path = ""
images_dir = "./work-dir/datasets/unlabeled"
rtsp_url = ""
fps_limit = 10
jpeg_quality = 80
confidence = 0.5
local_model = "./work-dir/models/exp001/model-int8.onnx"
stats_endpoint = "http://127.0.0.1:7797/api/v1/push"
api_key = ""
stats_timeout_sec = 2.0
save_annotated = true
max_frames = 0
stream_endpoint = "http://127.0.0.1:60051/api/v1/frame"
stream_timeout_sec = 5.0
stream_api_key = ""

[deploy.edge.llm]
base_url = "https://api.openai.com/v1"
model = "gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
prompt = "Detect every object of the listed classes and answer in JSON."
timeout_sec = 60
max_retries = 2
retry_backoff_sec = 1.5
qps_limit = 1.0

[deploy.remote]
source_id = "remote-001"
listen_host = "127.0.0.1"
listen_port = 60051
model = "./work-dir/models/exp001/model-int8.onnx"
confidence = 0.5
stats_endpoint = "http://127.0.0.1:7797/api/v1/push"
api_key = ""
ingest_api_key = ""
stats_timeout_sec = 2.0
save_annotated = false
max_payload_mb = 8
workers = 2

[deploy.statistics]
ui_port = 7796
api_port = 7797
storage = "sqlite"
db_path = "./work-dir/stats/stats.db"
postgres_url = ""
public_host = "127.0.0.1"
api_key = ""
rate_limit_per_sec = 0

[logging]
jsonl = true

[statistics]
flush_interval_sec = 5
)toml";

constexpr int k_flat_images = 16;
constexpr int k_image_size = 128;

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

class Migration : public testing::Test {
 protected:
  void SetUp() override {
    write_config("yolo", "mobilenet_v3");
    // The original's training set at its data.yolo_dataset_dir, small enough for quick dry runs.
    ASSERT_TRUE(vision::write_shape_dataset({m_root / "work-dir/datasets/yolo", 8, 4, 64, 3}));
    write_flat_folder();
  }

  void write_config(const std::string& backend, const std::string& variant) {
    write_text(m_root / "work-dir/config.toml",
               replaced(replaced(std::string(k_original_config), "@BACKEND@", backend), "@VARIANT@", variant));
  }

  // What the original's autolabel left: images in unlabeled/ and one <stem>.json per image in
  // labeled/, image_path absolute, relative to the folder it ran in (this root) or relative to
  // the record; half the detections without their own schema_version. Plus two bad records.
  void write_flat_folder() {
    const fs::path unlabeled = m_root / "work-dir/datasets/unlabeled";
    const fs::path labeled = m_root / "work-dir/datasets/labeled";
    fs::create_directories(unlabeled);
    fs::create_directories(labeled);
    for (int i = 0; i < k_flat_images; ++i) {
      const std::string stem = "shape_" + std::to_string(i);
      const auto sample = vision::make_shape_sample(static_cast<std::uint64_t>(100 + i), {k_image_size, 1, 3});
      cv::imwrite((unlabeled / (stem + ".jpg")).string(), sample.image);
      const std::string image_path = i % 3 == 0   ? (unlabeled / (stem + ".jpg")).string()
                                     : i % 3 == 1 ? "./work-dir/datasets/unlabeled/" + stem + ".jpg"
                                                  : "../unlabeled/" + stem + ".jpg";
      nlohmann::json detections = nlohmann::json::array();
      for (const auto& box : sample.boxes) {
        nlohmann::json detection = {{"class_id", box.class_id},
                                    {"class_name", vision::k_shape_class_names[static_cast<size_t>(box.class_id)]},
                                    {"score", 0.9},
                                    {"bbox_xyxy", vision::yolo_box_to_xyxy(box, k_image_size, k_image_size)}};
        if (i % 2 == 0) detection["schema_version"] = 1;
        detections.push_back(detection);
        ++m_boxes;
      }
      write_text(labeled / (stem + ".json"), nlohmann::json{{"schema_version", 1},
                                                            {"image_path", image_path},
                                                            {"source", "model:./work-dir/models/exp001/model-int8.onnx"},
                                                            {"detections", detections}}
                                                 .dump(2));
    }
    write_text(labeled / "broken.json", "{\"schema_version\": 1, \"image_path\":");
    write_text(labeled / "moved.json", R"({"schema_version": 1, "image_path": "/data/old-machine/moved.jpg",
                                          "source": "model:x", "detections": []})");
  }

  ProcessResult run(const std::vector<std::string>& args) const { return vision::test::run_vision(args, m_root.path()); }

  // A dry run small enough for a test; the config's own device "0" is checked on its own.
  ProcessResult dry_run() const {
    return run({"train", "--dry-run", "--device", "cpu", "--img-size", "64", "--batch-size", "2"});
  }

  TempDir m_root;  // the original's repository root: work-dir/ beside the code
  int m_boxes = 0;
};

}  // namespace

TEST_F(Migration, TheOriginalsFolderChecksImportsAndTrains) {
  const auto check = run({"config", "check"});
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("work-dir/config.toml"), std::string::npos) << check.out;

  // device "0" means cuda:0, as in Ultralytics: this CPU-only build says so, no config error.
  const auto gpu = run({"train", "--dry-run", "--img-size", "64", "--batch-size", "2"});
  if (gpu.exit_code != 0) {
    EXPECT_EQ(gpu.exit_code, 3) << gpu.err;
    EXPECT_NE(gpu.err.find("CUDA"), std::string::npos) << gpu.err;
  }

  const auto yolo = dry_run();
  ASSERT_EQ(yolo.exit_code, 0) << yolo.err;
  EXPECT_EQ(printed_artifacts(yolo)["artifacts"]["dry_run"], true);

  // Each variant name the original accepted, under backend yolo and under faster_rcnn: the
  // config and the data set are accepted, and a faster_rcnn dry run of each variant succeeds.
  for (const char* variant : {"mobilenet_v3", "resnet50_fpn", "resnet50_fpn_v2", "resnet18_fpn"}) {
    SCOPED_TRACE(variant);
    write_config("yolo", variant);  // a faster_rcnn value never fails a yolo run
    ASSERT_EQ(dry_run().exit_code, 0);
    write_config("faster_rcnn", variant);
    ASSERT_EQ(run({"config", "check", "--for", "train"}).exit_code, 0);
    const auto frcnn = dry_run();
    ASSERT_EQ(frcnn.exit_code, 0) << frcnn.err;
    const auto artifacts = printed_artifacts(frcnn);
    EXPECT_EQ(artifacts["backend"], "faster_rcnn");
    EXPECT_TRUE(artifacts["artifacts"].contains("dataset")) << frcnn.err;
    EXPECT_EQ(artifacts["artifacts"]["dry_run"], true);
    EXPECT_TRUE(artifacts["artifacts"]["samples"].contains("skipped_by_reason"));
  }

  // With no YOLO data set the faster_rcnn backend reads the flat records, and `vision val` on its
  // checkpoint reads the same val split; a YOLO checkpoint there is an error naming the key.
  const std::string no_yolo_set = "data.yolo_dataset_dir=work-dir/nowhere";
  const auto flat =
      run({"train", "--dry-run", "--device", "cpu", "--img-size", "64", "--batch-size", "2", "--set", no_yolo_set});
  ASSERT_EQ(flat.exit_code, 0) << flat.err;
  const auto flat_artifacts = printed_artifacts(flat)["artifacts"];
  EXPECT_EQ(flat_artifacts["samples"]["source"], "flat_records");
  const std::string flat_best = flat_artifacts["best_pt"];
  const auto flat_val = run({"val", "--device", "cpu", "--model", flat_best, "--set", no_yolo_set});
  ASSERT_EQ(flat_val.exit_code, 0) << flat_val.err;
  EXPECT_EQ(printed_artifacts(flat_val)["artifacts"]["metrics"]["images"], flat_artifacts["samples"]["val"]);
  write_config("yolo", "resnet50_fpn");
  const auto yolo_best = printed_artifacts(yolo)["artifacts"]["best_pt"].get<std::string>();
  const auto yolo_val = run({"val", "--device", "cpu", "--model", yolo_best, "--set", no_yolo_set});
  EXPECT_NE(yolo_val.exit_code, 0);
  EXPECT_NE(yolo_val.err.find("data.yolo_dataset_dir"), std::string::npos) << yolo_val.err;

  // labels import into data.labeled_dir, the folder the flat records are in.
  const auto imported = run({"labels", "import", "--from", "work-dir/datasets/labeled"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.out.find("labels import: 18 records, 16 imported (16 new"), std::string::npos) << imported.out;
  const auto report = printed_artifacts(imported)["artifacts"];
  EXPECT_EQ(report["imported"], k_flat_images);
  EXPECT_EQ(report["detections"], m_boxes);
  EXPECT_EQ(report["skipped_by_reason"], (nlohmann::json{{"image_missing", 1}, {"unreadable_json", 1}}));
  EXPECT_EQ(report["image_paths_resolved"], (nlohmann::json{{"absolute", 6}, {"cwd", 5}, {"record_folder", 5}}));
  const fs::path labeled = m_root / "work-dir/datasets/labeled";
  EXPECT_TRUE(fs::is_regular_file(labeled / "images/shape_0.jpg"));
  EXPECT_EQ(read_json(labeled / "records/shape_1.json")["imported"]["image_path_base"], "cwd");
  EXPECT_NE(read_text(labeled / "dataset.yaml").find("star"), std::string::npos);

  // Twice is once.
  const auto again = run({"labels", "import", "--from", "work-dir/datasets/labeled"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(printed_artifacts(again)["artifacts"]["imported"], 0);
  EXPECT_EQ(printed_artifacts(again)["artifacts"]["skipped_by_reason"]["already_in_target"], k_flat_images);

  // A real epoch on the imported set, exported to the original's model path.
  const auto train = run({"train", "--data", "work-dir/datasets/labeled", "--epochs", "1", "--device", "cpu",
                             "--img-size", "64", "--batch-size", "4", "--set", "train.yolo.strict_labels=true"});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const auto trained = printed_artifacts(train)["artifacts"];
  EXPECT_EQ(trained["epochs_trained"], 1);
  const auto& dataset = trained["dataset"];
  EXPECT_EQ(dataset["train"]["images"].get<int>() + dataset["val"]["images"].get<int>(), k_flat_images);
  EXPECT_GT(dataset["val"]["images"].get<int>(), 0);
  EXPECT_EQ(dataset["train"]["boxes"].get<int>() + dataset["val"]["boxes"].get<int>(), m_boxes);
  EXPECT_EQ(dataset["problems_count"], 0);
  EXPECT_TRUE(fs::equivalent(m_root / "work-dir/models/exp001/model-int8.onnx", trained["model_int8_path"].get<std::string>()));
}

TEST_F(Migration, ImportErrorsNameTheProblemAndLeaveTheTargetAlone) {
  const auto nowhere = run({"labels", "import", "--from", "work-dir/nowhere"});
  EXPECT_EQ(nowhere.exit_code, 2);
  EXPECT_NE(nowhere.err.find("--from: folder not found"), std::string::npos) << nowhere.err;
  const auto bad_flag = run({"labels", "import", "--from", "work-dir/datasets/labeled", "--link", "move"});
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_FALSE(fs::exists(m_root / "work-dir/runs"));

  // One record calls class 0 "star": class_map.names says circle.
  const fs::path record = m_root / "work-dir/datasets/labeled/shape_3.json";
  auto json = read_json(record);
  json["detections"][0]["class_id"] = 0;
  json["detections"][0]["class_name"] = "star";
  write_text(record, json.dump());
  const auto conflict = run({"labels", "import", "--from", "work-dir/datasets/labeled"});
  EXPECT_EQ(conflict.exit_code, 1);
  EXPECT_NE(conflict.err.find("shape_3.json: detections[0] is class_id 0 \"star\", class_map.names has \"circle\" at 0"),
            std::string::npos)
      << conflict.err;
  EXPECT_EQ(printed_artifacts(conflict)["status"], "failed");
  EXPECT_FALSE(fs::exists(m_root / "work-dir/datasets/labeled/images"));

  // Not one usable record: the run fails and says why.
  const fs::path only_bad = m_root / "only-bad";
  fs::create_directories(only_bad);
  write_text(only_bad / "a.json", R"({"image_path": "/data/old-machine/a.jpg", "detections": []})");
  const auto nothing = run({"labels", "import", "--from", "only-bad"});
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.err.find("could be imported (image_missing 1)"), std::string::npos) << nothing.err;
}
