/*
 * render.c - argument decoding, our printf-compatible formatter, JSON output
 * and whole-line rendering for records. See render.h for the output formats.
 *
 * Format strings come from other processes' shared memory or from files, so
 * the formatter parses them itself and renders every conversion from the
 * argument types the call site registered. Integers, strings, characters and
 * pointers are formatted here; a floating-point conversion is either formatted
 * here (%f with precision <= 19, exactly) or handed to snprintf as a spec we
 * build from validated parts, with exactly one double.
 */
#include "render.h"

#include <endian.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

__extension__ typedef unsigned __int128 u128;

/* ==== Buffer helpers ==== */

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes v (< 10^8) as exactly 8 digits at p. */
static inline void write_8_digits(char *p, uint32_t v)
{
    uint32_t hi = v / 10000, lo = v % 10000;
    memcpy(p, digit_pairs + 2 * (hi / 100), 2);
    memcpy(p + 2, digit_pairs + 2 * (hi % 100), 2);
    memcpy(p + 4, digit_pairs + 2 * (lo / 100), 2);
    memcpy(p + 6, digit_pairs + 2 * (lo % 100), 2);
}

/* Writes v in decimal ending just before end; returns the first digit. */
static char *u64_digits_back(char *end, uint64_t v)
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
        memcpy(p, digit_pairs + 2 * (w % 100), 2);
        w /= 100;
    }
    if (w >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * w, 2);
    } else {
        *--p = (char)('0' + w);
    }
    return p;
}

void shmlog_buf_put_slow(struct shmlog_buf *b, const void *src, size_t n)
{
    size_t room = b->cap - b->len;
    if (n > room) {
        n = room;
        b->overflow = 1;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

void shmlog_buf_fill(struct shmlog_buf *b, char c, size_t n)
{
    size_t room = b->cap - b->len;
    if (n > room) {
        n = room;
        b->overflow = 1;
    }
    memset(b->data + b->len, c, n);
    b->len += n;
}

/* Decimal digits of v (1..20). */
static unsigned u64_ndigits(uint64_t v)
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

/* shmlog_buf_u64, inlined where every record calls it: a few digits cost
 * less than the call. */
static inline void buf_u64(struct shmlog_buf *b, uint64_t v)
{
    /* Straight into the buffer when it has room: no copy. */
    if (b->cap - b->len >= 20) {
        if (v < 10) {
            b->data[b->len++] = (char)('0' + v);
            return;
        }
        unsigned n = u64_ndigits(v);
        u64_digits_back(b->data + b->len + n, v);
        b->len += n;
        return;
    }
    char tmp[20];
    char *p = u64_digits_back(tmp + sizeof tmp, v);
    shmlog_buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

void shmlog_buf_u64(struct shmlog_buf *b, uint64_t v)
{
    buf_u64(b, v);
}

void shmlog_buf_i64(struct shmlog_buf *b, int64_t v)
{
    if (v < 0) {
        shmlog_buf_putc(b, '-');
        shmlog_buf_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        shmlog_buf_u64(b, (uint64_t)v);
    }
}

/* Appends v zero-padded to exactly ndigits digits (v < 10^ndigits). */
static void buf_u64_padded(struct shmlog_buf *b, uint64_t v, int ndigits)
{
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = u64_digits_back(end, v);
    while (end - p < ndigits)
        *--p = '0';
    shmlog_buf_put(b, p, (size_t)(end - p));
}

static void buf_u128(struct shmlog_buf *b, u128 v)
{
    static const uint64_t ten19 = 10000000000000000000ULL;
    if (v <= UINT64_MAX) {
        shmlog_buf_u64(b, (uint64_t)v);
        return;
    }
    /* v < 2^128 so v / 10^19 < 2^64: two pieces suffice. */
    shmlog_buf_u64(b, (uint64_t)(v / ten19));
    buf_u64_padded(b, (uint64_t)(v % ten19), 19);
}

static void buf_hex64(struct shmlog_buf *b, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    char *p = tmp + sizeof tmp;
    do {
        *--p = hex[v & 15];
        v >>= 4;
    } while (v);
    shmlog_buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* ==== Argument decoding ==== */

const char *shmlog_arg_type_name(unsigned type)
{
    static const char *const names[SHMLOG_ARG_TYPE_COUNT] = {
        "none", "bool", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f32", "f64", "ptr", "str",
    };
    return type < SHMLOG_ARG_TYPE_COUNT ? names[type] : "?";
}

/* A little-endian value of 1, 2, 4 or 8 bytes (shmlog_arg_width's widths). */
static uint64_t load_le(const uint8_t *p, unsigned width)
{
    switch (width) {
    case 1:
        return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return le16toh(v);
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return le32toh(v);
    }
    default: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return le64toh(v);
    }
    }
}

static int64_t sign_extend(uint64_t v, unsigned bits)
{
    if (bits >= 64)
        return (int64_t)v;
    uint64_t sign = 1ULL << (bits - 1);
    v &= (sign << 1) - 1;
    return (int64_t)((v ^ sign) - sign);
}

/* shmlog_decode_args for nargs arguments of the given types: one switch
 * per argument, each case loading its own width. */
static int decode_args_typed(unsigned nargs, const uint8_t *types, const uint8_t *payload, size_t payload_len,
                             struct shmlog_arg args[SHMLOG_MAX_ARGS])
{
    if (nargs > SHMLOG_MAX_ARGS)
        return -1;
    size_t off = 0;
    for (unsigned i = 0; i < nargs; i++) {
        struct shmlog_arg *a = &args[i];
        const uint8_t *p = payload + off;
        size_t left = payload_len - off;
        a->type = types[i];
        a->str_truncated = 0;
        a->str_len = 0;
        switch (types[i]) {
        case SHMLOG_ARG_BOOL: case SHMLOG_ARG_U8:
            if (left < 1)
                return -1;
            a->v.u = p[0];
            off += 1;
            break;
        case SHMLOG_ARG_I8:
            if (left < 1)
                return -1;
            a->v.i = sign_extend(p[0], 8);
            off += 1;
            break;
        case SHMLOG_ARG_U16:
            if (left < 2)
                return -1;
            a->v.u = load_le(p, 2);
            off += 2;
            break;
        case SHMLOG_ARG_I16:
            if (left < 2)
                return -1;
            a->v.i = sign_extend(load_le(p, 2), 16);
            off += 2;
            break;
        case SHMLOG_ARG_U32:
            if (left < 4)
                return -1;
            a->v.u = load_le(p, 4);
            off += 4;
            break;
        case SHMLOG_ARG_I32:
            if (left < 4)
                return -1;
            a->v.i = sign_extend(load_le(p, 4), 32);
            off += 4;
            break;
        case SHMLOG_ARG_F32: {
            if (left < 4)
                return -1;
            uint32_t bits = (uint32_t)load_le(p, 4);
            float f;
            memcpy(&f, &bits, sizeof f);
            a->v.f = f;
            off += 4;
            break;
        }
        case SHMLOG_ARG_U64: case SHMLOG_ARG_I64: case SHMLOG_ARG_PTR: case SHMLOG_ARG_F64: {
            if (left < 8)
                return -1;
            uint64_t raw = load_le(p, 8);
            memcpy(&a->v, &raw, sizeof raw); /* the bits of u, i or f alike */
            off += 8;
            break;
        }
        case SHMLOG_ARG_STR: {
            if (left < 2)
                return -1;
            uint16_t hdr = (uint16_t)load_le(p, 2);
            size_t len = hdr & SHMLOG_STR_LEN_MASK;
            if (left - 2 < len)
                return -1;
            a->str_truncated = (hdr & SHMLOG_STR_TRUNCATED) != 0;
            a->str_len = (uint16_t)len;
            a->v.s = p + 2;
            off += 2 + len;
            break;
        }
        default:
            return -1;
        }
    }
    return (int)nargs;
}

int shmlog_decode_args(const struct shmlog_site_info *site, const uint8_t *payload, size_t payload_len,
                       struct shmlog_arg args[SHMLOG_MAX_ARGS])
{
    if (!site)
        return -1;
    return decode_args_typed(site->nargs, site->arg_types, payload, payload_len, args);
}

static int arg_is_integer(unsigned type)
{
    return type >= SHMLOG_ARG_BOOL && type <= SHMLOG_ARG_U64;
}

/* ==== Escaping ==== */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is invalid:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_valid_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return 0;
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

/* Bytes carried as they are: printable ASCII. JSON strings also escape the
 * quote and the backslash. */
#define PLAIN_ROW(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
static const uint8_t text_plain[256] = {
    PLAIN_ROW(0), PLAIN_ROW(0), PLAIN_ROW(1), PLAIN_ROW(1), PLAIN_ROW(1), PLAIN_ROW(1), PLAIN_ROW(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x7f */
};
static const uint8_t json_plain[256] = {
    PLAIN_ROW(0), PLAIN_ROW(0),
    1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    PLAIN_ROW(1), PLAIN_ROW(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \ */, 1, 1, 1,
    PLAIN_ROW(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x7f */
};
#undef PLAIN_ROW

/* The end of the run of bytes at s[i..n) that plain[] passes. Eight bytes
 * at a time while they are all printable ASCII other than '"' and '\\'
 * (then they pass either table), byte by byte after that. */
static size_t plain_run(const uint8_t *s, size_t i, size_t n, const uint8_t plain[256])
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
static void json_escape_body(struct shmlog_buf *out, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        size_t run = plain_run(s, i, n, json_plain);
        shmlog_buf_put(out, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        uint8_t c = s[i];
        if (c >= 0x80) {
            size_t len = utf8_valid_len(s + i, n - i);
            if (len) {
                shmlog_buf_put(out, s + i, len);
                i += len;
            } else {
                shmlog_buf_put(out, "\\ufffd", 6);
                i++;
            }
            continue;
        }
        switch (c) {
        case '"': shmlog_buf_put(out, "\\\"", 2); break;
        case '\\': shmlog_buf_put(out, "\\\\", 2); break;
        case '\n': shmlog_buf_put(out, "\\n", 2); break;
        case '\r': shmlog_buf_put(out, "\\r", 2); break;
        case '\t': shmlog_buf_put(out, "\\t", 2); break;
        case '\b': shmlog_buf_put(out, "\\b", 2); break;
        case '\f': shmlog_buf_put(out, "\\f", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            shmlog_buf_put(out, u, sizeof u);
            break;
        }
        }
        i++;
    }
}

void shmlog_json_string(struct shmlog_buf *out, const void *s, size_t n)
{
    shmlog_buf_putc(out, '"');
    json_escape_body(out, (const uint8_t *)s, n);
    shmlog_buf_putc(out, '"');
}

/* Text lines: control bytes and invalid UTF-8 become visible escapes, so a
 * hostile message cannot break lines or drive the terminal. */
static void put_text_escaped(struct shmlog_buf *out, const void *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)src;
    size_t i = 0;
    while (i < n) {
        size_t run = plain_run(s, i, n, text_plain);
        shmlog_buf_put(out, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        uint8_t c = s[i];
        size_t len = c >= 0x80 ? utf8_valid_len(s + i, n - i) : 0;
        if (len) {
            shmlog_buf_put(out, s + i, len);
            i += len;
            continue;
        }
        if (c == '\n') {
            shmlog_buf_puts(out, "\\n");
        } else if (c == '\r') {
            shmlog_buf_puts(out, "\\r");
        } else if (c == '\t') {
            shmlog_buf_puts(out, "\\t");
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            shmlog_buf_put(out, esc, sizeof esc);
        }
        i++;
    }
}

/* How message text is written: as is (shmlog_format), for a text line, or
 * inside a JSON string. Conversions that print only digits, signs, spaces
 * and letters bypass it; everything that may carry other bytes goes through. */
enum esc_mode { ESC_NONE, ESC_TEXT, ESC_JSON };

static void put_escaped(struct shmlog_buf *out, enum esc_mode esc, const void *s, size_t n)
{
    switch (esc) {
    case ESC_NONE: shmlog_buf_put(out, s, n); break;
    case ESC_TEXT: put_text_escaped(out, s, n); break;
    case ESC_JSON: json_escape_body(out, (const uint8_t *)s, n); break;
    }
}

/* ==== Format parsing ==== */

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

static void walk_init(struct fmt_walk *w, const char *fmt, int nargs)
{
    w->p = w->lit_begin = fmt ? fmt : "";
    w->next_arg = 0;
    w->nargs = nargs < 0 ? 0 : nargs;
}

enum item_kind { ITEM_END, ITEM_TEXT, ITEM_SPEC };

static int takes_value(char conv)
{
    switch (conv) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X': case 'c': case 's': case 'p':
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A': case 'n':
        return 1;
    default:
        return 0;
    }
}

static int take_arg(struct fmt_walk *w)
{
    if (w->next_arg >= w->nargs)
        return ARG_MISSING;
    return w->next_arg++;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses a decimal number at *s, capped so it cannot overflow: values above
 * SHMLOG_FMT_MAX_WIDTH come back as SHMLOG_FMT_MAX_WIDTH + 1. */
static int parse_number(const char **s)
{
    int v = 0;
    while (is_digit(**s)) {
        if (v <= SHMLOG_FMT_MAX_WIDTH)
            v = v * 10 + (**s - '0');
        (*s)++;
    }
    return v > SHMLOG_FMT_MAX_WIDTH ? SHMLOG_FMT_MAX_WIDTH + 1 : v;
}

/* True when digits at s are followed by '$' (a positional argument index). */
static int positional_at(const char *s)
{
    if (!is_digit(*s))
        return 0;
    while (is_digit(*s))
        s++;
    return *s == '$';
}

static void parse_spec(struct fmt_walk *w, struct fmt_spec *sp)
{
    const char *s = w->p + 1;
    int width_star = 0, prec_star = 0;

    memset(sp, 0, sizeof *sp);
    sp->text = w->p;
    sp->name_floor = w->lit_begin;
    sp->width = -1;
    sp->prec = -1;
    sp->width_arg = sp->prec_arg = sp->value_arg = ARG_NONE;

    if (positional_at(s)) {
        sp->error = SPEC_POSITIONAL;
        while (*s != '$')
            s++;
        s++;
    }
    for (;; s++) {
        if (*s == '-') sp->flags |= FL_MINUS;
        else if (*s == '+') sp->flags |= FL_PLUS;
        else if (*s == ' ') sp->flags |= FL_SPACE;
        else if (*s == '#') sp->flags |= FL_HASH;
        else if (*s == '0') sp->flags |= FL_ZERO;
        else if (*s == '\'') continue; /* grouping: none in the C locale */
        else break;
    }
    if (*s == '*') {
        width_star = 1;
        s++;
        if (positional_at(s)) {
            sp->error = SPEC_POSITIONAL;
            while (is_digit(*s))
                s++;
            s++;
        }
    } else if (is_digit(*s)) {
        sp->width = parse_number(&s);
        if (sp->width > SHMLOG_FMT_MAX_WIDTH && sp->error == SPEC_OK)
            sp->error = SPEC_WIDTH_LARGE;
    }
    if (*s == '.') {
        s++;
        if (*s == '*') {
            prec_star = 1;
            s++;
            if (positional_at(s)) {
                sp->error = SPEC_POSITIONAL;
                while (is_digit(*s))
                    s++;
                s++;
            }
        } else {
            sp->prec = parse_number(&s);
            if (sp->prec > SHMLOG_FMT_MAX_WIDTH && sp->error == SPEC_OK)
                sp->error = SPEC_PREC_LARGE;
        }
    }
    sp->length_text = s;
    switch (*s) {
    case 'h':
        s++;
        sp->length = LEN_H;
        if (*s == 'h') {
            s++;
            sp->length = LEN_HH;
        }
        break;
    case 'l':
        s++;
        sp->length = LEN_L;
        if (*s == 'l') {
            s++;
            sp->length = LEN_LL;
        }
        break;
    case 'q': s++; sp->length = LEN_LL; break;
    case 'L': s++; sp->length = LEN_BIG_L; break;
    case 'j': s++; sp->length = LEN_J; break;
    case 'z': case 'Z': s++; sp->length = LEN_Z; break;
    case 't': s++; sp->length = LEN_T; break;
    default: break;
    }
    sp->length_len = (size_t)(s - sp->length_text);
    sp->conv = *s;
    if (*s == '\0')
        sp->error = SPEC_INCOMPLETE;
    else
        s++;
    sp->text_len = (size_t)(s - sp->text);
    w->p = w->lit_begin = s;

    /* A spec printf could not have made sense of takes nothing, so what follows
     * it keeps its arguments. */
    if (sp->error == SPEC_INCOMPLETE || sp->error == SPEC_POSITIONAL)
        return;
    if (width_star)
        sp->width_arg = take_arg(w);
    if (prec_star)
        sp->prec_arg = take_arg(w);
    if (takes_value(sp->conv))
        sp->value_arg = take_arg(w);
}

/* Next literal run (text, len) or spec. */
static enum item_kind walk_next(struct fmt_walk *w, struct fmt_spec *sp, const char **text, size_t *len)
{
    if (*w->p == '\0')
        return ITEM_END;
    if (*w->p != '%') {
        const char *end = strchrnul(w->p, '%');
        *text = w->p;
        *len = (size_t)(end - w->p);
        w->p = end;
        return ITEM_TEXT;
    }
    parse_spec(w, sp);
    return ITEM_SPEC;
}

/* ==== Formatting conversions ==== */

/* Pads body (sign/prefix first, then zeros or body) to width, like printf. */
static void put_padded(struct shmlog_buf *out, const struct fmt_spec *sp, int width, const char *prefix,
                       size_t prefix_len, size_t zeros, const char *body, size_t body_len, int zero_pad)
{
    size_t total = prefix_len + zeros + body_len;
    size_t pad = width > 0 && (size_t)width > total ? (size_t)width - total : 0;
    if (pad && !(sp->flags & FL_MINUS) && !zero_pad)
        shmlog_buf_fill(out, ' ', pad);
    shmlog_buf_put(out, prefix, prefix_len);
    if (pad && !(sp->flags & FL_MINUS) && zero_pad)
        shmlog_buf_fill(out, '0', pad);
    shmlog_buf_fill(out, '0', zeros);
    shmlog_buf_put(out, body, body_len);
    if (pad && (sp->flags & FL_MINUS))
        shmlog_buf_fill(out, ' ', pad);
}

/* d i u o x X and non-null p. value: the argument's 64 bits, already cut to
 * the conversion's width and extended by its signedness. */
static void format_integer(struct shmlog_buf *out, const struct fmt_spec *sp, int width, int prec,
                           uint64_t value, int is_signed, char conv)
{
    static const char lower[] = "0123456789abcdef";
    static const char upper[] = "0123456789ABCDEF";
    char digits[24];
    char *end = digits + sizeof digits;
    char *p = end;
    char prefix[3];
    size_t prefix_len = 0;
    uint64_t mag = value;

    if (is_signed && (int64_t)value < 0) {
        prefix[prefix_len++] = '-';
        mag = (uint64_t)0 - value;
    } else if (is_signed || conv == 'p') {
        if (sp->flags & FL_PLUS)
            prefix[prefix_len++] = '+';
        else if (sp->flags & FL_SPACE)
            prefix[prefix_len++] = ' ';
    }
    if (conv == 'p' || ((sp->flags & FL_HASH) && (conv == 'x' || conv == 'X') && mag != 0)) {
        prefix[prefix_len++] = '0';
        prefix[prefix_len++] = conv == 'X' ? 'X' : 'x';
    }

    if (!(prec == 0 && mag == 0)) {
        switch (conv) {
        case 'o':
            do {
                *--p = (char)('0' + (mag & 7));
                mag >>= 3;
            } while (mag);
            break;
        case 'x': case 'p':
            do {
                *--p = lower[mag & 15];
                mag >>= 4;
            } while (mag);
            break;
        case 'X':
            do {
                *--p = upper[mag & 15];
                mag >>= 4;
            } while (mag);
            break;
        default:
            p = u64_digits_back(end, mag);
            break;
        }
    }
    size_t ndigits = (size_t)(end - p);
    size_t zeros = prec > 0 && (size_t)prec > ndigits ? (size_t)prec - ndigits : 0;
    /* '#' with o: the first digit printed is a zero. */
    if (conv == 'o' && (sp->flags & FL_HASH) && zeros == 0 && (ndigits == 0 || *p != '0'))
        zeros = 1;
    put_padded(out, sp, width, prefix, prefix_len, zeros, p, ndigits, (sp->flags & FL_ZERO) && prec < 0);
}

static uint64_t cut_to_length(uint64_t v, enum fmt_length length, int is_signed)
{
    unsigned bits;
    switch (length) {
    case LEN_HH: bits = 8; break;
    case LEN_H: bits = 16; break;
    case LEN_NONE: bits = 32; break;
    default: return v;
    }
    if (is_signed)
        return (uint64_t)sign_extend(v, bits);
    return v & ((1ULL << bits) - 1);
}

static const uint64_t pow10_u64[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

static const double pow10_dbl[20] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                     1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};

static int fixed_round_exact(double a, int prec, u128 *q);

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
        double t = fabs(a) * pow10_dbl[prec];
        if (t < 0x1p40) {
            double n = (double)(uint64_t)(t + 0.5); /* an integer nearest t, or next to it */
            double d = t - n;                        /* exact: n is within 1 of t */
            if (d > -0.5 + 0x1p-13 && d < 0.5 - 0x1p-13) {
                *q = (uint64_t)n;
                return 0;
            }
        }
    }
    return fixed_round_exact(a, prec, q);
}

static int fixed_round_exact(double a, int prec, u128 *q)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    unsigned bexp = (unsigned)(bits >> 52) & 0x7ff;
    uint64_t m = bits & ((1ULL << 52) - 1);
    int e;

    if (bexp == 0x7ff || prec < 0 || prec > 19)
        return -1;
    if (bexp == 0) {
        e = -1074;
    } else {
        m |= 1ULL << 52;
        e = (int)bexp - 1075;
    }
    if (m == 0) {
        *q = 0;
        return 0;
    }
    if (e >= 0) {
        if (e > 74) /* m << e must stay below 2^127 */
            return -1;
        u128 whole = (u128)m << e;
        if (whole > ~(u128)0 / pow10_u64[prec])
            return -1;
        *q = whole * pow10_u64[prec];
        return 0;
    }
    unsigned shift = (unsigned)-e;
    u128 n = (u128)m * pow10_u64[prec]; /* < 2^53 * 10^19 < 2^117 */
    if (shift >= 118) {                 /* n < 2^117 <= half: rounds to zero */
        *q = 0;
        return 0;
    }
    u128 whole = n >> shift;
    u128 rest = n & (((u128)1 << shift) - 1);
    u128 half = (u128)1 << (shift - 1);
    if (rest > half || (rest == half && (whole & 1)))
        whole++;
    *q = whole;
    return 0;
}

static void put_fixed_cut(struct shmlog_buf *out, u128 q, int prec, int dot_always);

/* Appends q / 10^prec with prec fraction digits; dot_always adds the '.' even
 * when prec is 0. */
static inline void put_fixed(struct shmlog_buf *out, u128 q, int prec, int dot_always)
{
    if (q > UINT64_MAX || out->cap - out->len < 48) {
        put_fixed_cut(out, q, prec, dot_always);
        return;
    }
    /* Backwards from the end: the fraction two digits at a time (leading
     * zeros come out of the pairs), the point, then the integer part; no
     * division by 10^prec. */
    unsigned nd = u64_ndigits((uint64_t)q);
    unsigned int_digits = nd > (unsigned)prec ? nd - (unsigned)prec : 1;
    int dot = prec > 0 || dot_always;
    char *d = out->data + out->len;
    char *p = d + int_digits + (unsigned)dot + (unsigned)prec;
    uint64_t v = (uint64_t)q;
    int k = prec;
    for (; k >= 2 && v > UINT32_MAX; k -= 2) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v <= UINT32_MAX) { /* the rest in 32-bit arithmetic: cheaper */
        uint32_t w = (uint32_t)v;
        for (; k >= 2; k -= 2) {
            p -= 2;
            memcpy(p, digit_pairs + 2 * (w % 100), 2);
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
    out->len += int_digits + (unsigned)dot + (unsigned)prec;
}

/* put_fixed for 128-bit values and for a buffer near its end (where what
 * does not fit is cut). */
static void put_fixed_cut(struct shmlog_buf *out, u128 q, int prec, int dot_always)
{
    uint64_t scale = pow10_u64[prec];
    if (q <= UINT64_MAX) {
        char tmp[24];
        char *end = tmp + sizeof tmp;
        char *p = u64_digits_back(end, (uint64_t)q);
        while (end - p < prec + 1)
            *--p = '0';
        shmlog_buf_put(out, p, (size_t)(end - p - prec));
        if (prec > 0 || dot_always)
            shmlog_buf_putc(out, '.');
        shmlog_buf_put(out, end - prec, (size_t)prec);
        return;
    }
    buf_u128(out, q / scale);
    if (prec > 0 || dot_always)
        shmlog_buf_putc(out, '.');
    if (prec > 0)
        buf_u64_padded(out, (uint64_t)(q % scale), prec);
}

static void format_double(struct shmlog_buf *out, const struct fmt_spec *sp, int width, int prec,
                          double v, char conv)
{
    u128 q;
    if ((conv == 'f' || conv == 'F') && fixed_round(v, prec < 0 ? 6 : prec, &q) == 0) {
        char body[96];
        struct shmlog_buf b;
        int p = prec < 0 ? 6 : prec;
        char sign[1];
        size_t sign_len = 0;
        shmlog_buf_init(&b, body, sizeof body);
        put_fixed(&b, q, p, (sp->flags & FL_HASH) != 0);
        if (signbit(v))
            sign[sign_len++] = '-';
        else if (sp->flags & FL_PLUS)
            sign[sign_len++] = '+';
        else if (sp->flags & FL_SPACE)
            sign[sign_len++] = ' ';
        put_padded(out, sp, width, sign, sign_len, 0, body, b.len, (sp->flags & FL_ZERO) != 0);
        return;
    }

    /* Everything else goes to snprintf as a spec built only from validated
     * parts: flags from a fixed set, bounded width and precision, and one
     * conversion character from the floating-point set. */
    char spec[32];
    struct shmlog_buf s;
    shmlog_buf_init(&s, spec, sizeof spec - 1);
    shmlog_buf_putc(&s, '%');
    if (sp->flags & FL_MINUS) shmlog_buf_putc(&s, '-');
    if (sp->flags & FL_PLUS) shmlog_buf_putc(&s, '+');
    if (sp->flags & FL_SPACE) shmlog_buf_putc(&s, ' ');
    if (sp->flags & FL_HASH) shmlog_buf_putc(&s, '#');
    if (sp->flags & FL_ZERO) shmlog_buf_putc(&s, '0');
    if (width > 0)
        shmlog_buf_u64(&s, (uint64_t)width);
    if (prec >= 0) {
        shmlog_buf_putc(&s, '.');
        shmlog_buf_u64(&s, (uint64_t)prec);
    }
    /* %La prints a long double's 64-bit mantissa: hand over the long double
     * the producer had (it narrowed it to this double without loss of what
     * we know). */
    int as_long_double = sp->length == LEN_BIG_L;
    if (as_long_double)
        shmlog_buf_putc(&s, 'L');
    shmlog_buf_putc(&s, conv);
    spec[s.len] = '\0';

    /* Widest case: %f of DBL_MAX (309 digits) with precision and width 4096. */
    char tmp[2 * SHMLOG_FMT_MAX_WIDTH + 512];
    int n = as_long_double ? snprintf(tmp, sizeof tmp, spec, (long double)v) : snprintf(tmp, sizeof tmp, spec, v);
    if (n < 0)
        return;
    shmlog_buf_put(out, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* %c and %s and (nil): bytes padded with spaces, as glibc does even with '0'.
 * The width counts the bytes as printf would; escaping comes after. */
static void format_bytes(struct shmlog_buf *out, const struct fmt_spec *sp, int width, const void *s, size_t n,
                         enum esc_mode esc)
{
    size_t pad = width > 0 && (size_t)width > n ? (size_t)width - n : 0;
    if (!(sp->flags & FL_MINUS))
        shmlog_buf_fill(out, ' ', pad);
    put_escaped(out, esc, s, n);
    if (sp->flags & FL_MINUS)
        shmlog_buf_fill(out, ' ', pad);
}

/* "%<length><conv>" of a spec, the conversion byte shown as \xNN when it
 * is not printable; escaped as the message is (it may be a quote). */
static void put_error_spec(struct shmlog_buf *out, const struct fmt_spec *sp, enum esc_mode esc)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c = (unsigned char)sp->conv;
    char shown[4] = {(char)c};
    size_t n = 1;
    if (c < 0x21 || c >= 0x7f) {
        shown[0] = '\\';
        shown[1] = 'x';
        shown[2] = hex[c >> 4];
        shown[3] = hex[c & 15];
        n = 4;
    }
    shmlog_buf_putc(out, '%');
    shmlog_buf_put(out, sp->length_text, sp->length_len);
    put_escaped(out, esc, shown, n);
}

static void put_bad_type(struct shmlog_buf *out, const struct fmt_spec *sp, unsigned type, enum esc_mode esc)
{
    shmlog_buf_puts(out, "<bad ");
    put_error_spec(out, sp, esc);
    shmlog_buf_puts(out, " for ");
    shmlog_buf_puts(out, shmlog_arg_type_name(type));
    shmlog_buf_putc(out, '>');
}

/* A '*' argument: printf reads an int. 0, or -1 after rendering an error. */
static int star_value(struct shmlog_buf *out, const struct shmlog_arg *args, int idx, int64_t *v)
{
    if (idx == ARG_MISSING) {
        shmlog_buf_puts(out, "<missing arg>");
        return -1;
    }
    if (!arg_is_integer(args[idx].type)) {
        shmlog_buf_puts(out, "<bad * for ");
        shmlog_buf_puts(out, shmlog_arg_type_name(args[idx].type));
        shmlog_buf_putc(out, '>');
        return -1;
    }
    *v = (int32_t)(uint32_t)args[idx].v.u;
    return 0;
}

static void format_spec(struct shmlog_buf *out, const struct fmt_spec *sp, const struct shmlog_arg *args,
                        enum esc_mode esc)
{
    switch (sp->error) {
    case SPEC_INCOMPLETE: shmlog_buf_puts(out, "<incomplete %>"); return;
    case SPEC_POSITIONAL: shmlog_buf_puts(out, "<positional args unsupported>"); return;
    case SPEC_WIDTH_LARGE: shmlog_buf_puts(out, "<width too large>"); return;
    case SPEC_PREC_LARGE: shmlog_buf_puts(out, "<precision too large>"); return;
    case SPEC_OK: break;
    }
    if (sp->conv == '%') {
        shmlog_buf_putc(out, '%');
        return;
    }
    if (sp->conv == 'n') {
        shmlog_buf_puts(out, "<%n refused>");
        return;
    }
    if (sp->conv == 'm') {
        shmlog_buf_puts(out, "<%m unsupported>");
        return;
    }
    if (!takes_value(sp->conv)) {
        shmlog_buf_puts(out, "<bad conversion ");
        put_error_spec(out, sp, esc);
        shmlog_buf_putc(out, '>');
        return;
    }

    struct fmt_spec eff = *sp;
    int width = sp->width, prec = sp->prec;
    int64_t star;
    if (sp->width_arg != ARG_NONE) {
        if (star_value(out, args, sp->width_arg, &star) < 0)
            return;
        if (star < 0) {
            eff.flags |= FL_MINUS;
            star = -star;
        }
        if (star > SHMLOG_FMT_MAX_WIDTH) {
            shmlog_buf_puts(out, "<width too large>");
            return;
        }
        width = (int)star;
    }
    if (sp->prec_arg != ARG_NONE) {
        if (star_value(out, args, sp->prec_arg, &star) < 0)
            return;
        if (star > SHMLOG_FMT_MAX_WIDTH) {
            shmlog_buf_puts(out, "<precision too large>");
            return;
        }
        prec = star < 0 ? -1 : (int)star;
    }
    if (eff.flags & FL_MINUS)
        eff.flags &= ~(unsigned)FL_ZERO;
    if (eff.flags & FL_PLUS)
        eff.flags &= ~(unsigned)FL_SPACE;
    if (sp->value_arg == ARG_MISSING) {
        shmlog_buf_puts(out, "<missing arg>");
        return;
    }

    const struct shmlog_arg *a = &args[sp->value_arg];
    switch (sp->conv) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X': {
        if (!arg_is_integer(a->type))
            break;
        int is_signed = sp->conv == 'd' || sp->conv == 'i';
        format_integer(out, &eff, width, prec, cut_to_length(a->v.u, sp->length, is_signed), is_signed,
                       sp->conv == 'i' ? 'd' : sp->conv);
        return;
    }
    case 'c': {
        if (!arg_is_integer(a->type) || sp->length != LEN_NONE)
            break;
        unsigned char c = (unsigned char)a->v.u;
        format_bytes(out, &eff, width, &c, 1, esc);
        return;
    }
    case 's': {
        if (a->type != SHMLOG_ARG_STR || sp->length != LEN_NONE)
            break;
        size_t n = a->str_len;
        if (prec >= 0 && (size_t)prec < n)
            n = (size_t)prec;
        /* printf stops at a NUL; a well-behaved producer never stores one. */
        const void *nul = memchr(a->v.s, '\0', n);
        if (nul)
            n = (size_t)((const uint8_t *)nul - a->v.s);
        format_bytes(out, &eff, width, a->v.s, n, esc);
        return;
    }
    case 'p':
        if (a->type != SHMLOG_ARG_PTR)
            break;
        if (a->v.u == 0)
            format_bytes(out, &eff, width, "(nil)", 5, ESC_NONE);
        else
            format_integer(out, &eff, width, prec, a->v.u, 0, 'p');
        return;
    default: /* f F e E g G a A */
        if ((a->type != SHMLOG_ARG_F64 && a->type != SHMLOG_ARG_F32) ||
            (sp->length != LEN_NONE && sp->length != LEN_L && sp->length != LEN_BIG_L))
            break;
        format_double(out, &eff, width, prec, a->v.f, sp->conv);
        return;
    }
    put_bad_type(out, sp, a->type, esc);
}

struct shortest_try {
    double a;       /* > 0, finite */
    uint64_t m;     /* a = m / 2^shift */
    int shift;
    unsigned bexp;
    int is_f32;
};

static void shortest_init(struct shortest_try *t, double a, int is_f32)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    t->a = a;
    t->is_f32 = is_f32;
    t->bexp = (unsigned)(bits >> 52) & 0x7ff;
    t->m = t->bexp ? (bits & ((1ULL << 52) - 1)) | (1ULL << 52) : bits & ((1ULL << 52) - 1);
    t->shift = t->bexp ? 1075 - (int)t->bexp : 1074; /* a = m / 2^shift */
}

/* Whether q / 10^p reads back as a: 1 yes, 0 no, -1 cannot tell here. */
static int candidate_reads_back(const struct shortest_try *t, int p, u128 q)
{
    if (q <= (1ULL << 53)) {
        /* q and 10^p are exact doubles: one correctly rounded division,
         * cheaper than the integers below. */
        double back = (double)(uint64_t)q / pow10_dbl[p];
        return t->is_f32 ? (float)back == (float)t->a : back == t->a;
    }
    if (t->is_f32 || t->shift <= 0 || t->shift > 116)
        return -1;
    /* In integers: |q / 10^p - m / 2^shift| < half an ulp (1 / 2^(shift+1)),
     * scaled by 2^(shift+2) * 10^p; a tie reads back as a when m is even.
     * Below a power of two the interval is half as wide. All < 2^120. */
    u128 scale = pow10_u64[p];
    u128 cand = q << t->shift, exact = (u128)t->m * scale;
    int below = cand < exact;
    u128 dist = 4 * (below ? exact - cand : cand - exact), half = 2 * scale;
    if (below && t->m == (1ULL << 52) && t->bexp > 1)
        dist *= 2;
    return dist < half || (dist == half && (t->m & 1) == 0);
}

/* Whether a rounded to p fraction digits (*q / 10^p) reads back as a: 1 yes,
 * 0 no, -1 cannot tell here (then %g decides). */
static int shortest_check(const struct shortest_try *t, int p, u128 *q)
{
    if (fixed_round(t->a, p, q) < 0)
        return -1;
    return candidate_reads_back(t, p, *q);
}

/* The fewest fraction digits p >= lo at which a reads back (*q then holds
 * it rounded), knowing that lo - 1 does not; -1 when that is not decided
 * here. Reading back only gets better with more digits (the closest value of
 * p + 1 digits is no farther than the one of p digits), so the answer is
 * found by halving, after a guess at 15, 16 and 17 significant digits where
 * long values end. Before those, the next SHORT_TRIES digits one by one:
 * prices a format shows with too few digits are short decimals still.
 * int_digits: the significant digits a has before the point (negative:
 * zeros after it). */
#define SHORT_TRIES 3
static int shortest_above(const struct shortest_try *t, int lo, int int_digits, u128 *q)
{
    int hi = -1; /* the smallest p known to read back; *q holds it rounded */
    u128 cand;
    for (int k = 0; k < SHORT_TRIES && lo <= 19 && lo + int_digits < 15; k++) {
        int r = shortest_check(t, lo, &cand);
        if (r < 0)
            return -1;
        if (r) {
            *q = cand;
            return lo;
        }
        lo++;
    }
    for (int sig = 15; sig <= 17; sig++) {
        int p = sig - int_digits;
        if (p < lo)
            continue;
        if (p > 19)
            break;
        int r = shortest_check(t, p, &cand);
        if (r < 0)
            return -1;
        if (r) {
            hi = p;
            *q = cand;
            break;
        }
        lo = p + 1;
    }
    if (hi < 0) {
        if (lo > 19 || shortest_check(t, 19, q) != 1)
            return -1;
        hi = 19;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int r = shortest_check(t, mid, &cand);
        if (r < 0)
            return -1;
        if (r) {
            hi = mid;
            *q = cand;
        } else {
            lo = mid + 1;
        }
    }
    return hi;
}

/* Shortest decimal of a finite double that reads back as the same double (or,
 * is_f32, whose double narrows back to the same float). Always has a '.' or an
 * exponent, so a JSON reader keeps it a float. */
static void put_shortest_double(struct shmlog_buf *out, double v, int is_f32)
{
    double a = fabs(v);
    if (signbit(v))
        shmlog_buf_putc(out, '-');
    if (a == 0) {
        shmlog_buf_puts(out, "0.0");
        return;
    }
    /* Fixed notation with the fewest fraction digits that round-trips
     * (shortest_check: exact for short candidates and for the 16 or 17 digits
     * computed prices such as 100.01 - 0.01 need). Short prices are found by
     * counting up; longer values by shortest_above(). */
    struct shortest_try t;
    shortest_init(&t, a, is_f32);
    u128 q;
    int found = -1;
    for (int p = 0; p <= 3 && found < 0; p++) {
        int r = shortest_check(&t, p, &q);
        if (r < 0)
            break;
        if (r)
            found = p;
        else if (p == 3)
            found = shortest_above(&t, 4, q ? (int)u64_ndigits((uint64_t)q) - 3 : -3, &q);
    }
    if (found >= 0) {
        put_fixed(out, q, found, 1);
        if (found == 0)
            shmlog_buf_putc(out, '0');
        return;
    }
    /* Very large, very small or long: the fewest %g digits that read back. */
    char tmp[40];
    for (int digits = is_f32 ? 6 : 15; digits <= 17; digits++) {
        int n = snprintf(tmp, sizeof tmp, "%.*g", digits, a);
        if (n <= 0 || (size_t)n >= sizeof tmp)
            break;
        double back = strtod(tmp, NULL);
        if (digits == 17 || (is_f32 ? (float)back == (float)a : back == a)) {
            shmlog_buf_put(out, tmp, (size_t)n);
            if (!strpbrk(tmp, ".e"))
                shmlog_buf_puts(out, ".0");
            return;
        }
    }
}

/* An argument the format did not use, shown after the message. */
static void put_extra_arg(struct shmlog_buf *out, const struct shmlog_arg *a, enum esc_mode esc)
{
    switch (a->type) {
    case SHMLOG_ARG_BOOL:
        shmlog_buf_puts(out, a->v.u ? "true" : "false");
        break;
    case SHMLOG_ARG_I8: case SHMLOG_ARG_I16: case SHMLOG_ARG_I32: case SHMLOG_ARG_I64:
        shmlog_buf_i64(out, a->v.i);
        break;
    case SHMLOG_ARG_U8: case SHMLOG_ARG_U16: case SHMLOG_ARG_U32: case SHMLOG_ARG_U64:
        shmlog_buf_u64(out, a->v.u);
        break;
    case SHMLOG_ARG_F32: case SHMLOG_ARG_F64:
        if (isnan(a->v.f))
            shmlog_buf_puts(out, "nan");
        else if (isinf(a->v.f))
            shmlog_buf_puts(out, a->v.f < 0 ? "-inf" : "inf");
        else
            put_shortest_double(out, a->v.f, a->type == SHMLOG_ARG_F32);
        break;
    case SHMLOG_ARG_PTR:
        shmlog_buf_puts(out, "0x");
        buf_hex64(out, a->v.u);
        break;
    case SHMLOG_ARG_STR:
        put_escaped(out, esc, "\"", 1);
        put_escaped(out, esc, a->v.s, a->str_len);
        put_escaped(out, esc, "\"", 1);
        break;
    default:
        shmlog_buf_puts(out, "?");
        break;
    }
}

/* The `name=%conv` pairs of a format, noted while walking it. */
#define FIELD_NAME_MAX 128 /* longer runs keep their last FIELD_NAME_MAX bytes */

struct field_ref {
    const char *name;
    size_t len;
    int arg;
};

struct field_refs {
    struct field_ref v[SHMLOG_MAX_ARGS];
    int n;
};

/* [A-Za-z0-9_.]: the characters of a field name. */
static const uint8_t name_chars[256] = {
    ['.'] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

static void note_field(struct field_refs *f, const struct fmt_spec *sp)
{
    /* Each noted spec took a value argument, so at most SHMLOG_MAX_ARGS. */
    if (sp->value_arg < 0 || sp->conv == 'n' || f->n >= (int)SHMLOG_MAX_ARGS)
        return;
    const char *eq = sp->text - 1;
    if (sp->text - sp->name_floor < 2 || *eq != '=')
        return;
    const char *name = eq;
    while (name > sp->name_floor && eq - name < FIELD_NAME_MAX && name_chars[(uint8_t)name[-1]])
        name--;
    if (name == eq)
        return;
    f->v[f->n].name = name;
    f->v[f->n].len = (size_t)(eq - name);
    f->v[f->n].arg = sp->value_arg;
    f->n++;
}

/* " <extra: ...>" for the arguments from..nargs the format did not use. */
static void put_extras(struct shmlog_buf *out, const struct shmlog_arg *args, int from, int nargs, enum esc_mode esc)
{
    if (from >= nargs)
        return;
    shmlog_buf_puts(out, " <extra: ");
    for (int i = from; i < nargs; i++) {
        if (i > from)
            shmlog_buf_puts(out, ", ");
        put_extra_arg(out, &args[i], esc);
    }
    shmlog_buf_putc(out, '>');
}

/* Renders fmt with args into out, escaped as esc says; notes the named
 * fields in fields when it is not NULL. */
static void render_msg(const char *fmt, const struct shmlog_arg *args, int nargs, struct shmlog_buf *out,
                       enum esc_mode esc, struct field_refs *fields)
{
    struct fmt_walk w;
    struct fmt_spec sp;
    const char *text;
    size_t len;
    enum item_kind kind;

    walk_init(&w, fmt, nargs);
    while ((kind = walk_next(&w, &sp, &text, &len)) != ITEM_END) {
        if (kind == ITEM_TEXT) {
            put_escaped(out, esc, text, len);
            continue;
        }
        format_spec(out, &sp, args, esc);
        if (fields)
            note_field(fields, &sp);
    }
    put_extras(out, args, w.next_arg, w.nargs, esc);
}

void shmlog_format(const char *fmt, const struct shmlog_arg *args, int nargs, struct shmlog_buf *out)
{
    render_msg(fmt, args, nargs, out, ESC_NONE, NULL);
}

/* ==== JSON ==== */

void shmlog_json_double(struct shmlog_buf *out, double v, int is_f32)
{
    if (!isfinite(v))
        shmlog_buf_puts(out, "null");
    else
        put_shortest_double(out, v, is_f32);
}

void shmlog_json_arg(struct shmlog_buf *out, const struct shmlog_arg *a)
{
    switch (a->type) {
    case SHMLOG_ARG_BOOL:
        shmlog_buf_puts(out, a->v.u ? "true" : "false");
        break;
    case SHMLOG_ARG_I8: case SHMLOG_ARG_I16: case SHMLOG_ARG_I32: case SHMLOG_ARG_I64:
        shmlog_buf_i64(out, a->v.i);
        break;
    case SHMLOG_ARG_U8: case SHMLOG_ARG_U16: case SHMLOG_ARG_U32: case SHMLOG_ARG_U64:
        shmlog_buf_u64(out, a->v.u);
        break;
    case SHMLOG_ARG_F32: case SHMLOG_ARG_F64:
        shmlog_json_double(out, a->v.f, a->type == SHMLOG_ARG_F32);
        break;
    case SHMLOG_ARG_PTR:
        shmlog_buf_puts(out, "\"0x");
        buf_hex64(out, a->v.u);
        shmlog_buf_putc(out, '"');
        break;
    case SHMLOG_ARG_STR:
        shmlog_json_string(out, a->v.s, a->str_len);
        break;
    default:
        shmlog_buf_puts(out, "null");
        break;
    }
}

/* "name": of field i; a repeated name gets its argument's position as a
 * suffix, so no value hides behind a duplicate key. */
static void put_field_key(struct shmlog_buf *out, const struct field_refs *f, int i)
{
    const struct field_ref *r = &f->v[i];
    int duplicate = 0;
    for (int j = 0; j < i; j++)
        duplicate |= f->v[j].len == r->len && memcmp(f->v[j].name, r->name, r->len) == 0;
    shmlog_buf_putc(out, '"');
    shmlog_buf_put(out, r->name, r->len); /* [A-Za-z0-9_.]: nothing to escape */
    if (duplicate) {
        shmlog_buf_putc(out, '_');
        shmlog_buf_u64(out, (uint64_t)r->arg + 1);
    }
    shmlog_buf_puts(out, "\":");
}

/* {"name":value,...} */
static void emit_fields(struct shmlog_buf *out, const struct field_refs *f, const struct shmlog_arg *args)
{
    shmlog_buf_putc(out, '{');
    for (int i = 0; i < f->n; i++) {
        if (i)
            shmlog_buf_putc(out, ',');
        put_field_key(out, f, i);
        shmlog_json_arg(out, &args[f->v[i].arg]);
    }
    shmlog_buf_putc(out, '}');
}

void shmlog_json_fields(const char *fmt, const struct shmlog_arg *args, int nargs, struct shmlog_buf *out)
{
    struct fmt_walk w;
    struct fmt_spec sp;
    struct field_refs fields;
    const char *text;
    size_t len;
    enum item_kind kind;

    fields.n = 0;
    walk_init(&w, fmt, nargs);
    while ((kind = walk_next(&w, &sp, &text, &len)) != ITEM_END)
        if (kind == ITEM_SPEC)
            note_field(&fields, &sp);
    emit_fields(out, &fields, args);
}

/* ==== Whole lines ==== */

/* "YYYY-MM-DDThh:mm:ss" of a second since the epoch, UTC. */
static void format_civil_second(char out[19], uint64_t secs)
{
    uint64_t days = secs / 86400u;
    uint32_t sod = (uint32_t)(secs % 86400u);

    /* Civil date from days since 1970-01-01 (H. Hinnant's civil_from_days),
     * exact for every u64 nanosecond value. */
    uint64_t z = days + 719468u;
    uint64_t era = z / 146097u;
    uint64_t doe = z - era * 146097u;
    uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint64_t year = yoe + era * 400u;
    uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint64_t mp = (5u * doy + 2u) / 153u;
    uint64_t day = doy - (153u * mp + 2u) / 5u + 1u;
    uint64_t month = mp < 10 ? mp + 3 : mp - 9;
    if (month <= 2)
        year++;

    struct shmlog_buf b;
    shmlog_buf_init(&b, out, 19);
    buf_u64_padded(&b, year, 4);
    shmlog_buf_putc(&b, '-');
    buf_u64_padded(&b, month, 2);
    shmlog_buf_putc(&b, '-');
    buf_u64_padded(&b, day, 2);
    shmlog_buf_putc(&b, 'T');
    buf_u64_padded(&b, sod / 3600u, 2);
    shmlog_buf_putc(&b, ':');
    buf_u64_padded(&b, sod / 60u % 60u, 2);
    shmlog_buf_putc(&b, ':');
    buf_u64_padded(&b, sod % 60u, 2);
}

/* "YYYY-MM-DDThh:mm:ss" of secs. Records come in bursts within one second:
 * the last second's text is kept. */
static const char *civil_second(uint64_t secs)
{
    static __thread uint64_t cached_sec = UINT64_MAX;
    static __thread char cached[19];
    if (secs != cached_sec) {
        format_civil_second(cached, secs);
        cached_sec = secs;
    }
    return cached;
}

void shmlog_buf_rfc3339(struct shmlog_buf *out, uint64_t ns)
{
    char tmp[30];
    struct shmlog_buf b;
    shmlog_buf_init(&b, tmp, sizeof tmp);
    shmlog_buf_put(&b, civil_second(ns / 1000000000u), 19);
    shmlog_buf_putc(&b, '.');
    buf_u64_padded(&b, ns % 1000000000u, 9);
    shmlog_buf_putc(&b, 'Z');
    shmlog_buf_put(out, tmp, b.len);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void put_json_cstring(struct shmlog_buf *out, const char *s)
{
    if (!s)
        s = "";
    shmlog_json_string(out, s, strlen(s));
}

/* The fields every line starts with in JSON: ts_ns and time. */
static void put_json_time(struct shmlog_buf *out, uint64_t ts_ns)
{
    /* Records of one second share everything but the 9 nanosecond digits
     * (twice): "{"ts_ns":<seconds>" and ","time":"<civil second>." are made
     * once per second. */
    static __thread uint64_t cached_sec = UINT64_MAX;
    static __thread char head[9 + 20], middle[9 + 19 + 1];
    static __thread unsigned head_len;
    uint64_t sec = ts_ns / 1000000000u;
    if (sec && out->cap - out->len >= sizeof head + sizeof middle + 20) {
        if (sec != cached_sec) {
            memcpy(head, "{\"ts_ns\":", 9);
            char digits[20];
            char *p = u64_digits_back(digits + sizeof digits, sec);
            head_len = 9 + (unsigned)(digits + sizeof digits - p);
            memcpy(head + 9, p, head_len - 9);
            memcpy(middle, ",\"time\":\"", 9);
            memcpy(middle + 9, civil_second(sec), 19);
            middle[28] = '.';
            cached_sec = sec;
        }
        char *d = out->data + out->len;
        memcpy(d, head, sizeof head);
        d += head_len;
        uint32_t ns = (uint32_t)(ts_ns % 1000000000u);
        write_8_digits(d, ns / 10);
        d[8] = (char)('0' + ns % 10);
        memcpy(d + 9, middle, sizeof middle);
        memcpy(d + 9 + sizeof middle, d, 9);
        d[18 + sizeof middle] = 'Z';
        d[19 + sizeof middle] = '"';
        out->len += head_len + 9 + sizeof middle + 11;
        return;
    }
    shmlog_buf_put(out, "{\"ts_ns\":", 9);
    shmlog_buf_u64(out, ts_ns);
    shmlog_buf_put(out, ",\"time\":\"", 9);
    shmlog_buf_rfc3339(out, ts_ns);
    shmlog_buf_putc(out, '"');
}

static void put_level_text(struct shmlog_buf *out, unsigned level, int pad)
{
    const char *name = shmlog_level_name(level);
    size_t len;
    if (name) {
        len = strlen(name);
        shmlog_buf_put(out, name, len);
    } else {
        shmlog_buf_putc(out, 'L');
        shmlog_buf_u64(out, level);
        len = level < 10 ? 2 : level < 100 ? 3 : 4;
    }
    if (pad && len < 5)
        shmlog_buf_fill(out, ' ', 5 - len);
}

/* ==== Prepared sites: what every record of a site shares, done once ==== */

/* ",\"level\":\"INFO\",\"category\":\"order\",\"host\":..,\"app\":..,\"pid\":1234,\"tid\":" */
static void put_json_head(struct shmlog_buf *out, unsigned level, unsigned category, const char *host,
                          const char *app, uint32_t pid)
{
    shmlog_buf_puts(out, ",\"level\":\"");
    put_level_text(out, level, 0);
    shmlog_buf_puts(out, "\",\"category\":\"");
    const char *cat = shmlog_category_name(category);
    if (cat) {
        shmlog_buf_puts(out, cat);
    } else {
        shmlog_buf_puts(out, "cat");
        shmlog_buf_u64(out, category);
    }
    shmlog_buf_puts(out, "\",\"host\":");
    put_json_cstring(out, host);
    shmlog_buf_puts(out, ",\"app\":");
    put_json_cstring(out, app);
    shmlog_buf_puts(out, ",\"pid\":");
    shmlog_buf_u64(out, pid);
    shmlog_buf_puts(out, ",\"tid\":");
}

/* " INFO  order app[1234/" */
static void put_text_head(struct shmlog_buf *out, unsigned level, unsigned category, const char *app, uint32_t pid)
{
    shmlog_buf_putc(out, ' ');
    put_level_text(out, level, 1);
    shmlog_buf_putc(out, ' ');
    const char *cat = shmlog_category_name(category);
    if (!cat) {
        shmlog_buf_puts(out, "cat");
        shmlog_buf_u64(out, category);
    } else {
        shmlog_buf_puts(out, category == SHMLOG_CAT_NONE ? "-" : cat);
    }
    shmlog_buf_putc(out, ' ');
    if (app)
        put_text_escaped(out, app, strlen(app));
    shmlog_buf_putc(out, '[');
    shmlog_buf_u64(out, pid);
    shmlog_buf_putc(out, '/');
}

/* ",\"site\":\"file:line\",\"msg\":\"" */
static void put_json_site(struct shmlog_buf *out, const char *file, uint32_t line, int known)
{
    if (!known) {
        shmlog_buf_puts(out, ",\"site\":null,\"msg\":\"");
        return;
    }
    shmlog_buf_puts(out, ",\"site\":\"");
    json_escape_body(out, (const uint8_t *)file, strlen(file));
    shmlog_buf_putc(out, ':');
    shmlog_buf_u64(out, line);
    shmlog_buf_puts(out, "\",\"msg\":\"");
}

/* " file.c:42 " (the file's last path component) */
static void put_text_site(struct shmlog_buf *out, const char *file, uint32_t line, int known)
{
    shmlog_buf_putc(out, ' ');
    if (known) {
        const char *name = base_name(file);
        put_text_escaped(out, name, strlen(name));
        shmlog_buf_putc(out, ':');
        shmlog_buf_u64(out, line);
    } else {
        shmlog_buf_putc(out, '?');
    }
    shmlog_buf_putc(out, ' ');
}

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
    FAST_INT,      /* any other d i u o x X of an integer: format_integer straight away */
};

enum prep_kind { PREP_TEXT, PREP_SPEC };

/* Pieces of a line copied from a prepared site's arena, or from earlier in
 * the line: their source has PIECE_PAD readable bytes (the arena is padded),
 * so a short piece is one fixed-size copy, no length tests. The copy may run
 * past the piece into the buffer's free end, which later writes cover. */
#define PIECE_PAD 64

static inline void put_piece(struct shmlog_buf *out, const char *s, size_t n)
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
    shmlog_buf_put(out, s, n);
}

/* A conversion spec with the literal text before it, or literal text alone
 * (the format's end). */
struct prep_item {
    uint8_t kind;
    uint8_t fast;
    uint8_t plain;  /* the text has nothing to escape, for text or JSON */
    int8_t prec;    /* FAST_FIXED: fraction digits */
    int arg;        /* FAST_*: the value argument */
    const char *text; /* in the arena's format copy; len 0: none */
    size_t len;
    struct fmt_spec spec; /* SPEC: its pointers are into the arena's format copy */
};

struct prep_field {
    const char *key; /* ",\"name\":" in the arena */
    size_t key_len;
    int arg;
};

struct shmlog_site_render {
    size_t bytes;
    int known;          /* a site was given */
    uint8_t level, category, nargs;
    uint8_t arg_types[SHMLOG_MAX_ARGS];
    uint32_t line;
    uint32_t pid;
    const char *app, *host, *file; /* arena copies */
    const char *json_head, *text_head, *json_site, *text_site;
    size_t json_head_len, text_head_len, json_site_len, text_site_len;
    int nitems;
    int first_extra;    /* arguments from here on were not used by the format */
    int nfields;
    struct prep_field fields[SHMLOG_MAX_ARGS];
    struct prep_item *items;
    size_t arena_len;
    char arena[];
};

static int fast_int_fits(const struct fmt_spec *sp, unsigned type, int is_signed)
{
    if (!arg_is_integer(type))
        return 0;
    switch (sp->length) {
    case LEN_L: case LEN_LL: case LEN_J: case LEN_Z: case LEN_T:
        return 1; /* no cut: the 64-bit value as printf reads it */
    case LEN_NONE: /* cut to 32 bits: a no-op for the narrower types */
        if (is_signed)
            return type == SHMLOG_ARG_BOOL || type == SHMLOG_ARG_I8 || type == SHMLOG_ARG_U8 ||
                   type == SHMLOG_ARG_I16 || type == SHMLOG_ARG_U16 || type == SHMLOG_ARG_I32;
        return type == SHMLOG_ARG_BOOL || type == SHMLOG_ARG_U8 || type == SHMLOG_ARG_U16 ||
               type == SHMLOG_ARG_U32;
    case LEN_H: /* cut to 16 bits */
        if (is_signed)
            return type == SHMLOG_ARG_BOOL || type == SHMLOG_ARG_I8 || type == SHMLOG_ARG_U8 ||
                   type == SHMLOG_ARG_I16;
        return type == SHMLOG_ARG_BOOL || type == SHMLOG_ARG_U8 || type == SHMLOG_ARG_U16;
    case LEN_HH: /* cut to 8 bits: a bool's byte may be any byte */
        if (is_signed)
            return type == SHMLOG_ARG_I8;
        return type == SHMLOG_ARG_BOOL || type == SHMLOG_ARG_U8;
    default:
        return 0;
    }
}

static enum prep_fast choose_fast(const struct fmt_spec *sp, const uint8_t *types)
{
    if (sp->error != SPEC_OK || sp->width_arg != ARG_NONE || sp->prec_arg != ARG_NONE || sp->value_arg < 0)
        return FAST_NONE;
    unsigned type = types[sp->value_arg];
    if (sp->flags || sp->width >= 0) {
        /* Padding and flags: integers still skip format_spec's checks. */
        switch (sp->conv) {
        case 'd': case 'i': case 'u': case 'o': case 'x': case 'X':
            return arg_is_integer(type) ? FAST_INT : FAST_NONE;
        default:
            return FAST_NONE;
        }
    }
    switch (sp->conv) {
    case 'd': case 'i':
        if (sp->prec < 0 && fast_int_fits(sp, type, 1))
            return FAST_SIGNED;
        return arg_is_integer(type) ? FAST_INT : FAST_NONE;
    case 'u':
        if (sp->prec < 0 && fast_int_fits(sp, type, 0))
            return FAST_UNSIGNED;
        return arg_is_integer(type) ? FAST_INT : FAST_NONE;
    case 'o': case 'x': case 'X':
        return arg_is_integer(type) ? FAST_INT : FAST_NONE;
    case 'c':
        return sp->length == LEN_NONE && arg_is_integer(type) ? FAST_CHAR : FAST_NONE;
    case 's':
        return sp->prec < 0 && sp->length == LEN_NONE && type == SHMLOG_ARG_STR ? FAST_STR : FAST_NONE;
    case 'f': case 'F':
        return sp->prec <= 19 && (sp->length == LEN_NONE || sp->length == LEN_L) &&
                       (type == SHMLOG_ARG_F64 || type == SHMLOG_ARG_F32)
                   ? FAST_FIXED
                   : FAST_NONE;
    default:
        return FAST_NONE;
    }
}

static size_t bounded_strlen(const char *s, size_t max)
{
    return s ? strnlen(s, max) : 0;
}

/* Bytes of the prepared form, with an upper bound on every escaped piece
 * (a byte escapes to at most 6 in JSON, 4 in text). */
static size_t prep_bytes(const struct shmlog_site_info *site, const char *app, const char *host, int *nitems)
{
    size_t fmt_len = site ? bounded_strlen(site->fmt, SHMLOG_MAX_FMT_BYTES) : 0;
    size_t file_len = site ? bounded_strlen(site->file, SHMLOG_MAX_FILE_BYTES) : 0;
    size_t app_len = bounded_strlen(app, SHMLOG_APP_BYTES), host_len = bounded_strlen(host, SHMLOG_HOST_BYTES);
    /* Each item takes at least one byte of the format. */
    *nitems = (int)fmt_len;
    size_t arena = (fmt_len + 1) + (file_len + 1) + (app_len + 1) + (host_len + 1) +
                   (128 + 6 * (app_len + host_len)) + (64 + 4 * app_len) + (64 + 6 * file_len) +
                   (32 + 4 * file_len) + SHMLOG_MAX_ARGS * (FIELD_NAME_MAX + 32);
    return sizeof(struct shmlog_site_render) + arena + PIECE_PAD + 8 + (size_t)*nitems * sizeof(struct prep_item);
}

/* A NUL-terminated copy of n bytes of s in the arena. */
static const char *arena_copy(struct shmlog_buf *arena, const char *s, size_t n)
{
    const char *at = arena->data + arena->len;
    shmlog_buf_put(arena, s ? s : "", n);
    shmlog_buf_putc(arena, '\0');
    return at;
}

/* Fills mem (prep_bytes() of it) with the prepared form. 0, or -EINVAL if a
 * piece did not fit (a bound above is wrong: never for valid sizes). */
static int prep_fill(void *mem, size_t bytes, const struct shmlog_site_info *site, const char *app,
                     const char *host, uint32_t pid, int max_items)
{
    struct shmlog_site_render *sr = mem;
    memset(sr, 0, sizeof *sr);
    sr->bytes = bytes;
    sr->known = site != NULL;
    sr->pid = pid;
    /* items after the arena, aligned */
    size_t items_off = (bytes - (size_t)max_items * sizeof(struct prep_item)) & ~(size_t)7;
    sr->items = (struct prep_item *)((char *)mem + items_off);
    struct shmlog_buf arena;
    shmlog_buf_init(&arena, sr->arena, items_off - offsetof(struct shmlog_site_render, arena));

    sr->app = arena_copy(&arena, app, bounded_strlen(app, SHMLOG_APP_BYTES));
    sr->host = arena_copy(&arena, host, bounded_strlen(host, SHMLOG_HOST_BYTES));
    const char *fmt = "";
    if (site) {
        sr->level = site->level;
        sr->category = site->category;
        sr->nargs = site->nargs > SHMLOG_MAX_ARGS ? SHMLOG_MAX_ARGS + 1 : site->nargs;
        memcpy(sr->arg_types, site->arg_types, sizeof sr->arg_types);
        sr->line = site->line;
        sr->file = arena_copy(&arena, site->file, bounded_strlen(site->file, SHMLOG_MAX_FILE_BYTES));
        fmt = arena_copy(&arena, site->fmt, bounded_strlen(site->fmt, SHMLOG_MAX_FMT_BYTES));
    } else {
        sr->file = arena_copy(&arena, "", 0);
    }

    sr->json_head = arena.data + arena.len;
    put_json_head(&arena, sr->level, sr->category, sr->host, sr->app, pid);
    sr->json_head_len = (size_t)(arena.data + arena.len - sr->json_head);
    sr->text_head = arena.data + arena.len;
    put_text_head(&arena, sr->level, sr->category, sr->app, pid);
    sr->text_head_len = (size_t)(arena.data + arena.len - sr->text_head);
    sr->json_site = arena.data + arena.len;
    put_json_site(&arena, sr->file, sr->line, sr->known);
    sr->json_site_len = (size_t)(arena.data + arena.len - sr->json_site);
    sr->text_site = arena.data + arena.len;
    put_text_site(&arena, sr->file, sr->line, sr->known);
    sr->text_site_len = (size_t)(arena.data + arena.len - sr->text_site);

    if (site && sr->nargs <= SHMLOG_MAX_ARGS) {
        struct fmt_walk w;
        struct fmt_spec sp;
        struct field_refs fields;
        const char *text;
        size_t len;
        enum item_kind kind;
        fields.n = 0;
        walk_init(&w, fmt, sr->nargs);
        while ((kind = walk_next(&w, &sp, &text, &len)) != ITEM_END) {
            struct prep_item *it;
            if (kind == ITEM_SPEC && sr->nitems && sr->items[sr->nitems - 1].kind == PREP_TEXT) {
                it = &sr->items[sr->nitems - 1]; /* the text before it: one item */
            } else {
                if (sr->nitems >= max_items)
                    return -EINVAL;
                it = &sr->items[sr->nitems++];
                memset(it, 0, sizeof *it);
                it->plain = 1; /* no text: nothing to escape */
                it->text = sr->arena; /* readable for put_piece, 0 bytes of it */
            }
            if (kind == ITEM_TEXT) {
                it->kind = PREP_TEXT;
                it->text = text;
                it->len = len;
                it->plain = plain_run((const uint8_t *)text, 0, len, json_plain) == len;
                continue;
            }
            it->kind = PREP_SPEC;
            it->spec = sp;
            it->fast = (uint8_t)choose_fast(&sp, sr->arg_types);
            if (it->fast == FAST_INT) {
                /* What format_spec settles per record, settled once. */
                if (it->spec.flags & FL_MINUS)
                    it->spec.flags &= ~(unsigned)FL_ZERO;
                if (it->spec.flags & FL_PLUS)
                    it->spec.flags &= ~(unsigned)FL_SPACE;
            }
            it->arg = sp.value_arg;
            it->prec = (int8_t)(sp.prec < 0 ? 6 : sp.prec);
            note_field(&fields, &sp);
        }
        sr->first_extra = w.next_arg;
        for (int i = 0; i < fields.n; i++) {
            struct prep_field *f = &sr->fields[i];
            f->key = arena.data + arena.len;
            shmlog_buf_putc(&arena, ',');
            put_field_key(&arena, &fields, i);
            f->key_len = (size_t)(arena.data + arena.len - f->key);
            f->arg = fields.v[i].arg;
        }
        sr->nfields = fields.n;
    }
    sr->arena_len = arena.len;
    return arena.overflow ? -EINVAL : 0;
}

struct shmlog_site_render *shmlog_site_render_new(const struct shmlog_site_info *site, const char *app,
                                                  const char *host, uint32_t pid)
{
    int max_items;
    size_t bytes = prep_bytes(site, app, host, &max_items);
    struct shmlog_site_render *sr = malloc(bytes);
    if (sr && prep_fill(sr, bytes, site, app, host, pid, max_items) != 0) {
        free(sr);
        sr = NULL;
    }
    return sr;
}

void shmlog_site_render_free(struct shmlog_site_render *sr)
{
    free(sr);
}

size_t shmlog_site_render_bytes(const struct shmlog_site_render *sr)
{
    return sr->bytes;
}

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

/* %s of a prepared FAST_STR item. 1 when it showed the whole string. */
static int put_str_arg(struct shmlog_buf *out, const struct shmlog_arg *a, enum esc_mode esc)
{
    size_t n = a->str_len;
    /* Most strings have nothing to escape (and so no NUL): one pass. */
    if (esc != ESC_NONE && plain_run(a->v.s, 0, n, esc == ESC_JSON ? json_plain : text_plain) == n) {
        shmlog_buf_put(out, a->v.s, n);
        return 1;
    }
    const void *nul = memchr(a->v.s, '\0', n);
    if (nul)
        n = (size_t)((const uint8_t *)nul - a->v.s);
    put_escaped(out, esc, a->v.s, n);
    return n == a->str_len;
}

/* The shortest round-trip form of a finite double whose fixed rendering
 * with p digits was q: from there it only needs to look shorter. shown
 * (or NULL): that rendering as text, sign included, shown_len bytes. */
static void put_shortest_from(struct shmlog_buf *out, double v, u128 q, int p, const char *shown, size_t shown_len)
{
    struct shortest_try t;
    double a = fabs(v);
    shortest_init(&t, a, 0);
    if (a == 0 || q > UINT64_MAX) {
        put_shortest_double(out, v, 0);
        return;
    }
    int r = candidate_reads_back(&t, p, q);
    if (r != 1) {
        /* Longer than p digits (a computed value): search from p + 1. */
        int found = r < 0 ? -1 : shortest_above(&t, p + 1, q ? (int)u64_ndigits((uint64_t)q) - p : -p, &q);
        if (found < 0) {
            put_shortest_double(out, v, 0);
            return;
        }
        if (signbit(v))
            shmlog_buf_putc(out, '-');
        put_fixed(out, q, found, 1);
        if (found == 0)
            shmlog_buf_putc(out, '0');
        return;
    }
    int shown_p = p;
    if (q <= UINT64_MAX) { /* 64-bit: a division by a constant is a multiplication */
        uint64_t q64 = (uint64_t)q;
        while (p > 0 && q64 % 10 == 0) {
            q64 /= 10;
            p--;
        }
        q = q64;
    } else {
        while (p > 0 && q % 10 == 0) {
            q /= 10;
            p--;
        }
    }
    /* Reading back is monotonic in p: shorter only while p - 1 still does.
     * q's last digit is not 0, so every p - 1 digit value is at least 10^-p
     * away: none can share a's rounding interval, one ulp wide, when the ulp
     * (2^-shift) is smaller than that. */
    u128 shorter;
    int ulp_below = t.shift >= 64 || (t.shift > 0 && pow10_u64[p] < (1ULL << t.shift));
    if (ulp_below && shown) {
        /* The message's digits without the zeros just stripped. */
        shmlog_buf_put(out, shown, shown_len - (size_t)(shown_p - p));
        if (shown_p == 0)
            shmlog_buf_put(out, ".0", 2);
        else if (p == 0)
            shmlog_buf_putc(out, '0');
        return;
    }
    while (p > 0 && !ulp_below && shortest_check(&t, p - 1, &shorter) == 1) {
        q = shorter;
        p--;
    }
    if (signbit(v))
        shmlog_buf_putc(out, '-');
    put_fixed(out, q, p, 1);
    if (p == 0)
        shmlog_buf_putc(out, '0');
}

static void memo_bytes(struct arg_memo *memo, uint8_t kind, size_t from, const struct shmlog_buf *out)
{
    if (!memo || out->overflow)
        return;
    memo->kind = kind;
    memo->off = (uint32_t)from;
    memo->len = (uint32_t)(out->len - from);
}

/* The message; memo (JSON only, or NULL) notes what the fields can reuse. */
static void render_items(const struct shmlog_site_render *sr, const struct shmlog_arg *args, struct shmlog_buf *out,
                         enum esc_mode esc, struct arg_memo *memo)
{
    for (int i = 0; i < sr->nitems; i++) {
        const struct prep_item *it = &sr->items[i];
        if (it->plain)
            put_piece(out, it->text, it->len);
        else
            put_escaped(out, esc, it->text, it->len);
        if (it->kind == PREP_TEXT)
            continue;
        const struct shmlog_arg *a = &args[it->arg];
        struct arg_memo *m = memo ? &memo[it->arg] : NULL;
        size_t from = out->len;
        switch (it->fast) {
        case FAST_SIGNED:
            shmlog_buf_i64(out, (int64_t)a->v.u);
            /* the field of a signed type shows the same digits */
            if (a->type >= SHMLOG_ARG_I8 && a->type <= SHMLOG_ARG_I64 && (a->type & 1) == 0)
                memo_bytes(m, MEMO_COPY, from, out);
            continue;
        case FAST_UNSIGNED:
            buf_u64(out, a->v.u);
            if (a->type >= SHMLOG_ARG_U8 && a->type <= SHMLOG_ARG_U64 && (a->type & 1) == 1)
                memo_bytes(m, MEMO_COPY, from, out);
            continue;
        case FAST_STR:
            if (put_str_arg(out, a, esc))
                memo_bytes(m, MEMO_STR, from, out);
            continue;
        case FAST_CHAR: {
            uint8_t ch = (uint8_t)a->v.u;
            if (esc == ESC_NONE || (esc == ESC_JSON ? json_plain : text_plain)[ch])
                shmlog_buf_putc(out, (char)ch);
            else
                put_escaped(out, esc, &ch, 1);
            continue;
        }
        case FAST_INT: {
            const struct fmt_spec *sp = &it->spec;
            int is_signed = sp->conv == 'd' || sp->conv == 'i';
            format_integer(out, sp, sp->width, sp->prec, cut_to_length(a->v.u, sp->length, is_signed), is_signed,
                           sp->conv == 'i' ? 'd' : sp->conv);
            continue;
        }
        case FAST_FIXED: {
            u128 q;
            if (fixed_round(a->v.f, it->prec, &q) == 0) {
                if (signbit(a->v.f))
                    shmlog_buf_putc(out, '-');
                put_fixed(out, q, it->prec, 0);
                if (m && a->type == SHMLOG_ARG_F64) {
                    memo_bytes(m, MEMO_FIXED, from, out);
                    m->prec = it->prec;
                    m->q = q;
                }
                continue;
            }
            break; /* not finite, or too large: the general path */
        }
        default:
            break;
        }
        format_spec(out, &it->spec, args, esc);
    }
    put_extras(out, args, sr->first_extra, sr->nargs, esc);
}

/* The message: rendered, or what was wrong with the record. */
static void put_prepared_msg(const struct shmlog_site_render *sr, const struct shmlog_rec *rec,
                             const struct shmlog_arg *args, int nargs, struct shmlog_buf *out, enum esc_mode esc,
                             struct arg_memo *memo)
{
    if (!sr->known) {
        shmlog_buf_puts(out, "<unknown site ");
        shmlog_buf_u64(out, rec->site);
        shmlog_buf_putc(out, '>');
    } else if (nargs < 0) {
        shmlog_buf_puts(out, "<corrupt payload: ");
        shmlog_buf_u64(out, rec->payload_len);
        shmlog_buf_puts(out, " bytes do not match the site's argument types>");
    } else {
        render_items(sr, args, out, esc, memo);
    }
}

static int prepared_args(const struct shmlog_site_render *sr, const struct shmlog_rec *rec,
                         struct shmlog_arg args[SHMLOG_MAX_ARGS])
{
    if (!sr->known)
        return -1;
    size_t payload_len = rec->payload_len < sizeof rec->payload ? rec->payload_len : sizeof rec->payload;
    return decode_args_typed(sr->nargs, sr->arg_types, rec->payload, payload_len, args);
}

/* "<tid>,"cpu":<cpu>": a ring's records mostly share both, so the text of
 * the last pair is kept. */
static void put_tid_cpu(struct shmlog_buf *out, uint32_t tid, uint32_t cpu)
{
    static __thread uint64_t cached = UINT64_MAX;
    static __thread char text[32];
    static __thread size_t text_len;
    uint64_t key = (uint64_t)tid << 32 | cpu;
    if (key != cached) {
        struct shmlog_buf b;
        shmlog_buf_init(&b, text, sizeof text);
        buf_u64(&b, tid);
        shmlog_buf_put(&b, ",\"cpu\":", 7);
        buf_u64(&b, cpu);
        text_len = b.len;
        cached = key;
    }
    shmlog_buf_put(out, text, text_len);
}

int shmlog_render_prepared(const struct shmlog_site_render *sr, const struct shmlog_rec *rec, uint32_t cpu,
                           uint64_t ts_ns, int json, struct shmlog_buf *out)
{
    struct shmlog_arg args[SHMLOG_MAX_ARGS];
    int nargs = prepared_args(sr, rec, args);
    int truncated = (rec->flags & SHMLOG_REC_TRUNCATED) != 0;
    /* A record repeats its site's level and category; one that differs
     * (a hostile or damaged record) gets its own head. */
    int own_head = rec->level != sr->level || rec->category != sr->category;

    if (!json) {
        shmlog_buf_rfc3339(out, ts_ns);
        if (own_head)
            put_text_head(out, rec->level, rec->category, sr->app, sr->pid);
        else
            put_piece(out, sr->text_head, sr->text_head_len);
        shmlog_buf_u64(out, rec->tid);
        shmlog_buf_put(out, "] cpu", 5);
        shmlog_buf_u64(out, cpu);
        put_piece(out, sr->text_site, sr->text_site_len);
        put_prepared_msg(sr, rec, args, nargs, out, ESC_TEXT, NULL);
        if (truncated)
            shmlog_buf_put(out, " <truncated>", 12);
        shmlog_buf_putc(out, '\n');
        return out->overflow ? -ENOBUFS : 0;
    }

    put_json_time(out, ts_ns);
    if (own_head)
        put_json_head(out, rec->level, rec->category, sr->host, sr->app, sr->pid);
    else
        put_piece(out, sr->json_head, sr->json_head_len);
    put_tid_cpu(out, rec->tid, cpu);
    shmlog_buf_put(out, ",\"seq\":", 7);
    buf_u64(out, rec->pos);
    put_piece(out, sr->json_site, sr->json_site_len);
    struct arg_memo memo[SHMLOG_MAX_ARGS];
    for (int i = 0; i < sr->nfields; i++)
        memo[sr->fields[i].arg].kind = MEMO_NONE;
    put_prepared_msg(sr, rec, args, nargs, out, ESC_JSON, sr->nfields ? memo : NULL);
    shmlog_buf_put(out, "\",\"fields\":{", 12);
    if (nargs >= 0) {
        for (int i = 0; i < sr->nfields; i++) {
            const struct prep_field *f = &sr->fields[i];
            const struct arg_memo *m = &memo[f->arg];
            /* the first key without its leading comma */
            put_piece(out, f->key + (i == 0), f->key_len - (i == 0));
            switch (out->overflow ? MEMO_NONE : m->kind) {
            case MEMO_COPY:
                put_piece(out, out->data + m->off, m->len);
                break;
            case MEMO_STR:
                shmlog_buf_putc(out, '"');
                put_piece(out, out->data + m->off, m->len);
                shmlog_buf_putc(out, '"');
                break;
            case MEMO_FIXED:
                put_shortest_from(out, args[f->arg].v.f, m->q, m->prec, out->data + m->off, m->len);
                break;
            default:
                shmlog_json_arg(out, &args[f->arg]);
                break;
            }
        }
    }
    shmlog_buf_putc(out, '}');
    if (truncated)
        shmlog_buf_puts(out, ",\"truncated\":true");
    if (!sr->known)
        shmlog_buf_puts(out, ",\"error\":\"unknown site\"");
    else if (nargs < 0)
        shmlog_buf_puts(out, ",\"error\":\"corrupt payload\"");
    shmlog_buf_put(out, "}\n", 2);
    return out->overflow ? -ENOBUFS : 0;
}

int shmlog_render_prepared_msg(const struct shmlog_site_render *sr, const struct shmlog_rec *rec,
                               struct shmlog_buf *out)
{
    struct shmlog_arg args[SHMLOG_MAX_ARGS];
    int nargs = prepared_args(sr, rec, args);
    put_prepared_msg(sr, rec, args, nargs, out, ESC_NONE, NULL);
    return out->overflow ? -ENOBUFS : 0;
}

int shmlog_render_record(const struct shmlog_render_input *in, int json, struct shmlog_buf *out)
{
    if (!in->rec)
        return -EINVAL;
    int max_items;
    size_t bytes = prep_bytes(in->site, in->app, in->host, &max_items);
    struct shmlog_site_render *sr = malloc(bytes);
    if (!sr)
        return -ENOMEM;
    int rc = prep_fill(sr, bytes, in->site, in->app, in->host, in->pid, max_items);
    if (rc == 0)
        rc = shmlog_render_prepared(sr, in->rec, in->cpu, in->ts_ns, json, out);
    free(sr);
    return rc;
}

/* ==== Exit markers and the clock ==== */

int shmlog_render_exit(const struct shmlog_render_input *in, uint64_t records, uint64_t lost, unsigned how, int json,
                       struct shmlog_buf *out)
{
    static const char *const text[3] = {"process exited", "process shut down", "process died without shutting down"};
    static const char *const key[3] = {NULL, "shutdown", "died"};
    how = how < 3 ? how : 0;
    if (!json) {
        shmlog_buf_rfc3339(out, in->ts_ns);
        shmlog_buf_puts(out, " EXIT  ");
        if (in->app)
            put_text_escaped(out, in->app, strlen(in->app));
        shmlog_buf_putc(out, '[');
        shmlog_buf_u64(out, in->pid);
        shmlog_buf_puts(out, "]: ");
        shmlog_buf_puts(out, text[how]);
        shmlog_buf_puts(out, "; ");
        shmlog_buf_u64(out, records);
        shmlog_buf_puts(out, records == 1 ? " record, " : " records, ");
        shmlog_buf_u64(out, lost);
        shmlog_buf_puts(out, " lost\n");
        return out->overflow ? -ENOBUFS : 0;
    }
    put_json_time(out, in->ts_ns);
    shmlog_buf_puts(out, ",\"host\":");
    put_json_cstring(out, in->host);
    shmlog_buf_puts(out, ",\"app\":");
    put_json_cstring(out, in->app);
    shmlog_buf_puts(out, ",\"pid\":");
    shmlog_buf_u64(out, in->pid);
    shmlog_buf_puts(out, ",\"exit\":{\"records\":");
    shmlog_buf_u64(out, records);
    shmlog_buf_puts(out, ",\"lost\":");
    shmlog_buf_u64(out, lost);
    if (key[how]) {
        shmlog_buf_puts(out, ",\"how\":\"");
        shmlog_buf_puts(out, key[how]);
        shmlog_buf_putc(out, '"');
    }
    shmlog_buf_puts(out, "}}\n");
    return out->overflow ? -ENOBUFS : 0;
}

int shmlog_render_loss(const struct shmlog_render_input *in, const struct shmlog_loss *loss, int json,
                       struct shmlog_buf *out)
{
    const char *reason = shmlog_loss_reason_name(loss->reason);
    if (!json) {
        shmlog_buf_rfc3339(out, in->ts_ns);
        shmlog_buf_puts(out, " LOSS  ");
        if (in->app)
            put_text_escaped(out, in->app, strlen(in->app));
        shmlog_buf_putc(out, '[');
        shmlog_buf_u64(out, in->pid);
        shmlog_buf_puts(out, "] cpu");
        shmlog_buf_u64(out, in->cpu);
        shmlog_buf_puts(out, ": ");
        shmlog_buf_u64(out, loss->records);
        shmlog_buf_puts(out, loss->records == 1 ? " record" : " records");
        if (loss->positions) {
            shmlog_buf_puts(out, " (");
            shmlog_buf_u64(out, loss->positions);
            shmlog_buf_puts(out, loss->positions == 1 ? " position from seq " : " positions from seq ");
            shmlog_buf_u64(out, loss->first_pos);
            shmlog_buf_putc(out, ')');
        }
        shmlog_buf_puts(out, " lost: ");
        shmlog_buf_puts(out, reason);
        shmlog_buf_putc(out, '\n');
        return out->overflow ? -ENOBUFS : 0;
    }
    put_json_time(out, in->ts_ns);
    shmlog_buf_puts(out, ",\"host\":");
    put_json_cstring(out, in->host);
    shmlog_buf_puts(out, ",\"app\":");
    put_json_cstring(out, in->app);
    shmlog_buf_puts(out, ",\"pid\":");
    shmlog_buf_u64(out, in->pid);
    shmlog_buf_puts(out, ",\"cpu\":");
    shmlog_buf_u64(out, in->cpu);
    shmlog_buf_puts(out, ",\"loss\":{\"reason\":\"");
    shmlog_buf_puts(out, reason);
    shmlog_buf_puts(out, "\",\"records\":");
    shmlog_buf_u64(out, loss->records);
    shmlog_buf_puts(out, ",\"positions\":");
    shmlog_buf_u64(out, loss->positions);
    shmlog_buf_puts(out, ",\"first_seq\":");
    shmlog_buf_u64(out, loss->first_pos);
    shmlog_buf_puts(out, "}}\n");
    return out->overflow ? -ENOBUFS : 0;
}
