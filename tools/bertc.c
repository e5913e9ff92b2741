/* bertc: the command-line entry point. Dispatches to one subcommand; each
 * lives in its own file (tools/cmd_*.c) and parses its options with
 * getopt_long. Exit codes: 0 ok, 1 user error (one line naming the file and
 * the problem), 2 usage. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} commands[] = {
    {"compile", cmd_compile, "compile a model to a shared object"},
    {"run", cmd_run, "run a model (.so, model.json or HuggingFace directory) on inputs"},
    {"tokenize", cmd_tokenize, "show the token ids 'run' feeds a model for some text"},
    {"inspect", cmd_inspect, "describe a model or a compiled .so"},
    {"bench", cmd_bench, "measure the latency of a compiled model"},
    {"serve", cmd_serve, "serve a compiled model over HTTP (OpenAI and TEI APIs)"},
};

static void usage(FILE *f) {
  fputs("usage: bertc <command> [options]\n\ncommands:\n", f);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fputs("\nrun 'bertc <command> --help' for a command's options\n", f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return CLI_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    puts("bertc 0.1.0");
    return CLI_OK;
  }
  opterr = 0; /* subcommands report bad options themselves, on one line */
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "bertc: unknown command '%s' (run 'bertc --help' for the commands)\n", argv[1]);
  return CLI_USAGE;
}
