/* The status type: a heap-allocated (code, message) pair; NULL is OK.
 * Out-of-memory while making a status falls back to one constant object that
 * bertc_status_free recognizes and never frees. */
#include "bertc/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bertc_status_s {
  bertc_status_code_t code;
  char *message;
};

static char oom_message[] = "out of memory";
static struct bertc_status_s oom_status = {BERTC_STATUS_OUT_OF_MEMORY,
                                           oom_message};

bertc_status_t bertc_status_makev(bertc_status_code_t code, const char *fmt,
                                  va_list ap) {
  if (code == BERTC_STATUS_OK) return BERTC_OK;
  bertc_status_t s = malloc(sizeof(*s));
  if (!s) return &oom_status;
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  s->message = malloc((size_t)n + 1);
  if (!s->message) {
    free(s);
    return &oom_status;
  }
  vsnprintf(s->message, (size_t)n + 1, fmt, ap);
  s->code = code;
  return s;
}

bertc_status_t bertc_status_make(bertc_status_code_t code, const char *fmt,
                                 ...) {
  va_list ap;
  va_start(ap, fmt);
  bertc_status_t s = bertc_status_makev(code, fmt, ap);
  va_end(ap);
  return s;
}

bertc_status_t bertc_status_annotate(bertc_status_t status, const char *fmt,
                                     ...) {
  if (!status || status == &oom_status) return status;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return status;
  size_t old = strlen(status->message);
  char *m = malloc((size_t)n + 2 + old + 1);
  if (!m) return status;
  va_start(ap, fmt);
  vsnprintf(m, (size_t)n + 1, fmt, ap);
  va_end(ap);
  memcpy(m + n, ": ", 2);
  memcpy(m + n + 2, status->message, old + 1);
  free(status->message);
  status->message = m;
  return status;
}

bertc_status_code_t bertc_status_code(bertc_status_t status) {
  return status ? status->code : BERTC_STATUS_OK;
}

const char *bertc_status_message(bertc_status_t status) {
  return status ? status->message : "OK";
}

const char *bertc_status_code_name(bertc_status_code_t code) {
  switch (code) {
  case BERTC_STATUS_OK: return "ok";
  case BERTC_STATUS_INVALID_ARGUMENT: return "invalid argument";
  case BERTC_STATUS_NOT_FOUND: return "not found";
  case BERTC_STATUS_IO: return "i/o error";
  case BERTC_STATUS_DATA: return "malformed data";
  case BERTC_STATUS_UNSUPPORTED: return "unsupported";
  case BERTC_STATUS_OUT_OF_MEMORY: return "out of memory";
  case BERTC_STATUS_INTERNAL: return "internal error";
  case BERTC_STATUS_INCOMPATIBLE: return "incompatible";
  }
  return "unknown";
}

void bertc_status_free(bertc_status_t status) {
  if (!status || status == &oom_status) return;
  free(status->message);
  free(status);
}
