// The StatsTransport a StatsSender uses in production: StatsEvents go over HTTP(S) to the
// statistics service.
#pragma once

#include <memory>
#include <string>

#include "vision/stats_client/stats_sender.hpp"

namespace vision {

// Posts to any absolute http(s) URL with X-API-Key when `api_key` is set.
std::unique_ptr<StatsTransport> make_http_stats_transport(std::string api_key, double timeout_sec);

}  // namespace vision
