/*
 * render_private.h - what the renderer's files share; not installed, not
 * included outside render/render*.c (its users include render.h).
 *
 *   render.c         the entry points: a record, a prepared record, an exit or
 *                    a loss, handed to the text or the JSON formatter
 *   render_text.c    the text line: head, site, record, exit and loss lines
 *   render_json.c    JSON Lines: the fields object, record, exit and loss objects
 *   render_site.c    a call site prepared once: the format parsed into items,
 *                    fast paths chosen, the constant parts of both lines made
 *   render_printf.c  our printf-compatible formatter: the conversions, the
 *                    general message and the prepared items' message
 *   render_tree.c    value trees (C++ containers, ...) as fmt prints them and as JSON;
 *                    typed argument values as JSON and as fmt's {} prints them
 *   render_parse.c   format strings: the walk over literal runs and specs, the name=%x fields
 *   render_float.c   doubles in decimal: exact fixed rounding, shortest round trip
 *   render_args.c    argument decoding from payloads
 *   render_escape.c  escaping for text lines and JSON strings, UTF-8 checks
 *   render_time.c    RFC 3339 times
 *   render_buf.c     the bounded buffer's out-of-line parts, integers in decimal and hex
 *
 * The calls point down this list and never back, but for two: render_site.c
 * (which makes each line's constant parts with the text and JSON formatters'
 * own functions) and render_record() there (which prepares a site,
 * then renders as render.c does). Small helpers every record calls are
 * inline here, as they were when the renderer was one file.
 */
#ifndef RENDER_PRIVATE_H
#define RENDER_PRIVATE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "render.h"

__extension__ typedef unsigned __int128 u128;

/* ==== Numbers (render_buf.c) ==== */

extern const char render_digit_pairs[201];
extern const uint64_t render_pow10_u64[20];
extern const double render_pow10_dbl[20];

/* Writes v (< 10^8) as exactly 8 digits at p. */
static inline void write_8_digits(char *p, uint32_t v)
{
    uint32_t hi = v / 10000, lo = v % 10000;
    memcpy(p, render_digit_pairs + 2 * (hi / 100), 2);
    memcpy(p + 2, render_digit_pairs + 2 * (hi % 100), 2);
    memcpy(p + 4, render_digit_pairs + 2 * (lo / 100), 2);
    memcpy(p + 6, render_digit_pairs + 2 * (lo % 100), 2);
}

/* Writes v in decimal ending just before end; returns the first digit. */
static inline char *u64_digits_back(char *end, uint64_t v)
{
    char *p = end;
    /* 8 digits at a time in 32-bit arithmetic: nanosecond timestamps have 19. */
    while (v >= 100000000u) {
        p -= 8;
        write_8_digits(p, (uint32_t)(v % 100000000u));
        v /= 100000000u;
    }
    uint32_t w = (uint32_t)v;
    while (w >= 100) {
        p -= 2;
        memcpy(p, render_digit_pairs + 2 * (w % 100), 2);
        w /= 100;
    }
    if (w >= 10) {
        p -= 2;
        memcpy(p, render_digit_pairs + 2 * w, 2);
    } else {
        *--p = (char)('0' + w);
    }
    return p;
}

/* Writes w (< 10^8) of nd digits (u64_ndigits) at p, forwards: w / 10^k
 * as a 7.57 fixed-point number (scaled up, so never below the exact value,
 * and above it by less than 10^-9 of a digit), a digit pair out of its
 * integer part per multiplication by 100; the lead is one digit for an odd
 * count. Every w < 10^8 is checked against division (test_render). */
static inline void digits_below_1e8(char *p, uint32_t w, unsigned nd)
{
    static const uint64_t scale[4] = {1ULL << 57, (1ULL << 57) / 100 + 1, (1ULL << 57) / 10000 + 1,
                                      (1ULL << 57) / 1000000 + 1};
    unsigned pairs = (nd - 1) / 2; /* after the lead */
    uint64_t t = (uint64_t)w * scale[pairs];
    unsigned lead = (unsigned)(t >> 57);
    if (nd & 1) {
        *p++ = (char)('0' + lead);
    } else {
        memcpy(p, render_digit_pairs + 2 * lead, 2);
        p += 2;
    }
    for (unsigned i = 0; i < pairs; i++, p += 2) {
        t = (t & ((1ULL << 57) - 1)) * 100;
        memcpy(p, render_digit_pairs + 2 * (t >> 57), 2);
    }
}

/* w (below 10^8) as 8 ASCII digits, leading zeros included, the first in
 * the lowest byte: each half's 4 digits split into pairs, each pair into
 * digits, in the lanes of one register (every product stays in its lane). */
static inline uint64_t digits8_word(uint32_t w)
{
    uint64_t x = (uint64_t)(w / 10000) | (uint64_t)(w % 10000) << 32;
    uint64_t q = (x * 5243 >> 19) & 0x0000007f0000007full; /* a half / 100, exact below 10^4 */
    x = q | (x - q * 100) << 16;
    q = (x * 103 >> 10) & 0x000f000f000f000full; /* a pair / 10, exact below 100 */
    x = q | (x - q * 10) << 8;
    return x | 0x3030303030303030ull;
}

/* q (below 10^8, of nd digits, nd > prec, prec 0..8) as %.<prec>f writes
 * it at p, 9 bytes written (what runs past is written over): the digits
 * and the point put together in registers. A point moved into digits just
 * stored would wait for those stores. Returns where it ended. */
static inline char *fixed_below_1e8(char *p, uint32_t q, unsigned nd, unsigned prec)
{
    uint64_t v = digits8_word(q) >> 8 * (8 - nd); /* nd digits from the lowest byte */
    if (!prec) {
        memcpy(p, &v, 8);
        return p + nd;
    }
    unsigned k = nd - prec; /* digits before the point, 1..7 */
    uint64_t before = v & ((1ull << 8 * k) - 1), after = v >> 8 * k;
    uint64_t word = before | (uint64_t)'.' << 8 * k | (after << 8 * k) << 8; /* 64 - 8k bits of after fit */
    memcpy(p, &word, 8);
    p[8] = (char)(after >> 8 * (7 - k)); /* the 9th byte: nd = 8's last digit */
    return p + nd + 1;
}

/* v in lowercase hex as %x writes it (hash: %#x, "0x" before a value not 0)
 * at p: where it ended. */
static inline char *hex_at(char *p, uint64_t v, int hash)
{
    static const char hex[] = "0123456789abcdef";
    if (hash && v) {
        memcpy(p, "0x", 2);
        p += 2;
    }
    unsigned nd = v ? (67u - (unsigned)__builtin_clzll(v)) / 4 : 1;
    for (char *q = p + nd; q > p; v >>= 4)
        *--q = hex[v & 15];
    return p + nd;
}

/* Decimal digits of v (1..20). */
static inline unsigned u64_ndigits(uint64_t v)
{
    static const uint64_t pow10[20] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
        1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
        100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
        1000000000000000000ULL, 10000000000000000000ULL,
    };
    /* log10 from log2: 1233/4096 ~ log10(2), then one compare. */
    if (v < 10)
        return 1;
    unsigned bits = 64 - (unsigned)__builtin_clzll(v);
    unsigned d = bits * 1233 >> 12;
    return d + (d < 20 && v >= pow10[d]);
}

/* Writes v, of nd digits (u64_ndigits), at p. */
static inline void u64_digits_at(char *p, uint64_t v, unsigned nd)
{
    if (v < 100000000u)
        digits_below_1e8(p, (uint32_t)v, nd);
    else
        u64_digits_back(p + nd, v);
}

/* render_buf_u64, inlined where every record calls it: a few digits cost
 * less than the call. */
static inline void buf_u64(struct render_buf *b, uint64_t v)
{
    /* Straight into the buffer when it has room: no copy. */
    if (b->cap - b->len >= 20) {
        if (v < 10) {
            b->data[b->len++] = (char)('0' + v);
            return;
        }
        unsigned n = u64_ndigits(v);
        /* Backwards: the forwards writer made the JSON lines slower (bench/RESULTS.md, session 5). */
        u64_digits_back(b->data + b->len + n, v);
        b->len += n;
        return;
    }
    char tmp[20];
    char *p = u64_digits_back(tmp + sizeof tmp, v);
    render_buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* render_buf_i64, inline as buf_u64. */
static inline void buf_i64(struct render_buf *b, int64_t v)
{
    if (v < 0) {
        render_buf_putc(b, '-');
        buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        buf_u64(b, (uint64_t)v);
    }
}

/* Appends v zero-padded to exactly ndigits digits (v < 10^ndigits). */
void render_buf_u64_padded(struct render_buf *b, uint64_t v, int ndigits);
void render_buf_u128(struct render_buf *b, u128 v);
/* Lower-case hex digits of v, no prefix. */
void render_buf_hex64(struct render_buf *b, uint64_t v);

/* ==== Doubles in decimal (render_float.c) ==== */

int render_fixed_round_exact(double a, int prec, u128 *q);

/* *q = |a| * 10^prec rounded to an integer, ties to even, computed on the exact
 * binary value: the digits glibc prints for %.<prec>f in the default rounding
 * mode. -1 when a is not finite or the result does not fit 128 bits. */
static inline int fixed_round(double a, int prec, u128 *q)
{
    /* Most values: |a| * 10^prec in one multiplication (10^prec is exact),
     * off the exact product by at most half its ulp, 2^-14 below 2^40. When
     * the product is farther than that from a half, its nearest integer is
     * the exact product's: no tie, and the same integer. (NaN fails t < 2^40.) */
    if (prec >= 0 && prec <= 19) {
        double t = fabs(a) * render_pow10_dbl[prec];
        if (t < 0x1p40) {
            double n = (double)(uint64_t)(t + 0.5); /* an integer nearest t, or next to it */
            double d = t - n;                        /* exact: n is within 1 of t */
            if (d > -0.5 + 0x1p-13 && d < 0.5 - 0x1p-13) {
                *q = (uint64_t)n;
                return 0;
            }
        }
    }
    return render_fixed_round_exact(a, prec, q);
}

void render_put_fixed_cut(struct render_buf *out, u128 q, int prec, int dot_always);


/* Writes q / 10^prec (0 <= prec <= 19) with prec fraction digits at d, at
 * most 41 bytes; dot_always adds the '.' even when prec is 0. Returns the end. */
static inline char *fixed_digits(char *d, uint64_t q, int prec, int dot_always)
{
    /* Backwards from the end: the fraction two digits at a time (leading
     * zeros come out of the pairs), the point, then the integer part; no
     * division by 10^prec. */
    unsigned nd = u64_ndigits(q);
    unsigned int_digits = nd > (unsigned)prec ? nd - (unsigned)prec : 1;
    int dot = prec > 0 || dot_always;
    char *p = d + int_digits + (unsigned)dot + (unsigned)prec;
    char *end = p;
    uint64_t v = (uint64_t)q;
    int k = prec;
    for (; k >= 2 && v > UINT32_MAX; k -= 2) {
        p -= 2;
        memcpy(p, render_digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v <= UINT32_MAX) { /* the rest in 32-bit arithmetic: cheaper */
        uint32_t w = (uint32_t)v;
        for (; k >= 2; k -= 2) {
            p -= 2;
            memcpy(p, render_digit_pairs + 2 * (w % 100), 2);
            w /= 100;
        }
        v = w;
    }
    if (k) {
        *--p = (char)('0' + v % 10);
        v /= 10;
    }
    if (dot)
        *--p = '.';
    u64_digits_back(p, v);
    return end;
}

/* Appends q / 10^prec with prec fraction digits; dot_always adds the '.' even
 * when prec is 0. */
static inline void put_fixed(struct render_buf *out, u128 q, int prec, int dot_always)
{
    if (q > UINT64_MAX || out->cap - out->len < 48) {
        render_put_fixed_cut(out, q, prec, dot_always);
        return;
    }
    out->len = (size_t)(fixed_digits(out->data + out->len, (uint64_t)q, prec, dot_always) - out->data);
}

/* Shortest decimal of a finite double that reads back as the same double (or,
 * is_f32, whose double narrows back to the same float). Always has a '.' or an
 * exponent, so a JSON reader keeps it a float. */
void render_put_shortest_double(struct render_buf *out, double v, int is_f32);
/* fmt's {} of a floating point number: the shortest decimal that reads back,
 * fixed from 1e-4 to 1e16, else d.ddde+XX, with no trailing ".0". Returns its
 * length in out (at most 32 bytes). */
size_t render_fmt_shortest_double(char *out, double v, int is_f32);
/* The shortest round-trip form of a finite double whose fixed rendering
 * with p digits was q: from there it only needs to look shorter. shown
 * (or NULL): that rendering as text, sign included, shown_len bytes. */
void render_put_shortest_from(struct render_buf *out, double v, u128 q, int p, const char *shown, size_t shown_len);

/* ==== Arguments (render_args.c) ==== */

static inline int64_t sign_extend(uint64_t v, unsigned bits)
{
    if (bits >= 64)
        return (int64_t)v;
    uint64_t sign = 1ULL << (bits - 1);
    v &= (sign << 1) - 1;
    return (int64_t)((v ^ sign) - sign);
}

static inline int arg_is_integer(unsigned type)
{
    return type >= SHMLOG_ARG_BOOL && type <= SHMLOG_ARG_U64;
}

/* A '*' width or precision as printf reads it, an int, into *v: 0, or -1
 * when the argument is not an integer. */
/* The widest a conversion may be asked to be: a string's as wide as the
 * longest a record holds. */
static inline int render_max_width(char conv)
{
    return conv == 's' ? RENDER_STR_MAX_WIDTH : RENDER_FMT_MAX_WIDTH;
}

static inline int star_int(const struct render_arg *arg, int64_t *v)
{
    if (!arg_is_integer(arg->type))
        return -1;
    *v = (int32_t)(uint32_t)arg->v.u;
    return 0;
}

/* render_decode_args for nargs arguments of the given types, as
 * shmlog_args.h lays them out; render_decode_args_shaped with their shape worked
 * out before (a prepared site's). */
int render_decode_args_typed(unsigned nargs, const uint8_t *types, const uint8_t *payload, size_t payload_len,
                             struct render_arg args[SHMLOG_MAX_ARGS]);
/* An F32 value (its bits in the low 32) widened, as a render_arg holds it. */
static inline double value_f32(uint64_t v)
{
    uint32_t b = (uint32_t)v;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}
/* The values of a SHM_REC_VALUES record (shm/reader.h) as the arguments of
 * site sr: their count, or -1 when they are not of its types (a file that
 * defined the site again otherwise). */
struct render_site;
int render_decode_args_values(const struct render_site *sr, const struct shm_copied_record *rec,
                              struct render_arg args[SHMLOG_MAX_ARGS]);
int render_decode_args_shaped(const struct shmlog_args_shape *sh, const uint8_t *types, const uint8_t *payload,
                              size_t payload_len, struct render_arg args[SHMLOG_MAX_ARGS]);

/* ==== Escaping (render_escape.c) ==== */

/* Bytes carried as they are: printable ASCII. JSON strings also escape the
 * quote and the backslash. */
extern const uint8_t render_text_plain[256];
extern const uint8_t render_json_plain[256];

/* The end of the run of bytes at s[i..n) that plain[] passes. Eight bytes
 * at a time while they are all printable ASCII other than '"' and '\\'
 * (then they pass either table), byte by byte after that. */
static inline size_t plain_run(const uint8_t *s, size_t i, size_t n, const uint8_t plain[256])
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (n - i >= 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
        uint64_t special = ((x - ones * 0x20) | ((x + ones * 0x01) & highs) | (quote - ones) | (backslash - ones) | x) & highs;
        /* special has a high bit for a byte < 0x20, 0x7f (x + 1 reaches 0x80),
         * a quote or backslash (x ^ c == 0 borrows), or >= 0x80 (x itself);
         * borrows may flag bytes after a special one, never before it. */
        if (special)
            break;
        i += 8;
    }
    while (i < n && plain[s[i]])
        i++;
    return i;
}

/* JSON string contents (no quotes) for any bytes. */
void render_json_escape_body(struct render_buf *out, const uint8_t *s, size_t n);
/* Text lines: control bytes and invalid UTF-8 become visible escapes, so a
 * hostile message cannot break lines or drive the terminal. */
void render_put_text_escaped(struct render_buf *out, const void *src, size_t n);

/* How message text is written: as is (render_format), for a text line, or
 * inside a JSON string. Conversions that print only digits, signs, spaces
 * and letters bypass it; everything that may carry other bytes goes through. */
enum esc_mode { ESC_NONE, ESC_TEXT, ESC_JSON };

static inline void put_escaped(struct render_buf *out, enum esc_mode esc, const void *s, size_t n)
{
    switch (esc) {
    case ESC_NONE: render_buf_put(out, s, n); break;
    case ESC_TEXT: render_put_text_escaped(out, s, n); break;
    case ESC_JSON: render_json_escape_body(out, (const uint8_t *)s, n); break;
    }
}

/* ==== Format parsing (render_parse.c) ==== */

enum {
    FL_MINUS = 1,
    FL_PLUS = 2,
    FL_SPACE = 4,
    FL_HASH = 8,
    FL_ZERO = 16,
};

enum fmt_length { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T, LEN_BIG_L };

enum spec_error {
    SPEC_OK,
    SPEC_INCOMPLETE,     /* the format ended inside the spec */
    SPEC_POSITIONAL,     /* %1$d: not supported */
    SPEC_WIDTH_LARGE,
    SPEC_PREC_LARGE,
};

#define ARG_NONE (-1)    /* the spec takes no argument here */
#define ARG_MISSING (-2) /* it takes one, but the site has no more */

struct fmt_spec {
    const char *text;   /* the spec as written, from its '%' */
    size_t text_len;
    unsigned flags;     /* FL_* */
    int width;          /* -1 when absent */
    int prec;           /* -1 when absent */
    enum fmt_length length;
    const char *length_text; /* as written, for error text */
    size_t length_len;
    char conv;          /* conversion character; 0 when incomplete */
    enum spec_error error;
    int width_arg;      /* argument indices or ARG_NONE / ARG_MISSING */
    int prec_arg;
    int value_arg;
    const char *name_floor; /* a field name before the spec starts at or after this */
};

/* Walks a format: literal runs and conversion specs in order, consuming
 * argument indices exactly as printf would, so that the message and the
 * fields object always agree about which argument belongs to which spec. */
struct fmt_walk {
    const char *p;
    const char *lit_begin; /* start of the literal text since the last spec */
    int next_arg;
    int nargs;
};

void render_walk_init(struct fmt_walk *w, const char *fmt, int nargs);

enum item_kind { ITEM_END, ITEM_TEXT, ITEM_SPEC };


/* Whether a conversion takes a value argument. */
int render_takes_value(char conv);
/* Next literal run (text, len) or spec. */
enum item_kind render_walk_next(struct fmt_walk *w, struct fmt_spec *sp, const char **text, size_t *len);

/* The `name=%conv` pairs of a format, noted while walking it. */
#define FIELD_NAME_MAX 128 /* longer runs keep their last FIELD_NAME_MAX bytes */

struct field_ref {
    const char *name;
    size_t len;
    int arg;
    int prec;     /* a %s's precision (-1: none), or ... */
    int prec_arg; /* ... the argument that gives it (%.*s), or ARG_NONE */
    char conv;    /* its conversion: %c's value is a character (render_shown_text()) */
};

struct field_refs {
    struct field_ref v[SHMLOG_MAX_ARGS];
    int n;
};


/* Notes sp in f when it is a `name=%conv` pair. */
void render_note_field(struct field_refs *f, const struct fmt_spec *sp);
/* The value field arg shows: args[arg], or a string cut to the precision
 * (prec, or the int argument prec_arg) that cuts it in the message, in *cut. */
const struct render_arg *render_field_arg(const struct render_arg *args, int arg, int prec, int prec_arg,
                                          struct render_arg *cut);

/* Whether field arg's value (conversion conv, 0 for a struct's member; sr
 * NULL: a format without a site) of argument type type is shown as a
 * character (1) or an enum's name (2) rather than as its number (0). */
int render_shown_as(const struct render_site *sr, int arg, char conv, unsigned type);

/* ==== Prepared sites (render_site.c) ==== */

/* Conversions common enough to bypass format_spec: chosen when the site is
 * prepared, from the spec and the site's argument type, so that the record
 * needs no check. */
enum prep_fast {
    FAST_NONE,     /* format_spec */
    FAST_SIGNED,   /* %d %ld ...: no flags, width or precision; no cut changes the value */
    FAST_UNSIGNED, /* %u %lu ...: the same */
    FAST_STR,      /* %s: no flags, width or precision */
    FAST_FIXED,    /* %f %.Nf: no flags or width */
    FAST_CHAR,     /* %c of an integer: no flags or width */
    FAST_INT,      /* any other d i u o x X of an integer: render_format_integer straight away */
    FAST_ENUM,     /* d i u of an integer the site's descriptor names: the name, or format_spec */
    FAST_TIME,     /* d i of an i64 the site's descriptor says is a time: RFC 3339, or format_spec */
    FAST_HEX,      /* %x %lx %#x ...: no other flag, no width or precision; no cut changes the value */
    FAST_FMT,      /* any conversion of an argument the descriptor gives a {} spec ("f"): render_fmtspec_value */
    FAST_HIDDEN,   /* a width or precision such a spec takes from its argument: nothing */
};

enum prep_kind { PREP_TEXT, PREP_SPEC };

/* Pieces of a line copied from a prepared site's arena, or from earlier in
 * the line: their source has PIECE_PAD readable bytes (the arena is padded),
 * so a short piece is one fixed-size copy, no length tests. The copy may run
 * past the piece into the buffer's free end, which later writes cover. */
#define PIECE_PAD 64

static inline void put_piece(struct render_buf *out, const char *s, size_t n)
{
    if (out->cap - out->len >= PIECE_PAD) {
        /* memmove: a memo piece may lie just before where it goes */
        if (n <= 16) {
            memmove(out->data + out->len, s, 16);
            out->len += n;
            return;
        }
        if (n <= PIECE_PAD) {
            memmove(out->data + out->len, s, PIECE_PAD);
            out->len += n;
            return;
        }
    }
    render_buf_put(out, s, n);
}

/* A conversion spec with the literal text before it, or literal text alone
 * (the format's end). */
struct prep_item {
    uint8_t kind;
    uint8_t fast;
    uint8_t plain;  /* the text has nothing to escape, for text or JSON */
    int8_t prec;    /* FAST_FIXED: fraction digits */
    int arg;        /* FAST_*: the value argument */
    const char *names; /* FAST_ENUM: "Name=value,..." in the arena */
    const char *text; /* in the arena's format copy; len 0: none */
    size_t len;
    struct fmt_spec spec; /* SPEC: its pointers are into the arena's format copy */
};

/* The message alone (Arrow's column, the C API's) as the site's program: per
 * item its text and one code, what the item loop would test per record
 * (structs, std::optionals, escaping, memo) settled when the site is made.
 * ops[i] is items[i]'s; OP_ITEM renders the item as the JSON and text lines do. */
enum msg_op { OP_TEXT, OP_SIGNED, OP_UNSIGNED, OP_STR, OP_FIXED, OP_CHAR, OP_HEX, OP_ITEM };

struct prep_op {
    const char *text; /* the item's, readable for put_piece */
    uint32_t len;
    uint8_t op;       /* enum msg_op */
    uint8_t arg;      /* the value argument (0 for OP_TEXT, OP_ITEM) */
    int8_t prec;      /* OP_FIXED: fraction digits; OP_HEX: 1 with '#' (0x before a value not 0) */
};

struct prep_field {
    const char *key; /* ",\"name\":" in the arena */
    size_t key_len;
    int arg;
    int prec, prec_arg; /* as in struct field_ref */
    char conv;          /* as in struct field_ref */
};

/* A SHMLOG_STRUCT member: "name=<argument>[unit]" of the descriptor. */
struct prep_member {
    const char *name, *unit; /* in the arena, NUL-terminated */
    uint8_t name_len, unit_len;
    uint8_t arg;
};

/* A field as shmlog_read_fields() and Arrow see it: a struct's members
 * flattened to "order.px". */
struct prep_flat {
    const char *name; /* in the arena, not NUL-terminated */
    size_t name_len;
    int field; /* the field it is of */
    int arg;   /* its argument: the field's own, or a member's */
};

struct render_site {
    size_t bytes;
    int known;          /* a site was given */
    uint8_t level, category, nargs;
    uint8_t arg_types[SHMLOG_MAX_ARGS];
    int shaped;         /* the types have a shape (shmlog_args_shape_init): records can be decoded */
    struct shmlog_args_shape shape;
    uint32_t line;
    uint32_t pid;
    char instance[33];  /* render_instance_hex's */
    const struct shm_categories *cats; /* the process's, the caller's; NULL: built-in only */
    const char *app, *host, *hostname, *file, *func; /* arena copies (hostname NULL: none) */
    const char *json_head, *text_head, *json_site, *text_site;
    size_t json_head_len, text_head_len, json_site_len, text_site_len;
    int nitems;
    int first_extra;    /* arguments from here on were not used by the format */
    uint8_t present_of[SHMLOG_MAX_ARGS]; /* a std::optional's "has value" argument + 1; 0: not one */
    const char *enum_of[SHMLOG_MAX_ARGS]; /* an "e" entry's "Name=value,..." in the arena; NULL: none */
    uint32_t time_args;                   /* "t" entries, as a mask */
    uint32_t char_args;                   /* "c" entries, as a mask */
    uint32_t struct_args;                 /* "s" entries, as a mask */
    uint32_t tree_args;                   /* "v" entries (value trees), as a mask */
    const char *shape_of[SHMLOG_MAX_ARGS]; /* an "a" entry's value tree shape, in the arena; NULL: none */
    const struct fmtspec *fmt_of[SHMLOG_MAX_ARGS]; /* an "f" entry's spec, in the arena; NULL: none */
    const char *name_of[SHMLOG_MAX_ARGS];          /* an "n" entry's name (a named argument's); NULL: none */
    uint8_t name_len[SHMLOG_MAX_ARGS];
    uint8_t members_from[SHMLOG_MAX_ARGS], members_n[SHMLOG_MAX_ARGS]; /* a struct's in members[] */
    uint8_t nmembers;
    struct prep_member members[SHMLOG_MAX_ARGS]; /* each argument a member of one struct at most */
    uint8_t optionals;  /* some present_of is set: messages check them (most sites have none) */
    int nfields;
    struct prep_field fields[SHMLOG_MAX_ARGS];
    int nflat;
    struct prep_flat flat[SHMLOG_MAX_ARGS];
    struct prep_item *items;
    struct prep_op *ops; /* nitems of them */
    uint8_t ops_ascii;   /* the message alone is ASCII when its strings and %c are: ASCII texts, no OP_ITEM, no extras */
    uint8_t ops_direct;  /* no OP_ITEM, no text longer than PIECE_PAD: ops_room says what they may write */
    uint32_t ops_room;   /* the most the ops write, but their strings (and what runs past, PIECE_PAD) */
    size_t arena_len;
    char arena[];
};

/* ==== {} specs (render_fmtspec.c) ==== */

/* An "f" descriptor entry's "<what>[ <unit>] <spec>": what the argument is
 * ('v' its type's value, 'c' a character, 't' a time point in ns, 'd' a
 * duration's count of unit) and fmt's spec, with "{N}" for a width or
 * precision from argument N (from 1). */
struct fmtspec {
    char what, align, sign, type; /* align: 0 < > ^; sign: 0 + - space; type: 0 or fmt's letter */
    char fill[4];
    uint8_t fill_len, hash, zero, unit_len;
    int width, prec;          /* -1: none */
    int width_arg, prec_arg;  /* -1: none, else the argument (from 0) */
    const char *chrono;       /* "%H:%M:%S" of a time point or duration; NULL: none */
    size_t chrono_len;
    const char *unit;         /* a duration's, as fmt prints it after the count */
};
/* Parses the n bytes at s; 0, or -1 when it is not one (the entry is left out). */
int render_fmtspec_parse(const char *s, size_t n, struct fmtspec *f);
/* Argument arg of args as fmt prints it by f, escaped as esc says; names: a
 * SHMLOG_ENUM's "Name=value,..." list, or NULL. */
void render_fmtspec_value(struct render_buf *out, const struct fmtspec *f, const struct render_arg *args, int nargs,
                          int arg, const char *names, enum esc_mode esc);

/* ==== The formatter (render_printf.c) ==== */

/* What the JSON message wrote for an argument, for its field to reuse. */
enum memo_kind {
    MEMO_NONE,
    MEMO_COPY,  /* the field's value is the bytes the message has */
    MEMO_STR,   /* the same, in quotes */
    MEMO_FIXED, /* a double the message showed as q / 10^prec */
};

struct arg_memo {
    uint8_t kind;
    int8_t prec;
    uint32_t off, len;
    u128 q;
};

/* d i u o x X and non-null p. value: the argument's 64 bits, already cut to
 * the conversion's width and extended by its signedness. */
void render_format_integer(struct render_buf *out, const struct fmt_spec *sp, int width, int prec, uint64_t value,
                           int is_signed, char conv);
uint64_t render_cut_to_length(uint64_t v, enum fmt_length length, int is_signed);
/* Renders fmt with args into out, escaped as esc says; notes the named
 * fields in fields when it is not NULL. */
void render_msg(const char *fmt, const struct render_arg *args, int nargs, struct render_buf *out,
                enum esc_mode esc, struct field_refs *fields);
/* The message of a prepared site's record: rendered, or what was wrong with
 * the record (nargs < 0); memo (JSON only, or NULL) notes what the fields
 * can reuse. */
void render_put_prepared_msg(const struct render_site *sr, const struct shm_copied_record *rec,
                             const struct render_arg *args, int nargs, struct render_buf *out, enum esc_mode esc,
                             struct arg_memo *memo);

/* A bool, floating point number or pointer as fmt's {} prints it, in text
 * (48 bytes); its length, 0 for other types. */
size_t render_fmt_value(char *text, const struct render_arg *a);

/* ==== Value trees (render_tree.c) ==== */

/* Argument arg of the site is a value tree ("v" entry). */
static inline int render_is_tree(const struct render_site *sr, int arg)
{
    return arg >= 0 && arg < (int)SHMLOG_MAX_ARGS && (sr->tree_args >> arg & 1u);
}
/* A value tree (shmlog_args.h) of n bytes as fmt prints it, escaped as esc says. */
void render_tree_text(struct render_buf *out, const uint8_t *p, size_t n, enum esc_mode esc);
/* The same tree as a JSON value. */
void render_tree_json(struct render_buf *out, const uint8_t *p, size_t n);


/* ==== Times (render_time.c) ==== */

/* "YYYY-MM-DDThh:mm:ss" of secs, in out; the memo's copy when it has one
 * (records come in bursts within one second). */
const char *render_civil_second(struct render_memo *m, uint64_t secs, char out[19]);
/* The offset from UTC in seconds (whole minutes) of the zone times are shown
 * in at second sec: 0 in UTC (m NULL or not local). */
int32_t render_zone_offset(struct render_memo *m, uint64_t sec);
/* What follows the nanoseconds for that offset: "Z" in UTC, else "+hh:mm" or
 * "-hh:mm". Its length. */
size_t render_zone_suffix(const struct render_memo *m, int32_t off, char out[6]);

/* ==== Text lines (render_text.c) ==== */

void render_put_level_text(struct render_buf *out, unsigned level, int pad);
/* " INFO  order app[1234/" */
void render_put_text_head(struct render_buf *out, unsigned level, const char *category, unsigned category_id,
                          const char *app, uint32_t pid);
/* The name of value v in a descriptor's list "Name=value,...": 1 with it in
 * *name, *len; 0 when the list has no such value. */
int render_enum_name_of(const char *names, int64_t v, const char **name, size_t *len);

/* " file.c:42 " (the file's last path component) */
void render_put_text_site(struct render_buf *out, const char *file, uint32_t line, int known);
/* The three kinds of text line; the arguments as their render.h counterparts. */
int render_text_record(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu, uint64_t ts_ns,
                       const char *thread, const struct render_trace *trace, const struct render_arg *args, int nargs,
                       struct render_buf *out);
int render_text_exit(const struct render_input *in, uint64_t records, uint64_t lost, unsigned how,
                     struct render_buf *out);
int render_text_loss(const struct render_input *in, const struct shm_loss *loss, struct render_buf *out);

/* ==== JSON Lines (render_json.c) ==== */

/* ",\"level\":\"INFO\",...,\"pid\":1234,\"instance\":\"...\",\"tid\":" (instance: render_instance_hex's,
 * the key left out when "") */
void render_put_json_head(struct render_buf *out, unsigned level, const char *category, unsigned category_id,
                          const char *host, const char *hostname, const char *app, uint32_t pid,
                          const char *instance);
/* ",\"site\":\"file:line\",\"func\":\"f\",\"msg\":\"" (func when the site names one) */
void render_put_json_site(struct render_buf *out, const char *file, uint32_t line, const char *func, int known);
/* "name": of field i of f (a repeated name gets its argument's position). */
void render_put_field_key(struct render_buf *out, const struct field_refs *f, int i);
/* The three kinds of JSON object; the arguments as their render.h counterparts. */
int render_json_record(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu, uint64_t ts_ns,
                       const char *thread, const struct render_trace *trace, const struct render_arg *args, int nargs,
                       struct render_buf *out);
int render_json_exit(const struct render_input *in, uint64_t records, uint64_t lost, unsigned how,
                     struct render_buf *out);
int render_json_loss(const struct render_input *in, const struct shm_loss *loss, struct render_buf *out);

#endif /* RENDER_PRIVATE_H */
