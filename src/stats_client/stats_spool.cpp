#include "vision/stats_client/stats_spool.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <vector>

#include "vision/core/log.hpp"
#include "vision/core/run.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

constexpr std::size_t k_header = 8;                 // length and CRC-32, little-endian
constexpr std::uint32_t k_max_record = 1u << 20;    // a StatsEvent is far smaller

void put_u32(unsigned char* out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(value >> (8 * i));
}

std::uint32_t get_u32(const unsigned char* in) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

std::uint32_t crc_of(const std::string& payload) {
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

fs::path spool_dir_for(const fs::path& root, const std::string& source_id) {
  std::string name = source_id;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  }
  if (name.empty() || name == "." || name == "..") name = "_";
  return root / "stats" / "spool" / name;
}

StatsSpool::StatsSpool(StatsSpoolOptions options) : m_options(std::move(options)) {
  // Eviction drops whole segments: keep several under the cap so that it drops a part, not all.
  m_options.segment_bytes = std::max<std::uint64_t>(4096, std::min(m_options.segment_bytes, m_options.max_bytes / 4));
}

StatsSpool::~StatsSpool() {
  if (m_fd >= 0) ::close(m_fd);
}

fs::path StatsSpool::segment_path(std::uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llu.seg", static_cast<unsigned long long>(number));
  return m_options.dir / name;
}

Expected<std::unique_ptr<StatsSpool>> StatsSpool::open(const StatsSpoolOptions& options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return fail(ErrorCode::io, "cannot create the statistics spool " + options.dir.string() + ": " + ec.message());
  std::unique_ptr<StatsSpool> spool(new StatsSpool(options));
  if (auto ok = spool->recover(); !ok) return std::unexpected(ok.error());
  return spool;
}

Expected<void> StatsSpool::recover() {
  // Where delivery stopped: "<segment> <offset>".
  std::uint64_t acked_segment = 0, acked_offset = 0;
  if (std::ifstream in(m_options.dir / "acked"); in) in >> acked_segment >> acked_offset;

  std::set<std::uint64_t> segments;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(m_options.dir, ec)) {
    const auto name = entry.path().filename().string();
    std::uint64_t number = 0;
    if (entry.path().extension() != ".seg" ||
        std::from_chars(name.data(), name.data() + name.size() - 4, number).ec != std::errc()) {
      continue;
    }
    segments.insert(number);
  }
  for (const std::uint64_t number : segments) {
    const fs::path path = segment_path(number);
    if (number < acked_segment) {
      fs::remove(path, ec);  // delivered before the last stop
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::uint64_t at = number == acked_segment ? std::min<std::uint64_t>(acked_offset, bytes.size()) : 0;
    std::uint64_t good_end = bytes.size();
    while (at < bytes.size()) {
      const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + at;
      if (bytes.size() - at < k_header) {  // a header cut short: the last write was torn
        ++m_recovery.skipped;
        good_end = at;
        break;
      }
      const std::uint32_t length = get_u32(p), crc = get_u32(p + 4);
      if (length > k_max_record) {  // a damaged length: nothing after it can be trusted
        ++m_recovery.skipped;
        good_end = at;
        break;
      }
      if (bytes.size() - at - k_header < length) {  // the payload cut short
        ++m_recovery.skipped;
        good_end = at;
        break;
      }
      std::string payload = bytes.substr(at + k_header, length);
      at += k_header + length;
      if (crc_of(payload) != crc) {  // damaged in place: skip this one, the next is intact
        ++m_recovery.skipped;
        continue;
      }
      m_records.push_back({std::move(payload), number, at});
      ++m_recovery.records;
    }
    if (good_end < bytes.size()) fs::resize_file(path, good_end, ec);  // new records go after the last good one
    m_bytes += good_end;
    m_segment = number;
    m_size = good_end;
  }
  if (m_recovery.skipped > 0) {
    log::warn("stats.spool.skipped", "skipped " + std::to_string(m_recovery.skipped) +
                                         " torn or damaged record(s) in " + m_options.dir.string(),
              {{"skipped", m_recovery.skipped}});
  }
  if (m_recovery.records > 0) {
    log::info("stats.spool.replay", std::to_string(m_recovery.records) + " undelivered event(s) from " +
                                        m_options.dir.string() + " go first",
              {{"events", m_recovery.records}});
  }
  return open_segment(segments.empty() ? 1 : m_segment);
}

Expected<void> StatsSpool::open_segment(std::uint64_t number) {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = ::open(segment_path(number).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (m_fd < 0) return fail(ErrorCode::io, "cannot open " + segment_path(number).string() + ": " + errno_text());
  if (number != m_segment) m_size = 0;
  m_segment = number;
  return {};
}

Expected<void> StatsSpool::append(const std::string& payload) {
  if (payload.size() > k_max_record) return fail(ErrorCode::invalid_data, "a statistics event of " + std::to_string(payload.size()) + " bytes");
  if (m_size >= m_options.segment_bytes) {
    if (auto ok = sync(); !ok) return ok;
    if (auto ok = open_segment(m_segment + 1); !ok) return ok;
  }
  std::string record(k_header, '\0');
  put_u32(reinterpret_cast<unsigned char*>(record.data()), static_cast<std::uint32_t>(payload.size()));
  put_u32(reinterpret_cast<unsigned char*>(record.data()) + 4, crc_of(payload));
  record += payload;
  // One write per record: a crash leaves at most this record torn, which recovery skips.
  for (std::size_t done = 0; done < record.size();) {
    const ssize_t n = ::write(m_fd, record.data() + done, record.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrorCode::io, "cannot append to the statistics spool " + m_options.dir.string() + ": " + errno_text());
    done += static_cast<std::size_t>(n);
  }
  m_size += record.size();
  m_bytes += record.size();
  m_records.push_back({payload, m_segment, m_size});
  return evict();
}

Expected<void> StatsSpool::sync() {
  if (m_fd >= 0 && ::fsync(m_fd) != 0) return fail(ErrorCode::io, "cannot sync the statistics spool: " + errno_text());
  return {};
}

std::vector<std::string> StatsSpool::peek(std::size_t max) const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < std::min(max, m_records.size()); ++i) out.push_back(m_records[i].payload);
  return out;
}

Expected<void> StatsSpool::acknowledge(std::size_t count) {
  count = std::min(count, m_records.size());
  if (count == 0) return {};
  const Record last = m_records[count - 1];
  m_records.erase(m_records.begin(), m_records.begin() + static_cast<std::ptrdiff_t>(count));
  // Where the next undelivered record starts; a crash before this write only delivers again.
  if (auto ok = write_file_atomic(m_options.dir / "acked", std::to_string(last.segment) + " " + std::to_string(last.end) + "\n"); !ok) {
    return ok;
  }
  std::error_code ec;
  for (std::uint64_t number = last.segment; number-- > 0;) {
    const auto path = segment_path(number);
    if (!fs::exists(path, ec)) break;
    m_bytes -= std::min<std::uint64_t>(m_bytes, fs::file_size(path, ec));
    fs::remove(path, ec);
  }
  return {};
}

Expected<void> StatsSpool::evict() {
  std::int64_t dropped = 0;
  std::error_code ec;
  while (m_bytes > m_options.max_bytes && !m_records.empty() && m_records.front().segment < m_segment) {
    const std::uint64_t oldest = m_records.front().segment;
    while (!m_records.empty() && m_records.front().segment == oldest) {
      m_records.pop_front();
      ++dropped;
    }
    m_bytes -= std::min<std::uint64_t>(m_bytes, fs::file_size(segment_path(oldest), ec));
    fs::remove(segment_path(oldest), ec);
  }
  if (dropped > 0) {
    m_evicted += dropped;
    log::warn("stats.spool.evicted", "the statistics spool " + m_options.dir.string() + " is over its " +
                                         std::to_string(m_options.max_bytes >> 20) + " MB: dropped the " +
                                         std::to_string(dropped) + " oldest undelivered event(s)",
              {{"dropped", dropped}, {"dropped_total", m_evicted}});
  }
  return {};
}

}  // namespace vision
