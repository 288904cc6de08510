#include "vision/infer/model_info.hpp"

#include <algorithm>
#include <regex>

#include <nlohmann/json.hpp>

namespace vision {

const char* model_format_name(ModelFormat format) {
  switch (format) {
    case ModelFormat::yolov8: return "yolov8";
    case ModelFormat::yolov8_transposed: return "yolov8_transposed";
    case ModelFormat::yolov5: return "yolov5";
    case ModelFormat::boxes_labels_scores: return "boxes_labels_scores";
  }
  return "unknown";
}

std::vector<std::string> parse_names_metadata(const std::string& text) {
  std::map<int, std::string> by_id;
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) by_id[static_cast<int>(i)] = j[i].get<std::string>();
    } else if (j.is_object()) {
      for (const auto& [key, value] : j.items()) by_id[std::stoi(key)] = value.get<std::string>();
    }
  } catch (const std::exception&) {
    // Python dict text: {0: 'person', 1: "traffic light"}
    static const std::regex entry(R"re((\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"))re");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), entry); it != std::sregex_iterator(); ++it) {
      by_id[std::stoi((*it)[1].str())] = (*it)[2].matched ? (*it)[2].str() : (*it)[3].str();
    }
  }
  std::vector<std::string> names;
  if (by_id.empty()) return names;
  names.resize(static_cast<size_t>(by_id.rbegin()->first) + 1);
  for (size_t i = 0; i < names.size(); ++i) names[i] = "class" + std::to_string(i);
  for (const auto& [id, name] : by_id) {
    if (id >= 0) names[static_cast<size_t>(id)] = name;
  }
  return names;
}

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  return text + "]";
}

const TensorSpec* find_output(const std::vector<TensorSpec>& outputs, const std::string& word) {
  for (const auto& o : outputs) {
    if (o.name.find(word) != std::string::npos) return &o;
  }
  return nullptr;
}

std::pair<int, int> imgsz_from_metadata(const std::map<std::string, std::string>& metadata) {
  const auto it = metadata.find("imgsz");
  if (it == metadata.end()) return {0, 0};
  static const std::regex numbers(R"(\d+)");
  std::vector<int> values;
  for (auto m = std::sregex_iterator(it->second.begin(), it->second.end(), numbers); m != std::sregex_iterator(); ++m) {
    values.push_back(std::stoi(m->str()));
  }
  if (values.size() == 1) return {values[0], values[0]};
  if (values.size() >= 2) return {values[1], values[0]};  // Ultralytics: [h, w]
  return {0, 0};
}

}  // namespace

Expected<ModelInfo> describe_model(const std::vector<TensorSpec>& inputs,
                                   const std::vector<TensorSpec>& outputs,
                                   const std::map<std::string, std::string>& metadata,
                                   const std::string& origin) {
  ModelInfo info;
  info.metadata = metadata;
  if (const auto task = metadata.find("task"); task != metadata.end() && task->second != "detect") {
    return fail(ErrorCode::invalid_data, origin + ": a \"" + task->second +
                                             "\" model; only detection models are supported");
  }
  if (inputs.size() != 1) {
    return fail(ErrorCode::invalid_data, origin + ": expected one image input, found " + std::to_string(inputs.size()));
  }
  if (outputs.empty()) return fail(ErrorCode::invalid_data, origin + ": the model has no outputs");
  if (const auto names = metadata.find("names"); names != metadata.end()) {
    info.names = parse_names_metadata(names->second);
  }
  if (const auto stride = metadata.find("stride"); stride != metadata.end()) {
    try {
      info.stride = std::max(1, std::stoi(stride->second));
    } catch (const std::exception&) {
      info.stride = 32;
    }
  }
  const TensorSpec& input = inputs.front();
  info.input_name = input.name;
  const auto& in = input.shape;
  if (in.size() != 4 && in.size() != 3) {
    return fail(ErrorCode::invalid_data, origin + ": input \"" + input.name + "\" has shape " +
                                             shape_text(in) + "; expected [N, 3, H, W]");
  }
  const size_t h_axis = in.size() - 2;
  const size_t c_axis = in.size() - 3;
  if (in[c_axis] != 3 && in[c_axis] != -1) {
    return fail(ErrorCode::invalid_data, origin + ": input \"" + input.name + "\" has " +
                                             std::to_string(in[c_axis]) + " channels; expected 3");
  }
  info.dynamic_batch = in.size() == 4 && in[0] < 0;
  info.input_height = static_cast<int>(std::max<std::int64_t>(in[h_axis], 0));
  info.input_width = static_cast<int>(std::max<std::int64_t>(in[h_axis + 1], 0));

  const TensorSpec* boxes = find_output(outputs, "boxes");
  const TensorSpec* labels = find_output(outputs, "labels");
  const TensorSpec* scores = find_output(outputs, "scores");
  if (boxes && labels && scores) {
    info.format = ModelFormat::boxes_labels_scores;
    info.output_names = {boxes->name, labels->name, scores->name};
    info.dynamic_size = info.input_width == 0 || info.input_height == 0;
    info.num_classes = static_cast<int>(info.names.size());
    return info;
  }

  if (info.input_width == 0 || info.input_height == 0) {
    const auto [w, h] = imgsz_from_metadata(metadata);
    info.input_width = w > 0 ? w : 640;
    info.input_height = h > 0 ? h : 640;
  }
  const TensorSpec& out = outputs.front();
  info.output_names = {out.name};
  if (out.shape.size() != 3 || out.shape[1] <= 0 || out.shape[2] <= 0) {
    return fail(ErrorCode::invalid_data, origin + ": output \"" + out.name + "\" has shape " +
                                             shape_text(out.shape) +
                                             "; expected [N, 4+nc, A], [N, A, 5+nc] or "
                                             "boxes/labels/scores outputs");
  }
  const auto d1 = out.shape[1];
  const auto d2 = out.shape[2];
  const auto nc = static_cast<std::int64_t>(info.names.size());
  if (nc > 0 && d1 == 4 + nc) {
    info.format = ModelFormat::yolov8;
  } else if (nc > 0 && d2 == 4 + nc) {
    info.format = ModelFormat::yolov8_transposed;
  } else if (nc > 0 && d2 == 5 + nc) {
    info.format = ModelFormat::yolov5;
  } else if (nc > 0) {
    return fail(ErrorCode::invalid_data, origin + ": output shape " + shape_text(out.shape) +
                                             " does not fit the " + std::to_string(nc) +
                                             " class names in the model metadata");
  } else if (d1 < d2) {
    info.format = ModelFormat::yolov8;  // channels are far fewer than anchors
  } else {
    info.format = ModelFormat::yolov5;
  }
  switch (info.format) {
    case ModelFormat::yolov8: info.num_classes = static_cast<int>(d1 - 4); break;
    case ModelFormat::yolov8_transposed: info.num_classes = static_cast<int>(d2 - 4); break;
    case ModelFormat::yolov5: info.num_classes = static_cast<int>(d2 - 5); break;
    case ModelFormat::boxes_labels_scores: break;
  }
  if (info.num_classes <= 0) {
    return fail(ErrorCode::invalid_data, origin + ": output shape " + shape_text(out.shape) + " leaves no class scores");
  }
  return info;
}

}  // namespace vision
