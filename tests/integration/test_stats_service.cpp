// The statistics service end to end over loopback: a real server on ephemeral ports with a
// real SQLite file, concurrent clients, and the `vision stats …` commands as a black box.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "helpers/slow_client.hpp"
#include "helpers/test_support.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_client.hpp"
#include "vision/net/http_types.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_service.hpp"

namespace fs = std::filesystem;
using namespace vision;
using json = nlohmann::json;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

constexpr const char* k_seed_event =
    R"({"schema_version":1,"source_id":"edge-001","ts_utc":"2025-01-01T12:00:00Z","total_detections":3,"counts_by_class":{"person":2,"car":1},"latency_ms":42.5})";

stats::StatsServiceOptions local_options(const TempDir& dir) {
  stats::StatsServiceOptions o;
  o.api_port = 0;
  o.ui_port = 0;
  o.store.db_path = dir / "stats.db";
  o.flush_interval_sec = 0.2;
  return o;
}

net::HttpClient client_for(const stats::StatsService& service, const std::string& key = "") {
  return net::HttpClient({.base_url = service.api_url(), .timeout_sec = 5.0, .api_key = key});
}

}  // namespace

TEST(StatsService, StoresTenThousandEventsFromEightConcurrentClients) {
  TempDir dir;
  auto service = stats::StatsService::start(local_options(dir));
  ASSERT_TRUE(service) << service.error().message;
  constexpr int k_clients = 8, k_per_client = 1250;
  std::atomic<int> ok{0}, failed{0};
  std::atomic<std::int64_t> detections{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < k_clients; ++c) {
    clients.emplace_back([&, c] {
      auto client = client_for(**service);
      for (int i = 0; i < k_per_client; ++i) {
        const int n = (c + i) % 6;
        const json event = {{"schema_version", 1},
                            {"source_id", "edge-" + std::to_string(c)},
                            {"ts_utc", "2025-01-01T12:00:00Z"},
                            {"total_detections", n},
                            {"counts_by_class", {{"person", n}}},
                            {"latency_ms", 1.5 * i}};
        auto r = client.post_json("/api/v1/push", event.dump());
        if (r && r->status == 200 && r->body == R"({"ok":true})") {
          ++ok;
          detections += n;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), k_clients * k_per_client);
  EXPECT_EQ(failed.load(), 0);
  ASSERT_TRUE((*service)->writer().flush());
  const auto overview = *(*service)->store().overview({});
  EXPECT_EQ(overview.events, k_clients * k_per_client);
  EXPECT_EQ(overview.detections, detections.load());
  EXPECT_EQ(overview.sources, k_clients);
  // Latencies are 1.5 * i for i < 1250 from every client.
  const double latency_sum = k_clients * 1.5 * (k_per_client * (k_per_client - 1) / 2);
  EXPECT_NEAR(overview.avg_latency_ms * static_cast<double>(overview.events), latency_sum,
              latency_sum * 1e-9);
  const auto sources = *(*service)->store().sources({});
  for (const auto& s : sources) EXPECT_EQ(s.events, k_per_client) << s.source_id;
}

TEST(StatsService, TheSeedExampleWithItsApiKeyGetsOk) {
  TempDir dir;
  auto options = local_options(dir);
  options.api_key = "edge-key";
  auto service = stats::StatsService::start(options);
  ASSERT_TRUE(service) << service.error().message;
  auto with_key = client_for(**service, "edge-key");
  auto r = with_key.post_json("/api/v1/push", k_seed_event);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body), json::parse(R"({"ok":true})"));
  auto without = client_for(**service);
  auto refused = without.post_json("/api/v1/push", k_seed_event);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(json::parse(refused->body)["error"], "unauthorized");

  auto health = without.get("/health");
  ASSERT_TRUE(health);
  const auto body = json::parse(health->body);
  EXPECT_EQ(body["ok"], true);
  EXPECT_EQ(body["storage"], "sqlite");
  EXPECT_FALSE(body.contains("db_path")) << "no paths or URLs in /health";
  EXPECT_EQ(health->body.find((dir / "stats.db").string()), std::string::npos) << health->body;
}

TEST(StatsService, AnOversizedBodyIs413OverTheSocket) {
  TempDir dir;
  auto options = local_options(dir);
  options.max_body_bytes = 4096;
  auto service = stats::StatsService::start(options);
  ASSERT_TRUE(service);
  auto client = client_for(**service);
  auto r = client.post_json("/api/v1/push/batch", "[" + std::string(10000, ' ') + "]");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(json::parse(r->body)["error"], "payload_too_large");
}

// Hostile events over the socket: a 6 MB source_id, NUL in a name and counts near 2^63 are
// refused naming the field; every query (and so the dashboard) keeps answering.
TEST(StatsService, HostileEventsAreRefusedAndQueriesKeepAnswering) {
  TempDir dir;
  auto service = stats::StatsService::start(local_options(dir));
  ASSERT_TRUE(service) << service.error().message;
  net::HttpClient client({.base_url = (*service)->api_url(), .timeout_sec = 10.0});
  auto event = json::parse(k_seed_event);
  for (const auto& [field, value] : {std::pair{"source_id", json(std::string(6 << 20, 's'))},
                                     std::pair{"source_id", json(std::string("cam\0x", 5))},
                                     std::pair{"total_detections", json(std::int64_t{1} << 62)}}) {
    auto hostile = event;
    hostile[field] = value;
    const auto response = client.post_json("/api/v1/push", hostile.dump());
    ASSERT_TRUE(response) << response.error().message;
    EXPECT_EQ(response->status, 400) << field;
    EXPECT_NE(response->body.find(field), std::string::npos) << response->body.substr(0, 200);
  }
  auto big = event;
  big["counts_by_class"] = json::object();
  big["counts_by_class"][std::string("car\0", 4)] = 1;
  EXPECT_EQ(client.post_json("/api/v1/push/batch", json::array({event, big}).dump())->status, 400) << "a batch is all or nothing";
  ASSERT_EQ(client.post_json("/api/v1/push", k_seed_event)->status, 200);
  (*service)->stop();
  auto again = stats::StatsService::start(local_options(dir));
  ASSERT_TRUE(again) << again.error().message;
  net::HttpClient reader({.base_url = (*again)->api_url(), .timeout_sec = 10.0});
  for (const char* path : {"/api/v1/overview", "/api/v1/sources", "/api/v1/classes", "/api/v1/timeseries", "/api/v1/events"}) {
    const auto response = reader.get(path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 200) << path << " " << response->body;
  }
  EXPECT_EQ(json::parse(reader.get("/api/v1/overview")->body)["events"], 1);
}

// 80 clients that send their headers slowly (one address) hold at most their share of the API's
// workers: /health and pushes from elsewhere answer at once.
TEST(StatsService, SlowClientsDoNotStarveHealthOrPushes) {
  TempDir dir;
  auto service = stats::StatsService::start(local_options(dir));
  ASSERT_TRUE(service) << service.error().message;
  std::vector<std::unique_ptr<vision::test::SlowClient>> slow;
  for (int i = 0; i < 80; ++i) slow.push_back(std::make_unique<vision::test::SlowClient>("127.0.0.2", (*service)->api_port()));
  const auto count_open = [&] {
    int open = 0;
    for (auto& c : slow) open += c->trickle() ? 1 : 0;
    return open;
  };
  EXPECT_TRUE(vision::test::wait_until([&] { return count_open() <= 32; }, 1.5)) << "one address keeps at most half of the 64 workers";
  net::HttpClient client({.base_url = (*service)->api_url(), .timeout_sec = 2.0});
  const auto started = std::chrono::steady_clock::now();
  const auto health = client.get("/health");
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->status, 200);
  const auto pushed = client.post_json("/api/v1/push", k_seed_event);
  ASSERT_TRUE(pushed) << pushed.error().message;
  EXPECT_EQ(pushed->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

TEST(StatsService, TheDashboardPortServesThePageAndTheReadApi) {
  TempDir dir;
  auto service = stats::StatsService::start(local_options(dir));
  ASSERT_TRUE(service);
  ASSERT_GT((*service)->ui_port(), 0);
  ASSERT_NE((*service)->ui_port(), (*service)->api_port());
  net::HttpClient ui({.base_url = "http://127.0.0.1:" + std::to_string((*service)->ui_port()),
                      .timeout_sec = 5.0});
  auto page = ui.get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->content_type.find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("app.js"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "no external resources";
  EXPECT_EQ(page->body.find("https://"), std::string::npos) << "no external resources";
  for (const char* asset : {"/app.js", "/style.css", "/favicon.svg"}) {
    auto r = ui.get(asset);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << asset;
    EXPECT_FALSE(r->body.empty()) << asset;
  }
  auto overview = ui.get("/api/v1/overview?window=1h");
  ASSERT_TRUE(overview);
  EXPECT_EQ(overview->status, 200);
  EXPECT_EQ(json::parse(overview->body)["events"], 0);
  auto push = ui.post_json("/api/v1/push", k_seed_event);
  ASSERT_TRUE(push);
  EXPECT_EQ(push->status, 404) << "pushes go to the API port only";
}

// ack = "queue": 200 once queued; stop commits what is still queued.
TEST(StatsService, StopCommitsEveryAcknowledgedEvent) {
  TempDir dir;
  auto options = local_options(dir);
  options.flush_interval_sec = 3600;
  options.ack_after_commit = false;
  {
    auto service = stats::StatsService::start(options);
    ASSERT_TRUE(service);
    auto client = client_for(**service);
    for (int i = 0; i < 300; ++i)
      ASSERT_EQ(client.post_json("/api/v1/push", k_seed_event)->status, 200);
    EXPECT_EQ((*service)->writer().queued(), 300U);
    (*service)->stop();
  }
  auto store = stats::open_store({.storage = "sqlite", .db_path = dir / "stats.db"});
  EXPECT_EQ(*(*store)->count(), 300);
}

TEST(StatsService, RefusesANonLoopbackHostWithoutAnApiKey) {
  EXPECT_TRUE(net::is_loopback_name("127.0.0.1"));
  EXPECT_TRUE(net::is_loopback_name("127.1.2.3"));
  EXPECT_TRUE(net::is_loopback_name("::1"));
  EXPECT_TRUE(net::is_loopback_name("localhost"));
  EXPECT_FALSE(net::is_loopback_name("0.0.0.0"));
  EXPECT_FALSE(net::is_loopback_name("192.168.1.10"));
  TempDir dir;
  auto options = local_options(dir);
  options.public_host = "0.0.0.0";
  auto refused = stats::StatsService::start(options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::config);
  EXPECT_NE(refused.error().message.find("api_key"), std::string::npos);
  EXPECT_NE(refused.error().message.find("--insecure"), std::string::npos);
  options.api_key = "k";
  EXPECT_TRUE(stats::check_exposure(options));
  options.api_key.clear();
  options.insecure = true;
  EXPECT_TRUE(stats::check_exposure(options));
}

// ---- the vision binary ----

namespace {

struct Ports {
  int api = vision::net::free_loopback_port();
  int ui = vision::net::free_loopback_port();
};

std::vector<std::string> stats_args(const std::string& command, const TempDir& dir,
                                    const Ports& ports, std::vector<std::string> extra = {}) {
  // Every stats subcommand takes the port flags, so status and stop find the service.
  std::vector<std::string> args = {"stats",      command,
                                   "--workdir",  (dir / "wd").string(),
                                   "--api-port", std::to_string(ports.api),
                                   "--ui-port",  std::to_string(ports.ui),
                                   "--set",      "statistics.flush_interval_sec=3600"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Makes sure a background service started by a test is gone, whatever the test did.
struct StopOnExit {
  std::vector<std::string> args;
  ~StopOnExit() { run_vision(args); }
};

}  // namespace

TEST(StatsCli, StartStatusStopRunTheServiceInTheBackground) {
  TempDir dir;
  Ports ports;
  StopOnExit guard{stats_args("stop", dir, ports)};
  const auto start = run_vision(stats_args("start", dir, ports));
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_NE(start.out.find("pid="), std::string::npos) << start.out;
  EXPECT_NE(start.out.find("api=http://127.0.0.1:" + std::to_string(ports.api)), std::string::npos)
      << start.out;
  const fs::path pid_file = dir / "wd/stats.pid";
  ASSERT_TRUE(fs::exists(pid_file));

  const auto status = run_vision(stats_args("status", dir, ports));
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_NE(status.out.find("status=healthy"), std::string::npos);

  const auto again = run_vision(stats_args("start", dir, ports));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("already running"), std::string::npos) << again.err;

  // Events acknowledged while the flush interval is an hour are committed by the SIGTERM of stop.
  net::HttpClient client(
      {.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 5.0});
  for (int i = 0; i < 250; ++i)
    ASSERT_EQ(client.post_json("/api/v1/push", k_seed_event)->status, 200);

  const auto stop = run_vision(stats_args("stop", dir, ports));
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_NE(stop.err.find("stopped"), std::string::npos) << stop.err;
  EXPECT_FALSE(fs::exists(pid_file));

  const auto after = run_vision(stats_args("status", dir, ports));
  EXPECT_EQ(after.exit_code, 1);
  EXPECT_NE(after.out.find("status=stopped"), std::string::npos);
  EXPECT_EQ(run_vision(stats_args("stop", dir, ports)).exit_code, 0) << "stopping twice is fine";

  auto store = stats::open_store({.storage = "sqlite", .db_path = dir / "wd/stats/stats.db"});
  ASSERT_TRUE(store);
  EXPECT_EQ(*(*store)->count(), 250);
  const auto log = vision::test::read_text(dir / "wd/log.txt");
  EXPECT_NE(log.find("\"statistics.service.stop\""), std::string::npos) << log;
}

// restart: the acknowledged events survive, a new process answers on the same port.
TEST(StatsCli, RestartStopsAndStartsAgain) {
  TempDir dir;
  Ports ports;
  StopOnExit guard{stats_args("stop", dir, ports)};
  ASSERT_EQ(run_vision(stats_args("start", dir, ports)).exit_code, 0);
  const int first = std::stoi(vision::test::read_text(dir / "wd/stats.pid"));
  net::HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 5.0});
  for (int i = 0; i < 10; ++i) ASSERT_EQ(client.post_json("/api/v1/push", k_seed_event)->status, 200);
  const auto restart = run_vision(stats_args("restart", dir, ports));
  ASSERT_EQ(restart.exit_code, 0) << restart.err;
  EXPECT_NE(restart.out.find("pid="), std::string::npos) << restart.out;
  const int second = std::stoi(vision::test::read_text(dir / "wd/stats.pid"));
  EXPECT_NE(first, second);
  const auto overview = client.get("/api/v1/overview");
  ASSERT_TRUE(overview);
  EXPECT_EQ(json::parse(overview->body)["events"], 10);
}

TEST(StatsCli, StartFailsWithTheServiceLogWhenThePortIsTaken) {
  TempDir dir;
  Ports ports;
  // Hold the API port.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(ports.api));
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  StopOnExit guard{stats_args("stop", dir, ports)};
  const auto start = run_vision(stats_args("start", dir, ports, {"--wait-sec", "10"}));
  close(fd);
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(start.err.find("did not start"), std::string::npos) << start.err;
  EXPECT_NE(start.err.find("cannot listen"), std::string::npos) << "the log tail explains why:\n"
                                                                << start.err;
  EXPECT_FALSE(fs::exists(dir / "wd/stats.pid"));
}

// Another statistics service (from another work-dir) answers /health on the port: a new one
// would die with "address in use", and `start` must not take the other's answer for its own.
TEST(StatsCli, StartOnAPortAnotherServiceHoldsFailsNamingThePort) {
  TempDir dir, other;
  Ports ports;
  vision::test::BackgroundProcess serving(VISION_BINARY, stats_args("serve", other, ports));
  net::HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 1.0});
  ASSERT_TRUE(vision::test::wait_until([&] { return client.get("/health").has_value(); }, 30)) << serving.err();
  StopOnExit guard{stats_args("stop", dir, ports)};
  const auto start = run_vision(stats_args("start", dir, ports, {"--wait-sec", "10"}));
  EXPECT_EQ(start.exit_code, 1) << start.out << start.err;
  EXPECT_NE(start.err.find("127.0.0.1:" + std::to_string(ports.api)), std::string::npos) << start.err;
  EXPECT_NE(start.err.find("in use"), std::string::npos) << start.err;
  EXPECT_EQ(start.out.find("pid="), std::string::npos) << start.out;
  EXPECT_FALSE(fs::exists(dir / "wd/stats.pid"));
  EXPECT_TRUE(serving.running()) << "the other service is left alone";
}

TEST(StatsCli, ANonLoopbackHostWithoutKeyIsRefusedWithExitTwo) {
  TempDir dir;
  Ports ports;
  for (const char* command : {"serve", "start"}) {
    const auto r = run_vision(stats_args(command, dir, ports, {"--public-host", "0.0.0.0"}));
    EXPECT_EQ(r.exit_code, 2) << command << r.err;
    EXPECT_NE(r.err.find("api_key"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--insecure"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir / "wd/stats.pid"));
}

TEST(StatsCli, InstallSystemdPrintsOrWritesAUnit) {
  TempDir dir;
  Ports ports;
  const auto printed = run_vision(stats_args("install-systemd", dir, ports));
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_NE(printed.out.find("[Service]"), std::string::npos);
  EXPECT_NE(printed.out.find(" stats serve "), std::string::npos) << printed.out;
  EXPECT_NE(printed.out.find("KillSignal=SIGTERM"), std::string::npos);
  EXPECT_NE(printed.out.find("WantedBy=multi-user.target"), std::string::npos);
  const auto written = run_vision(stats_args(
      "install-systemd", dir, ports, {"--output", (dir / "vision-stats.service").string()}));
  ASSERT_EQ(written.exit_code, 0) << written.err;
  EXPECT_EQ(vision::test::read_text(dir / "vision-stats.service"), printed.out);
}

// A key given with --set reaches the background service through its environment: never on its
// command line (readable by any user in ps), never in a unit file.
TEST(StatsCli, KeysNeverGoOnACommandLineOrIntoTheUnit) {
  TempDir dir;
  Ports ports;
  const std::vector<std::string> key = {"--set", "deploy.statistics.api_key=k3y-s3cret"};
  StopOnExit guard{stats_args("stop", dir, ports)};
  const auto start = run_vision(stats_args("start", dir, ports, key));
  ASSERT_EQ(start.exit_code, 0) << start.err;
  const int pid = std::stoi(vision::test::read_text(dir / "wd/stats.pid"));
  std::string cmdline = vision::test::read_text("/proc/" + std::to_string(pid) + "/cmdline");
  std::ranges::replace(cmdline, '\0', ' ');
  EXPECT_NE(cmdline.find("stats serve"), std::string::npos) << cmdline;
  EXPECT_EQ(cmdline.find("k3y-s3cret"), std::string::npos) << cmdline;
  net::HttpClient without({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 5.0});
  EXPECT_EQ(without.post_json("/api/v1/push", k_seed_event)->status, 401) << "the service got the key all the same";
  net::HttpClient with({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 5.0, .api_key = "k3y-s3cret"});
  EXPECT_EQ(with.post_json("/api/v1/push", k_seed_event)->status, 200);

  const fs::path unit = dir / "vision-stats.service";
  EXPECT_EQ(run_vision(stats_args("install-systemd", dir, ports, key)).exit_code, 2) << "secrets need --output";
  const auto written = run_vision(stats_args("install-systemd", dir, ports, {key[0], key[1], "--output", unit.string()}));
  ASSERT_EQ(written.exit_code, 0) << written.err;
  const std::string text = vision::test::read_text(unit);
  EXPECT_EQ(text.find("k3y-s3cret"), std::string::npos) << text;
  EXPECT_NE(text.find("EnvironmentFile=" + unit.string() + ".env"), std::string::npos) << text;
  EXPECT_EQ(vision::test::read_text(unit.string() + ".env"), "VISION_DEPLOY_STATISTICS_API_KEY=k3y-s3cret\n");
  EXPECT_EQ(fs::status(unit.string() + ".env").permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

// The environment variable sets a secret key as a config file would; the resolved config shows "***".
TEST(StatsCli, SecretsComeFromTheEnvironment) {
  TempDir dir;
  Ports ports;
  setenv("VISION_DEPLOY_STATISTICS_API_KEY", "from-env", 1);
  vision::test::BackgroundProcess serving(VISION_BINARY, stats_args("serve", dir, ports));
  const auto show = run_vision({"config", "show", "--json", "--workdir", (dir / "wd").string()});
  unsetenv("VISION_DEPLOY_STATISTICS_API_KEY");
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out)["deploy"]["statistics"]["api_key"], "***");
  EXPECT_EQ(show.out.find("from-env"), std::string::npos);
  net::HttpClient without({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 1.0});
  ASSERT_TRUE(vision::test::wait_until([&] { return without.get("/health").has_value(); }, 30)) << serving.err();
  EXPECT_EQ(without.post_json("/api/v1/push", k_seed_event)->status, 401);
  net::HttpClient with({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 5.0, .api_key = "from-env"});
  EXPECT_EQ(with.post_json("/api/v1/push", k_seed_event)->status, 200);
}

// ack = "commit": the service is killed with SIGKILL at a random moment while 8 clients push.
// After a restart every event that got a 200 is in the store; redelivered ones are stored once.
TEST(StatsCli, KillNineLosesNoAcknowledgedEvent) {
  TempDir dir;
  Ports ports;
  const auto serve = [&] {
    auto process = std::make_unique<vision::test::BackgroundProcess>(VISION_BINARY, stats_args("serve", dir, ports));
    net::HttpClient probe({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 1.0});
    EXPECT_TRUE(vision::test::wait_until([&] { return probe.get("/health").has_value(); }, 30)) << process->err();
    return process;
  };
  auto service = serve();
  std::mutex mutex;
  std::vector<json> acknowledged;
  std::atomic<bool> done{false};
  std::vector<std::thread> pushers;
  for (int k = 0; k < 8; ++k) {
    pushers.emplace_back([&, k] {
      net::HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 2.0});
      for (int n = 0; !done; ++n) {
        auto event = json::parse(k_seed_event);
        event["source_id"] = "edge-" + std::to_string(k);
        event["event_id"] = std::to_string(n);
        const auto response = client.post_json("/api/v1/push", event.dump());
        if (response && response->status == 200) {
          std::lock_guard lock(mutex);
          acknowledged.push_back(event);
        } else if (!response) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    });
  }
  const auto seed = static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count());
  const int kill_after_ms = 300 + static_cast<int>(std::mt19937(seed)() % 1200);
  std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
  service->stop(SIGKILL);
  done = true;
  for (auto& p : pushers) p.join();
  ASSERT_GT(acknowledged.size(), 50U) << "killed after " << kill_after_ms << " ms";

  service = serve();
  net::HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 5.0});
  for (size_t i = 0; i < 50; ++i) {  // a sender that never heard the 200 sends again
    ASSERT_EQ(client.post_json("/api/v1/push", acknowledged[i].dump())->status, 200);
  }
  EXPECT_EQ(service->stop(SIGTERM), 0);

  auto store = stats::open_store({.storage = "sqlite", .db_path = dir / "wd/stats/stats.db"});
  ASSERT_TRUE(store) << store.error().message;
  std::map<std::pair<std::string, std::string>, int> stored;
  std::optional<std::int64_t> cursor;
  do {
    auto page = (*store)->events({}, 1000, cursor);
    ASSERT_TRUE(page) << page.error().message;
    for (const auto& e : page->events) ++stored[{e.source_id, e.event_id}];
    cursor = page->next_cursor;
  } while (cursor);
  for (const auto& event : acknowledged) {
    const auto key = std::pair{event["source_id"].get<std::string>(), event["event_id"].get<std::string>()};
    ASSERT_EQ(stored[key], 1) << key.first << "/" << key.second << " (killed after " << kill_after_ms << " ms)";
  }
  for (const auto& [key, copies] : stored) EXPECT_EQ(copies, 1) << key.first << "/" << key.second;
}

TEST(StatsCli, ServeCommitsQueuedEventsAndExitsZeroOnSigterm) {
  TempDir dir;
  Ports ports;
  const auto args = stats_args("serve", dir, ports);
  std::vector<char*> argv = {const_cast<char*>(VISION_BINARY)};
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const fs::path out = dir / "serve.out";
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(VISION_BINARY, argv.data());
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  net::HttpClient client(
      {.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 2.0});
  bool healthy = false;
  for (int i = 0; i < 100 && !healthy; ++i) {
    auto health = client.get("/health");
    healthy = health && health->status == 200;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!healthy) kill(pid, SIGKILL);
  ASSERT_TRUE(healthy) << vision::test::read_text(out);
  for (int i = 0; i < 120; ++i) {
    ASSERT_EQ(client.post_json("/api/v1/push", k_seed_event)->status, 200);
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << vision::test::read_text(out);
  EXPECT_EQ(WEXITSTATUS(status), 0) << vision::test::read_text(out);
  const auto output = vision::test::read_text(out);
  EXPECT_NE(output.find("api=http://127.0.0.1:" + std::to_string(ports.api)), std::string::npos)
      << output;
  auto store = stats::open_store({.storage = "sqlite", .db_path = dir / "wd/stats/stats.db"});
  ASSERT_TRUE(store);
  EXPECT_EQ(*(*store)->count(), 120) << "flush_interval_sec is an hour: SIGTERM committed them";
}

// ack = "queue": 20 000 events acknowledged and still being committed (a trigger makes each
// insert slow) when Ctrl+C arrives twice. The second Ctrl+C must not drop them: the service says
// what it is committing and finishes.
TEST(StatsCli, ASecondCtrlCWaitsForAcknowledgedEvents) {
  TempDir dir;
  Ports ports;
  const fs::path db = dir / "wd/stats/stats.db";
  ASSERT_TRUE(stats::open_store({.storage = "sqlite", .db_path = db}));
  const auto trigger = vision::test::run_process(
      "/usr/bin/sqlite3", {db.string(), "CREATE TRIGGER slow AFTER INSERT ON stats_events BEGIN SELECT count(*) FROM (WITH RECURSIVE "
                               "c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000) SELECT x FROM c); END"});
  ASSERT_EQ(trigger.exit_code, 0) << trigger.err;
  vision::test::BackgroundProcess serving(VISION_BINARY, stats_args("serve", dir, ports, {"--set", "deploy.statistics.ack=queue"}));
  net::HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(ports.api), .timeout_sec = 30.0});
  ASSERT_TRUE(vision::test::wait_until([&] { return client.get("/health").has_value(); }, 30)) << serving.err();
  const auto event = json::parse(k_seed_event);
  const json batch = json::array_t(10000, event);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(client.post_json("/api/v1/push/batch", batch.dump())->status, 200);
  ASSERT_TRUE(serving.running());
  serving.signal(SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(serving.running()) << "the first Ctrl+C should still be committing";
  const int code = serving.stop(SIGINT, 300);
  EXPECT_EQ(code, 0) << serving.err();
  EXPECT_NE(serving.err().find("acknowledged events; stopping as soon as that is done"), std::string::npos) << serving.err();
  auto store = stats::open_store({.storage = "sqlite", .db_path = db});
  ASSERT_TRUE(store);
  EXPECT_EQ(*(*store)->count(), 20000) << serving.err();
}
