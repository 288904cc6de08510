// Which config sections each command validates (SPEC 3.2: only what the command uses).
#pragma once

#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace vision::cli {

Expected<std::vector<std::string>> scopes_for_command(const std::string& command);

}  // namespace vision::cli
