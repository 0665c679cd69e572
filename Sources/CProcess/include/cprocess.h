#ifndef ELECTION_CPROCESS_H
#define ELECTION_CPROCESS_H

// What the supervised command needs of Linux's process API that Swift's Glibc
// module does not export (these are _GNU_SOURCE declarations).
#include <spawn.h>

// A pipe whose ends are close-on-exec from the start: no child spawned by another
// thread in between can inherit them.
int cprocess_pipe_cloexec(int fds[2]);

// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): the child closes every
// descriptor from `low` up, so it inherits nothing but stdin, stdout and stderr.
int cprocess_addclosefrom(posix_spawn_file_actions_t *actions, int low);

// Lowers the calling thread's nice value by up to `steps`, as far as CAP_SYS_NICE or
// RLIMIT_NICE allow (nothing without either); returns the nice value it runs at.
int cprocess_raise_priority(int steps);

#endif
