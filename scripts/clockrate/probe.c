/*
 * clockrate-probe: measures, under libclockrate.so, how long each kind of wait
 * takes in real time and on the process's (scaled) CLOCK_MONOTONIC. The real
 * clock is read with syscall(SYS_clock_gettime), which the preload leaves alone.
 *
 *   clockrate-probe waits MS     every wait of MS ms, one line each:
 *                                NAME EXPECT REAL_MS FAKE_MS
 *                                EXPECT: scaled (a duration on the process's
 *                                clocks) or wall (a deadline on CLOCK_REALTIME)
 *   clockrate-probe clocks MS    sleeps MS real ms (raw syscall) and prints how
 *                                far each clock advanced: NAME MS
 *   clockrate-probe now          real and fake CLOCK_MONOTONIC, in ns
 *   clockrate-probe remaining MS timerfd_gettime right after arming MS ms
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static long long real_ns(clockid_t c) {
    struct timespec ts;
    syscall(SYS_clock_gettime, c, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long fake_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec ns_ts(long long ns) {
    struct timespec ts = {ns / 1000000000LL, ns % 1000000000LL};
    return ts;
}

static struct timespec after(clockid_t c, long long ns) { return ns_ts(fake_ns(c) + ns); }

static long long D;  /* the wait, ns */
static long long r0, f0;

static void begin(void) {
    r0 = real_ns(CLOCK_MONOTONIC);
    f0 = fake_ns(CLOCK_MONOTONIC);
}

static void end(const char *name, const char *expect) {
    long long r = real_ns(CLOCK_MONOTONIC) - r0, f = fake_ns(CLOCK_MONOTONIC) - f0;
    printf("%s %s %.1f %.1f\n", name, expect, r / 1e6, f / 1e6);
    fflush(stdout);
}

static void timerfd_wait(clockid_t c, int absolute) {
    int fd = timerfd_create(c, TFD_CLOEXEC);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value = absolute ? after(c, D) : ns_ts(D);
    timerfd_settime(fd, absolute ? TFD_TIMER_ABSTIME : 0, &its, NULL);
    uint64_t n;
    while (read(fd, &n, sizeof n) < 0 && errno == EINTR) {
    }
    close(fd);
}

static void cond_wait(int monotonic, int clockwait) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    if (monotonic) pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &a);
    clockid_t c = monotonic || clockwait ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    struct timespec until = after(c, D);
    pthread_mutex_lock(&m);
    int rc = 0;
    while (rc != ETIMEDOUT)
        rc = clockwait ? pthread_cond_clockwait(&cv, &m, CLOCK_MONOTONIC, &until) : pthread_cond_timedwait(&cv, &m, &until);
    pthread_mutex_unlock(&m);
    pthread_cond_destroy(&cv);
}

static void waits(void) {
    struct timespec t = ns_ts(D), until;
    struct timeval tv;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev;

    begin(); nanosleep(&t, NULL); end("nanosleep", "scaled");
    begin(); clock_nanosleep(CLOCK_MONOTONIC, 0, &t, NULL); end("clock_nanosleep_rel_monotonic", "scaled");
    begin(); clock_nanosleep(CLOCK_REALTIME, 0, &t, NULL); end("clock_nanosleep_rel_realtime", "scaled");
    begin(); until = after(CLOCK_MONOTONIC, D); clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    end("clock_nanosleep_abs_monotonic", "scaled");
    begin(); until = after(CLOCK_BOOTTIME, D); clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &until, NULL);
    end("clock_nanosleep_abs_boottime", "scaled");
    begin(); until = after(CLOCK_REALTIME, D); clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &until, NULL);
    end("clock_nanosleep_abs_realtime", "wall");
    begin(); usleep((useconds_t)(D / 1000)); end("usleep", "scaled");
    begin(); poll(NULL, 0, (int)(D / 1000000)); end("poll", "scaled");
    begin(); ppoll(NULL, 0, &t, NULL); end("ppoll", "scaled");
    begin(); epoll_wait(ep, &ev, 1, (int)(D / 1000000)); end("epoll_wait", "scaled");
    begin(); epoll_pwait(ep, &ev, 1, (int)(D / 1000000), NULL); end("epoll_pwait", "scaled");
    begin(); if (epoll_pwait2(ep, &ev, 1, &t, NULL) < 0 && errno == ENOSYS) usleep((useconds_t)(D / 1000));
    end("epoll_pwait2", "scaled");
    begin(); tv.tv_sec = D / 1000000000LL; tv.tv_usec = (D % 1000000000LL) / 1000; select(0, NULL, NULL, NULL, &tv);
    end("select", "scaled");
    begin(); pselect(0, NULL, NULL, NULL, &t, NULL); end("pselect", "scaled");
    begin(); timerfd_wait(CLOCK_MONOTONIC, 0); end("timerfd_rel_monotonic", "scaled");
    begin(); timerfd_wait(CLOCK_MONOTONIC, 1); end("timerfd_abs_monotonic", "scaled");
    begin(); timerfd_wait(CLOCK_BOOTTIME, 1); end("timerfd_abs_boottime", "scaled");
    begin(); timerfd_wait(CLOCK_REALTIME, 0); end("timerfd_rel_realtime", "scaled");
    begin(); timerfd_wait(CLOCK_REALTIME, 1); end("timerfd_abs_realtime", "wall");
    begin(); cond_wait(0, 0); end("pthread_cond_timedwait_realtime", "wall");
    begin(); cond_wait(1, 0); end("pthread_cond_timedwait_monotonic", "scaled");
    begin(); cond_wait(0, 1); end("pthread_cond_clockwait_monotonic", "scaled");
    {
        sem_t s;
        sem_init(&s, 0, 0);
        begin(); until = after(CLOCK_REALTIME, D); while (sem_timedwait(&s, &until) < 0 && errno == EINTR) {}
        end("sem_timedwait_realtime", "wall");
        begin(); until = after(CLOCK_MONOTONIC, D); while (sem_clockwait(&s, CLOCK_MONOTONIC, &until) < 0 && errno == EINTR) {}
        end("sem_clockwait_monotonic", "scaled");
        sem_destroy(&s);
    }
    {
        pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&m);
        begin(); until = after(CLOCK_MONOTONIC, D); pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &until);
        end("pthread_mutex_clocklock_monotonic", "scaled");
        pthread_mutex_unlock(&m);
    }
    {
        static uint32_t word;
        begin(); syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &t, NULL, 0); end("futex_wait", "scaled");
        begin(); until = after(CLOCK_MONOTONIC, D);
        syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, &until, NULL, FUTEX_BITSET_MATCH_ANY);
        end("futex_wait_bitset_monotonic", "scaled");
    }
    close(ep);
}

static void clocks(long long ms) {
    static const struct { clockid_t c; const char *name; } cs[] = {
        {CLOCK_MONOTONIC, "monotonic"}, {CLOCK_MONOTONIC_RAW, "monotonic_raw"},
        {CLOCK_MONOTONIC_COARSE, "monotonic_coarse"}, {CLOCK_BOOTTIME, "boottime"}, {CLOCK_REALTIME, "realtime"},
    };
    long long before[5], r = real_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < 5; i++) before[i] = fake_ns(cs[i].c);
    struct timespec t = ns_ts(ms * 1000000LL);
    syscall(SYS_nanosleep, &t, NULL);
    for (int i = 0; i < 5; i++) printf("%s %.1f\n", cs[i].name, (fake_ns(cs[i].c) - before[i]) / 1e6);
    printf("real %.1f\n", (real_ns(CLOCK_MONOTONIC) - r) / 1e6);
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "now")) {
        printf("%lld %lld %lld %lld\n", real_ns(CLOCK_MONOTONIC), fake_ns(CLOCK_MONOTONIC), real_ns(CLOCK_BOOTTIME),
               fake_ns(CLOCK_BOOTTIME));
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: clockrate-probe waits|clocks|remaining MS | now\n");
        return 2;
    }
    long long ms = atoll(argv[2]);
    D = ms * 1000000LL;
    if (!strcmp(argv[1], "waits")) waits();
    else if (!strcmp(argv[1], "clocks")) clocks(ms);
    else if (!strcmp(argv[1], "remaining")) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        struct itimerspec its, cur;
        memset(&its, 0, sizeof its);
        its.it_value = ns_ts(D);
        its.it_interval = ns_ts(D);
        timerfd_settime(fd, 0, &its, NULL);
        timerfd_gettime(fd, &cur);
        printf("value %.1f interval %.1f\n", (cur.it_value.tv_sec * 1e9 + cur.it_value.tv_nsec) / 1e6,
               (cur.it_interval.tv_sec * 1e9 + cur.it_interval.tv_nsec) / 1e6);
    } else return 2;
    return 0;
}
