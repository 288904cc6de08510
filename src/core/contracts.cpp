#include "vision/core/contracts.hpp"

#include <cmath>

#include "vision/core/timestamp.hpp"

namespace vision {

namespace {

std::optional<std::string> check_schema_version(const nlohmann::json& j, const std::string& prefix) {
  if (!j.contains("schema_version")) return std::nullopt;
  const auto& v = j["schema_version"];
  if (!v.is_number_integer() || v.get<std::int64_t>() != k_schema_version) {
    return prefix + "schema_version: must be 1, got " + v.dump();
  }
  return std::nullopt;
}

Error invalid(std::string message) { return Error{ErrorCode::invalid_data, std::move(message)}; }

// Reads a required field, naming it on failure.
template <class T>
std::optional<std::string> read_field(const nlohmann::json& j, const char* name,
                                      const std::string& prefix, const char* what,
                                      bool (nlohmann::json::*is)() const noexcept, T& out) {
  const auto it = j.find(name);
  if (it == j.end()) return prefix + name + ": missing";
  if (!((*it).*is)()) return prefix + name + ": must be " + what + ", got " + it->dump();
  out = it->template get<T>();
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check(const Detection& d, const std::string& prefix) {
  if (d.class_id < 0) return prefix + "class_id: must be >= 0, got " + std::to_string(d.class_id);
  if (d.class_name.empty()) return prefix + "class_name: must not be empty";
  if (!std::isfinite(d.score) || d.score < 0.0F || d.score > 1.0F) {
    return prefix + "score: must be in [0, 1], got " + std::to_string(d.score);
  }
  for (float v : d.bbox_xyxy) {
    if (!std::isfinite(v)) return prefix + "bbox_xyxy: values must be finite";
  }
  if (d.bbox_xyxy[2] < d.bbox_xyxy[0]) return prefix + "bbox_xyxy: x2 < x1";
  if (d.bbox_xyxy[3] < d.bbox_xyxy[1]) return prefix + "bbox_xyxy: y2 < y1";
  return std::nullopt;
}

std::optional<std::string> check(const LabelRecord& r) {
  if (r.image_path.empty()) return "image_path: must not be empty";
  for (size_t i = 0; i < r.detections.size(); ++i) {
    if (auto e = check(r.detections[i], "detections[" + std::to_string(i) + "].")) return e;
  }
  return std::nullopt;
}

namespace {

// Length of the UTF-8 sequence starting at s[i] (1–4), or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF included).
std::size_t utf8_sequence(const std::string& s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr std::uint32_t k_smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < k_smallest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::optional<std::string> check_text(const std::string& field, const std::string& value, std::size_t max_bytes) {
  if (value.empty()) return field + ": must not be empty";
  if (value.size() > max_bytes) {
    return field + ": must be at most " + std::to_string(max_bytes) + " bytes, got " + std::to_string(value.size());
  }
  for (std::size_t i = 0; i < value.size();) {
    const std::size_t n = utf8_sequence(value, i);
    if (n == 0) return field + ": must be valid UTF-8";
    if (n == 1 && (static_cast<unsigned char>(value[i]) < 0x20 || value[i] == 0x7F)) {
      return field + ": must not contain control characters (NUL, newlines, …)";
    }
    i += n;
  }
  return std::nullopt;
}

namespace {

std::optional<std::string> check_counts_by_class(const std::map<std::string, std::int64_t>& counts) {
  if (counts.size() > k_max_classes_per_event) {
    return "counts_by_class: at most " + std::to_string(k_max_classes_per_event) + " classes, got " +
           std::to_string(counts.size());
  }
  for (const auto& [name, count] : counts) {
    if (auto problem = check_text("counts_by_class", name, k_max_class_name_bytes)) {
      return *problem + " (a class name)";
    }
    if (count < 0 || count > k_max_count) {
      return "counts_by_class." + name + ": must be between 0 and " + std::to_string(k_max_count) + ", got " +
             std::to_string(count);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check(const StatsEvent& e) {
  if (auto problem = check_text("source_id", e.source_id, k_max_source_id_bytes)) return problem;
  if (!e.event_id.empty()) {
    if (auto problem = check_text("event_id", e.event_id, k_max_event_id_bytes)) return problem;
  }
  if (!is_iso8601_utc(e.ts_utc)) return "ts_utc: must be an ISO-8601 time, got \"" + e.ts_utc.substr(0, 64) + "\"";
  if (e.total_detections < 0 || e.total_detections > k_max_count) {
    return "total_detections: must be between 0 and " + std::to_string(k_max_count) + ", got " + std::to_string(e.total_detections);
  }
  if (auto problem = check_counts_by_class(e.counts_by_class)) return problem;
  if (!std::isfinite(e.latency_ms) || e.latency_ms < 0.0) {
    return "latency_ms: must be a finite number >= 0";
  }
  return std::nullopt;
}

nlohmann::json to_json(const Detection& d, SchemaVersionField schema_version) {
  nlohmann::json j = {{"class_id", d.class_id}, {"class_name", d.class_name}, {"score", d.score}, {"bbox_xyxy", d.bbox_xyxy}};
  if (schema_version == SchemaVersionField::include) j["schema_version"] = k_schema_version;
  return j;
}

nlohmann::json to_json(const LabelRecord& r) {
  nlohmann::json detections = nlohmann::json::array();
  for (const auto& d : r.detections) detections.push_back(to_json(d));
  return {{"schema_version", k_schema_version},
          {"image_path", r.image_path},
          {"source", r.source},
          {"detections", detections}};
}

nlohmann::json to_json(const StatsEvent& e) {
  nlohmann::json j = {{"schema_version", k_schema_version},
                      {"source_id", e.source_id},
                      {"ts_utc", e.ts_utc},
                      {"total_detections", e.total_detections},
                      {"counts_by_class", e.counts_by_class},
                      {"latency_ms", e.latency_ms}};
  if (!e.event_id.empty()) j["event_id"] = e.event_id;
  return j;
}

Expected<Detection> detection_from_json(const nlohmann::json& j, const std::string& prefix) {
  if (!j.is_object()) return std::unexpected(invalid(prefix.empty() ? "detection: must be an object" : prefix.substr(0, prefix.size() - 1) + ": must be an object"));
  if (auto e = check_schema_version(j, prefix)) return std::unexpected(invalid(*e));
  Detection d;
  std::int64_t class_id = 0;
  double score = 0;
  if (auto e = read_field(j, "class_id", prefix, "an integer", &nlohmann::json::is_number_integer, class_id)) return std::unexpected(invalid(*e));
  if (auto e = read_field(j, "class_name", prefix, "a string", &nlohmann::json::is_string, d.class_name)) return std::unexpected(invalid(*e));
  if (auto e = read_field(j, "score", prefix, "a number", &nlohmann::json::is_number, score)) return std::unexpected(invalid(*e));
  const auto box = j.find("bbox_xyxy");
  if (box == j.end()) return std::unexpected(invalid(prefix + "bbox_xyxy: missing"));
  if (!box->is_array() || box->size() != 4) {
    return std::unexpected(invalid(prefix + "bbox_xyxy: must be [x1, y1, x2, y2]"));
  }
  for (size_t i = 0; i < 4; ++i) {
    if (!(*box)[i].is_number()) return std::unexpected(invalid(prefix + "bbox_xyxy: values must be numbers"));
    d.bbox_xyxy[i] = (*box)[i].get<float>();
  }
  if (class_id < 0 || class_id > INT32_MAX) {
    return std::unexpected(invalid(prefix + "class_id: must be >= 0, got " + std::to_string(class_id)));
  }
  d.class_id = static_cast<int>(class_id);
  d.score = static_cast<float>(score);
  if (auto e = check(d, prefix)) return std::unexpected(invalid(*e));
  return d;
}

Expected<LabelRecord> label_record_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::unexpected(invalid("label record: must be an object"));
  if (auto e = check_schema_version(j, "")) return std::unexpected(invalid(*e));
  LabelRecord r;
  if (auto e = read_field(j, "image_path", "", "a string", &nlohmann::json::is_string, r.image_path)) return std::unexpected(invalid(*e));
  if (j.contains("source")) {
    if (!j["source"].is_string()) return std::unexpected(invalid("source: must be a string"));
    r.source = j["source"].get<std::string>();
  }
  const auto detections = j.find("detections");
  if (detections == j.end() || !detections->is_array()) {
    return std::unexpected(invalid("detections: must be an array"));
  }
  for (size_t i = 0; i < detections->size(); ++i) {
    auto d = detection_from_json((*detections)[i], "detections[" + std::to_string(i) + "].");
    if (!d) return std::unexpected(d.error());
    r.detections.push_back(std::move(*d));
  }
  if (auto e = check(r)) return std::unexpected(invalid(*e));
  return r;
}

Expected<StatsEvent> stats_event_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::unexpected(invalid("stats event: must be a JSON object"));
  if (auto e = check_schema_version(j, "")) return std::unexpected(invalid(*e));
  StatsEvent ev;
  if (auto e = read_field(j, "source_id", "", "a string", &nlohmann::json::is_string, ev.source_id)) return std::unexpected(invalid(*e));
  if (auto e = read_field(j, "ts_utc", "", "a string", &nlohmann::json::is_string, ev.ts_utc)) return std::unexpected(invalid(*e));
  if (auto e = read_field(j, "total_detections", "", "an integer", &nlohmann::json::is_number_integer, ev.total_detections)) return std::unexpected(invalid(*e));
  if (auto e = read_field(j, "latency_ms", "", "a number", &nlohmann::json::is_number, ev.latency_ms)) return std::unexpected(invalid(*e));
  if (const auto id = j.find("event_id"); id != j.end()) {
    if (!id->is_string()) return std::unexpected(invalid("event_id: must be a string"));
    ev.event_id = id->get<std::string>();
  }
  const auto counts = j.find("counts_by_class");
  if (counts == j.end()) return std::unexpected(invalid("counts_by_class: missing"));
  auto parsed_counts = counts_by_class_from_json(*counts);
  if (!parsed_counts) return std::unexpected(parsed_counts.error());
  ev.counts_by_class = std::move(*parsed_counts);
  if (auto e = check(ev)) return std::unexpected(invalid(*e));
  return ev;
}

Expected<std::map<std::string, std::int64_t>> counts_by_class_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::unexpected(invalid("counts_by_class: must be an object of name: count"));
  std::map<std::string, std::int64_t> counts;
  for (const auto& [name, count] : j.items()) {
    if (!count.is_number_integer()) {
      return std::unexpected(invalid("counts_by_class." + name + ": must be an integer, got " + count.dump()));
    }
    counts[name] = count.get<std::int64_t>();
  }
  if (auto problem = check_counts_by_class(counts)) return std::unexpected(invalid(*problem));
  return counts;
}

std::map<std::string, std::int64_t> counts_by_class(const std::vector<Detection>& detections) {
  std::map<std::string, std::int64_t> counts;
  for (const auto& d : detections) ++counts[d.class_name];
  return counts;
}

StatsEvent make_stats_event(const std::string& source_id, const std::vector<Detection>& detections,
                            double latency_ms) {
  return make_stats_event(source_id, counts_by_class(detections), latency_ms);
}

StatsEvent make_stats_event(const std::string& source_id, std::map<std::string, std::int64_t> counts_by_class,
                            double latency_ms) {
  StatsEvent e;
  e.source_id = source_id;
  e.ts_utc = utc_timestamp_now();
  for (const auto& [name, count] : counts_by_class) e.total_detections += count;
  e.counts_by_class = std::move(counts_by_class);
  e.latency_ms = latency_ms;
  return e;
}

}  // namespace vision
