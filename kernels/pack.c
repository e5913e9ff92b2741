/* Weight packing for bk_gemm, run at compile time.
 *
 * A linear weight w[N,K] (PyTorch layout) becomes ceil(N/32) panels, each
 * [K][32]: panel p holds columns p*32 .. p*32+31 of w^T, row by row, so the
 * micro-kernel reads one contiguous 128-byte row of B per step of K. Columns
 * past N are zero, which lets edge tiles compute a full panel and store the
 * valid part. */
#include "kernels/kernels.h"

int64_t bk_packed_floats(int64_t n, int64_t k) {
  return (n + BK_GEMM_NR - 1) / BK_GEMM_NR * BK_GEMM_NR * k;
}

void bk_pack_weights(const float *w, int64_t n, int64_t k, float *out) {
  int64_t panels = (n + BK_GEMM_NR - 1) / BK_GEMM_NR;
  for (int64_t p = 0; p < panels; p++) {
    float *panel = out + p * k * BK_GEMM_NR;
    for (int64_t kk = 0; kk < k; kk++) {
      for (int64_t c = 0; c < BK_GEMM_NR; c++) {
        int64_t col = p * BK_GEMM_NR + c;
        panel[kk * BK_GEMM_NR + c] = col < n ? w[col * k + kk] : 0.0f;
      }
    }
  }
}
