/* JSON helpers shared by the frontend's readers (json_util.h). */
#include "frontend/json_util.h"

#include <stdlib.h>

#include "base/base.h"

const char *fe_json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a real number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

bertc_status_t fe_json_load_file(const char *path, size_t max_size, json_t **out) {
  *out = NULL;
  char *text;
  size_t size;
  BERTC_RETURN_IF_ERROR(base_read_file(path, max_size, &text, &size));
  json_error_t jerr;
  json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  free(text);
  if (!root)
    return bertc_status_make(BERTC_STATUS_DATA, "%s: invalid JSON at line %d, column %d: %s",
                             path, jerr.line, jerr.column, jerr.text);
  *out = root;
  return BERTC_OK;
}
