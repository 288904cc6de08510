// The store tests every backend must pass (SQLite here, PostgreSQL in the postgres suite):
// each query's numbers are compared with values computed in C++ from the inserted events.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vision/stats/stats_store.hpp"

namespace vision::test {

struct StoreBackend {
  std::string name;
  // A fresh, empty store; `dir` is a temporary folder that outlives it. nullptr + `skip_reason`
  // when the backend is unavailable.
  std::function<std::unique_ptr<stats::StatsStore>(const std::filesystem::path& dir,
                                                   std::string& skip_reason)>
      open_empty;
};

// Deterministic events over 3 hours from 2025-03-01T10:00:00Z: 3 sources, classes
// person/car/dog, detections 0..5, latencies with a long tail.
std::vector<stats::NewEvent> sample_events(int count);

// Names the backend in test output instead of dumping the struct's bytes.
inline void PrintTo(const StoreBackend& backend, std::ostream* out) {
  *out << backend.name;
}

class StoreConformance : public ::testing::TestWithParam<StoreBackend> {};

}  // namespace vision::test
