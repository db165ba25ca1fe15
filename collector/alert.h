/*
 * alert.h - alert rules of shmlog-collector: when at least N records at or
 * above a level were drained within a sliding window, run a command.
 *
 *   --alert 'level>=ERROR count>=10 window=60s [category=order] exec=/path/cmd [args...]'
 *
 * Counting runs on the drain path and is O(1) per record: each rule keeps one
 * bucket per second of its window in a ring and a running sum; the clock it
 * counts in is advanced once per loop pass by alert_poll(), not per record.
 * alert_poll() also starts due commands (posix_spawn, never waited for) and
 * reaps finished ones with waitpid(WNOHANG). A rule runs its command at most
 * once per window, never while its previous run is still going, and no two
 * commands start closer than the set's min_interval.
 *
 * The command gets in its environment:
 *   SHMLOG_ALERT_RULE      the rule as given
 *   SHMLOG_ALERT_COUNT     records counted in the window when it fired
 *   SHMLOG_ALERT_LEVEL     level of the last matching record (TRACE .. FATAL)
 *   SHMLOG_ALERT_APP       app of the last matching record
 *   SHMLOG_ALERT_PID       pid of the last matching record
 *   SHMLOG_ALERT_MSG_SITE  call site ("file:line") of the last matching record, "unknown" if gone
 */
#ifndef COLLECTOR_ALERT_H
#define COLLECTOR_ALERT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reader.h"

#define ALERT_MAX_RULES 32
#define ALERT_MAX_WINDOW_S 86400u
#define ALERT_MAX_ARGS 32
#define ALERT_MAX_RULE_BYTES 4096

struct alert_rule {
    char *text;             /* the rule as given */
    unsigned level;         /* records at or above it count */
    char category[SHMLOG_CATEGORY_NAME_BYTES]; /* its name as shm_category_spelled gives it; "": any */
    uint64_t count;         /* fires at this many in the window */
    uint32_t window_s;
    char *argv[ALERT_MAX_ARGS + 1]; /* absolute path, arguments, NULL */
    char *argv_buf;
    /* The window: bucket of second s at s % window_s, newest at cur_idx. */
    uint32_t *buckets;
    uint64_t bucket_s;      /* second of the newest bucket */
    uint32_t cur_idx;
    uint64_t in_window;     /* sum of the buckets */
    /* The last matching record. */
    uint32_t last_key;      /* the collector's process key */
    uint32_t last_pid;
    uint32_t last_site;
    unsigned last_level;
    char last_app[SHMLOG_APP_BYTES];
    /* Rate limiting. */
    int fired_once;
    uint64_t last_fired_ns;
    pid_t child;            /* its running command, 0 if none */
    int busy_reported;
};

struct alert_set {
    struct alert_rule rules[ALERT_MAX_RULES];
    size_t n;
    unsigned min_level;       /* lowest level a rule counts: the drain path's one test */
    uint64_t now_s;           /* second records are counted in, set by alert_poll */
    uint64_t min_interval_ns; /* between two commands of any rules */
    int fired_once;
    uint64_t last_fired_ns;
    uint64_t started;         /* commands started */
};

void alert_set_init(struct alert_set *a);
void alert_set_free(struct alert_set *a);

/* Parses a rule strictly and adds it. 0, or -EINVAL with one line in err. */
int alert_add(struct alert_set *a, const char *text, char *err, size_t errcap);

/* Drain path, for a record with level >= a->min_level: counts it in every
 * rule it matches. key tells processes apart (pids are reused). */
void alert_count(struct alert_set *a, unsigned level, const char *category, uint32_t site, uint32_t key, uint32_t pid,
                 const char *app);

/* Writes "file:line" of site of the process key into buf, or "unknown". */
typedef void (*alert_site_fn)(void *ctx, uint32_t key, uint32_t site, char *buf, size_t cap);

/* Once per loop pass with CLOCK_MONOTONIC ns: moves the windows, reaps
 * finished commands, starts due ones. Returns how many it started. */
int alert_poll(struct alert_set *a, uint64_t now_ns, alert_site_fn site_text, void *ctx);

#endif /* COLLECTOR_ALERT_H */
