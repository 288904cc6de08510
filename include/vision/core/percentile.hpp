// Nearest-rank quantiles for latency reports: the one definition that the edge report, the
// benchmarks, the export report and the statistics stores (whose SQL reads the row at this rank)
// share, so the same latencies give the same p50 everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace vision {

// The textbook nearest rank of the q-quantile (q in 0..1) of n sorted values: the 1-based rank
// ceil(q·n), at least 1 and at most n (1 for n = 0). A product within rounding of a whole number
// counts as whole, so that 0.07 · 100 is rank 7, as the decimal reads, not 8.
inline std::size_t nearest_rank(std::size_t n, double q) {
  const double exact = std::clamp(q, 0.0, 1.0) * static_cast<double>(n);
  const double whole = std::round(exact);
  const double rank = std::abs(exact - whole) <= 1e-9 * std::max(1.0, exact) ? whole : std::ceil(exact);
  return std::clamp(static_cast<std::size_t>(rank), std::size_t{1}, std::max(n, std::size_t{1}));
}

// The q-quantile of `values` at the nearest rank; 0 for no values. For {10, 20} the median is 10.
inline double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::ranges::sort(values);
  return values[nearest_rank(values.size(), q) - 1];
}

}  // namespace vision
