#include "vision/data/yolo_dataset.hpp"

#include <algorithm>
#include <fstream>
#include <tuple>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "vision/core/contracts.hpp"
#include "vision/core/run.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

fs::path label_path_for(const fs::path& image) {
  std::string text = image.string();
  const auto at = text.rfind("/images/");
  if (at != std::string::npos) text.replace(at, 8, "/labels/");
  fs::path label = text;
  label.replace_extension(".txt");
  return label;
}

namespace {

Expected<std::vector<fs::path>> images_of(const fs::path& root, const std::string& entry, const std::string& split) {
  fs::path path = entry;
  if (path.is_relative()) path = root / path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return list_images(path);
  if (fs::is_regular_file(path, ec) && path.extension() == ".txt") {
    std::ifstream in(path);
    std::vector<fs::path> images;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      fs::path image = line;
      if (image.is_relative()) image = path.parent_path() / image;
      images.push_back(image.lexically_normal());
    }
    return images;
  }
  return fail(ErrorCode::not_found, split + " split: " + path.string() + " is neither an image folder nor a .txt list");
}

Expected<std::vector<fs::path>> split_images(const YAML::Node& node, const fs::path& root, const std::string& split) {
  std::vector<fs::path> images;
  const auto add = [&](const std::string& entry) -> Expected<void> {
    auto found = images_of(root, entry, split);
    if (!found) return std::unexpected(found.error());
    images.insert(images.end(), found->begin(), found->end());
    return {};
  };
  if (node.IsSequence()) {
    for (const auto& entry : node) {
      if (auto ok = add(entry.as<std::string>()); !ok) return std::unexpected(ok.error());
    }
  } else if (auto ok = add(node.as<std::string>()); !ok) {
    return std::unexpected(ok.error());
  }
  return images;
}

// `names:` as a list or as Ultralytics' {id: name} map, whose ids must run from 0 without gaps
// (a class id in a label file indexes this list).
Expected<std::vector<std::string>> yaml_names(const YAML::Node& node) {
  std::vector<std::string> names;
  if (node.IsSequence()) {
    if (node.size() > static_cast<size_t>(k_max_class_count)) {
      return fail(ErrorCode::invalid_data, "names: more than " + std::to_string(k_max_class_count) + " classes");
    }
    for (const auto& n : node) names.push_back(n.as<std::string>());
  } else if (node.IsMap()) {
    std::map<std::int64_t, std::string> by_id;
    for (const auto& kv : node) {
      const auto id = kv.first.as<std::int64_t>();
      if (id < 0 || id >= k_max_class_count) {
        return fail(ErrorCode::invalid_data, "names: class id " + std::to_string(id) + " is not in 0.." +
                                                 std::to_string(k_max_class_count - 1));
      }
      by_id[id] = kv.second.as<std::string>();
    }
    for (const auto& [id, name] : by_id) {
      if (id != static_cast<std::int64_t>(names.size())) {
        return fail(ErrorCode::invalid_data, "names: class id " + std::to_string(names.size()) +
                                                 " has no name (ids must run 0, 1, 2, … without gaps)");
      }
      names.push_back(name);
    }
  } else if (node.IsDefined() && !node.IsNull()) {
    return fail(ErrorCode::invalid_data, "names: must be a list or an {id: name} map");
  }
  return names;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text = "[";
  for (size_t i = 0; i < names.size(); ++i) text += (i ? ", " : "") + names[i];
  return text + "]";
}

Expected<std::vector<DatasetItem>> read_split(const std::vector<fs::path>& images, int num_classes,
                                              LabelStrictness strictness, std::vector<std::string>& problems,
                                              std::size_t& unlabeled) {
  std::vector<DatasetItem> items;
  items.reserve(images.size());
  for (const auto& image : images) {
    DatasetItem item{image, label_path_for(image), {}};
    auto labels = read_yolo_labels(item.label, num_classes, strictness);
    if (!labels) return std::unexpected(labels.error());
    if (!labels->file_found) ++unlabeled;
    item.boxes = std::move(labels->boxes);
    problems.insert(problems.end(), labels->problems.begin(), labels->problems.end());
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace

Expected<std::vector<std::string>> read_dataset_yaml_names(const fs::path& yaml_file) {
  try {
    const YAML::Node yaml = YAML::LoadFile(yaml_file.string());
    if (!yaml.IsMap() || !yaml["names"]) return std::vector<std::string>{};
    auto names = yaml_names(yaml["names"]);
    if (!names) return fail(ErrorCode::invalid_data, yaml_file.string() + ": " + names.error().message);
    return names;
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::invalid_data, yaml_file.string() + ": invalid YAML: " + e.what());
  }
}

Expected<void> write_dataset_yaml(const fs::path& dir, const DatasetYaml& yaml) {
  const fs::path file = dir / "dataset.yaml";
  YAML::Emitter out;
  if (!yaml.comment.empty()) out << YAML::Comment(yaml.comment);
  out << YAML::BeginMap;
  out << YAML::Key << "path" << YAML::Value << fs::absolute(dir).lexically_normal().string();
  out << YAML::Key << "train" << YAML::Value << yaml.train;
  out << YAML::Key << "val" << YAML::Value << yaml.val;
  out << YAML::Key << "nc" << YAML::Value << yaml.names.size();
  out << YAML::Key << "names" << YAML::Value << YAML::BeginMap;
  for (size_t i = 0; i < yaml.names.size(); ++i) out << YAML::Key << i << YAML::Value << yaml.names[i];
  out << YAML::EndMap << YAML::EndMap;
  if (!out.good()) return fail(ErrorCode::invalid_data, "cannot write " + file.string() + ": " + out.GetLastError());
  return write_file_atomic(file, std::string(out.c_str()) + "\n");
}

Expected<YoloDataset> load_yolo_dataset(const DatasetOptions& options) {
  YoloDataset dataset;
  std::error_code ec;
  fs::path dir = options.dir;
  if (fs::is_regular_file(dir, ec)) {
    dataset.yaml = dir;
    dir = dir.parent_path();
  } else if (!fs::is_directory(dir, ec)) {
    return fail(ErrorCode::not_found, "data set folder not found: " + dir.string());
  } else {
    for (const char* name : {"dataset.yaml", "data.yaml"}) {
      if (fs::is_regular_file(dir / name, ec)) {
        dataset.yaml = dir / name;
        break;
      }
    }
  }
  YAML::Node train_node, val_node;
  if (!dataset.yaml.empty()) {
    YAML::Node yaml;
    try {
      yaml = YAML::LoadFile(dataset.yaml.string());
    } catch (const YAML::Exception& e) {
      return fail(ErrorCode::invalid_data, dataset.yaml.string() + ": invalid YAML: " + e.what());
    }
    if (!yaml.IsMap()) return fail(ErrorCode::invalid_data, dataset.yaml.string() + ": must be a map of path, train, val and names");
    dataset.root = dir;
    std::string key = "path";  // the key being read, for the message of a value of the wrong kind
    try {
      if (yaml["path"] && !yaml["path"].as<std::string>().empty()) {
        fs::path path = yaml["path"].as<std::string>();
        if (path.is_relative()) path = dir / path;
        // A data set that was moved keeps working: its yaml still sits at the top.
        if (fs::is_directory(path, ec)) dataset.root = path.lexically_normal();
      }
      key = "names";
      if (yaml["names"]) {
        auto names = yaml_names(yaml["names"]);
        if (!names) return fail(ErrorCode::invalid_data, dataset.yaml.string() + ": " + names.error().message);
        dataset.names = std::move(*names);
      }
      key = "val";
      train_node = yaml["train"];
      val_node = yaml["val"];
      if (!train_node) return fail(ErrorCode::invalid_data, dataset.yaml.string() + ": no train split");
      if (!val_node || (val_node.IsScalar() && val_node.as<std::string>().empty())) {
        return fail(ErrorCode::invalid_data, dataset.yaml.string() +
                                                 ": no val split (Vision never validates on the training images)");
      }
    } catch (const YAML::Exception& e) {
      return fail(ErrorCode::invalid_data, dataset.yaml.string() + ": " + key + ": " + e.what());
    }
  } else {
    dataset.root = dir;
    bool found = false;
    for (const auto& [train, val] : {std::pair{"images/train", "images/val"}, std::pair{"images/train2017", "images/val2017"}}) {
      if (!fs::is_directory(dir / train, ec)) continue;
      if (!fs::is_directory(dir / val, ec)) {
        return fail(ErrorCode::not_found, dir.string() + ": no " + val + " folder beside " + train +
                                              " (Vision never validates on the training images)");
      }
      train_node = YAML::Node(std::string(train));
      val_node = YAML::Node(std::string(val));
      found = true;
      break;
    }
    if (!found) return fail(ErrorCode::not_found, dir.string() + ": no dataset.yaml and no images/train folder");
  }
  if (!options.class_names.empty()) {
    if (!dataset.names.empty() && dataset.names != options.class_names) {
      return fail(ErrorCode::invalid_data, (dataset.yaml.empty() ? dir : dataset.yaml).string() + ": names " +
                                               joined(dataset.names) + " differ from class_map.names " +
                                               joined(options.class_names));
    }
    dataset.names = options.class_names;
  }
  if (dataset.names.empty()) return fail(ErrorCode::invalid_data, dir.string() + ": no class names (set class_map.names)");
  const int num_classes = static_cast<int>(dataset.names.size());
  try {
    auto train = split_images(train_node, dataset.root, "train");
    if (!train) return std::unexpected(train.error());
    auto val = split_images(val_node, dataset.root, "val");
    if (!val) return std::unexpected(val.error());
    if (train->empty()) return fail(ErrorCode::invalid_data, dir.string() + ": the train split has no images");
    if (val->empty()) return fail(ErrorCode::invalid_data, dir.string() + ": the val split has no images");
    auto train_items = read_split(*train, num_classes, options.strictness, dataset.problems, dataset.train_unlabeled);
    if (!train_items) return std::unexpected(train_items.error());
    auto val_items = read_split(*val, num_classes, options.strictness, dataset.problems, dataset.val_unlabeled);
    if (!val_items) return std::unexpected(val_items.error());
    for (const auto& [split, items, unlabeled] : {std::tuple{"train", &*train_items, dataset.train_unlabeled},
                                                  std::tuple{"val", &*val_items, dataset.val_unlabeled}}) {
      if (unlabeled == items->size()) {
        return fail(ErrorCode::invalid_data, "no labels found for the " + std::string(split) + " split of " + dir.string() +
                                                 ": none of its " + std::to_string(items->size()) +
                                                 " images has a label file (the first would be " +
                                                 items->front().label.string() + ")");
      }
    }
    dataset.train = std::move(*train_items);
    dataset.val = std::move(*val_items);
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::invalid_data, dataset.yaml.string() + ": " + e.what());
  }
  for (const auto* split : {&dataset.train, &dataset.val}) {
    for (const auto& item : *split) {
      if (!fs::exists(item.image, ec)) return fail(ErrorCode::not_found, "image listed but missing: " + item.image.string());
    }
  }
  return dataset;
}

std::vector<std::string> unlabeled_warnings(const YoloDataset& dataset) {
  std::vector<std::string> warnings;
  for (const auto& [split, items, unlabeled] : {std::tuple{"train", &dataset.train, dataset.train_unlabeled},
                                                std::tuple{"val", &dataset.val, dataset.val_unlabeled}}) {
    if (unlabeled == 0) continue;
    const auto first = std::find_if(items->begin(), items->end(), [](const DatasetItem& item) {
      std::error_code ec;
      return !fs::exists(item.label, ec);
    });
    warnings.push_back(std::to_string(unlabeled) + " of " + std::to_string(items->size()) + " " + split +
                       " images have no label file (e.g. " + (first == items->end() ? fs::path() : first->label).string() +
                       "): they count as backgrounds");
  }
  return warnings;
}

nlohmann::json summarize(const YoloDataset& dataset) {
  const auto split_summary = [&](const std::vector<DatasetItem>& items, std::size_t unlabeled) {
    std::int64_t boxes = 0, backgrounds = 0;
    std::map<std::string, std::int64_t> per_class;
    for (const auto& name : dataset.names) per_class[name] = 0;
    for (const auto& item : items) {
      if (item.boxes.empty()) ++backgrounds;
      boxes += static_cast<std::int64_t>(item.boxes.size());
      for (const auto& b : item.boxes) ++per_class[dataset.names[static_cast<size_t>(b.class_id)]];
    }
    return nlohmann::json{{"images", items.size()}, {"backgrounds", backgrounds}, {"unlabeled", unlabeled}, {"boxes", boxes},
                          {"per_class", per_class}};
  };
  std::vector<std::string> first(dataset.problems.begin(),
                                 dataset.problems.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(20, dataset.problems.size())));
  return {{"root", dataset.root.string()},
          {"yaml", dataset.yaml.string()},
          {"names", dataset.names},
          {"train", split_summary(dataset.train, dataset.train_unlabeled)},
          {"val", split_summary(dataset.val, dataset.val_unlabeled)},
          {"problems", first},
          {"problems_count", dataset.problems.size()}};
}

}  // namespace vision
