// Bucketed, overlapped gradient all-reduce through c10d::Reducer, set up as
// DistributedDataParallel sets it up (bucket assignment, reversed order, bucket rebuild).
#include "gradient_reducer.hpp"

#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <format>

namespace vision::train {

GradientReducer::GradientReducer(DistributedGroup& group, std::unique_ptr<c10d::Reducer> reducer)
    : m_group(group), m_reducer(std::move(reducer)) {}

GradientReducer::~GradientReducer() = default;

Expected<std::unique_ptr<GradientReducer>> GradientReducer::create(
    DistributedGroup& group, std::vector<at::Tensor> parameters, std::int64_t bucket_bytes) {
  try {
    c10d::verify_params_across_processes(group.backend(), parameters, std::nullopt);
    const std::vector<bool> dense(parameters.size(), false);
    // A small first bucket starts communication early in backward; DDP hands the buckets to the
    // Reducer in reverse, the order backward produces gradients in.
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
        parameters,
        {static_cast<std::size_t>(c10d::kDefaultFirstBucketBytes),
         static_cast<std::size_t>(bucket_bytes)},
        dense);
    std::ranges::reverse(buckets);
    std::ranges::reverse(limits);
    auto reducer = std::make_unique<c10d::Reducer>(
        std::move(parameters), std::move(buckets), limits, group.backend(), dense, bucket_bytes,
        /*find_unused_parameters=*/false,
        /*gradient_as_bucket_view=*/false, std::unordered_map<std::size_t, std::string>{},
        c10d::kDefaultFirstBucketBytes);
    return std::unique_ptr<GradientReducer>(new GradientReducer(group, std::move(reducer)));
  } catch (...) {
    return std::unexpected(distributed_error(
        std::format("gradient reducer setup (rank {})", group.rank()), group.timeout()));
  }
}

Expected<void> GradientReducer::backward(const at::Tensor& loss) {
  try {
    // After the first step the buckets follow the order gradients actually arrived in (once,
    // agreed with rank 0), as DDP does before each forward.
    m_reducer->rebuild_buckets();
    m_reducer->prepare_for_backward({loss});
    loss.backward();
  } catch (...) {
    return std::unexpected(distributed_error(
        std::format("gradient all-reduce (rank {})", m_group.rank()), m_group.timeout()));
  }
  return {};
}

}  // namespace vision::train
