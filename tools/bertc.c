/* bertc: the command-line entry point. Dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fputs("usage: bertc <command> [options]\n"
        "commands:\n"
        "  inspect MODEL [--json]   describe a model directory, model.json or .so\n"
        "  run MODEL --ids ...      run a model\n"
        "run 'bertc <command> --help' for a command's options\n",
        f);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "bertc: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
