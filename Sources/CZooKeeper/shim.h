#ifndef ELECTION_CZOOKEEPER_SHIM_H
#define ELECTION_CZOOKEEPER_SHIM_H

// The synchronous API and the multi-threaded client are declared only with THREADED.
#define THREADED 1
#include <zookeeper/zookeeper.h>

// Mutable C globals are errors under Swift 6 strict concurrency: hand out
// pointers to them through functions instead.
static inline const struct ACL_vector *czk_open_acl_unsafe(void) {
    return &ZOO_OPEN_ACL_UNSAFE;
}

// Silences the library's own writes to stderr; lines still reach the log callback.
static inline void czk_quiet_default_stream(void) {
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
}

#endif
