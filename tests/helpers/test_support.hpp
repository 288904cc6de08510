// Shared by the test programs: temporary folders, file helpers, running the vision binary.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vision::test {

// A fresh folder under /tmp, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }
  std::filesystem::path operator/(const std::string& child) const { return m_path / child; }

 private:
  std::filesystem::path m_path;
};

void write_text(const std::filesystem::path& file, const std::string& text);
std::string read_text(const std::filesystem::path& file);
nlohmann::json read_json(const std::filesystem::path& file);
// Every file under `dir`: its path relative to `dir` → its contents (none when `dir` is missing);
// two snapshots compare equal when nothing was written, added or removed.
std::map<std::string, std::string> read_tree(const std::filesystem::path& dir);

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `program args…` with `cwd`, capturing stdout and stderr (via files, no shell quoting).
ProcessResult run_process(const std::string& program, const std::vector<std::string>& args,
                          const std::filesystem::path& cwd = std::filesystem::current_path());
ProcessResult run_vision(const std::vector<std::string>& args,
                         const std::filesystem::path& cwd = std::filesystem::current_path());
// The artifacts.json a run printed as artifacts=… (fails the test when it printed none).
nlohmann::json printed_artifacts(const ProcessResult& result);

// A process running in the background (stdout and stderr to files); SIGTERM and reaped when
// the object goes away.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::string& program, const std::vector<std::string>& args,
                    const std::filesystem::path& cwd = std::filesystem::current_path());
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  // Sends `signal` and waits (up to `timeout_sec`, then SIGKILL); returns the exit code.
  int stop(int signal, double timeout_sec = 30);
  // Sends `signal` without waiting.
  void signal(int signal);
  bool running();
  std::string out() const;
  std::string err() const;

 private:
  TempDir m_capture;  // first: the process writes into it from the start
  int m_pid = -1;
  int m_exit_code = -1;
};

// Polls `done` every 20 ms until it returns true or `timeout_sec` passes.
bool wait_until(const std::function<bool()>& done, double timeout_sec);

// The single sub-folder of `runs` (fails the test when there is not exactly one).
std::filesystem::path only_run_dir(const std::filesystem::path& root);

}  // namespace vision::test
