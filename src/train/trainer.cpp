// The training loop of `vision train` (backend "yolo"), following Ultralytics' BaseTrainer:
// per iteration warm-up / schedule → forward → loss → backward, an optimiser step every
// `accumulate` iterations with gradient clipping and an EMA update; per epoch validation of
// the EMA weights, last.pt / best.pt, a results.csv row, and early stopping on `patience`.
#include "vision/train/trainer.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "batch_loader.hpp"
#include "compute_threads.hpp"
#include "detection_loss.hpp"
#include "data_parallel.hpp"
#include "distributed_sampler.hpp"
#include "faster_rcnn_validation.hpp"
#include "model_ema.hpp"
#include "optimizer.hpp"
#include "step_format.hpp"
#include "training_run.hpp"
#include "validation.hpp"
#include "vision/core/exception_error.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/progress.hpp"
#include "vision/core/run.hpp"
#include "vision/eval/plots.hpp"
#include "vision/eval/validate.hpp"
#include "vision/train/checkpoint.hpp"
#include "vision/train/faster_rcnn/weights.hpp"
#include "vision/train/onnx_weights.hpp"

namespace vision {

namespace {

using train::Clock;
using train::format_number;
using train::seconds_since;

nlohmann::json epoch_json(const EpochResult& e) {
  auto j = train::epoch_common_json(e);
  j.update({{"box_loss", e.box_loss}, {"cls_loss", e.cls_loss}, {"dfl_loss", e.dfl_loss}, {"lr", e.lr}});
  return j;
}

EpochResult epoch_from_json(const nlohmann::json& j) {
  EpochResult e;
  train::read_epoch_common(j, e);
  e.box_loss = j.at("box_loss").get<double>();
  e.cls_loss = j.at("cls_loss").get<double>();
  e.dfl_loss = j.at("dfl_loss").get<double>();
  e.lr = j.at("lr").get<std::array<double, 3>>();
  return e;
}

Expected<void> write_results_csv(const std::filesystem::path& path, const std::vector<EpochResult>& epochs) {
  static const std::vector<std::string> columns = {
      "epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss", "metrics/precision(B)", "metrics/recall(B)",
      "metrics/mAP50(B)", "metrics/mAP50-95(B)", "lr/pg0", "lr/pg1", "lr/pg2", "time/train_s", "time/val_s",
      "train/images_per_s"};
  std::vector<train::ResultsRow> rows;
  for (const auto& e : epochs) {
    rows.push_back({e.epoch, {e.box_loss, e.cls_loss, e.dfl_loss, e.precision, e.recall, e.map50, e.map50_95, e.lr[0],
                              e.lr[1], e.lr[2], e.train_seconds, e.val_seconds, e.images_per_second}});
  }
  return train::write_results_csv(path, columns, rows);
}

// One training: run() sets up the data, model, optimiser and EMA, then fit() runs the epochs;
// the report collects what the CLI prints and writes to artifacts.json.
class Trainer {
 public:
  Trainer(const YoloTrainOptions& options, const EpochCallback& on_epoch) : m_options(options), m_on_epoch(on_epoch) {}

  Expected<YoloTrainReport> run() {
    auto device = train::resolve_device(m_options.device);
    if (!device) return std::unexpected(device.error());
    m_device = *device;
    choose_step_format();
    m_workers = train::set_training_threads(m_options.threads, m_options.workers);
    torch::manual_seed(m_options.seed);
    at::globalContext().setDeterministicAlgorithms(m_options.deterministic, /*warn_only=*/true);
    // Deterministic algorithms also fill every tensor torch::empty returns with NaN, to expose
    // reads of uninitialised memory: a write pass over each convolution's output and gradient
    // whose values every operator overwrites before reading (bench/README.md, Training).
    at::globalContext().setDeterministicFillUninitializedMemory(false);

    auto dataset = load_yolo_dataset(m_options.dataset);
    if (!dataset) return std::unexpected(dataset.error());
    m_names = dataset->names;
    if (dataset->train.empty()) {
      return fail(ErrorCode::invalid_data, "the train split of " + m_options.dataset.dir.string() + " has no images");
    }

    auto rank_batch = train::per_rank_batch_size(m_options.batch_size, m_options.data_parallel.settings.world_size);
    if (!rank_batch) return std::unexpected(rank_batch.error());
    if (auto ok = m_parallel.join(m_device); !ok) return std::unexpected(ok.error());
    if (auto ok = build_model(); !ok) return std::unexpected(ok.error());
    if (auto ok = m_parallel.share(*m_model); !ok) return std::unexpected(ok.error());
    train::LoaderOptions loader_options;
    loader_options.img_size = m_options.img_size;
    loader_options.batch_size = *rank_batch;
    loader_options.rank = m_options.data_parallel.settings.rank;
    loader_options.world_size = m_options.data_parallel.settings.world_size;
    loader_options.workers = m_workers;
    loader_options.seed = m_options.seed;
    loader_options.augment_options = {m_options.img_size, m_options.mosaic,    m_options.hsv_h,      m_options.hsv_s,
                                      m_options.hsv_v,    m_options.translate, m_options.scale_gain, m_options.fliplr};
    const auto train_size = static_cast<std::int64_t>(dataset->train.size());
    train::BatchLoader loader(std::move(dataset->train), loader_options);
    m_batches = loader.batches_per_epoch();

    train::OptimizerOptions optimizer_options{m_options.optimizer,     m_options.lr0,
                                              m_options.lrf,           m_options.momentum,
                                              m_options.weight_decay,  m_options.warmup_epochs,
                                              m_options.warmup_bias_lr, 0.8,
                                              m_options.cos_lr,        m_options.nbs,
                                              static_cast<int>(m_names.size())};
    const auto choice = train::choose_optimizer(optimizer_options, train_size, m_options.batch_size, m_options.epochs);
    train::TrainSchedule schedule(*m_model, optimizer_options, choice, m_options.batch_size, m_options.epochs, m_batches);
    m_report.loader_workers = m_workers;
    m_report.optimizer = {{"name", choice.name},           {"lr0", choice.lr0},
                          {"momentum", choice.momentum},   {"weight_decay", choice.weight_decay},
                          {"nbs", choice.nbs},             {"accumulate", choice.accumulate},
                          {"warmup_iterations", schedule.warmup_iterations()}};
    log::info("train.optimizer", "optimizer " + choice.name + " lr0 " + format_number(choice.lr0) + " momentum " +
                                     format_number(choice.momentum) + " weight_decay " + format_number(choice.weight_decay) +
                                     " accumulate " + std::to_string(choice.accumulate),
              m_report.optimizer);
    m_ema = std::make_unique<train::ModelEma>(*m_model);
    lay_out_ema();

    if (m_options.dry_run) return dry_run(loader, schedule);
    if (!m_options.resume_from.empty()) {
      if (auto ok = resume(schedule); !ok) return std::unexpected(ok.error());
      if (auto ok = m_parallel.share(*m_model); !ok) return std::unexpected(ok.error());
    }
    auto val = train::ValidationSet::load(dataset->val, m_options.img_size);
    if (!val) return std::unexpected(val.error());
    if (!val->cached()) {
      log::info("train.val_cache", "the letterboxed val split exceeds " +
                                       std::to_string(train::ValidationSet::k_cache_budget_bytes >> 20) +
                                       " MB: validation reads its images every epoch");
    }
    if (auto ok = fit(loader, schedule, *val); !ok) return std::unexpected(ok.error());
    if (m_report.interrupted_in_epoch > 0) train::forget_unwritten_checkpoints(m_report.best_pt, m_report.last_pt);
    return std::move(m_report);
  }

 private:
  bool distributed() const { return m_parallel.active(); }
  bool writes() const { return m_parallel.writes(); }  // validation, checkpoints, files

  Expected<void> build_model() {
    YoloModelOptions model_options{static_cast<int>(m_names.size()), m_options.scale, k_yolo_reg_max};
    if (!m_options.resume_from.empty()) {
      auto checkpoint = train::load_checkpoint(m_options.resume_from);
      if (!checkpoint) return std::unexpected(checkpoint.error());
      if (checkpoint->meta.names != m_names) {
        return fail(ErrorCode::config,
                    "cannot resume from " + m_options.resume_from.string() + ": it was trained on other classes");
      }
      model_options = checkpoint->meta.model;
      m_resume = std::move(*checkpoint);
    }
    m_model = train::YoloDetector(model_options);
    for (const auto& p : m_model->parameters()) m_report.parameters += p.numel();
    if (!m_options.weights.empty() && m_options.resume_from.empty()) {
      if (auto ok = load_weights(); !ok) return ok;
    }
    m_model->to(m_device);
    if (channels_last()) train::to_channels_last(*m_model);
    return {};
  }

  // The forward pass may run under bf16 autocast on the CPU (train.yolo.precision); then the
  // model, its EMA and the batches are channels-last, where oneDNN's bf16 kernels ran 9 % faster
  // on a Zen 5. FP32 stays contiguous: channels-last gained nothing there and would change the
  // FP32 losses' last digits. bench/README.md, Training.
  void choose_step_format() {
    const auto precision = train::choose_precision(m_options.precision, m_device.is_cpu(), train::cpu_has_bf16());
    m_step_format = {precision.bf16, precision.bf16};
    if (!precision.fallback.empty()) log::warn("train.precision", precision.fallback);
    if (precision.bf16) log::info("train.precision", "the forward pass runs under bf16 autocast (train.yolo.precision)");
  }

  bool channels_last() const { return m_step_format.channels_last; }

  void lay_out_ema() {
    if (channels_last()) train::to_channels_last(*m_ema->model());
  }

  Expected<void> load_weights() {
    const auto extension = m_options.weights.extension().string();
    if (extension == ".onnx") {
      auto imported = train::import_onnx_weights(*m_model, m_options.weights);
      if (!imported) return std::unexpected(imported.error());
      m_report.weights = {{"path", m_options.weights.string()}, {"convs_loaded", imported->convs_loaded},
                          {"convs_skipped", imported->convs_skipped}, {"head_classes_reset", imported->head_classes_reset}};
      log::info("train.weights",
                "imported " + std::to_string(imported->convs_loaded) + " conv layers from " + m_options.weights.string(),
                m_report.weights);
      return {};
    }
    auto checkpoint = train::load_checkpoint(m_options.weights);
    if (!checkpoint) return std::unexpected(checkpoint.error());
    if (checkpoint->meta.model.scale != m_options.scale) {
      return fail(ErrorCode::config, "train.yolo.weights = " + m_options.weights.string() + ": a scale " +
                                         std::string(1, checkpoint->meta.model.scale) + " checkpoint cannot start a scale " +
                                         std::string(1, m_options.scale) + " model (train.yolo.model_scale)");
    }
    const auto [copied, skipped] = train::copy_matching(*m_model, *checkpoint->model);
    m_report.weights = {{"path", m_options.weights.string()}, {"tensors_loaded", copied}, {"tensors_skipped", skipped},
                        {"head_classes_reset", checkpoint->meta.model.num_classes != static_cast<int>(m_names.size())}};
    log::info("train.weights", "started from " + m_options.weights.string(), m_report.weights);
    return {};
  }

  Expected<void> resume(train::TrainSchedule& schedule) {
    if (auto ok = train::load_training_state(m_options.resume_from, {m_model.get(), &schedule.optimizer()}); !ok) {
      return ok;
    }
    if (channels_last()) train::to_channels_last(*m_model);  // loading takes the file's layout
    const auto& meta = m_resume->meta;
    m_resume->model->to(m_device);
    m_ema = std::make_unique<train::ModelEma>(*m_resume->model, 0.9999, 2000, meta.ema_updates);
    lay_out_ema();
    m_start_epoch = meta.epoch;
    m_report.epochs_trained = meta.epoch;
    m_fitness.restore(meta.best_epoch, meta.best_fitness);
    m_report.best_epoch = meta.best_epoch;
    for (const auto& row : meta.history) m_report.epochs.push_back(epoch_from_json(row));
    if (auto ok = writes() ? train::carry_resume_over(m_options.resume_from, m_options.models_dir, meta.epoch,
                                                      m_options.epochs, meta.best_epoch)
                           : Expected<void>{};
        !ok) {
      return ok;
    }
    m_report.weights = {{"resumed_from", m_options.resume_from.string()}, {"start_epoch", m_start_epoch + 1}};
    log::info("train.resume",
              "resuming " + m_options.resume_from.string() + " at epoch " + std::to_string(m_start_epoch + 1),
              m_report.weights);
    return {};
  }

  train::CheckpointMeta meta(int epochs_done) const {
    train::CheckpointMeta m;
    m.model = m_model->options;
    m.names = m_names;
    m.img_size = m_options.img_size;
    m.epoch = epochs_done;
    m.epochs = m_options.epochs;
    m.best_fitness = m_fitness.best_fitness();
    m.best_epoch = m_report.best_epoch;
    m.ema_updates = m_ema->updates();
    m.run_id = m_options.run_id;
    for (const auto& e : m_report.epochs) m.history.push_back(epoch_json(e));
    m.extra = {{"optimizer", m_report.optimizer}};
    return m;
  }

  train::YoloDetectorImpl& inference_model() { return m_options.ema ? *m_ema->model() : *m_model; }

  Expected<YoloTrainReport> dry_run(train::BatchLoader& loader, train::TrainSchedule& schedule) {
    loader.start_epoch(0, m_options.close_mosaic < m_options.epochs);
    auto batch = loader.next();
    if (!batch) return std::unexpected(batch.error());
    m_model->train();
    auto loss = batch_loss(**batch);
    schedule.optimizer().zero_grad();
    if (auto ok = m_parallel.backward(loss.total); !ok) return std::unexpected(ok.error());
    if (!writes()) return std::move(m_report);
    log::info("train.dry_run", "one batch: box " + format_number(loss.box) + " cls " + format_number(loss.cls) + " dfl " +
                                   format_number(loss.dfl),
              {{"box_loss", loss.box}, {"cls_loss", loss.cls}, {"dfl_loss", loss.dfl}});
    name_checkpoints();
    if (auto ok = train::save_checkpoint(m_report.best_pt, inference_model(), meta(0)); !ok) return std::unexpected(ok.error());
    if (auto ok = train::save_checkpoint(m_report.last_pt, inference_model(), meta(0), train::TrainingState{m_model.get(), &schedule.optimizer()});
        !ok) {
      return std::unexpected(ok.error());
    }
    return std::move(m_report);
  }

  // Creates the models folder and names best.pt and last.pt in it.
  void name_checkpoints() {
    const auto paths = train::name_checkpoints(m_options.models_dir);
    m_report.best_pt = paths.best;
    m_report.last_pt = paths.last;
  }

  train::BatchTargets targets_on_device(const train::BatchTargets& t) const {
    return {t.image_index.to(m_device), t.classes.to(m_device), t.boxes.to(m_device)};
  }

  // Forward and loss of one batch; the loss reads reg_max from the model it trains.
  train::LossResult batch_loss(const train::Batch& batch) {
    const auto raw = train::forward_maps(*m_model, batch.images.to(m_device), m_step_format);
    train::LossScope scope;
    if (distributed()) {
      scope.sum_over_ranks = [this](double local) { return sum_over_ranks(local); };
      // The shards are equally long, so every rank's batch has this one's size and the global
      // batch (short at an epoch's end, as one process's) is world x it.
      const auto world = static_cast<double>(m_parallel.world_size());
      scope.batch_scale = world * world * static_cast<double>(batch.images.size(0));
    }
    return train::detection_loss(raw, targets_on_device(batch.targets), static_cast<int>(m_names.size()),
                                 m_model->options.reg_max, m_model->head->strides, {},
                                 {m_options.box, m_options.cls, m_options.dfl}, scope);
  }

  // A scalar summed over the ranks (the loss normaliser); a failure (a peer died or hangs)
  // ends the step.
  double sum_over_ranks(double local) {
    auto value = torch::full({1}, local, torch::kDouble);
    if (auto ok = m_parallel.group().all_reduce_mean(value); !ok) throw VisionError(ok.error());
    return value.item<double>() * m_parallel.world_size();
  }

  // The epochs from m_start_epoch on, each trained, validated and saved, until the last one, an
  // early stop or an interrupt (which returns at once); then the best metrics and the plots.
  Expected<void> fit(train::BatchLoader& loader, train::TrainSchedule& schedule, const train::ValidationSet& val) {
    if (writes()) {
      name_checkpoints();
      std::filesystem::create_directories(m_options.run_dir);
      m_report.results_csv = m_options.run_dir / "results.csv";
    }
    schedule.optimizer().zero_grad();
    auto finished = train::run_epochs(
        m_parallel, m_start_epoch, m_options.epochs, m_report,
        [&](int epoch) { return train_epoch(loader, schedule, epoch); },
        [&](EpochResult& result) -> Expected<bool> {
          if (auto ok = validate_and_save(result, val, schedule.optimizer()); !ok) return std::unexpected(ok.error());
          if (m_on_epoch) m_on_epoch(result);
          return stops_early(result);
        });
    if (!finished) return std::unexpected(finished.error());
    if (!*finished) return {};
    m_report.images_per_second = m_images_trained / std::max(m_train_seconds, 1e-9);
    m_parallel.log_weights_checksum(*m_model);
    return writes() ? finish(val) : Expected<void>{};
  }

  // One pass over the training split: per batch the schedule, forward, loss and backward, and an
  // optimiser step with gradient clipping and an EMA update every `accumulate` iterations. An
  // interrupt between two batches gives nullopt, with interrupted_in_epoch set.
  Expected<std::optional<EpochResult>> train_epoch(train::BatchLoader& loader, train::TrainSchedule& schedule, int epoch) {
    loader.start_epoch(epoch, epoch < m_options.epochs - m_options.close_mosaic);
    m_model->train();
    const auto started = Clock::now();
    std::optional<Progress> progress;
    if (writes()) progress.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(m_options.epochs), m_batches, "batches");
    auto& optimizer = schedule.optimizer();
    double box = 0, cls = 0, dfl = 0, images = 0;
    std::int64_t i = 0;
    const auto waited_before = m_parallel.all_reduce_wait();
    double backward_seconds = 0;
    while (true) {
      if (!distributed() && interrupt::requested()) {
        m_report.interrupted_in_epoch = epoch + 1;
        return std::nullopt;
      }
      auto batch = loader.next();
      if (!batch) return std::unexpected(batch.error());
      if (!*batch) break;
      const std::int64_t iteration = i + m_batches * epoch;
      const int accumulate = schedule.begin_iteration(iteration, epoch);
      auto loss = batch_loss(**batch);
      const auto backward_started = Clock::now();
      if (auto ok = m_parallel.backward(loss.total); !ok) return std::unexpected(ok.error());
      backward_seconds += seconds_since(backward_started);
      if (iteration - m_last_optimizer_step >= accumulate) {
        if (m_options.grad_clip > 0) torch::nn::utils::clip_grad_norm_(m_model->parameters(), m_options.grad_clip);
        optimizer.step();
        optimizer.zero_grad();
        m_ema->update(*m_model);
        m_last_optimizer_step = iteration;
      }
      // The ranks' losses summed give the global batch's; the same all-reduce tells every rank
      // of an interrupt seen by any, so all stop after the same step.
      auto step = agree_on_step(loss);
      if (!step) return std::unexpected(step.error());
      ++i;
      box += (loss.box - box) / static_cast<double>(i);
      cls += (loss.cls - cls) / static_cast<double>(i);
      dfl += (loss.dfl - dfl) / static_cast<double>(i);
      images += static_cast<double>((*batch)->images.size(0) * m_parallel.world_size());
      if (*step) {
        m_report.interrupted_in_epoch = epoch + 1;
        return std::nullopt;
      }
      if (!progress) continue;
      char note[128];
      std::snprintf(note, sizeof note, "box %.3f cls %.3f dfl %.3f %.1f img/s", box, cls, dfl, images / seconds_since(started));
      progress->update(i, note);
    }
    if (progress) progress->finish();
    m_parallel.log_communication(m_parallel.all_reduce_wait() - waited_before, backward_seconds, i);
    EpochResult result;
    result.epoch = epoch + 1;
    result.box_loss = box;
    result.cls_loss = cls;
    result.dfl_loss = dfl;
    result.lr = schedule.learning_rates();
    result.train_seconds = seconds_since(started);
    result.images_per_second = images / std::max(result.train_seconds, 1e-9);
    m_images_trained += images;
    m_train_seconds += result.train_seconds;
    return result;
  }

  // In a data-parallel training the ranks' loss terms become the global batch's (their sum) and
  // true says some rank was interrupted; alone, false.
  Expected<bool> agree_on_step(train::LossResult& loss) {
    std::array<double, 3> terms = {loss.box, loss.cls, loss.dfl};
    auto interrupted = m_parallel.agree_on_step(terms, interrupt::requested());
    if (!interrupted || !distributed()) return interrupted;
    const double ranks = m_parallel.world_size();
    loss.box = terms[0] * ranks;
    loss.cls = terms[1] * ranks;
    loss.dfl = terms[2] * ranks;
    return interrupted;
  }

  // Validates the inference weights after an epoch, adds its metrics to `result` and the report,
  // and writes last.pt, best.pt (when the epoch is the best so far) and results.csv.
  Expected<void> validate_and_save(EpochResult& result, const train::ValidationSet& val, torch::optim::Optimizer& optimizer) {
    const auto started = Clock::now();
    auto evaluated = val.evaluate(inference_model(), m_names, m_options.batch_size);
    if (!evaluated) return std::unexpected(evaluated.error());
    const auto& metrics = *evaluated;
    result.val_seconds = seconds_since(started);
    result.precision = metrics.precision;
    result.recall = metrics.recall;
    result.map50 = metrics.map50;
    result.map50_95 = metrics.map50_95;
    result.fitness = metrics.fitness;
    m_report.epochs.push_back(result);
    const bool best = m_fitness.add(result.epoch, metrics.fitness);
    if (best) {
      m_report.best_epoch = result.epoch;
      m_report.best = metrics;
    }
    m_report.epochs_trained = result.epoch;
    if (auto ok = train::save_checkpoint(m_report.last_pt, inference_model(), meta(result.epoch),
                                         train::TrainingState{m_model.get(), &optimizer});
        !ok) {
      return ok;
    }
    if (best) {
      if (auto ok = train::save_checkpoint(m_report.best_pt, inference_model(), meta(result.epoch)); !ok) return ok;
    }
    if (auto ok = write_results_csv(m_report.results_csv, m_report.epochs); !ok) return ok;
    report_epoch(result, best);
    return {};
  }

  // Early stopping: `patience` epochs without a better fitness end the training before its
  // last epoch.
  bool stops_early(const EpochResult& result) {
    m_report.stopped_early = m_fitness.stops_early(result.epoch, m_options.epochs);
    return m_report.stopped_early;
  }

  // After the last epoch: the best metrics (read from best.pt itself when a resumed run never
  // beat it), their table on stderr, and the plots.
  Expected<void> finish(const train::ValidationSet& val) {
    if (m_report.best.per_class.empty()) {
      auto best = train::load_checkpoint(m_report.best_pt);
      if (best) {
        best->model->to(m_device);
        auto evaluated = val.evaluate(*best->model, m_names, m_options.batch_size);
        if (!evaluated) return std::unexpected(evaluated.error());
        m_report.best = *evaluated;
      }
    }
    std::fprintf(stderr, "%s", format_metrics_table(m_report.best).c_str());
    return write_plots();
  }

  Expected<void> write_plots() {
    std::vector<Series> series = {{"train/box_loss", {}}, {"train/cls_loss", {}}, {"train/dfl_loss", {}},
                                  {"metrics/precision(B)", {}}, {"metrics/recall(B)", {}}, {"metrics/mAP50(B)", {}},
                                  {"metrics/mAP50-95(B)", {}}, {"lr/pg1", {}}};
    for (const auto& e : m_report.epochs) {
      const double values[] = {e.box_loss, e.cls_loss, e.dfl_loss, e.precision, e.recall, e.map50, e.map50_95, e.lr[1]};
      for (size_t k = 0; k < series.size(); ++k) series[k].values.push_back(values[k]);
    }
    auto plots = train::write_training_plots(m_options.run_dir, series, m_report.best);
    if (!plots) return std::unexpected(plots.error());
    m_report.plots = std::move(*plots);
    return {};
  }

  // One line per epoch, on stderr and in the log.
  void report_epoch(const EpochResult& r, bool best) const {
    char line[256];
    std::snprintf(line, sizeof line, "epoch %d/%d  box %.3f cls %.3f dfl %.3f  P %.3f R %.3f mAP50 %.3f mAP50-95 %.3f  %.1f img/s  %.1f+%.1f s%s",
                  r.epoch, m_options.epochs, r.box_loss, r.cls_loss, r.dfl_loss, r.precision, r.recall, r.map50, r.map50_95,
                  r.images_per_second, r.train_seconds, r.val_seconds, best ? "  (best)" : "");
    log::info("train.epoch", line, epoch_json(r));
  }

  YoloTrainOptions m_options;
  EpochCallback m_on_epoch;
  train::DataParallel m_parallel{m_options.data_parallel};
  torch::Device m_device{torch::kCPU};
  train::StepFormat m_step_format;
  std::vector<std::string> m_names;
  train::YoloDetector m_model{nullptr};
  std::unique_ptr<train::ModelEma> m_ema;
  std::optional<train::LoadedCheckpoint> m_resume;  // read once by build_model, used by resume
  std::int64_t m_batches = 0;
  int m_workers = 0;
  int m_start_epoch = 0;
  train::FitnessTracker m_fitness{m_options.patience, "train.yolo.patience"};
  std::int64_t m_last_optimizer_step = -1;  // the iteration of the last optimiser step
  double m_images_trained = 0;                // this run's, for the overall images/s
  double m_train_seconds = 0;
  YoloTrainReport m_report;
};

// `vision val --model best.pt`: the checkpoint on the val split through the trainer's own
// validation, so its figures compare with the epochs'.
Expected<DetectionMetrics> evaluate_checkpoint(const CheckpointValOptions& options) {
  auto device = train::resolve_device(options.device);
  if (!device) return std::unexpected(device.error());
  if (options.threads > 0) train::set_compute_threads(options.threads);
  auto checkpoint = train::load_checkpoint(options.checkpoint);
  if (!checkpoint) return std::unexpected(checkpoint.error());
  auto dataset_options = options.dataset;
  if (dataset_options.class_names.empty()) dataset_options.class_names = checkpoint->meta.names;
  if (dataset_options.class_names != checkpoint->meta.names) {
    return fail(ErrorCode::config, options.checkpoint.string() + " was trained on other classes than class_map.names");
  }
  auto dataset = load_yolo_dataset(dataset_options);
  if (!dataset) return std::unexpected(dataset.error());
  const int img_size = options.img_size > 0 ? options.img_size : checkpoint->meta.img_size;
  auto val = train::ValidationSet::load(dataset->val, img_size);
  if (!val) return std::unexpected(val.error());
  checkpoint->model->to(*device);
  return val->evaluate(*checkpoint->model, dataset->names, options.batch_size);
}

}  // namespace

Expected<YoloTrainReport> train_yolo(const YoloTrainOptions& options, const EpochCallback& on_epoch) {
  try {
    return Trainer(options, on_epoch).run();
  } catch (...) {
    return std::unexpected(train::facade_error("training"));
  }
}

nlohmann::json to_json(const YoloTrainReport& r) {
  return train::training_report_json(r, epoch_json);
}

Expected<DetectionMetrics> validate_checkpoint(const CheckpointValOptions& options) {
  try {
    // A .pt is either kind: a Faster R-CNN weight file says so in its meta record.
    if (train::faster_rcnn::read_weights_meta(options.checkpoint)) return train::validate_faster_rcnn_checkpoint(options);
    return evaluate_checkpoint(options);
  } catch (...) {
    return std::unexpected(train::facade_error("validation of " + options.checkpoint.string()));
  }
}

}  // namespace vision
