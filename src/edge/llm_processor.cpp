// Edge mode "llm": the frame budget per source kind (see the header), then one chat-completions
// request per accepted frame.
#include "vision/edge/llm_processor.hpp"

namespace vision {

namespace {

// Frame times read from a container are rounded; a frame this close to its due time is on time.
constexpr double k_video_clock_slack_sec = 1e-3;

}  // namespace

Expected<std::unique_ptr<LlmProcessor>> LlmProcessor::open(LlmProcessorOptions options) {
  auto client = llm::LlmClient::open(options.client);
  if (!client) return std::unexpected(client.error());
  return std::unique_ptr<LlmProcessor>(new LlmProcessor(std::move(*client), std::move(options)));
}

LlmProcessor::LlmProcessor(std::unique_ptr<llm::LlmClient> client, LlmProcessorOptions options)
    : m_client(std::move(client)), m_options(std::move(options)) {}

bool LlmProcessor::accepts(const Frame& frame) noexcept {
  const double qps = m_options.client.qps_limit;
  if (frame.video_time_sec && qps > 0) {
    const double now = *frame.video_time_sec;
    if (m_next_video_time_sec && now + k_video_clock_slack_sec < *m_next_video_time_sec) return false;
    const double period = 1.0 / qps;
    // On schedule, the next slot follows this one's; after a gap in the video it follows this frame.
    m_next_video_time_sec = m_next_video_time_sec && now < *m_next_video_time_sec + period ? *m_next_video_time_sec + period
                                                                                           : now + period;
    return true;
  }
  if (m_options.live_source) return m_client->request_slot_free();
  return true;
}

Expected<FrameResult> LlmProcessor::process(const Frame& frame) {
  auto answer = m_client->detect(frame.image);
  if (!answer) {
    Error error = std::move(answer.error().error);
    error.message = answer.error().reason + ": " + error.message;
    return std::unexpected(std::move(error));
  }
  return FrameResult{std::move(answer->detections)};
}

}  // namespace vision
