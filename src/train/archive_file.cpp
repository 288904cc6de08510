// The temporary-file-and-rename write and the meta-record check shared by every archive of src/train.
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

Expected<nlohmann::json> read_archive_meta(torch::serialize::InputArchive& archive, const std::filesystem::path& path,
                                           std::string_view what, std::string_view format) {
  const auto bad = [&](const std::string& why) {
    return fail(ErrorCode::invalid_data, path.string() + ": not " + std::string(what) + " (" + why + ")");
  };
  c10::IValue text;
  if (!archive.try_read("meta", text) || !text.isString()) return bad("no meta record");
  auto j = nlohmann::json::parse(text.toStringRef(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("its meta record is not JSON");
  if (j.value("format", "") != format) {
    return bad("format \"" + j.value("format", "") + "\", expected \"" + std::string(format) + "\"");
  }
  return j;
}

}  // namespace vision::train
