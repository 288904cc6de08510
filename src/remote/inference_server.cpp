#include "vision/remote/inference_server.hpp"

#include <atomic>
#include <format>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/base64.hpp"
#include "vision/core/contracts.hpp"
#include "vision/core/exception_error.hpp"
#include "vision/core/log.hpp"
#include "vision/image/draw.hpp"
#include "vision/image/image_files.hpp"
#include "vision/net/http_server.hpp"
#include "vision/remote/inference_pool.hpp"
#include "vision/stats_client/stats_sender.hpp"

namespace fs = std::filesystem;
using vision::net::HttpRequest;
using vision::net::HttpResponse;

namespace vision {

namespace {

HttpResponse validation_failed(const std::string& detail) { return HttpResponse::error(400, "validation_failed", detail); }

// KServe errors are {"error": "<message>"}.
HttpResponse kserve_error(int status, const std::string& message) { return HttpResponse::json(status, {{"error", message}}); }

// KServe's `id` and the frame's `frame_name` are echoed: strings of bounded length only.
constexpr std::size_t k_max_echoed_bytes = 256;

// Counts a request in decoding or inference for as long as it lives; `admitted` is false when
// the server already has its maximum and the request must be answered 503 at once.
class InflightSlot {
 public:
  InflightSlot(std::atomic<int>& count, int limit) : m_count(count), m_admitted(++count <= limit) {}
  ~InflightSlot() { --m_count; }
  InflightSlot(const InflightSlot&) = delete;
  InflightSlot& operator=(const InflightSlot&) = delete;
  bool admitted() const { return m_admitted; }

 private:
  std::atomic<int>& m_count;
  bool m_admitted;
};

HttpResponse busy(HttpResponse response) {
  response.set_header("Retry-After", "1");
  return response;
}

}  // namespace

InferenceServer::InferenceServer(InferenceServerOptions options, StatsSender* sender)
    : m_options(std::move(options)), m_limits(payload_limits(m_options.max_payload_mb)), m_sender(sender), m_router(net::HttpRouterOptions{.loopback_host_only = net::is_loopback_name(m_options.host), .log_name = "deploy.remote.http"}) {
  if (m_options.model_name.empty()) m_options.model_name = m_options.detector.model_path.stem().string();
  m_router.add_route("GET", "/health", [this](const HttpRequest& r) { return health(r); });
  m_router.add_route("POST", "/api/v1/frame", [this](const HttpRequest& r) { return frame(r); });
  m_router.add_route("GET", "/v2/health/live", [this](const HttpRequest& r) { return kserve_live(r); });
  m_router.add_route("GET", "/v2/health/ready", [this](const HttpRequest& r) { return kserve_ready(r); });
  m_router.add_route("GET", "/v2/models/{name}", [this](const HttpRequest& r) { return kserve_model(r); });
  m_router.add_route("GET", "/v2/models/{name}/ready", [this](const HttpRequest& r) { return kserve_ready(r); });
  m_router.add_route("POST", "/v2/models/{name}/infer", [this](const HttpRequest& r) { return kserve_infer(r); });
}

InferenceServer::~InferenceServer() { stop(); }

Expected<void> InferenceServer::load() {
  try {
    return open_pool();
  } catch (...) {
    return std::unexpected(error_from_current_exception("deploy remote: loading " + m_options.detector.model_path.string()));
  }
}

Expected<void> InferenceServer::open_pool() {
  if (m_pool) return {};
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const int workers = m_options.workers > 0 ? m_options.workers : cores;
  DetectorOptions detector = m_options.detector;
  // Parallel sessions scale better than threads inside one session on small models: split the
  // cores between the workers.
  if (detector.threads == 0) detector.threads = std::max(1, cores / workers);
  auto pool = InferencePool::open(detector, workers);
  if (!pool) return std::unexpected(pool.error());
  m_pool = std::move(*pool);
  return {};
}

Expected<void> check_exposure(const InferenceServerOptions& options) {
  if (net::is_loopback_name(options.host) || !options.ingest_api_key.empty() || options.insecure) return {};
  return fail(ErrorCode::config, "deploy.remote.listen_host = \"" + options.host +
                                     "\" exposes the inference server beyond this machine, but deploy.remote.ingest_api_key "
                                     "is empty: anyone could send it frames. Set an ingest_api_key (clients send it as "
                                     "X-API-Key), bind to 127.0.0.1, or pass --insecure to accept the risk.");
}

Expected<void> InferenceServer::start() {
  try {
    return serve();
  } catch (...) {
    return std::unexpected(error_from_current_exception("deploy remote: starting the server"));
  }
}

Expected<void> InferenceServer::serve() {
  if (auto ok = check_exposure(m_options); !ok) return ok;
  if (auto ok = load(); !ok) return ok;
  net::HttpServerOptions http;
  http.host = m_options.host;
  http.port = m_options.port;
  http.threads = std::max(16, m_pool->workers() * 4);
  http.payload_max_bytes = m_limits.max_body_bytes;
  http.log_name = "deploy.remote.http";
  m_server = std::make_unique<net::HttpServer>(http, m_router);
  return m_server->start();
}

int InferenceServer::max_inflight() const {
  return m_options.max_inflight > 0 ? m_options.max_inflight : 2 * (m_pool ? m_pool->workers() : 1);
}

int InferenceServer::port() const { return m_server ? m_server->port() : 0; }

void InferenceServer::stop() {
  if (m_server) m_server->stop();
  if (m_pool) m_pool->stop();
}

InferenceServerCounts InferenceServer::counts() const {
  return {m_frames.load(), m_detections.load(), m_annotated.load(), m_rejected.load(), m_failed.load()};
}

Expected<cv::Mat> InferenceServer::decode_jpeg(const std::string& base64, const std::string& field) const {
  auto bytes = base64_decode(base64);
  if (!bytes || bytes->empty()) return fail(ErrorCode::invalid_data, field + ": not valid base64");
  if (bytes->size() > m_limits.max_image_bytes) {
    return fail(ErrorCode::payload_too_large,
                std::format("{}: the image is {} bytes, more than the {} bytes of deploy.remote.max_payload_mb = {}", field,
                            bytes->size(), m_limits.max_image_bytes, m_options.max_payload_mb));
  }
  return decode_image(*bytes, field, {.max_pixels = m_options.max_image_pixels, .jpeg_only = true});
}

Expected<ImageDetections> InferenceServer::detect(const cv::Mat& image) {
  if (!m_pool) return fail(ErrorCode::runtime, "the model is not loaded");
  return m_pool->submit(image).get();
}

void InferenceServer::after_frame(const std::string& source_id, const cv::Mat& image, const ImageDetections& result,
                                  std::string* annotated_base64) {
  ++m_frames;
  m_detections += static_cast<std::int64_t>(result.detections.size());
  if (m_sender) m_sender->enqueue(make_stats_event(source_id, result.detections, result.latency_ms));
  if (!m_options.save_annotated && !annotated_base64) return;
  cv::Mat annotated = image.clone();
  draw_detections(annotated, result.detections);
  if (annotated_base64) {
    std::vector<std::uint8_t> jpeg;
    cv::imencode(".jpg", annotated, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
    *annotated_base64 = base64_encode(jpeg);
  }
  if (m_options.save_annotated) {
    // The server's own sequence number names the file: a client's frame_name is never a path.
    char name[32];
    std::snprintf(name, sizeof name, "%06lld.jpg", static_cast<long long>(m_sequence++));
    std::error_code ec;
    fs::create_directories(m_options.outputs_dir, ec);
    if (cv::imwrite((m_options.outputs_dir / name).string(), annotated)) ++m_annotated;
  }
}

HttpResponse InferenceServer::health(const HttpRequest&) const {
  const auto stats = m_sender ? m_sender->counts() : StatsSenderCounts{};
  return HttpResponse::json(200, {{"ok", true},
                                  {"run_id", m_options.run_id},
                                  {"model", m_options.model_name},
                                  {"workers", m_pool ? m_pool->workers() : 0},
                                  {"max_image_bytes", m_limits.max_image_bytes},
                                  {"max_body_bytes", m_limits.max_body_bytes},
                                  {"frames_processed", m_frames.load()},
                                  {"detections_total", m_detections.load()},
                                  {"stats_sent", stats.sent},
                                  {"stats_pending", stats.pending},
                                  {"stats_failed", stats.failed},
                                  {"annotated_saved", m_annotated.load()},
                                  {"reports_stats", m_sender != nullptr && m_sender->pushes()}});
}

HttpResponse InferenceServer::frame(const HttpRequest& request) {
  if (!m_options.ingest_api_key.empty() &&
      !net::constant_time_equals(request.header("x-api-key"), m_options.ingest_api_key)) {
    ++m_rejected;
    return HttpResponse::error(401, "unauthorized");
  }
  const auto reject = [this](const std::string& detail) {
    ++m_rejected;
    return validation_failed(detail);
  };
  auto parsed = net::parse_json_body(request.body);
  if (!parsed) return reject(parsed.error().message);
  const auto& body = *parsed;
  if (!body.is_object()) return reject("body: must be a JSON object");
  if (body.contains("schema_version") && body["schema_version"] != 1) return reject("schema_version: must be 1");
  if (!body.contains("source_id") || !body["source_id"].is_string()) return reject("source_id: must be a non-empty string");
  if (auto problem = check_text("source_id", body["source_id"].get<std::string>(), k_max_source_id_bytes)) return reject(*problem);
  if (!body.contains("frame_index") || !body["frame_index"].is_number_integer() || body["frame_index"].get<std::int64_t>() < 0) {
    return reject("frame_index: must be an integer >= 0");
  }
  if (body.contains("frame_name") &&
      (!body["frame_name"].is_string() || body["frame_name"].get_ref<const std::string&>().size() > k_max_echoed_bytes)) {
    return reject("frame_name: must be a string of at most " + std::to_string(k_max_echoed_bytes) + " bytes");
  }
  if (!body.contains("image_jpeg_base64") || !body["image_jpeg_base64"].is_string()) {
    return reject("image_jpeg_base64: must be a base64 string");
  }
  if (body.contains("return_annotated") && !body["return_annotated"].is_boolean()) {
    return reject("return_annotated: must be true or false");
  }
  InflightSlot slot(m_inflight, max_inflight());
  if (!slot.admitted()) return busy(HttpResponse::error(503, "busy", "too many frames in progress; retry shortly"));
  auto image = decode_jpeg(body["image_jpeg_base64"].get<std::string>(), "image_jpeg_base64");
  if (!image) {
    ++m_rejected;
    return HttpResponse::from_error(image.error());  // 413 above an image limit, 400 validation_failed otherwise
  }

  auto result = detect(*image);
  if (!result) {
    ++m_failed;
    log::error("deploy.remote.inference_failed", result.error().message);
    return HttpResponse::error(500, "inference_failed");
  }
  const std::string source_id = body["source_id"].get<std::string>();
  const bool want_annotated = body.value("return_annotated", false);
  std::string annotated;
  after_frame(source_id, *image, *result, want_annotated ? &annotated : nullptr);

  nlohmann::json detections = nlohmann::json::array();
  for (const auto& d : result->detections) detections.push_back(to_json(d, SchemaVersionField::omit));
  nlohmann::json reply = {{"ok", true},
                          {"run_id", m_options.run_id},
                          {"source_id", source_id},
                          {"frame_index", body["frame_index"]},
                          {"frame_name", body.value("frame_name", std::string())},
                          {"total_detections", result->detections.size()},
                          {"counts_by_class", counts_by_class(result->detections)},
                          {"latency_ms", result->latency_ms},
                          {"detections", detections}};
  if (want_annotated) reply["annotated_jpeg_base64"] = annotated;
  return HttpResponse::json(200, reply);
}

HttpResponse InferenceServer::kserve_live(const HttpRequest&) const { return HttpResponse::json(200, {{"live", true}}); }

HttpResponse InferenceServer::kserve_ready(const HttpRequest& request) const {
  const auto name = request.path_params.find("name");
  if (name != request.path_params.end() && name->second != m_options.model_name) {
    return kserve_error(404, "unknown model \"" + name->second + "\"");
  }
  const bool ready = m_pool != nullptr;
  return HttpResponse::json(ready ? 200 : 503, {{"ready", ready}});
}

HttpResponse InferenceServer::kserve_model(const HttpRequest& request) const {
  const std::string name = request.path_params.at("name");
  if (name != m_options.model_name) return kserve_error(404, "unknown model \"" + name + "\"");
  nlohmann::json names = m_pool ? nlohmann::json(m_pool->class_names()) : nlohmann::json::array();
  return HttpResponse::json(200, {{"name", m_options.model_name},
                                  {"versions", {"1"}},
                                  {"platform", "onnxruntime_onnx"},
                                  {"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {-1}}}}},
                                  {"outputs", {{{"name", "detections"}, {"datatype", "FP32"}, {"shape", {-1, 6}}},
                                               {{"name", "detections_json"}, {"datatype", "BYTES"}, {"shape", {1}}}}},
                                  {"parameters", {{"class_names", names}}}});
}

HttpResponse InferenceServer::kserve_infer(const HttpRequest& request) {
  const std::string name = request.path_params.at("name");
  if (name != m_options.model_name) return kserve_error(404, "unknown model \"" + name + "\"");
  if (!m_options.ingest_api_key.empty() &&
      !net::constant_time_equals(request.header("x-api-key"), m_options.ingest_api_key)) {
    ++m_rejected;
    return kserve_error(401, "unauthorized");
  }
  auto parsed = net::parse_json_body(request.body);
  if (!parsed) {
    ++m_rejected;
    return kserve_error(400, parsed.error().message);
  }
  const auto& body = *parsed;
  if (!body.is_object() || !body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].empty()) {
    ++m_rejected;
    return kserve_error(400, "inputs: expected an array with one BYTES input holding a base64 JPEG");
  }
  if (body.contains("id") && (!body["id"].is_string() || body["id"].get_ref<const std::string&>().size() > k_max_echoed_bytes)) {
    ++m_rejected;
    return kserve_error(400, "id: must be a string of at most " + std::to_string(k_max_echoed_bytes) + " bytes");
  }
  std::string source_id = "kserve";
  if (body.contains("parameters") && body["parameters"].is_object() && body["parameters"].contains("source_id")) {
    const auto& given = body["parameters"]["source_id"];
    const auto problem = given.is_string() ? check_text("parameters.source_id", given.get<std::string>(), k_max_source_id_bytes)
                                           : std::optional<std::string>("parameters.source_id: must be a string");
    if (problem) {
      ++m_rejected;
      return kserve_error(400, *problem);
    }
    source_id = given.get<std::string>();
  }
  const auto& input = body["inputs"][0];
  if (input.value("datatype", "") != "BYTES" || !input.contains("data") || !input["data"].is_array() ||
      input["data"].empty() || !input["data"][0].is_string()) {
    ++m_rejected;
    return kserve_error(400, "inputs[0]: expected datatype BYTES with data [\"<base64 JPEG>\"]");
  }
  InflightSlot slot(m_inflight, max_inflight());
  if (!slot.admitted()) return busy(kserve_error(503, "too many requests in progress; retry shortly"));
  auto image = decode_jpeg(input["data"][0].get<std::string>(), "inputs[0].data[0]");
  if (!image) {
    ++m_rejected;
    return kserve_error(http_status(image.error().code), image.error().message);
  }
  auto result = detect(*image);
  if (!result) {
    ++m_failed;
    return kserve_error(500, "inference failed");
  }
  after_frame(source_id, *image, *result, nullptr);
  nlohmann::json flat = nlohmann::json::array();
  nlohmann::json detections = nlohmann::json::array();
  for (const auto& d : result->detections) {
    for (float v : d.bbox_xyxy) flat.push_back(v);
    flat.push_back(d.score);
    flat.push_back(d.class_id);
    detections.push_back(to_json(d, SchemaVersionField::omit));
  }
  nlohmann::json reply = {{"model_name", m_options.model_name},
                          {"model_version", "1"},
                          {"outputs", {{{"name", "detections"}, {"datatype", "FP32"},
                                        {"shape", {result->detections.size(), 6}}, {"data", flat}},
                                       {{"name", "detections_json"}, {"datatype", "BYTES"}, {"shape", {1}},
                                        {"data", {detections.dump()}}}}}};
  if (body.contains("id")) reply["id"] = body["id"].get<std::string>();
  return HttpResponse::json(200, reply);
}

}  // namespace vision
