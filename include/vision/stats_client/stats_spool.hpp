// A stats sender's durable queue of StatsEvents: what it has not delivered survives a kill -9,
// a reboot and a service that is down for days. Records are appended to segment files
// (<dir>/<16-digit number>.seg), each as a 4-byte length, a 4-byte CRC-32 and the event's JSON;
// `acked` names the first record not yet delivered. Opening a spool replays what is left, so a
// sender started again with the same source_id delivers it before anything new. A torn last
// record (a crash mid-write) or a damaged one is skipped and counted, never misread; beyond
// max_bytes the oldest segments are dropped, counted and logged.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace vision {

struct StatsSpoolOptions {
  std::filesystem::path dir;                 // <root>/stats/spool/<source_id>
  std::uint64_t max_bytes = 64ULL << 20;     // oldest segments are dropped beyond this
  std::uint64_t segment_bytes = 4ULL << 20;  // a new segment starts beyond this (at most max_bytes / 4)
};

// What opening the spool found.
struct SpoolRecovery {
  std::int64_t records = 0;  // undelivered records replayed
  std::int64_t skipped = 0;  // torn or damaged records skipped
};

class StatsSpool {
 public:
  static Expected<std::unique_ptr<StatsSpool>> open(const StatsSpoolOptions& options);
  ~StatsSpool();
  StatsSpool(const StatsSpool&) = delete;
  StatsSpool& operator=(const StatsSpool&) = delete;

  // Appends one record with one write(): from then on a kill of the process cannot lose it.
  Expected<void> append(const std::string& payload);
  // fsync of the segment being written: from then on a power loss cannot lose it either.
  Expected<void> sync();
  // Up to `max` of the oldest undelivered records.
  std::vector<std::string> peek(std::size_t max) const;
  // The first `count` undelivered records were delivered: the position moves past them and
  // segments with nothing left are deleted.
  Expected<void> acknowledge(std::size_t count);

  std::size_t pending() const { return m_records.size(); }
  std::int64_t evicted() const { return m_evicted; }
  const SpoolRecovery& recovery() const { return m_recovery; }

 private:
  struct Record {
    std::string payload;
    std::uint64_t segment = 0;
    std::uint64_t end = 0;  // offset just after the record in its segment
  };

  explicit StatsSpool(StatsSpoolOptions options);
  Expected<void> recover();
  Expected<void> open_segment(std::uint64_t number);
  Expected<void> evict();
  std::filesystem::path segment_path(std::uint64_t number) const;

  StatsSpoolOptions m_options;
  std::deque<Record> m_records;  // undelivered, oldest first
  std::uint64_t m_segment = 0;   // the segment being appended to
  std::uint64_t m_size = 0;      // its size
  std::uint64_t m_bytes = 0;     // bytes of every segment file
  int m_fd = -1;
  std::int64_t m_evicted = 0;
  SpoolRecovery m_recovery;
};

// The spool folder of a source: <root>/stats/spool/<source_id with anything but letters,
// digits, '.', '-' and '_' as '_'>.
std::filesystem::path spool_dir_for(const std::filesystem::path& root, const std::string& source_id);

}  // namespace vision
