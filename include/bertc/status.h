/* bertc status: the one error type shared by the compiler and the runtime.
 *
 * OK is the NULL pointer, so checking a result costs one compare. An error is
 * a heap object with a code and a formatted message; context is added as it
 * propagates ("model.safetensors: tensor 'x' ...: while loading DIR").
 * Whoever receives a non-NULL status owns it and must free it (or return it). */
#ifndef BERTC_STATUS_H
#define BERTC_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bertc_status_code_e {
  BERTC_STATUS_OK = 0,
  BERTC_STATUS_INVALID_ARGUMENT = 1, /* a caller passed a bad value */
  BERTC_STATUS_NOT_FOUND = 2,        /* a file, tensor or key is missing */
  BERTC_STATUS_IO = 3,               /* open/read/write/mmap failed */
  BERTC_STATUS_DATA = 4,             /* a file's contents are malformed */
  BERTC_STATUS_UNSUPPORTED = 5,      /* valid, but bertc does not support it */
  BERTC_STATUS_OUT_OF_MEMORY = 6,
  BERTC_STATUS_INTERNAL = 7,         /* a bug in bertc */
  BERTC_STATUS_INCOMPATIBLE = 8,     /* ABI version, CPU features, weights hash */
} bertc_status_code_t;

typedef struct bertc_status_s *bertc_status_t;

#define BERTC_OK ((bertc_status_t)0)

#if defined(__GNUC__)
#define BERTC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define BERTC_MUST_USE __attribute__((warn_unused_result))
#else
#define BERTC_PRINTF(a, b)
#define BERTC_MUST_USE
#endif

/* Makes an error with a printf-style message. Never returns NULL for a
 * non-OK code: when memory runs out a static out-of-memory status is used. */
bertc_status_t bertc_status_make(bertc_status_code_t code, const char *fmt, ...)
    BERTC_PRINTF(2, 3) BERTC_MUST_USE;
bertc_status_t bertc_status_makev(bertc_status_code_t code, const char *fmt,
                                  va_list ap) BERTC_MUST_USE;

/* Prefixes context to an error's message ("<context>: <message>") and returns
 * it. OK passes through untouched. */
bertc_status_t bertc_status_annotate(bertc_status_t status, const char *fmt,
                                     ...) BERTC_PRINTF(2, 3) BERTC_MUST_USE;

bertc_status_code_t bertc_status_code(bertc_status_t status);
/* The message; "OK" for OK. Valid until the status is freed. */
const char *bertc_status_message(bertc_status_t status);
const char *bertc_status_code_name(bertc_status_code_t code);
void bertc_status_free(bertc_status_t status);

/* Propagation helpers for library code. */
#define BERTC_RETURN_IF_ERROR(expr)                                            \
  do {                                                                         \
    bertc_status_t bertc_status_tmp_ = (expr);                                 \
    if (bertc_status_tmp_) return bertc_status_tmp_;                           \
  } while (0)

#define BERTC_RETURN_IF_ERROR_CTX(expr, ...)                                   \
  do {                                                                         \
    bertc_status_t bertc_status_tmp_ = (expr);                                 \
    if (bertc_status_tmp_)                                                     \
      return bertc_status_annotate(bertc_status_tmp_, __VA_ARGS__);            \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
