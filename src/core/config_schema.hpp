// The config schema: the defaults (which also fix each key's type), the path fields, the
// secrets, the free-form tables, and the value rules. Private to src/core.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vision {

class Config;

// The defaults as TOML text; every key the schema knows appears here.
std::string_view config_defaults_toml();

// Dotted keys whose values are file-system paths resolved at load time.
const std::vector<std::string>& config_path_keys();
// Leaf key names whose values are secrets ("***" in printed configs).
const std::vector<std::string>& config_secret_names();
// Tables whose keys the user chooses: class_map.id_map (name = id), the LLM class aliases
// (alias = class name).
enum class FreeTableValues { integers, strings };
struct FreeTable {
  std::string key;  // dotted
  FreeTableValues values;
};
const std::vector<FreeTable>& config_free_tables();

struct ConfigRule {
  std::string key;  // the key the rule is about; validate() scopes by prefix of this
  // Returns the broken rule in words, or nullopt when the value is fine.
  std::function<std::optional<std::string>(const Config&)> check;
};

const std::vector<ConfigRule>& config_rules();

}  // namespace vision
