// The temporary-file-and-rename write shared by every archive src/train saves.
#include "archive_file.hpp"

#include <torch/torch.h>

#include <string>
#include <system_error>

namespace vision::train {

Expected<void> save_archive(const std::filesystem::path& path, std::string_view what,
                            const std::function<void(torch::serialize::OutputArchive&)>& fill) {
  const auto cannot = [&](const std::string& why) {
    return fail(ErrorCode::io, "cannot write " + std::string(what) + " " + path.string() + ": " + why);
  };
  auto temporary = path;
  temporary += ".tmp";
  try {
    torch::serialize::OutputArchive archive;
    fill(archive);
    archive.save_to(temporary.string());
  } catch (const c10::Error& e) {
    return cannot(e.what_without_backtrace());
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return cannot(ec.message());
  return {};
}

}  // namespace vision::train
