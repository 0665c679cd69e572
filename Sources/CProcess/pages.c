// Start-up touches much code and read-only data that the daemon never runs again
// (argument parsing, configuration, the first connection), and the kernel maps
// file pages 64 KiB around each fault. Those pages stay in this process's RSS for
// ever, although they are clean copies of the executable's and libraries' files.
// cprocess_release_clean_pages drops this process's mappings of such pages: every
// present page of a private file mapping that is still the file's own (not copied
// on write; /proc/self/pagemap's "file page" bit) in a read-only mapping (code,
// constants). The page cache keeps them; a page used again comes back on a minor
// fault with the same contents. Writable mappings (.data, .bss) are never touched,
// nor pages copied on write (relocations): the call cannot change what the
// process computes.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cprocess.h"

#define PM_PRESENT (1ULL << 63)
#define PM_FILE (1ULL << 61)

// Drops the present file pages among `count` pages from `start`; returns how many.
static long release_range(int pagemap, uintptr_t start, size_t count, size_t page) {
    uint64_t entries[512];
    long released = 0;
    uintptr_t run = 0;  // start of the current run of droppable pages, 0: none
    for (size_t done = 0; done < count;) {
        size_t batch = count - done < 512 ? count - done : 512;
        off_t offset = (off_t)((start / page + done) * sizeof(uint64_t));
        ssize_t got = pread(pagemap, entries, batch * sizeof(uint64_t), offset);
        if (got <= 0) break;
        size_t n = (size_t)got / sizeof(uint64_t);
        for (size_t i = 0; i < n; i++) {
            uintptr_t address = start + (done + i) * page;
            int droppable = (entries[i] & PM_PRESENT) && (entries[i] & PM_FILE);
            if (droppable) {
                if (!run) run = address;
                released++;
            } else if (run) {
                madvise((void *)run, address - run, MADV_DONTNEED);
                run = 0;
            }
        }
        done += n;
    }
    if (run) madvise((void *)run, start + count * page - run, MADV_DONTNEED);
    return released;
}

long cprocess_release_clean_pages(void) {
    FILE *maps = fopen("/proc/self/maps", "re");
    if (!maps) return -1;
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) {
        fclose(maps);
        return -1;
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    long released = 0;
    char line[4096];
    while (fgets(line, sizeof line, maps)) {
        uintptr_t from, to;
        char perms[5];
        unsigned long long offset;
        char device[16];
        unsigned long inode;
        int path = 0;
        if (sscanf(line, "%lx-%lx %4s %llx %15s %lu %n", &from, &to, perms, &offset, device, &inode, &path) < 6)
            continue;
        const char *name = path > 0 ? line + path : "";
        // Read-only private mappings of regular files only: not anonymous memory,
        // stacks, [vdso], shared mappings, memfds or deleted files, and never a
        // writable mapping, where another thread could write a page (copying it)
        // between the look at pagemap and the madvise, which would then discard
        // that write. A read-only page cannot change under us.
        if (inode == 0 || perms[3] != 'p' || perms[0] != 'r' || perms[1] != '-' || name[0] != '/') continue;
        if (strncmp(name, "/memfd:", 7) == 0 || strstr(name, "(deleted)") || strncmp(name, "/dev/", 5) == 0)
            continue;
        released += release_range(pagemap, from, (to - from) / page, page);
    }
    close(pagemap);
    fclose(maps);
    return released;
}
