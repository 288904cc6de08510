// The project configuration (SPEC 3.2): a TOML file deep-merged onto the built-in defaults,
// then `--set key=value` overrides in order, then `--workdir`, then path resolution. Every key
// has a type taken from its default; unknown keys and wrong types fail the load, value rules
// (ranges, choices, required-by-mode) are checked per command with `validate`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/error.hpp"

namespace vision {

struct ConfigSources {
  std::filesystem::path config_file;                  // empty: built-in defaults only
  std::optional<std::filesystem::path> workdir;       // --workdir, overrides workspace.root
  std::vector<std::string> overrides;                 // --set key.path=value, applied in order
  std::filesystem::path cwd = std::filesystem::current_path();
};

class Config {
 public:
  // The built-in defaults, resolved against `cwd`.
  static Config defaults(const std::filesystem::path& cwd = std::filesystem::current_path());
  // Parse, merge, override, resolve. Fails with ErrorCode::config naming the key or the file.
  static Expected<Config> load(const ConfigSources& sources);

  Config(const Config& other);
  Config& operator=(const Config& other);
  Config(Config&&) noexcept;
  Config& operator=(Config&&) noexcept;
  ~Config();

  // Typed reads of dotted keys ("deploy.edge.fps_limit"); a key outside the schema throws.
  std::string string(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  double number(std::string_view key) const;
  bool boolean(std::string_view key) const;
  // A resolved path field; empty means "not set".
  std::filesystem::path path(std::string_view key) const;
  std::vector<std::string> strings(std::string_view key) const;
  std::vector<std::pair<std::string, std::int64_t>> int_map(std::string_view key) const;
  std::vector<std::pair<std::string, std::string>> string_map(std::string_view key) const;

  // Convenience for the workspace.
  std::filesystem::path root() const { return path("workspace.root"); }
  std::vector<std::string> class_names() const { return strings("class_map.names"); }

  // The config file this came from (empty for defaults) and whether the user set `key`
  // (in the file or with --set) rather than taking its default.
  const std::filesystem::path& source_file() const;
  bool user_set(std::string_view key) const;

  // Valid TOML of the resolved config; secrets are "***" unless `redact` is false.
  std::string to_toml(bool redact = true) const;
  nlohmann::json to_json(bool redact = true) const;

 private:
  struct Impl;
  explicit Config(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// Checks the value rules of every key under the given dotted prefixes ("train",
// "data.yolo_dataset_dir", …); an empty list checks everything. All failures are reported in
// one ErrorCode::config error, one line each: "<key> = <value>: <rule>".
Expected<void> validate(const Config& config, std::span<const std::string> scopes = {});

// Every key of the schema, dotted, in schema order (free tables such as class_map.id_map
// or autolabel.llm.class_aliases count as one key).
std::vector<std::string> config_keys();

// The values train.faster_rcnn.variant accepts: the Python original's four (torchvision's
// Faster R-CNN variants) and Vision's earlier "resnet50", read as "resnet50_fpn".
std::span<const std::string> faster_rcnn_variants();

// The keys whose values are secrets ("deploy.statistics.api_key", …): redacted as "***" in
// resolved configs, settable from the environment (secret_env_name in secrets.hpp).
std::vector<std::string> secret_config_keys();

// The closest candidate to `word` by edit distance, or empty when nothing is close.
std::string closest_match(std::string_view word, std::span<const std::string> candidates);

// Creates <root>/{datasets/{yolo,labeled,unlabeled},models,runs,outputs,stats,tmp}.
Expected<void> ensure_workdir_layout(const std::filesystem::path& root);

}  // namespace vision
