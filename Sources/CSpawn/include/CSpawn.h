#ifndef CSPAWN_H
#define CSPAWN_H

// What glibc declares only under _GNU_SOURCE, which Swift's Glibc module does not define:
// the command source needs the spawned program's working directory set without a shell, and
// a pipe whose ends are close-on-exec from the start (no other thread's child may inherit it).

#include <sys/types.h>
#include <spawn.h>

/// posix_spawn_file_actions_addchdir_np (glibc 2.29): the child changes directory before exec.
int cspawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// pipe2(fds, O_CLOEXEC).
int cspawn_pipe_cloexec(int fds[2]);

#endif
