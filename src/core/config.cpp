#include "vision/core/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <toml++/toml.hpp>

#include "config_schema.hpp"
#include "vision/core/secrets.hpp"

namespace fs = std::filesystem;

namespace vision {

struct Config::Impl {
  toml::table table;
  fs::path source;
  std::set<std::string, std::less<>> user_keys;
};

namespace {

constexpr std::string_view k_default_root_prefix = "./work-dir/";

const toml::table& schema() {
  static const toml::table table = toml::parse(config_defaults_toml());
  return table;
}

std::vector<std::string> split_key(std::string_view dotted) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    parts.emplace_back(dotted.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

const toml::node* find_node(const toml::table& table, std::string_view dotted) {
  const toml::node* node = &table;
  for (const auto& part : split_key(dotted)) {
    const auto* current = node->as_table();
    if (!current) return nullptr;
    node = current->get(part);
    if (!node) return nullptr;
  }
  return node;
}

toml::table* find_table(toml::table& table, const std::vector<std::string>& parts, size_t count) {
  toml::table* current = &table;
  for (size_t i = 0; i < count; ++i) {
    current = current->get_as<toml::table>(parts[i]);
    if (!current) return nullptr;
  }
  return current;
}

const FreeTable* find_free_table(std::string_view key) {
  const auto& tables = config_free_tables();
  const auto it = std::ranges::find(tables, key, &FreeTable::key);
  return it == tables.end() ? nullptr : &*it;
}

bool is_free_table(std::string_view key) { return find_free_table(key) != nullptr; }

bool is_secret(std::string_view leaf) {
  return std::ranges::find(config_secret_names(), leaf) != config_secret_names().end();
}

void collect_keys(const toml::table& table, const std::string& prefix,
                  std::vector<std::string>& out) {
  for (const auto& [key, node] : table) {
    const std::string dotted = prefix + std::string(key.str());
    if (node.is_table() && !is_free_table(dotted)) {
      collect_keys(*node.as_table(), dotted + ".", out);
    } else {
      out.push_back(dotted);
    }
  }
}

std::string node_text(const toml::node& node) {
  if (const auto* s = node.as_string()) return nlohmann::json(s->get()).dump();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) {
    std::ostringstream os;
    os << f->get();
    return os.str();
  }
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = node.as_array()) {
    std::string text = "[";
    for (size_t i = 0; i < a->size(); ++i) text += (i ? ", " : "") + node_text(*a->get(i));
    return text + "]";
  }
  if (node.is_table()) return "{…}";
  return "?";
}

// The value a free table holds, in words: "name = id" or "alias = \"class name\"".
std::string free_table_form(const FreeTable& table) {
  return table.values == FreeTableValues::integers ? "name = id" : "alias = \"class name\"";
}

// Errors for the entries of a free table whose values have the wrong type.
std::vector<std::string> free_table_errors(const FreeTable& free, const toml::table& table) {
  std::vector<std::string> errors;
  for (const auto& [name, value] : table) {
    const bool ok = free.values == FreeTableValues::integers ? value.is_integer() : value.is_string();
    if (!ok) {
      errors.push_back(free.key + "." + std::string(name.str()) + " = " + node_text(value) + ": expected " +
                       (free.values == FreeTableValues::integers ? "an integer" : "a string"));
    }
  }
  return errors;
}

std::string type_word(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "true or false";
    case toml::node_type::array: return "an array of strings";
    case toml::node_type::table: return "a table";
    default: return "a value";
  }
}

std::string unknown_key_message(const std::string& key, std::string_view where) {
  std::string message = "unknown key \"" + key + "\"" + std::string(where);
  const std::string hint = closest_match(key, config_keys());
  if (!hint.empty()) message += " (did you mean \"" + hint + "\"?)";
  return message;
}

// Checks `value` against the schema node and stores it as owner[leaf] (integers become
// floats for number keys); returns the error message instead when it does not fit.
std::optional<std::string> conform_into(const std::string& key, const toml::node& expected,
                                        const toml::node& value, toml::table& owner,
                                        std::string_view leaf) {
  const auto wrong = [&] { return key + " = " + node_text(value) + ": expected " + type_word(expected); };
  if (expected.is_floating_point()) {
    if (const auto* i = value.as_integer()) {
      owner.insert_or_assign(leaf, static_cast<double>(i->get()));
      return std::nullopt;
    }
    if (!value.is_floating_point()) return wrong();
  } else if (expected.is_array()) {
    const auto* array = value.as_array();
    if (!array) return wrong();
    for (const auto& element : *array) {
      if (!element.is_string()) return wrong();
    }
  } else if (expected.type() != value.type()) {
    return wrong();
  }
  owner.insert_or_assign(leaf, value);
  return std::nullopt;
}

void merge_table(const toml::table& user, toml::table& into, const toml::table& reference,
                 const std::string& prefix, std::string_view where,
                 std::set<std::string, std::less<>>& user_keys, std::vector<std::string>& errors) {
  for (const auto& [raw_key, value] : user) {
    const std::string key = prefix + std::string(raw_key.str());
    if (const FreeTable* free = find_free_table(key)) {
      const auto* table = value.as_table();
      if (!table) {
        errors.push_back(key + " = " + node_text(value) + ": expected a table of " + free_table_form(*free));
        continue;
      }
      auto wrong = free_table_errors(*free, *table);
      if (wrong.empty()) {
        into.insert_or_assign(raw_key, *table);
        user_keys.insert(key);
      }
      errors.insert(errors.end(), wrong.begin(), wrong.end());
      continue;
    }
    const toml::node* expected = reference.get(raw_key);
    if (!expected) {
      errors.push_back(unknown_key_message(key, where));
      continue;
    }
    if (expected->is_table()) {
      if (!value.is_table()) {
        errors.push_back(key + " = " + node_text(value) + ": expected a [" + key + "] section");
        continue;
      }
      merge_table(*value.as_table(), *into.get_as<toml::table>(raw_key), *expected->as_table(),
                  key + ".", where, user_keys, errors);
      continue;
    }
    if (auto error = conform_into(key, *expected, value, into, raw_key.str())) {
      errors.push_back(*error);
      continue;
    }
    user_keys.insert(key);
  }
}

bool parse_int(std::string_view text, std::int64_t& out) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

bool parse_float(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(out);
}

// `--set` values: true/false → bool, integers and floats → numbers, [..] → arrays, anything
// else → string; string keys keep the text as it is. Returned as box["v"].
toml::table typed_set_value(const std::string& text, bool string_key) {
  toml::table box;
  std::int64_t integer = 0;
  double number = 0;
  if (string_key) {
    box.insert_or_assign("v", text);
  } else if (text == "true" || text == "false") {
    box.insert_or_assign("v", text == "true");
  } else if (parse_int(text, integer)) {
    box.insert_or_assign("v", integer);
  } else if (parse_float(text, number)) {
    box.insert_or_assign("v", number);
  } else if (text.starts_with('[') && text.ends_with(']')) {
    try {
      box = toml::parse("v = " + text);
    } catch (const toml::parse_error&) {
      // Bare words: [a, b] means ["a", "b"].
      toml::array array;
      std::stringstream stream(text.substr(1, text.size() - 2));
      std::string item;
      while (std::getline(stream, item, ',')) {
        const auto first = item.find_first_not_of(" \t\"'");
        const auto last = item.find_last_not_of(" \t\"'");
        if (first != std::string::npos) array.push_back(item.substr(first, last - first + 1));
      }
      box.insert_or_assign("v", std::move(array));
    }
  } else {
    box.insert_or_assign("v", text);
  }
  return box;
}

std::optional<std::string> apply_set(toml::table& table, const std::string& assignment,
                                     std::set<std::string, std::less<>>& user_keys) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return "--set \"" + assignment + "\": expected key.path=value";
  }
  const std::string key = assignment.substr(0, eq);
  const std::string text = assignment.substr(eq + 1);
  const auto parts = split_key(key);
  // class_map.id_map.<name>=<id>, autolabel.llm.class_aliases.<alias>=<class name>
  for (const auto& free : config_free_tables()) {
    if (key.starts_with(free.key + ".") && key.size() > free.key.size() + 1) {
      auto* owner = find_table(table, split_key(free.key), split_key(free.key).size());
      const std::string entry = key.substr(free.key.size() + 1);
      if (free.values == FreeTableValues::strings) {
        owner->insert_or_assign(entry, text);
      } else {
        std::int64_t id = 0;
        if (!parse_int(text, id)) return key + " = \"" + text + "\": expected an integer (--set)";
        owner->insert_or_assign(entry, id);
      }
      user_keys.insert(free.key);
      return std::nullopt;
    }
  }
  const toml::node* expected = find_node(schema(), key);
  if (!expected) return unknown_key_message(key, " in --set");
  if (expected->is_table() && !is_free_table(key)) {
    return "--set " + key + ": is a section, not a key; set one of its keys";
  }
  if (const FreeTable* free = find_free_table(key)) {
    const std::string wanted = key + " = " + text + ": expected an inline table {" + free_table_form(*free) + "} (--set)";
    try {
      auto parsed = toml::parse("v = " + text);
      const auto* value = parsed["v"].as_table();
      if (!value) return wanted;
      if (auto wrong = free_table_errors(*free, *value); !wrong.empty()) return wrong.front() + " (--set)";
      auto* owner = find_table(table, parts, parts.size() - 1);
      owner->insert_or_assign(parts.back(), *value);
      user_keys.insert(key);
      return std::nullopt;
    } catch (const toml::parse_error&) {
      return wanted;
    }
  }
  const toml::table box = typed_set_value(text, expected->is_string());
  auto* owner = find_table(table, parts, parts.size() - 1);
  if (auto error = conform_into(key, *expected, *box.get("v"), *owner, parts.back())) {
    return *error + " (--set)";
  }
  user_keys.insert(key);
  return std::nullopt;
}

// Lexically normal, without a trailing separator ("/tmp/x/." → "/tmp/x").
fs::path normal_path(const fs::path& path) {
  fs::path normal = path.lexically_normal();
  if (!normal.has_filename() && normal.has_parent_path() && normal != normal.root_path()) {
    normal = normal.parent_path();
  }
  return normal;
}

fs::path expand_home(const std::string& value) {
  if (value == "~" || value.starts_with("~/")) {
    if (const char* home = std::getenv("HOME")) return fs::path(home) / value.substr(value.size() > 1 ? 2 : 1);
  }
  return value;
}

void resolve_paths(toml::table& table, const fs::path& base,
                   const std::set<std::string, std::less<>>& user_keys) {
  const auto set_path = [&](const std::string& key, const fs::path& path) {
    const auto parts = split_key(key);
    find_table(table, parts, parts.size() - 1)
        ->insert_or_assign(parts.back(), normal_path(path).string());
  };
  const auto resolve = [&](const std::string& value) -> fs::path {
    fs::path path = expand_home(value);
    return path.is_absolute() ? path : base / path;
  };
  const std::string root_value = *table.at_path("workspace.root").value<std::string>();
  const fs::path root = root_value.empty() ? fs::path() : resolve(root_value);
  if (!root.empty()) set_path("workspace.root", root);
  for (const auto& key : config_path_keys()) {
    if (key == "workspace.root") continue;
    const std::string value = *table.at_path(key).value<std::string>();
    if (value.empty()) continue;  // empty means "not set", never the current directory
    // Defaults inside the default work-dir follow workspace.root (and so --workdir).
    if (!user_keys.contains(key) && !root.empty() && value.starts_with(k_default_root_prefix)) {
      set_path(key, root / value.substr(k_default_root_prefix.size()));
    } else {
      set_path(key, resolve(value));
    }
  }
}

void fill_id_map(toml::table& table) {
  auto* id_map = table.at_path("class_map.id_map").as_table();
  const auto* names = table.at_path("class_map.names").as_array();
  if (!id_map || !names || !id_map->empty()) return;
  std::set<std::string> unique;
  for (const auto& name : *names) unique.insert(name.value_or(std::string()));
  if (unique.size() != names->size()) return;  // the names rule reports duplicates
  std::int64_t index = 0;
  for (const auto& name : *names) id_map->insert_or_assign(*name.value<std::string>(), index++);
}

void redact(toml::table& table) {
  for (auto&& [key, node] : table) {
    if (auto* sub = node.as_table()) {
      redact(*sub);
    } else if (auto* text = node.as_string()) {
      if (is_secret(key.str()) && !text->get().empty()) {
        *text = "***";
      } else if (key.str().ends_with("_url")) {
        *text = redact_url_secrets(text->get());
      }
    }
  }
}

nlohmann::json to_json_value(const toml::node& node) {
  if (const auto* t = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : *t) out[std::string(key.str())] = to_json_value(value);
    return out;
  }
  if (const auto* a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& value : *a) out.push_back(to_json_value(value));
    return out;
  }
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return i->get();
  if (const auto* f = node.as_floating_point()) return f->get();
  if (const auto* b = node.as_boolean()) return b->get();
  return nullptr;
}

const toml::node& require_node(const toml::table& table, std::string_view key) {
  const toml::node* node = find_node(table, key);
  if (!node) {
    throw VisionError(ErrorCode::config, "internal: config key \"" + std::string(key) +
                                             "\" is not in the schema");
  }
  return *node;
}

[[noreturn]] void wrong_type(std::string_view key, const char* wanted) {
  throw VisionError(ErrorCode::config,
                    "internal: config key \"" + std::string(key) + "\" is not " + wanted);
}

std::expected<toml::table, std::string> build(const toml::table* user, const fs::path& source,
                                              const ConfigSources& sources,
                                              std::set<std::string, std::less<>>& user_keys) {
  toml::table table = schema();
  std::vector<std::string> errors;
  if (user) merge_table(*user, table, schema(), "", " in " + source.string(), user_keys, errors);
  for (const auto& assignment : sources.overrides) {
    if (auto error = apply_set(table, assignment, user_keys)) errors.push_back(*error);
  }
  if (!errors.empty()) {
    std::string message;
    for (const auto& error : errors) message += (message.empty() ? "" : "\n") + error;
    return std::unexpected(message);
  }
  if (sources.workdir) {
    const fs::path workdir = sources.workdir->is_absolute() ? *sources.workdir
                                                            : sources.cwd / *sources.workdir;
    table.at_path("workspace").as_table()->insert_or_assign("root", workdir.string());
    user_keys.insert("workspace.root");
  }
  fs::path base = source.empty() ? sources.cwd : source.parent_path();
  if (base.filename() == "work-dir") base = base.parent_path();
  resolve_paths(table, base, user_keys);
  fill_id_map(table);
  return table;
}

}  // namespace

Config::Config(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Config::Config(const Config& other) : m_impl(std::make_unique<Impl>(*other.m_impl)) {}
Config& Config::operator=(const Config& other) {
  if (this != &other) m_impl = std::make_unique<Impl>(*other.m_impl);
  return *this;
}
Config::Config(Config&&) noexcept = default;
Config& Config::operator=(Config&&) noexcept = default;
Config::~Config() = default;

Config Config::defaults(const fs::path& cwd) {
  ConfigSources sources;
  sources.cwd = cwd;
  return value_or_throw(load(sources));
}

Expected<Config> Config::load(const ConfigSources& sources) {
  auto impl = std::make_unique<Impl>();
  std::optional<toml::table> user;
  if (!sources.config_file.empty()) {
    impl->source = sources.config_file.is_absolute() ? sources.config_file
                                                     : sources.cwd / sources.config_file;
    impl->source = impl->source.lexically_normal();
    std::error_code ec;
    if (!fs::is_regular_file(impl->source, ec)) {
      return fail(ErrorCode::config, "config file not found: " + impl->source.string());
    }
    try {
      user = toml::parse_file(impl->source.string());
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      return fail(ErrorCode::config, impl->source.string() + ":" + std::to_string(where.line) +
                                         ":" + std::to_string(where.column) +
                                         ": invalid TOML: " + std::string(e.description()));
    }
  }
  auto table = build(user ? &*user : nullptr, impl->source, sources, impl->user_keys);
  if (!table) return fail(ErrorCode::config, table.error());
  impl->table = std::move(*table);
  return Config(std::move(impl));
}

std::string Config::string(std::string_view key) const {
  const auto* value = require_node(m_impl->table, key).as_string();
  if (!value) wrong_type(key, "a string");
  return value->get();
}

std::int64_t Config::integer(std::string_view key) const {
  const auto* value = require_node(m_impl->table, key).as_integer();
  if (!value) wrong_type(key, "an integer");
  return value->get();
}

double Config::number(std::string_view key) const {
  const auto& node = require_node(m_impl->table, key);
  if (const auto* f = node.as_floating_point()) return f->get();
  if (const auto* i = node.as_integer()) return static_cast<double>(i->get());
  wrong_type(key, "a number");
}

bool Config::boolean(std::string_view key) const {
  const auto* value = require_node(m_impl->table, key).as_boolean();
  if (!value) wrong_type(key, "a boolean");
  return value->get();
}

fs::path Config::path(std::string_view key) const { return string(key); }

std::vector<std::string> Config::strings(std::string_view key) const {
  const auto* array = require_node(m_impl->table, key).as_array();
  if (!array) wrong_type(key, "an array");
  std::vector<std::string> out;
  for (const auto& element : *array) out.push_back(element.value_or(std::string()));
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> Config::int_map(std::string_view key) const {
  const auto* table = require_node(m_impl->table, key).as_table();
  if (!table) wrong_type(key, "a table");
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& [name, id] : *table) {
    out.emplace_back(std::string(name.str()), id.value_or(std::int64_t{-1}));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Config::string_map(std::string_view key) const {
  const auto* table = require_node(m_impl->table, key).as_table();
  if (!table) wrong_type(key, "a table");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : *table) out.emplace_back(std::string(name.str()), value.value_or(std::string()));
  return out;
}

const fs::path& Config::source_file() const { return m_impl->source; }

bool Config::user_set(std::string_view key) const { return m_impl->user_keys.contains(key); }

std::string Config::to_toml(bool redact_secrets) const {
  toml::table copy = m_impl->table;
  if (redact_secrets) redact(copy);
  std::ostringstream os;
  os << "# Resolved Vision configuration (schema_version 1)";
  if (!m_impl->source.empty()) os << " from " << m_impl->source.string();
  os << "\n"
     << toml::toml_formatter(copy, toml::toml_formatter::default_flags &
                                       ~toml::format_flags::allow_literal_strings)
     << "\n";
  return os.str();
}

nlohmann::json Config::to_json(bool redact_secrets) const {
  toml::table copy = m_impl->table;
  if (redact_secrets) redact(copy);
  return to_json_value(copy);
}

Expected<void> validate(const Config& config, std::span<const std::string> scopes) {
  std::vector<std::string> errors;
  for (const auto& rule : config_rules()) {
    const bool in_scope =
        scopes.empty() || std::ranges::any_of(scopes, [&](const std::string& scope) {
          return rule.key == scope || rule.key.starts_with(scope + ".");
        });
    if (!in_scope) continue;
    if (auto broken = rule.check(config)) errors.push_back(rule.key + " = " + *broken);
  }
  if (errors.empty()) return {};
  std::string message;
  for (const auto& error : errors) message += (message.empty() ? "" : "\n") + error;
  if (!config.source_file().empty()) message += "\n(config: " + config.source_file().string() + ")";
  return fail(ErrorCode::config, message);
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  collect_keys(schema(), "", keys);
  return keys;
}

std::vector<std::string> secret_config_keys() {
  std::vector<std::string> keys;
  for (auto& key : config_keys()) {
    if (is_secret(std::string_view(key).substr(key.rfind('.') + 1))) keys.push_back(std::move(key));
  }
  return keys;
}

std::string closest_match(std::string_view word, std::span<const std::string> candidates) {
  const auto distance = [](std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
        diagonal = above;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_distance = SIZE_MAX;
  for (const auto& candidate : candidates) {
    size_t d = distance(word, candidate);
    // A right leaf in the wrong section ("train.lr0" for "train.yolo.lr0") is close too.
    const auto leaf = candidate.substr(candidate.rfind('.') + 1);
    const auto word_leaf = word.substr(word.rfind('.') + 1);
    if (leaf == word_leaf) d = std::min<size_t>(d, 2);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_distance <= limit ? best : std::string();
}

Expected<void> ensure_workdir_layout(const fs::path& root) {
  static const char* const k_folders[] = {"datasets/yolo", "datasets/labeled",
                                          "datasets/unlabeled", "models", "runs", "outputs",
                                          "stats", "tmp"};
  for (const char* folder : k_folders) {
    std::error_code ec;
    fs::create_directories(root / folder, ec);
    if (ec) {
      return fail(ErrorCode::io, "cannot create " + (root / folder).string() + ": " + ec.message());
    }
  }
  return {};
}

}  // namespace vision
