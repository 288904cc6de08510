// Writing a LibTorch archive file (YOLO checkpoints, Faster R-CNN weights) through a temporary
// file and a rename, so a crash never leaves half a file. Private to src/train.
#pragma once

#include <torch/serialize/output-archive.h>

#include <filesystem>
#include <functional>
#include <string_view>

#include "vision/core/error.hpp"

namespace vision::train {

// `fill` writes the archive's entries; LibTorch's errors there or in writing become
// ErrorCode::io errors "cannot write <what> <path>: …".
Expected<void> save_archive(const std::filesystem::path& path, std::string_view what,
                            const std::function<void(torch::serialize::OutputArchive&)>& fill);

}  // namespace vision::train
