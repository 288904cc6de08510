#include "config_schema.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>
#include <set>
#include <string>

#include "vision/core/config.hpp"

namespace vision {

namespace {

// The LLM client's keys, the same in [autolabel.llm] and [deploy.edge.llm].
constexpr std::string_view k_llm_client_defaults = R"toml(base_url = ""
model = ""
api_key_env = "OPENAI_API_KEY"
prompt = "Find every object of the allowed classes in this image."
timeout_sec = 60.0
max_retries = 2
retry_backoff_sec = 1.5
qps_limit = 1.0
max_image_side = 0
bbox_2d_scale = "pixels"
class_aliases = {}
)toml";

}  // namespace

std::string_view config_defaults_toml() {
  static const std::string defaults = R"toml(
[app]
schema_version = 1

[workspace]
root = "./work-dir"
run_name = "exp001"
log_file = "log.txt"
log_level = "INFO"

[class_map]
names = []
id_map = {}

[data]
yolo_dataset_dir = "./work-dir/datasets/yolo"
labeled_dir = "./work-dir/datasets/labeled"
unlabeled_dir = "./work-dir/datasets/unlabeled"

[train]
backend = "yolo"
device = "cpu"
seed = 42
epochs = 50
batch_size = 16
img_size = 640
dry_run = false
threads = 0

[train.yolo]
weights = ""
model_scale = "n"
optimizer = "auto"
lr0 = 0.01
lrf = 0.01
cos_lr = false
momentum = 0.937
weight_decay = 0.0005
warmup_epochs = 3.0
warmup_bias_lr = 0.1
nbs = 64
box = 7.5
cls = 0.5
dfl = 1.5
ema = true
grad_clip = 10.0
patience = 100
workers = 2
precision = "fp32"
resume = false
deterministic = true
strict_labels = false
close_mosaic = 10
mosaic = 1.0
hsv_h = 0.015
hsv_s = 0.7
hsv_v = 0.4
translate = 0.1
scale = 0.5
fliplr = 0.5

[train.distributed]
timeout_s = 300
sync_bn = false

[train.faster_rcnn]
variant = "mobilenet_v3"
lr = 0.005
momentum = 0.9
weight_decay = 0.0005
num_workers = 0
max_samples = 0
weights = ""
resume = false
patience = 0

[export]
onnx = true
opset = 17
quantize = true
quantize_mode = "dynamic"
calib_samples = 32

[autolabel]
mode = "model"
confidence = 0.5
batch_size = 2
visualize = true
on_conflict = "skip"
val_fraction = 0.2

[autolabel.model]
onnx_model = "./work-dir/models/exp001/model-int8.onnx"
backend = "yolo"

[autolabel.llm]
)toml" + std::string(k_llm_client_defaults) + R"toml(max_images = 0

[deploy.edge]
source_id = "edge-001"
mode = "local"
source = "images"
camera_id = 0
video_path = ""
images_dir = ""
rtsp_url = ""
fps_limit = 10.0
jpeg_quality = 80
confidence = 0.5
local_model = ""
stats_endpoint = "http://127.0.0.1:7797/api/v1/push"
api_key = ""
stats_timeout_sec = 2.0
save_annotated = true
max_frames = 0
stream_endpoint = "http://127.0.0.1:60051/api/v1/frame"
stream_timeout_sec = 5.0
stream_api_key = ""
stream_push_stats = "auto"

[deploy.edge.llm]
)toml" + std::string(k_llm_client_defaults) + R"toml(
[deploy.remote]
source_id = "remote-001"
listen_host = "127.0.0.1"
listen_port = 60051
model = ""
confidence = 0.5
stats_endpoint = "http://127.0.0.1:7797/api/v1/push"
api_key = ""
ingest_api_key = ""
stats_timeout_sec = 2.0
save_annotated = false
max_payload_mb = 8.0
max_image_pixels = 67108864
max_inflight = 0
workers = 0

[deploy.statistics]
ui_port = 7796
api_port = 7797
storage = "sqlite"
db_path = "./work-dir/stats/stats.db"
postgres_url = ""
public_host = "127.0.0.1"
api_key = ""
read_api_key = ""
cors_origins = []
ack = "commit"
rate_limit_per_sec = 0.0
retention_days = 0

[logging]
jsonl = true

[statistics]
flush_interval_sec = 5.0
spool_max_mb = 64.0
)toml";
  return defaults;
}

const std::vector<std::string>& config_path_keys() {
  static const std::vector<std::string> keys = {
      "workspace.root",          "data.yolo_dataset_dir",     "data.labeled_dir",
      "data.unlabeled_dir",      "train.yolo.weights",        "train.faster_rcnn.weights",
      "autolabel.model.onnx_model",
      "deploy.edge.video_path",  "deploy.edge.images_dir",    "deploy.edge.local_model",
      "deploy.remote.model",     "deploy.statistics.db_path",
  };
  return keys;
}

const std::vector<std::string>& config_secret_names() {
  static const std::vector<std::string> names = {"api_key", "ingest_api_key", "stream_api_key", "read_api_key"};
  return names;
}

std::span<const std::string> faster_rcnn_variants() {
  static const std::vector<std::string> names = {"mobilenet_v3", "resnet50_fpn", "resnet50_fpn_v2", "resnet18_fpn",
                                                 "resnet50"};
  return names;
}

const std::vector<FreeTable>& config_free_tables() {
  static const std::vector<FreeTable> tables = {{"class_map.id_map", FreeTableValues::integers},
                                                {"autolabel.llm.class_aliases", FreeTableValues::strings},
                                                {"deploy.edge.llm.class_aliases", FreeTableValues::strings}};
  return tables;
}

namespace {

using Check = std::function<std::optional<std::string>(const Config&)>;

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

std::string number_text(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  return std::to_string(value);
}

ConfigRule one_of(std::string key, std::vector<std::string> choices) {
  return {key, [key, choices](const Config& c) -> std::optional<std::string> {
            const std::string value = c.string(key);
            if (std::ranges::find(choices, value) != choices.end()) return std::nullopt;
            std::string list;
            for (const auto& choice : choices) list += (list.empty() ? "" : "|") + choice;
            return quoted(value) + ": must be one of " + list;
          }};
}

// one_of, checked only when `when_key` has the value `when_value` (the backend that reads it).
ConfigRule one_of_when(std::string key, std::vector<std::string> choices, std::string when_key, std::string when_value) {
  auto rule = one_of(key, std::move(choices));
  return {key, [check = rule.check, when_key, when_value](const Config& c) -> std::optional<std::string> {
            if (c.string(when_key) != when_value) return std::nullopt;
            auto problem = check(c);
            if (problem) *problem += " (" + when_key + " = " + quoted(when_value) + ")";
            return problem;
          }};
}

ConfigRule int_range(std::string key, std::int64_t lo, std::int64_t hi) {
  return {key, [key, lo, hi](const Config& c) -> std::optional<std::string> {
            const auto value = c.integer(key);
            if (value >= lo && value <= hi) return std::nullopt;
            if (hi == INT64_MAX) {
              return std::to_string(value) + ": must be " +
                     (lo == 1 ? std::string("> 0") : ">= " + std::to_string(lo));
            }
            return std::to_string(value) + ": must be in [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "]";
          }};
}

ConfigRule positive_int(std::string key) { return int_range(std::move(key), 1, INT64_MAX); }
ConfigRule non_negative_int(std::string key) { return int_range(std::move(key), 0, INT64_MAX); }

// Numbers must be finite; `open_low` excludes the lower bound.
ConfigRule number_range(std::string key, double lo, double hi, bool open_low = false) {
  return {key, [key, lo, hi, open_low](const Config& c) -> std::optional<std::string> {
            const double value = c.number(key);
            const bool low_ok = open_low ? value > lo : value >= lo;
            if (std::isfinite(value) && low_ok && value <= hi) return std::nullopt;
            if (!std::isfinite(hi)) {
              return number_text(value) + ": must be " + (open_low ? "> " : ">= ") +
                     number_text(lo);
            }
            return number_text(value) + ": must be in " + (open_low ? "(" : "[") +
                   number_text(lo) + ", " + number_text(hi) + "]";
          }};
}

ConfigRule positive_number(std::string key) {
  return number_range(std::move(key), 0.0, INFINITY, true);
}
ConfigRule non_negative_number(std::string key) {
  return number_range(std::move(key), 0.0, INFINITY);
}
ConfigRule fraction(std::string key) { return number_range(std::move(key), 0.0, 1.0); }

ConfigRule non_empty(std::string key, std::string why = "must not be empty") {
  return {key, [key, why](const Config& c) -> std::optional<std::string> {
            if (!c.string(key).empty()) return std::nullopt;
            return "\"\": " + why;
          }};
}

// `key` must be set when `when_key` has the value `when_value`.
ConfigRule required_when(std::string key, std::string when_key, std::string when_value) {
  return {key, [key, when_key, when_value](const Config& c) -> std::optional<std::string> {
            if (c.string(when_key) != when_value || !c.string(key).empty()) return std::nullopt;
            return "\"\": must be set when " + when_key + " = " + quoted(when_value);
          }};
}

ConfigRule http_url(std::string key, bool allow_empty) {
  return {key, [key, allow_empty](const Config& c) -> std::optional<std::string> {
            const std::string value = c.string(key);
            if (value.empty() && allow_empty) return std::nullopt;
            if (value.starts_with("http://") || value.starts_with("https://")) {
              return std::nullopt;
            }
            return quoted(value) + ": must be an http:// or https:// URL";
          }};
}

ConfigRule http_url_when(std::string key, std::string when_key, std::string when_value) {
  return {key, [key, when_key, when_value](const Config& c) -> std::optional<std::string> {
            if (c.string(when_key) != when_value) return std::nullopt;
            const std::string value = c.string(key);
            if (value.starts_with("http://") || value.starts_with("https://")) {
              return std::nullopt;
            }
            return quoted(value) + ": must be an http:// or https:// URL when " + when_key +
                   " = " + quoted(when_value);
          }};
}

// Every alias must name a class of class_map.names (compared as the reply parser does:
// trimmed, any letter case).
ConfigRule aliases_name_classes(std::string key) {
  return {key, [key](const Config& c) -> std::optional<std::string> {
            const auto lower = [](std::string text) {
              std::ranges::transform(text, text.begin(), [](unsigned char ch) { return std::tolower(ch); });
              return text;
            };
            std::set<std::string> names;
            for (const auto& name : c.strings("class_map.names")) names.insert(lower(name));
            for (const auto& [alias, name] : c.string_map(key)) {
              if (!names.contains(lower(name))) {
                return "{" + quoted(alias) + " = " + quoted(name) + "}: " + quoted(name) + " is not in class_map.names";
              }
            }
            return std::nullopt;
          }};
}

std::vector<ConfigRule> llm_rules(const std::string& section, const std::string& mode_key) {
  return {
      http_url_when(section + ".base_url", mode_key, "llm"),
      required_when(section + ".model", mode_key, "llm"),
      positive_number(section + ".timeout_sec"),
      non_negative_int(section + ".max_retries"),
      non_negative_number(section + ".retry_backoff_sec"),
      non_negative_number(section + ".qps_limit"),
      non_negative_int(section + ".max_image_side"),
      one_of(section + ".bbox_2d_scale", {"pixels", "1000"}),
      aliases_name_classes(section + ".class_aliases"),
  };
}

std::vector<ConfigRule> build_rules() {
  std::vector<ConfigRule> rules = {
      int_range("app.schema_version", 1, 1),
      non_empty("workspace.root"),
      {"workspace.run_name",
       [](const Config& c) -> std::optional<std::string> {
         static const std::regex safe("[A-Za-z0-9._-]+");
         const std::string value = c.string("workspace.run_name");
         if (std::regex_match(value, safe) && value != "." && value != "..") return std::nullopt;
         return quoted(value) + ": must be a non-empty folder name of letters, digits, . _ -";
       }},
      non_empty("workspace.log_file"),
      one_of("workspace.log_level", {"DEBUG", "INFO", "WARN", "ERROR"}),
      {"class_map.names",
       [](const Config& c) -> std::optional<std::string> {
         const auto names = c.strings("class_map.names");
         if (names.empty()) return "[]: must list at least one class name";
         std::set<std::string> seen;
         for (const auto& name : names) {
           if (name.empty()) return "contains \"\": class names must not be empty";
           if (!seen.insert(name).second) {
             return "contains " + quoted(name) + " twice: class names must be unique";
           }
         }
         return std::nullopt;
       }},
      {"class_map.id_map",
       [](const Config& c) -> std::optional<std::string> {
         const auto names = c.strings("class_map.names");
         const auto id_map = c.int_map("class_map.id_map");
         if (id_map.empty()) return std::nullopt;  // filled from names at load time
         for (const auto& [name, id] : id_map) {
           const auto it = std::ranges::find(names, name);
           if (it == names.end()) {
             return quoted(name) + " = " + std::to_string(id) +
                    ": not in class_map.names (id_map must equal {names[i]: i})";
           }
           if (id != it - names.begin()) {
             return quoted(name) + " = " + std::to_string(id) + ": must be " +
                    std::to_string(it - names.begin()) + " (id_map must equal {names[i]: i})";
           }
         }
         if (id_map.size() != names.size()) {
           return "has " + std::to_string(id_map.size()) + " entries for " +
                  std::to_string(names.size()) +
                  " class names (id_map must equal {names[i]: i})";
         }
         return std::nullopt;
       }},
      one_of("train.backend", {"yolo", "faster_rcnn"}),
      {"train.device",
       [](const Config& c) -> std::optional<std::string> {
         // "0" is Ultralytics' (and the Python original's) spelling of cuda:0.
         static const std::regex device("cpu|cuda|cuda:[0-9]+|[0-9]+|mps");
         const std::string value = c.string("train.device");
         if (std::regex_match(value, device)) return std::nullopt;
         if (value.find(',') != std::string::npos) {
           return quoted(value) + ": training on several GPUs is not available yet (see the distributed-training issue); "
                                  "give one device, e.g. \"0\" or \"cuda:0\"";
         }
         return quoted(value) + ": must be cpu, cuda, cuda:N, N (a GPU index) or mps";
       }},
      non_negative_int("train.seed"),
      positive_int("train.epochs"),
      positive_int("train.batch_size"),
      {"train.img_size",
       [](const Config& c) -> std::optional<std::string> {
         const auto value = c.integer("train.img_size");
         if (value > 0 && value % 32 == 0) return std::nullopt;
         return std::to_string(value) + ": must be a positive multiple of 32";
       }},
      non_negative_int("train.threads"),
      one_of("train.yolo.model_scale", {"n", "s", "m"}),
      one_of("train.yolo.optimizer", {"auto", "SGD", "AdamW"}),
      positive_number("train.yolo.lr0"),
      number_range("train.yolo.lrf", 0.0, 1.0, true),
      number_range("train.yolo.momentum", 0.0, 1.0),
      non_negative_number("train.yolo.weight_decay"),
      non_negative_number("train.yolo.warmup_epochs"),
      non_negative_number("train.yolo.warmup_bias_lr"),
      positive_int("train.yolo.nbs"),
      non_negative_number("train.yolo.box"),
      non_negative_number("train.yolo.cls"),
      non_negative_number("train.yolo.dfl"),
      non_negative_number("train.yolo.grad_clip"),
      non_negative_int("train.yolo.patience"),
      non_negative_int("train.yolo.workers"),
      one_of("train.yolo.precision", {"fp32", "bf16"}),
      non_negative_int("train.yolo.close_mosaic"),
      fraction("train.yolo.mosaic"),
      fraction("train.yolo.hsv_h"),
      fraction("train.yolo.hsv_s"),
      fraction("train.yolo.hsv_v"),
      fraction("train.yolo.translate"),
      fraction("train.yolo.scale"),
      fraction("train.yolo.fliplr"),
      // Only a faster_rcnn run reads it.
      one_of_when("train.faster_rcnn.variant", {faster_rcnn_variants().begin(), faster_rcnn_variants().end()},
                  "train.backend", "faster_rcnn"),
      positive_number("train.faster_rcnn.lr"),
      number_range("train.faster_rcnn.momentum", 0.0, 1.0),
      non_negative_number("train.faster_rcnn.weight_decay"),
      non_negative_int("train.faster_rcnn.num_workers"),
      non_negative_int("train.faster_rcnn.max_samples"),
      non_negative_int("train.faster_rcnn.patience"),
      positive_int("train.distributed.timeout_s"),
      int_range("export.opset", 13, 21),
      one_of("export.quantize_mode", {"dynamic", "static"}),
      one_of("deploy.statistics.ack", {"commit", "queue"}),
      positive_int("export.calib_samples"),
      one_of("autolabel.mode", {"model", "llm"}),
      fraction("autolabel.confidence"),
      positive_int("autolabel.batch_size"),
      one_of("autolabel.on_conflict", {"skip", "overwrite", "merge"}),
      number_range("autolabel.val_fraction", 0.0, 1.0),
      required_when("autolabel.model.onnx_model", "autolabel.mode", "model"),
      one_of("autolabel.model.backend", {"yolo", "faster_rcnn"}),
      non_negative_int("autolabel.llm.max_images"),
      non_empty("deploy.edge.source_id"),
      one_of("deploy.edge.mode", {"local", "stream", "llm"}),
      one_of("deploy.edge.source", {"camera", "video", "images", "rtsp"}),
      non_negative_int("deploy.edge.camera_id"),
      required_when("deploy.edge.video_path", "deploy.edge.source", "video"),
      required_when("deploy.edge.images_dir", "deploy.edge.source", "images"),
      required_when("deploy.edge.rtsp_url", "deploy.edge.source", "rtsp"),
      non_negative_number("deploy.edge.fps_limit"),
      int_range("deploy.edge.jpeg_quality", 1, 100),
      fraction("deploy.edge.confidence"),
      required_when("deploy.edge.local_model", "deploy.edge.mode", "local"),
      http_url("deploy.edge.stats_endpoint", true),
      positive_number("deploy.edge.stats_timeout_sec"),
      non_negative_int("deploy.edge.max_frames"),
      http_url_when("deploy.edge.stream_endpoint", "deploy.edge.mode", "stream"),
      positive_number("deploy.edge.stream_timeout_sec"),
      one_of("deploy.edge.stream_push_stats", {"auto", "always", "never"}),
      non_empty("deploy.remote.source_id"),
      non_empty("deploy.remote.listen_host"),
      int_range("deploy.remote.listen_port", 0, 65535),
      non_empty("deploy.remote.model", "must name the ONNX model to serve"),
      fraction("deploy.remote.confidence"),
      http_url("deploy.remote.stats_endpoint", true),
      positive_number("deploy.remote.stats_timeout_sec"),
      positive_number("deploy.remote.max_payload_mb"),
      positive_number("statistics.spool_max_mb"),
      positive_int("deploy.remote.max_image_pixels"),
      non_negative_int("deploy.remote.max_inflight"),
      non_negative_int("deploy.remote.workers"),
      int_range("deploy.statistics.ui_port", 0, 65535),
      int_range("deploy.statistics.api_port", 0, 65535),
      one_of("deploy.statistics.storage", {"sqlite", "postgres"}),
      required_when("deploy.statistics.db_path", "deploy.statistics.storage", "sqlite"),
      required_when("deploy.statistics.postgres_url", "deploy.statistics.storage", "postgres"),
      non_empty("deploy.statistics.public_host"),
      non_negative_number("deploy.statistics.rate_limit_per_sec"),
      non_negative_int("deploy.statistics.retention_days"),
      positive_number("statistics.flush_interval_sec"),
  };
  for (auto& rule : llm_rules("autolabel.llm", "autolabel.mode")) rules.push_back(rule);
  for (auto& rule : llm_rules("deploy.edge.llm", "deploy.edge.mode")) rules.push_back(rule);
  return rules;
}

}  // namespace

const std::vector<ConfigRule>& config_rules() {
  static const std::vector<ConfigRule> rules = build_rules();
  return rules;
}

}  // namespace vision
