// Edge mode "local": the inference engine on this machine.
#pragma once

#include <memory>

#include "vision/edge/edge_runner.hpp"
#include "vision/infer/detector.hpp"

namespace vision {

class LocalProcessor final : public FrameProcessor {
 public:
  explicit LocalProcessor(std::unique_ptr<Detector> detector) : m_detector(std::move(detector)) {}
  Expected<FrameResult> process(const Frame& frame) override {
    auto result = m_detector->detect(frame.image);
    if (!result) return std::unexpected(result.error());
    return FrameResult{std::move(result->detections)};
  }
  Detector& detector() { return *m_detector; }

 private:
  std::unique_ptr<Detector> m_detector;
};

}  // namespace vision
