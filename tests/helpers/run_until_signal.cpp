// Test helper: starts a run in the work-dir given as argv[1] and waits until SIGINT/SIGTERM,
// so tests can check that an interrupted run still leaves its metrics behind.
#include <cstdio>

#include "vision/core/interrupt.hpp"
#include "vision/core/run.hpp"

int main(int argc, char** argv) {
  vision::interrupt::install();
  if (argc < 2) return 2;
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
