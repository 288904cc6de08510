// Test helper: starts a run in the work-dir given as argv[1] and waits until SIGINT/SIGTERM,
// so tests can check that an interrupted run still leaves its metrics behind. With
// --foreign-thread it first starts a thread that does not block the signals, as libraries
// loaded before main do (OpenBLAS's pool), and writes its thread id to <work-dir>/foreign.tid.
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "vision/core/interrupt.hpp"
#include "vision/core/run.hpp"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (argc > 2 && std::string(argv[2]) == "--foreign-thread") {
    std::thread([dir = std::string(argv[1])] {
      std::ofstream(dir + "/foreign.tid") << ::syscall(SYS_gettid) << std::endl;
      while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
    }).detach();
  }
  vision::interrupt::install();
  vision::ConfigSources sources;
  sources.workdir = argv[1];
  auto config = vision::Config::load(sources);
  if (!config) return 2;
  return vision::execute_run(*config, {"deploy-edge", "deploy_mode", "local"},
                             [](vision::Run& run) -> vision::Expected<void> {
                               run.artifacts()["frames"] = 0;
                               std::fprintf(stderr, "waiting for a signal\n");
                               while (vision::interrupt::sleep_for(std::chrono::milliseconds(50))) {
                               }
                               return {};
                             });
}
