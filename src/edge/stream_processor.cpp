// Edge mode "stream": one POST /api/v1/frame per frame, and the reading of its reply.
#include "vision/edge/stream_processor.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/base64.hpp"
#include "vision/net/http_client.hpp"

namespace vision {

namespace {

class StreamProcessor final : public FrameProcessor {
 public:
  StreamProcessor(StreamOptions options, std::string base, std::string path)
      : m_options(std::move(options)),
        m_path(std::move(path)),
        m_client(net::HttpClientOptions{std::move(base), m_options.timeout_sec, m_options.api_key}) {}

  Expected<FrameResult> process(const Frame& frame) override {
    std::vector<std::uint8_t> jpeg;
    if (!cv::imencode(".jpg", frame.image, jpeg, {cv::IMWRITE_JPEG_QUALITY, m_options.jpeg_quality})) {
      return fail(ErrorCode::runtime, "cannot encode frame " + std::to_string(frame.index) + " as JPEG");
    }
    const nlohmann::json body = {{"schema_version", 1},
                                 {"source_id", m_options.source_id},
                                 {"frame_index", frame.index},
                                 {"frame_name", frame.relative.empty() ? std::to_string(frame.index) : frame.relative.string()},
                                 {"image_jpeg_base64", base64_encode(jpeg)},
                                 {"return_annotated", false}};
    auto response = m_client.post_json(m_path, body.dump());
    if (!response) return std::unexpected(response.error());
    const auto reply = nlohmann::json::parse(response->body, nullptr, false);
    if (response->status != 200) {
      const std::string error = reply.is_object() && reply.contains("error") ? reply["error"].dump() : response->body.substr(0, 200);
      return fail(response->status == 401 ? ErrorCode::unauthorized : ErrorCode::runtime,
                  m_options.endpoint + " answered HTTP " + std::to_string(response->status) + ": " + error);
    }
    return frame_result_from_reply(reply, m_options.endpoint);
  }

 private:
  StreamOptions m_options;
  std::string m_path;
  net::HttpClient m_client;
};

}  // namespace

Expected<FrameResult> frame_result_from_reply(const nlohmann::json& reply, const std::string& endpoint) {
  const auto invalid = [&](const std::string& problem) { return fail(ErrorCode::invalid_data, endpoint + ": " + problem); };
  if (!reply.is_object()) return invalid("the reply is not a JSON object");
  FrameResult result;
  if (const auto detections = reply.find("detections"); detections != reply.end()) {
    if (!detections->is_array()) return invalid("detections: must be an array");
    for (size_t i = 0; i < detections->size(); ++i) {
      auto d = detection_from_json((*detections)[i], "detections[" + std::to_string(i) + "].");
      if (!d) return invalid(d.error().message);
      result.detections.push_back(std::move(*d));
    }
    return result;
  }
  const auto counts = reply.find("counts_by_class");
  if (counts == reply.end()) return invalid("the reply has neither detections nor counts_by_class");
  auto parsed = counts_by_class_from_json(*counts);
  if (!parsed) return invalid(parsed.error().message);
  result.counts_only = std::move(*parsed);
  return result;
}

Expected<std::unique_ptr<FrameProcessor>> make_stream_processor(const StreamOptions& options) {
  auto parts = net::split_url(options.endpoint);
  if (!parts) return std::unexpected(Error{ErrorCode::config, "deploy.edge.stream_endpoint: " + parts.error().message});
  return std::make_unique<StreamProcessor>(options, parts->first, parts->second);
}

}  // namespace vision
