// `vision train`, `vision val --model best.pt` and `vision export` end to end on a tiny
// generated data set: every output file exists and parses, the loss falls, resume continues.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"

namespace fs = std::filesystem;
using vision::test::read_json;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

const std::vector<std::string> k_classes = {"--set", "class_map.names=[circle,square,triangle,star]"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

fs::path newest_run(const fs::path& workdir) {
  fs::path newest;
  for (const auto& entry : fs::directory_iterator(workdir / "runs")) {
    if (newest.empty() || fs::last_write_time(entry.path() / "metrics.json") > fs::last_write_time(newest / "metrics.json")) {
      newest = entry.path();
    }
  }
  return newest;
}

std::vector<std::vector<double>> read_csv_rows(const fs::path& csv, std::string& header) {
  std::ifstream in(csv);
  std::getline(in, header);
  std::vector<std::vector<double>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<double> row;
    std::stringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) row.push_back(std::stod(field));
    rows.push_back(row);
  }
  return rows;
}

class Train : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_vision({"datagen", "--out", (m_dir / "data").string(), "--train", "48", "--val", "16", "--size", "128",
                          "--seed", "3"})
                  .exit_code,
              0);
  }
  std::vector<std::string> train_args(const std::string& epochs) const {
    return with({"train", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(), "--epochs", epochs,
                 "--img-size", "128", "--batch-size", "8", "--set", "train.yolo.workers=2", "--set", "train.yolo.close_mosaic=1",
                 "--set", "export.quantize_mode=dynamic"},
                k_classes);
  }
  TempDir m_dir;
};

}  // namespace

TEST_F(Train, ThreeEpochsWriteEveryOutputAndTheLossFalls) {
  const auto result = run_vision(train_args("3"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const fs::path run = newest_run(m_dir / "wd");
  const auto artifacts = read_json(run / "artifacts.json");
  EXPECT_EQ(artifacts["status"], "ok");
  EXPECT_EQ(artifacts["backend"], "yolo");
  const auto& a = artifacts["artifacts"];
  EXPECT_EQ(a["epochs_trained"], 3);
  EXPECT_EQ(a["epochs"].size(), 3U);
  EXPECT_GE(a["best_map50"].get<double>(), 0.0);
  EXPECT_GE(a["best_map50_95"].get<double>(), 0.0);
  EXPECT_EQ(a["per_class"].size(), 4U);
  EXPECT_GT(a["images_per_second"].get<double>(), 0.0);
  EXPECT_EQ(a["optimizer"]["name"], "AdamW");
  EXPECT_EQ(a["dataset"]["train"]["images"], 48);

  std::string header;
  const auto rows = read_csv_rows(run / "results.csv", header);
  EXPECT_EQ(header.rfind("epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B)", 0), 0U);
  ASSERT_EQ(rows.size(), 3U);
  const auto loss = [](const std::vector<double>& row) { return row[1] + row[2] + row[3]; };
  EXPECT_LT(loss(rows[2]), loss(rows[0]));
  for (const char* png : {"results.png", "PR_curve.png", "confusion_matrix.png"}) {
    EXPECT_FALSE(cv::imread((run / png).string()).empty()) << png;
  }

  const fs::path models = m_dir / "wd/models" / run.filename();
  for (const char* file : {"best.pt", "last.pt", "model.onnx", "model-int8.onnx", "model.json"}) {
    EXPECT_TRUE(fs::is_regular_file(models / file)) << file;
  }
  EXPECT_EQ(a["model_path"], (models / "model.onnx").string());
  EXPECT_EQ(a["model_int8_path"], (models / "model-int8.onnx").string());
  const auto& report = a["export"];
  EXPECT_EQ(report["opset"], 17);
  EXPECT_EQ(report["quantize_mode"], "dynamic");
  EXPECT_LE(report["parity"]["box_margin"].get<double>(), 1);
  EXPECT_LE(report["parity"]["score_margin"].get<double>(), 1);
  for (const char* kind : {"fp32", "int8"}) {
    EXPECT_GT(report[kind]["size_bytes"].get<double>(), 0) << kind;
    EXPECT_GT(report[kind]["latency_ms"].get<double>(), 0) << kind;
    EXPECT_TRUE(report[kind].contains("map50_95")) << kind;
  }
  EXPECT_GE(report["fp32"]["size_bytes"].get<double>(), 3.5 * report["int8"]["size_bytes"].get<double>());
  const auto manifest = read_json(models / "model.json");
  EXPECT_EQ(manifest["names"], nlohmann::json({"circle", "square", "triangle", "star"}));
  EXPECT_EQ(manifest["img_size"], 128);
  EXPECT_EQ(manifest["input"]["name"], "images");
  EXPECT_EQ(manifest["output"]["name"], "output0");
  EXPECT_EQ(manifest["source_run"], run.filename().string());
  EXPECT_TRUE(std::regex_match(manifest["class_map_sha256"].get<std::string>(), std::regex("[0-9a-f]{64}")));

  // The checkpoint evaluates to the figures training reported for it, and the ONNX file too.
  const auto val = run_vision(with({"val", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(),
                                    "--model", (models / "best.pt").string()},
                                   k_classes));
  ASSERT_EQ(val.exit_code, 0) << val.err;
  const auto val_artifacts = read_json(newest_run(m_dir / "wd") / "artifacts.json")["artifacts"];
  EXPECT_NEAR(val_artifacts["map50_95"].get<double>(), a["best_map50_95"].get<double>(), 1e-6);
  EXPECT_NEAR(report["fp32"]["map50_95"].get<double>(), a["best_map50_95"].get<double>(), 0.01);

  // Resume continues from last.pt to the new epoch count, keeping the history.
  const auto resumed = run_vision(with(train_args("4"), {"--set", "train.yolo.resume=true", "--set", "export.onnx=false"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const fs::path resumed_run = newest_run(m_dir / "wd");
  const auto resumed_artifacts = read_json(resumed_run / "artifacts.json")["artifacts"];
  EXPECT_EQ(resumed_artifacts["epochs_trained"], 4);
  EXPECT_EQ(resumed_artifacts["weights"]["start_epoch"], 4);
  EXPECT_EQ(read_csv_rows(resumed_run / "results.csv", header).size(), 4U);
  EXPECT_TRUE(resumed_artifacts["model_path"].is_null());

  // vision export on the checkpoint writes a fresh model folder with static INT8.
  const auto exported = run_vision(with({"export", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(),
                                         "--model", (models / "best.pt").string(), "--set", "export.quantize_mode=static",
                                         "--set", "export.calib_samples=8"},
                                        k_classes));
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const fs::path export_run = newest_run(m_dir / "wd");
  const auto export_artifacts = read_json(export_run / "artifacts.json")["artifacts"];
  EXPECT_EQ(export_artifacts["export"]["quantize_mode"], "static");
  EXPECT_TRUE(fs::is_regular_file(m_dir / "wd/models" / export_run.filename() / "model-int8.onnx"));
}
