/* safetensors reader.
 *
 * st_file_open maps the file and validates it in the order of the reference
 * reader (huggingface/safetensors, safetensors/src/tensor.rs: `read_metadata`
 * and `Metadata::validate`): the 8-byte length, the
 * 100 MB header cap, the header fitting in the file, UTF-8, JSON (jansson,
 * duplicate keys rejected), the schema of each entry; then the entries sorted
 * by (BEGIN, END) must tile the data section from byte 0 with no gap or
 * overlap, each holding exactly numel x bits / 8 bytes, and the last END must
 * be exactly the end of the file. All sizes use checked u64 arithmetic, and
 * nothing is read outside the mapping: a tensor's data pointer is formed only
 * after its range is known to lie inside the file.
 *
 * st_checkpoint_open adds sharded checkpoints: model.safetensors.index.json
 * maps tensor names to shard files in the same directory. Each distinct shard
 * is opened once; every mapped tensor must be in its shard, and no name may
 * appear in two shards. The checkpoint's tensor list is every tensor of every
 * shard, sorted by name, so lookups are binary searches. */
#include "frontend/safetensors.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "frontend/json_util.h"

#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"
#define ST_MAX_INDEX_SIZE ((size_t)100000000)

struct st_file {
  char *path;
  base_mapped_file_t map;
  st_tensor_t *tensors; /* sorted by name */
  size_t count;
};

struct st_checkpoint {
  char *source; /* the .safetensors file or the index opened */
  st_file_t **files;
  size_t nfiles;
  const st_tensor_t **tensors; /* all shards, sorted by name */
  size_t count;
};

/* ---- dtypes ------------------------------------------------------------ */

static const struct {
  const char *name;
  uint32_t bits;
} dtype_table[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 8},
    [ST_U8] = {"U8", 8},
    [ST_I8] = {"I8", 8},
    [ST_I16] = {"I16", 16},
    [ST_U16] = {"U16", 16},
    [ST_F16] = {"F16", 16},
    [ST_BF16] = {"BF16", 16},
    [ST_I32] = {"I32", 32},
    [ST_U32] = {"U32", 32},
    [ST_F32] = {"F32", 32},
    [ST_F64] = {"F64", 64},
    [ST_I64] = {"I64", 64},
    [ST_U64] = {"U64", 64},
    [ST_F8_E5M2] = {"F8_E5M2", 8},
    [ST_F8_E4M3] = {"F8_E4M3", 8},
    [ST_C64] = {"C64", 64},
    [ST_F4] = {"F4", 4},
    [ST_F6_E2M3] = {"F6_E2M3", 6},
    [ST_F6_E3M2] = {"F6_E3M2", 6},
    [ST_F8_E8M0] = {"F8_E8M0", 8},
    [ST_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8},
    [ST_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8},
};

const char *st_dtype_name(st_dtype_t d) {
  return (unsigned)d < ST_DTYPE_COUNT ? dtype_table[d].name : "?";
}

uint32_t st_dtype_bits(st_dtype_t d) {
  return (unsigned)d < ST_DTYPE_COUNT ? dtype_table[d].bits : 0;
}

static bool dtype_from_name(const char *name, st_dtype_t *out) {
  for (int d = 0; d < ST_DTYPE_COUNT; d++) {
    if (strcmp(dtype_table[d].name, name) == 0) {
      *out = (st_dtype_t)d;
      return true;
    }
  }
  return false;
}

/* ---- errors ------------------------------------------------------------ */

/* "<path>: tensor '<name>': <message>", or "<path>: <message>" without a name. */
static bertc_status_t st_error(bertc_status_code_t code, const char *path,
                               const char *tensor, const char *fmt, ...)
    BERTC_PRINTF(4, 5);
static bertc_status_t st_error(bertc_status_code_t code, const char *path,
                               const char *tensor, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  bertc_status_t s = bertc_status_makev(code, fmt, ap);
  va_end(ap);
  if (tensor)
    return bertc_status_annotate(s, "%s: tensor '%s'", path, tensor);
  return bertc_status_annotate(s, "%s", path);
}

/* Writes "[d0,d1,...]" into buf (always fits: ST_MAX_RANK dims of 20 digits). */
static const char *format_shape(const st_tensor_t *t, char *buf, size_t size) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, size - n, "[");
  for (int i = 0; i < t->rank && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%llu", i ? "," : "",
                          (unsigned long long)t->shape[i]);
  if (n < size)
    snprintf(buf + n, size - n, "]");
  return buf;
}
#define SHAPE_BUF_SIZE (ST_MAX_RANK * 22 + 4)

/* ---- header parsing ---------------------------------------------------- */

static uint64_t load_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* Strict UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF), as Rust's str::from_utf8 checks it. Returns the offset of the
 * first bad byte, or `size` when all is valid. */
static size_t utf8_invalid_at(const uint8_t *s, size_t size) {
  size_t i = 0;
  while (i < size) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (size - i < len)
      return i;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return i;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return size;
}

/* A JSON integer in [0, 2^63): jansson stores integers as long long and
 * rejects larger literals itself; reals (2.0) are not integers, as in serde. */
static bool json_to_u64(const json_t *v, uint64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

/* A tensor while parsing: its header fields before the data pointer is set. */
typedef struct entry {
  st_tensor_t t;
  uint64_t begin, end;
} entry_t;

static bertc_status_t parse_entry(const char *path, const char *name, json_t *v,
                                  entry_t *e) {
  if (!json_is_object(v))
    return st_error(BERTC_STATUS_DATA, path, name, "entry is not a JSON object");

  json_t *dtype = json_object_get(v, "dtype");
  if (!dtype)
    return st_error(BERTC_STATUS_DATA, path, name, "missing \"dtype\"");
  if (!json_is_string(dtype))
    return st_error(BERTC_STATUS_DATA, path, name, "\"dtype\" is not a string");
  if (!dtype_from_name(json_string_value(dtype), &e->t.dtype))
    return st_error(BERTC_STATUS_DATA, path, name, "unknown dtype '%s'",
                    json_string_value(dtype));

  json_t *shape = json_object_get(v, "shape");
  if (!shape)
    return st_error(BERTC_STATUS_DATA, path, name, "missing \"shape\"");
  if (!json_is_array(shape))
    return st_error(BERTC_STATUS_DATA, path, name, "\"shape\" is not an array");
  size_t rank = json_array_size(shape);
  if (rank > ST_MAX_RANK)
    return st_error(BERTC_STATUS_UNSUPPORTED, path, name,
                    "rank %zu exceeds the maximum rank %d", rank, ST_MAX_RANK);
  e->t.rank = (int)rank;
  uint64_t numel = 1;
  for (size_t i = 0; i < rank; i++) {
    if (!json_to_u64(json_array_get(shape, i), &e->t.shape[i]))
      return st_error(BERTC_STATUS_DATA, path, name,
                      "shape dimension %zu is not a non-negative integer", i);
    if (!base_mul_u64(numel, e->t.shape[i], &numel)) {
      char sb[SHAPE_BUF_SIZE];
      return st_error(BERTC_STATUS_DATA, path, name,
                      "shape %s has more than 2^64 elements",
                      format_shape(&e->t, sb, sizeof sb));
    }
  }
  e->t.numel = numel;

  json_t *offsets = json_object_get(v, "data_offsets");
  if (!offsets)
    return st_error(BERTC_STATUS_DATA, path, name, "missing \"data_offsets\"");
  if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
      !json_to_u64(json_array_get(offsets, 0), &e->begin) ||
      !json_to_u64(json_array_get(offsets, 1), &e->end))
    return st_error(BERTC_STATUS_DATA, path, name,
                    "\"data_offsets\" is not an array of two non-negative integers");
  if (e->end < e->begin)
    return st_error(BERTC_STATUS_DATA, path, name,
                    "data_offsets [%llu,%llu] end before they begin",
                    (unsigned long long)e->begin, (unsigned long long)e->end);
  return BERTC_OK;
}

static bertc_status_t check_metadata(const char *path, json_t *v) {
  if (!json_is_object(v))
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "\"__metadata__\" is not an object of strings");
  const char *key;
  json_t *val;
  json_object_foreach(v, key, val) {
    if (!json_is_string(val))
      return st_error(BERTC_STATUS_DATA, path, NULL,
                      "\"__metadata__\" value of '%s' is not a string", key);
  }
  return BERTC_OK;
}

static int entry_cmp_offsets(const void *a, const void *b) {
  const entry_t *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return strcmp(x->t.name, y->t.name);
}

static int tensor_cmp_name(const void *a, const void *b) {
  return strcmp(((const st_tensor_t *)a)->name, ((const st_tensor_t *)b)->name);
}

/* Rule 6-8 of the reference: contiguous tiling from 0, exact sizes, and the
 * data section ending exactly at the end of the file. `entries` is sorted by
 * offsets. */
static bertc_status_t check_layout(const char *path, const entry_t *entries, size_t n,
                                   uint64_t data_size) {
  uint64_t expected = 0;
  for (size_t i = 0; i < n; i++) {
    const entry_t *e = &entries[i];
    const char *name = e->t.name;
    unsigned long long b = e->begin, en = e->end;
    if (e->begin > expected) {
      if (i == 0)
        return st_error(BERTC_STATUS_DATA, path, name,
                        "data_offsets [%llu,%llu] leave a gap: the data section "
                        "starts at byte 0",
                        b, en);
      return st_error(BERTC_STATUS_DATA, path, name,
                      "data_offsets [%llu,%llu] leave a gap after tensor '%s', "
                      "which ends at byte %llu",
                      b, en, entries[i - 1].t.name, (unsigned long long)expected);
    }
    if (e->begin < expected)
      return st_error(BERTC_STATUS_DATA, path, name,
                      "data_offsets [%llu,%llu] overlap tensor '%s', which ends at "
                      "byte %llu",
                      b, en, entries[i - 1].t.name, (unsigned long long)expected);
    expected = e->end;

    char sb[SHAPE_BUF_SIZE];
    uint64_t nbits;
    if (!base_mul_u64(e->t.numel, st_dtype_bits(e->t.dtype), &nbits))
      return st_error(BERTC_STATUS_DATA, path, name,
                      "shape %s x %s is more than 2^64 bits",
                      format_shape(&e->t, sb, sizeof sb), st_dtype_name(e->t.dtype));
    if (nbits % 8 != 0)
      return st_error(BERTC_STATUS_DATA, path, name,
                      "shape %s x %s is %llu bits, not a whole number of bytes",
                      format_shape(&e->t, sb, sizeof sb), st_dtype_name(e->t.dtype),
                      (unsigned long long)nbits);
    if (e->end - e->begin != nbits / 8)
      return st_error(BERTC_STATUS_DATA, path, name,
                      "data_offsets [%llu,%llu] hold %llu bytes, shape %s x %s needs "
                      "%llu",
                      b, en, (unsigned long long)(e->end - e->begin),
                      format_shape(&e->t, sb, sizeof sb), st_dtype_name(e->t.dtype),
                      (unsigned long long)(nbits / 8));
  }
  if (expected > data_size)
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "file is truncated: the tensors need %llu bytes of data but "
                    "only %llu follow the header",
                    (unsigned long long)expected, (unsigned long long)data_size);
  if (expected < data_size)
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "%llu trailing bytes after the tensor data (the tensors cover "
                    "%llu of the %llu data bytes)",
                    (unsigned long long)(data_size - expected),
                    (unsigned long long)expected, (unsigned long long)data_size);
  return BERTC_OK;
}

static void free_entries(entry_t *entries, size_t n) {
  if (!entries)
    return;
  for (size_t i = 0; i < n; i++)
    free(entries[i].t.name);
  free(entries);
}

/* Parses and validates the header of a mapped file into f->tensors. */
static bertc_status_t parse_file(st_file_t *f) {
  const char *path = f->path;
  const uint8_t *base = f->map.data;
  uint64_t size = f->map.size;

  if (size < 8)
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "header too small: the file is %llu bytes, less than the 8-byte "
                    "header length",
                    (unsigned long long)size);
  uint64_t hlen = load_le64(base);
  if (hlen > ST_MAX_HEADER_SIZE)
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "header length %llu exceeds the limit of %u bytes",
                    (unsigned long long)hlen, ST_MAX_HEADER_SIZE);
  if (hlen > size - 8)
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "header length %llu runs past the end of the file (%llu bytes)",
                    (unsigned long long)hlen, (unsigned long long)size);
  const uint8_t *header = base + 8;
  size_t bad = utf8_invalid_at(header, (size_t)hlen);
  if (bad != hlen)
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "header is not valid UTF-8 (byte 0x%02x at header offset %zu)",
                    header[bad], bad);

  json_error_t jerr;
  json_t *root = json_loadb((const char *)header, (size_t)hlen,
                            JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!root)
    return st_error(BERTC_STATUS_DATA, path, NULL,
                    "header is not valid JSON: %s (line %d, column %d)", jerr.text,
                    jerr.line, jerr.column);
  bertc_status_t s = BERTC_OK;
  entry_t *entries = NULL;
  size_t n = 0;
  if (!json_is_object(root)) {
    s = st_error(BERTC_STATUS_DATA, path, NULL, "header is not a JSON object");
    goto done;
  }

  size_t cap = json_object_size(root);
  s = base_calloc(cap, sizeof *entries, (void **)&entries);
  if (s)
    goto done;
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (strcmp(key, "__metadata__") == 0) {
      s = check_metadata(path, val);
      if (s)
        goto done;
      continue;
    }
    entry_t *e = &entries[n];
    s = base_strdup(key, &e->t.name);
    if (s)
      goto done;
    n++;
    s = parse_entry(path, key, val, e);
    if (s)
      goto done;
  }

  qsort(entries, n, sizeof *entries, entry_cmp_offsets);
  uint64_t data_start = 8 + hlen; /* hlen <= size - 8: no overflow */
  s = check_layout(path, entries, n, size - data_start);
  if (s)
    goto done;

  /* Every range now lies inside [data_start, size): form the pointers. */
  s = base_calloc(n, sizeof *f->tensors, (void **)&f->tensors);
  if (s)
    goto done;
  for (size_t i = 0; i < n; i++) {
    f->tensors[i] = entries[i].t;
    f->tensors[i].data = base + data_start + entries[i].begin;
    f->tensors[i].nbytes = entries[i].end - entries[i].begin;
    f->tensors[i].file = f->path;
    entries[i].t.name = NULL; /* moved */
  }
  f->count = n;
  qsort(f->tensors, n, sizeof *f->tensors, tensor_cmp_name);
  for (size_t i = 1; i < n; i++) {
    if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
      s = st_error(BERTC_STATUS_DATA, path, f->tensors[i].name, "duplicate tensor name");
      goto done;
    }
  }

done:
  free_entries(entries, n);
  json_decref(root);
  return s;
}

/* ---- files ------------------------------------------------------------- */

bertc_status_t st_file_open(const char *path, st_file_t **out) {
  *out = NULL;
  st_file_t *f;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof *f, (void **)&f));
  bertc_status_t s = base_strdup(path, &f->path);
  if (!s)
    s = base_map_file(path, &f->map);
  if (!s)
    s = parse_file(f);
  if (s) {
    st_file_close(f);
    return s;
  }
  *out = f;
  return BERTC_OK;
}

void st_file_close(st_file_t *f) {
  if (!f)
    return;
  if (f->tensors)
    for (size_t i = 0; i < f->count; i++)
      free(f->tensors[i].name);
  free(f->tensors);
  base_unmap_file(&f->map);
  free(f->path);
  free(f);
}

size_t st_file_count(const st_file_t *f) { return f ? f->count : 0; }

const st_tensor_t *st_file_tensor(const st_file_t *f, size_t i) {
  return f && i < f->count ? &f->tensors[i] : NULL;
}

static int name_vs_tensor(const void *key, const void *elem) {
  return strcmp(key, ((const st_tensor_t *)elem)->name);
}

const st_tensor_t *st_file_find(const st_file_t *f, const char *name) {
  if (!f || !name || !f->count)
    return NULL;
  return bsearch(name, f->tensors, f->count, sizeof *f->tensors, name_vs_tensor);
}

/* ---- checkpoints ------------------------------------------------------- */

static int tensor_ptr_cmp(const void *a, const void *b) {
  const st_tensor_t *x = *(const st_tensor_t *const *)a;
  const st_tensor_t *y = *(const st_tensor_t *const *)b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->file, y->file);
}

/* Collects every tensor of every file, sorted by name; a name in two files is
 * an error attributed to `origin` (the index). */
static bertc_status_t collect_tensors(st_checkpoint_t *c, const char *origin) {
  size_t total = 0;
  for (size_t i = 0; i < c->nfiles; i++)
    if (!base_add_size(total, st_file_count(c->files[i]), &total))
      return st_error(BERTC_STATUS_DATA, origin, NULL, "too many tensors");
  BERTC_RETURN_IF_ERROR(base_calloc(total, sizeof *c->tensors, (void **)&c->tensors));
  for (size_t i = 0; i < c->nfiles; i++)
    for (size_t k = 0; k < st_file_count(c->files[i]); k++)
      c->tensors[c->count++] = st_file_tensor(c->files[i], k);
  qsort(c->tensors, c->count, sizeof *c->tensors, tensor_ptr_cmp);
  for (size_t i = 1; i < c->count; i++) {
    if (strcmp(c->tensors[i - 1]->name, c->tensors[i]->name) == 0)
      return st_error(BERTC_STATUS_DATA, origin, c->tensors[i]->name,
                      "is in two shards: %s and %s", c->tensors[i - 1]->file,
                      c->tensors[i]->file);
  }
  return BERTC_OK;
}

static bertc_status_t open_single(st_checkpoint_t *c, const char *path) {
  BERTC_RETURN_IF_ERROR(base_strdup(path, &c->source));
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof *c->files, (void **)&c->files));
  BERTC_RETURN_IF_ERROR(st_file_open(path, &c->files[0]));
  c->nfiles = 1;
  return collect_tensors(c, path);
}

static int cmp_cstr_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The directory part of a path ("." when it has none). */
static bertc_status_t dir_of(const char *path, char **out) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return base_strdup(".", out);
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  BERTC_RETURN_IF_ERROR(base_alloc(n + 1, (void **)out));
  memcpy(*out, path, n);
  (*out)[n] = '\0';
  return BERTC_OK;
}

static bertc_status_t open_index_map(st_checkpoint_t *c, const char *index,
                                     json_t *weight_map) {
  const char *dir_str = NULL;
  char *dir = NULL;
  const char **shards = NULL;
  size_t nshards = 0;
  bertc_status_t s = BERTC_OK;

  size_t n = json_object_size(weight_map);
  if (n == 0)
    return st_error(BERTC_STATUS_DATA, index, NULL, "\"weight_map\" is empty");
  s = base_calloc(n, sizeof *shards, (void **)&shards);
  if (s)
    return s;

  const char *name;
  json_t *val;
  json_object_foreach(weight_map, name, val) {
    if (!json_is_string(val)) {
      s = st_error(BERTC_STATUS_DATA, index, name,
                   "\"weight_map\" value is not a string");
      goto done;
    }
    const char *shard = json_string_value(val);
    if (!*shard || strchr(shard, '/') || strstr(shard, "..")) {
      s = st_error(BERTC_STATUS_DATA, index, name,
                   "shard name '%s' must be a plain file name (no '/' or '..')", shard);
      goto done;
    }
    shards[nshards++] = shard;
  }
  qsort(shards, nshards, sizeof *shards, cmp_cstr_ptr);
  size_t distinct = 0;
  for (size_t i = 0; i < nshards; i++)
    if (distinct == 0 || strcmp(shards[distinct - 1], shards[i]) != 0)
      shards[distinct++] = shards[i];
  nshards = distinct;

  s = dir_of(index, &dir);
  if (s)
    goto done;
  dir_str = dir;
  s = base_calloc(nshards, sizeof *c->files, (void **)&c->files);
  if (s)
    goto done;
  for (size_t i = 0; i < nshards; i++) {
    char *shard_path;
    s = base_path_join(dir_str, shards[i], &shard_path);
    if (s)
      goto done;
    s = st_file_open(shard_path, &c->files[i]);
    free(shard_path);
    if (s) {
      s = bertc_status_annotate(s, "%s: shard '%s'", index, shards[i]);
      goto done;
    }
    c->nfiles++;
  }

  /* Every mapped tensor must really be in its shard. */
  json_object_foreach(weight_map, name, val) {
    const char *shard = json_string_value(val);
    const char **hit = bsearch(&shard, shards, nshards, sizeof *shards, cmp_cstr_ptr);
    if (!hit || !st_file_find(c->files[hit - shards], name)) {
      s = st_error(BERTC_STATUS_DATA, index, name,
                   "\"weight_map\" puts it in shard '%s', which does not contain it",
                   shard);
      goto done;
    }
  }
  s = collect_tensors(c, index);

done:
  free(dir);
  free(shards);
  return s;
}

static bertc_status_t open_index(st_checkpoint_t *c, const char *index) {
  BERTC_RETURN_IF_ERROR(base_strdup(index, &c->source));
  json_t *root;
  json_error_t jerr;
  BERTC_RETURN_IF_ERROR(fe_json_parse_file(index, ST_MAX_INDEX_SIZE, &root, &jerr));
  if (!root)
    return st_error(BERTC_STATUS_DATA, index, NULL,
                    "not valid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                    jerr.column);
  bertc_status_t s;
  json_t *weight_map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
  if (!json_is_object(weight_map))
    s = st_error(BERTC_STATUS_DATA, index, NULL,
                 "expected a JSON object with a \"weight_map\" object");
  else
    s = open_index_map(c, index, weight_map);
  json_decref(root);
  return s;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bertc_status_t open_path(st_checkpoint_t *c, const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    char *p;
    BERTC_RETURN_IF_ERROR(base_path_join(path, ST_SINGLE_NAME, &p));
    bertc_status_t s;
    if (base_file_exists(p)) {
      s = open_single(c, p);
      free(p);
      return s;
    }
    free(p);
    BERTC_RETURN_IF_ERROR(base_path_join(path, ST_INDEX_NAME, &p));
    if (base_file_exists(p))
      s = open_index(c, p);
    else
      s = st_error(BERTC_STATUS_NOT_FOUND, path, NULL,
                   "no " ST_SINGLE_NAME " or " ST_INDEX_NAME " in this directory");
    free(p);
    return s;
  }
  if (ends_with(path, ".json"))
    return open_index(c, path);
  return open_single(c, path);
}

bertc_status_t st_checkpoint_open(const char *path, st_checkpoint_t **out) {
  *out = NULL;
  st_checkpoint_t *c;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof *c, (void **)&c));
  bertc_status_t s = open_path(c, path);
  if (s) {
    st_checkpoint_close(c);
    return s;
  }
  *out = c;
  return BERTC_OK;
}

void st_checkpoint_close(st_checkpoint_t *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->nfiles; i++)
    st_file_close(c->files[i]);
  free(c->files);
  free(c->tensors);
  free(c->source);
  free(c);
}

const char *st_checkpoint_source(const st_checkpoint_t *c) { return c ? c->source : NULL; }

static int name_vs_tensor_ptr(const void *key, const void *elem) {
  return strcmp(key, (*(const st_tensor_t *const *)elem)->name);
}

const st_tensor_t *st_checkpoint_find(const st_checkpoint_t *c, const char *name) {
  if (!c || !name || !c->count)
    return NULL;
  const st_tensor_t *const *hit =
      bsearch(name, c->tensors, c->count, sizeof *c->tensors, name_vs_tensor_ptr);
  return hit ? *hit : NULL;
}

size_t st_checkpoint_count(const st_checkpoint_t *c) { return c ? c->count : 0; }

const st_tensor_t *st_checkpoint_tensor(const st_checkpoint_t *c, size_t i) {
  return c && i < c->count ? c->tensors[i] : NULL;
}

/* ---- conversion -------------------------------------------------------- */

static float bits_to_f32(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* IEEE 754 binary16 to binary32, exact (every half is a float): subnormals
 * are renormalised, Inf/NaN keep their payload. */
static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F)
    return bits_to_f32(sign | 0x7F800000u | (mant << 13));
  if (exp != 0)
    return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0)
    return bits_to_f32(sign);
  exp = 113; /* 2^-14 in binary32 bias, before normalising */
  while (!(mant & 0x400u)) {
    mant <<= 1;
    exp--;
  }
  return bits_to_f32(sign | (exp << 23) | ((mant & 0x3FFu) << 13));
}

static uint16_t load_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t load_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

bertc_status_t st_tensor_to_f32(const st_tensor_t *t, float *out) {
  const uint8_t *p = t->data;
  switch (t->dtype) {
  case ST_F32:
    for (uint64_t i = 0; i < t->numel; i++)
      out[i] = bits_to_f32(load_le32(p + 4 * i));
    return BERTC_OK;
  case ST_F16:
    for (uint64_t i = 0; i < t->numel; i++)
      out[i] = f16_to_f32(load_le16(p + 2 * i));
    return BERTC_OK;
  case ST_BF16:
    for (uint64_t i = 0; i < t->numel; i++)
      out[i] = bits_to_f32((uint32_t)load_le16(p + 2 * i) << 16);
    return BERTC_OK;
  default:
    return st_error(BERTC_STATUS_UNSUPPORTED, t->file, t->name,
                    "has dtype %s; only F32, F16 and BF16 convert to float",
                    st_dtype_name(t->dtype));
  }
}

/* Whether one element is NaN or Inf, by its bit pattern (OCP FP8 spec for
 * E4M3/E5M2, the FNUZ variants' single NaN 0x80, E8M0's NaN 0xFF). */
static bool element_nonfinite(st_dtype_t d, const uint8_t *p) {
  switch (d) {
  case ST_F16: return (load_le16(p) & 0x7C00u) == 0x7C00u;
  case ST_BF16: return (load_le16(p) & 0x7F80u) == 0x7F80u;
  case ST_F32: return (load_le32(p) & 0x7F800000u) == 0x7F800000u;
  case ST_F64: return (load_le32(p + 4) & 0x7FF00000u) == 0x7FF00000u;
  case ST_C64:
    return (load_le32(p) & 0x7F800000u) == 0x7F800000u ||
           (load_le32(p + 4) & 0x7F800000u) == 0x7F800000u;
  case ST_F8_E5M2: return (p[0] & 0x7Cu) == 0x7Cu;
  case ST_F8_E4M3: return (p[0] & 0x7Fu) == 0x7Fu;
  case ST_F8_E4M3FNUZ:
  case ST_F8_E5M2FNUZ: return p[0] == 0x80u;
  case ST_F8_E8M0: return p[0] == 0xFFu;
  default: return false;
  }
}

static bool has_nonfinite_encoding(st_dtype_t d) {
  switch (d) {
  case ST_F16:
  case ST_BF16:
  case ST_F32:
  case ST_F64:
  case ST_C64:
  case ST_F8_E5M2:
  case ST_F8_E4M3:
  case ST_F8_E4M3FNUZ:
  case ST_F8_E5M2FNUZ:
  case ST_F8_E8M0: return true;
  default: return false; /* integers, BOOL, and F4/F6 (no NaN or Inf) */
  }
}

uint64_t st_tensor_count_nonfinite(const st_tensor_t *t) {
  if (!has_nonfinite_encoding(t->dtype))
    return 0;
  uint64_t count = 0, step = st_dtype_bits(t->dtype) / 8;
  for (uint64_t i = 0; i < t->numel; i++)
    count += element_nonfinite(t->dtype, t->data + i * step);
  return count;
}
