// The bounded queue between pipeline stages: push waits for room, close drains what is left,
// push_latest drops the oldest item instead of waiting.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "vision/core/bounded_queue.hpp"

TEST(BoundedQueue, BlocksWhenFullAndDrainsAfterClose) {
  vision::BoundedQueue<int> queue(2);
  ASSERT_TRUE(queue.push(1));
  ASSERT_TRUE(queue.push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    queue.push(3);  // waits for room
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pushed);
  EXPECT_EQ(queue.pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed);
  queue.close();
  EXPECT_FALSE(queue.push(4));
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.pop(), 3);
  EXPECT_EQ(queue.pop(), std::nullopt);
}

TEST(BoundedQueue, PushLatestDropsTheOldest) {
  vision::BoundedQueue<int> queue(2);
  EXPECT_EQ(queue.push_latest(1), 0);
  EXPECT_EQ(queue.push_latest(2), 0);
  EXPECT_EQ(queue.push_latest(3), 1);
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.pop(), 3);
  queue.close();
  EXPECT_EQ(queue.push_latest(4), -1);
}
