#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
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

pid_t cprocess_spawn_guarded(const char *file, char *const argv[], char *const envp[], int *error) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *error = errno;
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *error = errno;
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        // The child: only async-signal-safe calls until exec.
        int code = 0;
        if (setpgid(0, 0) != 0) code = errno;
        // Dies with its parent (the watchdog, single-threaded: the thread that
        // forked is the process), also when the parent died before this line.
        if (code == 0 && prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) code = errno;
        if (code == 0 && getppid() != parent) _exit(137);
        if (code == 0) {
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, NULL);
            for (int sig = 1; sig < NSIG; sig++) {
                if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
            }
            // stdin is not the watchdog's (the daemon's pipe to it): /dev/null.
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0 && null != 0) {
                dup2(null, 0);
                close(null);
            }
            // Nothing but stdin, stdout and stderr (and the report pipe, close-on-exec).
            for (int fd = 3; fd < 1024; fd++) {
                if (fd != report[1]) close(fd);
            }
            execvpe(file, argv, envp);
            code = errno;
        }
        ssize_t ignored = write(report[1], &code, sizeof code);
        (void)ignored;
        _exit(127);
    }
    close(report[1]);
    int code = 0;
    ssize_t got;
    do {
        got = read(report[0], &code, sizeof code);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof code) {
        // exec failed: the child is gone (reaped here) and the errno says why.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *error = code;
        return -1;
    }
    return pid;
}

int cprocess_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int cprocess_memfd(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

void cprocess_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
