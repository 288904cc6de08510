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

  Expected<std::vector<Detection>> process(const Frame& frame) override {
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
    if (!reply.is_object() || !reply.contains("detections") || !reply["detections"].is_array()) {
      return fail(ErrorCode::invalid_data, m_options.endpoint + ": the reply has no detections array");
    }
    std::vector<Detection> detections;
    for (size_t i = 0; i < reply["detections"].size(); ++i) {
      auto d = detection_from_json(reply["detections"][i], "detections[" + std::to_string(i) + "].");
      if (!d) return std::unexpected(d.error());
      detections.push_back(std::move(*d));
    }
    return detections;
  }

 private:
  StreamOptions m_options;
  std::string m_path;
  net::HttpClient m_client;
};

}  // namespace

Expected<std::unique_ptr<FrameProcessor>> make_stream_processor(const StreamOptions& options) {
  auto parts = net::split_url(options.endpoint);
  if (!parts) return std::unexpected(Error{ErrorCode::config, "deploy.edge.stream_endpoint: " + parts.error().message});
  return std::make_unique<StreamProcessor>(options, parts->first, parts->second);
}

}  // namespace vision
