// Faster R-CNN weight files: saved as LibTorch's nested module archive, read back entry by entry
// so a differing class count can skip the predictor and every other difference is named.
#include "vision/train/faster_rcnn/weights.hpp"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "archive_file.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"

namespace vision::train::faster_rcnn {

namespace {

constexpr const char* k_format = "vision-faster-rcnn-weights/1";
constexpr const char* k_what = "a Vision Faster R-CNN weight file";
constexpr const char* k_predictor = "roi_heads.box_predictor";

std::string shape_text(const torch::Tensor& t) {
  std::string text;
  for (const auto size : t.sizes()) text += (text.empty() ? "" : "x") + std::to_string(size);
  return text.empty() ? "scalar" : text;
}

Expected<WeightsMeta> parse_meta(const nlohmann::json& j, const std::filesystem::path& path) {
  try {
    return WeightsMeta{j.at("variant").get<std::string>(), j.at("names").get<std::vector<std::string>>(),
                       j.at("img_size").get<int64_t>()};
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::invalid_data, path.string() + ": not " + k_what + " (" + e.what() + ")");
  }
}

// Walks `module` and the archive side by side; `prefix` is the module's dotted name.
class EntryReader {
 public:
  EntryReader(const std::filesystem::path& path, bool skip_predictor) : m_path(path), m_skip_predictor(skip_predictor) {}

  Expected<void> read(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& prefix) {
    if (m_skip_predictor && prefix == std::string(k_predictor) + ".") return {};
    for (auto& p : module.named_parameters(/*recurse=*/false)) {
      if (auto ok = copy(archive, prefix + p.key(), p.key(), p.value(), false); !ok) return ok;
    }
    for (auto& b : module.named_buffers(/*recurse=*/false)) {
      if (auto ok = copy(archive, prefix + b.key(), b.key(), b.value(), true); !ok) return ok;
    }
    for (const auto& child : module.named_children()) {
      torch::serialize::InputArchive child_archive;
      if (!archive.try_read(child.key(), child_archive)) return mismatch(prefix + child.key() + ".*", "missing");
      if (auto ok = read(*child.value(), child_archive, prefix + child.key() + "."); !ok) return ok;
    }
    return {};
  }

 private:
  Expected<void> copy(torch::serialize::InputArchive& archive, const std::string& name, const std::string& key,
                      torch::Tensor& target, bool is_buffer) {
    torch::Tensor stored;
    if (!archive.try_read(key, stored, is_buffer)) return mismatch(name, "missing");
    if (stored.sizes() != target.sizes()) {
      return mismatch(name, "shape " + shape_text(stored) + ", the model's " + shape_text(target));
    }
    torch::NoGradGuard no_grad;
    target.copy_(stored);
    return {};
  }

  std::unexpected<Error> mismatch(const std::string& key, const std::string& what) const {
    return fail(ErrorCode::invalid_data, m_path.string() + ": does not fit the model at " + key + " (" + what + ")");
  }

  const std::filesystem::path& m_path;
  bool m_skip_predictor;
};

}  // namespace

Expected<void> save_weights(const std::filesystem::path& path, FasterRcnnImpl& model, const WeightsMeta& meta) {
  return save_archive(path, "weights", [&](torch::serialize::OutputArchive& archive) {
    const nlohmann::json j = {{"format", k_format}, {"variant", meta.variant}, {"names", meta.names}, {"img_size", meta.img_size}};
    archive.write("meta", c10::IValue(j.dump()));
    torch::serialize::OutputArchive weights;
    model.save(weights);
    archive.write("model", weights);
  });
}

namespace {
// Loads the archive and reads its meta record; LibTorch's errors pass through.
Expected<WeightsMeta> open_weights(const std::filesystem::path& path, torch::serialize::InputArchive& archive) {
  if (!std::filesystem::is_regular_file(path)) return fail(ErrorCode::not_found, "weights not found: " + path.string());
  archive.load_from(path.string());
  auto j = read_archive_meta(archive, path, k_what, k_format);
  if (!j) return std::unexpected(j.error());
  return parse_meta(*j, path);
}
}  // namespace

Expected<WeightsMeta> read_weights_meta(const std::filesystem::path& path) {
  try {
    torch::serialize::InputArchive archive;
    return open_weights(path, archive);
  } catch (const c10::Error& e) {
    return fail(ErrorCode::invalid_data, path.string() + ": not " + k_what + " (" + e.what_without_backtrace() + ")");
  }
}

Expected<LoadedWeights> load_weights(const std::filesystem::path& path, FasterRcnnImpl& model) {
  try {
    torch::serialize::InputArchive archive;
    auto meta = open_weights(path, archive);
    if (!meta) return std::unexpected(meta.error());
    if (meta->variant != model.spec.name) {
      return fail(ErrorCode::invalid_data, path.string() + ": weights of variant " + meta->variant + ", the model is " +
                                               model.spec.name);
    }
    LoadedWeights loaded{*meta, static_cast<int64_t>(meta->names.size()) != model.num_classes};
    torch::serialize::InputArchive weights;
    if (!archive.try_read("model", weights)) {
      return fail(ErrorCode::invalid_data, path.string() + ": not a Vision Faster R-CNN weight file (no weights)");
    }
    if (auto ok = EntryReader(path, loaded.predictor_reinitialised).read(model, weights, ""); !ok) {
      return std::unexpected(ok.error());
    }
    return loaded;
  } catch (const c10::Error& e) {
    return fail(ErrorCode::invalid_data, path.string() + ": not a readable weight file: " + e.what_without_backtrace());
  }
}

}  // namespace vision::train::faster_rcnn
