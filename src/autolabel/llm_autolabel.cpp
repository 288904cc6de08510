#include "vision/autolabel/llm_autolabel.hpp"

#include <nlohmann/json.hpp>

#include "vision/core/secrets.hpp"

namespace fs = std::filesystem;

namespace vision {

Expected<LlmAutolabelReport> run_llm_autolabel(const LlmAutolabelOptions& options) {
  llm::LlmClientOptions client_options = options.client;
  client_options.class_names = options.job.class_names;
  auto client = llm::LlmClient::open(client_options);
  if (!client) return std::unexpected(client.error());
  const nlohmann::json model_fields = {{"model", options.client.model},
                                       {"base_url", redact_url_secrets(options.client.base_url)}};

  AutolabelJob job = options.job;
  job.batch_size = 1;  // one image per request
  job.provenance = k_llm_provenance;
  const BatchLabeler label = [&](const std::vector<ImageToLabel>& batch)
      -> Expected<std::vector<std::expected<ImageLabels, LabelFailure>>> {
    std::vector<std::expected<ImageLabels, LabelFailure>> results;
    for (const auto& item : batch) {
      auto answer = (*client)->detect(item.image, item.encoded);
      if (!answer) {
        results.push_back(std::unexpected(LabelFailure{answer.error().reason, answer.error().error.message}));
        continue;
      }
      nlohmann::json audit = model_fields;
      audit["raw_reply"] = answer->raw_reply;
      audit["attempts"] = answer->attempts;
      audit["sent_size"] = {answer->sent_width, answer->sent_height};
      audit["dropped"] = answer->dropped;
      if (answer->usage) {
        audit["tokens"] = {{"prompt", answer->usage->prompt_tokens},
                           {"completion", answer->usage->completion_tokens},
                           {"total", answer->usage->total_tokens}};
      }
      results.push_back(ImageLabels{std::move(answer->detections), {{"llm", std::move(audit)}}});
    }
    return results;
  };
  auto labels = run_autolabel(job, label);
  if (!labels) return std::unexpected(labels.error());
  LlmAutolabelReport report{std::move(*labels), (*client)->counts()};
  const auto unknown = report.llm.dropped_detections.find("unknown_class");
  if (unknown != report.llm.dropped_detections.end()) report.labels.dropped_unknown_class = unknown->second;
  return report;
}

nlohmann::json to_json(const LlmAutolabelReport& report, const fs::path& labeled_dir) {
  nlohmann::json out = to_json(report.labels, labeled_dir);
  out["llm"] = llm::to_json(report.llm);
  return out;
}

}  // namespace vision
