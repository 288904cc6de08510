// The records that cross module and process boundaries (SPEC 11): Detection, LabelRecord and
// StatsEvent. Every reader validates; a bad record is rejected with a message naming the
// field, e.g. "detections[2].bbox_xyxy: x2 < x1".
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/core/error.hpp"

namespace vision {

inline constexpr int k_schema_version = 1;

struct Detection {
  int class_id = 0;
  std::string class_name;
  float score = 0.0F;
  std::array<float, 4> bbox_xyxy{};  // pixels of the original image
};

struct LabelRecord {
  std::string image_path;
  std::string source;  // e.g. "model:/path/model.onnx" or "llm:qwen2-vl"
  std::vector<Detection> detections;
};

struct StatsEvent {
  std::string source_id;
  std::string ts_utc;  // ISO-8601 date-time (vision/core/timestamp.hpp)
  std::int64_t total_detections = 0;
  std::map<std::string, std::int64_t> counts_by_class;
  double latency_ms = 0.0;
  // Optional, unique per source: the sender's name for the event, so that a service which gets
  // it twice (a retry after a lost answer, a replayed spool) stores it once.
  std::string event_id;
};

// Bounds of a StatsEvent, so that no client can store megabytes in one field or make the
// service's sums overflow: 2^63 / k_max_count is about 9·10⁹ events at the largest counts.
inline constexpr std::size_t k_max_source_id_bytes = 128;
inline constexpr std::size_t k_max_class_name_bytes = 128;
inline constexpr std::size_t k_max_event_id_bytes = 128;
inline constexpr std::size_t k_max_classes_per_event = 1000;
inline constexpr std::int64_t k_max_count = 1'000'000'000;
// The most classes a data set, a model's metadata or a model's outputs may name (COCO has 80,
// Open Images 600, LVIS 1203): a class id beyond it is an error, never an allocation.
inline constexpr int k_max_class_count = 10000;

// nullopt when `value` is at most `max_bytes` of valid UTF-8 without control characters (NUL
// included), else "<field>: <what is wrong>". The one rule for ids and names from clients.
std::optional<std::string> check_text(const std::string& field, const std::string& value, std::size_t max_bytes);

// nullopt when valid, else "<field>: <what is wrong>"; `prefix` is prepended to field names.
std::optional<std::string> check(const Detection& d, const std::string& prefix = "");
std::optional<std::string> check(const LabelRecord& r);
std::optional<std::string> check(const StatsEvent& e);

// A detection nested in a reply with its own envelope (the remote server's /api/v1/frame and
// KServe replies, predict --json) leaves schema_version out, as SPEC 9 shows those replies.
enum class SchemaVersionField { include, omit };
nlohmann::json to_json(const Detection& d, SchemaVersionField schema_version = SchemaVersionField::include);
nlohmann::json to_json(const LabelRecord& r);
nlohmann::json to_json(const StatsEvent& e);

// Parse and validate; ErrorCode::invalid_data names the field.
Expected<Detection> detection_from_json(const nlohmann::json& j, const std::string& prefix = "");
Expected<LabelRecord> label_record_from_json(const nlohmann::json& j);
Expected<StatsEvent> stats_event_from_json(const nlohmann::json& j);
// A StatsEvent's counts_by_class, alone as a server's frame reply carries it: an object of
// class name → integer in [0, k_max_count]; the error names "counts_by_class[.<name>]".
Expected<std::map<std::string, std::int64_t>> counts_by_class_from_json(const nlohmann::json& j);

// Detections per class name: the one count behind a StatsEvent and a frame reply.
std::map<std::string, std::int64_t> counts_by_class(const std::vector<Detection>& detections);

// Builds the per-frame StatsEvent (ts_utc = now) from detections, or from counts per class when
// no boxes came with them; total_detections is the sum of the counts.
StatsEvent make_stats_event(const std::string& source_id, const std::vector<Detection>& detections,
                            double latency_ms);
StatsEvent make_stats_event(const std::string& source_id, std::map<std::string, std::int64_t> counts_by_class,
                            double latency_ms);

}  // namespace vision
