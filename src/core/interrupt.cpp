#include "vision/core/interrupt.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace vision::interrupt {

namespace {
std::atomic<bool> g_requested{false};
std::atomic<int> g_signal{0};
std::mutex g_mutex;
std::condition_variable g_changed;
std::map<int, std::function<void()>> g_callbacks;
std::function<std::string()> g_busy;  // hold_second_signal
int g_next_handle = 1;

void fire(int signal) {
  std::map<int, std::function<void()>> callbacks;
  {
    std::lock_guard lock(g_mutex);
    if (g_requested.exchange(true)) return;
    g_signal = signal;
    callbacks = g_callbacks;
  }
  g_changed.notify_all();
  for (auto& [handle, callback] : callbacks) callback();
}

// Libraries loaded before main (OpenBLAS's thread pool, UCX under LibTorch) start threads that
// do not block the signals, and the kernel hands a process-wide signal to such a thread. So the
// signals also get a handler, which only forwards the number through a pipe to the watcher:
// whichever thread receives one, the reaction still runs on the watcher as ordinary code.
int g_pipe[2] = {-1, -1};

void forward_signal(int signal) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(signal);
  [[maybe_unused]] const auto written = ::write(g_pipe[1], &byte, 1);
  errno = saved;
}

void watch_signals(sigset_t signals) {
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
  while (true) {
    unsigned char byte = 0;
    const auto got = ::read(g_pipe[0], &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got != 1) return;
    const int signal = byte;
    if (g_requested) {  // second signal: the user insists, unless the process holds it
      std::function<std::string()> busy;
      {
        std::lock_guard lock(g_mutex);
        busy = g_busy;
      }
      const std::string why = busy ? busy() : std::string();
      if (why.empty()) _exit(130);
      const std::string line = "vision: " + why + "; stopping as soon as that is done (kill -9 would lose it)\n";
      [[maybe_unused]] const auto written = ::write(2, line.data(), line.size());
      continue;
    }
    fire(signal);
  }
}
}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::pipe2(g_pipe, O_CLOEXEC) != 0) return;
    struct sigaction action {};
    action.sa_handler = forward_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    // Every later thread of ours inherits the block, so slow system calls in them are never
    // interrupted; only the watcher takes the signals (or a library's thread does).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(watch_signals, set).detach();
  });
}

void hold_second_signal(std::function<std::string()> busy) {
  std::lock_guard lock(g_mutex);
  g_busy = std::move(busy);
}

bool requested() { return g_requested.load(); }
int signal_number() { return g_signal.load(); }
void request() { fire(0); }

int on_interrupt(std::function<void()> callback) {
  std::unique_lock lock(g_mutex);
  const int handle = g_next_handle++;
  if (g_requested) {
    lock.unlock();
    callback();
    return handle;
  }
  g_callbacks.emplace(handle, std::move(callback));
  return handle;
}

void remove(int handle) {
  std::lock_guard lock(g_mutex);
  g_callbacks.erase(handle);
}

bool sleep_for(std::chrono::milliseconds duration) {
  std::unique_lock lock(g_mutex);
  return !g_changed.wait_for(lock, duration, [] { return g_requested.load(); });
}

}  // namespace vision::interrupt
