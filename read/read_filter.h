/*
 * read_filter.h - which records a reader shows (read_filter.c), and the
 * times its filters take (read_time.c): part of libshmlog-read's engine,
 * used by shmlog-dump's commands too (the live ones filter the rings' records
 * the same way).
 */
#ifndef READ_FILTER_H
#define READ_FILTER_H

#include <regex.h>
#include <stdint.h>
#include <string.h>

#include "names.h"
#include "render.h"
#include "shlog_file.h"
#include "shmlog_read.h"

/* A term of --where: a record passes when it has a field of that name
 * (as the JSON "fields" object names it) whose value, as logged, holds it. */
enum read_where_op { WHERE_EQ, WHERE_NE, WHERE_LT, WHERE_LE, WHERE_GT, WHERE_GE };
struct read_where {
    char *name;             /* NUL-terminated; the value follows it in the same allocation */
    const char *value;
    size_t name_len, value_len;
    enum read_where_op op;
    struct shlog_index_integer integer; /* the value as the index reads an integer, so no frame it takes is ruled out */
    int as_number;          /* the value reads as a number (strtold): x */
    long double x;
};

/* A record is shown when it passes every filter given. */
struct read_filter {
    int min_level;      /* -1: any */
    char category[SHMLOG_CATEGORY_NAME_BYTES]; /* "": any (as shm_category_spelled gives it) */
    const char *app;    /* NULL: any */
    const char *host;   /* the files' host (the collector's --host, a topic's key); NULL: any */
    uint32_t pid;       /* 0: any */
    const char *thread; /* NULL: any; else a thread's name, or its tid in decimal */
    int trace;          /* 1: only records of the trace trace_hi, trace_lo (their thread's context) */
    uint64_t trace_hi, trace_lo;
    uint64_t since_ns;  /* inclusive */
    uint64_t until_ns;  /* exclusive; UINT64_MAX: none */
    int has_grep;
    regex_t grep;       /* on the rendered message */
    char *grep_msg;     /* RENDER_LINE_MAX + 1 bytes the message is rendered in, with has_grep */
    char **grep_words;  /* the words every message grep matches shows whole (read_grep_words), for the index */
    size_t ngrep_words;
    char **grep_grams;  /* runs of word bytes every message grep matches shows (read_grep_grams), for the index */
    size_t ngrep_grams;
    uint64_t limit;     /* records; 0: no limit */
    struct read_where *where; /* every one must hold */
    size_t nwhere;
};

/* A filter that passes everything. */
void read_filter_init(struct read_filter *f);
/* Sets the grep filter (and its words for the index): 0, or -EINVAL with
 * regerror's text in why, -ENOMEM. */
int read_filter_grep_set(struct read_filter *f, const char *re, char *why, size_t whycap);
/* The words of extended regular expression re that every message it matches
 * shows whole and a frame's index can be asked for (shlog_index_msg_word):
 * runs of word bytes between two literal bytes that are not (or after a ^),
 * outside any group, bracket, repetition or escape of a letter, in a pattern
 * of no alternation (a | may match without them). Into words (room for
 * strlen(re) / 2 + 1), their bytes into text (room for 2 * strlen(re) + 2);
 * returns how many. */
size_t read_grep_words(const char *re, char **words, char *text);
/* The runs of ASCII word bytes of re that every message it matches shows
 * within one of its words, as read_grep_words finds literal bytes, whole
 * or not, that an index frame of version 8 can be asked for
 * (shlog_index_msg_gram). Into runs (room for strlen(re) / 2 + 1), their
 * bytes into text (room for strlen(re) + 1); returns how many. */
size_t read_grep_grams(const char *re, char **runs, char *text);
/* Adds a --where term, NAME=VALUE, NAME!=VALUE, or NAME<N, <=, >, >= with
 * N a number: 0, or -EINVAL with why ("where 'EXPR': ..."), -ENOMEM. */
int read_filter_where_add(struct read_filter *f, const char *expr, char *why, size_t whycap);
/* The filter's copies of the options' strings: the caller's may go. */
struct read_filter_names {
    char app[SHMLOG_APP_BYTES];
    char host[SHMLOG_HOST_BYTES];
    char thread[SHMLOG_THREAD_NAME_BYTES + 1];
};
/* The filter of a reader of libshmlog-read's options o (its limit too), its strings
 * copied into names, which must live as long as f: 0, or -EINVAL / -ENOMEM with
 * the reason in err (read_filter_free() frees it either way). */
int read_filter_set_options(struct read_filter *f, struct read_filter_names *names,
                            const struct shmlog_read_options *o, char *err, size_t errcap);
/* Frees what read_filter_grep_set() and read_filter_where_add() made. */
void read_filter_free(struct read_filter *f);

/* The process-level filters (app, pid). */
int read_filter_process(const struct read_filter *f, const char *app, uint32_t pid);
/* The host filter, on the host of the files a process's records are in. */
int read_filter_host(const struct read_filter *f, const char *host);
/* since and until (inline: every record asks). */
static inline int read_filter_time(const struct read_filter *f, uint64_t ts_ns)
{
    /* No until passes every time, also the largest one (a damaged clock maps there). */
    return ts_ns >= f->since_ns && (ts_ns < f->until_ns || f->until_ns == UINT64_MAX);
}

/* Level, category and time; grep is checked with read_filter_grep() after. */
static inline int read_filter_record(const struct read_filter *f, unsigned level, const char *category,
                                     uint64_t ts_ns)
{
    return (int)level >= f->min_level && (!f->category[0] || (category && strcmp(category, f->category) == 0)) &&
           read_filter_time(f, ts_ns);
}
/* The trace filter, for a record whose thread works for trace hi, lo (0, 0: none). */
static inline int read_filter_trace(const struct read_filter *f, uint64_t hi, uint64_t lo)
{
    return hi == f->trace_hi && lo == f->trace_lo;
}
/* Parses a trace id as --trace takes it: 1 to 32 hex digits (a 64-bit id
 * is the 128-bit one with a zero high half), not 0. 0, or -EINVAL. */
int read_trace_id_parse(const char *s, uint64_t *hi, uint64_t *lo);
/* The thread filter, for a record of thread tid named name (NULL: no name). */
int read_filter_thread(const struct read_filter *f, uint32_t tid, const char *name);
/* 1 when the fields of rec (of site sr) hold every --where term (or there is none). */
int read_filter_where(const struct read_filter *f, const struct render_site *sr, const struct shm_copied_record *rec);
/* 1 when the rendered message of rec matches the grep filter (or there is none). */
int read_filter_grep(const struct read_filter *f, const struct render_site *sr, const struct shm_copied_record *rec);

/* ==== Times (read_time.c) ==== */

/* The forms read_parse_time() reads, for error messages. */
extern const char *const read_time_forms;
/* A time as ns since the epoch: absolute (with a zone, or without one: in the
 * local zone when local, else UTC), a clock time of today, relative to now
 * ("-5m") or Unix seconds or ns (read_time_forms). 0, or -1. */
int read_parse_time(const char *s, int local, uint64_t now, uint64_t *ns);
/* CLOCK_REALTIME in ns. */
uint64_t read_now_ns(void);

#endif /* READ_FILTER_H */
