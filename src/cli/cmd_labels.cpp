// `vision labels import`: bring the Python original's flat labeled folder into Vision's
// trainable layout (data.labeled_dir, or --to).
#include <cstdio>
#include <format>

#include "common.hpp"
#include "vision/autolabel/label_import.hpp"

namespace fs = std::filesystem;

namespace vision::cli {

namespace {

struct LabelsImportOptions {
  CommonOptions common;
  std::string from;
  std::string to;  // empty: data.labeled_dir
  std::string link = "copy";
  std::string on_conflict = "skip";
};

std::string counted(const std::map<std::string, std::int64_t>& counts) {
  std::string text;
  for (const auto& [name, count] : counts) text += std::format("{}{} {}", text.empty() ? "" : ", ", name, count);
  return text;
}

// One line on stdout, e.g. "labels import: 12 records, 10 imported (10 new); 2 skipped
// (image_missing 2); image_path resolved: cwd 4, record_folder 6; 25 boxes: circle 7, …; saved to …".
void print_import_summary(const LabelImportReport& report, const fs::path& to) {
  std::string line = std::format("labels import: {} records, {} imported ({} new, {} overwritten, {} merged)",
                                 report.records, report.imported(), report.counts.created, report.counts.overwritten,
                                 report.counts.merged);
  if (report.skipped > 0) line += std::format("; {} skipped ({})", report.skipped, counted(report.skipped_by_reason));
  if (!report.image_paths_resolved.empty()) line += "; image_path resolved: " + counted(report.image_paths_resolved);
  std::int64_t boxes = 0;
  for (const auto& [name, count] : report.detections_per_class) boxes += count;
  line += std::format("; {} boxes", boxes);
  if (boxes > 0) line += ": " + counted(report.detections_per_class);
  if (report.imported() > 0) line += "; saved to " + to.string();
  std::printf("%s\n", line.c_str());
}

Expected<void> import_labels(Run& run, const LabelsImportOptions& flags) {
  const Config& c = run.config();
  auto transfer = parse_image_transfer(flags.link, "--link");
  if (!transfer) return std::unexpected(transfer.error());
  auto on_conflict = parse_on_conflict(flags.on_conflict);
  if (!on_conflict) return std::unexpected(on_conflict.error());
  LabelImportOptions options;
  options.from = fs::absolute(flags.from).lexically_normal();
  options.to = flags.to.empty() ? c.path("data.labeled_dir") : fs::absolute(flags.to).lexically_normal();
  options.unlabeled_dir = c.path("data.unlabeled_dir");
  options.class_names = c.class_names();
  options.image_transfer = *transfer;
  options.on_conflict = *on_conflict;
  options.val_fraction = c.number("autolabel.val_fraction");
  run.artifacts()["from"] = options.from.string();
  run.artifacts()["link"] = flags.link;
  run.artifacts()["on_conflict"] = flags.on_conflict;
  auto report = import_flat_labels(options);
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report, options.to));
  print_import_summary(*report, options.to);
  // Not one record could be used: the wrong folder, or records of another machine's paths.
  if (report->imported() == 0 && !report->skipped_by_reason.contains("already_in_target") && !report->interrupted) {
    return fail(ErrorCode::invalid_data, "no record of " + options.from.string() + " could be imported (" +
                                             counted(report->skipped_by_reason) + "): " + report->skipped_records.front());
  }
  return {};
}

int run_labels_import(const LabelsImportOptions& options) {
  return run_command(
      options.common, "labels-import", [](const Config&) { return RunSpec{"labels-import", "", ""}; },
      [options](const Config&) { return require_path(options.from, "--from", true); },
      [options](Run& run) { return import_labels(run, options); });
}

}  // namespace

void add_labels_command(CLI::App& app, Action& action) {
  auto* labels = app.add_subcommand("labels", "Work on labeled data sets");
  labels->require_subcommand(1);
  auto options = std::make_shared<LabelsImportOptions>();
  auto* command = labels->add_subcommand(
      "import", "Convert the Python original's flat labeled folder (<stem>.json LabelRecords) into Vision's layout");
  add_common_options(*command, options->common);
  command->add_option("--from", options->from, "The flat folder of <stem>.json LabelRecords")->required();
  command->add_option("--to", options->to, "The labeled data set to write; default data.labeled_dir");
  command->add_option("--link", options->link, "How images get into images/: copy, hard (hard link; a copy across "
                                              "file systems) or symlink")
      ->capture_default_str()
      ->check(CLI::IsMember({"copy", "hard", "symlink"}));
  command->add_option("--on-conflict", options->on_conflict,
                     "For an image the target already labels: skip (keep its labels), overwrite or merge")
      ->capture_default_str()
      ->check(CLI::IsMember({"skip", "overwrite", "merge"}));
  command->callback([&action, options] { action = [options] { return run_labels_import(*options); }; });
}

}  // namespace vision::cli
