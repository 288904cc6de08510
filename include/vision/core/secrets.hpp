// Secrets never leave the process in clear. A URL is shown (logs, artifacts, resolved configs,
// errors) only through redact_url_secrets; a secret config key reaches a child process or a
// systemd unit through the environment variable secret_env_name names, never a command line.
#pragma once

#include <string>
#include <string_view>

namespace vision {

// The URL or connection string with its secrets replaced by "***": the password of
// scheme://user:password@host, query parameters such as ?password= or &token=, and libpq's
// keyword form "host=db password=secret" (quoted values included).
std::string redact_url_secrets(std::string_view url);

// The environment variable that sets a secret config key, which a config file or --set would
// otherwise carry: "deploy.statistics.api_key" → "VISION_DEPLOY_STATISTICS_API_KEY".
std::string secret_env_name(std::string_view key);

}  // namespace vision
