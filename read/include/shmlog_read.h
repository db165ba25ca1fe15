/*
 * shmlog_read.h - libshmlog-read: the records of shmlog-collector's files,
 * for programs (and the Python package over it).
 *
 * The files and directories given are read as `shmlog-dump read` reads them:
 * the files of each host in sequence order with one duplicate filter, the
 * hosts merged, every event in time order, with the same bounded memory
 * (format/FORMAT.md says what the files hold; shmlog-dump(1) what read
 * shows). A kafka://BROKERS/TOPIC that shmlog-ship fills is read as the
 * directory of every host's files. Damaged frames come out as ERROR events
 * and reading goes on.
 *
 *     struct shmlog_read_options o = SHMLOG_READ_OPTIONS_INIT;
 *     o.min_level = 3;                              // WARN and above
 *     const char *paths[] = {"/var/log/shmlog"};
 *     char err[256];
 *     struct shmlog_read *r;
 *     if (shmlog_read_open(&r, paths, 1, &o, err, sizeof err) != 0)
 *         die(err);
 *     const struct shmlog_read_event *ev;
 *     while (shmlog_read_next(r, &ev) > 0)
 *         if (ev->kind == SHMLOG_READ_RECORD)
 *             printf("%s %s\n", ev->app, shmlog_read_message(r, NULL));
 *     shmlog_read_close(r);
 *
 * Stability: functions are only added; the event, the site and the options
 * only grow at their end, and a program says which options it knows
 * (options.size, from the INIT macro; a library older than the program
 * ignores the options it does not know: check shmlog_read_version()). The
 * field struct is handed out as an array and never changes.
 *
 * Lifetimes: the event and what it points to stay valid until the next
 * shmlog_read_next() or shmlog_read_close(); a message, line or fields
 * until the next call of any function on the same reader. The options'
 * strings are copied. One reader is used by one thread at a time; readers
 * on several threads run in parallel: a reader's state is all in its handle.
 *
 * Link: pkg-config --cflags --libs shmlog-read
 */
#ifndef SHMLOG_READ_H
#define SHMLOG_READ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMLOG_READ_VERSION 14 /* of this API: shmlog_read_version() of the library loaded (2: Arrow
                                  streams, shmlog_read_parse_time; 3: shmlog_read_site.func, thread names, the thread option;
                                  4: shmlog_read_columns.thread; 5: shmlog_read_options.merge_bytes;
                                  6: the process instance of events and sources; 7: shmlog_read_options.where;
                                  8: shmlog_read_options.host; 9: shmlog_read_arrow_options.threads, and
                                  traces: shmlog_read_options.trace, the event's trace_hi, trace_lo and span;
                                  10: the hostname of events and sources, the Arrow streams' hostname column;
                                  11: shmlog_read_arrow_options.trees: value trees as list and map columns;
                                  12: a record has up to 32 arguments (SHMLOG_MAX_ARGS), so fields and
                                  values of up to 32; 13: shmlog_read_options.threads;
                                  14: shmlog_read_arrow_options.string_views) */

struct shmlog_read;

enum shmlog_read_kind {
    SHMLOG_READ_RECORD = 1, /* a log call's record */
    SHMLOG_READ_LOSS = 2,   /* records known lost (loss_*) */
    SHMLOG_READ_EXIT = 3,   /* the collector saw the process end (exit_*) */
    SHMLOG_READ_ERROR = 4,  /* a damaged or unreadable part of the input (error), or a note (flags); reading goes on */
};

/* Record flags (event.flags). */
#define SHMLOG_READ_TRUNCATED 0x1u    /* the producer cut a string argument */
#define SHMLOG_READ_CLAMPED 0x2u      /* its level or category was out of range (shown as FATAL / none) */
#define SHMLOG_READ_BACKTRACE 0x4u    /* written late, around a trigger (FORMAT.md, BACKTRACE) */
#define SHMLOG_READ_UNKNOWN_SITE 0x8u /* the files did not define its call site: no message, no fields */
#define SHMLOG_READ_TIME_UNCERTAIN 0x20u /* its time lies between anchors around a step of the wall clock:
                                            shown on the clock before the step, it may be off by it */
#define SHMLOG_READ_TRACE_SET 0x40u  /* version 9: its thread's trace record (shmlog_trace_set): it sets the trace
                                        and span the event carries, or clears them (none then) */
/* ERROR events: a note, not damage (a file still being written, or left open
 * by a collector that is gone); shmlog_read_had_errors() does not count it. */
#define SHMLOG_READ_NOTE 0x100u

/* A call site, as its process registered it. */
struct shmlog_read_site {
    uint32_t id;           /* unique within its process */
    uint32_t line;
    const char *file;      /* as registered (full path) */
    const char *format;    /* the printf format */
    uint32_t level, category;
    uint32_t nargs;
    const char *func;      /* version 3: the function of the call site; "" when the files do not name one */
};

enum shmlog_read_type {
    SHMLOG_READ_BOOL = 1,  /* v.u: 0 or 1 */
    SHMLOG_READ_INT = 2,   /* i8..i64: v.i */
    SHMLOG_READ_UINT = 3,  /* u8..u64: v.u */
    SHMLOG_READ_FLOAT = 4, /* f64 (long double narrowed by the producer): v.f */
    SHMLOG_READ_STR = 5,   /* v.s, str_len bytes, NUL-terminated besides */
    SHMLOG_READ_PTR = 6,   /* v.u */
    SHMLOG_READ_FLOAT32 = 7, /* f32, exactly widened: v.f (the JSON shows its shortest float32 form) */
};

/* One field of a record: a `name=%conv` of its format, with the value the
 * message shows (a string cut by a precision is cut here too), as the JSON
 * output's "fields" object has it. */
struct shmlog_read_field {
    const char *name;      /* [A-Za-z0-9_.]; a repeated name has "_<argument number>" appended */
    uint32_t type;         /* enum shmlog_read_type */
    uint32_t str_len;
    union {
        int64_t i;
        uint64_t u;
        double f;
        const char *s;
    } v;
};

struct shmlog_read_event {
    uint32_t kind;         /* enum shmlog_read_kind */
    uint32_t flags;        /* SHMLOG_READ_TRUNCATED ... (records) */
    uint64_t ts_ns;        /* ns since the Unix epoch, UTC: the record's time; a loss's or exit's as shown;
                              0 for an ERROR (it comes where the damage was found, not in time order).
                              A BACKTRACE record comes just before its trigger, with its own earlier time */
    const char *host, *app;
    uint32_t pid;
    uint32_t tid;          /* records: the writer's kernel thread id */
    uint32_t cpu;          /* the ring's cpu; UINT32_MAX for a loss of the whole process, an ERROR, or an
                              exit of a process with no ring in the files (else one of its rings') */
    uint32_t level;        /* records: 0 TRACE .. 5 FATAL */
    uint64_t seq;          /* records: the ring position (unique and increasing per ring) */
    const char *level_name;    /* "TRACE" .. "FATAL" */
    const char *category;      /* "none", "trade", ... or the process's own name, "cat<n>" unnamed */
    const struct shmlog_read_site *site; /* records: NULL when unknown */
    /* SHMLOG_READ_LOSS */
    const char *loss_reason;   /* "dead_writer", "overrun", ... (shmlog-dump(1)) */
    uint64_t loss_records, loss_positions, loss_first_seq;
    /* SHMLOG_READ_EXIT */
    uint64_t exit_records, exit_lost;
    const char *exit_how;      /* "shutdown", "died", or "" in files from before the distinction */
    /* SHMLOG_READ_ERROR */
    const char *error;
    uint64_t proc_start;       /* with host and pid, who the process is (pids are reused) */
    uint32_t site_id;          /* records: the call site's id within its process, also when site is NULL */
    /* version 3 */
    const char *thread;        /* records: the name the files gave its thread when it was written, or NULL */
    /* version 6 */
    const char *instance;      /* all but ERROR: the process instance, 32 hex digits (the 128 random bits it
                                  wrote into its segments), "" in files from before it: with host, it tells
                                  apart two processes that pid and proc_start do not (pid 1 of two containers) */
    /* version 9 */
    uint64_t trace_hi, trace_lo; /* records: the trace its thread worked for (shmlog_trace_set); 0, 0: none */
    const char *span;          /* records of a trace: the span its thread named, "" when none; else NULL */
    /* version 10 */
    const char *hostname;      /* all but ERROR: the producer's own name for its machine, where the files keep
                                  it apart from host (the collector's --host: FORMAT.md, COLLECTOR_HOST);
                                  NULL in files from before, whose host is that name */
};

struct shmlog_read_options {
    size_t size;           /* sizeof(struct shmlog_read_options): SHMLOG_READ_OPTIONS_INIT sets it */
    int min_level;         /* records at this level and above; -1: any */
    /* Loss and exit markers pass the level, category, grep and where filters: those are of records.
     * The files' indexes skip the frames these filters rule out (SHMLOG_NO_INDEX=1: read every frame). */
    const char *category;  /* one category by name, any case ("md" for market_data); NULL: any */
    const char *app;       /* one application; NULL: any */
    uint32_t pid;          /* one process id; 0: any */
    uint64_t since_ns;     /* events at or after; 0: from the start */
    uint64_t until_ns;     /* events before; 0: to the end */
    const char *grep;      /* POSIX extended regular expression on the message; NULL: none */
    uint64_t limit;        /* at most this many records (losses and exits not counted); 0: all */
    int local_time;        /* shmlog_read_line(): times in the local zone (TZ) instead of UTC */
    /* version 3 */
    const char *thread;    /* records of the thread of this name, or of this tid (decimal); NULL: any */
    /* version 5, read when size covers it */
    uint64_t merge_bytes;  /* memory in which records wait to be put in time order (rings that a
                              collector read late, several hosts); beyond it the earliest go on in
                              best-effort order; 0: 64 MiB */
    /* version 7, read when size covers it */
    const char *const *where; /* nwhere terms on the records' fields, every one to hold: "NAME=VALUE",
                                 "NAME!=VALUE", or NAME "<", "<=", ">", ">=" a number (shmlog-dump --where) */
    size_t nwhere;
    /* version 8, read when size covers it */
    const char *host;      /* the files of one host: the collector's --host that names them (a topic's
                              key); NULL: any */
    /* version 9, read when size covers it */
    const char *trace;     /* records written while their thread worked for this trace id (1 to 32 hex
                              digits, shmlog_trace_set); NULL: any */
    /* version 13, read when size covers it */
    uint32_t threads;      /* shmlog_read_lines(): threads that render its lines, the caller's among them
                              (at most 64); 0 or 1: the caller's alone. With more, it reads ahead: until
                              it returns 0 or fails, its next calls give the lines read ahead (with the
                              same json) and the reader's other calls return -EBUSY */
};

#define SHMLOG_READ_OPTIONS_INIT                                                                                    \
    {sizeof(struct shmlog_read_options), -1, NULL, NULL, 0, 0, 0, NULL, 0, 0, NULL, 0, NULL, 0, NULL, NULL, 0}

/* Opens n paths: files as given, directories as their .shlog and .shlog.part
 * files, kafka://HOST:PORT[,HOST:PORT...]/TOPIC as the files of every host
 * in the topic (from its first message at or after since_ns, to the ends its
 * partitions have at the open). opt NULL: no filters. 0, or -errno with one
 * line in err: -EINVAL for a bad option (a category no one defines is not
 * one: it matches nothing) or kafka:// address, -errno of stat(2) when a path
 * cannot be found (-ENOENT), -EHOSTUNREACH when a topic cannot be read,
 * -ENOTSUP for kafka:// from a library built without Kafka, -ENOMEM.
 * A file or directory that is there but cannot be read, and a message of
 * the topic that is no frame of a host, is an ERROR event. */
int shmlog_read_open(struct shmlog_read **out, const char *const *paths, size_t n,
                     const struct shmlog_read_options *opt, char *err, size_t errcap);

/* The next event in time order: 1 with *ev, 0 at the end, -ENOMEM. */
int shmlog_read_next(struct shmlog_read *r, const struct shmlog_read_event **ev);

/* Of the last event, a record: its message, rendered as printf would
 * (control bytes as they are), NUL-terminated; NULL for an unknown site. */
const char *shmlog_read_message(struct shmlog_read *r, size_t *len);

/* Of the last event, a record: its fields, in the order of the format
 * (none for an unknown site); -1 when its payload does not match its site
 * (a damaged record: its line says "corrupt payload"); -ENOMEM when their
 * text found no memory (the reader fails from then on). */
int shmlog_read_fields(struct shmlog_read *r, const struct shmlog_read_field **fields);

/* The last event as shmlog-dump read prints it: one text line (json 0) or
 * JSON Lines object (json 1), newline included. NULL for an ERROR event. */
const char *shmlog_read_line(struct shmlog_read *r, int json, size_t *len);

/* The same line rendered into buf (NUL-terminated): its length, 0 for an
 * ERROR event, -ENOBUFS when it did not fit (buf holds what did; no line is
 * longer than 512 KiB), -ENOMEM. */
long shmlog_read_format(struct shmlog_read *r, int json, char *buf, size_t cap);

/* ==== Records in columns ====
 *
 * For bulk readers (a DataFrame): many records per call into the caller's
 * arrays, with what rows share (process, call site, field names and types)
 * in a table of sources, instead of one call per record. Rows are the
 * records shmlog_read_next() would give, in the same order. */

#define SHMLOG_READ_CORRUPT 0x10u /* columns: the row's payload does not match its site: no values */

struct shmlog_read_columns {
    size_t size;           /* sizeof(struct shmlog_read_columns) */
    size_t cap;            /* rows each per-row array holds */
    /* per row */
    uint64_t *ts_ns, *seq;
    uint32_t *tid, *cpu;
    uint32_t *source;      /* its source: shmlog_read_source() */
    uint8_t *level, *category, *flags; /* category: its id (shmlog_read_category_name()) */
    uint64_t *msg;         /* its message in text: offset << 32 | length; NULL: no messages */
    uint32_t *values_at;   /* where its field values start in values; NULL: no fields */
    /* shared by the rows */
    char *text;            /* messages and string values (not NUL-terminated) */
    size_t text_cap;
    uint64_t *values;      /* a row's fields in its source's order: integers, pointers and bools as
                              they are, floats as their IEEE 754 bits, strings as offset << 32 | length
                              in text */
    size_t values_cap;
    /* version 4, read when size covers it */
    uint64_t *thread;      /* per row: its thread's name (the event's) in text, offset << 32 | length;
                              UINT64_MAX: none; NULL: no names */
};

/* Fills up to cap rows with the next records; stops early before an event
 * that is not a record (shmlog_read_next() gives it), when text or values
 * are full, and at the end. The rows filled (0: the next event is not a
 * record, or the end: ask shmlog_read_next()), -ENOBUFS when not even one
 * record fits text and values (1 MiB of text and 32 values always hold
 * one), -EINVAL (cap 0, a missing array, size not set), -ENOMEM. Floats are
 * stored as the bits of the double in v.f (a FLOAT32 widened); CORRUPT is
 * known only when values_at is given. */
long shmlog_read_next_columns(struct shmlog_read *r, struct shmlog_read_columns *c);

/* What the rows of one source share: a call site of one process. */
struct shmlog_read_source {
    const char *host, *app;
    uint32_t pid;
    uint64_t proc_start;
    uint32_t site_id;
    const struct shmlog_read_site *site;  /* NULL: the files do not define it */
    uint32_t nfields;                     /* values per row (0 until a row of it decoded) */
    const char *const *field_names;       /* nfields names, as shmlog_read_fields() gives them */
    const uint32_t *field_types;          /* enum shmlog_read_type */
    const char *instance;                 /* version 6: the process instance, as the event's */
    const char *hostname;                 /* version 10: as the event's */
};

/* Source i (0 .. those the rows named so far), valid until close; NULL past them. */
const struct shmlog_read_source *shmlog_read_source(struct shmlog_read *r, uint32_t i);

/* The name of category id in the process of source i, as events name it. */
const char *shmlog_read_category_name(struct shmlog_read *r, uint32_t source, uint32_t id);

/* The next events as shmlog-dump read prints them, many per call: lines
 * into buf (NUL-terminated, *len bytes) while it has room for the longest
 * one (on options.threads threads: while the next line fits); stops early
 * before an ERROR event (shmlog_read_next() gives it) and at the end. The
 * events written (0: the next is an ERROR, or the end), -EINVAL when cap is
 * under 512 KiB + 1 or json is not that of the lines read ahead, -ENOMEM. */
long shmlog_read_lines(struct shmlog_read *r, int json, char *buf, size_t cap, size_t *len);

/* 1 when any input was damaged or unreadable: ask after the last event (it
 * may turn 1 before the ERROR event that says why comes out). */
int shmlog_read_had_errors(const struct shmlog_read *r);

/* Frees the reader (once the Arrow streams made of it are released too). */
void shmlog_read_close(struct shmlog_read *r);

/* SHMLOG_READ_VERSION of the library. */
int shmlog_read_version(void);

/* ==== Times (version 2) ==== */

/* A time as shmlog-dump's --since and --until take it, as ns since the
 * epoch: "2026-11-23T07:00:00.5Z", "2026-11-23T08:00+01:00", "2026-11-23"
 * (a date or time without a zone is in the local zone (TZ) when local, else
 * UTC), "07:00" (today), "-30s", "-5m", "-2h", "-1d" (before now), Unix
 * seconds ("1795488328.5") or ns. 0, or -EINVAL with one line in err that
 * lists the forms. For shmlog_read_options.since_ns and until_ns. */
int shmlog_read_parse_time(const char *s, int local, uint64_t *ns, char *err, size_t errcap);

/* ==== Arrow (version 2) ====
 *
 * The records, or the loss and exit markers, as Arrow record batches through
 * the Arrow C stream interface (arrow.apache.org/docs/format/CStreamInterface.html),
 * which pyarrow, polars, DuckDB and others import without a copy. The
 * batches hold what shmlog_read_next() gives, in the same order and with the
 * same filters. Columns of the records (SHMLOG_READ_ARROW_RECORDS):
 *
 *   ts           timestamp[ns, UTC] (a time past 2262, a damaged clock's, as the type's largest)
 *   level        dictionary<int8, utf8>, ordered: TRACE < DEBUG < INFO < WARN < ERROR < FATAL
 *                (a damaged record's "L6" or "L7" after them)
 *   category, app, host   dictionary<int16, utf8>
 *   pid, tid, cpu         uint32;  seq  uint64
 *   site         dictionary<int16, utf8> "file:line"; null: a site the files do not define
 *   func         dictionary<int16, utf8>, the call site's function (__func__); null where
 *                the files do not name one (files written before function names)
 *   msg          utf8, the message (options.message); null for an unknown site
 *   truncated, clamped, backtrace   bool (SHMLOG_READ_TRUNCATED ...)
 *   error        dictionary<int8, utf8>: null, "unknown site" or "corrupt payload"
 *   thread       dictionary<int16, utf8>, the event's thread (version 3)
 *   instance     dictionary<int16, utf8>, the event's instance; null in files from before it (version 6)
 *   trace_id     utf8, 32 hex digits, and span, dictionary<int16, utf8>: the trace its thread worked
 *                for; null where none (version 9)
 *   hostname     dictionary<int16, utf8>, the event's hostname; null where it is NULL (version 10)
 *   then a column per field of the formats (options.fields), null in the
 *   rows whose format has no such field: int8..int64 (signed arguments),
 *   uint8..uint64 (unsigned, and pointers), float32 or float64, bool, utf8;
 *   each as wide as the widest argument of that name. A field named like a
 *   column above is "field.<name>"; a name whose values are of several kinds
 *   at different call sites (id=%d here, id=%s there) gets a column per kind,
 *   "<name>.int", "<name>.uint", "<name>.float", "<name>.bool", "<name>.str",
 *   "<name>.ptr". The fields' columns come from the call sites the files
 *   define, read before the first batch; a site first defined after that (a
 *   file still being written) has its records without fields.
 *
 * Columns of the markers (SHMLOG_READ_ARROW_MARKERS): ts, kind (dictionary:
 * "loss", "exit"), app, host, pid, cpu (uint32: a loss's ring; null for a loss
 * of the whole process and for an exit), loss_reason (dictionary), loss_records, loss_positions,
 * loss_first_seq, exit_records, exit_lost (uint64), exit_how (dictionary:
 * "shutdown", "died"); null where they do not apply; instance (dictionary, as
 * the records', version 6), hostname (as the records', version 10).
 *
 * Damage and notes do not stop a stream: shmlog_read_stream_message() keeps
 * them, and shmlog_read_had_errors() says whether there was damage. */

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

/* The Arrow C data interface's two structures (an ABI: do not change). */
struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE
/* The Arrow C stream interface's structure (an ABI: do not change). */
struct ArrowArrayStream {
    int (*get_schema)(struct ArrowArrayStream *, struct ArrowSchema *out);
    int (*get_next)(struct ArrowArrayStream *, struct ArrowArray *out);
    const char *(*get_last_error)(struct ArrowArrayStream *);
    void (*release)(struct ArrowArrayStream *);
    void *private_data;
};
#endif /* ARROW_C_STREAM_INTERFACE */

#define SHMLOG_READ_ARROW_RECORDS 1 /* a row per record */
#define SHMLOG_READ_ARROW_MARKERS 2 /* a row per loss or exit marker */
#define SHMLOG_READ_ARROW_ROWS_MAX (1u << 20)

struct shmlog_read_arrow_options {
    size_t size;           /* sizeof(struct shmlog_read_arrow_options): the INIT macro sets it */
    uint32_t what;         /* SHMLOG_READ_ARROW_RECORDS or SHMLOG_READ_ARROW_MARKERS */
    uint32_t batch_rows;   /* rows per batch at most (a batch may end sooner); 0: 16384 */
    int fields;            /* records: the fields' columns (1) or none (0) */
    int message;           /* records: the msg column (1) or none (0) */
    /* version 9, read when size covers it */
    uint32_t threads;      /* records: threads that write the batches' columns, the caller's among them,
                              the same batches whatever the count; 0: the cpus the process may run on */
    /* version 11, read when size covers it (a program built before it gets 0) */
    int trees;             /* records: a value tree's field (a C++ container) whose sites all give one shape as
                              Arrow's list, map and typed columns (1), or as its text, as fmt prints it (0) */
    /* version 14, read when size covers it */
    int string_views;      /* string columns (msg, trace_id, string fields) as Arrow's string views ("vu"), which
                              polars keeps as they are (1), or as utf8 ("u"), which it copies into views (0) */
};

#define SHMLOG_READ_ARROW_OPTIONS_INIT {sizeof(struct shmlog_read_arrow_options), SHMLOG_READ_ARROW_RECORDS, 0, 1, 1, 0, 1, 0}

/* Fills out with a stream of r's records (or markers) from where r is;
 * opt NULL: the records with every column. The stream holds r: close r when
 * you like, it is freed once the stream is released too; while the stream
 * lives, r's other calls (shmlog_read_next() ...) return -EBUSY. Its
 * get_next() returns 0 with a batch, or 0 with out->release NULL at the
 * end, or an errno value (ENOMEM; get_last_error() says what). 0, or -EINVAL
 * / -EBUSY (a stream of r lives) / -ENOMEM with one line in err. */
int shmlog_read_arrow(struct shmlog_read *r, const struct shmlog_read_arrow_options *opt,
                      struct ArrowArrayStream *out, char *err, size_t errcap);

/* The damage and notes met while a stream of r read (events give them as
 * ERROR events instead): message i (0 ..), NULL past the last; *note (unless
 * NULL) 1 for a note. The first 256 are kept. */
const char *shmlog_read_stream_message(struct shmlog_read *r, size_t i, int *note);

#ifdef __cplusplus
}
#endif

#endif /* SHMLOG_READ_H */
