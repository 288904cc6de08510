// A bounded multi-producer, multi-consumer queue for handing work between pipeline threads.
// `push` blocks while full (files: never lose a frame); `push_latest` drops the oldest item
// instead (live cameras: never fall behind). `close` wakes everybody; pops drain what is left.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace vision {

template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : m_capacity(capacity == 0 ? 1 : capacity) {}

  // Waits for room; false when the queue was closed.
  bool push(T item) {
    std::unique_lock lock(m_mutex);
    m_not_full.wait(lock, [&] { return m_closed || m_items.size() < m_capacity; });
    if (m_closed) return false;
    m_items.push_back(std::move(item));
    m_not_empty.notify_one();
    return true;
  }

  // Never waits: when full, the oldest item is dropped. Returns how many were dropped (0 or 1);
  // -1 when the queue was closed.
  int push_latest(T item) {
    std::lock_guard lock(m_mutex);
    if (m_closed) return -1;
    int dropped = 0;
    if (m_items.size() >= m_capacity) {
      m_items.pop_front();
      dropped = 1;
    }
    m_items.push_back(std::move(item));
    m_not_empty.notify_one();
    return dropped;
  }

  // Waits for an item; nullopt once the queue is closed and empty.
  std::optional<T> pop() {
    std::unique_lock lock(m_mutex);
    m_not_empty.wait(lock, [&] { return m_closed || !m_items.empty(); });
    if (m_items.empty()) return std::nullopt;
    T item = std::move(m_items.front());
    m_items.pop_front();
    m_not_full.notify_one();
    return item;
  }

  void close() {
    std::lock_guard lock(m_mutex);
    m_closed = true;
    m_not_empty.notify_all();
    m_not_full.notify_all();
  }

  std::size_t size() const {
    std::lock_guard lock(m_mutex);
    return m_items.size();
  }

 private:
  const std::size_t m_capacity;
  mutable std::mutex m_mutex;
  std::condition_variable m_not_empty;
  std::condition_variable m_not_full;
  std::deque<T> m_items;
  bool m_closed = false;
};

}  // namespace vision
