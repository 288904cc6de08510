// Autolabel with a vision LLM (autolabel.mode = "llm"): every image under the unlabeled folder
// goes, one request each, to an OpenAI-compatible chat-completions API (see llm_client.hpp),
// and the answers become the same trainable YOLO data set as the model mode writes, each
// record keeping the model's raw reply for audit. An image whose request or reply fails is
// counted with its reason and skipped; the run goes on.
#pragma once

#include <filesystem>

#include <nlohmann/json_fwd.hpp>

#include "vision/autolabel/autolabel_runner.hpp"
#include "vision/core/error.hpp"
#include "vision/llm/llm_client.hpp"

namespace vision {

struct LlmAutolabelOptions {
  AutolabelJob job;              // its class_names are the ones the LLM is asked for
  llm::LlmClientOptions client;  // endpoint, confidence, pacing, retries
};

struct LlmAutolabelReport {
  AutolabelReport labels;
  llm::LlmCounts llm;
};

inline constexpr const char* k_llm_provenance = "autolabel:llm";

// Runs to the end, or until interrupt::requested(); the dataset files are written either way.
// Fails before any request when the client cannot start (no API key, bad URL).
Expected<LlmAutolabelReport> run_llm_autolabel(const LlmAutolabelOptions& options);

// artifacts.json form: the model mode's counts and paths, plus "llm": requests, retries,
// throttled waits, failures by reason, dropped detections and tokens.
nlohmann::json to_json(const LlmAutolabelReport& report, const std::filesystem::path& labeled_dir);

}  // namespace vision
