/* Output files and the system linker.
 *
 * Every output is first written to a temporary file beside its final path
 * ("<out>.tmpXXXXXX") and renamed into place only when the whole compile
 * succeeded, so a failed compile leaves nothing behind and a reader never
 * sees a half-written .so. LLVM has no linker in its C API, so the object is
 * linked by the system compiler driver, as TVM's create_shared does:
 *
 *     $CC -shared -nostartfiles -Wl,-z,defs -Wl,--build-id=none
 *         -Wl,--as-needed -o TMP OBJ -lm
 *
 * -nostartfiles: the model has no constructors, and crti/crtbegin would add
 * _init/_fini to the exported symbols. -z defs turns an unresolved symbol into
 * a link error instead of a dlopen failure. No build id and no input names in
 * the output keep it byte-identical across runs. --as-needed records libm
 * only when the kernels call it. The driver runs through posix_spawnp (no
 * shell); $CC may hold several words ("ccache gcc"), split at blanks. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/cg_internal.h"
#include "base/base.h"

extern char **environ;

bertc_status_t cg_make_temp(const char *final_path, const char *suffix, char **out_tmp) {
  *out_tmp = NULL;
  size_t n = strlen(final_path) + strlen(suffix) + 16;
  char *tmp;
  BERTC_RETURN_IF_ERROR(base_alloc(n, (void **)&tmp));
  snprintf(tmp, n, "%s.tmpXXXXXX%s", final_path, suffix);
  int fd = mkstemps(tmp, (int)strlen(suffix));
  if (fd < 0) {
    bertc_status_t s = bertc_status_make(BERTC_STATUS_IO, "%s: cannot create: %s", final_path,
                                         strerror(errno));
    free(tmp);
    return s;
  }
  close(fd);
  *out_tmp = tmp;
  return BERTC_OK;
}

bertc_status_t cg_write_temp(const char *final_path, const char *suffix, const void *data,
                             size_t size, char **out_tmp) {
  char *tmp;
  BERTC_RETURN_IF_ERROR(cg_make_temp(final_path, suffix, &tmp));
  FILE *f = fopen(tmp, "wb");
  bool ok = f && (size == 0 || fwrite(data, 1, size, f) == size);
  int err = errno;
  if (f && fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    unlink(tmp);
    free(tmp);
    return bertc_status_make(BERTC_STATUS_IO, "%s: write failed: %s", final_path,
                             strerror(err));
  }
  chmod(tmp, 0644);
  *out_tmp = tmp;
  return BERTC_OK;
}

bertc_status_t cg_commit(const char *tmp_path, const char *final_path) {
  if (rename(tmp_path, final_path) != 0) {
    bertc_status_t s =
        bertc_status_make(BERTC_STATUS_IO, "%s: cannot write: %s", final_path, strerror(errno));
    unlink(tmp_path);
    return s;
  }
  return BERTC_OK;
}

/* Runs argv, returning its exit status and its stdout+stderr (heap). */
static bertc_status_t run_captured(char *const *argv, int *out_exit, char **out_log) {
  *out_log = NULL;
  int fds[2];
  if (pipe(fds) != 0)
    return bertc_status_make(BERTC_STATUS_IO, "pipe failed: %s", strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return bertc_status_make(rc == ENOENT ? BERTC_STATUS_NOT_FOUND : BERTC_STATUS_IO,
                             "cannot run the linker '%s': %s (set $CC or the linker option)",
                             argv[0], strerror(rc));
  }
  size_t cap = 4096, len = 0;
  char *log = malloc(cap);
  for (;;) {
    if (log && cap - len < 1024) {
      char *bigger = realloc(log, cap * 2);
      if (!bigger) {
        free(log);
        log = NULL;
      } else {
        log = bigger;
        cap *= 2;
      }
    }
    char scratch[1024];
    char *dst = log ? log + len : scratch;
    size_t room = log ? cap - len - 1 : sizeof scratch;
    ssize_t r = read(fds[0], dst, room);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (log) len += (size_t)r;
  }
  close(fds[0]);
  if (log) log[len] = '\0';
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *out_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  *out_log = log;
  return BERTC_OK;
}

bertc_status_t cg_link_shared(const char *linker, const char *const *objs, size_t nobjs,
                              const char *so_path) {
  if (!linker || !*linker) linker = getenv("CC");
  if (!linker || !*linker) linker = "cc";
  static const char *const flags_before[] = {
      "-shared",         "-nostartfiles",      "-Wl,-z,defs",  "-Wl,--build-id=none",
      "-Wl,--as-needed", "-Wl,-z,noexecstack", "-Wl,-z,relro", "-o"};
  char *words;
  BERTC_RETURN_IF_ERROR(base_strdup(linker, &words));
  size_t max_args = strlen(words) / 2 + 1 + BASE_ARRAY_LEN(flags_before) + nobjs + 3;
  char **argv;
  bertc_status_t s = base_calloc(max_args, sizeof *argv, (void **)&argv);
  if (s) {
    free(words);
    return s;
  }
  size_t argc = 0;
  for (char *save = NULL, *w = strtok_r(words, " \t", &save); w;
       w = strtok_r(NULL, " \t", &save))
    argv[argc++] = w;
  if (argc == 0) argv[argc++] = "cc";
  const char *linker_name = argv[0];
  for (size_t i = 0; i < BASE_ARRAY_LEN(flags_before); i++)
    argv[argc++] = (char *)flags_before[i];
  argv[argc++] = (char *)so_path;
  for (size_t i = 0; i < nobjs; i++) argv[argc++] = (char *)objs[i];
  argv[argc++] = "-lm";
  argv[argc] = NULL;

  int exit_code = 0;
  char *log = NULL;
  s = run_captured(argv, &exit_code, &log);
  if (!s && exit_code != 0) {
    size_t n = log ? strlen(log) : 0;
    while (n && (log[n - 1] == '\n' || log[n - 1] == ' ')) log[--n] = '\0';
    s = bertc_status_make(BERTC_STATUS_IO, "the linker '%s' failed (exit %d)%s%s", linker_name,
                          exit_code, n ? ":\n" : "", n ? log : "");
  }
  free(log);
  free(argv);
  free(words);
  return s;
}
