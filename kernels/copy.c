/* Strided block copies (concatenation, slices of packed tensors).
 * A task covers rows [task*rows_per_task, ...). */
#include <string.h>

#include "kernels/kernels.h"

void bk_copy_cols(const bertc_env_t *env, int64_t task, const float *src, float *dst,
                  int64_t rows_per_task, int64_t rows, int64_t src_ld, int64_t dst_ld,
                  int64_t ncols) {
  (void)env;
  int64_t r1 = rows < (task + 1) * rows_per_task ? rows : (task + 1) * rows_per_task;
  for (int64_t r = task * rows_per_task; r < r1; r++)
    memcpy(dst + r * dst_ld, src + r * src_ld, (size_t)ncols * sizeof(float));
}
