// Temporary folders, file helpers and the vision-binary runner shared by the test programs.
#include "helpers/test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace vision::test {

TempDir::TempDir() {
  std::random_device random;
  m_path = fs::temp_directory_path() /
           ("vision-test-" + std::to_string(getpid()) + "-" + std::to_string(random()));
  fs::create_directories(m_path);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

void write_text(const fs::path& file, const std::string& text) {
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

nlohmann::json read_json(const fs::path& file) { return nlohmann::json::parse(read_text(file)); }

std::map<std::string, std::string> read_tree(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[entry.path().lexically_relative(dir).string()] = read_text(entry.path());
  }
  return files;
}

namespace {

// fork + exec with stdout and stderr redirected to files in `capture`.
pid_t spawn(const std::string& program, const std::vector<std::string>& args, const fs::path& cwd,
            const TempDir& capture) {
  const fs::path out_file = capture / "stdout";
  const fs::path err_file = capture / "stderr";
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(126);
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int exit_code_of(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

ProcessResult run_process(const std::string& program, const std::vector<std::string>& args,
                          const fs::path& cwd) {
  TempDir capture;
  const pid_t pid = spawn(program, args, cwd, capture);
  int status = 0;
  waitpid(pid, &status, 0);
  return {exit_code_of(status), read_text(capture / "stdout"), read_text(capture / "stderr")};
}

ProcessResult run_vision(const std::vector<std::string>& args, const fs::path& cwd) {
  return run_process(VISION_BINARY, args, cwd);
}

nlohmann::json printed_artifacts(const ProcessResult& result) {
  const auto line = result.out.find("artifacts=");
  EXPECT_NE(line, std::string::npos) << result.out << result.err;
  if (line == std::string::npos) return {};
  return read_json(result.out.substr(line + 10, result.out.find('\n', line) - line - 10));
}

BackgroundProcess::BackgroundProcess(const std::string& program, const std::vector<std::string>& args, const fs::path& cwd)
    : m_pid(spawn(program, args, cwd, m_capture)) {}

BackgroundProcess::~BackgroundProcess() {
  if (m_pid > 0) stop(SIGTERM, 10);
}

bool BackgroundProcess::running() {
  if (m_pid <= 0) return false;
  int status = 0;
  const pid_t done = waitpid(m_pid, &status, WNOHANG);
  if (done == m_pid) {
    m_exit_code = exit_code_of(status);
    m_pid = -1;
    return false;
  }
  return true;
}

int BackgroundProcess::stop(int signal, double timeout_sec) {
  if (!running()) return m_exit_code;
  kill(m_pid, signal);
  if (!wait_until([&] { return !running(); }, timeout_sec)) {
    kill(m_pid, SIGKILL);
    int status = 0;
    waitpid(m_pid, &status, 0);
    m_pid = -1;
    m_exit_code = 137;
  }
  return m_exit_code;
}

void BackgroundProcess::signal(int signal) {
  if (running()) kill(m_pid, signal);
}

std::string BackgroundProcess::out() const { return read_text(m_capture / "stdout"); }

std::string BackgroundProcess::err() const { return read_text(m_capture / "stderr"); }

bool wait_until(const std::function<bool()>& done, double timeout_sec) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(timeout_sec * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

fs::path only_run_dir(const fs::path& root) {
  std::vector<fs::path> runs;
  for (const auto& entry : fs::directory_iterator(root / "runs")) runs.push_back(entry.path());
  EXPECT_EQ(runs.size(), 1U) << "expected exactly one run folder under " << root;
  return runs.empty() ? fs::path() : runs.front();
}

}  // namespace vision::test
