// Edge mode "llm": frames go to a vision LLM through an OpenAI-compatible chat-completions API
// (llm_client.hpp), at most deploy.edge.llm.qps_limit requests a second. Which frames get a
// request depends on the source, as with a detector that has a frame budget (Frigate's detect
// fps, Ultralytics' vid_stride):
//   camera, stream  the frames that arrive while a request slot is free; the others are skipped,
//                   so capture never waits for the API
//   video file      one frame per 1/qps_limit seconds of the video's own clock, the others
//                   skipped: the same frames, and the same bill, however fast the API answers
//   image folder    every image, each waiting for its slot: a folder is a list of chosen images
#pragma once

#include <memory>
#include <optional>

#include "vision/edge/edge_runner.hpp"
#include "vision/llm/llm_client.hpp"

namespace vision {

struct LlmProcessorOptions {
  llm::LlmClientOptions client;  // its qps_limit is the frame budget; jpeg_quality encodes frames
  bool live_source = false;      // FrameSource::live()
};

class LlmProcessor final : public FrameProcessor {
 public:
  // Fails before any request when the client cannot start (no API key, bad URL, no model).
  static Expected<std::unique_ptr<LlmProcessor>> open(LlmProcessorOptions options);

  bool accepts(const Frame& frame) noexcept override;
  // A failed request or reply is this frame's error, its reason in front ("http_429: …").
  Expected<FrameResult> process(const Frame& frame) override;
  // Requests, retries, throttled waits, failures by reason, tokens: for the run's artifacts.
  llm::LlmCounts counts() const { return m_client->counts(); }

 private:
  LlmProcessor(std::unique_ptr<llm::LlmClient> client, LlmProcessorOptions options);

  std::unique_ptr<llm::LlmClient> m_client;
  LlmProcessorOptions m_options;
  std::optional<double> m_next_video_time_sec;  // the video clock's next frame due
};

}  // namespace vision
