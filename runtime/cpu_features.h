/* Host CPU features versus the LLVM feature string a model was compiled with.
 * Internal header (not installed). */
#ifndef BERTC_RUNTIME_CPU_FEATURES_H
#define BERTC_RUNTIME_CPU_FEATURES_H

#include "bertc/status.h"

/* 1 when the host can execute instructions of the LLVM feature `name` (e.g.
 * "avx512f", "amx-tile"), 0 when it cannot, -1 when bertc does not know the
 * feature (tuning flags such as "prefer-256-bit", or a non-x86 host). */
int rt_cpu_has_feature(const char *name);

/* Checks every "+feature" of `features` (comma separated, as LLVM writes them;
 * "-feature" entries and unknown names are ignored). On failure the message
 * lists what the host lacks: "compiled for cpu 'znver5' with +avx512f, this
 * host lacks avx512f". NULL or empty strings pass. */
bertc_status_t rt_cpu_check_features(const char *target_cpu,
                                     const char *features) BERTC_MUST_USE;

#endif
