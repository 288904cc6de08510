// Nearest-rank quantiles for latency reports.
#pragma once

#include <algorithm>
#include <vector>

namespace vision {

// The q-quantile (0..1) of `values`, nearest rank; 0 for no values.
inline double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::ranges::sort(values);
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(rank, values.size() - 1)];
}

}  // namespace vision
