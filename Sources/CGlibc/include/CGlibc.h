#ifndef CGLIBC_H
#define CGLIBC_H

// What Swift's Glibc module does not declare. Under _GNU_SOURCE only: the command source needs
// the spawned program's working directory set without a shell, and a pipe whose ends are
// close-on-exec from the start (no other thread's child may inherit it). From malloc.h, which
// the module leaves out: malloc_trim, to hand a finished phase's freed memory back.

#include <sys/types.h>
#include <spawn.h>
#ifdef __linux__
#include <malloc.h>
#endif

/// posix_spawn_file_actions_addchdir_np (glibc 2.29): the child changes directory before exec.
int cspawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// pipe2(fds, O_CLOEXEC).
int cspawn_pipe_cloexec(int fds[2]);

#endif
