// The training loop of `vision train` (backend "faster_rcnn"), torchvision's references/detection
// recipe: SGD with momentum and weight decay on every parameter, a linear warm-up over the first
// min(1000, iterations of epoch 1 − 1) iterations from lr·0.001 (engine.py), then a cosine
// schedule stepped per epoch (train.py --lr-scheduler cosineannealinglr), horizontal flip 0.5 as
// the only augmentation, no EMA. Validation, best / last, results.csv, patience and the plots go
// through the pieces the yolo backend uses (training_run.hpp), several ranks through its
// DataParallel (data_parallel.hpp).
#include "vision/train/faster_rcnn_trainer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <optional>

#include "data_parallel.hpp"
#include "distributed_sampler.hpp"
#include "faster_rcnn_sample_loader.hpp"
#include "faster_rcnn_validation.hpp"
#include "training_run.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/progress.hpp"
#include "vision/eval/validate.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"
#include "vision/train/faster_rcnn/weights.hpp"

namespace vision {

namespace {

using train::Clock;
using train::format_number;
using train::FasterRcnnBatch;
using train::FasterRcnnSampleLoader;
using train::seconds_since;
namespace frcnn = train::faster_rcnn;

constexpr double k_warmup_start_factor = 1.0 / 1000;  // engine.py's warmup_factor
constexpr std::int64_t k_warmup_max_iterations = 1000;

const std::vector<std::string> k_results_columns = {
    "epoch",           "train/loss_objectness", "train/loss_rpn_box_reg", "train/loss_classifier",
    "train/loss_box_reg", "metrics/precision(B)", "metrics/recall(B)",     "metrics/mAP50(B)",
    "metrics/mAP50-95(B)", "lr/pg0"};

nlohmann::json epoch_json(const FasterRcnnEpochResult& e) {
  auto j = train::epoch_common_json(e);
  j.update({{"loss_objectness", e.loss_objectness}, {"loss_rpn_box_reg", e.loss_rpn_box_reg},
            {"loss_classifier", e.loss_classifier}, {"loss_box_reg", e.loss_box_reg}, {"lr", e.lr}});
  return j;
}

FasterRcnnEpochResult epoch_from_json(const nlohmann::json& j) {
  FasterRcnnEpochResult e;
  train::read_epoch_common(j, e);
  e.loss_objectness = j.at("loss_objectness").get<double>();
  e.loss_rpn_box_reg = j.at("loss_rpn_box_reg").get<double>();
  e.loss_classifier = j.at("loss_classifier").get<double>();
  e.loss_box_reg = j.at("loss_box_reg").get<double>();
  e.lr = j.at("lr").get<double>();
  return e;
}

std::vector<double> results_values(const FasterRcnnEpochResult& e) {
  return {e.loss_objectness, e.loss_rpn_box_reg, e.loss_classifier, e.loss_box_reg, e.precision, e.recall,
          e.map50,           e.map50_95,        e.lr};
}

// The training state a checkpoint carries beside the weights ("training"), and last.pt's
// optimiser state ("optimizer").
constexpr const char* k_training_entry = "training";
constexpr const char* k_optimizer_entry = "optimizer";

class FasterRcnnTrainer {
 public:
  FasterRcnnTrainer(const FasterRcnnTrainOptions& options, const FasterRcnnEpochCallback& on_epoch)
      : m_options(options), m_on_epoch(on_epoch) {}

  Expected<FasterRcnnTrainReport> run() {
    auto device = train::resolve_device(m_options.device);
    if (!device) return std::unexpected(device.error());
    m_device = *device;
    m_report.loader_workers = train::set_training_threads(m_options.threads, m_options.workers);
    torch::manual_seed(m_options.seed);

    auto samples = load_detection_samples(m_options.samples);
    if (!samples) return std::unexpected(samples.error());
    m_samples = std::move(*samples);
    m_report.samples = to_json(m_samples);
    m_names = m_samples.names;

    auto rank_batch = train::per_rank_batch_size(m_options.batch_size, m_options.data_parallel.settings.world_size);
    if (!rank_batch) return std::unexpected(rank_batch.error());
    if (auto ok = m_parallel.join(m_device); !ok) return std::unexpected(ok.error());
    if (auto ok = build_model(); !ok) return std::unexpected(ok.error());
    if (auto ok = check_sync_bn(); !ok) return std::unexpected(ok.error());
    // torchvision's losses are means over a fixed number of sampled anchors (RPN) and proposals
    // (RoI heads) per image, averaged over the batch: averaging the ranks' gradients, as torch's
    // DistributedDataParallel does, gives the gradient of one process on the global batch.
    if (auto ok = m_parallel.share(*m_model); !ok) return std::unexpected(ok.error());
    FasterRcnnSampleLoader loader(m_samples.train, {.batch_size = *rank_batch,
                                                    .rank = m_options.data_parallel.settings.rank,
                                                    .world_size = m_options.data_parallel.settings.world_size,
                                                    .fliplr = m_options.fliplr,
                                                    .seed = m_options.seed,
                                                    .prefetch = m_report.loader_workers > 0});
    m_batches = loader.batches_per_epoch();
    std::vector<torch::Tensor> parameters;
    for (const auto& p : m_model->parameters()) {
      if (p.requires_grad()) parameters.push_back(p);
    }
    m_optimizer = std::make_unique<torch::optim::SGD>(
        parameters, torch::optim::SGDOptions(m_options.lr).momentum(m_options.momentum).weight_decay(m_options.weight_decay));
    m_warmup_iterations = std::min(k_warmup_max_iterations, m_batches - 1);
    m_report.optimizer = {{"name", "SGD"},
                          {"lr", m_options.lr},
                          {"momentum", m_options.momentum},
                          {"weight_decay", m_options.weight_decay},
                          {"warmup_iterations", m_warmup_iterations},
                          {"schedule", "cosine per epoch"}};
    log::info("train.optimizer", "optimizer SGD lr " + format_number(m_options.lr) + " momentum " +
                                     format_number(m_options.momentum) + " weight_decay " +
                                     format_number(m_options.weight_decay) + " warm-up " +
                                     std::to_string(m_warmup_iterations) + " iterations",
              m_report.optimizer);

    if (m_options.dry_run) return dry_run(loader);
    if (!m_options.resume_from.empty()) {
      if (auto ok = resume(); !ok) return std::unexpected(ok.error());
    }
    if (auto ok = fit(loader); !ok) return std::unexpected(ok.error());
    if (m_report.interrupted_in_epoch > 0) train::forget_unwritten_checkpoints(m_report.best_pt, m_report.last_pt);
    return std::move(m_report);
  }

 private:
  bool writes() const { return m_parallel.writes(); }  // validation, checkpoints, files

  // The variants that train BatchNorm (from scratch: mobilenet_v3, resnet50_fpn, resnet50_fpn_v2)
  // normalise each rank's batch on its own, as torch's DDP does without SyncBatchNorm;
  // normalising over the global batch is not built for this backend.
  Expected<void> check_sync_bn() {
    if (!m_parallel.active() || !m_options.data_parallel.sync_bn) return {};
    for (const auto& module : m_model->modules()) {
      if (dynamic_cast<torch::nn::BatchNorm2dImpl*>(module.get()) != nullptr) {
        return fail(ErrorCode::config, "train.distributed.sync_bn = true is not available for train.backend = faster_rcnn (variant " +
                                           m_options.variant + " trains BatchNorm): set it to false, each rank then "
                                           "normalises its own share of the batch");
      }
    }
    return {};
  }

  Expected<void> build_model() {
    auto spec = frcnn::variant_spec(m_options.variant);
    if (!spec) return std::unexpected(spec.error());
    m_model = frcnn::FasterRcnn(*spec, static_cast<int64_t>(m_names.size()),
                                frcnn::transform_options_for_img_size(m_options.img_size));
    for (const auto& p : m_model->parameters()) m_report.parameters += p.numel();
    const auto& start = m_options.resume_from.empty() ? m_options.weights : m_options.resume_from;
    if (!start.empty()) {
      const std::string key = m_options.resume_from.empty() ? "train.faster_rcnn.weights" : "train.faster_rcnn.resume";
      auto loaded = frcnn::load_weights(start, *m_model);
      if (!loaded) return fail(loaded.error().code, key + " = " + start.string() + ": " + loaded.error().message);
      if (!m_options.resume_from.empty() && loaded->meta.names != m_names) {
        return fail(ErrorCode::config, "cannot resume from " + start.string() + ": it was trained on other classes");
      }
      m_report.weights = {{"path", start.string()}, {"variant", loaded->meta.variant},
                          {"head_classes_reset", loaded->predictor_reinitialised}};
      if (m_options.resume_from.empty()) log::info("train.weights", "started from " + start.string(), m_report.weights);
    }
    m_model->to(m_device);
    return {};
  }

  Expected<void> resume() {
    nlohmann::json state;
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(m_options.resume_from.string());
      c10::IValue text;
      torch::serialize::InputArchive optimizer;
      if (!archive.try_read(k_training_entry, text) || !archive.try_read(k_optimizer_entry, optimizer)) {
        return fail(ErrorCode::config, "train.faster_rcnn.resume: " + m_options.resume_from.string() +
                                           " holds no training state (resume needs a last.pt of a faster_rcnn training)");
      }
      state = nlohmann::json::parse(text.toStringRef());
      m_optimizer->load(optimizer);
    } catch (const c10::Error& e) {
      return fail(ErrorCode::invalid_data, m_options.resume_from.string() + ": unreadable training state: " + e.what_without_backtrace());
    } catch (const nlohmann::json::exception& e) {
      return fail(ErrorCode::invalid_data, m_options.resume_from.string() + ": unreadable training state: " + e.what());
    }
    const int epochs_done = state.at("epoch").get<int>();
    const int best_epoch = state.at("best_epoch").get<int>();
    m_start_epoch = epochs_done;
    m_report.epochs_trained = epochs_done;
    m_report.best_epoch = best_epoch;
    m_fitness.restore(best_epoch, state.at("best_fitness").get<double>());
    for (const auto& row : state.at("history")) m_report.epochs.push_back(epoch_from_json(row));
    if (auto ok = writes() ? train::carry_resume_over(m_options.resume_from, m_options.models_dir, epochs_done,
                                                      m_options.epochs, best_epoch)
                           : Expected<void>{};
        !ok) {
      return ok;
    }
    m_report.weights = {{"resumed_from", m_options.resume_from.string()}, {"start_epoch", m_start_epoch + 1}};
    log::info("train.resume", "resuming " + m_options.resume_from.string() + " at epoch " + std::to_string(m_start_epoch + 1),
              m_report.weights);
    return {};
  }

  nlohmann::json training_state(int epochs_done) const {
    nlohmann::json history = nlohmann::json::array();
    for (const auto& e : m_report.epochs) history.push_back(epoch_json(e));
    return {{"epoch", epochs_done},          {"epochs", m_options.epochs},
            {"best_epoch", m_report.best_epoch}, {"best_fitness", m_fitness.best_fitness()},
            {"run_id", m_options.run_id},     {"optimizer", m_report.optimizer},
            {"history", history}};
  }

  // best.pt carries the epoch meta; last.pt also the optimiser state resume needs.
  Expected<void> save(const std::filesystem::path& path, int epochs_done, bool with_optimizer) {
    const frcnn::WeightsMeta meta{m_model->spec.name, m_names, m_options.img_size};
    const auto state = training_state(epochs_done).dump();
    return frcnn::save_weights(path, *m_model, meta, [&](torch::serialize::OutputArchive& archive) {
      archive.write(k_training_entry, c10::IValue(state));
      if (with_optimizer) {
        torch::serialize::OutputArchive optimizer;
        m_optimizer->save(optimizer);
        archive.write(k_optimizer_entry, optimizer);
      }
    });
  }

  void name_checkpoints() {
    const auto paths = train::name_checkpoints(m_options.models_dir);
    m_report.best_pt = paths.best;
    m_report.last_pt = paths.last;
  }

  frcnn::Losses batch_losses(const FasterRcnnBatch& batch) {
    std::vector<torch::Tensor> images;
    std::vector<frcnn::ImageBoxes> targets;
    for (size_t i = 0; i < batch.images.size(); ++i) {
      images.push_back(batch.images[i].to(m_device));
      targets.push_back({batch.targets[i].boxes.to(m_device), batch.targets[i].classes.to(m_device)});
    }
    return m_model->forward(images, targets).losses;
  }

  Expected<FasterRcnnTrainReport> dry_run(FasterRcnnSampleLoader& loader) {
    loader.start_epoch(0);
    auto batch = loader.next();
    if (!batch) return std::unexpected(batch.error());
    m_model->train();
    const auto losses = batch_losses(**batch);
    m_optimizer->zero_grad();
    if (auto ok = m_parallel.backward(losses.total()); !ok) return std::unexpected(ok.error());
    if (!writes()) return std::move(m_report);
    nlohmann::json figures;
    std::string line = "one batch:";
    for (const auto& [name, value] : losses.named()) {
      figures[name] = value.item<double>();
      line += " " + name + " " + format_number(value.item<double>());
    }
    log::info("train.dry_run", line, figures);
    name_checkpoints();
    if (auto ok = save(m_report.best_pt, 0, false); !ok) return std::unexpected(ok.error());
    if (auto ok = save(m_report.last_pt, 0, true); !ok) return std::unexpected(ok.error());
    return std::move(m_report);
  }

  // The learning rate of iteration `i` of `epoch`: the cosine factor of the epoch, times the
  // linear warm-up factor during the first epoch's first m_warmup_iterations.
  double learning_rate(int epoch, std::int64_t i) const {
    double lr = m_options.lr * 0.5 * (1.0 + std::cos(std::numbers::pi * epoch / m_options.epochs));
    if (epoch == 0 && i < m_warmup_iterations) {
      const double alpha = static_cast<double>(i) / static_cast<double>(m_warmup_iterations);
      lr *= k_warmup_start_factor * (1.0 - alpha) + alpha;
    }
    return lr;
  }

  void set_learning_rate(double lr) {
    for (auto& group : m_optimizer->param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
  }

  // The epochs from m_start_epoch on; with several ranks rank 0 alone validates and saves while
  // the others wait, and its early stop ends every rank.
  Expected<void> fit(FasterRcnnSampleLoader& loader) {
    if (writes()) {
      name_checkpoints();
      std::filesystem::create_directories(m_options.run_dir);
      m_report.results_csv = m_options.run_dir / "results.csv";
    }
    auto finished = train::run_epochs(
        m_parallel, m_start_epoch, m_options.epochs, m_report, [&](int epoch) { return train_epoch(loader, epoch); },
        [&](FasterRcnnEpochResult& result) -> Expected<bool> {
          if (auto ok = validate_and_save(result); !ok) return std::unexpected(ok.error());
          if (m_on_epoch) m_on_epoch(result);
          m_report.stopped_early = m_fitness.stops_early(result.epoch, m_options.epochs);
          return m_report.stopped_early;
        });
    if (!finished) return std::unexpected(finished.error());
    if (!*finished) return {};
    m_report.images_per_second = m_images_trained / std::max(m_train_seconds, 1e-9);
    m_parallel.log_weights_checksum(*m_model);
    return writes() ? finish() : Expected<void>{};
  }

  // One pass over the rank's share of the training split. Alone, an interrupt between two
  // batches gives nullopt; with several ranks every step's all-reduce tells all of an interrupt
  // any of them saw, so all stop after the same step, and the logged losses are the ranks' mean.
  Expected<std::optional<FasterRcnnEpochResult>> train_epoch(FasterRcnnSampleLoader& loader, int epoch) {
    loader.start_epoch(epoch);
    m_model->train();
    const auto started = Clock::now();
    std::optional<Progress> progress;
    if (writes()) progress.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(m_options.epochs), m_batches, "batches");
    std::array<double, 4> means{};
    double images = 0, lr = 0, backward_seconds = 0;
    const auto waited_before = m_parallel.all_reduce_wait();
    std::int64_t i = 0;
    while (true) {
      if (!m_parallel.active() && interrupt::requested()) {
        m_report.interrupted_in_epoch = epoch + 1;
        return std::nullopt;
      }
      auto batch = loader.next();
      if (!batch) return std::unexpected(batch.error());
      if (!*batch) break;
      lr = learning_rate(epoch, i);
      set_learning_rate(lr);
      const auto losses = batch_losses(**batch);
      m_optimizer->zero_grad();
      const auto backward_started = Clock::now();
      if (auto ok = m_parallel.backward(losses.total()); !ok) return std::unexpected(ok.error());
      backward_seconds += seconds_since(backward_started);
      m_optimizer->step();
      std::array<double, 4> terms{};
      const auto named = losses.named();
      for (size_t k = 0; k < terms.size(); ++k) terms[k] = named[k].second.item<double>();
      auto interrupted = m_parallel.agree_on_step(terms, interrupt::requested());
      if (!interrupted) return std::unexpected(interrupted.error());
      ++i;
      for (size_t k = 0; k < means.size(); ++k) means[k] += (terms[k] - means[k]) / static_cast<double>(i);
      images += static_cast<double>((*batch)->images.size()) * m_parallel.world_size();
      if (*interrupted) {
        m_report.interrupted_in_epoch = epoch + 1;
        return std::nullopt;
      }
      if (!progress) continue;
      char note[128];
      std::snprintf(note, sizeof note, "loss %.3f %.1f img/s", means[0] + means[1] + means[2] + means[3],
                    images / seconds_since(started));
      progress->update(i, note);
    }
    if (progress) progress->finish();
    m_parallel.log_communication(m_parallel.all_reduce_wait() - waited_before, backward_seconds, i);
    FasterRcnnEpochResult result;
    result.epoch = epoch + 1;
    result.loss_objectness = means[0];
    result.loss_rpn_box_reg = means[1];
    result.loss_classifier = means[2];
    result.loss_box_reg = means[3];
    result.lr = lr;
    result.train_seconds = seconds_since(started);
    result.images_per_second = images / std::max(result.train_seconds, 1e-9);
    m_images_trained += images;
    m_train_seconds += result.train_seconds;
    return result;
  }

  Expected<void> validate_and_save(FasterRcnnEpochResult& result) {
    const auto started = Clock::now();
    auto metrics = train::evaluate_faster_rcnn(*m_model, m_samples.val, m_names, m_options.batch_size);
    if (!metrics) return std::unexpected(metrics.error());
    result.val_seconds = seconds_since(started);
    result.precision = metrics->precision;
    result.recall = metrics->recall;
    result.map50 = metrics->map50;
    result.map50_95 = metrics->map50_95;
    result.fitness = metrics->fitness;
    m_report.epochs.push_back(result);
    const bool best = m_fitness.add(result.epoch, metrics->fitness);
    if (best) {
      m_report.best_epoch = result.epoch;
      m_report.best = *metrics;
    }
    m_report.epochs_trained = result.epoch;
    if (auto ok = save(m_report.last_pt, result.epoch, true); !ok) return ok;
    if (best) {
      if (auto ok = save(m_report.best_pt, result.epoch, false); !ok) return ok;
    }
    std::vector<train::ResultsRow> rows;
    for (const auto& e : m_report.epochs) rows.push_back({e.epoch, results_values(e)});
    if (auto ok = train::write_results_csv(m_report.results_csv, k_results_columns, rows); !ok) return ok;
    char line[256];
    std::snprintf(line, sizeof line,
                  "epoch %d/%d  obj %.3f rpn_box %.3f cls %.3f box %.3f  P %.3f R %.3f mAP50 %.3f mAP50-95 %.3f  %.1f img/s  %.1f+%.1f s%s",
                  result.epoch, m_options.epochs, result.loss_objectness, result.loss_rpn_box_reg, result.loss_classifier,
                  result.loss_box_reg, result.precision, result.recall, result.map50, result.map50_95,
                  result.images_per_second, result.train_seconds, result.val_seconds, best ? "  (best)" : "");
    log::info("train.epoch", line, epoch_json(result));
    return {};
  }

  // The best metrics (best.pt's own when a resumed run never beat it), their table, the plots.
  Expected<void> finish() {
    if (m_report.best.per_class.empty()) {
      frcnn::FasterRcnn best(m_model->spec, m_model->num_classes, m_model->transform);
      if (frcnn::load_weights(m_report.best_pt, *best)) {
        best->to(m_device);
        auto evaluated = train::evaluate_faster_rcnn(*best, m_samples.val, m_names, m_options.batch_size);
        if (!evaluated) return std::unexpected(evaluated.error());
        m_report.best = *evaluated;
      }
    }
    std::fprintf(stderr, "%s", format_metrics_table(m_report.best).c_str());
    std::vector<Series> series;
    for (size_t k = 1; k < k_results_columns.size(); ++k) series.push_back({k_results_columns[k], {}});
    for (const auto& e : m_report.epochs) {
      const auto values = results_values(e);
      for (size_t k = 0; k < series.size(); ++k) series[k].values.push_back(values[k]);
    }
    auto plots = train::write_training_plots(m_options.run_dir, series, m_report.best);
    if (!plots) return std::unexpected(plots.error());
    m_report.plots = std::move(*plots);
    return {};
  }

  FasterRcnnTrainOptions m_options;
  FasterRcnnEpochCallback m_on_epoch;
  train::DataParallel m_parallel{m_options.data_parallel};
  torch::Device m_device{torch::kCPU};
  DetectionSamples m_samples;
  std::vector<std::string> m_names;
  frcnn::FasterRcnn m_model{nullptr};
  std::unique_ptr<torch::optim::SGD> m_optimizer;
  std::int64_t m_batches = 0;
  std::int64_t m_warmup_iterations = 0;
  int m_start_epoch = 0;
  train::FitnessTracker m_fitness{m_options.patience, "train.faster_rcnn.patience"};
  double m_images_trained = 0;
  double m_train_seconds = 0;
  FasterRcnnTrainReport m_report;
};

}  // namespace

Expected<FasterRcnnTrainReport> train_faster_rcnn(const FasterRcnnTrainOptions& options,
                                                  const FasterRcnnEpochCallback& on_epoch) {
  try {
    return FasterRcnnTrainer(options, on_epoch).run();
  } catch (...) {
    return std::unexpected(train::facade_error("training"));
  }
}

nlohmann::json to_json(const FasterRcnnTrainReport& r) {
  auto j = train::training_report_json(r, epoch_json);
  j["samples"] = r.samples;
  return j;
}

}  // namespace vision
