// The backend registry and the one table from error codes to exit codes and HTTP statuses.
#include <gtest/gtest.h>

#include <functional>

#include "vision/core/registry.hpp"

using Backend = std::function<int()>;

TEST(Registry, FindsRegisteredBackendsByName) {
  vision::Registry<Backend> registry("train backend");
  registry.add("yolo", [] { return 7; });
  auto found = registry.find("yolo");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->get()(), 7);
  EXPECT_EQ(registry.names(), std::vector<std::string>{"yolo"});
}

TEST(Registry, MissingBackendIsNotAvailableYet) {
  vision::Registry<Backend> registry("train backend");
  auto missing = registry.find("faster_rcnn");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, vision::ErrorCode::not_implemented);
  EXPECT_EQ(missing.error().message,
            "train backend \"faster_rcnn\" is not available yet in this version of Vision");
}

TEST(ErrorTable, MapsCodesToExitCodesAndHttpStatuses) {
  using vision::ErrorCode;
  EXPECT_EQ(vision::exit_code(ErrorCode::config), 2);
  EXPECT_EQ(vision::exit_code(ErrorCode::usage), 2);
  EXPECT_EQ(vision::exit_code(ErrorCode::not_found), 1);
  EXPECT_EQ(vision::exit_code(ErrorCode::not_in_build), 3);
  EXPECT_EQ(vision::exit_code(ErrorCode::interrupted), 130);
  EXPECT_EQ(vision::http_status(ErrorCode::unauthorized), 401);
  EXPECT_EQ(vision::http_status(ErrorCode::payload_too_large), 413);
  EXPECT_EQ(vision::http_status(ErrorCode::rate_limited), 429);
  EXPECT_EQ(vision::http_status(ErrorCode::invalid_data), 400);
  EXPECT_STREQ(vision::error_code_name(ErrorCode::not_found), "not_found");
}
