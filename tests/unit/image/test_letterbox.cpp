// Letterbox: where an image lands in the model input, the padding grey, and boxes mapped back.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/image/draw.hpp"
#include "vision/image/image_files.hpp"
#include "vision/image/letterbox.hpp"

namespace fs = std::filesystem;

TEST(Letterbox, WideImageIsPaddedTopAndBottom) {
  const cv::Mat image(64, 128, CV_8UC3, cv::Scalar(10, 20, 30));
  cv::Mat out;
  // The default pad is Ultralytics' grey, the one every caller uses.
  static_assert(vision::k_letterbox_pad_value == 114);
  const auto t = vision::letterbox(image, {.target_width = 64, .target_height = 64}, out);
  EXPECT_FLOAT_EQ(t.scale, 0.5F);
  EXPECT_FLOAT_EQ(t.pad_left, 0.0F);
  EXPECT_FLOAT_EQ(t.pad_top, 16.0F);
  ASSERT_EQ(out.size(), cv::Size(64, 64));
  EXPECT_EQ(out.at<cv::Vec3b>(0, 0), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(out.at<cv::Vec3b>(63, 63), cv::Vec3b(114, 114, 114));
  EXPECT_EQ(out.at<cv::Vec3b>(32, 32), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(out.at<cv::Vec3b>(16, 0), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(out.at<cv::Vec3b>(15, 0), cv::Vec3b(114, 114, 114));
}

TEST(Letterbox, TallImageIsPaddedLeftAndRightAndSmallImagesScaleUp) {
  const cv::Mat image(100, 50, CV_8UC3, cv::Scalar(1, 2, 3));
  cv::Mat out;
  const auto t = vision::letterbox(image, {320, 320, 114, true}, out);
  EXPECT_FLOAT_EQ(t.scale, 3.2F);
  EXPECT_FLOAT_EQ(t.pad_left, 80.0F);
  EXPECT_FLOAT_EQ(t.pad_top, 0.0F);
  const auto no_up = vision::letterbox(image, {320, 320, 114, false}, out);
  EXPECT_FLOAT_EQ(no_up.scale, 1.0F);
}

TEST(Letterbox, UnletterboxInvertsTheMappingAndClips) {
  const cv::Mat image(480, 640, CV_8UC3, cv::Scalar::all(0));
  cv::Mat out;
  const auto t = vision::letterbox(image, {320, 320, 114, true}, out);
  // Original box (100, 200)-(300, 400) → model pixels → back.
  const std::array<float, 4> model = {100 * t.scale + t.pad_left, 200 * t.scale + t.pad_top,
                                      300 * t.scale + t.pad_left, 400 * t.scale + t.pad_top};
  const auto back = vision::unletterbox_box(model, t);
  EXPECT_NEAR(back[0], 100, 1e-3);
  EXPECT_NEAR(back[1], 200, 1e-3);
  EXPECT_NEAR(back[2], 300, 1e-3);
  EXPECT_NEAR(back[3], 400, 1e-3);
  const auto clipped = vision::unletterbox_box({-50, -50, 1000, 1000}, t);
  EXPECT_EQ(clipped, (std::array<float, 4>{0, 0, 640, 480}));
}

TEST(BgrToRgbChw, ReordersChannelsAndScales) {
  cv::Mat image(1, 2, CV_8UC3);
  image.at<cv::Vec3b>(0, 0) = {255, 0, 51};  // B G R
  image.at<cv::Vec3b>(0, 1) = {0, 102, 0};
  std::vector<float> chw(6);
  vision::bgr_to_rgb_chw(image, chw.data());
  EXPECT_FLOAT_EQ(chw[0], 0.2F);  // R plane
  EXPECT_FLOAT_EQ(chw[1], 0.0F);
  EXPECT_FLOAT_EQ(chw[2], 0.0F);  // G plane
  EXPECT_FLOAT_EQ(chw[3], 0.4F);
  EXPECT_FLOAT_EQ(chw[4], 1.0F);  // B plane
  EXPECT_FLOAT_EQ(chw[5], 0.0F);
}

TEST(Draw, BoxesAreDrawnInTheClassColour) {
  cv::Mat image(200, 200, CV_8UC3, cv::Scalar::all(0));
  vision::draw_detections(image, {{3, "star", 0.87F, {50, 60, 150, 160}}});
  const cv::Scalar color = vision::class_color(3);
  const auto near_color = [&](const cv::Vec3b& px) {
    for (int c = 0; c < 3; ++c) {
      if (std::abs(px[c] - static_cast<int>(color[c])) > 40) return false;
    }
    return true;
  };
  EXPECT_TRUE(near_color(image.at<cv::Vec3b>(110, 50)));   // left edge
  EXPECT_TRUE(near_color(image.at<cv::Vec3b>(160, 100)));  // bottom edge
  EXPECT_EQ(image.at<cv::Vec3b>(110, 100), cv::Vec3b(0, 0, 0));  // inside stays untouched
  // The label sits above the box on a filled background of the class colour.
  int label_pixels = 0;
  for (int y = 46; y < 58; ++y) {
    for (int x = 52; x < 100; ++x) label_pixels += near_color(image.at<cv::Vec3b>(y, x)) ? 1 : 0;
  }
  EXPECT_GT(label_pixels, 12 * 48 / 3);
  EXPECT_NE(vision::class_color(0), vision::class_color(1));
}

TEST(ImageFiles, ListsImagesRecursivelySortedAndFiltersOthers) {
  vision::test::TempDir dir;
  const cv::Mat pixel(2, 2, CV_8UC3, cv::Scalar::all(0));
  for (const char* name : {"b.jpg", "a.PNG", "sub/c.jpeg", "sub/deeper/d.bmp"}) {
    fs::create_directories((dir / name).parent_path());
    cv::imwrite((dir / name).string(), pixel);
  }
  vision::test::write_text(dir / "notes.txt", "x");
  const auto all = vision::list_images(dir.path());
  ASSERT_EQ(all.size(), 4U);
  EXPECT_EQ(all[0].filename(), "a.PNG");
  EXPECT_EQ(all[3].filename(), "d.bmp");
  EXPECT_EQ(vision::list_images(dir.path(), false).size(), 2U);
}

TEST(ImageFiles, CorruptAndMissingImagesAreNamedErrors) {
  vision::test::TempDir dir;
  vision::test::write_text(dir / "broken.jpg", "not a jpeg at all");
  auto broken = vision::read_image(dir / "broken.jpg");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(broken.error().message.find("broken.jpg"), std::string::npos);
  auto missing = vision::read_image(dir / "missing.jpg");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, vision::ErrorCode::not_found);
}
