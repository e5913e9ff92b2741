/* bertc inspect MODEL [--json]: what a model is. MODEL is a HuggingFace
 * directory or model.json (read through the compiler, bertc_inspect_json) or
 * a compiled .so (read through the runtime: descriptor, buckets, regions,
 * target). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertc/compiler.h"
#include "tools/cli.h"
#include "tools/so_info.h"

static const char *help =
    "usage: bertc inspect MODEL [--json]\n"
    "\n"
    "Describes MODEL: a HuggingFace model directory, a model.json, or a .so made\n"
    "by 'bertc compile'.\n"
    "\n"
    "  --json     print one JSON object instead of text\n"
    "  -h, --help show this help\n";

static void print_text(json_t *o) {
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    printf("%-18s ", key);
    if (!strcmp(key, "variants") && json_is_array(v)) {
      /* a .so's code variants: one line each, best first */
      size_t i;
      json_t *x;
      json_array_foreach(v, i, x) {
        printf("%s%s%s\n", i ? "                   " : "",
               json_string_value(json_object_get(x, "target_cpu")),
               json_is_true(json_object_get(x, "runs_here")) ? "  (runs here)" : "");
      }
      if (!json_array_size(v)) printf("\n");
    } else if (json_is_string(v)) {
      printf("%s\n", json_string_value(v));
    } else {
      char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      printf("%s\n", t ? t : "?");
      free(t);
    }
  }
}

int cmd_inspect(int argc, char **argv) {
  static const struct option opts[] = {
      {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int as_json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
    if (c == 'j') as_json = 1;
    else if (c == 'h') {
      fputs(help, stdout);
      return CLI_OK;
    } else
      return cli_option_error("inspect", c, argv);
  }
  if (optind + 1 != argc) return cli_usage_error("inspect", "expected one MODEL argument");
  const char *path = argv[optind];
  json_t *o = NULL;
  if (cli_is_shared_object(path)) {
    bertc_status_t s = so_info_json(path, &o);
    if (s) return cli_fail("inspect", s);
  } else {
    char *text = NULL;
    bertc_status_t s = bertc_inspect_json(path, &text);
    if (s) return cli_fail("inspect", s);
    o = json_loads(text, 0, NULL);
    free(text);
    if (!o)
      return cli_fail("inspect", bertc_status_make(BERTC_STATUS_INTERNAL, "%s: unreadable "
                                                   "description", path));
  }
  if (as_json) {
    char *t = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(t);
    free(t);
  } else {
    print_text(o);
  }
  json_decref(o);
  return CLI_OK;
}
