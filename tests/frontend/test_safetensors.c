/* The safetensors reader: valid files (conversions against hand-computed
 * values, rank-0, zero-size, misaligned, padded headers, shards, the real
 * MiniLM checkpoint) and one malformed file per validation rule, each checked
 * for the message it must give, starting with the file path. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "frontend/safetensors.h"

/* ---- helpers ----------------------------------------------------------- */

/* Writes an 8-byte little-endian length, then `hlen` header bytes, then data,
 * to test-scratch/safetensors/<rel>. `hlen` lets a test lie about the length. */
static char *write_st_raw(const char *rel, uint64_t hlen, const char *header,
                          size_t header_bytes, const void *data, size_t n) {
  char full[512];
  snprintf(full, sizeof full, "safetensors/%s", rel);
  char *path = tu_scratch_path(full);
  size_t total = 8 + header_bytes + n;
  uint8_t *buf = malloc(total);
  assert_non_null(buf);
  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)(hlen >> (8 * i));
  memcpy(buf + 8, header, header_bytes);
  if (n)
    memcpy(buf + 8 + header_bytes, data, n);
  tu_write_file(path, buf, total);
  free(buf);
  return path;
}

static char *write_st(const char *rel, const char *header, const void *data, size_t n) {
  return write_st_raw(rel, strlen(header), header, strlen(header), data, n);
}

/* "<path>: <rest>", so each error test also checks the message's prefix. */
static char *expect(const char *path, const char *rest) {
  size_t n = strlen(path) + strlen(rest) + 3;
  char *s = malloc(n);
  assert_non_null(s);
  snprintf(s, n, "%s: %s", path, rest);
  return s;
}

/* Writes a file and asserts st_file_open fails with "<path>: <rest>". */
static void check_malformed(const char *rel, const char *header, const void *data,
                            size_t n, const char *rest) {
  char *path = write_st(rel, header, data, n);
  char *needle = expect(path, rest);
  st_file_t *f = (st_file_t *)1;
  TU_ASSERT_ERROR(st_file_open(path, &f), needle);
  assert_null(f);
  free(needle);
  free(path);
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static const uint8_t zeros[64];

/* ---- valid files ------------------------------------------------------- */

static void test_f32_and_lookup(void **state) {
  /* Header order b, a: the API lists tensors sorted by name. */
  const char *h =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"b.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]},"
      "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
  float vals[8] = {1.0f, -2.5f, 0.125f, 3e38f, -0.0f, 1e-40f /* subnormal */, 7.0f, 8.0f};
  char *path = write_st("f32.safetensors", h, vals, sizeof vals);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  assert_int_equal(st_file_count(f), 2);
  const st_tensor_t *a = st_file_tensor(f, 0), *b = st_file_tensor(f, 1);
  assert_null(st_file_tensor(f, 2));
  assert_string_equal(a->name, "a.weight");
  assert_string_equal(b->name, "b.bias");
  assert_int_equal(a->dtype, ST_F32);
  assert_int_equal(a->rank, 2);
  assert_int_equal(a->shape[0], 2);
  assert_int_equal(a->shape[1], 3);
  assert_int_equal(a->numel, 6);
  assert_int_equal(a->nbytes, 24);
  assert_string_equal(a->file, path);
  assert_ptr_equal(st_file_find(f, "b.bias"), b);
  assert_ptr_equal(st_file_find(f, "a.weight"), a);
  assert_null(st_file_find(f, "missing"));
  assert_null(st_file_find(f, "__metadata__"));

  float out[6];
  TU_ASSERT_OK(st_tensor_to_f32(a, out));
  for (int i = 0; i < 6; i++)
    assert_int_equal(f32_bits(out[i]), f32_bits(vals[i]));
  TU_ASSERT_OK(st_tensor_to_f32(b, out));
  assert_true(out[0] == 7.0f && out[1] == 8.0f);
  assert_int_equal(st_tensor_count_nonfinite(a), 0);
  st_file_close(f);
  free(path);
}

static void test_f16_conversion(void **state) {
  /* binary16 patterns and their exact values. */
  const uint16_t h16[10] = {0x3C00, 0xC000, 0x3555, 0x0001, 0x03FF,
                            0x0400, 0x7BFF, 0x8000, 0x7C00, 0x7E00};
  const float want[8] = {1.0f,
                         -2.0f,
                         0.333251953125f,        /* 0x3555 = 1365/4096 */
                         5.9604644775390625e-8f, /* smallest subnormal 2^-24 */
                         6.097555160522461e-5f,  /* largest subnormal 1023*2^-24 */
                         6.103515625e-5f,        /* smallest normal 2^-14 */
                         65504.0f,
                         -0.0f};
  uint8_t data[20];
  for (int i = 0; i < 10; i++) {
    data[2 * i] = (uint8_t)h16[i];
    data[2 * i + 1] = (uint8_t)(h16[i] >> 8);
  }
  char *path =
      write_st("f16.safetensors",
               "{\"h\":{\"dtype\":\"F16\",\"shape\":[10],\"data_offsets\":[0,20]}}", data,
               sizeof data);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  const st_tensor_t *t = st_file_find(f, "h");
  assert_non_null(t);
  float out[10];
  TU_ASSERT_OK(st_tensor_to_f32(t, out));
  for (int i = 0; i < 8; i++)
    assert_int_equal(f32_bits(out[i]), f32_bits(want[i]));
  assert_true(isinf(out[8]) && out[8] > 0);
  assert_true(isnan(out[9]));
  assert_int_equal(st_tensor_count_nonfinite(t), 2);
  st_file_close(f);
  free(path);
}

static void test_bf16_conversion(void **state) {
  const uint16_t b16[6] = {0x3F80, 0xC040, 0x3EAB, 0x0001, 0xFF80, 0x7FC0};
  const float want[4] = {1.0f, -3.0f, 0.333984375f /* 0x3EAB0000 */,
                         9.18354961579912e-41f /* float bits 0x00010000 */};
  uint8_t data[12];
  for (int i = 0; i < 6; i++) {
    data[2 * i] = (uint8_t)b16[i];
    data[2 * i + 1] = (uint8_t)(b16[i] >> 8);
  }
  char *path =
      write_st("bf16.safetensors",
               "{\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}",
               data, sizeof data);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  const st_tensor_t *t = st_file_find(f, "b");
  float out[6];
  TU_ASSERT_OK(st_tensor_to_f32(t, out));
  for (int i = 0; i < 4; i++)
    assert_int_equal(f32_bits(out[i]), f32_bits(want[i]));
  assert_true(isinf(out[4]) && out[4] < 0);
  assert_true(isnan(out[5]));
  assert_int_equal(st_tensor_count_nonfinite(t), 2);
  st_file_close(f);
  free(path);
}

static void test_i64_buffer_and_dtypes(void **state) {
  const int64_t ids[4] = {0, 1, 2, 3};
  char *path = write_st("i64.safetensors",
                        "{\"embeddings.position_ids\":{\"dtype\":\"I64\",\"shape\":[1,4],"
                        "\"data_offsets\":[0,32]}}",
                        ids, sizeof ids);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  const st_tensor_t *t = st_file_find(f, "embeddings.position_ids");
  assert_non_null(t);
  assert_int_equal(t->dtype, ST_I64);
  assert_int_equal(t->numel, 4);
  int64_t back[4];
  memcpy(back, t->data, sizeof back);
  assert_memory_equal(back, ids, sizeof ids);
  assert_int_equal(st_tensor_count_nonfinite(t), 0);
  float out[4];
  char *needle = expect(path, "tensor 'embeddings.position_ids': has dtype I64");
  TU_ASSERT_ERROR(st_tensor_to_f32(t, out), needle);
  free(needle);
  st_file_close(f);
  free(path);

  assert_string_equal(st_dtype_name(ST_BF16), "BF16");
  assert_string_equal(st_dtype_name(ST_F8_E4M3FNUZ), "F8_E4M3FNUZ");
  assert_int_equal(st_dtype_bits(ST_F4), 4);
  assert_int_equal(st_dtype_bits(ST_F6_E3M2), 6);
  assert_int_equal(st_dtype_bits(ST_C64), 64);
  assert_int_equal(st_dtype_bits(ST_BOOL), 8);
  assert_string_equal(st_dtype_name((st_dtype_t)999), "?");
}

static void test_rank0_zero_size_subbyte(void **state) {
  /* A scalar, two empty tensors sharing offset 4, whole-byte F4 and F6. */
  const char *h =
      "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
      "\"e1\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
      "\"e2\":{\"dtype\":\"I64\",\"shape\":[5,0],\"data_offsets\":[4,4]},"
      "\"q4\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[4,6]},"
      "\"q6\":{\"dtype\":\"F6_E2M3\",\"shape\":[2,2],\"data_offsets\":[6,9]}}";
  uint8_t data[9] = {0};
  float v = 42.0f;
  memcpy(data, &v, 4);
  char *path = write_st("rank0.safetensors", h, data, sizeof data);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  assert_int_equal(st_file_count(f), 5);
  const st_tensor_t *s = st_file_find(f, "s");
  assert_int_equal(s->rank, 0);
  assert_int_equal(s->numel, 1);
  float out;
  TU_ASSERT_OK(st_tensor_to_f32(s, &out));
  assert_true(out == 42.0f);
  const st_tensor_t *e1 = st_file_find(f, "e1");
  assert_int_equal(e1->numel, 0);
  assert_int_equal(e1->nbytes, 0);
  TU_ASSERT_OK(st_tensor_to_f32(e1, &out));
  assert_int_equal(st_file_find(f, "e2")->numel, 0);
  assert_int_equal(st_file_find(f, "q4")->nbytes, 2);
  assert_int_equal(st_file_find(f, "q6")->nbytes, 3);
  assert_int_equal(st_tensor_count_nonfinite(st_file_find(f, "q4")), 0);
  st_file_close(f);
  free(path);
}

static void test_misaligned_data(void **state) {
  /* The header length is odd, so the data section starts at an odd file
   * offset and the F32 tensor 2 bytes later: valid, and must read correctly. */
  const char *h = "{\"p\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                  "\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[2,14]}}";
  assert_int_equal(strlen(h) % 2, 1);
  uint8_t data[14] = {7, 9};
  float v[3] = {1.5f, -4.0f, 1024.25f};
  memcpy(data + 2, v, sizeof v);
  char *path = write_st("misaligned.safetensors", h, data, sizeof data);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  const st_tensor_t *w = st_file_find(f, "w");
  assert_int_not_equal((uintptr_t)w->data % 4, 0);
  float out[3];
  TU_ASSERT_OK(st_tensor_to_f32(w, out));
  assert_memory_equal(out, v, sizeof v);
  assert_int_equal(st_file_find(f, "p")->data[1], 9);
  st_file_close(f);
  free(path);
}

static void test_whitespace_padded_header(void **state) {
  const char *h =
      " \n\t {\"x\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}"
      "        ";
  const uint8_t data[2] = {0x80, 0x3F};
  char *path = write_st("padded.safetensors", h, data, sizeof data);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  float out;
  TU_ASSERT_OK(st_tensor_to_f32(st_file_find(f, "x"), &out));
  assert_true(out == 1.0f);
  st_file_close(f);
  free(path);
}

static void test_empty_and_escaped_names(void **state) {
  /* No tensors at all is a valid file; names with \u escapes decode. */
  char *path = write_st("empty.safetensors", "{}", NULL, 0);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  assert_int_equal(st_file_count(f), 0);
  assert_null(st_file_find(f, "x"));
  st_file_close(f);
  free(path);

  path = write_st("escaped.safetensors",
                  "{\"caf\\u00e9.\\u0077\":{\"dtype\":\"U8\",\"shape\":[1],"
                  "\"data_offsets\":[0,1]}}",
                  zeros, 1);
  TU_ASSERT_OK(st_file_open(path, &f));
  assert_non_null(st_file_find(f, "caf\xc3\xa9.w"));
  st_file_close(f);
  free(path);
}

static void test_nonfinite_count(void **state) {
  float v[5] = {1.0f, INFINITY, -INFINITY, NAN, 3.4e38f};
  char *path;
  uint8_t data[24];
  memcpy(data, v, 20);
  memset(data + 20, 0xFF, 4);
  path = write_st("nonfinite.safetensors",
                  "{\"v\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]},"
                  "\"u\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[20,24]}}",
                  data, sizeof data);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  assert_int_equal(st_tensor_count_nonfinite(st_file_find(f, "v")), 3);
  assert_int_equal(st_tensor_count_nonfinite(st_file_find(f, "u")), 0);
  st_file_close(f);
  free(path);
}

/* ---- checkpoints ------------------------------------------------------- */

static char *write_text(const char *rel, const char *text) {
  char full[512];
  snprintf(full, sizeof full, "safetensors/%s", rel);
  char *path = tu_scratch_path(full);
  tu_write_file(path, text, strlen(text));
  return path;
}

/* Two shards: a, c in the first; b in the second. */
static char *write_shards(const char *dir, const char *index) {
  char rel[256];
  const float v[4] = {1, 2, 3, 4};
  snprintf(rel, sizeof rel, "%s/model-00001-of-00002.safetensors", dir);
  free(write_st(rel,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                v, 12));
  snprintf(rel, sizeof rel, "%s/model-00002-of-00002.safetensors", dir);
  free(write_st(rel, "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                v + 3, 4));
  snprintf(rel, sizeof rel, "%s/model.safetensors.index.json", dir);
  return write_text(rel, index);
}

static const char good_index[] = "{\"metadata\":{\"total_size\":16},\"weight_map\":{"
                                 "\"a\":\"model-00001-of-00002.safetensors\","
                                 "\"b\":\"model-00002-of-00002.safetensors\","
                                 "\"c\":\"model-00001-of-00002.safetensors\"}}";

static void check_sharded(const st_checkpoint_t *c) {
  assert_int_equal(st_checkpoint_count(c), 3);
  const char *names[3] = {"a", "b", "c"};
  for (size_t i = 0; i < 3; i++)
    assert_string_equal(st_checkpoint_tensor(c, i)->name, names[i]);
  assert_null(st_checkpoint_tensor(c, 3));
  const st_tensor_t *b = st_checkpoint_find(c, "b");
  assert_non_null(b);
  assert_non_null(strstr(b->file, "model-00002-of-00002.safetensors"));
  float out;
  TU_ASSERT_OK(st_tensor_to_f32(b, &out));
  assert_true(out == 4.0f);
  assert_non_null(strstr(st_checkpoint_find(c, "c")->file, "model-00001-of-00002"));
  assert_null(st_checkpoint_find(c, "d"));
}

static void test_sharded_checkpoint(void **state) {
  char *index = write_shards("sharded", good_index);
  st_checkpoint_t *c;
  TU_ASSERT_OK(st_checkpoint_open(index, &c));
  check_sharded(c);
  st_checkpoint_close(c);

  char *dir = tu_scratch_path("safetensors/sharded");
  TU_ASSERT_OK(st_checkpoint_open(dir, &c));
  check_sharded(c);
  st_checkpoint_close(c);
  free(dir);
  free(index);
}

static void test_single_file_checkpoint(void **state) {
  const float v[2] = {5, 6};
  char *path = write_st(
      "single/model.safetensors",
      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, sizeof v);
  char *dir = tu_scratch_path("safetensors/single");
  st_checkpoint_t *c;
  TU_ASSERT_OK(st_checkpoint_open(dir, &c));
  assert_int_equal(st_checkpoint_count(c), 1);
  assert_string_equal(st_checkpoint_tensor(c, 0)->name, "w");
  st_checkpoint_close(c);
  TU_ASSERT_OK(st_checkpoint_open(path, &c));
  assert_non_null(st_checkpoint_find(c, "w"));
  st_checkpoint_close(c);
  free(dir);
  free(path);
}

static void test_checkpoint_not_found(void **state) {
  char *marker = tu_scratch_path("safetensors/no_weights/marker"); /* makes the dir */
  char *dir = tu_scratch_path("safetensors/no_weights");
  free(marker);
  st_checkpoint_t *c = (st_checkpoint_t *)1;
  char *needle = expect(
      dir, "no model.safetensors or model.safetensors.index.json in this directory");
  bertc_status_t s = st_checkpoint_open(dir, &c);
  assert_int_equal(bertc_status_code(s), BERTC_STATUS_NOT_FOUND);
  TU_ASSERT_ERROR(s, needle);
  assert_null(c);
  free(needle);

  char *missing = tu_scratch_path("safetensors/no_weights/nope.safetensors");
  needle = expect(missing, "cannot open");
  TU_ASSERT_ERROR(st_checkpoint_open(missing, &c), needle);
  free(needle);
  free(missing);
  free(dir);
}

static void check_bad_index(const char *dir, const char *index_text, const char *rest) {
  char *index = write_shards(dir, index_text);
  char *needle = expect(index, rest);
  st_checkpoint_t *c = (st_checkpoint_t *)1;
  TU_ASSERT_ERROR(st_checkpoint_open(index, &c), needle);
  assert_null(c);
  free(needle);
  free(index);
}

static void test_sharded_malformed(void **state) {
  check_bad_index("bad_slash", "{\"weight_map\":{\"a\":\"sub/x.safetensors\"}}",
                  "tensor 'a': shard name 'sub/x.safetensors' must be a plain file name");
  check_bad_index("bad_dotdot", "{\"weight_map\":{\"a\":\"..\"}}",
                  "tensor 'a': shard name '..' must be a plain file name");
  check_bad_index("bad_missing_tensor",
                  "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                  "\"b\":\"model-00001-of-00002.safetensors\"}}",
                  "tensor 'b': \"weight_map\" puts it in shard "
                  "'model-00001-of-00002.safetensors', which does not contain it");
  check_bad_index("bad_missing_shard", "{\"weight_map\":{\"a\":\"gone.safetensors\"}}",
                  "shard 'gone.safetensors': ");
  check_bad_index("bad_no_map", "{\"metadata\":{}}", "expected a JSON object with a");
  check_bad_index("bad_empty_map", "{\"weight_map\":{}}", "\"weight_map\" is empty");
  check_bad_index("bad_value", "{\"weight_map\":{\"a\":1}}",
                  "tensor 'a': \"weight_map\" value is not a string");
  check_bad_index("bad_json", "{\"weight_map\":", "not valid JSON");

  /* 'c' is in both shards: rewrite shard 2 after write_shards made it. */
  const float v[2] = {0};
  char *index = write_shards("dup_shards", good_index);
  free(write_st("dup_shards/model-00002-of-00002.safetensors",
                "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                v, 8));
  char *needle = expect(index, "tensor 'c': is in two shards");
  st_checkpoint_t *c;
  TU_ASSERT_ERROR(st_checkpoint_open(index, &c), needle);
  free(needle);
  free(index);
}

/* ---- malformed files: one rule each ------------------------------------ */

static void test_header_too_small(void **state) {
  char *path = tu_scratch_path("safetensors/tiny.safetensors");
  tu_write_file(path, "\x05\0\0", 3);
  char *needle = expect(path, "header too small: the file is 3 bytes");
  st_file_t *f;
  TU_ASSERT_ERROR(st_file_open(path, &f), needle);
  free(needle);
  tu_write_file(path, "", 0); /* an empty file maps to NULL: still an error */
  needle = expect(path, "header too small: the file is 0 bytes");
  TU_ASSERT_ERROR(st_file_open(path, &f), needle);
  free(needle);
  free(path);
}

static void test_header_too_large(void **state) {
  char *path = write_st_raw("huge.safetensors", 100000001, "{}", 2, NULL, 0);
  char *needle = expect(path, "header length 100000001 exceeds the limit of 100000000");
  st_file_t *f;
  TU_ASSERT_ERROR(st_file_open(path, &f), needle);
  free(needle);
  free(path);
  /* 2^64 - 1 must not wrap around 8 + N. */
  path = write_st_raw("huge2.safetensors", UINT64_MAX, "{}", 2, NULL, 0);
  needle = expect(path, "header length 18446744073709551615 exceeds the limit");
  TU_ASSERT_ERROR(st_file_open(path, &f), needle);
  free(needle);
  free(path);
}

static void test_header_past_end(void **state) {
  char *path = write_st_raw("pastend.safetensors", 100, "{}", 2, NULL, 0);
  char *needle =
      expect(path, "header length 100 runs past the end of the file (10 bytes)");
  st_file_t *f;
  TU_ASSERT_ERROR(st_file_open(path, &f), needle);
  free(needle);
  free(path);
}

static void test_malformed_header_text(void **state) {
  check_malformed("utf8.safetensors", "{\"a\xff\":{}}", NULL, 0,
                  "header is not valid UTF-8 (byte 0xff at header offset 3)");
  check_malformed("overlong.safetensors", "{\"\xc0\xaf\":{}}", NULL, 0,
                  "header is not valid UTF-8");
  check_malformed("json.safetensors", "{\"a\":", NULL, 0, "header is not valid JSON");
  check_malformed("trailing_json.safetensors", "{} {}", NULL, 0,
                  "header is not valid JSON");
  check_malformed("notobject.safetensors", "[1,2]", NULL, 0,
                  "header is not a JSON object");
  check_malformed("string.safetensors", "\"x\"", NULL, 0, "header is not a JSON object");
}

static void test_duplicate_names(void **state) {
  check_malformed("dup.safetensors",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                  zeros, 2, "header is not valid JSON: duplicate object key");
  /* The same name spelled with an escape is still a duplicate. */
  check_malformed("dup_escape.safetensors",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                  "\"\\u0061\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                  zeros, 2, "header is not valid JSON: duplicate object key near");
}

static void test_entry_schema(void **state) {
  check_malformed("entry.safetensors", "{\"a\":[1]}", NULL, 0,
                  "tensor 'a': entry is not a JSON object");
  check_malformed("nodtype.safetensors", "{\"a\":{\"shape\":[],\"data_offsets\":[0,0]}}",
                  NULL, 0, "tensor 'a': missing \"dtype\"");
  check_malformed("dtypeint.safetensors",
                  "{\"a\":{\"dtype\":32,\"shape\":[],\"data_offsets\":[0,4]}}", zeros, 4,
                  "tensor 'a': \"dtype\" is not a string");
  check_malformed("noshape.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", zeros, 4,
                  "tensor 'a': missing \"shape\"");
  check_malformed("shapeobj.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}",
                  zeros, 4, "tensor 'a': \"shape\" is not an array");
  check_malformed("nooffsets.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}",
                  zeros, 4, "tensor 'a': missing \"data_offsets\"");
  check_malformed("offsets1.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", zeros,
                  4, "tensor 'a': \"data_offsets\" is not an array of two non-negative");
  check_malformed("offsetsneg.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}",
                  zeros, 4, "tensor 'a': \"data_offsets\" is not an array of two");
  check_malformed("offsetsstr.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}",
                  zeros, 4, "tensor 'a': \"data_offsets\" is not an array of two");
}

static void test_unknown_dtype(void **state) {
  check_malformed("dtype.safetensors",
                  "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}",
                  zeros, 16, "tensor 'a': unknown dtype 'F128'");
  check_malformed("dtypecase.safetensors",
                  "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                  zeros, 4, "tensor 'a': unknown dtype 'f32'");
}

static void test_bad_shape_dims(void **state) {
  check_malformed("negdim.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,0]}}",
                  NULL, 0, "tensor 'a': shape dimension 1 is not a non-negative integer");
  check_malformed("realdim.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
                  zeros, 8,
                  "tensor 'a': shape dimension 0 is not a non-negative integer");
  check_malformed("nulldim.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}",
                  zeros, 4, "tensor 'a': shape dimension 0 is not");
}

static void test_rank_too_large(void **state) {
  check_malformed(
      "rank9.safetensors",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}",
      zeros, 1, "tensor 'a': rank 9 exceeds the maximum rank 8");
  /* Rank 8 is fine. */
  char *path = write_st(
      "rank8.safetensors",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}",
      zeros, 2);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  assert_int_equal(st_file_find(f, "a")->rank, 8);
  st_file_close(f);
  free(path);
}

static void test_bad_metadata(void **state) {
  check_malformed("meta_int.safetensors",
                  "{\"__metadata__\":{\"format\":\"pt\",\"n\":3}}", NULL, 0,
                  "\"__metadata__\" value of 'n' is not a string");
  check_malformed("meta_arr.safetensors", "{\"__metadata__\":[\"pt\"]}", NULL, 0,
                  "\"__metadata__\" is not an object of strings");
}

static void test_end_before_begin(void **state) {
  check_malformed("endbegin.safetensors",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}",
                  zeros, 4, "tensor 'a': data_offsets [4,0] end before they begin");
}

static void test_overlapping_offsets(void **state) {
  /* b starts inside a: two views of the same bytes (the aliasing attack). */
  check_malformed(
      "overlap.safetensors",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
      zeros, 12,
      "tensor 'b': data_offsets [8,12] overlap tensor 'a', which ends at byte 12");
  check_malformed("alias.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                  zeros, 4, "tensor 'b': data_offsets [0,4] overlap tensor 'a'");
}

static void test_gapped_offsets(void **state) {
  check_malformed("gap.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                  zeros, 12,
                  "tensor 'b': data_offsets [8,12] leave a gap after tensor 'a', which "
                  "ends at byte 4");
  check_malformed("gapstart.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  zeros, 8,
                  "tensor 'a': data_offsets [4,8] leave a gap: the data section starts");
}

static void test_out_of_order_offsets_accepted(void **state) {
  /* Header order need not follow data order: sorted by offsets, they tile. */
  char *path = write_st("order.safetensors",
                        "{\"z\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
                        "\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                        "\1\2\3", 3);
  st_file_t *f;
  TU_ASSERT_OK(st_file_open(path, &f));
  assert_int_equal(st_file_find(f, "z")->data[0], 3);
  assert_int_equal(st_file_find(f, "y")->data[1], 2);
  st_file_close(f);
  free(path);
}

static void test_size_mismatch(void **state) {
  check_malformed(
      "size.safetensors",
      "{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", zeros,
      12,
      "tensor 'a.weight': data_offsets [0,12] hold 12 bytes, shape [2,3] x F32 "
      "needs 24");
}

static void test_size_overflow(void **state) {
  check_malformed("numel_overflow.safetensors",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],"
                  "\"data_offsets\":[0,0]}}",
                  NULL, 0,
                  "tensor 'a': shape [4294967296,4294967296] has more than 2^64");
  check_malformed("bits_overflow.safetensors",
                  "{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],"
                  "\"data_offsets\":[0,0]}}",
                  NULL, 0,
                  "tensor 'a': shape [2305843009213693952] x F64 is more than 2^64 bits");
}

static void test_subbyte_misaligned(void **state) {
  check_malformed("f4odd.safetensors",
                  "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}",
                  zeros, 2,
                  "tensor 'a': shape [3] x F4 is 12 bits, not a whole number of bytes");
}

static void test_trailing_bytes(void **state) {
  check_malformed("trailing.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                  zeros, 5, "1 trailing bytes after the tensor data");
  check_malformed("trailing_empty.safetensors", "{}", zeros, 3,
                  "3 trailing bytes after the tensor data");
}

static void test_truncated_data(void **state) {
  check_malformed("truncated.safetensors",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                  zeros, 10,
                  "file is truncated: the tensors need 16 bytes of data but only 10");
  /* Offsets far beyond the file must be rejected, not read. */
  check_malformed("beyond.safetensors",
                  "{\"a\":{\"dtype\":\"U8\",\"shape\":[1099511627776],"
                  "\"data_offsets\":[0,1099511627776]}}",
                  zeros, 4, "file is truncated");
}

/* ---- the real checkpoint ----------------------------------------------- */

static void test_minilm(void **state) {
  const char *dir = tu_minilm_dir();
  st_checkpoint_t *c;
  TU_ASSERT_OK(st_checkpoint_open(dir, &c));
  /* 105 header keys: 104 tensors (103 F32 + the I64 position_ids) plus __metadata__. */
  assert_int_equal(st_checkpoint_count(c), 104);
  const st_tensor_t *pos = st_checkpoint_find(c, "embeddings.position_ids");
  assert_non_null(pos);
  assert_int_equal(pos->dtype, ST_I64);
  assert_int_equal(pos->rank, 2);
  assert_int_equal(pos->shape[0], 1);
  assert_int_equal(pos->shape[1], 512);
  int64_t last;
  memcpy(&last, pos->data + 511 * 8, 8);
  assert_int_equal(last, 511);

  const st_tensor_t *we = st_checkpoint_find(c, "embeddings.word_embeddings.weight");
  assert_non_null(we);
  assert_int_equal(we->dtype, ST_F32);
  assert_int_equal(we->shape[0], 30522);
  assert_int_equal(we->shape[1], 384);
  size_t f32_count = 0;
  for (size_t i = 0; i < st_checkpoint_count(c); i++) {
    const st_tensor_t *t = st_checkpoint_tensor(c, i);
    if (i)
      assert_true(strcmp(st_checkpoint_tensor(c, i - 1)->name, t->name) < 0);
    if (t->dtype == ST_F32) {
      f32_count++;
      assert_int_equal(st_tensor_count_nonfinite(t), 0);
    }
  }
  assert_int_equal(f32_count, 103);
  const st_tensor_t *ln =
      st_checkpoint_find(c, "encoder.layer.5.output.LayerNorm.weight");
  assert_non_null(ln);
  float *buf = malloc(ln->numel * sizeof *buf);
  TU_ASSERT_OK(st_tensor_to_f32(ln, buf));
  free(buf);
  st_checkpoint_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_f32_and_lookup),
      cmocka_unit_test(test_f16_conversion),
      cmocka_unit_test(test_bf16_conversion),
      cmocka_unit_test(test_i64_buffer_and_dtypes),
      cmocka_unit_test(test_rank0_zero_size_subbyte),
      cmocka_unit_test(test_misaligned_data),
      cmocka_unit_test(test_whitespace_padded_header),
      cmocka_unit_test(test_empty_and_escaped_names),
      cmocka_unit_test(test_nonfinite_count),
      cmocka_unit_test(test_out_of_order_offsets_accepted),
      cmocka_unit_test(test_sharded_checkpoint),
      cmocka_unit_test(test_single_file_checkpoint),
      cmocka_unit_test(test_checkpoint_not_found),
      cmocka_unit_test(test_sharded_malformed),
      cmocka_unit_test(test_header_too_small),
      cmocka_unit_test(test_header_too_large),
      cmocka_unit_test(test_header_past_end),
      cmocka_unit_test(test_malformed_header_text),
      cmocka_unit_test(test_duplicate_names),
      cmocka_unit_test(test_entry_schema),
      cmocka_unit_test(test_unknown_dtype),
      cmocka_unit_test(test_bad_shape_dims),
      cmocka_unit_test(test_rank_too_large),
      cmocka_unit_test(test_bad_metadata),
      cmocka_unit_test(test_end_before_begin),
      cmocka_unit_test(test_overlapping_offsets),
      cmocka_unit_test(test_gapped_offsets),
      cmocka_unit_test(test_size_mismatch),
      cmocka_unit_test(test_size_overflow),
      cmocka_unit_test(test_subbyte_misaligned),
      cmocka_unit_test(test_trailing_bytes),
      cmocka_unit_test(test_truncated_data),
      cmocka_unit_test(test_minilm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
