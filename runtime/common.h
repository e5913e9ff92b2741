/* Small helpers shared by every part: checked size arithmetic for sizes that
 * come from files, and whole-file reading / read-only mapping.
 * Internal header (not installed). */
#ifndef BERTC_COMMON_H
#define BERTC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bertc/status.h"

#define BERTC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Checked arithmetic: return false on overflow (the result is then unset). */
static inline bool bertc_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}
static inline bool bertc_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
  return !__builtin_add_overflow(a, b, out);
}
static inline bool bertc_mul_size(size_t a, size_t b, size_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}
static inline bool bertc_add_size(size_t a, size_t b, size_t *out) {
  return !__builtin_add_overflow(a, b, out);
}
static inline uint64_t bertc_align_up(uint64_t v, uint64_t align) {
  return (v + align - 1) / align * align;
}

/* calloc/malloc that turn failure into a status. */
bertc_status_t bertc_alloc(size_t size, void **out) BERTC_MUST_USE;
bertc_status_t bertc_calloc(size_t n, size_t size, void **out) BERTC_MUST_USE;
/* strdup into a status. */
bertc_status_t bertc_strdup(const char *s, char **out) BERTC_MUST_USE;

/* Reads a whole file into a NUL-terminated heap buffer. `max_size` caps it
 * (an error names the file). */
bertc_status_t bertc_read_file(const char *path, size_t max_size, char **out_data,
                               size_t *out_size) BERTC_MUST_USE;

/* A read-only mapping of a whole file (empty files map to a NULL base). */
typedef struct bertc_mapped_file {
  const uint8_t *data;
  size_t size;
} bertc_mapped_file_t;
bertc_status_t bertc_map_file(const char *path, bertc_mapped_file_t *out) BERTC_MUST_USE;
void bertc_unmap_file(bertc_mapped_file_t *file);

bool bertc_file_exists(const char *path);
/* Joins a directory and a relative name into a new heap string. */
bertc_status_t bertc_path_join(const char *dir, const char *name, char **out) BERTC_MUST_USE;

/* Writes `size` bytes to `path` atomically: a temporary file in the same
 * directory, fsync, rename. On error nothing is left behind. */
bertc_status_t bertc_write_file_atomic(const char *path, const void *data,
                                       size_t size) BERTC_MUST_USE;

/* A fast 64-bit content hash (not cryptographic) used for the weights check. */
uint64_t bertc_hash64(const void *data, size_t size);

/* Maps the pages of [p, p + size) into the process now, in one system call
 * per range, instead of one page fault at a time on first use: for reading
 * (the weights: file pages already in the page cache) or for writing (fresh
 * buffers). A hint: does nothing where the kernel lacks MADV_POPULATE_*
 * (Linux < 5.14) or refuses. */
void bertc_populate(const void *p, size_t size, bool write);

#endif
