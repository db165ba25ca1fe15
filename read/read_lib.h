/*
 * read_lib.h - what libshmlog-read's API files share: the reader handle
 * (struct shmlog_read) over the engine (read_engine.h), made and stepped in
 * shmlog_read.c, and read as Arrow record batches in shmlog_read_arrow.c.
 */
#ifndef READ_LIB_H
#define READ_LIB_H

#include <stdatomic.h>

#include "read_engine.h"
#include "shmlog_read.h"

#define READ_MESSAGES_MAX 256u /* damage and notes an Arrow stream keeps for the caller */
#define ENTRY_NOTE 100         /* in the ready batch: a message of the engine's; not damage */
#define ENTRY_ERROR 101        /* in the ready batch: a message of the engine's; damage */

/* A message the engine said, kept while a stream read. */
struct read_message {
    char *text;
    int note;
};

struct shmlog_read {
    struct read_engine engine;
    struct read_merge merge;
    struct read_filter filter;
    struct entry_sink sink;
    struct in_list inputs;
    struct source *srcs;        /* the files', one per host */
    size_t nsrc;
    struct read_kafka **kafka;  /* the kafka:// topics' */
    size_t nkafka;
    struct render_memo memo;    /* the lines' zone, and what they repeat */
    struct read_filter_names names; /* the filter's copies of the caller's strings */
    int ended;
    int failed;          /* -errno of a failure inside the engine (out of memory): every later call returns it */
    int had_errors;
    atomic_int refs;     /* the caller's and each Arrow stream's: the last to let go frees it */
    /* entries the merge gave, not yet given out */
    unsigned char *ready;
    size_t ready_len, ready_cap, ready_off;
    int streaming;       /* an Arrow stream reads it: the events API is not to be used */
    unsigned threads;    /* shmlog_read_lines()'s, the caller's among them (options.threads) */
    struct read_lines *lines; /* its lines on threads > 1 (read_lines.c): made on first use */
    void (*lines_free)(struct shmlog_read *r); /* ends their threads and frees them */
    size_t lines_ahead;  /* lines' jobs in flight: the reader's other calls are refused meanwhile */
    char *lines_text;    /* read_lines_view()'s lines on one thread */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none (read_set_deadline) */
    unsigned deadline_steps; /* merge steps since the clock was read */
    int timed_out;       /* the last call stopped at the deadline */
    struct read_message messages[READ_MESSAGES_MAX];
    size_t nmessages;
    /* the last event given out */
    const struct entry *cur;
    struct shmlog_read_event ev;
    struct shmlog_read_site site;
    char level_buf[16], category_buf[16];
    char *text;          /* message, line: RENDER_LINE_MAX + 1 bytes */
    struct shmlog_read_field fields[SHMLOG_MAX_ARGS];
    char *field_text;    /* names and strings, NUL-terminated: grown to what a record's fields take */
    size_t field_text_cap;
    char *tree_text;     /* a value tree's text (read_field_shown) */
    size_t tree_text_cap;
    /* The current record's arguments, decoded once for its message and its
     * fields: of event number args_of (events counts shmlog_read_next's). */
    struct render_arg args[SHMLOG_MAX_ARGS];
    int nargs;
    uint64_t events, args_of;
    /* the sources of rows (shmlog_read_next_columns) */
    struct hmap source_of;          /* (process, site or its id) -> index + 1 */
    struct column_source **sources; /* each its own allocation: shmlog_read_source() pointers stay */
    uint32_t nsources, sources_cap;
    char source_category[16];       /* shmlog_read_category_name()'s "cat<n>" */
    const struct dproc *last_proc;  /* the last row's process, site and source */
    const struct dsite *last_site;
    uint32_t last_source;
};

/* The next entry the merge gave, left in place (the caller takes it by
 * moving ready_off past it); the merge steps on when none is ready. NULL
 * at the end, or when the engine failed (r->failed says). */
const struct entry *read_peek(struct shmlog_read *r);
/* Before its first event: r waits at the end of each file being written
 * (a .part whose collector runs) instead of ending there; shmlog_read_next()
 * returns 0 when nothing more is there for now, and reads on when called
 * again. Files that appear after the open are not read. */
void read_follow_live(struct shmlog_read *r);
/* From now on r's calls stop between the merge's steps once CLOCK_MONOTONIC
 * passes ns (0: never): shmlog_read_next() returns -ETIMEDOUT, an Arrow
 * stream's get_next() ends its batch there (ETIMEDOUT when it has no row).
 * Nothing is lost: after a later deadline (or none) they read on from there.
 * For a server's time limit and its workers' shares, where a filter that
 * matches nothing would otherwise scan every file in one call. */
void read_set_deadline(struct shmlog_read *r, uint64_t ns);
/* 1 (and r->timed_out set) when r's deadline passed; reads the clock every few merge steps. */
int read_past_deadline(struct shmlog_read *r);
/* shmlog_read_lines() without the copy: *text points at the next lines
 * (*len bytes, not NUL-terminated) where they were rendered, valid until the
 * next call on r; the same return values. shmlog-dump read writes them so. */
long read_lines_view(struct shmlog_read *r, int json, const char **text, size_t *len);
/* Drops a reference: the last frees the reader. */
void read_unref(struct shmlog_read *r);
/* The reader failed with rc (< 0; 0: no news): it fails from now on. Its failure, or 0. */
int read_fail(struct shmlog_read *r, int rc);
/* Keeps a message the engine said for shmlog_read_stream_message(). */
void read_keep_message(struct shmlog_read *r, const char *msg, int note);
/* What events and rows say of a record: its flags, its category's name
 * ("cat<n>" in buf for one its process did not name), its level's name. */
uint32_t read_record_flags(const struct shm_copied_record *rec, const struct dsite *site);
const char *read_category_name(const struct dproc *p, unsigned id, char buf[16]);
/* The API's type of an argument's. */
uint32_t read_field_type(unsigned arg_type);
/* The room the text of a value tree of len bytes takes: it prints in less
 * (an escaped byte is 4 characters; an i8 and its tag, 6). */
static inline size_t read_tree_text_room(size_t len)
{
    return 8u * (len < SHMLOG_MAX_PAYLOAD ? len : SHMLOG_MAX_PAYLOAD) + 64u;
}
/* Room for n bytes at *buf (*cap of them), grown as needed: memory a reader
 * keeps between records, as big as the largest one needed. 0, or -ENOMEM. */
int read_room(char **buf, size_t *cap, size_t n);
/* A field's value as readers hand it out in *shown: a value tree's as its fmt
 * text in *text (grown by read_room), any other as decoded. 0, or -ENOMEM. */
int read_field_shown(const struct render_arg *value, int tree, char **text, size_t *cap, struct render_arg *shown);

#endif /* READ_LIB_H */
