// What Vision sends to an OpenAI-compatible chat-completions endpoint: the image as it goes out
// (the file's own bytes when the API takes its format, else JPEG; its long side capped) and the
// request body (the configured prompt plus Vision's JSON contract, then the image as a data:
// URL). Pure functions, so the exact bytes on the wire have their own tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>

#include "vision/core/error.hpp"

namespace vision::llm {

struct LlmImage {
  std::string mime_type;  // image/jpeg, image/png or image/webp
  std::vector<std::uint8_t> bytes;
  int width = 0;  // the image sent; reply boxes are in its pixels
  int height = 0;
  int original_width = 0;  // the image the boxes are mapped back to
  int original_height = 0;
};

// "image/jpeg", "image/png" or "image/webp" from the bytes' signature; empty for anything else.
std::string sniff_image_mime(std::span<const std::uint8_t> bytes);

// The image to send for `image` (decoded, as the caller labels it). `encoded` are its file's
// bytes: sent as they are when their format is JPEG, PNG or WebP, their header's size is the
// decoded one (no EXIF turn) and no resize is needed. Otherwise the image is re-encoded as JPEG
// at `jpeg_quality`, after a resize that caps its long side at `max_side` (0 = as is).
Expected<LlmImage> prepare_llm_image(const cv::Mat& image, std::span<const std::uint8_t> encoded, int max_side,
                                     int jpeg_quality);

// "data:image/jpeg;base64,…"
std::string data_url(const LlmImage& image);

struct ChatRequestOptions {
  std::string model;
  std::string prompt;                     // the user's instruction (autolabel.llm.prompt)
  std::vector<std::string> class_names;   // the classes the model may answer
  float confidence = 0.0F;                // the lowest score worth answering
};

// The system message: the prompt, then the contract Vision parses (JSON only, the schema,
// the allowed class names, the minimum score, pixel boxes of a W×H image).
std::string system_message(const ChatRequestOptions& options, int width, int height);

// {"model", "temperature": 0, "messages": [system, user (a short instruction + the image)]}
nlohmann::json chat_request(const ChatRequestOptions& options, const LlmImage& image);

// The endpoint for a base URL given with or without a trailing slash:
// "https://api.example.com/v1/" → ("https://api.example.com", "/v1/chat/completions").
Expected<std::pair<std::string, std::string>> chat_completions_url(const std::string& base_url);

}  // namespace vision::llm
