/* The agreement of an int8 model with its fp32 model on probe inputs, measured
 * when `bertc compile --precision int8` writes a .so (compiler/compile.c).
 *
 * Both .so files run on the same inputs through the runtime (compiled code, not
 * the interpreter: seconds for a few hundred texts): the texts of a JSON Lines
 * file ({"text": ...} per line), else a built-in set of 64 varied texts,
 * encoded with the model's tokenizer; a model without tokenizer files gets 64
 * pseudo-random id sequences. Per output: the mean and minimum cosine of the
 * int8 outputs to the fp32 ones (each run's whole output, one per input), and
 * for logits the share of rows (sequences or tokens) whose top answer
 * (argmax) is unchanged. */
#ifndef BERTC_COMPILER_AGREEMENT_H
#define BERTC_COMPILER_AGREEMENT_H

#include <stdbool.h>

#include "bertc/bertc.h"

/* The "text" of each JSON line of path (an error names the file and line);
 * free with agreement_free_texts. */
bertc_status_t agreement_read_texts(const char *path, char ***out, size_t *count) BERTC_MUST_USE;
void agreement_free_texts(char **texts, size_t count);

/* The built-in probe texts. */
const char *const *agreement_builtin_texts(size_t *count);

/* texts: NULL for the built-in set. *out_report: the multi-line report (heap);
 * *out_ok: every output's mean cosine is at least min_cosine. */
bertc_status_t agreement_measure(const char *int8_so, const char *fp32_so,
                                 const char *const *texts, size_t num_texts, double min_cosine,
                                 char **out_report, bool *out_ok) BERTC_MUST_USE;

#endif
