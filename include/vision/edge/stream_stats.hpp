// Who reports a streamed frame to the statistics service (deploy.edge.stream_push_stats): the
// stream server, as in the Python original, or the edge itself. A Vision server says in
// GET /health whether it reports ("reports_stats"), so that with both stats endpoints set no
// frame is counted twice, and none goes uncounted when the server has no stats endpoint.
#pragma once

#include <string>

#include "vision/core/error.hpp"
#include "vision/edge/stream_processor.hpp"

namespace vision {

enum class StreamPushStats { automatic, always, never };

// "auto" | "always" | "never"; anything else is ErrorCode::config.
Expected<StreamPushStats> parse_stream_push_stats(const std::string& text);

struct StreamPushDecision {
  bool edge_pushes = false;
  std::string reason;  // why, for the log and the run's artifacts
};

// "always" and "never" decide alone. "auto" asks GET /health of the stream endpoint's server
// (same scheme, host and port): the edge pushes its own events only when the server answers
// "reports_stats": false. A server whose answer lacks the field (one that predates it, like the
// Python original, which always reports) or that cannot be asked is left to report, as the
// original's edge did. Logs the decision in one line.
StreamPushDecision decide_stream_push(StreamPushStats setting, const StreamOptions& stream);

}  // namespace vision
