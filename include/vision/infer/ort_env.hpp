// The process's one ONNX Runtime environment, shared by the detector and the INT8 quantizer's
// calibration (ONNX Runtime keeps a single environment per process whatever its callers ask).
// Callers link ONNX Runtime themselves; this header only names its types.
#pragma once

#include <iosfwd>

namespace Ort {
struct Env;
}  // namespace Ort

namespace vision {

// Created on first use, at warning level; lives until the process ends.
Ort::Env& ort_env();

// Debian's ONNX Runtime links the shared ONNX library, whose operator schemas are already
// registered when the runtime registers them again on first use; ONNX then prints one harmless
// "Schema error" line per operator to std::cerr. Hold one of these while the environment or a
// session comes up. (Vision writes with stdio, so nothing of its own is lost.)
class MutedCerr {
 public:
  MutedCerr();
  ~MutedCerr();
  MutedCerr(const MutedCerr&) = delete;
  MutedCerr& operator=(const MutedCerr&) = delete;

 private:
  std::streambuf* m_saved;
};

}  // namespace vision
