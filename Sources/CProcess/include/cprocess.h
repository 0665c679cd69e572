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

#endif
