/*
 * test_util.h - the test helper library (test_util.c; every helper is tu_):
 * fresh directories, opening every segment of one process, draining a ring,
 * reading arguments back out of a record payload, clocks, seeds and files.
 * test_util_file.h adds, inline, what the file-format and collector tests
 * share (Criterion asserts, the file format, processes to run).
 *
 * No Criterion here: the ThreadSanitizer build and tests/producer_child.c use
 * these helpers without it. Functions return 0 / -errno like the library.
 */
#ifndef SHMLOG_TEST_UTIL_H
#define SHMLOG_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reader.h"

#define TU_PATH_MAX 4096
#define TU_DIR_MAX 256 /* temp directories: short, so that paths in them always fit TU_PATH_MAX */
#define TU_MAX_RINGS 64

/* Makes a new empty directory /dev/shm/shmlog-test-<tag>-XXXXXX into out. */
int tu_mkdtemp(char *out, size_t cap, const char *tag);
/* The same under parent: <parent>/shmlog-test-<tag>-XXXXXX. */
int tu_mkdtemp_in(char *out, size_t cap, const char *parent, const char *tag);
/* Removes dir and everything in it (a few levels deep; symlinks are removed,
 * not followed). */
void tu_rmtree(const char *dir);
/* Entries directly in dir (but . and ..) whose name ends with suffix (NULL or
 * "": any); 0 when dir cannot be read. */
size_t tu_count_files(const char *dir, const char *suffix);
/* Entries whose name does not end with suffix, in one pass: the files a
 * writer finished by renaming them from <name><suffix>. */
size_t tu_count_files_without(const char *dir, const char *suffix);

/* CLOCK_MONOTONIC in milliseconds; a sleep of ms milliseconds. */
uint64_t tu_now_ms(void);
void tu_sleep_ms(unsigned ms);

/* $name as a number (strtoull, any base), or dflt when unset or empty. */
uint64_t tu_env_u64(const char *name, uint64_t dflt);
/* The seed of a randomised test: $var if set, else a fresh one. Printed on
 * stderr with the command line that replays it. */
uint64_t tu_seed(const char *var, const char *test);

/* Whether process pid has a handler for sig (SigCgt in /proc/pid/status). */
int tu_catches(pid_t pid, int sig);

/* vm.nr_hugepages: its value (-1 if unreadable); setting it, 0 or -errno. */
long tu_read_nr_hugepages(void);
int tu_write_nr_hugepages(long n);

/* Every segment of one producer process found in a directory. */
struct tu_proc {
    struct shm_seg meta;
    struct shm_proc_info info;
    int nrings;
    struct shm_seg ring_seg[TU_MAX_RINGS];
    struct shm_ring_view ring[TU_MAX_RINGS];
};

/* Opens <dir>/<app>-<pid>.meta and every <app>-<pid>-cpu<N>.ring in it, and
 * validates them with the reader API. err gets the reason on failure. */
int tu_proc_open(struct tu_proc *p, const char *dir, const char *app, uint32_t pid, int writable, char *err,
                 size_t errcap);
void tu_proc_close(struct tu_proc *p);

/* What tu_drain() saw: everything the reader reported, by kind. */
struct tu_drain_stats {
    uint64_t records;
    uint64_t loss_events;
    uint64_t lost_records[SHM_LOSS_UNREADABLE + 1]; /* by enum shm_loss_reason */
    uint64_t lost_positions[SHM_LOSS_UNREADABLE + 1];
};

/* Reads ring records from *pos until the reader reports EMPTY (or PENDING
 * when the writer is alive), calling on_record for each record. Returns the
 * last status, or the callback's non-zero return. */
typedef int (*tu_record_fn)(const struct shm_copied_record *rec, const struct shm_ring_view *v, void *ctx);
int tu_drain(const struct shm_ring_view *v, uint64_t *pos, int writer_dead, tu_record_fn on_record, void *ctx,
             struct tu_drain_stats *stats);

/* Payload accessors. They check the bounds of the record's payload and return
 * -1 (and leave *out alone) when the argument does not fit. */
int tu_arg_u32(const struct shm_copied_record *rec, size_t off, uint32_t *out);
int tu_arg_u64(const struct shm_copied_record *rec, size_t off, uint64_t *out);
/* A string argument at off: *bytes points into rec->payload, *len its length,
 * *cut whether SHMLOG_STR_TRUNCATED was set. Returns the offset after it. */
long tu_arg_str(const struct shm_copied_record *rec, size_t off, const uint8_t **bytes, size_t *len, int *cut);

/* Moves the calling thread to cpu (sched_setaffinity). 0 or -errno. */
int tu_pin_self(int cpu);
/* Number of cpus the process may run on. */
int tu_allowed_cpus(void);

/* Address of this process's writable mapping of path other than `besides`
 * (the producer's own, when the test also maps the segment), from
 * /proc/self/maps. NULL if there is none. */
void *tu_writable_mapping(const char *path, const void *besides);

/* Reads a whole small file (stderr captures) into buf, NUL-terminated. */
ssize_t tu_read_file(const char *path, char *buf, size_t cap);
/* Occurrences of needle in haystack. */
int tu_count_substr(const char *haystack, const char *needle);

#endif /* SHMLOG_TEST_UTIL_H */
