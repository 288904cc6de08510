#include "vision/core/interrupt.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
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
}  // namespace

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([set] {
      while (true) {
        int signal = 0;
        if (sigwait(&set, &signal) != 0) continue;
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
    }).detach();
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
