// The store conformance suite and the service against a real PostgreSQL server that this
// program starts itself (initdb + pg_ctl on a temporary folder and a free port, as the
// `postgres` user when running as root). Skips only when no PostgreSQL binaries exist.
#include <gtest/gtest.h>

#include <pwd.h>
#include <unistd.h>

#include <pqxx/pqxx>

#include <nlohmann/json.hpp>

#include "helpers/test_support.hpp"
#include "store_conformance.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_client.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_metrics.hpp"
#include "vision/stats/stats_service.hpp"

namespace fs = std::filesystem;
using namespace vision;
using vision::test::run_process;
using vision::test::sample_events;
using vision::test::StoreBackend;
using vision::test::StoreConformance;
using vision::test::TempDir;

namespace {

class PostgresServer {
 public:
  // Empty when the server runs, else why it does not. `missing` tells a machine without
  // PostgreSQL (the tests skip) from a server that failed to start (the tests fail).
  std::string start() {
    const fs::path bin = find_bin();
    if (bin.empty()) {
      missing = true;
      return "no PostgreSQL server binaries under /usr/lib/postgresql (package postgresql)";
    }
    m_bin = bin;
    m_port = vision::net::free_loopback_port();
    m_dir = std::make_unique<TempDir>();
    std::vector<std::string> prefix;
    if (getuid() == 0) {
      // PostgreSQL refuses to run as root.
      const passwd* user = getpwnam("postgres");
      if (!user) {
        missing = true;
        return "running as root and there is no `postgres` user to run the server as";
      }
      std::error_code ec;
      fs::permissions(m_dir->path(),
                      fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                          fs::perms::others_read | fs::perms::others_exec,
                      ec);
      if (chown(m_dir->path().c_str(), user->pw_uid, user->pw_gid) != 0)
        return "cannot chown the data folder";
      m_runner = {"/usr/sbin/runuser", "-u", "postgres", "--"};
    }
    const auto initdb =
        run(m_bin / "initdb", {"-D", data().string(), "-U", "vision", "-A", "trust", "-E", "UTF8",
                               "--locale=C", "--no-sync", "--no-instructions"});
    if (initdb.exit_code != 0) return "initdb failed: " + initdb.out + initdb.err;
    const auto started =
        run(m_bin / "pg_ctl", {"-D", data().string(), "-l", (m_dir->path() / "server.log").string(),
                               "-w", "-t", "60", "-o",
                               "-p " + std::to_string(m_port) + " -k " + m_dir->path().string() +
                                   " -c listen_addresses=127.0.0.1 -c fsync=off -c "
                                   "synchronous_commit=off -c full_page_writes=off",
                               "start"});
    if (started.exit_code != 0) {
      return "pg_ctl start failed: " + started.out + started.err +
             vision::test::read_text(m_dir->path() / "server.log");
    }
    m_running = true;
    return {};
  }

  void stop() {
    if (!m_running) return;
    run(m_bin / "pg_ctl", {"-D", data().string(), "-m", "immediate", "-w", "stop"});
    m_running = false;
  }

  bool missing = false;

  std::string url() const {
    return "postgresql://vision@127.0.0.1:" + std::to_string(m_port) + "/postgres";
  }

 private:
  // The newest installed major version.
  static fs::path find_bin() {
    fs::path best;
    int best_version = -1;
    std::error_code ec;
    if (!fs::is_directory("/usr/lib/postgresql", ec)) return {};
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
      const int version = std::atoi(entry.path().filename().c_str());
      if (version > best_version && fs::exists(entry.path() / "bin/initdb") &&
          fs::exists(entry.path() / "bin/pg_ctl")) {
        best = entry.path() / "bin";
        best_version = version;
      }
    }
    return best;
  }
  fs::path data() const { return m_dir->path() / "data"; }
  vision::test::ProcessResult run(const fs::path& program, std::vector<std::string> args) {
    if (m_runner.empty()) return run_process(program.string(), args, m_dir->path());
    std::vector<std::string> full(m_runner.begin() + 1, m_runner.end());
    full.push_back(program.string());
    full.insert(full.end(), args.begin(), args.end());
    return run_process(m_runner.front(), full, m_dir->path());
  }

  fs::path m_bin;
  int m_port = 0;
  std::unique_ptr<TempDir> m_dir;
  std::vector<std::string> m_runner;
  bool m_running = false;
};

PostgresServer g_server;
// Why the PostgreSQL tests cannot run; empty when the server is up.
std::string g_skip_reason = "the PostgreSQL environment did not run";

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { g_skip_reason = g_server.start(); }
  void TearDown() override { g_server.stop(); }
};

const auto* const g_environment = ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

std::unique_ptr<stats::StatsStore> open_empty_postgres(std::string& skip_reason) {
  if (!g_skip_reason.empty()) {
    if (!g_server.missing)
      ADD_FAILURE() << "the test PostgreSQL server did not start: " << g_skip_reason;
    skip_reason = g_skip_reason;
    return nullptr;
  }
  try {
    pqxx::connection connection(g_server.url());
    pqxx::work tx(connection);
    tx.exec("DROP TABLE IF EXISTS stats_events");
    tx.exec("DROP TABLE IF EXISTS stats_dead_letters");
    tx.exec("DROP FUNCTION IF EXISTS reject_poison() CASCADE");
    tx.commit();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot reset the test database: " << e.what();
    return nullptr;
  }
  auto store = stats::open_store({.storage = "postgres", .postgres_url = g_server.url()});
  EXPECT_TRUE(store) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

// Skips when PostgreSQL is not installed; fails when it is but the server did not start.
#define REQUIRE_POSTGRES()                                                    \
  if (!g_skip_reason.empty() && !g_server.missing)                            \
    FAIL() << "the test PostgreSQL server did not start: " << g_skip_reason;  \
  if (!g_skip_reason.empty()) GTEST_SKIP() << g_skip_reason

}  // namespace

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformance,
                         ::testing::Values(StoreBackend{
                             "postgres",
                             [](const fs::path&, std::string& skip_reason) {
                               return open_empty_postgres(skip_reason);
                             }}),
                         [](const auto& param_info) { return param_info.param.name; });

// A value the database refuses (here a trigger's check_violation, as a NUL byte in TEXT would
// be a data exception) is isolated: the rest of its batch commits, it goes to the dead-letter
// table with the reason, and the writer goes on.
TEST(PostgresStore, APoisonEventGoesToTheDeadLettersAndTheRestCommits) {
  REQUIRE_POSTGRES();
  std::string reason;
  auto store = open_empty_postgres(reason);
  ASSERT_TRUE(store);
  {
    pqxx::connection connection(g_server.url());
    pqxx::work tx(connection);
    tx.exec(R"sql(
      CREATE FUNCTION reject_poison() RETURNS trigger AS $$
      BEGIN
        IF NEW.source_id = 'poison' THEN RAISE EXCEPTION 'poison event' USING ERRCODE = 'check_violation'; END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql;
      CREATE TRIGGER reject_poison BEFORE INSERT ON stats_events FOR EACH ROW EXECUTE FUNCTION reject_poison();
    )sql");
    tx.commit();
  }
  stats::StatsMetrics metrics;
  stats::EventWriter writer(*store, {.flush_interval_sec = 3600}, &metrics);
  writer.start();
  auto events = sample_events(7);
  events[3].source_id = "poison";
  ASSERT_TRUE(writer.enqueue(std::vector(events), /*wait_for_commit=*/true));
  EXPECT_EQ(*store->count(), 6);
  EXPECT_EQ(*store->dead_letter_count(), 1);
  EXPECT_EQ(metrics.dead_letters.load(), 1U);
  ASSERT_TRUE(writer.enqueue(sample_events(2), true)) << "pushes keep working";
  EXPECT_EQ(*store->count(), 8);
  writer.stop();
}

TEST(PostgresStore, AReconnectedStoreKeepsTheData) {
  REQUIRE_POSTGRES();
  std::string reason;
  {
    auto store = open_empty_postgres(reason);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->insert(sample_events(120)));
  }
  auto again = stats::open_store({.storage = "postgres", .postgres_url = g_server.url()});
  ASSERT_TRUE(again);
  EXPECT_EQ(*(*again)->count(), 120);
  EXPECT_EQ(std::string((*again)->kind()), "postgres");
}

TEST(PostgresStore, AnUnreachableServerIsAnIoErrorWithoutThePassword) {
  const int port = vision::net::free_loopback_port();
  auto store = stats::open_store({.storage = "postgres",
                                  .postgres_url = "postgresql://vision:hunter2@127.0.0.1:" +
                                                  std::to_string(port) + "/x?connect_timeout=2"});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::io);
  EXPECT_EQ(store.error().message.find("hunter2"), std::string::npos) << store.error().message;
}

TEST(PostgresStore, TheServiceAcceptsPushesIntoPostgres) {
  REQUIRE_POSTGRES();
  std::string reason;
  ASSERT_TRUE(open_empty_postgres(reason));
  stats::StatsServiceOptions options;
  options.api_port = 0;
  options.ui_port = 0;
  options.store = {.storage = "postgres", .postgres_url = g_server.url()};
  options.flush_interval_sec = 0.1;
  auto service = stats::StatsService::start(options);
  ASSERT_TRUE(service) << service.error().message;
  net::HttpClient client({.base_url = (*service)->api_url(), .timeout_sec = 5.0});
  auto health = client.get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(nlohmann::json::parse(health->body)["storage"], "postgres");
  nlohmann::json batch = nlohmann::json::array();
  for (int i = 0; i < 300; ++i) {
    batch.push_back({{"schema_version", 1},
                     {"source_id", "edge-" + std::to_string(i % 4)},
                     {"ts_utc", "2025-01-01T12:00:00Z"},
                     {"total_detections", 2},
                     {"counts_by_class", {{"car", 2}}},
                     {"latency_ms", 10.0}});
  }
  auto pushed = client.post_json("/api/v1/push/batch", batch.dump());
  ASSERT_TRUE(pushed);
  EXPECT_EQ(pushed->status, 200) << pushed->body;
  ASSERT_TRUE((*service)->writer().flush());
  auto overview = client.get("/api/v1/overview");
  ASSERT_TRUE(overview);
  const auto body = nlohmann::json::parse(overview->body);
  EXPECT_EQ(body["events"], 300);
  EXPECT_EQ(body["detections"], 600);
  EXPECT_EQ(body["sources"], 4);
}
