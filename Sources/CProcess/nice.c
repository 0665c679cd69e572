// libdispatch on Linux imitates quality-of-service classes by renicing each worker
// thread: setpriority(PRIO_PROCESS, 0, nice), where its manager thread (timers,
// signal sources: every Swift program that sleeps has one) asks for -4 and
// user-initiated workers for -2. Raising priority needs CAP_SYS_NICE or an
// RLIMIT_NICE that allows it. Deployed, the daemon has neither (the unit's empty
// CapabilityBoundingSet=, a container's or pod's dropped capabilities), so every
// start logged "Failed to set thread priority for worker thread ... errno=13" to
// syslog, which an operator reads as a fault.
//
// This definition takes the place of glibc's for the daemon's own code, libdispatch
// included (the executable's symbol is found first). A raise the process may not
// make keeps the thread's current nice value, which is always allowed; every other
// request, and every request the process may make, goes through unchanged. The
// scheduling is what it was (the raise never happened); only the failure is gone.
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

int setpriority(int which, unsigned int who, int prio) {
    long result = syscall(SYS_setpriority, which, who, prio);
    if (result == 0 || (errno != EACCES && errno != EPERM)) return (int)result;
    // The raw syscall answers 20 - nice (1..40), never a negative number.
    long current = syscall(SYS_getpriority, which, who);
    if (current < 0 || prio >= 20 - current) return (int)result;
    return (int)syscall(SYS_setpriority, which, who, (int)(20 - current));
}
