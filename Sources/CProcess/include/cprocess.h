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

// Starts `file` (searched on PATH, as posix_spawnp) with `argv` and `envp` in a
// process group of its own, with default signal dispositions, stdin from /dev/null,
// no descriptor but 0, 1 and 2, and PR_SET_PDEATHSIG = SIGKILL: it dies with the calling process.
// Only for a single-threaded caller (the death signal follows the calling thread).
// Returns the pid, or -1 with the errno in `error` (also when exec failed).
#include <sys/types.h>
pid_t cprocess_spawn_guarded(const char *file, char *const argv[], char *const envp[], int *error);

// A descriptor that polls readable once `pid` (a child) has exited; -1 on error.
int cprocess_pidfd_open(pid_t pid);

// An anonymous in-memory file (close-on-exec): how the daemon hands the watchdog
// the command's environment without making it the watchdog's own.
int cprocess_memfd(const char *name);

// Names the calling thread (what ps and /proc show; at most 15 bytes).
void cprocess_name_thread(const char *name);

// Drops this process's mappings of clean pages of its executable and libraries
// (see pages.c): start-up's code leaves RSS, the page cache keeps it. Returns the
// number of pages dropped, or -1.
long cprocess_release_clean_pages(void);

#endif
