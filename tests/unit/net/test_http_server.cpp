// HttpServer and HttpClient over loopback: ephemeral ports, the 413 that comes before the body
// is read, JSON errors from exceptions, and transport errors as values.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "helpers/slow_client.hpp"
#include "helpers/test_support.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_client.hpp"
#include "vision/net/http_server.hpp"

using namespace vision::net;
using json = nlohmann::json;

namespace {
std::string base_url(const HttpServer& server) {
  return "http://127.0.0.1:" + std::to_string(server.port());
}
}  // namespace

TEST(HttpServer, ServesTheRouteTableOnAnEphemeralPort) {
  HttpRouter router;
  router.add_route("GET", "/echo", [](const HttpRequest& r) {
    return HttpResponse::json(
        200, {{"q", r.query_param("q")}, {"key", r.header("X-API-Key")}, {"method", r.method}});
  });
  HttpServer server({.host = "127.0.0.1", .port = 0, .threads = 2}, std::move(router));
  ASSERT_TRUE(server.start());
  ASSERT_GT(server.port(), 0);
  HttpClient client({.base_url = base_url(server), .timeout_sec = 2.0, .api_key = "k1"});
  auto response = client.get("/echo?q=" + url_encode("a b+c"));
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 200);
  const auto body = json::parse(response->body);
  EXPECT_EQ(body["q"], "a b+c");
  EXPECT_EQ(body["key"], "k1");
  EXPECT_EQ(body["method"], "GET");
  EXPECT_NE(response->content_type.find("application/json"), std::string::npos);
}

TEST(HttpServer, RefusesAnOversizedBodyWith413BeforeTheHandlerRuns) {
  std::atomic<int> calls{0};
  HttpRouter router;
  router.add_route("POST", "/push", [&](const HttpRequest&) {
    ++calls;
    return HttpResponse::json(200, {{"ok", true}});
  });
  HttpServer server({.host = "127.0.0.1", .port = 0, .threads = 2, .payload_max_bytes = 1024},
                    std::move(router));
  ASSERT_TRUE(server.start());
  HttpClient client({.base_url = base_url(server), .timeout_sec = 2.0});
  auto small = client.post_json("/push", std::string(1000, ' ') + "{}");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200);
  auto big = client.post_json("/push", std::string(4096, ' '));
  ASSERT_TRUE(big) << big.error().message;
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(json::parse(big->body)["error"], "payload_too_large");
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, AnExceptionInAHandlerIsAJson500AndTheServerLivesOn) {
  HttpRouter router;
  router.add_route("GET", "/boom",
                   [](const HttpRequest&) -> HttpResponse { throw std::logic_error("x"); });
  router.add_route("GET", "/fine", [](const HttpRequest&) {
    return HttpResponse::json(200, {{"ok", true}});
  });
  HttpServer server({.host = "127.0.0.1", .port = 0, .threads = 2}, std::move(router));
  ASSERT_TRUE(server.start());
  HttpClient client({.base_url = base_url(server), .timeout_sec = 2.0});
  auto boom = client.get("/boom");
  ASSERT_TRUE(boom);
  EXPECT_EQ(boom->status, 500);
  EXPECT_EQ(json::parse(boom->body), json::parse(R"({"ok":false,"error":"internal_error"})"));
  auto fine = client.get("/fine");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
}

TEST(HttpServer, ATakenPortIsAnIoError) {
  HttpServer first({.host = "127.0.0.1", .port = 0, .threads = 1}, HttpRouter());
  ASSERT_TRUE(first.start());
  HttpServer second({.host = "127.0.0.1", .port = first.port(), .threads = 1}, HttpRouter());
  auto started = second.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, vision::ErrorCode::io);
  EXPECT_NE(started.error().message.find(std::to_string(first.port())), std::string::npos);
}

TEST(HttpServer, StopEndsServingAndCanBeRepeated) {
  HttpServer server({.host = "127.0.0.1", .port = 0, .threads = 2}, HttpRouter());
  ASSERT_TRUE(server.start());
  const int port = server.port();
  server.stop();
  server.stop();
  HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(port), .timeout_sec = 1.0});
  EXPECT_FALSE(client.get("/"));
}

// The port the demo and the black-box tests hand to child processes: the kernel's ephemeral
// pick, free to bind on the loopback address right after.
TEST(FreeLoopbackPort, IsAnEphemeralPortAServerCanBind) {
  const int port = free_loopback_port();
  ASSERT_GE(port, 1024);
  HttpServer server({.host = "127.0.0.1", .port = port, .threads = 2}, HttpRouter{});
  ASSERT_TRUE(server.start());
  EXPECT_EQ(server.port(), port);
}

TEST(HttpServer, TakesTheSharedDefaultBodyLimit) {
  EXPECT_EQ(HttpServerOptions{}.payload_max_bytes, k_default_payload_max_bytes);
  EXPECT_EQ(k_default_payload_max_bytes, std::size_t{8} << 20);
}

TEST(HttpClient, ARefusedConnectionIsAnIoErrorNamingTheUrl) {
  const int port = free_loopback_port();
  HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(port), .timeout_sec = 1.0});
  auto response = client.post_json("/api/v1/push", "{}");
  ASSERT_FALSE(response);
  EXPECT_EQ(response.error().code, vision::ErrorCode::io);
  EXPECT_NE(response.error().message.find("/api/v1/push"), std::string::npos);
}

TEST(SplitUrl, SeparatesBaseAndPath) {
  struct Case {
    std::string url, base, path;
    bool ok;
  };
  for (const auto& c : std::vector<Case>{
           {"http://127.0.0.1:7797/api/v1/push", "http://127.0.0.1:7797", "/api/v1/push", true},
           {"https://stats.example.com", "https://stats.example.com", "/", true},
           {"http://[::1]:80/h?x=1", "http://[::1]:80", "/h?x=1", true},
           {"ftp://x/y", "", "", false},
           {"127.0.0.1:7797/health", "", "", false},
       }) {
    auto parts = split_url(c.url);
    ASSERT_EQ(static_cast<bool>(parts), c.ok) << c.url;
    if (c.ok) {
      EXPECT_EQ(parts->first, c.base) << c.url;
      EXPECT_EQ(parts->second, c.path) << c.url;
    }
  }
}

// Slow-header clients from one address hold at most their share of the workers, so /health
// from elsewhere answers at once; and each is cut when the request deadline passes.
TEST(HttpServer, SlowClientsCannotStarveOthersAndAreCutAtTheDeadline) {
  HttpRouter router;
  router.add_route("GET", "/health", [](const HttpRequest&) { return HttpResponse::json(200, {{"ok", true}}); });
  HttpServer server({.host = "127.0.0.1", .port = 0, .threads = 16, .request_deadline_sec = 2, .max_connections_per_client = 4},
                    std::move(router));
  ASSERT_TRUE(server.start());
  std::vector<std::unique_ptr<vision::test::SlowClient>> slow;
  for (int i = 0; i < 40; ++i) slow.push_back(std::make_unique<vision::test::SlowClient>("127.0.0.2", server.port()));
  const auto count_open = [&] {
    int open = 0;
    for (auto& c : slow) open += c->trickle() ? 1 : 0;
    return open;
  };
  // The guard looks ten times a second; within a second the address is down to its share.
  EXPECT_TRUE(vision::test::wait_until([&] { return count_open() <= 4; }, 1.5)) << "one address keeps at most its share";

  HttpClient client({.base_url = base_url(server), .timeout_sec = 2.0});
  const auto started = std::chrono::steady_clock::now();
  const auto health = client.get("/health");
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));

  // The four it kept are cut once two seconds pass without a whole request.
  bool all_cut = false;
  for (int i = 0; i < 40 && !all_cut; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    all_cut = count_open() == 0;
  }
  EXPECT_TRUE(all_cut);
  EXPECT_EQ(client.get("/health")->status, 200);
}

// Clients from many addresses together hold at most max_connections; the newest are cut.
TEST(HttpServer, ConnectionsFromEveryClientTogetherAreCapped) {
  HttpRouter router;
  router.add_route("GET", "/health", [](const HttpRequest&) { return HttpResponse::json(200, {{"ok", true}}); });
  HttpServer server({.host = "127.0.0.1", .port = 0, .threads = 4, .max_connections_per_client = 8, .max_connections = 6},
                    std::move(router));
  ASSERT_TRUE(server.start());
  std::vector<std::unique_ptr<vision::test::SlowClient>> slow;
  for (int i = 0; i < 12; ++i) {
    slow.push_back(std::make_unique<vision::test::SlowClient>("127.0.1." + std::to_string(i + 1), server.port()));
  }
  int open = 0;
  EXPECT_TRUE(vision::test::wait_until([&] {
    open = 0;
    for (auto& c : slow) open += c->trickle() ? 1 : 0;
    return open <= 6;
  }, 1.5)) << open << " open";
  EXPECT_GE(open, 1) << "the oldest connections are kept";
}
