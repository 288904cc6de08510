#include "scopes.hpp"

#include <map>

namespace vision::cli {

Expected<std::vector<std::string>> scopes_for_command(const std::string& command) {
  static const std::map<std::string, std::vector<std::string>> k_scopes = {
      {"train", {"app", "workspace", "class_map", "data.yolo_dataset_dir", "data.labeled_dir", "train", "export"}},
      {"val",
       {"app", "workspace", "class_map", "data.yolo_dataset_dir", "data.labeled_dir", "autolabel.val_fraction", "train"}},
      {"export", {"app", "workspace", "class_map", "train", "export"}},
      {"predict", {"app", "workspace"}},
      {"autolabel",
       {"app", "workspace", "class_map", "data.unlabeled_dir", "data.labeled_dir", "autolabel"}},
      {"labels-import", {"app", "workspace", "data.labeled_dir", "data.unlabeled_dir", "autolabel.val_fraction"}},
      {"deploy-edge", {"app", "workspace", "deploy.edge", "statistics.spool_max_mb"}},
      {"deploy-remote", {"app", "workspace", "deploy.remote", "statistics.spool_max_mb"}},
      {"stats", {"app", "workspace", "deploy.statistics", "statistics"}},
      {"demo", {"app", "workspace"}},
  };
  const auto it = k_scopes.find(command);
  if (it == k_scopes.end()) {
    std::string known;
    for (const auto& [name, scopes] : k_scopes) known += (known.empty() ? "" : ", ") + name;
    return fail(ErrorCode::usage, "unknown command \"" + command + "\" (one of " + known + ")");
  }
  return it->second;
}

}  // namespace vision::cli
