// A model's state_dict as the lines of tests/data/faster_rcnn/<variant>_state.txt
// ("name shape param|buffer", bench/faster_rcnn/torchvision_reference.py's listing), so tests
// can compare names and shapes with torchvision's.
#pragma once

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace vision::train::faster_rcnn::testing {

inline std::string shape_text(const torch::Tensor& t) {
  if (t.dim() == 0) return "scalar";
  std::string text;
  for (const auto size : t.sizes()) text += (text.empty() ? "" : "x") + std::to_string(size);
  return text;
}

// torchvision's entries of a variant built with 3 classes (background included) whose names
// start with `prefix`.
inline std::set<std::string> torchvision_state(const std::string& variant, const std::string& prefix = "") {
  std::ifstream in(std::string(VISION_SOURCE_DIR) + "/tests/data/faster_rcnn/" + variant + "_state.txt");
  std::set<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) lines.insert(line);
  }
  return lines;
}

// The module's entries, each name behind `prefix` (the module's name inside the whole model).
inline std::set<std::string> module_state(torch::nn::Module& module, const std::string& prefix = "") {
  std::set<std::string> lines;
  for (const auto& p : module.named_parameters()) lines.insert(prefix + p.key() + " " + shape_text(p.value()) + " param");
  for (const auto& b : module.named_buffers()) lines.insert(prefix + b.key() + " " + shape_text(b.value()) + " buffer");
  return lines;
}

// Expects both listings to hold the same entries, naming those only one side has.
inline void expect_same_state(const std::set<std::string>& torchvision, const std::set<std::string>& ours,
                              const std::string& variant) {
  std::vector<std::string> missing, extra;
  std::ranges::set_difference(torchvision, ours, std::back_inserter(missing));
  std::ranges::set_difference(ours, torchvision, std::back_inserter(extra));
  EXPECT_EQ(missing, std::vector<std::string>{}) << variant << ": torchvision's entries we lack";
  EXPECT_EQ(extra, std::vector<std::string>{}) << variant << ": entries torchvision lacks";
}

inline int64_t parameter_count(torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& p : module.parameters()) count += p.numel();
  return count;
}

}  // namespace vision::train::faster_rcnn::testing
