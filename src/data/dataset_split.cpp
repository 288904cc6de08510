// The hash split of a labeled folder into train and val.
#include "vision/data/dataset_split.hpp"

#include <algorithm>
#include <cstdint>

namespace vision {

namespace {

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

}  // namespace

bool in_val_split(const std::string& key, double val_fraction) {
  return static_cast<double>(fnv1a(key) % 10000) < val_fraction * 10000.0;
}

std::vector<bool> val_split(const std::vector<std::string>& keys, double val_fraction) {
  std::vector<bool> is_val(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) is_val[i] = in_val_split(keys[i], val_fraction);
  if (keys.size() < 2) return is_val;
  const auto val_count = std::ranges::count(is_val, true);
  const bool move_to_val = val_fraction > 0 && val_count == 0;
  const bool move_to_train = val_count == static_cast<std::ptrdiff_t>(keys.size());
  if (move_to_val || move_to_train) {
    for (size_t i = keys.size(); i-- > 0;) {
      if (is_val[i] != move_to_val) {
        is_val[i] = move_to_val;
        break;
      }
    }
  }
  return is_val;
}

}  // namespace vision
