// The thread count of LibTorch's CPU pool and of OpenBLAS, set together (compute_threads.hpp).
#include "compute_threads.hpp"

#include <ATen/Parallel.h>
#include <dlfcn.h>

namespace vision::train {

void set_compute_threads(int threads) {
  at::set_num_threads(threads);
  // OpenBLAS ignores at::set_num_threads and starts one busy-waiting thread per core: on a
  // shared 2-core machine a 1-thread Faster R-CNN step took 12.7 s instead of 1.8 s. Looked up
  // at run time because LibTorch reaches BLAS through libblas.so.3, whichever library that is.
  using SetThreads = void (*)(int);
  if (auto* set_blas_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas_threads(threads);
}

}  // namespace vision::train
