#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <spawn.h>
#include <unistd.h>

#include "cprocess.h"

int cprocess_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cprocess_addclosefrom(posix_spawn_file_actions_t *actions, int low) {
    return posix_spawn_file_actions_addclosefrom_np(actions, low);
}

int cprocess_raise_priority(int steps) {
    errno = 0;
    int current = getpriority(PRIO_PROCESS, 0);
    if (current == -1 && errno != 0) return current;
    // The most it may: RLIMIT_NICE can allow part of the raise without CAP_SYS_NICE.
    for (int by = steps; by > 0; by--) {
        if (syscall(SYS_setpriority, PRIO_PROCESS, 0, current - by) == 0) return current - by;
    }
    return current;
}
