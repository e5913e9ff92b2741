/* File and memory helpers behind base/base.h. Every failure becomes a
 * status that names the file and the reason (strerror). */
#define _GNU_SOURCE
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

bertc_status_t base_alloc(size_t size, void **out) {
  *out = malloc(size ? size : 1);
  if (!*out)
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY,
                             "out of memory allocating %zu bytes", size);
  return BERTC_OK;
}

bertc_status_t base_calloc(size_t n, size_t size, void **out) {
  *out = calloc(n ? n : 1, size ? size : 1);
  if (!*out)
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY,
                             "out of memory allocating %zu x %zu bytes", n, size);
  return BERTC_OK;
}

bertc_status_t base_strdup(const char *s, char **out) {
  size_t n = strlen(s) + 1;
  BERTC_RETURN_IF_ERROR(base_alloc(n, (void **)out));
  memcpy(*out, s, n);
  return BERTC_OK;
}

/* Opens a regular file for reading: *out_fd and its stat, or an error that
 * names the file. */
static bertc_status_t open_regular(const char *path, int *out_fd, struct stat *out_st) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return bertc_status_make(errno == ENOENT ? BERTC_STATUS_NOT_FOUND : BERTC_STATUS_IO,
                             "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, out_st) != 0 || !S_ISREG(out_st->st_mode)) {
    close(fd);
    return bertc_status_make(BERTC_STATUS_IO, "%s: not a regular file", path);
  }
  *out_fd = fd;
  return BERTC_OK;
}

bertc_status_t base_read_file(const char *path, size_t max_size, char **out_data,
                               size_t *out_size) {
  *out_data = NULL;
  if (out_size) *out_size = 0;
  int fd;
  struct stat st;
  BERTC_RETURN_IF_ERROR(open_regular(path, &fd, &st));
  if ((uint64_t)st.st_size > max_size) {
    close(fd);
    return bertc_status_make(BERTC_STATUS_DATA,
                             "%s: file is %lld bytes, more than the %zu allowed", path,
                             (long long)st.st_size, max_size);
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  size_t got = 0;
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(buf);
      close(fd);
      return bertc_status_make(BERTC_STATUS_IO, "%s: read failed: %s", path,
                               r < 0 ? strerror(errno) : "unexpected end of file");
    }
    got += (size_t)r;
  }
  close(fd);
  buf[size] = '\0';
  *out_data = buf;
  if (out_size) *out_size = size;
  return BERTC_OK;
}

bertc_status_t base_map_file(const char *path, base_mapped_file_t *out) {
  out->data = NULL;
  out->size = 0;
  int fd;
  struct stat st;
  BERTC_RETURN_IF_ERROR(open_regular(path, &fd, &st));
  if (st.st_size == 0) {
    close(fd);
    return BERTC_OK;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED)
    return bertc_status_make(BERTC_STATUS_IO, "%s: mmap failed: %s", path, strerror(err));
  out->data = p;
  out->size = (size_t)st.st_size;
  return BERTC_OK;
}

void base_unmap_file(base_mapped_file_t *file) {
  if (file->data) munmap((void *)file->data, file->size);
  file->data = NULL;
  file->size = 0;
}

bool base_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

bertc_status_t base_path_join(const char *dir, const char *name, char **out) {
  size_t a = strlen(dir), b = strlen(name);
  BERTC_RETURN_IF_ERROR(base_alloc(a + b + 2, (void **)out));
  memcpy(*out, dir, a);
  size_t n = a;
  if (a && dir[a - 1] != '/') (*out)[n++] = '/';
  memcpy(*out + n, name, b + 1);
  return BERTC_OK;
}

bertc_status_t base_write_file_atomic(const char *path, const void *data,
                                       size_t size) {
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    bertc_status_t s = bertc_status_make(BERTC_STATUS_IO, "%s: cannot create: %s",
                                         path, strerror(errno));
    free(tmp);
    return s;
  }
  const uint8_t *p = data;
  size_t left = size;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      bertc_status_t s = bertc_status_make(BERTC_STATUS_IO, "%s: write failed: %s",
                                           path, strerror(errno));
      close(fd);
      unlink(tmp);
      free(tmp);
      return s;
    }
    p += w;
    left -= (size_t)w;
  }
  fchmod(fd, 0644);
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    bertc_status_t s =
        bertc_status_make(BERTC_STATUS_IO, "%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    free(tmp);
    return s;
  }
  free(tmp);
  return BERTC_OK;
}

/* Four independent 64-bit multiply-xorshift lanes over 32-byte blocks, then a
 * tail, then a final avalanche: several GB/s, deterministic, endian-fixed for
 * our little-endian targets. */
uint64_t base_hash64(const void *data, size_t size) {
  const uint8_t *p = data;
  const uint64_t k = 0x9E3779B97F4A7C15ull;
  uint64_t h[4] = {k, k ^ 0x1234567ull, k ^ 0xABCDEF01ull, k ^ 0x55AA55AAull};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    for (int l = 0; l < 4; l++) {
      uint64_t w;
      memcpy(&w, p + i + 8 * l, 8);
      h[l] = (h[l] ^ w) * 0xFF51AFD7ED558CCDull;
      h[l] ^= h[l] >> 29;
    }
  }
  uint64_t r = h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7) ^ (uint64_t)size;
  for (; i < size; i++) r = (r ^ p[i]) * 0x100000001B3ull;
  r ^= r >> 33;
  r *= 0xC4CEB9FE1A85EC53ull;
  r ^= r >> 33;
  return r;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void base_populate(const void *p, size_t size, bool write) {
  long page = sysconf(_SC_PAGESIZE);
  if (!p || !size || page <= 0) return;
  uintptr_t begin = (uintptr_t)p / (uintptr_t)page * (uintptr_t)page;
  uintptr_t end = (uintptr_t)p + size;
  /* only whole pages inside the range for writing: a page it shares with
   * other data is populated by its first use as before */
  if (write) {
    begin = ((uintptr_t)p + (uintptr_t)page - 1) / (uintptr_t)page * (uintptr_t)page;
    end = end / (uintptr_t)page * (uintptr_t)page;
    if (end <= begin) return;
  }
  (void)madvise((void *)begin, end - begin, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

bertc_status_t base_oom(void) {
  return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
}

double base_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int32_t base_default_threads(void) {
  const char *s = getenv("OMP_NUM_THREADS");
  if (s && *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if ((!*end || *end == ',') && !errno && v >= 1 && v <= 1024) return (int32_t)v;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n > 1024 ? 1024 : n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int32_t)n;
}

