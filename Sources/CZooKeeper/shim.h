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

// All rights to whoever created the node, as authenticated (scheme "auth").
static inline const struct ACL_vector *czk_creator_all_acl(void) {
    return &ZOO_CREATOR_ALL_ACL;
}

// All rights to the creator, read for everyone else.
static inline const struct ACL_vector *czk_creator_all_world_read_acl(void) {
    static struct ACL entries[2];
    static struct ACL_vector vector = {2, entries};
    entries[0].perms = ZOO_PERM_ALL;
    entries[0].id.scheme = (char *)"auth";
    entries[0].id.id = (char *)"";
    entries[1].perms = ZOO_PERM_READ;
    entries[1].id.scheme = (char *)"world";
    entries[1].id.id = (char *)"anyone";
    return &vector;
}

// Silences the library's own writes to stderr; lines still reach the log callback.
static inline void czk_quiet_default_stream(void) {
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
}

#endif
