/* safetensors reader: maps a .safetensors file (or a sharded set behind a
 * model.safetensors.index.json) read-only and exposes its tensors.
 *
 * The file is an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {dtype, shape, data_offsets}}, optional "__metadata__"), then the
 * data section. Opening validates everything the reference reader does
 * (huggingface/safetensors `Metadata::validate` in safetensors/src/tensor.rs,
 * and the format's README) plus duplicate names, so a file
 * bertc accepts also loads in Python. Tensor data points into the mapping and
 * may be unaligned: read it with memcpy or st_tensor_to_f32. */
#ifndef BERTC_FRONTEND_SAFETENSORS_H
#define BERTC_FRONTEND_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "bertc/status.h"

/* Every dtype of the reference `Dtype` enum. The first sixteen keep this
 * order (others code against it); later ones were added by newer safetensors. */
typedef enum st_dtype {
  ST_BOOL,
  ST_U8,
  ST_I8,
  ST_I16,
  ST_U16,
  ST_F16,
  ST_BF16,
  ST_I32,
  ST_U32,
  ST_F32,
  ST_F64,
  ST_I64,
  ST_U64,
  ST_F8_E5M2,
  ST_F8_E4M3,
  ST_C64,
  ST_F4,
  ST_F6_E2M3,
  ST_F6_E3M2,
  ST_F8_E8M0,
  ST_F8_E4M3FNUZ,
  ST_F8_E5M2FNUZ,
  ST_DTYPE_COUNT
} st_dtype_t;

#define ST_MAX_RANK 8
/* Headers larger than this are rejected (reference MAX_HEADER_SIZE). */
#define ST_MAX_HEADER_SIZE 100000000u

typedef struct st_tensor {
  char *name;
  st_dtype_t dtype;
  int rank;
  uint64_t shape[ST_MAX_RANK];
  uint64_t numel;
  const uint8_t *data; /* into the mapping; may be unaligned */
  uint64_t nbytes;
  const char *file; /* path of the file holding it */
} st_tensor_t;

/* One mmapped .safetensors file. */
typedef struct st_file st_file_t;

bertc_status_t st_file_open(const char *path, st_file_t **out) BERTC_MUST_USE;
void st_file_close(st_file_t *f);
size_t st_file_count(const st_file_t *f);
/* The i-th tensor, tensors sorted by name (byte order); NULL past the end. */
const st_tensor_t *st_file_tensor(const st_file_t *f, size_t i);
const st_tensor_t *st_file_find(const st_file_t *f, const char *name);

/* One file or a sharded set. */
typedef struct st_checkpoint st_checkpoint_t;

/* path: a directory (uses model.safetensors, else model.safetensors.index.json),
 * a .safetensors file, or an index .json. */
bertc_status_t st_checkpoint_open(const char *path, st_checkpoint_t **out) BERTC_MUST_USE;
void st_checkpoint_close(st_checkpoint_t *c);
const st_tensor_t *st_checkpoint_find(const st_checkpoint_t *c, const char *name);
size_t st_checkpoint_count(const st_checkpoint_t *c);
/* The file that was opened: the .safetensors file or the shard index (for
 * messages about the checkpoint as a whole). */
const char *st_checkpoint_source(const st_checkpoint_t *c);
/* All tensors of all shards, sorted by name; NULL past the end. */
const st_tensor_t *st_checkpoint_tensor(const st_checkpoint_t *c, size_t i);

/* The safetensors spelling ("F32", "BF16", ...); "?" for an invalid value. */
const char *st_dtype_name(st_dtype_t d);
/* Bits per element (4 for F4, 6 for F6_*); 0 for an invalid value. */
uint32_t st_dtype_bits(st_dtype_t d);

/* Converts F32, F16 or BF16 data (unaligned OK) to float; `out` holds numel
 * floats. Other dtypes give an error naming the tensor, its dtype and file. */
bertc_status_t st_tensor_to_f32(const st_tensor_t *t, float *out) BERTC_MUST_USE;

/* Number of NaN/Inf values in a float tensor (F32, F16, BF16, F64, C64 and the
 * F8 formats that have NaN or Inf encodings); 0 for non-float dtypes. */
uint64_t st_tensor_count_nonfinite(const st_tensor_t *t);

#endif
