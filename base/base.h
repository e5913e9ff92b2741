/* The base layer shared by every part: checked size arithmetic for sizes that
 * come from files, allocation into a status, whole-file reading / read-only
 * mapping / atomic writing, hashing, timing and host facts. Internal header
 * (not installed); its names carry the base_ prefix, not the public bertc_. */
#ifndef BERTC_BASE_H
#define BERTC_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bertc/status.h"

#define BASE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Checked arithmetic: return false on overflow (the result is then unset). */
static inline bool base_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}
static inline bool base_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
  return !__builtin_add_overflow(a, b, out);
}
static inline bool base_mul_size(size_t a, size_t b, size_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}
static inline bool base_add_size(size_t a, size_t b, size_t *out) {
  return !__builtin_add_overflow(a, b, out);
}
static inline uint64_t base_align_up(uint64_t v, uint64_t align) {
  return (v + align - 1) / align * align;
}

/* The out-of-memory status ("out of memory"). */
bertc_status_t base_oom(void) BERTC_MUST_USE;
/* calloc/malloc that turn failure into a status. */
bertc_status_t base_alloc(size_t size, void **out) BERTC_MUST_USE;
bertc_status_t base_calloc(size_t n, size_t size, void **out) BERTC_MUST_USE;
/* strdup into a status. */
bertc_status_t base_strdup(const char *s, char **out) BERTC_MUST_USE;

/* Reads a whole file into a NUL-terminated heap buffer. `max_size` caps it
 * (an error names the file). */
bertc_status_t base_read_file(const char *path, size_t max_size, char **out_data,
                               size_t *out_size) BERTC_MUST_USE;

/* A read-only mapping of a whole file (empty files map to a NULL base). */
typedef struct base_mapped_file {
  const uint8_t *data;
  size_t size;
} base_mapped_file_t;
bertc_status_t base_map_file(const char *path, base_mapped_file_t *out) BERTC_MUST_USE;
void base_unmap_file(base_mapped_file_t *file);

bool base_file_exists(const char *path);
/* Joins a directory and a relative name into a new heap string. */
bertc_status_t base_path_join(const char *dir, const char *name, char **out) BERTC_MUST_USE;

/* Writes `size` bytes to `path` atomically: a temporary file in the same
 * directory, fsync, rename. On error nothing is left behind. */
bertc_status_t base_write_file_atomic(const char *path, const void *data,
                                       size_t size) BERTC_MUST_USE;

/* A fast 64-bit content hash (not cryptographic) used for the weights check. */
uint64_t base_hash64(const void *data, size_t size);

/* Maps the pages of [p, p + size) into the process now, in one system call
 * per range, instead of one page fault at a time on first use: for reading
 * (the weights: file pages already in the page cache) or for writing (fresh
 * buffers). A hint: does nothing where the kernel lacks MADV_POPULATE_*
 * (Linux < 5.14) or refuses. */
void base_populate(const void *p, size_t size, bool write);

/* Seconds on the monotonic clock (for durations). */
double base_now_seconds(void);

/* The thread count "0 = all cores" resolves to: OMP_NUM_THREADS when it is a
 * number in 1..1024 (the knob users of other engines already set), else the
 * CPUs this process may run on. */
int32_t base_default_threads(void);

#endif
