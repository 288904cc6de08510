#include "vision/llm/llm_request.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/core/base64.hpp"
#include "vision/image/image_files.hpp"
#include "vision/net/http_client.hpp"

namespace vision::llm {

namespace {

bool starts_with(std::span<const std::uint8_t> bytes, std::size_t at, std::string_view magic) {
  return bytes.size() >= at + magic.size() && std::memcmp(bytes.data() + at, magic.data(), magic.size()) == 0;
}

std::string class_list(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + nlohmann::json(name).dump();
  return list;
}

}  // namespace

std::string sniff_image_mime(std::span<const std::uint8_t> bytes) {
  if (starts_with(bytes, 0, "\xFF\xD8\xFF")) return "image/jpeg";
  if (starts_with(bytes, 0, "\x89PNG\r\n\x1A\n")) return "image/png";
  if (starts_with(bytes, 0, "RIFF") && starts_with(bytes, 8, "WEBP")) return "image/webp";
  return {};
}

Expected<LlmImage> prepare_llm_image(const cv::Mat& image, std::span<const std::uint8_t> encoded, int max_side,
                                     int jpeg_quality) {
  if (image.empty()) return fail(ErrorCode::invalid_data, "empty image");
  LlmImage out;
  out.original_width = image.cols;
  out.original_height = image.rows;
  const int long_side = std::max(image.cols, image.rows);
  const bool resize = max_side > 0 && long_side > max_side;
  const std::string mime = sniff_image_mime(encoded);
  const auto header_size = encoded_image_size(encoded);
  // WebP's header is not read here: its decoded size is trusted, as no EXIF turn applies to it.
  const bool same_size = mime == "image/webp" || (header_size && header_size->width == image.cols &&
                                                  header_size->height == image.rows);
  if (!resize && !mime.empty() && same_size) {
    out.mime_type = mime;
    out.bytes.assign(encoded.begin(), encoded.end());
    out.width = image.cols;
    out.height = image.rows;
    return out;
  }
  cv::Mat sent = image;
  if (resize) {
    const double scale = static_cast<double>(max_side) / long_side;
    const int width = std::max(1, static_cast<int>(std::lround(image.cols * scale)));
    const int height = std::max(1, static_cast<int>(std::lround(image.rows * scale)));
    cv::resize(image, sent, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  }
  try {
    if (!cv::imencode(".jpg", sent, out.bytes, {cv::IMWRITE_JPEG_QUALITY, std::clamp(jpeg_quality, 1, 100)})) {
      return fail(ErrorCode::invalid_data, "cannot encode the image as JPEG");
    }
  } catch (const cv::Exception& e) {
    return fail(ErrorCode::invalid_data, std::string("cannot encode the image as JPEG: ") + e.what());
  }
  out.mime_type = "image/jpeg";
  out.width = sent.cols;
  out.height = sent.rows;
  return out;
}

std::string data_url(const LlmImage& image) {
  return "data:" + image.mime_type + ";base64," + base64_encode(image.bytes);
}

std::string system_message(const ChatRequestOptions& options, int width, int height) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  std::string text = options.prompt;
  if (!text.empty()) text += "\n\n";
  char score[32];
  std::snprintf(score, sizeof score, "%g", static_cast<double>(options.confidence));
  text +=
      "Answer with JSON only, no prose and no code fence, in exactly this form:\n"
      "{\"detections\": [{\"class_name\": \"<allowed class name>\", \"score\": <0..1>, \"bbox_xyxy\": [x1, y1, x2, y2]}]}\n"
      "- bbox_xyxy: the box around the whole object in pixels of the " + size +
      " image, origin at the top-left corner, x to the right, y down, x1 < x2 and y1 < y2.\n"
      "- class_name: exactly one of " + class_list(options.class_names) + "; leave out every other kind of object.\n"
      "- score: your confidence from 0 to 1; leave out objects below " + score + ".\n"
      "- One entry per object; {\"detections\": []} when there is none.";
  return text;
}

nlohmann::json chat_request(const ChatRequestOptions& options, const LlmImage& image) {
  using nlohmann::json;
  const std::string instruction = "Detect the objects of the allowed classes in this " + std::to_string(image.width) +
                                  "x" + std::to_string(image.height) + " image.";
  json user_content = json::array();
  user_content.push_back({{"type", "text"}, {"text", instruction}});
  user_content.push_back({{"type", "image_url"}, {"image_url", {{"url", data_url(image)}}}});
  json messages = json::array();
  messages.push_back({{"role", "system"}, {"content", system_message(options, image.width, image.height)}});
  messages.push_back({{"role", "user"}, {"content", std::move(user_content)}});
  return {{"model", options.model}, {"temperature", 0}, {"messages", std::move(messages)}};
}

Expected<std::pair<std::string, std::string>> chat_completions_url(const std::string& base_url) {
  std::string base = base_url;
  while (base.ends_with('/')) base.pop_back();
  return net::split_url(base + "/chat/completions");
}

}  // namespace vision::llm
