// The backend-independent parts of a training loop (see training_run.hpp).
#include "training_run.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "compute_threads.hpp"
#include "vision/core/exception_error.hpp"
#include "vision/core/log.hpp"
#include "vision/core/run.hpp"

namespace vision::train {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

Expected<torch::Device> resolve_device(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "mps") {
    return fail(ErrorCode::not_in_build, "train.device = \"mps\": this build of vision has no Apple GPU support; use \"cpu\"");
  }
  const bool numeric = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (name.starts_with("cuda") || numeric) {
    if (!torch::cuda::is_available()) {
      return fail(ErrorCode::not_in_build, "train.device = \"" + name +
                                               "\": this build of LibTorch has no CUDA, or no GPU is visible; use \"cpu\"");
    }
    const int index = numeric ? std::stoi(name) : (name.size() > 5 ? std::stoi(name.substr(5)) : 0);
    if (index >= static_cast<int>(torch::cuda::device_count())) {
      return fail(ErrorCode::config, "train.device = \"" + name + "\": only " + std::to_string(torch::cuda::device_count()) +
                                         " GPU(s) are visible");
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return fail(ErrorCode::config, "train.device = \"" + name + "\": must be cpu, cuda, cuda:N or mps");
}

int set_training_threads(int threads, int workers) {
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const int torch_threads = threads > 0 ? threads : cores;
  set_compute_threads(torch_threads);
  return std::min(workers, std::max(0, cores - torch_threads));
}

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.5g", value);
  return text;
}

Expected<void> write_results_csv(const std::filesystem::path& path, const std::vector<std::string>& columns,
                                 const std::vector<ResultsRow>& rows) {
  std::string text;
  for (const auto& column : columns) text += (text.empty() ? "" : ",") + column;
  text += "\n";
  for (const auto& row : rows) {
    text += std::to_string(row.epoch);
    for (double v : row.values) text += "," + format_number(v);
    text += "\n";
  }
  return write_file_atomic(path, text);
}

CheckpointPaths name_checkpoints(const std::filesystem::path& models_dir) {
  std::filesystem::create_directories(models_dir);
  return {models_dir / "best.pt", models_dir / "last.pt"};
}

bool FitnessTracker::add(int epoch, double fitness) {
  if (m_best_epoch != 0 && !(fitness > m_best_fitness)) return false;
  m_best_epoch = epoch;
  m_best_fitness = fitness;
  return true;
}

bool FitnessTracker::stops_early(int epoch, int epochs) const {
  if (m_patience <= 0 || epoch - m_best_epoch < m_patience || epoch >= epochs) return false;
  log::info("train.early_stop", "no improvement for " + std::to_string(m_patience) + (m_patience == 1 ? " epoch" : " epochs") +
                                    " (" + m_patience_key + "); best epoch " + std::to_string(m_best_epoch));
  return true;
}

Expected<std::vector<std::filesystem::path>> write_training_plots(const std::filesystem::path& run_dir,
                                                                  const std::vector<Series>& series,
                                                                  const DetectionMetrics& best) {
  const auto results = run_dir / "results.png";
  const auto pr = run_dir / "PR_curve.png";
  const auto confusion = run_dir / "confusion_matrix.png";
  if (auto ok = write_results_plot(results, series); !ok) return std::unexpected(ok.error());
  if (auto ok = write_pr_curve_plot(pr, best); !ok) return std::unexpected(ok.error());
  if (auto ok = write_confusion_matrix_plot(confusion, best); !ok) return std::unexpected(ok.error());
  return std::vector<std::filesystem::path>{results, pr, confusion};
}

void forget_unwritten_checkpoints(std::filesystem::path& best, std::filesystem::path& last) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(last, ec)) last.clear();
  if (!std::filesystem::is_regular_file(best, ec)) best.clear();
}

Expected<void> carry_resume_over(const std::filesystem::path& resume_from, const std::filesystem::path& models_dir,
                                 int epochs_done, int epochs, int best_epoch) {
  if (epochs_done >= epochs) {
    return fail(ErrorCode::config, "cannot resume from " + resume_from.string() + ": it already finished " +
                                       std::to_string(epochs_done) + " of train.epochs = " + std::to_string(epochs));
  }
  const auto earlier_best = resume_from.parent_path() / "best.pt";
  std::error_code ec;
  if (best_epoch > 0 && std::filesystem::is_regular_file(earlier_best, ec)) {
    std::filesystem::create_directories(models_dir);
    std::filesystem::copy_file(earlier_best, models_dir / "best.pt", std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return fail(ErrorCode::io, "cannot copy " + earlier_best.string() + " to " + models_dir.string() + ": " + ec.message());
  }
  return {};
}

Error facade_error(const std::string& step) {
  try {
    throw;
  } catch (const c10::Error& e) {
    return {ErrorCode::runtime, step + " failed in LibTorch: " + e.what_without_backtrace()};
  } catch (...) {
    return error_from_current_exception(step + " failed");
  }
}

}  // namespace vision::train
