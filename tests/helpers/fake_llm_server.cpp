// The fake chat-completions server of fake_llm_server.hpp: replays its script of replies.
#include "helpers/fake_llm_server.hpp"

#include <stdexcept>
#include <thread>

#include "vision/net/http_server.hpp"

namespace vision::test {

std::string chat_completion(const nlohmann::json& content, int prompt_tokens, int completion_tokens) {
  nlohmann::json body = {{"id", "chatcmpl-test"},
                         {"object", "chat.completion"},
                         {"choices", nlohmann::json::array({{{"index", 0},
                                                             {"message", {{"role", "assistant"}, {"content", content}}},
                                                             {"finish_reason", "stop"}}})}};
  if (prompt_tokens >= 0) {
    body["usage"] = {{"prompt_tokens", prompt_tokens},
                     {"completion_tokens", completion_tokens},
                     {"total_tokens", prompt_tokens + completion_tokens}};
  }
  return body.dump();
}

FakeReply ok_reply(const nlohmann::json& content) { return {200, chat_completion(content), {}, 0.0}; }

struct FakeLlmServer::Impl {
  mutable std::mutex mutex;
  std::deque<FakeReply> script;
  FakeReply fallback = ok_reply(R"({"detections": []})");
  std::vector<ReceivedRequest> received;
  std::unique_ptr<net::HttpServer> server;
};

FakeLlmServer::FakeLlmServer() : m_impl(std::make_unique<Impl>()) {
  net::HttpRouter router;
  router.add_route("POST", "/v1/chat/completions", [impl = m_impl.get()](const net::HttpRequest& request) {
    FakeReply reply;
    {
      std::lock_guard lock(impl->mutex);
      impl->received.push_back({nlohmann::json::parse(request.body, nullptr, false), request.header("Authorization"),
                                std::chrono::steady_clock::now()});
      if (impl->script.empty()) {
        reply = impl->fallback;
      } else {
        reply = std::move(impl->script.front());
        impl->script.pop_front();
      }
    }
    if (reply.delay_sec > 0) std::this_thread::sleep_for(std::chrono::duration<double>(reply.delay_sec));
    net::HttpResponse response = net::HttpResponse::text(reply.status, reply.body, "application/json");
    for (const auto& [name, value] : reply.headers) response.set_header(name, value);
    return response;
  });
  m_impl->server = std::make_unique<net::HttpServer>(
      net::HttpServerOptions{.host = "127.0.0.1", .port = 0, .threads = 4, .payload_max_bytes = 64u << 20},
      std::move(router));
  if (!m_impl->server->start()) throw std::runtime_error("fake LLM server: cannot start");
}

FakeLlmServer::~FakeLlmServer() { m_impl->server->stop(); }

std::string FakeLlmServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(m_impl->server->port()) + "/v1";
}

void FakeLlmServer::script(std::vector<FakeReply> replies) {
  std::lock_guard lock(m_impl->mutex);
  for (auto& reply : replies) m_impl->script.push_back(std::move(reply));
}

void FakeLlmServer::set_default(FakeReply reply) {
  std::lock_guard lock(m_impl->mutex);
  m_impl->fallback = std::move(reply);
}

std::vector<ReceivedRequest> FakeLlmServer::requests() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->received;
}

}  // namespace vision::test
