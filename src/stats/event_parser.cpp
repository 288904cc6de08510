#include "event_parser.hpp"

#include <cstdio>
#include <limits>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "vision/core/contracts.hpp"
#include "vision/core/timestamp.hpp"

namespace vision::stats {

namespace {

using json = nlohmann::json;

// The fields of one event as they arrive; checked when its object closes.
struct PartialEvent {
  std::optional<std::string> source_id;
  std::string event_id;
  std::optional<std::string> ts_utc;
  std::optional<std::int64_t> total_detections;
  std::optional<double> latency_ms;
  bool has_counts = false;
  std::map<std::string, std::int64_t> counts;
};

std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

class EventReader final : public json::json_sax_t {
 public:
  EventReader(bool batch, const std::string& received) : m_batch(batch), m_received(received) {}

  std::vector<NewEvent> events;
  std::string error;      // validation error (the parse stopped because of it)
  std::string malformed;  // JSON syntax error

  // --- scalars ---
  bool null() override { return scalar(Value{Kind::null}); }
  bool boolean(bool v) override { return scalar(Value{.kind = Kind::boolean, .i = v ? 1 : 0}); }
  bool number_integer(number_integer_t v) override {
    return scalar(Value{.kind = Kind::integer, .i = v, .d = static_cast<double>(v)});
  }
  bool number_unsigned(number_unsigned_t v) override {
    return scalar(Value{.kind = Kind::unsigned_integer, .u = v, .d = static_cast<double>(v)});
  }
  bool number_float(number_float_t v, const string_t& text) override {
    return scalar(Value{.kind = Kind::floating, .d = v, .s = text});
  }
  bool string(string_t& v) override {
    return scalar(Value{.kind = Kind::string, .s = std::move(v)});
  }
  bool binary(binary_t&) override { return fail_here("binary values are not JSON"); }

  // --- containers ---
  bool start_object(std::size_t) override {
    if (m_skip > 0) return ++m_skip, true;
    switch (where()) {
      case Place::top:
        if (m_batch) {
          m_state = State::wrapper;  // {"events":[…]}
        } else {
          begin_event();
        }
        return true;
      case Place::array_item:
        return begin_event(), true;
      case Place::event_field:
        if (m_field == "counts_by_class") {
          m_current.has_counts = true;
          m_current.counts.clear();
          m_state = State::counts;
          return true;
        }
        if (is_known_field()) return type_error(m_field, "an object");
        return ++m_skip, true;
      case Place::count_value:
        return type_error("counts_by_class." + m_count_key, "an object");
      case Place::wrapper_field:
        return ++m_skip, true;
    }
    return true;
  }

  bool end_object() override {
    if (m_skip > 0) return --m_skip, true;
    if (m_state == State::counts) {
      m_state = State::event;
      return true;
    }
    if (m_state == State::event) return finish_event();
    return true;  // wrapper object
  }

  bool start_array(std::size_t) override {
    if (m_skip > 0) return ++m_skip, true;
    switch (where()) {
      case Place::top:
        if (!m_batch) return fail_here("stats event: must be a JSON object");
        m_state = State::array;
        return true;
      case Place::wrapper_field:
        if (m_field == "events") {
          m_state = State::array;
          m_in_wrapper_array = true;
          return true;
        }
        return ++m_skip, true;
      case Place::array_item:
        return fail_at_item("stats event: must be a JSON object");
      case Place::event_field:
        if (is_known_field()) {
          return m_field == "counts_by_class"
                     ? fail_here("counts_by_class: must be an object of name: count")
                     : type_error(m_field, "an array");
        }
        return ++m_skip, true;
      case Place::count_value:
        return type_error("counts_by_class." + m_count_key, "an array");
    }
    return true;
  }

  bool end_array() override {
    if (m_skip > 0) return --m_skip, true;
    m_state = m_in_wrapper_array ? State::wrapper : State::done;
    if (m_in_wrapper_array) m_saw_events = true;
    m_in_wrapper_array = false;
    return true;
  }

  bool key(string_t& k) override {
    if (m_skip > 0) return true;
    if (m_state == State::counts) {
      m_count_key = std::move(k);
    } else {
      m_field = std::move(k);
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    malformed = e.what();
    return false;
  }

  // After a successful parse: anything missing at the top level.
  bool complete() {
    if (m_batch && m_state != State::done && !m_saw_events) {
      error = "batch: must be a JSON array of stats events";
      return false;
    }
    return true;
  }

 private:
  enum class State { top, array, wrapper, event, counts, done };
  enum class Place { top, array_item, wrapper_field, event_field, count_value };
  enum class Kind { null, boolean, integer, unsigned_integer, floating, string };
  struct Value {
    Kind kind = Kind::null;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    double d = 0.0;
    std::string s;  // a string's value, or a float's text as written

    // As JSON, for messages; only built when a message needs it.
    std::string shown() const {
      switch (kind) {
        case Kind::null:
          return "null";
        case Kind::boolean:
          return i ? "true" : "false";
        case Kind::integer:
          return std::to_string(i);
        case Kind::unsigned_integer:
          return std::to_string(u);
        case Kind::floating:
          return s.empty() ? number_text(d) : s;
        case Kind::string: {
          std::string out;
          append_json_string(out, s);
          return out;
        }
      }
      return {};
    }
  };

  Place where() const {
    switch (m_state) {
      case State::top:
        return Place::top;
      case State::array:
        return Place::array_item;
      case State::wrapper:
        return Place::wrapper_field;
      case State::event:
        return Place::event_field;
      case State::counts:
        return Place::count_value;
      case State::done:
        return Place::top;
    }
    return Place::top;
  }

  std::string prefix() const { return m_batch ? "[" + std::to_string(m_index) + "]." : ""; }

  bool fail_here(const std::string& message) {
    error = prefix() + message;
    return false;
  }
  bool fail_at_item(const std::string& message) {
    error = "[" + std::to_string(m_index) + "]: " + message;
    return false;
  }
  bool type_error(const std::string& field, const std::string& got) {
    const char* want = field == "source_id" || field == "ts_utc" ? "a string"
                       : field == "total_detections"             ? "an integer"
                       : field == "latency_ms"                   ? "a number"
                       : field == "schema_version"               ? "1"
                                                                 : "an integer";
    return fail_here(field + ": must be " + want + ", got " + got);
  }
  bool is_known_field() const {
    return m_field == "schema_version" || m_field == "source_id" || m_field == "event_id" || m_field == "ts_utc" ||
           m_field == "total_detections" || m_field == "latency_ms" || m_field == "counts_by_class";
  }

  void begin_event() {
    m_current = PartialEvent{};
    m_state = State::event;
  }

  bool scalar(Value v) {
    if (m_skip > 0) return true;
    switch (where()) {
      case Place::top:
        error = m_batch ? "batch: must be a JSON array of stats events"
                        : "stats event: must be a JSON object";
        return false;
      case Place::array_item:
        return fail_at_item("stats event: must be a JSON object");
      case Place::wrapper_field:
        return true;
      case Place::count_value: {
        const std::string field = "counts_by_class." + m_count_key;
        if (v.kind == Kind::integer) {
          m_current.counts[m_count_key] = v.i;
        } else if (v.kind == Kind::unsigned_integer) {
          if (v.u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return fail_here(field + ": must be >= 0 and fit in 64 bits, got " + v.shown());
          }
          m_current.counts[m_count_key] = static_cast<std::int64_t>(v.u);
        } else {
          return fail_here(field + ": must be an integer, got " + v.shown());
        }
        return true;
      }
      case Place::event_field:
        break;
    }
    const bool integer = v.kind == Kind::integer || v.kind == Kind::unsigned_integer;
    if (m_field == "schema_version") {
      if (!integer ||
          (v.kind == Kind::integer ? v.i : static_cast<std::int64_t>(v.u)) != k_schema_version) {
        return fail_here("schema_version: must be 1, got " + v.shown());
      }
    } else if (m_field == "event_id") {
      if (v.kind != Kind::string) return fail_here("event_id: must be a string, got " + v.shown());
      m_current.event_id = std::move(v.s);
    } else if (m_field == "source_id" || m_field == "ts_utc") {
      if (v.kind != Kind::string) return type_error(m_field, v.shown());
      (m_field == "source_id" ? m_current.source_id : m_current.ts_utc) = std::move(v.s);
    } else if (m_field == "total_detections") {
      if (!integer) return type_error(m_field, v.shown());
      if (v.kind == Kind::unsigned_integer &&
          v.u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return fail_here("total_detections: must fit in 64 bits, got " + v.shown());
      }
      m_current.total_detections = v.kind == Kind::integer ? v.i : static_cast<std::int64_t>(v.u);
    } else if (m_field == "latency_ms") {
      if (!integer && v.kind != Kind::floating) return type_error(m_field, v.shown());
      m_current.latency_ms = v.d;
    } else if (m_field == "counts_by_class") {
      return fail_here("counts_by_class: must be an object of name: count");
    }
    return true;
  }

  bool finish_event() {
    PartialEvent& p = m_current;
    for (const auto& [present, name] :
         {std::pair{p.source_id.has_value(), "source_id"},
          std::pair{p.ts_utc.has_value(), "ts_utc"},
          std::pair{p.total_detections.has_value(), "total_detections"},
          std::pair{p.latency_ms.has_value(), "latency_ms"},
          std::pair{p.has_counts, "counts_by_class"}}) {
      if (!present) return fail_here(std::string(name) + ": missing");
    }
    StatsEvent event;
    event.source_id = std::move(*p.source_id);
    event.event_id = std::move(p.event_id);
    event.ts_utc = std::move(*p.ts_utc);
    event.total_detections = *p.total_detections;
    event.latency_ms = *p.latency_ms;
    event.counts_by_class = std::move(p.counts);
    // The contract itself (non-empty ids, counts and latency >= 0, finite numbers, ISO time).
    if (auto problem = check(event)) return fail_here(*problem);
    auto ts = canonical_utc(event.ts_utc);
    if (!ts) return fail_here("ts_utc: " + ts.error().message);

    NewEvent row;
    row.source_id = std::move(event.source_id);
    row.event_id = std::move(event.event_id);
    row.ts_utc = std::move(*ts);
    row.total_detections = event.total_detections;
    row.latency_ms = event.latency_ms;
    row.ts_received_utc = m_received;
    row.counts_by_class.clear();  // NewEvent starts as "{}"
    row.counts_by_class.reserve(2 + event.counts_by_class.size() * 16);
    row.counts_by_class.push_back('{');
    bool first = true;
    for (const auto& [name, count] : event.counts_by_class) {
      if (!first) row.counts_by_class.push_back(',');
      first = false;
      append_json_string(row.counts_by_class, name);
      row.counts_by_class.push_back(':');
      row.counts_by_class += std::to_string(count);
    }
    row.counts_by_class.push_back('}');
    events.push_back(std::move(row));
    ++m_index;
    m_state = m_batch ? State::array : State::done;
    return true;
  }

  bool m_batch;
  const std::string& m_received;
  State m_state = State::top;
  int m_skip = 0;  // depth inside a value that is ignored (unknown field)
  bool m_in_wrapper_array = false;
  bool m_saw_events = false;
  size_t m_index = 0;
  std::string m_field;
  std::string m_count_key;
  PartialEvent m_current;
};

Error invalid(std::string message) {
  return Error{ErrorCode::invalid_data, std::move(message)};
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char k_hex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out.push_back(k_hex[(c >> 4) & 0xF]);
          out.push_back(k_hex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

Expected<std::vector<NewEvent>> parse_stats_events(std::string_view body, bool batch,
                                                   const std::string& received_utc) {
  EventReader reader(batch, received_utc);
  const bool parsed = json::sax_parse(body.begin(), body.end(), &reader);
  if (!reader.error.empty()) return std::unexpected(invalid(reader.error));
  if (!parsed) {
    for (const char* token : {"NaN", "Infinity"}) {
      if (body.find(token) != std::string_view::npos) {
        return std::unexpected(invalid(std::string("malformed JSON: ") + token +
                                       " is not a JSON number; every number must be finite"));
      }
    }
    return std::unexpected(invalid("malformed JSON: " + reader.malformed));
  }
  if (!reader.complete()) return std::unexpected(invalid(reader.error));
  return std::move(reader.events);
}

}  // namespace vision::stats
