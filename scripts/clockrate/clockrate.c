/*
 * libclockrate: an LD_PRELOAD library that makes a process (and the children
 * that inherit its environment) see its monotonic clocks run at rate R of real
 * time, and wait accordingly: a wait of d seconds on the process's clocks takes
 * d / R real seconds. It stands in for a machine whose clock runs slow (R < 1) or
 * fast (R > 1) against the ZooKeeper quorum's.
 *
 *   CLOCKRATE=0.5            the rate R (decimal, > 0); unset, empty or 1: no effect
 *   CLOCKRATE_ORIGIN_NS=N    optional: the instant, on the real CLOCK_MONOTONIC in
 *                            ns, from which the fake clocks diverge. Give every
 *                            process of a tree the same value (the daemon and its
 *                            watchdog exchange CLOCK_MONOTONIC instants). Without
 *                            it, the instant this library was loaded.
 *   CLOCKRATE_TRACE=PATH     optional: append one line per converted wait to PATH
 *                            (what, thread id, arguments, the real CLOCK_MONOTONIC)
 *
 * Scaled clocks: CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE,
 * CLOCK_BOOTTIME (and CLOCK_BOOTTIME_ALARM for timers):
 *     fake = origin + (real - origin) * R        (origin translated per clock)
 * CLOCK_REALTIME (and gettimeofday, time, CLOCK_TAI) is left alone: in the model
 * tested, the wall clock is disciplined by NTP and keeps real time, while the
 * interval clock the lease rests on runs at its own rate; file and log
 * timestamps stay comparable with other hosts. Waits against a wall-clock
 * deadline (sem_timedwait, a default pthread_cond_timedwait) are therefore not
 * converted either.
 *
 * Waits converted (relative: d -> d / R; absolute on a scaled clock: fake
 * instant -> real instant; what a call reports back as remaining -> x R):
 *   nanosleep, clock_nanosleep (relative and TIMER_ABSTIME), sleep, usleep,
 *   poll, ppoll, epoll_wait, epoll_pwait, epoll_pwait2, select, pselect,
 *   timerfd_settime / timerfd_gettime (the clock of each timerfd is recorded by
 *   timerfd_create), pthread_cond_timedwait (when the condvar's clock is
 *   CLOCK_MONOTONIC), pthread_cond_clockwait, sem_clockwait,
 *   pthread_mutex_clocklock, and futex waits made through syscall(2)
 *   (FUTEX_WAIT relative, FUTEX_WAIT_BITSET absolute on CLOCK_MONOTONIC).
 *
 * Not covered: raw system calls that bypass libc (other than futex through
 * syscall(2)); syscall(SYS_clock_gettime) reads the real clock, which is what
 * the probes use to measure real time. POSIX timers (timer_settime), alarm and
 * setitimer. Calls glibc makes to itself internally (they do not go through the
 * PLT): hence sleep and usleep are interposed on their own.
 *
 * The constructor only reads the environment (getenv, no setenv) and resolves
 * the real functions with dlsym(RTLD_NEXT); the hooks allocate nothing and only
 * read state that is written once, before main, so they are thread-safe.
 *
 * Build: cc -O2 -shared -fPIC -o libclockrate.so clockrate.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOCK_BOOTTIME_ALARM
#define CLOCK_BOOTTIME_ALARM 9
#endif

typedef __int128 i128;
#define NS 1000000000LL
#define PPM 1000000LL

/* ---- state: written once by init(), read-only afterwards ------------------ */

static int active;        /* a rate other than 1 is in force */
static long long rate;    /* R in millionths */
/* origin on each scaled clock (real ns), indexed by clock_slot() */
static long long origin[4];

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_nanosleep)(const struct timespec *, struct timespec *);
static int (*real_clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static int (*real_ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static int (*real_epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
static int (*real_epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
static int (*real_select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
static int (*real_pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
static int (*real_timerfd_create)(int, int);
static int (*real_timerfd_settime)(int, int, const struct itimerspec *, struct itimerspec *);
static int (*real_timerfd_gettime)(int, struct itimerspec *);
static int (*real_pthread_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
static int (*real_pthread_cond_clockwait)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
static int (*real_sem_clockwait)(sem_t *, clockid_t, const struct timespec *);
static int (*real_pthread_mutex_clocklock)(pthread_mutex_t *, clockid_t, const struct timespec *);
static long (*real_syscall)(long, ...);

/* The clock of each timerfd, by descriptor: 0 unknown, 1 not scaled, else its
 * clock_slot() + 2. */
#define FD_TABLE 65536
static unsigned char timerfd_clock[FD_TABLE];

/* CLOCKRATE_TRACE=PATH: one line per converted wait, for debugging. */
static int trace_fd = -1;

static char *put_num(char *p, long long v) {
    char d[24];
    int k = 0;
    if (v < 0) { *p++ = '-'; v = -v; }
    do { d[k++] = (char)('0' + v % 10); v /= 10; } while (v && k < 23);
    while (k) *p++ = d[--k];
    return p;
}

static void trace(const char *what, long long a, long long b, long long c, long long d) {
    if (trace_fd < 0) return;
    char line[256], *p = line;
    long long v[6] = {(long long)syscall(SYS_gettid), a, b, c, d, 0};
    struct timespec ts;
    if (real_clock_gettime) { real_clock_gettime(CLOCK_MONOTONIC, &ts); v[5] = ts.tv_sec * NS + ts.tv_nsec; }
    for (const char *s = what; *s && p < line + 40; s++) *p++ = *s;
    for (int i = 0; i < 6; i++) { *p++ = ' '; p = put_num(p, v[i]); }
    *p++ = '\n';
    (void)!write(trace_fd, line, (size_t)(p - line));
}

static int clock_slot(clockid_t c) {
    switch (c) {
    case CLOCK_MONOTONIC: return 0;
    case CLOCK_MONOTONIC_RAW: return 1;
    case CLOCK_MONOTONIC_COARSE: return 2;
    case CLOCK_BOOTTIME:
    case CLOCK_BOOTTIME_ALARM: return 3;
    default: return -1;
    }
}

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

static void *next_versioned(const char *name, const char *version) {
    void *p = dlvsym(RTLD_NEXT, name, version);
    return p ? p : dlsym(RTLD_NEXT, name);
}

/* "0.5" -> 500000; 0 on anything else than digits with at most one point. */
static long long parse_rate(const char *s) {
    long long whole = 0, frac = 0, scale = PPM;
    int seen_point = 0, digits = 0;
    for (; *s; s++) {
        if (*s == '.' && !seen_point) { seen_point = 1; continue; }
        if (*s < '0' || *s > '9') return 0;
        digits++;
        if (!seen_point) {
            if (whole > 1000000) return 0;
            whole = whole * 10 + (*s - '0');
        } else if (scale > 1) {
            scale /= 10;
            frac += (*s - '0') * scale;
        }
    }
    return digits ? whole * PPM + frac : 0;
}

static long long parse_ns(const char *s) {
    long long v = 0;
    if (!s || !*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > LLONG_MAX / 10) return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static long long ts_ns(const struct timespec *ts) {
    i128 v = (i128)ts->tv_sec * NS + ts->tv_nsec;
    if (v > LLONG_MAX) return LLONG_MAX;
    if (v < LLONG_MIN) return LLONG_MIN;
    return (long long)v;
}

static struct timespec ns_ts(long long ns) {
    struct timespec ts;
    ts.tv_sec = ns / NS;
    ts.tv_nsec = ns % NS;
    if (ts.tv_nsec < 0) { ts.tv_nsec += NS; ts.tv_sec -= 1; }
    return ts;
}

static long long clamp(i128 v) { return v > LLONG_MAX ? LLONG_MAX : v < LLONG_MIN ? LLONG_MIN : (long long)v; }

/* A duration on the fake clock -> real (rounded up: never wake early). */
static long long dur_real(long long d) {
    if (d <= 0) return d;
    long long r = clamp(((i128)d * PPM + rate - 1) / rate);
    return r > 0 ? r : 1;
}

/* A real duration (time left) -> fake (rounded down). */
static long long dur_fake(long long d) {
    if (d <= 0) return d;
    return clamp((i128)d * rate / PPM);
}

static long long to_fake(int slot, long long real) {
    long long o = origin[slot];
    if (real <= o) return real;
    return clamp(o + (i128)(real - o) * rate / PPM);
}

/* A fake instant -> the real instant at which the fake clock reaches it. */
static long long to_real(int slot, long long fake) {
    long long o = origin[slot];
    if (fake <= o) return fake;
    return clamp(o + ((i128)(fake - o) * PPM + rate - 1) / rate);
}

static int ready; /* init() has run */

static void init(void) {
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) return;
    real_clock_gettime = next("clock_gettime");
    real_nanosleep = next("nanosleep");
    real_clock_nanosleep = next("clock_nanosleep");
    real_poll = next("poll");
    real_ppoll = next("ppoll");
    real_epoll_wait = next("epoll_wait");
    real_epoll_pwait = next("epoll_pwait");
    real_epoll_pwait2 = next("epoll_pwait2");
    real_select = next("select");
    real_pselect = next("pselect");
    real_timerfd_create = next("timerfd_create");
    real_timerfd_settime = next("timerfd_settime");
    real_timerfd_gettime = next("timerfd_gettime");
    real_pthread_cond_timedwait = next_versioned("pthread_cond_timedwait", "GLIBC_2.3.2");
    real_pthread_cond_clockwait = next("pthread_cond_clockwait");
    real_sem_clockwait = next("sem_clockwait");
    real_pthread_mutex_clocklock = next("pthread_mutex_clocklock");
    real_syscall = next("syscall");

    const char *r = getenv("CLOCKRATE");
    long long ppm = r ? parse_rate(r) : 0;
    if (ppm > 0 && ppm != PPM && real_clock_gettime) {
        static const clockid_t clocks[4] = {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_MONOTONIC_COARSE,
                                            CLOCK_BOOTTIME};
        struct timespec ts;
        long long now[4];
        for (int i = 0; i < 4; i++) {
            real_clock_gettime(clocks[i], &ts);
            now[i] = ts_ns(&ts);
        }
        /* The origin instant, as far back from now on every clock. */
        long long given = parse_ns(getenv("CLOCKRATE_ORIGIN_NS"));
        long long back = (given >= 0 && given <= now[0]) ? now[0] - given : 0;
        for (int i = 0; i < 4; i++) origin[i] = now[i] - back;
        rate = ppm;
        active = 1;
        const char *t = getenv("CLOCKRATE_TRACE");
        if (t && *t) trace_fd = open(t, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    }
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void clockrate_load(void) { init(); }

#define ENSURE() do { if (__builtin_expect(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE), 0)) init(); } while (0)

/* ---- clocks ---------------------------------------------------------------- */

int clock_gettime(clockid_t c, struct timespec *ts) {
    ENSURE();
    int rc = real_clock_gettime(c, ts);
    int slot;
    if (rc == 0 && active && (slot = clock_slot(c)) >= 0) *ts = ns_ts(to_fake(slot, ts_ns(ts)));
    return rc;
}

/* ---- sleeps ---------------------------------------------------------------- */

static struct timespec rel_real(const struct timespec *fake) { return ns_ts(dur_real(ts_ns(fake))); }

static int invalid_ts(const struct timespec *t) { return t->tv_nsec < 0 || t->tv_nsec >= NS || t->tv_sec < 0; }

int nanosleep(const struct timespec *req, struct timespec *rem) {
    ENSURE();
    if (!active || !req || invalid_ts(req)) return real_nanosleep(req, rem);
    trace("nanosleep", 0, 0, ts_ns(req), dur_real(ts_ns(req)));
    struct timespec r = rel_real(req), left;
    int rc = real_nanosleep(&r, rem ? &left : NULL);
    if (rc != 0 && errno == EINTR && rem) *rem = ns_ts(dur_fake(ts_ns(&left)));
    return rc;
}

int clock_nanosleep(clockid_t c, int flags, const struct timespec *req, struct timespec *rem) {
    ENSURE();
    int slot = clock_slot(c);
    if (!active || !req || invalid_ts(req)) return real_clock_nanosleep(c, flags, req, rem);
    if (flags & TIMER_ABSTIME) {
        if (slot < 0) return real_clock_nanosleep(c, flags, req, rem); /* a wall-clock or CPU-time deadline */
        struct timespec r = ns_ts(to_real(slot, ts_ns(req)));
        trace("clock_nanosleep_abs", c, 0, ts_ns(req), ts_ns(&r));
        return real_clock_nanosleep(c, flags, &r, rem);
    }
    /* A relative sleep is a duration, scaled on any clock but a CPU-time one. */
    if (slot < 0 && c != CLOCK_REALTIME && c != CLOCK_TAI) return real_clock_nanosleep(c, flags, req, rem);
    struct timespec r = rel_real(req), left;
    int rc = real_clock_nanosleep(c, flags, &r, rem ? &left : NULL);
    if (rc == EINTR && rem) *rem = ns_ts(dur_fake(ts_ns(&left)));
    return rc;
}

unsigned int sleep(unsigned int seconds) {
    ENSURE();
    struct timespec req = {seconds, 0}, rem = {0, 0};
    if (nanosleep(&req, &rem) != 0 && errno == EINTR) return (unsigned int)rem.tv_sec + (rem.tv_nsec > 0);
    return 0;
}

int usleep(useconds_t usec) {
    ENSURE();
    struct timespec req = {usec / 1000000, (long)(usec % 1000000) * 1000};
    return nanosleep(&req, NULL);
}

/* ---- polls and selects ----------------------------------------------------- */

static int ms_real(int ms) {
    if (!active || ms <= 0) return ms;
    long long r = dur_real((long long)ms * 1000000LL);
    long long out = (r + 999999) / 1000000;
    return out > INT_MAX ? INT_MAX : (int)out;
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
    ENSURE();
    if (active && timeout > 0) trace("poll", timeout, 0, 0, ms_real(timeout));
    return real_poll(fds, n, ms_real(timeout));
}

int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask) {
    ENSURE();
    if (!active || !t || invalid_ts(t)) return real_ppoll(fds, n, t, mask);
    struct timespec r = rel_real(t);
    return real_ppoll(fds, n, &r, mask);
}

int epoll_wait(int ep, struct epoll_event *ev, int max, int timeout) {
    ENSURE();
    if (active && timeout > 0) trace("epoll_wait", timeout, 0, 0, ms_real(timeout));
    return real_epoll_wait(ep, ev, max, ms_real(timeout));
}

int epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout, const sigset_t *mask) {
    ENSURE();
    return real_epoll_pwait(ep, ev, max, ms_real(timeout), mask);
}

int epoll_pwait2(int ep, struct epoll_event *ev, int max, const struct timespec *t, const sigset_t *mask) {
    ENSURE();
    if (!real_epoll_pwait2) { errno = ENOSYS; return -1; }
    if (!active || !t || invalid_ts(t)) return real_epoll_pwait2(ep, ev, max, t, mask);
    struct timespec r = rel_real(t);
    return real_epoll_pwait2(ep, ev, max, &r, mask);
}

int select(int n, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv) {
    ENSURE();
    if (!active || !tv || tv->tv_sec < 0 || tv->tv_usec < 0) return real_select(n, rd, wr, ex, tv);
    long long d = dur_real((long long)tv->tv_sec * NS + (long long)tv->tv_usec * 1000);
    struct timeval r = {d / NS, (d % NS + 999) / 1000};
    if (r.tv_usec >= 1000000) { r.tv_sec += 1; r.tv_usec -= 1000000; }
    int rc = real_select(n, rd, wr, ex, &r);
    /* Linux reports the time left: on the fake clock, as the caller expects. */
    long long left = dur_fake((long long)r.tv_sec * NS + (long long)r.tv_usec * 1000);
    tv->tv_sec = left / NS;
    tv->tv_usec = (left % NS) / 1000;
    return rc;
}

int pselect(int n, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *t, const sigset_t *mask) {
    ENSURE();
    if (!active || !t || invalid_ts(t)) return real_pselect(n, rd, wr, ex, t, mask);
    struct timespec r = rel_real(t);
    return real_pselect(n, rd, wr, ex, &r, mask);
}

/* ---- timerfd --------------------------------------------------------------- */

int timerfd_create(int c, int flags) {
    ENSURE();
    int fd = real_timerfd_create(c, flags);
    if (fd >= 0 && fd < FD_TABLE)
        __atomic_store_n(&timerfd_clock[fd], (unsigned char)(clock_slot(c) + 2), __ATOMIC_RELEASE);
    return fd;
}

/* The slot of a timerfd's clock (-1: not scaled). Descriptors beyond the table,
 * or made without timerfd_create, are looked up in /proc/self/fdinfo. */
static int timerfd_slot(int fd) {
    if (fd >= 0 && fd < FD_TABLE) {
        unsigned char v = __atomic_load_n(&timerfd_clock[fd], __ATOMIC_ACQUIRE);
        if (v) return (int)v - 2;
    }
    char path[64] = "/proc/self/fdinfo/", buf[512];
    char digits[16];
    int k = 0, n = fd < 0 ? 0 : fd;
    do { digits[k++] = (char)('0' + n % 10); n /= 10; } while (n && k < 15);
    size_t p = strlen(path);
    while (k) path[p++] = digits[--k];
    path[p] = 0;
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return -1;
    ssize_t got = read(f, buf, sizeof buf - 1);
    close(f);
    if (got <= 0) return -1;
    buf[got] = 0;
    char *c = strstr(buf, "clockid:");
    if (!c) return -1;
    c += 8;
    while (*c == ' ' || *c == '\t') c++;
    int id = 0;
    while (*c >= '0' && *c <= '9') id = id * 10 + (*c++ - '0');
    return clock_slot((clockid_t)id);
}

static struct timespec nonzero(struct timespec t, const struct timespec *was) {
    /* A value that was set must not become 0 (which disarms). */
    if (t.tv_sec == 0 && t.tv_nsec == 0 && (was->tv_sec != 0 || was->tv_nsec != 0)) t.tv_nsec = 1;
    return t;
}

static void spec_fake(struct itimerspec *s) {
    s->it_value = ns_ts(dur_fake(ts_ns(&s->it_value)));
    s->it_interval = ns_ts(dur_fake(ts_ns(&s->it_interval)));
}

int timerfd_settime(int fd, int flags, const struct itimerspec *nv, struct itimerspec *old) {
    ENSURE();
    if (!active || !nv || invalid_ts(&nv->it_value) || invalid_ts(&nv->it_interval))
        return real_timerfd_settime(fd, flags, nv, old);
    int slot = timerfd_slot(fd);
    struct itimerspec r = *nv;
    r.it_interval = nonzero(rel_real(&nv->it_interval), &nv->it_interval);
    if (nv->it_value.tv_sec != 0 || nv->it_value.tv_nsec != 0) {
        if (flags & TFD_TIMER_ABSTIME) {
            if (slot >= 0) r.it_value = nonzero(ns_ts(to_real(slot, ts_ns(&nv->it_value))), &nv->it_value);
        } else {
            r.it_value = nonzero(rel_real(&nv->it_value), &nv->it_value);
        }
    }
    trace("timerfd_settime", fd, slot * 10 + (flags & TFD_TIMER_ABSTIME), ts_ns(&nv->it_value), ts_ns(&r.it_value));
    int rc = real_timerfd_settime(fd, flags, &r, old);
    if (rc == 0 && old) spec_fake(old);
    return rc;
}

int timerfd_gettime(int fd, struct itimerspec *cur) {
    ENSURE();
    int rc = real_timerfd_gettime(fd, cur);
    if (rc == 0 && active && cur) spec_fake(cur);
    return rc;
}

/* ---- condition variables, semaphores, mutexes ------------------------------- */

/* glibc (2.25+) keeps a condvar's clock in bit 1 of __wrefs. */
#define COND_CLOCK_MONOTONIC_MASK 2

int pthread_cond_timedwait(pthread_cond_t *cond, pthread_mutex_t *m, const struct timespec *abs) {
    ENSURE();
    if (active && !invalid_ts(abs) &&
        (__atomic_load_n(&cond->__data.__wrefs, __ATOMIC_RELAXED) & COND_CLOCK_MONOTONIC_MASK)) {
        struct timespec r = ns_ts(to_real(0, ts_ns(abs)));
        trace("cond_timedwait_mono", 0, 0, ts_ns(abs), ts_ns(&r));
        return real_pthread_cond_timedwait(cond, m, &r);
    }
    return real_pthread_cond_timedwait(cond, m, abs);
}

int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *m, clockid_t c, const struct timespec *abs) {
    ENSURE();
    if (!real_pthread_cond_clockwait) return ENOSYS;
    int slot = clock_slot(c);
    if (active && !invalid_ts(abs) && slot >= 0) {
        struct timespec r = ns_ts(to_real(slot, ts_ns(abs)));
        return real_pthread_cond_clockwait(cond, m, c, &r);
    }
    return real_pthread_cond_clockwait(cond, m, c, abs);
}

int sem_clockwait(sem_t *s, clockid_t c, const struct timespec *abs) {
    ENSURE();
    if (!real_sem_clockwait) { errno = ENOSYS; return -1; }
    int slot = clock_slot(c);
    if (active && !invalid_ts(abs) && slot >= 0) {
        struct timespec r = ns_ts(to_real(slot, ts_ns(abs)));
        return real_sem_clockwait(s, c, &r);
    }
    return real_sem_clockwait(s, c, abs);
}

int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t c, const struct timespec *abs) {
    ENSURE();
    if (!real_pthread_mutex_clocklock) return ENOSYS;
    int slot = clock_slot(c);
    if (active && !invalid_ts(abs) && slot >= 0) {
        struct timespec r = ns_ts(to_real(slot, ts_ns(abs)));
        return real_pthread_mutex_clocklock(m, c, &r);
    }
    return real_pthread_mutex_clocklock(m, c, abs);
}

/* ---- futex waits through syscall(2) (libdispatch, libstdc++) ---------------- */

long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    ENSURE();
    if (active && number == SYS_futex && a4) {
        int cmd = (int)a2 & FUTEX_CMD_MASK;
        const struct timespec *t = (const struct timespec *)a4;
        if (!invalid_ts(t)) {
            struct timespec r;
            if (cmd == FUTEX_WAIT) {
                r = rel_real(t);
                trace("futex_wait", 0, 0, ts_ns(t), ts_ns(&r));
                return real_syscall(number, a1, a2, a3, (long)&r, a5, a6);
            }
            if (cmd == FUTEX_WAIT_BITSET && !((int)a2 & FUTEX_CLOCK_REALTIME)) {
                r = ns_ts(to_real(0, ts_ns(t)));
                trace("futex_wait_bitset", 0, 0, ts_ns(t), ts_ns(&r));
                return real_syscall(number, a1, a2, a3, (long)&r, a5, a6);
            }
        }
    }
    return real_syscall(number, a1, a2, a3, a4, a5, a6);
}
