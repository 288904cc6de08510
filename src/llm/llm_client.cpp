#include "vision/llm/llm_client.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>

#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/secrets.hpp"
#include "vision/core/token_bucket.hpp"
#include "vision/llm/llm_request.hpp"
#include "vision/net/http_client.hpp"

namespace vision::llm {

namespace {

using Clock = std::chrono::steady_clock;

// A server asking for a longer pause than this is not waited for: the image fails at once
// (a quota that resets in an hour would otherwise hold every image for an hour).
constexpr double k_max_retry_after_sec = 120.0;
constexpr double k_max_backoff_sec = 60.0;
constexpr double k_jitter_fraction = 0.25;  // a back-off grows by up to this share, at random
constexpr std::size_t k_error_snippet_bytes = 300;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(std::max(0.0, seconds) * 1000.0)));
}

LlmError llm_error(std::string reason, ErrorCode code, std::string message) {
  return {std::move(reason), Error{code, std::move(message)}};
}

// What an error reply says: the API's {"error":{"message":…}} when there is one, else the start
// of the body.
std::string error_snippet(const std::string& body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object()) {
    const auto error = json.find("error");
    if (error != json.end() && error->is_object() && error->contains("message") && (*error)["message"].is_string()) {
      return (*error)["message"].get<std::string>().substr(0, k_error_snippet_bytes);
    }
    if (error != json.end() && error->is_string()) return error->get<std::string>().substr(0, k_error_snippet_bytes);
  }
  return body.substr(0, k_error_snippet_bytes);
}

std::optional<double> parse_http_date(std::string_view value) {
  // RFC 9110: IMF-fixdate, then the obsolete RFC 850 and asctime forms.
  static constexpr const char* k_formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                             "%a %b %e %H:%M:%S %Y"};
  const std::string text(value);
  for (const char* format : k_formats) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), format, &tm);
    if (end == nullptr || *end != '\0') continue;
    return static_cast<double>(timegm(&tm));
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json to_json(const LlmCounts& counts) {
  return {{"requests", counts.requests},
          {"retries", counts.retries},
          {"retries_by_reason", counts.retries_by_reason},
          {"retry_wait_sec", counts.retry_wait_sec},
          {"throttled_waits", counts.throttled_waits},
          {"throttled_wait_sec", counts.throttled_wait_sec},
          {"answered", counts.answered},
          {"failed", counts.failed},
          {"failures_by_reason", counts.failures_by_reason},
          {"dropped_detections", counts.dropped_detections},
          {"tokens",
           {{"replies_with_usage", counts.replies_with_usage},
            {"prompt", counts.prompt_tokens},
            {"completion", counts.completion_tokens},
            {"total", counts.total_tokens}}}};
}

Expected<std::string> llm_api_key(const std::string& env_name, const std::string& setting) {
  if (env_name.empty()) return std::string();
  const char* value = std::getenv(env_name.c_str());
  if (value == nullptr || *value == '\0') {
    return fail(ErrorCode::config, setting + " = \"" + env_name + "\": the environment variable " + env_name +
                                       " is not set or empty; export the API key in it, or set " + setting +
                                       " = \"\" for a server that needs no key");
  }
  return std::string(value);
}

std::optional<double> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  const auto first = value.find_first_not_of(" \t");
  if (first == std::string_view::npos) return std::nullopt;
  value = value.substr(first, value.find_last_not_of(" \t") - first + 1);
  double seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (!std::isfinite(seconds) || seconds < 0) return std::nullopt;
    return seconds;
  }
  const auto date = parse_http_date(value);
  if (!date) return std::nullopt;
  const double now_sec = std::chrono::duration<double>(now.time_since_epoch()).count();
  return std::max(0.0, *date - now_sec);
}

bool is_retryable_status(int status) {
  return status == 408 || status == 409 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

struct LlmClient::Impl {
  LlmClientOptions options;
  std::string api_key;
  std::string path;
  std::string endpoint;  // for messages, secrets redacted
  ReplyParseOptions parse;
  ChatRequestOptions request;

  std::mutex send_mutex;  // one request at a time on the one keep-alive connection
  std::unique_ptr<net::HttpClient> http;

  std::mutex bucket_mutex;
  std::optional<TokenBucket> bucket;

  mutable std::mutex counts_mutex;
  LlmCounts counts;
  std::mt19937_64 rng{std::random_device{}()};

  // Waits for the run's next request slot; false when a stop was requested meanwhile.
  bool pace() {
    if (!bucket) return true;
    std::lock_guard lock(bucket_mutex);
    const auto start = Clock::now();
    bool waited = false;
    for (double wait = bucket->wait_seconds(1, start); wait > 0; wait = bucket->wait_seconds(1, Clock::now())) {
      waited = true;
      if (!interrupt::sleep_for(to_ms(wait))) return false;
    }
    bucket->take(1);
    if (waited) {
      std::lock_guard count_lock(counts_mutex);
      ++counts.throttled_waits;
      counts.throttled_wait_sec += seconds_since(start);
    }
    return true;
  }

  double backoff(int attempt) {
    const double base = std::min(k_max_backoff_sec, options.retry_backoff_sec * std::pow(2.0, attempt));
    std::lock_guard lock(counts_mutex);
    return base * (1.0 + std::uniform_real_distribution<double>(0.0, k_jitter_fraction)(rng));
  }

  // One request. The answer, or the error with `retry_after` set when the server asked for
  // a pause and `retryable` when another try may do better.
  LlmExpected<LlmAnswer> attempt(const std::string& body, const LlmImage& image, bool& retryable,
                                 std::optional<double>& retry_after) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!api_key.empty()) headers.emplace_back("Authorization", "Bearer " + api_key);
    const auto start = Clock::now();
    Expected<net::HttpResponse> response;
    {
      std::lock_guard lock(send_mutex);
      {
        std::lock_guard count_lock(counts_mutex);
        ++counts.requests;
      }
      response = http->send("POST", path, body, "application/json", headers);
    }
    retryable = true;
    if (!response) {
      // A read that ends at the timeout is the server being slow, not the network failing.
      if (seconds_since(start) >= options.timeout_sec * 0.95) {
        return std::unexpected(llm_error("timeout", ErrorCode::io,
                                         endpoint + ": no reply within " + std::to_string(options.timeout_sec) + " s"));
      }
      const std::string& message = response.error().message;
      const auto colon = message.rfind(": ");
      return std::unexpected(llm_error("network", ErrorCode::io,
                                       endpoint + ": " + (colon == std::string::npos ? message : message.substr(colon + 2))));
    }
    if (response->status < 200 || response->status > 299) {
      retryable = is_retryable_status(response->status);
      if (retryable) retry_after = parse_retry_after(response->header("Retry-After"));
      const ErrorCode code = response->status == 401 || response->status == 403 ? ErrorCode::unauthorized
                             : response->status == 429                          ? ErrorCode::rate_limited
                                                                                : ErrorCode::io;
      return std::unexpected(llm_error("http_" + std::to_string(response->status), code,
                                       endpoint + ": HTTP " + std::to_string(response->status) + ": " +
                                           error_snippet(response->body)));
    }
    auto reply = parse_chat_response(response->body);
    if (!reply) return std::unexpected(reply.error());
    ReplyParseOptions parse_options = parse;
    parse_options.sent_width = image.width;
    parse_options.sent_height = image.height;
    parse_options.original_width = image.original_width;
    parse_options.original_height = image.original_height;
    auto parsed = parse_detections(reply->content, parse_options);
    if (!parsed) {
      parsed.error().error.message += " (reply: " + reply->content.substr(0, k_error_snippet_bytes) + ")";
      return std::unexpected(parsed.error());
    }
    LlmAnswer answer;
    answer.detections = std::move(parsed->detections);
    answer.dropped = std::move(parsed->dropped);
    answer.raw_reply = std::move(reply->content);
    answer.usage = reply->usage;
    answer.sent_width = image.width;
    answer.sent_height = image.height;
    return answer;
  }

  void count_answer(const LlmAnswer& answer) {
    std::lock_guard lock(counts_mutex);
    ++counts.answered;
    for (const auto& [reason, n] : answer.dropped) counts.dropped_detections[reason] += n;
    if (answer.usage) {
      ++counts.replies_with_usage;
      counts.prompt_tokens += answer.usage->prompt_tokens;
      counts.completion_tokens += answer.usage->completion_tokens;
      counts.total_tokens += answer.usage->total_tokens;
    }
  }

  LlmError count_failure(LlmError error) {
    std::lock_guard lock(counts_mutex);
    ++counts.failed;
    ++counts.failures_by_reason[error.reason];
    return error;
  }
};

LlmClient::LlmClient(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
LlmClient::~LlmClient() = default;

Expected<std::unique_ptr<LlmClient>> LlmClient::open(LlmClientOptions options) {
  const std::string& section = options.config_section;
  if (options.model.empty()) return fail(ErrorCode::config, section + ".model: must name the model to ask");
  if (options.class_names.empty()) return fail(ErrorCode::config, "class_map.names: the LLM needs the classes to look for");
  auto url = chat_completions_url(options.base_url);
  if (!url) return fail(ErrorCode::config, section + ".base_url = \"" + redact_url_secrets(options.base_url) + "\": " + url.error().message);
  auto key = llm_api_key(options.api_key_env, section + ".api_key_env");
  if (!key) return std::unexpected(key.error());

  auto impl = std::make_unique<Impl>();
  impl->api_key = std::move(*key);
  impl->path = url->second;
  impl->endpoint = redact_url_secrets(url->first + url->second);
  impl->http = std::make_unique<net::HttpClient>(net::HttpClientOptions{url->first, options.timeout_sec, ""});
  if (options.qps_limit > 0) impl->bucket.emplace(options.qps_limit, 1.0);
  impl->parse.class_names = options.class_names;
  impl->parse.class_aliases = options.class_aliases;
  impl->parse.confidence = options.confidence;
  impl->parse.bbox_2d_on_1000_grid = options.bbox_2d_on_1000_grid;
  impl->request = {options.model, options.prompt, options.class_names, options.confidence};
  impl->options = std::move(options);
  return std::unique_ptr<LlmClient>(new LlmClient(std::move(impl)));
}

LlmExpected<LlmAnswer> LlmClient::detect(const cv::Mat& image, std::span<const std::uint8_t> encoded) {
  Impl& impl = *m_impl;
  auto prepared = prepare_llm_image(image, encoded, impl.options.max_image_side, impl.options.jpeg_quality);
  if (!prepared) return std::unexpected(impl.count_failure({"bad_image", prepared.error()}));
  const std::string body = chat_request(impl.request, *prepared).dump();
  const auto interrupted = [] {
    return std::unexpected(llm_error("interrupted", ErrorCode::interrupted, "stopped by Ctrl+C or SIGTERM"));
  };

  for (int attempt = 0;; ++attempt) {
    if (!impl.pace()) return interrupted();
    bool retryable = false;
    std::optional<double> retry_after;
    auto answer = impl.attempt(body, *prepared, retryable, retry_after);
    if (answer) {
      answer->attempts = attempt + 1;
      impl.count_answer(*answer);
      return answer;
    }
    LlmError& error = answer.error();
    if (!retryable || attempt >= impl.options.max_retries) return std::unexpected(impl.count_failure(std::move(error)));
    if (retry_after && *retry_after > k_max_retry_after_sec) {
      char pause[64];
      std::snprintf(pause, sizeof pause, " (the server asks to retry after %.0f s, more than %.0f s)", std::min(*retry_after, 1e9),
                    k_max_retry_after_sec);
      error.error.message += pause;
      return std::unexpected(impl.count_failure(std::move(error)));
    }
    const double wait = retry_after ? *retry_after : impl.backoff(attempt);
    log::warn("llm.request.retry", error.error.message,
              {{"reason", error.reason}, {"attempt", attempt + 1}, {"wait_sec", wait}, {"retry_after", retry_after.has_value()}});
    {
      std::lock_guard lock(impl.counts_mutex);
      ++impl.counts.retries;
      ++impl.counts.retries_by_reason[error.reason];
      impl.counts.retry_wait_sec += wait;
    }
    if (!interrupt::sleep_for(to_ms(wait))) return interrupted();
  }
}

bool LlmClient::request_slot_free() noexcept {
  if (!m_impl->bucket) return true;
  std::lock_guard lock(m_impl->bucket_mutex);
  return m_impl->bucket->can_take(1, Clock::now());
}

LlmCounts LlmClient::counts() const {
  std::lock_guard lock(m_impl->counts_mutex);
  return m_impl->counts;
}

}  // namespace vision::llm
