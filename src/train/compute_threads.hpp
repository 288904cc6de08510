// One thread count for all of LibTorch's CPU work: its own intra-op pool and the BLAS library
// its matrix products call, which keeps a pool of its own. Private to src/train.
#pragma once

namespace vision::train {

// at::set_num_threads(threads), and the same count for OpenBLAS when LibTorch's BLAS is
// OpenBLAS (Debian's libblas.so.3 alternative); other BLAS libraries are left as they are.
void set_compute_threads(int threads);

}  // namespace vision::train
