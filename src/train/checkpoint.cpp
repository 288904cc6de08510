// best.pt / last.pt: writing through a temporary file, reading back with the meta record checked.
#include "vision/train/checkpoint.hpp"

#include <torch/torch.h>

#include "archive_file.hpp"

namespace vision::train {

namespace {

constexpr const char* kFormat = "vision-yolo-checkpoint/1";

nlohmann::json meta_json(const CheckpointMeta& m) {
  return {{"format", kFormat},
          {"num_classes", m.model.num_classes},
          {"scale", std::string(1, m.model.scale)},
          {"reg_max", m.model.reg_max},
          {"names", m.names},
          {"img_size", m.img_size},
          {"epoch", m.epoch},
          {"epochs", m.epochs},
          {"best_fitness", m.best_fitness},
          {"best_epoch", m.best_epoch},
          {"ema_updates", m.ema_updates},
          {"run_id", m.run_id},
          {"history", m.history},
          {"extra", m.extra}};
}

constexpr const char* k_what = "a Vision checkpoint";

Expected<CheckpointMeta> parse_meta(const nlohmann::json& j, const std::filesystem::path& path) {
  const auto bad = [&](const std::string& why) {
    return fail(ErrorCode::invalid_data, path.string() + ": not " + k_what + " (" + why + ")");
  };
  try {
    CheckpointMeta m;
    m.model.num_classes = j.at("num_classes").get<int>();
    m.model.scale = j.at("scale").get<std::string>().at(0);
    m.model.reg_max = j.at("reg_max").get<int>();
    m.names = j.at("names").get<std::vector<std::string>>();
    m.img_size = j.at("img_size").get<int>();
    m.epoch = j.at("epoch").get<int>();
    m.epochs = j.at("epochs").get<int>();
    m.best_fitness = j.at("best_fitness").get<double>();
    m.best_epoch = j.at("best_epoch").get<int>();
    m.ema_updates = j.at("ema_updates").get<std::int64_t>();
    m.run_id = j.at("run_id").get<std::string>();
    m.history = j.at("history");
    m.extra = j.value("extra", nlohmann::json::object());
    if (m.model.num_classes != static_cast<int>(m.names.size())) return bad("num_classes differs from the names");
    return m;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

}  // namespace

Expected<void> save_checkpoint(const std::filesystem::path& path, YoloDetectorImpl& model, const CheckpointMeta& meta,
                               const std::optional<TrainingState>& state) {
  return save_archive(path, "checkpoint", [&](torch::serialize::OutputArchive& archive) {
    archive.write("meta", c10::IValue(meta_json(meta).dump()));
    torch::serialize::OutputArchive weights;
    model.save(weights);
    archive.write("model", weights);
    if (state) {
      torch::serialize::OutputArchive train_weights, optimizer;
      state->train_model->save(train_weights);
      state->optimizer->save(optimizer);
      archive.write("train_model", train_weights);
      archive.write("optimizer", optimizer);
    }
  });
}

Expected<LoadedCheckpoint> load_checkpoint(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) return fail(ErrorCode::not_found, "checkpoint not found: " + path.string());
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    auto j = read_archive_meta(archive, path, k_what, kFormat);
    if (!j) return std::unexpected(j.error());
    auto meta = parse_meta(*j, path);
    if (!meta) return std::unexpected(meta.error());
    LoadedCheckpoint loaded;
    loaded.meta = std::move(*meta);
    loaded.model = YoloDetector(loaded.meta.model);
    torch::serialize::InputArchive weights;
    archive.read("model", weights);
    loaded.model->load(weights);
    loaded.model->eval();
    torch::serialize::InputArchive probe;
    loaded.has_training_state = archive.try_read("optimizer", probe);
    return loaded;
  } catch (const c10::Error& e) {
    return fail(ErrorCode::invalid_data, path.string() + ": not a readable Vision checkpoint: " + e.what_without_backtrace());
  } catch (const VisionError& e) {
    return std::unexpected(e.error());
  }
}

Expected<void> load_training_state(const std::filesystem::path& path, const TrainingState& state) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path.string());
    torch::serialize::InputArchive weights, optimizer;
    if (!archive.try_read("train_model", weights) || !archive.try_read("optimizer", optimizer)) {
      return fail(ErrorCode::invalid_data, path.string() + ": has no optimiser state to resume from (use a last.pt)");
    }
    state.train_model->load(weights);
    state.optimizer->load(optimizer);
    return {};
  } catch (const c10::Error& e) {
    return fail(ErrorCode::invalid_data, path.string() + ": cannot resume from it: " + e.what_without_backtrace());
  }
}

}  // namespace vision::train
