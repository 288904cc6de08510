// The export pipeline's facade: what ends an export comes back as a vision::Error that names the
// step and the file, never as an exception.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/export/model_export.hpp"
#include "vision/train/checkpoint.hpp"
#include "vision/train/yolo_layers.hpp"

using testing::HasSubstr;
using vision::test::TempDir;

namespace {

// A freshly initialised checkpoint at 64 px and a data set of two tiny images to export it with.
vision::ModelExportOptions export_options(const TempDir& dir) {
  EXPECT_TRUE(vision::write_shape_dataset({.out_dir = dir / "data", .train_images = 2, .val_images = 1, .size = 64}));
  vision::train::CheckpointMeta meta;
  meta.model = {4, 'n', vision::k_yolo_reg_max};
  meta.names = vision::k_shape_class_names;
  meta.img_size = 64;
  vision::train::YoloDetector model(meta.model);
  model->eval();
  EXPECT_TRUE(vision::train::save_checkpoint(dir / "best.pt", *model, meta));
  vision::ModelExportOptions options;
  options.checkpoint = dir / "best.pt";
  options.output_dir = dir / "models";
  options.dataset.dir = dir / "data";
  options.quantize = false;
  options.evaluate = false;
  return options;
}

}  // namespace

TEST(ExportModel, AnOutputFolderThatCannotBeCreatedIsAnIoErrorNamingIt) {
  // std::filesystem throws here; the facade turns it into an error.
  TempDir dir;
  vision::test::write_text(dir / "taken", "a file where the output folder should go");
  auto options = export_options(dir);
  options.output_dir = dir / "taken" / "models";
  const auto report = vision::export_model(options);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::io);
  EXPECT_THAT(report.error().message, HasSubstr("export of " + options.checkpoint.string() + " failed"));
  EXPECT_THAT(report.error().message, HasSubstr(options.output_dir.string()));
}

TEST(ExportModel, AGarbageCheckpointIsAnErrorNamingIt) {
  TempDir dir;
  auto options = export_options(dir);
  vision::test::write_text(options.checkpoint, "not a LibTorch archive");
  const auto report = vision::export_model(options);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::invalid_data);
  EXPECT_THAT(report.error().message, HasSubstr(options.checkpoint.string()));
}
