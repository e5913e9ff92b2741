/* The model facts task post-processing reads from the metadata JSON: the
 * task, the labels (id2label in order; "LABEL_<i>" for an entry that is not
 * a string, as transformers names them), problem_type, max_seq_length and
 * pad_token_id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "runtime/tasks.h"

void rt_task_model_deinit(rt_task_model_t *m) {
  if (!m) return;
  for (int32_t i = 0; i < m->num_labels && m->labels; i++)
    free(m->labels[i]);
  free(m->labels);
  memset(m, 0, sizeof *m);
}

int32_t rt_metadata_pad_id(const json_t *metadata) {
  json_t *v = json_object_get(metadata, "pad_token_id");
  return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX
             ? (int32_t)json_integer_value(v)
             : 0;
}

bertc_status_t rt_task_model_from_metadata(const json_t *meta, rt_task_model_t *out) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(meta))
    return bertc_status_make(BERTC_STATUS_DATA, "model metadata is not a JSON object");
  const char *task = json_string_value(json_object_get(meta, "task"));
  if (!task || !bertc_task_from_name(task, &out->task) || out->task == BERTC_TASK_AUTO)
    return bertc_status_make(BERTC_STATUS_DATA, "model metadata: unknown task '%s'",
                             task ? task : "(missing)");
  const char *pt = json_string_value(json_object_get(meta, "problem_type"));
  snprintf(out->problem_type, sizeof out->problem_type, "%s", pt ? pt : "");
  json_t *max = json_object_get(meta, "max_seq_length");
  out->max_seq_length = json_is_number(max) ? (int64_t)json_number_value(max) : 0;
  out->pad_id = rt_metadata_pad_id(meta);
  json_t *labels = json_object_get(meta, "labels");
  size_t n = json_is_array(labels) ? json_array_size(labels) : 0;
  if (n > 1000000) return bertc_status_make(BERTC_STATUS_DATA, "model metadata: too many labels");
  if (n) {
    out->labels = calloc(n, sizeof *out->labels);
    if (!out->labels) return base_oom();
    out->num_labels = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
      const char *l = json_string_value(json_array_get(labels, i));
      char buf[32];
      if (!l) {
        snprintf(buf, sizeof buf, "LABEL_%zu", i);
        l = buf;
      }
      bertc_status_t s = base_strdup(l, &out->labels[i]);
      if (s) {
        rt_task_model_deinit(out);
        return s;
      }
    }
  }
  return BERTC_OK;
}
