// The shared ONNX Runtime environment and the std::cerr guard its start-up needs.
#include "vision/infer/ort_env.hpp"

#include <iostream>

#include <onnxruntime_cxx_api.h>

namespace vision {

MutedCerr::MutedCerr() : m_saved(std::cerr.rdbuf(nullptr)) {}

MutedCerr::~MutedCerr() { std::cerr.rdbuf(m_saved); }

Ort::Env& ort_env() {
  static Ort::Env env = [] {
    MutedCerr mute;
    return Ort::Env(ORT_LOGGING_LEVEL_WARNING, "vision");
  }();
  return env;
}

}  // namespace vision
