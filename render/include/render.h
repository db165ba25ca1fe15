/*
 * render.h - turns records read from rings or files into text and JSON Lines.
 *
 * Used by shmlog-dump (ring, read) and anything else that shows records. The
 * format strings and payloads come from other processes and files: nothing here
 * trusts them. Formats are rendered by our own printf-compatible formatter from
 * the argument types the call site registered; no format string ever reaches a
 * printf-family function, and no input makes these functions write out of
 * bounds or crash. Only preparing a site allocates (its size is bounded by
 * the format's); rendering a record allocates nothing.
 *
 * Text line (one per record, '\n'-terminated; control bytes in the message are
 * shown as \n, \r, \t or \xNN, invalid UTF-8 as \xNN):
 *
 *   2026-11-22T07:39:36.123456789Z INFO  order app[pid/tid] cpu1 file.c:42 msg
 *   2026-11-22T07:39:36.123456789Z INFO  order app[pid/tid:md-0] cpu1 file.c:42 msg
 *   (the second when the files name the thread)
 *
 *   the category column is "-" for none; the site shows the file's last path
 *   component; " <truncated>" ends a record whose strings were cut, " <time uncertain>"
 *   one whose time lies between anchors around a step of the wall clock.
 *
 * JSON Lines: one object per line, keys always in this order:
 *
 *   ts_ns     number   nanoseconds since the Unix epoch (UTC)
 *   time      string   the same as RFC 3339 with nanoseconds, "2026-11-22T07:39:36.123456789Z";
 *                      in local time (struct render_memo) with the zone's offset,
 *                      "2026-11-22T08:39:36.123456789+01:00"
 *   level     string   TRACE DEBUG INFO WARN ERROR FATAL ("L<n>" for an out-of-range value)
 *   category  string   none trade order market_data risk portfolio ("cat<n>" out of range)
 *   host      string   the host: the collector's --host, which names its files (in files from
 *                      before FORMAT.md's COLLECTOR_HOST, the producer's own name for its machine)
 *   hostname  string   the producer's own name for its machine (gethostname); only present in
 *                      files that keep it apart from host (COLLECTOR_HOST) and in live rings' records
 *                      (whose host is this machine's name, the collector's default --host)
 *   app       string   its application name
 *   pid       number
 *   tid       number   kernel thread id of the writer
 *   cpu       number   cpu of the ring the record was in
 *   thread    string   the thread's name; only present when the files name it
 *   seq       number   ring position of the record (unique and increasing per ring)
 *   site      string   "file:line" as registered (full path), null when the site is unknown
 *   msg       string   the rendered message
 *   fields    object   every `name=%conv` of the format (name: the run of [A-Za-z0-9_.]
 *                      right before '=', its last 128 bytes) -> the argument's typed value
 *                      (integers as numbers, unsigned stays unsigned, floats shortest
 *                      round-trip or null for NaN/Inf, strings, pointers "0x..", bool);
 *                      a repeated name gets "_<argument number>" appended
 *   truncated true     only present when the producer cut a string argument
 *   time_uncertain true  only present when the record's time lies between anchors around a
 *                      step of the wall clock (SHM_REC_TIME_UNCERTAIN)
 *   error     string   only present when the record could not be decoded
 *                      ("unknown site", "corrupt payload")
 *
 * Loss markers (records known lost, see enum shm_loss_reason):
 *
 *   text: 2026-...Z LOSS  app[pid] cpu1: 12 records (34 positions from seq 1000) lost: dead_writer
 *   json: {"ts_ns":..,"time":..,"host":..,"app":..,"pid":..,"cpu":..,
 *          "loss":{"reason":"dead_writer","records":12,"positions":34,"first_seq":1000}}
 *   A loss of the whole process (before_init, no_ring, unregistered) was in no ring: no cpu,
 *   "app[pid]: 4 records lost: before_init" and no "cpu" key.
 *
 * Exit markers (the collector saw the process end; its counts over the collector's run):
 *
 *   text: 2026-...Z EXIT  app[pid]: process shut down; 1234 records, 0 lost
 *         ("process died without shutting down" when it never called shmlog_shutdown;
 *         "process exited" in files from before the distinction)
 *   json: {"ts_ns":..,"time":..,"host":..,"app":..,"pid":..,"exit":{"records":1234,"lost":0,"how":"shutdown"}}
 *         ("how":"died"; no "how" in files from before the distinction)
 *
 * Formatter error text, rendered in place of the conversion it concerns:
 *   <%n refused>  <bad %x for str>  <missing arg>  <width too large>  <precision too large>
 *   <bad * for str>  <bad conversion %k>  <incomplete %>  <positional args unsupported>
 *   <%m unsupported>
 * and " <extra: 1, \"abc\", 2.5>" at the end when the site registered more
 * arguments than the format consumed.
 */
#ifndef RENDER_H
#define RENDER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "names.h"
#include "reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest width or precision a format may ask for; larger renders an error. */
#define RENDER_FMT_MAX_WIDTH 4096
/* A string's: its width may reach the longest string a record holds, and its
 * precision only cuts it (any precision is taken, as one past this). */
#define RENDER_STR_MAX_WIDTH ((int)SHMLOG_MAX_PAYLOAD)
/* No line render_record() or render_loss() produces is longer.
 * The caps bound the worst message (hostile format, JSON escaping); what does
 * not fit is cut: 16 conversions of at most 14 KiB padding (strings') and the
 * arguments' 14 KiB escaped (6 bytes each), the format's 4 KiB of literal
 * text escaped, error text for up to 2048 more specs; fields and the other
 * keys add about as much again as the arguments. */
#define RENDER_LINE_MAX (512 * 1024)

/* ==== Bounded output buffer ==== */

/* What rendering keeps between lines: the zone times are shown in, and the
 * text of the last second, thread and cpu, which the next line likely
 * repeats. The caller's (a reader's, a program's): buffers that share one
 * render from one thread at a time. render_memo_init() before use. */
struct render_memo {
    int local;                     /* times in the local zone (TZ) with its offset, not UTC */
    int64_t zone_lo, zone_hi;      /* seconds zone_lo..zone_hi have the offset zone_off */
    int32_t zone_off;
    uint64_t civil_sec;            /* civil_text is this second's "YYYY-MM-DDThh:mm:ss" */
    char civil_text[19];
    uint64_t json_sec;             /* the JSON time's pieces of this second, in zone json_local */
    int json_local;
    char json_head[9 + 20], json_middle[9 + 19 + 1], json_tail[8];
    unsigned json_head_len, json_tail_len;
    uint64_t tid_cpu;              /* tid_cpu_text is this tid << 32 | cpu */
    char tid_cpu_text[32];
    size_t tid_cpu_len;
};

/* local 1: times in the local zone (reads TZ now), 0: UTC. */
void render_memo_init(struct render_memo *m, int local);

/* Writes never pass cap: what does not fit is dropped and overflow is set. */
struct render_buf {
    char *data;
    size_t cap;
    size_t len;
    int overflow;
    int ascii; /* a prepared message alone set it: its bytes are ASCII, no UTF-8 check needed */
    struct render_memo *memo; /* NULL: times in UTC, nothing kept between lines */
};

static inline void render_buf_init(struct render_buf *b, char *mem, size_t cap)
{
    b->data = mem;
    b->cap = cap;
    b->len = 0;
    b->overflow = 0;
    b->ascii = 0;
    b->memo = NULL;
}

static inline size_t render_buf_room(const struct render_buf *b)
{
    return b->cap - b->len;
}

/* Long pieces, and pieces that do not fit: the fitting part is copied and
 * overflow is set. */
void render_buf_put_slow(struct render_buf *b, const void *src, size_t n);

/* n bytes (at most 16) from src to d. Most pieces are a few bytes: two
 * overlapping fixed-size copies beat a call to memcpy, and touch only bytes
 * inside both ranges. */
static inline void render_copy_small(char *d, const void *src, size_t n)
{
    const char *s = (const char *)src;
    if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

static inline void render_buf_put(struct render_buf *b, const void *src, size_t n)
{
    if (n > 16 || n > b->cap - b->len) {
        render_buf_put_slow(b, src, n);
        return;
    }
    render_copy_small(b->data + b->len, src, n);
    b->len += n;
}

static inline void render_buf_putc(struct render_buf *b, char c)
{
    if (b->len < b->cap)
        b->data[b->len++] = c;
    else
        b->overflow = 1;
}

static inline void render_buf_puts(struct render_buf *b, const char *s)
{
    render_buf_put(b, s, strlen(s));
}

/* n copies of c. */
void render_buf_fill(struct render_buf *b, char c, size_t n);
/* Decimal integers, no locale involved. */
void render_buf_u64(struct render_buf *b, uint64_t v);
void render_buf_i64(struct render_buf *b, int64_t v);

/* ==== Arguments ==== */

/* One decoded argument. Strings point into the payload they were decoded from. */
struct render_arg {
    uint8_t type;          /* enum shmlog_arg_type */
    uint8_t str_truncated; /* STR: the producer cut it (SHMLOG_STR_TRUNCATED) */
    uint16_t str_len;      /* STR: bytes at v.s; not NUL-terminated */
    union {
        uint64_t u;        /* BOOL, U8..U64, PTR: zero-extended */
        int64_t i;         /* I8..I64: sign-extended */
        double f;          /* F32 (exactly widened) and F64 */
        const uint8_t *s;  /* STR */
    } v;
};

/* Decodes the payload of a record of site into args. Returns the number of
 * arguments, or -1 when the payload does not match the site's types (a string
 * or value beyond payload_len, an unknown type, too many arguments). */
int render_decode_args(const struct shm_site *site, const uint8_t *payload, size_t payload_len,
                       struct render_arg args[SHMLOG_MAX_ARGS]);

/* Short name of an argument type ("i32", "str", ...), "?" when unknown. */
const char *render_arg_type_name(unsigned type);

/* ==== Formatting ==== */

/* Appends fmt (up to its first NUL) rendered with args, exactly as glibc printf
 * would for a valid format and matching arguments; see the error text above for
 * everything else. */
void render_format(const char *fmt, const struct render_arg *args, int nargs, struct render_buf *out);

/* Appends n bytes as a quoted JSON string: valid JSON for any bytes (control
 * characters escaped, invalid UTF-8 as \ufffd). */
void render_json_string(struct render_buf *out, const void *s, size_t n);
/* The bytes at the start of s (n bytes) that are valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are not): n when all are. */
size_t render_utf8_valid(const void *s, size_t n);

/* 1 when the n bytes at s are all ASCII (so valid UTF-8). A few loads, the
 * last overlapping the one before, so a short string (a symbol, a venue)
 * costs what a long one's last word does; inline where every record calls it. */
static inline int render_ascii(const void *src, size_t n)
{
    const uint8_t *s = (const uint8_t *)src;
    if (n >= 8) {
        uint64_t any = 0, w;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            any |= w;
        }
        memcpy(&w, s + n - 8, 8);
        return !((any | w) & 0x8080808080808080ull);
    }
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return !((a | b) & 0x80808080u);
    }
    return n == 0 || !((s[0] | s[n / 2] | s[n - 1]) & 0x80);
}
/* Appends s with each byte that starts no valid UTF-8 sequence replaced by
 * U+FFFD, as the JSON strings show it: valid UTF-8 for any bytes. */
void render_utf8_repair(struct render_buf *out, const void *s, size_t n);
/* Appends a double as the shortest decimal that reads back as the same value
 * (as the same float when is_f32), or null for NaN and infinities. */
void render_json_double(struct render_buf *out, double v, int is_f32);
/* Appends one argument's typed JSON value. */
void render_json_arg(struct render_buf *out, const struct render_arg *arg);
/* Appends the "fields" object of fmt: {"name":value,...} for each name=%conv. */
void render_json_fields(const char *fmt, const struct render_arg *args, int nargs, struct render_buf *out);

/* ==== Whole lines ==== */

/* Level, category and loss reason names: shm/names.h (included above). */

/* Appends "YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ" (30 bytes) for ns since the epoch,
 * UTC; in local time (out->memo says), "YYYY-MM-DDThh:mm:ss.nnnnnnnnn+hh:mm"
 * (35 bytes). */
void render_buf_rfc3339(struct render_buf *out, uint64_t ns);

/* What one line is made of. Strings are NUL-terminated; app and host may be NULL. */
struct render_input {
    const char *app;
    const char *host;
    uint32_t pid;
    uint32_t cpu;                        /* cpu of the ring the record came from */
    uint64_t ts_ns;                      /* the record's time, ns since the epoch */
    const struct shm_site *site; /* NULL: unknown or corrupt site */
    const struct shm_copied_record *rec;        /* the record (unused by render_loss) */
    const uint8_t *instance;             /* the process's 16 instance bytes (shm_proc_info), or NULL */
    const char *hostname;                /* the producer's own name for its machine, or NULL (no key) */
};

/* The process instance as the readers show it (FORMAT.md, PROCESS): 32 hex
 * digits into out, or "" when instance is NULL or all zeros (files from
 * before it). */
void render_instance_hex(char out[33], const uint8_t *instance);

/* Appends one record as a text line (json 0) or a JSON Lines object (json 1),
 * newline included. 0, or -ENOBUFS when out overflowed (the line is cut), or
 * -ENOMEM. Prepares in->site for this one record: to render many records of
 * a site, prepare it once (below). */
int render_record(const struct render_input *in, int json, struct render_buf *out);

/* ==== Prepared sites ====
 *
 * Everything the records of one call site of one process share, done once:
 * the format parsed into literal runs and conversion specs (common ones with a
 * direct path), literal text checked for escaping, the fields object's keys
 * and the constant parts of both line formats (level, category, host, app,
 * pid, site). Rendering a record then decodes its arguments and writes. The
 * output is exactly render_record()'s. */
struct render_site;

/* site NULL: records of an unknown site. app and host may be NULL; hostname
 * NULL: no "hostname" key (files from before SHLOG_FILE_COLLECTOR_HOST). Copies
 * what it keeps, but cats (the process's categories, NULL: the built-in
 * ones only), which must stay as long as the site. NULL when out of memory. */
struct render_site *render_site_new(const struct shm_site *site, const char *app, const char *host,
                                    const char *hostname, uint32_t pid, const uint8_t *instance,
                                    const struct shm_categories *cats);
void render_site_free(struct render_site *sr);
/* Its allocation, for caches that bound their memory. */
size_t render_site_bytes(const struct render_site *sr);
/* One record of that site, from the ring of cpu, at ts_ns: as render_record(). */
int render_prepared(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu,
                           uint64_t ts_ns, int json, struct render_buf *out);
/* The trace a record's thread worked for when it wrote it (SHMLOG_REC_TRACE):
 * the id never 0, 0; span "" when none, else as shmlog_thread_name_clean
 * leaves it (no control character). */
struct render_trace {
    uint64_t hi, lo;
    const char *span;
};
/* The same with the name of the record's thread (NULL: none): text
 * "app[pid/tid:name]", JSON "thread":"name" after "cpu"; and its trace (NULL:
 * none): text " trace_id=<32 hex> span=<name>" after the message, JSON
 * "trace_id":"<32 hex>","span":"name" after "fields". */
int render_prepared_thread(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu,
                           uint64_t ts_ns, const char *thread, const struct render_trace *trace, int json,
                           struct render_buf *out);
/* The 32 lowercase hex digits of a trace id and a NUL into out. */
void render_trace_id(uint64_t hi, uint64_t lo, char out[33]);
/* The rendered message alone, unescaped (what --grep matches). 0 or -ENOBUFS. */
int render_prepared_msg(const struct render_site *sr, const struct shm_copied_record *rec,
                               struct render_buf *out);

/* Where a field's value is made when it is not an argument as decoded. */
struct render_field_room {
    struct render_arg arg; /* a string cut to its precision, or a value shown as text */
    char text[24];         /* the text: a character, or an enum value's digits */
};

/* The fields of one record of that site, as the JSON "fields" object has
 * them (name=%conv pairs, strings cut as the message cuts them). Names and
 * strings point into sr and rec. The count, or -1 when the payload does
 * not match the site (or the site is unknown: 0). */
struct render_field {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    struct render_arg value;
    struct render_field_room room; /* what value may point into */
    uint8_t tree;     /* value is the bytes of a value tree (a C++ container, ...): render_tree_plain() */
};
int render_prepared_fields(const struct render_site *sr, const struct shm_copied_record *rec,
                           struct render_field fields[SHMLOG_MAX_ARGS]);
/* The record's arguments decoded into args, and the message into msg (unless
 * NULL; msg->overflow says it did not fit), the arguments decoded once. The
 * arguments' count; 0 when the site is unknown; -1 when the payload does not
 * match it. Field i's value (as render_prepared_fields() gives it, named by
 * render_site_fields()) is args[info.arg] when its info says whole, else
 * render_field_value()'s. */
int render_prepared_args(const struct render_site *sr, const struct shm_copied_record *rec, struct render_buf *msg,
                         struct render_arg args[SHMLOG_MAX_ARGS]);
/* The message (render_prepared_msg()) and the fields (render_prepared_fields())
 * of a record whose arguments render_prepared_args() decoded into args, its
 * result nargs: a reader that wants both decodes once. */
int render_prepared_msg_of(const struct render_site *sr, const struct shm_copied_record *rec,
                           const struct render_arg *args, int nargs, struct render_buf *out);
/* The message alone (render_prepared_msg()) of a record of a known site whose
 * payload holds values of the site's types (SHM_REC_VALUES): read from them
 * where the format uses them, with no decoding first. */
void render_msg_values(const struct render_site *sr, const struct shm_copied_record *rec, struct render_buf *out);
/* The arguments of the records of a site (render_prepared_args()'s count of
 * a record that matches it): 0 for an unknown site. */
int render_site_nargs(const struct render_site *sr);
int render_prepared_fields_of(const struct render_site *sr, const struct render_arg *args, int nargs,
                              struct render_field fields[SHMLOG_MAX_ARGS]);
/* Field i's value of args that render_prepared_args() decoded: a string cut
 * as the message cuts it, or the text of a value the message shows as text
 * (render_shown_text()), is in *room. */
const struct render_arg *render_field_value(const struct render_site *sr, const struct render_arg *args, int i,
                                            struct render_field_room *room);
/* A field whose message shows its integer as text shows that text, in
 * every reader: a %c (or a C++ char member) its one character, an enum of
 * the site's descriptor its name (its digits when the descriptor names no
 * such value). conv: the field's conversion, 0 for a struct's member. a
 * itself when it is shown as a number; else its text, in room. */
const struct render_arg *render_shown_text(const struct render_site *sr, int arg, char conv,
                                           const struct render_arg *a, struct render_field_room *room);

/* What the fields of a site's records are, without a record: the names
 * render_prepared_fields() gives and each value's argument type (enum
 * shmlog_arg_type). The count. Both list a SHMLOG_STRUCT argument as its
 * members, depth first, named "order.px" (its JSON field is an object). */
struct render_field_info {
    const char *name; /* not NUL-terminated */
    size_t name_len;
    uint8_t type;
    uint8_t whole;    /* the value is its argument as decoded: no precision cuts it */
    uint8_t arg;      /* that argument */
    uint8_t present;  /* a std::optional's has-value argument + 1 (null when it is false); 0: none */
    uint8_t tree;     /* a value tree: its field is its fmt text (render_tree_plain()), and not whole */
    const char *shape; /* a value tree's type, when its site's descriptor gives it (render_tree_shape_len); NULL: none */
};
int render_site_fields(const struct render_site *sr, struct render_field_info fields[SHMLOG_MAX_ARGS]);

/* A value tree's bytes (a STR argument a site's descriptor marks "v") as fmt
 * prints them, unescaped: the text its field and Arrow column hold. */
void render_tree_plain(struct render_buf *out, const struct render_arg *a);

/* A value tree's bytes being read: p[off..n). */
struct tree_in {
    const uint8_t *p;
    size_t n, off;
};
/* k bytes of the tree into dst; 0 when it ends first. */
int render_tree_take(struct tree_in *in, void *dst, size_t k);
int render_tree_take_u32(struct tree_in *in, uint32_t *v);
/* A scalar node's body of argument type t (its tag) as an argument; 0 when the tree ends first. */
int render_tree_take_scalar(struct tree_in *in, unsigned t, struct render_arg *a);
/* A string node's body: *len bytes at *s, fewer (*whole 0) when the tree ends in them. */
int render_tree_take_bytes(struct tree_in *in, const uint8_t **s, size_t *len, int *whole);

/* The bytes of the one shape at s (n bytes) of a site's "a" entry (format/FORMAT.md,
 * 12), 0 when none is there: a leaf "bcChHiIlLfdps" (an argument type's letter,
 * s a string), "?X" (an optional X), "[X]" (a sequence or set of X), "{KV}" (a map
 * of keys K, not optional, to values V), nested at most SHMLOG_TREE_MAX_DEPTH. */
size_t render_tree_shape_len(const char *s, size_t n);
/* The argument type (enum shmlog_arg_type) of a shape's leaf letter, SHMLOG_ARG_STR for s; 0: not a leaf. */
unsigned render_tree_leaf_type(char c);

/* Appends one exit marker line; in->ts_ns is when the collector saw the exit.
 * how: enum shlog_exit_how (format/include/shlog_file.h): 0 not said, 1 shut down,
 * 2 died without shutting down. */
int render_exit(const struct render_input *in, uint64_t records, uint64_t lost, unsigned how, int json,
                       struct render_buf *out);

/* Appends one loss marker line; in->ts_ns is the time to show (e.g. of the
 * record that follows the gap, or now). 0 or -ENOBUFS. */
int render_loss(const struct render_input *in, const struct shm_loss *loss, int json,
                       struct render_buf *out);

#ifdef __cplusplus
}
#endif

#endif /* RENDER_H */
