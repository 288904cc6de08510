// `vision deploy remote`: the HTTP inference server edge devices stream frames to (SPEC 9).
//   GET  /health                     {"ok":true, run_id, frames_processed, detections_total,
//                                     stats_sent, stats_failed, annotated_saved, reports_stats}
//                                     reports_stats: true when it pushes a StatsEvent per frame
//                                     (a stats endpoint is set); an edge streaming to it with
//                                     stream_push_stats = "auto" then pushes none of its own
//   POST /api/v1/frame               one JPEG frame → detections (401 / 400 / 413 / 500 bodies
//                                     as SPEC 9)
//   KServe v2 / Triton HTTP subset:
//   GET  /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
//   POST /v2/models/{name}/infer     input "image": BYTES, base64 JPEG → outputs "detections"
//                                     FP32 [K, 6] (x1, y1, x2, y2, score, class_id) and
//                                     "detections_json" BYTES [1]
// max_payload_mb limits the decoded JPEG on both frame routes (413 naming both sizes); the body
// limit, checked before a body is read, is derived from it (payload_limits.hpp). /health also
// reports both: max_image_bytes, max_body_bytes.
// The handlers are plain functions of HttpRequest, so route tests need no socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "vision/core/error.hpp"
#include "vision/infer/detector.hpp"
#include "vision/net/http_router.hpp"
#include "vision/remote/payload_limits.hpp"

namespace vision {

class InferencePool;
class StatsSender;
namespace net {
class HttpServer;
}

struct InferenceServerOptions {
  std::string host = "127.0.0.1";
  int port = 60051;                 // 0: any free port
  int workers = 0;                  // inference sessions; 0 = number of cores
  DetectorOptions detector;         // model, confidence; threads per session are chosen here
  std::string model_name;           // the KServe model name; default: the model file's stem
  std::string ingest_api_key;       // X-API-Key clients must send when set
  bool insecure = false;            // allow a non-loopback host without ingest_api_key
  double max_payload_mb = 8.0;      // MiB of decoded JPEG per frame; the body limit follows (payload_limits)
  std::int64_t max_image_pixels = 8192LL * 8192;  // width × height from the JPEG header; larger get 413
  int max_inflight = 0;  // frames in decoding or inference at once, more get 503; 0 = 2 × workers
  bool save_annotated = false;
  std::filesystem::path outputs_dir;  // outputs/<run_id>
  std::string run_id;
};

// Refuses (ErrorCode::config) a non-loopback host without ingest_api_key unless insecure: anyone
// who reaches the port could otherwise spend the machine's cores.
Expected<void> check_exposure(const InferenceServerOptions& options);

struct InferenceServerCounts {
  std::int64_t frames_processed = 0;
  std::int64_t detections_total = 0;
  std::int64_t annotated_saved = 0;
  std::int64_t rejected = 0;  // 400 / 401 / 413
  std::int64_t failed = 0;    // 500
};

class InferenceServer {
 public:
  // `sender` (may be null) receives one StatsEvent per frame, tagged with the client's source_id.
  InferenceServer(InferenceServerOptions options, StatsSender* sender);
  ~InferenceServer();

  // Loads the model into every worker; the HTTP side is not started. Nothing thrown below
  // escapes this facade or start(): it comes back as an Error.
  Expected<void> load();
  // load() if needed, then binds and serves on a background thread.
  Expected<void> start();
  int port() const;
  void stop();
  InferenceServerCounts counts() const;
  const net::HttpRouter& router() const { return m_router; }

  net::HttpResponse health(const net::HttpRequest& request) const;
  net::HttpResponse frame(const net::HttpRequest& request);
  net::HttpResponse kserve_live(const net::HttpRequest& request) const;
  net::HttpResponse kserve_ready(const net::HttpRequest& request) const;
  net::HttpResponse kserve_model(const net::HttpRequest& request) const;
  net::HttpResponse kserve_infer(const net::HttpRequest& request);

 private:
  Expected<void> open_pool();
  Expected<void> serve();
  int max_inflight() const;
  // The base64 JPEG of `field`, checked against max_image_bytes and max_image_pixels before its
  // pixels are decoded: 413 (payload_too_large) above either, 400 (invalid_data) if malformed.
  Expected<cv::Mat> decode_jpeg(const std::string& base64, const std::string& field) const;
  Expected<ImageDetections> detect(const cv::Mat& image);
  void after_frame(const std::string& source_id, const cv::Mat& image, const ImageDetections& result,
                   std::string* annotated_base64);

  InferenceServerOptions m_options;
  PayloadLimits m_limits;  // from m_options.max_payload_mb
  StatsSender* m_sender;
  std::unique_ptr<InferencePool> m_pool;
  std::unique_ptr<net::HttpServer> m_server;
  net::HttpRouter m_router;
  std::atomic<std::int64_t> m_frames{0};
  std::atomic<std::int64_t> m_detections{0};
  std::atomic<std::int64_t> m_annotated{0};
  std::atomic<std::int64_t> m_rejected{0};
  std::atomic<std::int64_t> m_failed{0};
  std::atomic<int> m_inflight{0};  // requests in decoding or inference (max_inflight())
  std::atomic<std::int64_t> m_sequence{0};
};

}  // namespace vision
