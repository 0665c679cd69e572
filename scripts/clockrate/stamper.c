/*
 * clockrate-stamper NAME LOG [BEAT_MS [stubborn]]: the supervised command of the
 * clock-rate test. Appends "start NAME PID NS", then "beat NAME PID NS" every
 * BEAT_MS (default 5), and "term NAME PID NS" when SIGTERM arrives, to LOG. It
 * exits on SIGTERM; "stubborn" ignores it (stamps it and beats on until SIGKILL).
 * NS is the real CLOCK_MONOTONIC, read and slept on with raw system calls, so
 * the preload it inherits from its daemon does not touch it. Each line is one
 * O_APPEND write, whole.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int fd = -1;
static int stubborn;
static const char *name;

static long long now_ns(void) {
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* async-signal-safe: no stdio */
static void stamp(const char *what) {
    char line[160], digits[24];
    size_t n = 0;
    long long values[2] = {(long long)getpid(), now_ns()};
    for (const char *s = what; *s && n < 40; s++) line[n++] = *s;
    line[n++] = ' ';
    for (const char *s = name; *s && n < 100; s++) line[n++] = *s;
    for (int i = 0; i < 2; i++) {
        line[n++] = ' ';
        long long v = values[i];
        int k = 0;
        do { digits[k++] = (char)('0' + v % 10); v /= 10; } while (v);
        while (k) line[n++] = digits[--k];
    }
    line[n++] = '\n';
    (void)!write(fd, line, n);
}

static void on_term(int sig) {
    (void)sig;
    stamp("term");
    if (!stubborn) _exit(0);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: clockrate-stamper NAME LOG [BEAT_MS [stubborn]]\n");
        return 2;
    }
    name = argv[1];
    fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        perror(argv[2]);
        return 1;
    }
    long long beat_ms = argc > 3 ? atoll(argv[3]) : 5;
    stubborn = argc > 4 && !strcmp(argv[4], "stubborn");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    stamp("start");
    struct timespec t = {beat_ms / 1000, (beat_ms % 1000) * 1000000L};
    for (;;) {
        syscall(SYS_nanosleep, &t, NULL);
        stamp("beat");
    }
}
