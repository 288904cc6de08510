// The trainer's facades: what ends a training or the validation of a checkpoint comes back as a
// vision::Error that names the step and the file, never as an exception.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/train/trainer.hpp"

using testing::HasSubstr;
using vision::test::TempDir;

namespace {

// A dry run (one batch, then best.pt and last.pt) on a data set of two tiny images.
vision::YoloTrainOptions dry_run_options(const TempDir& dir) {
  EXPECT_TRUE(vision::write_shape_dataset({.out_dir = dir / "data", .train_images = 2, .val_images = 1, .size = 64}));
  vision::YoloTrainOptions options;
  options.dataset.dir = dir / "data";
  options.dataset.class_names = vision::k_shape_class_names;
  options.models_dir = dir / "models";
  options.run_dir = dir / "run";
  options.epochs = 1;
  options.batch_size = 2;
  options.img_size = 64;
  options.threads = 1;
  options.workers = 0;
  options.dry_run = true;
  return options;
}

}  // namespace

TEST(TrainYolo, ADryRunWritesBothCheckpoints) {
  TempDir dir;
  const auto report = vision::train_yolo(dry_run_options(dir));
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(std::filesystem::is_regular_file(report->best_pt));
  EXPECT_TRUE(std::filesystem::is_regular_file(report->last_pt));
}

TEST(TrainYolo, AModelsFolderThatCannotBeCreatedIsAnIoErrorNamingIt) {
  // std::filesystem throws here; the facade turns it into an error.
  TempDir dir;
  vision::test::write_text(dir / "taken", "a file where the models folder should go");
  auto options = dry_run_options(dir);
  options.models_dir = dir / "taken" / "models";
  const auto report = vision::train_yolo(options);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::io);
  EXPECT_THAT(report.error().message, HasSubstr("training failed"));
  EXPECT_THAT(report.error().message, HasSubstr(options.models_dir.string()));
}

TEST(ValidateCheckpoint, AGarbageCheckpointIsAnErrorNamingIt) {
  TempDir dir;
  vision::test::write_text(dir / "best.pt", "not a LibTorch archive");
  vision::CheckpointValOptions options;
  options.checkpoint = dir / "best.pt";
  const auto metrics = vision::validate_checkpoint(options);
  ASSERT_FALSE(metrics);
  EXPECT_EQ(metrics.error().code, vision::ErrorCode::invalid_data);
  EXPECT_THAT(metrics.error().message, HasSubstr(options.checkpoint.string()));
}
