// The client of an OpenAI-compatible chat-completions API that labels one image per request.
// It owns the run's request pacing (a token bucket of qps_limit), retries with exponential
// back-off and jitter (honouring Retry-After) on network errors, timeouts, 408/409/425/429/5xx
// and unparseable replies, and counts what happened for the run's artifacts. The API key comes
// from the environment variable api_key_env names and goes only into the Authorization header.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>

#include "vision/core/contracts.hpp"
#include "vision/core/error.hpp"
#include "vision/llm/reply_parser.hpp"

namespace vision::llm {

struct LlmClientOptions {
  std::string base_url;     // …/v1, with or without a trailing slash; http or https
  std::string model;
  std::string api_key_env;  // empty: send no key (a local server)
  std::string prompt;
  double timeout_sec = 60.0;  // connect, send, and each wait for the reply
  int max_retries = 2;
  double retry_backoff_sec = 1.5;  // the first back-off; doubles each retry
  double qps_limit = 1.0;          // requests per second for the whole run; 0 = unlimited
  int max_image_side = 0;          // long side of the image sent; 0 = as it is
  int jpeg_quality = 90;           // when the image is (re-)encoded
  std::vector<std::string> class_names;
  std::map<std::string, std::string> class_aliases;
  float confidence = 0.0F;
  bool bbox_2d_on_1000_grid = false;
  // Names the settings in messages, e.g. "autolabel.llm".
  std::string config_section = "llm";
};

struct LlmAnswer {
  std::vector<Detection> detections;
  std::string raw_reply;  // the model's text, for audit
  std::map<std::string, std::int64_t> dropped;
  int attempts = 0;
  std::optional<TokenUsage> usage;
  int sent_width = 0;
  int sent_height = 0;
};

struct LlmCounts {
  std::int64_t requests = 0;          // HTTP requests sent, retries included
  std::int64_t retries = 0;
  std::int64_t throttled_waits = 0;   // requests that waited for the qps_limit bucket
  double throttled_wait_sec = 0.0;
  double retry_wait_sec = 0.0;        // time spent in back-off and Retry-After waits
  std::int64_t answered = 0;          // images with a usable reply
  std::int64_t failed = 0;            // images given up on
  std::map<std::string, std::int64_t> retries_by_reason;
  std::map<std::string, std::int64_t> failures_by_reason;
  std::map<std::string, std::int64_t> dropped_detections;  // by reason, over every reply
  std::int64_t replies_with_usage = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
};

nlohmann::json to_json(const LlmCounts& counts);

// The API key from the environment variable `env_name` (empty name: no key). Fails with
// ErrorCode::config naming `setting` and the variable when it is unset or empty.
Expected<std::string> llm_api_key(const std::string& env_name, const std::string& setting);

// Seconds to wait from a Retry-After value: delta-seconds ("120", "1.5") or an HTTP date
// ("Wed, 21 Oct 2015 07:28:00 GMT"); nullopt when it is neither. A date in the past is 0.
std::optional<double> parse_retry_after(std::string_view value,
                                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// True for the HTTP statuses worth retrying: 408, 409, 425, 429 and 5xx.
bool is_retryable_status(int status);

class LlmClient {
 public:
  // Checks the options and reads the API key; nothing is sent yet.
  static Expected<std::unique_ptr<LlmClient>> open(LlmClientOptions options);
  ~LlmClient();
  LlmClient(const LlmClient&) = delete;
  LlmClient& operator=(const LlmClient&) = delete;

  // Labels one image. `encoded` are the image file's bytes when there is a file (sent as they
  // are when the API takes them), empty for a frame. A failure names its reason; "interrupted"
  // when Ctrl+C / SIGTERM came during a wait. Safe to call from several threads: requests are
  // paced by one bucket and sent one at a time.
  LlmExpected<LlmAnswer> detect(const cv::Mat& image, std::span<const std::uint8_t> encoded = {});

  // True when a request could go out now without waiting for the qps_limit bucket: a caller
  // that must not wait (a live camera) asks before detect() and lets the frame go when false.
  bool request_slot_free() noexcept;

  LlmCounts counts() const;

 private:
  struct Impl;
  explicit LlmClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace vision::llm
