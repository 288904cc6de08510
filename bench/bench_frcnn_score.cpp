// Scores a reference trainer's val predictions with Vision's own evaluator, so scripts/bench-frcnn
// compares both sides' mAP computed the same way. The predictions are the JSON
// bench/faster_rcnn/torchvision_train.py writes: {"predictions": [{"image": "images/val/a.jpg",
// "width", "height", "detections": [{"box": [x1, y1, x2, y2] pixels, "class": 0-based, "score"}]}]};
// the truth is each image's YOLO label file under DATA.
//   bench_frcnn_score --data DIR --predictions FILE
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "vision/core/contracts.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/data/yolo_labels.hpp"
#include "vision/eval/detection_metrics.hpp"

int main(int argc, char** argv) {
  std::filesystem::path data, predictions_file;
  CLI::App app{"Vision's mAP of a reference trainer's val predictions"};
  app.add_option("--data", data, "The YOLO data set (dataset.yaml, labels/val)")->required()->check(CLI::ExistingDirectory);
  app.add_option("--predictions", predictions_file, "The predictions JSON")->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  const auto names = vision::read_dataset_yaml_names(data / "dataset.yaml");
  if (!names || names->empty()) {
    std::fprintf(stderr, "bench_frcnn_score: no class names in %s\n", (data / "dataset.yaml").c_str());
    return 1;
  }
  nlohmann::json predictions;
  try {
    predictions = nlohmann::json::parse(std::ifstream(predictions_file));
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "bench_frcnn_score: %s: %s\n", predictions_file.c_str(), e.what());
    return 1;
  }
  vision::DetectionEvaluator evaluator(*names);
  const int num_classes = static_cast<int>(names->size());
  for (const auto& image : predictions.at("predictions")) {
    const int width = image.at("width"), height = image.at("height");
    const auto labels = vision::read_yolo_labels(vision::label_path_for(data / image.at("image").get<std::string>()),
                                                 num_classes, vision::LabelStrictness::strict);
    if (!labels) {
      std::fprintf(stderr, "bench_frcnn_score: %s\n", labels.error().message.c_str());
      return 1;
    }
    std::vector<vision::GroundTruthBox> truth;
    for (const auto& box : labels->boxes) truth.push_back({box.class_id, vision::yolo_box_to_xyxy(box, width, height)});
    std::vector<vision::Detection> detections;
    for (const auto& d : image.at("detections")) {
      vision::Detection detection;
      detection.class_id = d.at("class");
      detection.score = d.at("score");
      detection.bbox_xyxy = d.at("box").get<std::array<float, 4>>();
      detections.push_back(detection);
    }
    evaluator.add(truth, detections);
  }
  const auto metrics = evaluator.compute();
  std::printf("images %lld, instances %lld: P %.4f R %.4f mAP50 %.4f mAP50-95 %.4f\n",
              static_cast<long long>(metrics.images), static_cast<long long>(metrics.instances), metrics.precision,
              metrics.recall, metrics.map50, metrics.map50_95);
  return 0;
}
