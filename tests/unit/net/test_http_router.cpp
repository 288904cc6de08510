// HttpRouter: the route table, 404/405, CORS and the catch-all that turns exceptions into JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "vision/net/http_router.hpp"

using vision::net::HttpRequest;
using vision::net::HttpResponse;
using vision::net::HttpRouter;
using json = nlohmann::json;

namespace {
HttpRequest request(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

HttpResponse ok_handler(const HttpRequest& r) {
  return HttpResponse::json(200, {{"ok", true}, {"path", r.path}});
}
}  // namespace

TEST(HttpRouter, DispatchesAnExactRoute) {
  HttpRouter router;
  router.add_route("GET", "/health", ok_handler);
  const auto response = router.dispatch(request("GET", "/health"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body)["path"], "/health");
  EXPECT_EQ(response.content_type, "application/json");
}

TEST(HttpRouter, CapturesPathParameters) {
  HttpRouter router;
  router.add_route("POST", "/v2/models/{name}/infer", [](const HttpRequest& r) {
    return HttpResponse::json(200, {{"name", r.path_params.at("name")}});
  });
  const auto response = router.dispatch(request("POST", "/v2/models/yolo/infer"));
  ASSERT_EQ(response.status, 200);
  EXPECT_EQ(json::parse(response.body)["name"], "yolo");
  EXPECT_EQ(router.dispatch(request("POST", "/v2/models//infer")).status, 404);
  EXPECT_EQ(router.dispatch(request("POST", "/v2/models/yolo/infer/x")).status, 404);
}

TEST(HttpRouter, UnknownPathIsA404JsonError) {
  HttpRouter router;
  router.add_route("GET", "/health", ok_handler);
  const auto response = router.dispatch(request("GET", "/nope"));
  EXPECT_EQ(response.status, 404);
  const auto body = json::parse(response.body);
  EXPECT_EQ(body["ok"], false);
  EXPECT_EQ(body["error"], "not_found");
}

TEST(HttpRouter, WrongMethodIsA405ListingTheAllowedOnes) {
  HttpRouter router;
  router.add_route("POST", "/api/v1/push", ok_handler);
  const auto response = router.dispatch(request("GET", "/api/v1/push"));
  EXPECT_EQ(response.status, 405);
  EXPECT_EQ(response.header("Allow"), "POST");
  EXPECT_EQ(json::parse(response.body)["error"], "method_not_allowed");
}

TEST(HttpRouter, HeadIsServedByTheGetRoute) {
  HttpRouter router;
  router.add_route("GET", "/", ok_handler);
  EXPECT_EQ(router.dispatch(request("HEAD", "/")).status, 200);
}

TEST(HttpRouter, AnyExceptionBecomesA500InternalError) {
  HttpRouter router;
  router.add_route("GET", "/std", [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("secret detail");
  });
  router.add_route("GET", "/int", [](const HttpRequest&) -> HttpResponse { throw 42; });
  for (const char* path : {"/std", "/int"}) {
    const auto response = router.dispatch(request("GET", path));
    EXPECT_EQ(response.status, 500) << path;
    EXPECT_EQ(response.body, R"({"error":"internal_error","ok":false})") << path;
  }
}

TEST(HttpRouter, AVisionErrorKeepsItsMappedStatus) {
  HttpRouter router;
  router.add_route("GET", "/bad", [](const HttpRequest&) -> HttpResponse {
    throw vision::VisionError(vision::ErrorCode::invalid_data, "latency_ms: must be finite");
  });
  router.add_route("GET", "/io", [](const HttpRequest&) -> HttpResponse {
    throw vision::VisionError(vision::ErrorCode::io, "/secret/path unreadable");
  });
  const auto bad = router.dispatch(request("GET", "/bad"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"], "validation_failed");
  EXPECT_EQ(json::parse(bad.body)["detail"], "latency_ms: must be finite");
  const auto io = router.dispatch(request("GET", "/io"));
  EXPECT_EQ(io.status, 500);
  EXPECT_EQ(io.body.find("secret"), std::string::npos) << "server faults must not leak details";
}

TEST(HttpRouter, CorsAnswersPreflightsAndTagsResponses) {
  HttpRouter router({.cors_origins = {"*"}, .log_name = "test"});
  router.add_route("POST", "/api/v1/push", ok_handler);
  const auto preflight = router.dispatch(request("OPTIONS", "/api/v1/push"));
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.header("Access-Control-Allow-Origin"), "*");
  EXPECT_NE(preflight.header("Access-Control-Allow-Headers").find("X-API-Key"), std::string::npos);
  EXPECT_NE(preflight.header("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_EQ(router.dispatch(request("POST", "/api/v1/push")).header("Access-Control-Allow-Origin"),
            "*");

  HttpRouter closed;
  closed.add_route("POST", "/api/v1/push", ok_handler);
  EXPECT_EQ(closed.dispatch(request("OPTIONS", "/api/v1/push")).status, 405);
  EXPECT_EQ(closed.dispatch(request("POST", "/api/v1/push")).header("Access-Control-Allow-Origin"),
            "");
}

// CORS is opt-in by origin: a listed origin gets its own name back, any other nothing.
TEST(HttpRouter, CorsAnswersOnlyTheOriginsItLists) {
  HttpRouter router({.cors_origins = {"https://ops.example.com"}, .log_name = "test"});
  router.add_route("GET", "/api/v1/overview", ok_handler);
  auto listed = request("GET", "/api/v1/overview");
  listed.headers["origin"] = "https://ops.example.com";
  const auto allowed = router.dispatch(listed);
  EXPECT_EQ(allowed.header("Access-Control-Allow-Origin"), "https://ops.example.com");
  EXPECT_EQ(allowed.header("Vary"), "Origin");
  auto other = request("GET", "/api/v1/overview");
  other.headers["origin"] = "https://evil.example";
  EXPECT_EQ(router.dispatch(other).header("Access-Control-Allow-Origin"), "");
}

// Bound to loopback, a server answers only loopback Host headers: a page on evil.example whose
// name was rebound to 127.0.0.1 sends Host: evil.example and gets 403.
TEST(HttpRouter, LoopbackServersRefuseForeignHostHeaders) {
  HttpRouter router({.loopback_host_only = true, .log_name = "test"});
  router.add_route("GET", "/api/v1/overview", ok_handler);
  for (const std::string host : {"127.0.0.1:7797", "localhost:7796", "[::1]:80", "localhost"}) {
    auto r = request("GET", "/api/v1/overview");
    r.headers["host"] = host;
    EXPECT_EQ(router.dispatch(r).status, 200) << host;
  }
  for (const std::string host : {"evil.example:7797", "127.0.0.1.evil.example", "10.0.0.5"}) {
    auto r = request("GET", "/api/v1/overview");
    r.headers["host"] = host;
    const auto refused = router.dispatch(r);
    EXPECT_EQ(refused.status, 403) << host;
    EXPECT_EQ(json::parse(refused.body)["error"], "host_not_allowed");
  }
}

TEST(HttpRouter, ListsRoutesInRegistrationOrder) {
  HttpRouter router;
  router.add_route("GET", "/health", ok_handler);
  router.add_route("POST", "/api/v1/push", ok_handler);
  EXPECT_EQ(router.routes(), (std::vector<std::string>{"GET /health", "POST /api/v1/push"}));
}

TEST(HttpRequest, HeaderLookupIgnoresCase) {
  HttpRequest r;
  r.headers["x-api-key"] = "k";
  EXPECT_EQ(r.header("X-API-Key"), "k");
  EXPECT_EQ(r.header("missing"), "");
}

TEST(ConstantTimeEquals, ComparesContentAndLength) {
  using vision::net::constant_time_equals;
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_FALSE(constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(constant_time_equals("secret", ""));
  EXPECT_FALSE(constant_time_equals("", "secret"));
}

TEST(UrlEncode, EncodesReservedCharacters) {
  EXPECT_EQ(vision::net::url_encode("2025-01-01T12:00:00+02:00"),
            "2025-01-01T12%3A00%3A00%2B02%3A00");
  EXPECT_EQ(vision::net::url_encode("a b/c"), "a%20b%2Fc");
}
