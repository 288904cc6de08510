// Backends by name. Later modules plug trainers, autolabelers and deploy modes in by adding an
// entry; a name the config accepts but no module delivers answers "not available yet".
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace vision {

template <class Backend>
class Registry {
 public:
  // `what` names the kind in messages, e.g. "train backend".
  explicit Registry(std::string what) : m_what(std::move(what)) {}

  void add(const std::string& name, Backend backend) { m_entries[name] = std::move(backend); }

  Expected<std::reference_wrapper<const Backend>> find(const std::string& name) const {
    const auto it = m_entries.find(name);
    if (it == m_entries.end()) {
      return fail(ErrorCode::not_implemented,
                  m_what + " \"" + name + "\" is not available yet in this version of Vision");
    }
    return std::cref(it->second);
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, backend] : m_entries) out.push_back(name);
    return out;
  }

 private:
  std::string m_what;
  std::map<std::string, Backend> m_entries;
};

}  // namespace vision
