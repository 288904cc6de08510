// LibTorch archive files (YOLO checkpoints, Faster R-CNN weights): written through a temporary
// file and a rename, so a crash never leaves half a file; read back through their JSON meta
// record, whose "format" says what the file is. Private to src/train.
#pragma once

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string_view>

#include "vision/core/error.hpp"

namespace vision::train {

// `fill` writes the archive's entries; LibTorch's errors there or in writing become
// ErrorCode::io errors "cannot write <what> <path>: …".
Expected<void> save_archive(const std::filesystem::path& path, std::string_view what,
                            const std::function<void(torch::serialize::OutputArchive&)>& fill);

// The meta record of a loaded archive as a JSON object whose "format" is `format`; otherwise an
// ErrorCode::invalid_data error "<path>: not <what> (<why>)". LibTorch's errors pass through.
Expected<nlohmann::json> read_archive_meta(torch::serialize::InputArchive& archive, const std::filesystem::path& path,
                                           std::string_view what, std::string_view format);

}  // namespace vision::train
