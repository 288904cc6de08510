// A fake OpenAI-compatible chat-completions server on loopback for the LLM tests: it answers
// POST /v1/chat/completions from a script of replies (status, headers, body, delay), then with a
// default reply, and records every request it got (body, Authorization header, arrival time).
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace vision::test {

struct FakeReply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  double delay_sec = 0.0;  // sleep before answering
};

// A chat-completions body whose message content is `content` (a string, or a JSON array of
// parts), with a usage block when `total_tokens` >= 0.
std::string chat_completion(const nlohmann::json& content, int prompt_tokens = -1, int completion_tokens = -1);
FakeReply ok_reply(const nlohmann::json& content);

// The answer most tests need: one dog at (40,20)-(120,100) in pixels of the image sent, score 0.9.
inline const std::string k_dog_reply = R"({"detections":[{"class_name":"dog","score":0.9,"bbox_xyxy":[40,20,120,100]}]})";

struct ReceivedRequest {
  nlohmann::json body;
  std::string authorization;
  std::chrono::steady_clock::time_point at;
};

class FakeLlmServer {
 public:
  FakeLlmServer();
  ~FakeLlmServer();
  FakeLlmServer(const FakeLlmServer&) = delete;
  FakeLlmServer& operator=(const FakeLlmServer&) = delete;

  // "http://127.0.0.1:<port>/v1"
  std::string base_url() const;
  void script(std::vector<FakeReply> replies);
  // Answered once the script is used up (an empty detections list unless set).
  void set_default(FakeReply reply);
  std::vector<ReceivedRequest> requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace vision::test
