/* tasks: fill-mask and question answering from C, through the public
 * headers only: the compiler API compiles two HuggingFace model directories
 * to .so files, the runtime loads them, and a task pipeline turns text into
 * answers the way the HuggingFace pipelines do.
 *
 *     tasks OUT_DIR MLM_MODEL TEXT QA_MODEL QUESTION CONTEXT
 *
 * MLM_MODEL has a masked-language-model head (e.g. BertForMaskedLM) and TEXT
 * a mask token; QA_MODEL has a question-answering head. The program writes
 * OUT_DIR/fill-mask.so and OUT_DIR/question-answering.so and prints, one per
 * line and tab-separated, the 5 best tokens for each mask (score, token,
 * filled-in text) and the 3 best answers (score, answer, start and end in
 * code points of the context). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bertc/bertc.h>
#include <bertc/compiler.h>
#include <bertc/tasks.h>

/* A compiled model, ready to answer: its .so, a context and a pipeline. */
typedef struct {
  bertc_model_t *model;
  bertc_context_t *context;
  bertc_pipeline_t *pipeline;
} model_t;

static void model_close(model_t *m) {
  bertc_pipeline_release(m->pipeline);
  bertc_context_release(m->context);
  bertc_model_release(m->model);
}

/* Compiles `dir` to OUT_DIR/<name>.so and opens a pipeline on it that
 * returns `top_k` answers. */
static bertc_status_t model_open(const char *dir, const char *out_dir, const char *name,
                                 int32_t top_k, model_t *m) {
  memset(m, 0, sizeof *m);
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s.so", out_dir, name) >= (int)sizeof path)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: path too long", out_dir);
  bertc_compile_options_t co;
  bertc_compile_options_init(&co);
  co.output_path = path;
  co.quiet = true;
  bertc_status_t s = bertc_compile(dir, &co);
  if (!s) s = bertc_model_load(path, NULL, &m->model);
  if (!s) s = bertc_context_create(m->model, NULL, &m->context);
  bertc_pipeline_options_t po;
  bertc_pipeline_options_init(&po);
  po.top_k = top_k;
  if (!s) s = bertc_pipeline_create_from_context(m->context, &po, &m->pipeline);
  return s;
}

static bertc_status_t fill_mask(const model_t *m, const char *text) {
  bertc_fill_mask_t fm;
  bertc_status_t s = bertc_pipeline_fill_mask(m->pipeline, text, strlen(text), &fm);
  if (s) return s;
  printf("fill-mask: %s\n", text);
  for (int32_t k = 0; k < fm.num_masks; k++) {
    const bertc_mask_fill_t *mask = &fm.masks[k];
    printf(" mask at token %d\n", mask->position);
    for (int32_t c = 0; c < mask->count; c++)
      printf("  %.6f\t%s\t%s\n", (double)mask->candidates[c].score, mask->candidates[c].token_str,
             mask->candidates[c].sequence);
  }
  bertc_fill_mask_deinit(&fm);
  return BERTC_OK;
}

static bertc_status_t answer(const model_t *m, const char *question, const char *context) {
  bertc_qa_answers_t answers;
  bertc_status_t s = bertc_pipeline_question_answering(m->pipeline, question, strlen(question),
                                                       context, strlen(context), &answers);
  if (s) return s;
  printf("question: %s\n", question);
  for (int32_t i = 0; i < answers.count; i++)
    printf("  %.6f\t%s\t%d\t%d\n", answers.items[i].score, answers.items[i].answer,
           answers.items[i].start, answers.items[i].end);
  bertc_qa_answers_deinit(&answers);
  return BERTC_OK;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: tasks OUT_DIR MLM_MODEL TEXT QA_MODEL QUESTION CONTEXT\n");
    return 2;
  }
  model_t mlm = {0}, qa = {0};
  bertc_status_t s = model_open(argv[2], argv[1], "fill-mask", 5, &mlm);
  if (!s) s = fill_mask(&mlm, argv[3]);
  if (!s) s = model_open(argv[4], argv[1], "question-answering", 3, &qa);
  if (!s) s = answer(&qa, argv[5], argv[6]);
  model_close(&mlm);
  model_close(&qa);
  if (s) {
    fprintf(stderr, "tasks: %s\n", bertc_status_message(s));
    bertc_status_free(s);
    return 1;
  }
  return 0;
}
