// A stand-in for the Python original's inference server on loopback, as a Vision edge in stream
// mode sees it: POST /api/v1/frame answers counts_by_class and total_detections but no
// detections, GET /health has no reports_stats, and each frame is pushed at once as one
// StatsEvent (under the client's source_id) to the stats endpoint, when one is given.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace vision::test {

struct OriginalRemoteOptions {
  std::map<std::string, std::int64_t> counts = {{"circle", 2}, {"square", 1}};  // every frame's answer
  std::string stats_endpoint;  // ".../api/v1/push"; empty: report nothing
  // GET /health as the original answers it; tests of other servers replace it.
  int health_status = 200;
  nlohmann::json health = {{"ok", true}, {"model", "model-int8.onnx"}};
};

class OriginalRemote {
 public:
  explicit OriginalRemote(OriginalRemoteOptions options = {});
  ~OriginalRemote();
  OriginalRemote(const OriginalRemote&) = delete;
  OriginalRemote& operator=(const OriginalRemote&) = delete;

  // "http://127.0.0.1:<port>/api/v1/frame"
  std::string frame_endpoint() const;
  int frames() const;          // frames answered
  int health_requests() const;
  int stats_pushed() const;    // events the stats endpoint acknowledged

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace vision::test
