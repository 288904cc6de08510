// What goes on the wire to the LLM: the image as sent (own bytes for JPEG/PNG/WebP, JPEG
// otherwise, long side capped), the system message's contract, the request body and the URL.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/core/base64.hpp"
#include "vision/llm/llm_request.hpp"

using namespace vision::llm;

namespace {

cv::Mat picture(int width = 200, int height = 100) {
  cv::Mat image(height, width, CV_8UC3, cv::Scalar(30, 90, 160));
  cv::rectangle(image, {20, 10}, {60, 50}, cv::Scalar(250, 250, 250), cv::FILLED);
  return image;
}

std::vector<std::uint8_t> encode(const cv::Mat& image, const std::string& ext) {
  std::vector<std::uint8_t> bytes;
  cv::imencode(ext, image, bytes);
  return bytes;
}

}  // namespace

TEST(LlmImage, SniffsTheFormatsTheApisTake) {
  EXPECT_EQ(sniff_image_mime(encode(picture(), ".jpg")), "image/jpeg");
  EXPECT_EQ(sniff_image_mime(encode(picture(), ".png")), "image/png");
  EXPECT_EQ(sniff_image_mime(encode(picture(), ".webp")), "image/webp");
  EXPECT_EQ(sniff_image_mime(encode(picture(), ".bmp")), "");
  EXPECT_EQ(sniff_image_mime({}), "");
}

TEST(LlmImage, SendsTheFilesOwnBytesWhenTheApiTakesTheirFormat) {
  for (const char* ext : {".png", ".jpg", ".webp"}) {
    const auto bytes = encode(picture(), ext);
    auto sent = prepare_llm_image(picture(), bytes, 0, 90);
    ASSERT_TRUE(sent) << ext;
    EXPECT_EQ(sent->bytes, bytes) << ext;
    EXPECT_EQ(sent->mime_type, sniff_image_mime(bytes));
    EXPECT_EQ(sent->width, 200);
    EXPECT_EQ(sent->height, 100);
    EXPECT_EQ(sent->original_width, 200);
    EXPECT_EQ(sent->original_height, 100);
  }
}

TEST(LlmImage, ReEncodesOtherFormatsAndFramesAsJpeg) {
  for (const std::vector<std::uint8_t>& bytes : {encode(picture(), ".bmp"), std::vector<std::uint8_t>{}}) {
    auto sent = prepare_llm_image(picture(), bytes, 0, 90);
    ASSERT_TRUE(sent);
    EXPECT_EQ(sent->mime_type, "image/jpeg");
    EXPECT_EQ(sniff_image_mime(sent->bytes), "image/jpeg");
    const cv::Mat decoded = cv::imdecode(sent->bytes, cv::IMREAD_COLOR);
    EXPECT_EQ(decoded.cols, 200);
    EXPECT_EQ(decoded.rows, 100);
  }
}

TEST(LlmImage, BytesWhoseHeaderDisagreesWithTheImageAreNotSentAsTheyAre) {
  // As with a JPEG that an EXIF orientation turned on decoding: send what Vision labels.
  const auto bytes = encode(picture(100, 200), ".png");
  auto sent = prepare_llm_image(picture(), bytes, 0, 90);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->mime_type, "image/jpeg");
  EXPECT_EQ(sent->width, 200);
}

TEST(LlmImage, CapsTheLongSideAndKeepsTheOriginalSize) {
  const auto bytes = encode(picture(400, 200), ".png");
  auto sent = prepare_llm_image(picture(400, 200), bytes, 100, 90);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->mime_type, "image/jpeg");
  EXPECT_EQ(sent->width, 100);
  EXPECT_EQ(sent->height, 50);
  EXPECT_EQ(sent->original_width, 400);
  EXPECT_EQ(sent->original_height, 200);
  const cv::Mat decoded = cv::imdecode(sent->bytes, cv::IMREAD_COLOR);
  EXPECT_EQ(decoded.size(), cv::Size(100, 50));
  auto within = prepare_llm_image(picture(400, 200), bytes, 400, 90);
  ASSERT_TRUE(within);
  EXPECT_EQ(within->bytes, bytes) << "an image within the cap goes as it is";
}

TEST(LlmImage, AnEmptyImageIsRefused) {
  EXPECT_FALSE(prepare_llm_image(cv::Mat(), {}, 0, 90));
}

TEST(LlmRequest, SystemMessageCarriesThePromptAndTheContract) {
  const std::string text = system_message({"m", "Label the pets.", {"cat", "hot \"dog\""}, 0.4F}, 640, 480);
  EXPECT_EQ(text.rfind("Label the pets.\n\n", 0), 0U) << text;
  for (const char* part : {"JSON only", "\"detections\"", "bbox_xyxy", "640x480", "\"cat\", \"hot \\\"dog\\\"\"", "below 0.4",
                           "{\"detections\": []}"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << "\n" << text;
  }
}

TEST(LlmRequest, BodyHasModelTemperatureSystemAndTheImageAsADataUrl) {
  const auto bytes = encode(picture(), ".png");
  auto image = prepare_llm_image(picture(), bytes, 0, 90);
  ASSERT_TRUE(image);
  const auto body = chat_request({"qwen2-vl", "Find things.", {"cat"}, 0.5F}, *image);
  EXPECT_EQ(body["model"], "qwen2-vl");
  EXPECT_EQ(body["temperature"], 0);
  ASSERT_EQ(body["messages"].size(), 2U);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][0]["content"], system_message({"qwen2-vl", "Find things.", {"cat"}, 0.5F}, 200, 100));
  const auto& user = body["messages"][1];
  EXPECT_EQ(user["role"], "user");
  ASSERT_EQ(user["content"].size(), 2U);
  EXPECT_EQ(user["content"][0]["type"], "text");
  EXPECT_NE(user["content"][0]["text"].get<std::string>().find("200x100"), std::string::npos);
  EXPECT_EQ(user["content"][1]["type"], "image_url");
  const std::string url = user["content"][1]["image_url"]["url"];
  ASSERT_EQ(url.rfind("data:image/png;base64,", 0), 0U);
  EXPECT_EQ(vision::base64_decode(url), bytes);
}

TEST(LlmRequest, EndpointWithOrWithoutTrailingSlash) {
  for (const char* base : {"http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1//"}) {
    auto url = chat_completions_url(base);
    ASSERT_TRUE(url) << base;
    EXPECT_EQ(url->first, "http://127.0.0.1:8000");
    EXPECT_EQ(url->second, "/v1/chat/completions");
  }
  auto https = chat_completions_url("https://api.example.com/v1");
  ASSERT_TRUE(https);
  EXPECT_EQ(https->first, "https://api.example.com");
  auto root = chat_completions_url("http://localhost:8080");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->second, "/chat/completions");
  EXPECT_FALSE(chat_completions_url("ftp://x/v1"));
  EXPECT_FALSE(chat_completions_url(""));
}
