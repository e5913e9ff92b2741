/* Codegen internals shared by the backend's files (not installed).
 *
 *   codegen.c     cg_compile: the driver, and the IR for entries and task wrappers
 *   descriptor.c  the constant bertc_model_descriptor_t and bertc_model_query
 *   target.c      target resolution and the LLVM target machine
 *   link.c        temporary files, the system linker, atomic output
 *   abi_header.c  the C header written by --emit header
 *
 * The build embeds two files into the backend (cmake/EmbedFile.cmake): the
 * kernel library as one LLVM bitcode module, and include/bertc/abi.h. */
#ifndef BERTC_BACKEND_CG_INTERNAL_H
#define BERTC_BACKEND_CG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "backend/program.h"
#include "bertc/status.h"

#ifndef BERTC_VERSION_STRING
#define BERTC_VERSION_STRING "unknown"
#endif

/* Embedded files (NUL-terminated; _size excludes the NUL). */
extern const unsigned char cg_kernels_bc[];
extern const size_t cg_kernels_bc_size;
/* The same kernels built for targets without AVX-512 (16 vector registers):
 * GEMM tiles of BK_GEMM_MR_AVX2 rows (backend/CMakeLists.txt). */
extern const unsigned char cg_kernels_avx2_bc[];
extern const size_t cg_kernels_avx2_bc_size;
extern const unsigned char cg_abi_h[];
extern const size_t cg_abi_h_size;

/* Everything the descriptor records that is not in the program. */
typedef struct cg_artifact_info {
  const char *target_cpu;      /* variants[0]'s */
  const char *target_features;
  const cg_target_t *variants; /* the code variants, best first */
  size_t num_variants;
  bool weights_external;
  const char *weights_file; /* its base name; NULL when embedded or not known */
  uint64_t weights_hash;
  uint64_t arena_size;
} cg_artifact_info_t;

#define CG_WEIGHTS_ALIGN 64u
#define CG_ARENA_ALIGN 64u

/* --- descriptor.c --- */
/* Adds the descriptor global (weights, tables, strings) and the exported
 * bertc_model_query. `entries` holds one entry function per bucket for each
 * variant in turn (num_variants * num_buckets). */
bertc_status_t cg_emit_descriptor(LLVMModuleRef mod, const cg_program_t *p,
                                  const cg_artifact_info_t *info, LLVMValueRef *entries,
                                  LLVMTargetDataRef td) BERTC_MUST_USE;

/* --- target.c --- */
/* Initializes LLVM's native target once per process. */
void cg_llvm_init(void);
/* A target machine for the host triple with this cpu and features. */
/* The feature string LLVM is given for the recorded `features`. On x86-64
 * it always asks for 64-bit mode: a 32-bit CPU name (i686, pentium4) would
 * otherwise be a fatal error inside LLVM. Heap string. */
bertc_status_t cg_llvm_features(const char *features, char **out) BERTC_MUST_USE;

bertc_status_t cg_create_target_machine(const char *cpu, const char *features, int opt_level,
                                        char **out_triple,
                                        LLVMTargetMachineRef *out_tm) BERTC_MUST_USE;

/* --- link.c --- */
/* Writes `size` bytes to a new temporary file beside `final_path`
 * ("<final_path>.tmpXXXXXX<suffix>"); *out_tmp is its heap path. */
bertc_status_t cg_write_temp(const char *final_path, const char *suffix, const void *data,
                             size_t size, char **out_tmp) BERTC_MUST_USE;
/* Reserves a temporary name beside `final_path` (the file exists, empty). */
bertc_status_t cg_make_temp(const char *final_path, const char *suffix,
                            char **out_tmp) BERTC_MUST_USE;
/* Links the objects `objs` (in this order) into the shared object `so_path`
 * with `linker` (NULL: $CC, else cc). The linker's output is in the error on
 * failure. */
bertc_status_t cg_link_shared(const char *linker, const char *const *objs, size_t nobjs,
                              const char *so_path) BERTC_MUST_USE;
/* Renames a finished temporary into place; on error removes it. */
bertc_status_t cg_commit(const char *tmp_path, const char *final_path) BERTC_MUST_USE;

/* --- abi_header.c --- */
/* The text of the model's C header (heap, NUL-terminated). */
bertc_status_t cg_header_text(const cg_program_t *p, const cg_artifact_info_t *info,
                              char **out_text, size_t *out_size) BERTC_MUST_USE;

#endif
