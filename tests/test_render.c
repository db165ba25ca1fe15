/* Description: the record renderer formats exactly like glibc printf for valid formats, renders hostile formats and payloads as visible errors without crashing, emits valid, typed JSON, renders prepared sites exactly like the general path, and converts TSC to time exactly like the reader. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "render.h"
#include "render_private.h"

/* ==== Helpers ==== */

static struct render_arg arg_int(unsigned type, uint64_t raw)
{
    /* Produces the argument as the producer would have captured a C value of
     * that type: cut to the type's width, then sign- or zero-extended. */
    struct render_arg a;
    memset(&a, 0, sizeof a);
    a.type = (uint8_t)type;
    switch (type) {
    case SHMLOG_ARG_BOOL: a.v.u = raw != 0; break;
    case SHMLOG_ARG_I8: a.v.i = (int8_t)raw; break;
    case SHMLOG_ARG_U8: a.v.u = (uint8_t)raw; break;
    case SHMLOG_ARG_I16: a.v.i = (int16_t)raw; break;
    case SHMLOG_ARG_U16: a.v.u = (uint16_t)raw; break;
    case SHMLOG_ARG_I32: a.v.i = (int32_t)raw; break;
    case SHMLOG_ARG_U32: a.v.u = (uint32_t)raw; break;
    case SHMLOG_ARG_I64: a.v.i = (int64_t)raw; break;
    default: a.v.u = raw; break;
    }
    return a;
}

static struct render_arg arg_f64(double v)
{
    struct render_arg a;
    memset(&a, 0, sizeof a);
    a.type = SHMLOG_ARG_F64;
    a.v.f = v;
    return a;
}

static struct render_arg arg_f32(float v)
{
    struct render_arg a;
    memset(&a, 0, sizeof a);
    a.type = SHMLOG_ARG_F32;
    a.v.f = v;
    return a;
}

static struct render_arg arg_str(const char *s)
{
    struct render_arg a;
    memset(&a, 0, sizeof a);
    a.type = SHMLOG_ARG_STR;
    a.str_len = (uint16_t)strlen(s);
    a.v.s = (const uint8_t *)s;
    return a;
}

static struct render_arg arg_ptr(uint64_t p)
{
    struct render_arg a;
    memset(&a, 0, sizeof a);
    a.type = SHMLOG_ARG_PTR;
    a.v.u = p;
    return a;
}

/* long_formats_stay_bounded's whole output: each argument up to some 5,000 bytes, the format's text thrice */
#define RENDER_MEM_BYTES (SHMLOG_MAX_ARGS * 5000 + 3 * SHMLOG_MAX_FMT_BYTES + 1)
static char render_mem[RENDER_MEM_BYTES];

/* Renders fmt into a static buffer, NUL-terminated; returns its length. */
static size_t render(const char *fmt, const struct render_arg *args, int nargs)
{
    struct render_buf b;
    render_buf_init(&b, render_mem, sizeof render_mem - 1);
    render_format(fmt, args, nargs, &b);
    if (b.overflow) /* no passing asserts in hot loops: --full-stats sends each one */
        cr_assert_fail("unexpected overflow for \"%s\"", fmt);
    render_mem[b.len] = 0;
    return b.len;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
    /* splitmix64: deterministic, so a failure reproduces. */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct oracle_stats {
    long checked;
    long mismatches;
};

static void compare(struct oracle_stats *st, const char *fmt, const char *want, int want_len, const char *got,
                    size_t got_len)
{
    st->checked++;
    if (want_len < 0 || (size_t)want_len != got_len || memcmp(want, got, got_len) != 0) {
        if (st->mismatches++ < 10)
            cr_log_error("format \"%s\": printf gave [%.*s], we gave [%.*s]", fmt, want_len, want,
                         (int)got_len, got);
    }
}

/* ==== A minimal JSON validator (RFC 8259) ==== */

struct json_cursor {
    const char *p, *end;
};

static void json_ws(struct json_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int json_value(struct json_cursor *c, int depth);

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Validates a string, decoding it into out (UTF-8) when out is not NULL. */
static int json_string_at(struct json_cursor *c, char *out, size_t *out_len)
{
    size_t n = 0;
    if (c->p >= c->end || *c->p != '"')
        return 0;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            if (out_len)
                *out_len = n;
            return 1;
        }
        if (ch < 0x20)
            return 0;
        if (ch == '\\') {
            c->p++;
            if (c->p >= c->end)
                return 0;
            char e = *c->p++;
            unsigned cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (c->end - c->p < 4)
                    return 0;
                cp = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(c->p[i]);
                    if (h < 0)
                        return 0;
                    cp = cp * 16 + (unsigned)h;
                }
                c->p += 4;
                if (cp >= 0xD800 && cp <= 0xDFFF) /* we never emit surrogates */
                    return 0;
                break;
            default: return 0;
            }
            if (out) {
                if (cp < 0x80) {
                    out[n++] = (char)cp;
                } else if (cp < 0x800) {
                    out[n++] = (char)(0xC0 | (cp >> 6));
                    out[n++] = (char)(0x80 | (cp & 0x3F));
                } else {
                    out[n++] = (char)(0xE0 | (cp >> 12));
                    out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                    out[n++] = (char)(0x80 | (cp & 0x3F));
                }
            }
            continue;
        }
        /* Raw bytes must be valid UTF-8. */
        size_t len = ch < 0x80 ? 1 : (ch & 0xE0) == 0xC0 ? 2 : (ch & 0xF0) == 0xE0 ? 3 : (ch & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || (size_t)(c->end - c->p) < len || (ch >= 0x80 && ch < 0xC2) || ch > 0xF4)
            return 0;
        for (size_t i = 1; i < len; i++)
            if (((unsigned char)c->p[i] & 0xC0) != 0x80)
                return 0;
        if (len == 3) {
            unsigned char b1 = (unsigned char)c->p[1];
            if ((ch == 0xE0 && b1 < 0xA0) || (ch == 0xED && b1 > 0x9F))
                return 0;
        }
        if (len == 4) {
            unsigned char b1 = (unsigned char)c->p[1];
            if ((ch == 0xF0 && b1 < 0x90) || (ch == 0xF4 && b1 > 0x8F))
                return 0;
        }
        if (out)
            memcpy(out + n, c->p, len);
        n += len;
        c->p += len;
    }
    return 0;
}

static int json_number(struct json_cursor *c)
{
    const char *s = c->p;
    if (s < c->end && *s == '-')
        s++;
    if (s >= c->end)
        return 0;
    if (*s == '0') {
        s++;
    } else if (*s >= '1' && *s <= '9') {
        while (s < c->end && *s >= '0' && *s <= '9')
            s++;
    } else {
        return 0;
    }
    if (s < c->end && *s == '.') {
        s++;
        if (s >= c->end || *s < '0' || *s > '9')
            return 0;
        while (s < c->end && *s >= '0' && *s <= '9')
            s++;
    }
    if (s < c->end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < c->end && (*s == '+' || *s == '-'))
            s++;
        if (s >= c->end || *s < '0' || *s > '9')
            return 0;
        while (s < c->end && *s >= '0' && *s <= '9')
            s++;
    }
    c->p = s;
    return 1;
}

static int json_literal(struct json_cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int json_value(struct json_cursor *c, int depth)
{
    if (depth > 32)
        return 0;
    json_ws(c);
    if (c->p >= c->end)
        return 0;
    switch (*c->p) {
    case '{':
        c->p++;
        json_ws(c);
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            return 1;
        }
        for (;;) {
            json_ws(c);
            if (!json_string_at(c, NULL, NULL))
                return 0;
            json_ws(c);
            if (c->p >= c->end || *c->p++ != ':')
                return 0;
            if (!json_value(c, depth + 1))
                return 0;
            json_ws(c);
            if (c->p >= c->end)
                return 0;
            if (*c->p == '}') {
                c->p++;
                return 1;
            }
            if (*c->p++ != ',')
                return 0;
        }
    case '[':
        c->p++;
        json_ws(c);
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return 1;
        }
        for (;;) {
            if (!json_value(c, depth + 1))
                return 0;
            json_ws(c);
            if (c->p >= c->end)
                return 0;
            if (*c->p == ']') {
                c->p++;
                return 1;
            }
            if (*c->p++ != ',')
                return 0;
        }
    case '"':
        return json_string_at(c, NULL, NULL);
    case 't': return json_literal(c, "true");
    case 'f': return json_literal(c, "false");
    case 'n': return json_literal(c, "null");
    default: return json_number(c);
    }
}

/* 1 when s[0..n) is exactly one JSON value (surrounding whitespace allowed). */
static int json_valid(const char *s, size_t n)
{
    struct json_cursor c = {s, s + n};
    if (!json_value(&c, 0))
        return 0;
    json_ws(&c);
    return c.p == c.end;
}

/* ==== Integers against printf ==== */

static const uint64_t int_values[] = {
    0, 1, (uint64_t)-1, 7, 8, 42, 100, 255, 256, 300, (uint64_t)-300, 32767, 32768, 65535, 65536,
    INT_MAX, (uint64_t)(int64_t)INT_MIN, UINT_MAX, 0x80000000u, INT64_MAX, (uint64_t)INT64_MIN, UINT64_MAX,
    1234567890123ULL, 0xDEADBEEFCAFEULL,
};

static const char *const lengths[] = {"", "hh", "h", "l", "ll", "j", "z", "t"};

static int oracle_int(char *out, size_t cap, const char *fmt, const char *len, uint64_t v)
{
    if (!*len || !strcmp(len, "h") || !strcmp(len, "hh"))
        return snprintf(out, cap, fmt, (int)v);
    if (!strcmp(len, "l"))
        return snprintf(out, cap, fmt, (long)v);
    if (!strcmp(len, "ll"))
        return snprintf(out, cap, fmt, (long long)v);
    if (!strcmp(len, "j"))
        return snprintf(out, cap, fmt, (intmax_t)v);
    if (!strcmp(len, "z"))
        return snprintf(out, cap, fmt, (size_t)v);
    return snprintf(out, cap, fmt, (ptrdiff_t)v);
}

/* Every flag subset, widths, precisions and length modifiers of a conversion. */
static void build_specs(char conv, void (*each)(const char *fmt, const char *len, void *ctx), void *ctx,
                        int with_lengths)
{
    static const char flag_chars[] = "-+ #0";
    static const char *const widths[] = {"", "1", "5", "25"};
    static const char *const precs[] = {"", ".", ".0", ".1", ".3", ".25"};
    char fmt[64];
    int nlen = with_lengths ? (int)(sizeof lengths / sizeof lengths[0]) : 1;
    for (unsigned mask = 0; mask < 32; mask++)
        for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
            for (size_t p = 0; p < sizeof precs / sizeof precs[0]; p++)
                for (int l = 0; l < nlen; l++) {
                    size_t n = 0;
                    fmt[n++] = '[';
                    fmt[n++] = '%';
                    for (int f = 0; f < 5; f++)
                        if (mask & (1u << f))
                            fmt[n++] = flag_chars[f];
                    n += (size_t)sprintf(fmt + n, "%s%s%s%c]", widths[w], precs[p], lengths[l], conv);
                    each(fmt, lengths[l], ctx);
                }
}

struct int_ctx {
    struct oracle_stats st;
};

static void check_int_spec(const char *fmt, const char *len, void *vctx)
{
    struct int_ctx *ctx = vctx;
    static const unsigned types[] = {SHMLOG_ARG_BOOL, SHMLOG_ARG_I8,  SHMLOG_ARG_U8,  SHMLOG_ARG_I16, SHMLOG_ARG_U16,
                                     SHMLOG_ARG_I32,  SHMLOG_ARG_U32, SHMLOG_ARG_I64, SHMLOG_ARG_U64};
    char want[256];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t i = 0; i < sizeof int_values / sizeof int_values[0]; i++) {
            struct render_arg a = arg_int(types[t], int_values[i]);
            int n = oracle_int(want, sizeof want, fmt, len, a.v.u);
            size_t got = render(fmt, &a, 1);
            compare(&ctx->st, fmt, want, n, render_mem, got);
        }
}

Test(render_oracle, integers_match_printf, .timeout = 120)
{
    static const char convs[] = "diouxX";
    struct int_ctx ctx = {{0, 0}};
    for (const char *c = convs; *c; c++)
        build_specs(*c, check_int_spec, &ctx, 1);
    cr_log_info("%ld integer renderings compared", ctx.st.checked);
    cr_assert_gt(ctx.st.checked, 100000);
    cr_assert_eq(ctx.st.mismatches, 0, "%ld of %ld integer renderings differ from printf", ctx.st.mismatches,
                 ctx.st.checked);
}

Test(render_oracle, length_modifier_truncation, .timeout = 10)
{
    struct render_arg a = arg_int(SHMLOG_ARG_I32, 300);
    render("%hhd", &a, 1);
    cr_assert_str_eq(render_mem, "44");
    a = arg_int(SHMLOG_ARG_I32, (uint64_t)-1);
    render("%x", &a, 1);
    cr_assert_str_eq(render_mem, "ffffffff");
    a = arg_int(SHMLOG_ARG_I64, (uint64_t)-1);
    render("%lx", &a, 1);
    cr_assert_str_eq(render_mem, "ffffffffffffffff");
    a = arg_int(SHMLOG_ARG_U64, UINT64_MAX);
    render("%lu %d", (struct render_arg[]){a, arg_int(SHMLOG_ARG_I32, (uint64_t)(int64_t)INT_MIN)}, 2);
    cr_assert_str_eq(render_mem, "18446744073709551615 -2147483648");
    a = arg_int(SHMLOG_ARG_I32, 70000);
    render("%hd", &a, 1);
    cr_assert_str_eq(render_mem, "4464");
}

/* ==== Characters, strings, pointers ==== */

Test(render_oracle, chars_strings_pointers_match_printf, .timeout = 60)
{
    static const char *const strs[] = {"", "a", "hello", "héllo wörld", "a somewhat longer string of text"};
    static const uint64_t ptrs[] = {0, 1, 0x1234, 0x7ffde0a1b2c3ULL, UINTPTR_MAX};
    static const char *const specs[] = {"", "-", "0", "-0", "+", " ", "#", "+ 0"};
    static const char *const widths[] = {"", "1", "3", "12", "40"};
    static const char *const precs[] = {"", ".", ".0", ".2", ".5", ".20"};
    struct oracle_stats st = {0, 0};
    char fmt[64], want[256];

    for (size_t f = 0; f < sizeof specs / sizeof specs[0]; f++)
        for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
            for (size_t p = 0; p < sizeof precs / sizeof precs[0]; p++) {
                snprintf(fmt, sizeof fmt, "<%%%s%s%ss>", specs[f], widths[w], precs[p]);
                for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
                    struct render_arg a = arg_str(strs[i]);
                    int n = snprintf(want, sizeof want, fmt, strs[i]);
                    compare(&st, fmt, want, n, render_mem, render(fmt, &a, 1));
                }
                snprintf(fmt, sizeof fmt, "<%%%s%s%sp>", specs[f], widths[w], precs[p]);
                for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
                    struct render_arg a = arg_ptr(ptrs[i]);
                    int n = snprintf(want, sizeof want, fmt, (void *)(uintptr_t)ptrs[i]);
                    compare(&st, fmt, want, n, render_mem, render(fmt, &a, 1));
                }
                if (precs[p][0])
                    continue; /* precision with %c is undefined */
                snprintf(fmt, sizeof fmt, "<%%%s%sc>", specs[f], widths[w]);
                for (unsigned c = 0; c < 256; c++) {
                    struct render_arg a = arg_int(SHMLOG_ARG_I32, c);
                    int n = snprintf(want, sizeof want, fmt, (int)c);
                    compare(&st, fmt, want, n, render_mem, render(fmt, &a, 1));
                }
            }
    cr_assert_eq(st.mismatches, 0, "%ld of %ld renderings differ from printf", st.mismatches, st.checked);

    /* A precision cuts a string; an embedded NUL ends it as it would in C. */
    struct render_arg a = arg_str("abcdef");
    render("%.3s|%-5.2s|%5.1s", (struct render_arg[]){a, a, a}, 3);
    cr_assert_str_eq(render_mem, "abc|ab   |    a");
    static const char with_nul[] = {'a', 'b', 0, 'c'};
    a.v.s = (const uint8_t *)with_nul;
    a.str_len = sizeof with_nul;
    render("[%s]", &a, 1);
    cr_assert_str_eq(render_mem, "[ab]");
}

/* ==== Floating point ==== */

static double special_doubles[] = {
    0.0, -0.0, 1.0, -1.0, 0.1, 0.125, 0.375, 2.5, 3.5, -2.5, 9.995, 0.5, 1.5, 123456.789, 101.25, 99.99,
    1e-30, 1e-300, 1e20, 1e22, 1e23, 1e300, DBL_MAX, -DBL_MAX, DBL_MIN, 5e-324, 2.2250738585072009e-308,
    1.7976931348623157e308, 4503599627370496.5, 9007199254740993.0, 0.000123, 1e15, 1e16, 1e17, 123e-20,
};

struct dbl_ctx {
    struct oracle_stats st;
    const double *values;
    size_t nvalues;
};

static void check_double_spec(const char *fmt, const char *len, void *vctx)
{
    struct dbl_ctx *ctx = vctx;
    static char want[8192];
    (void)len;
    for (size_t i = 0; i < ctx->nvalues; i++) {
        struct render_arg a = arg_f64(ctx->values[i]);
        int n = snprintf(want, sizeof want, fmt, ctx->values[i]);
        compare(&ctx->st, fmt, want, n, render_mem, render(fmt, &a, 1));
    }
}

Test(render_oracle, doubles_match_printf, .timeout = 180)
{
    static const char convs[] = "fFeEgGaA";
    double values[sizeof special_doubles / sizeof special_doubles[0] + 8 + 40];
    size_t n = 0;
    for (size_t i = 0; i < sizeof special_doubles / sizeof special_doubles[0]; i++)
        values[n++] = special_doubles[i];
    values[n++] = NAN;
    values[n++] = -NAN;
    values[n++] = INFINITY;
    values[n++] = -INFINITY;
    values[n++] = nextafter(0.0, 1.0);
    values[n++] = nextafter(DBL_MIN, 0.0);
    values[n++] = -nextafter(0.0, 1.0);
    values[n++] = 0x1.fffffffffffffp-1;
    for (int i = 0; i < 40; i++) {
        uint64_t bits = rng();
        if (i < 20) /* everyday magnitudes: exponents around 2^-20 .. 2^40 */
            bits = (bits & 0x800FFFFFFFFFFFFFULL) | ((uint64_t)(1003 + rng() % 60) << 52);
        memcpy(&values[n++], &bits, sizeof(double));
    }
    struct dbl_ctx ctx = {{0, 0}, values, n};
    for (const char *c = convs; *c; c++)
        build_specs(*c, check_double_spec, &ctx, 0);
    cr_log_info("%ld floating-point renderings compared", ctx.st.checked);
    cr_assert_eq(ctx.st.mismatches, 0, "%ld of %ld double renderings differ from printf", ctx.st.mismatches,
                 ctx.st.checked);
}

Test(render_oracle, fixed_notation_random_doubles_match_printf, .timeout = 120)
{
    /* %f is formatted by our own exact code for precisions up to 19: hammer it
     * with random bit patterns and ties. */
    struct oracle_stats st = {0, 0};
    static char want[8192];
    char fmt[16];
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rng();
        if (i % 3 == 0)
            bits = (bits & 0x800FFFFFFFFFFFFFULL) | ((uint64_t)(973 + rng() % 110) << 52);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (i % 7 == 0) /* exact binary ties: k / 2^j */
            v = (double)(int64_t)(rng() % 2000000 - 1000000) / (double)(1u << (rng() % 12));
        snprintf(fmt, sizeof fmt, "%%.%df", (int)(rng() % 21));
        struct render_arg a = arg_f64(v);
        int n = snprintf(want, sizeof want, fmt, v);
        compare(&st, fmt, want, n, render_mem, render(fmt, &a, 1));
    }
    cr_assert_eq(st.mismatches, 0, "%ld of %ld %%f renderings differ from printf", st.mismatches, st.checked);
}

Test(render_oracle, floats_and_long_double_modifiers, .timeout = 30)
{
    static const float fvals[] = {0.1f, 1.5f, -3.25f, 1e-40f, FLT_MAX, FLT_MIN, 16777217.0f, 0.0f};
    /* Each format and its long double twin. */
    static const char *const fmts[][2] = {
        {"%f", "%Lf"},       {"%.3f", "%.3Lf"},         {"%e", "%Le"},     {"%g", "%Lg"},   {"%a", "%La"},
        {"%10.2f", "%10.2Lf"}, {"%-+12.5e", "%-+12.5Le"}, {"%#g", "%#Lg"}, {"%.9g", "%.9Lg"}, {"%lf", "%lf"},
    };
    struct oracle_stats st = {0, 0};
    char want[512];
    for (size_t i = 0; i < sizeof fvals / sizeof fvals[0]; i++)
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            struct render_arg a = arg_f32(fvals[i]);
            int n = snprintf(want, sizeof want, fmts[f][0], (double)fvals[i]);
            compare(&st, fmts[f][0], want, n, render_mem, render(fmts[f][0], &a, 1));
            /* A long double the producer narrowed to double. */
            if (strchr(fmts[f][1], 'L'))
                n = snprintf(want, sizeof want, fmts[f][1], (long double)fvals[i]);
            a = arg_f64((double)fvals[i]);
            compare(&st, fmts[f][1], want, n, render_mem, render(fmts[f][1], &a, 1));
        }
    cr_assert_gt(st.checked, 100);
    cr_assert_eq(st.mismatches, 0, "%ld of %ld renderings differ", st.mismatches, st.checked);
}

Test(render_oracle, star_width_and_precision, .timeout = 10)
{
    static const int widths[] = {0, 1, 7, -7, 30, -30, INT_MIN + 1};
    static const int precs[] = {-1, 0, 2, 9, -5};
    struct oracle_stats st = {0, 0};
    char want[256];
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
        for (size_t p = 0; p < sizeof precs / sizeof precs[0]; p++) {
            if (widths[w] == INT_MIN + 1)
                continue; /* too large for the cap: checked below */
            struct render_arg args[3] = {arg_int(SHMLOG_ARG_I32, (uint64_t)(int64_t)widths[w]),
                                         arg_int(SHMLOG_ARG_I32, (uint64_t)(int64_t)precs[p]),
                                         arg_f64(3.14159)};
            int n = snprintf(want, sizeof want, "[%*.*f]", widths[w], precs[p], 3.14159);
            compare(&st, "[%*.*f]", want, n, render_mem, render("[%*.*f]", args, 3));
            args[2] = arg_str("abcdefghijk");
            n = snprintf(want, sizeof want, "[%*.*s]", widths[w], precs[p], "abcdefghijk");
            compare(&st, "[%*.*s]", want, n, render_mem, render("[%*.*s]", args, 3));
            args[2] = arg_int(SHMLOG_ARG_I64, (uint64_t)-42);
            n = snprintf(want, sizeof want, "[%-*.*ld]", widths[w], precs[p], -42L);
            compare(&st, "[%-*.*ld]", want, n, render_mem, render("[%-*.*ld]", args, 3));
        }
    cr_assert_eq(st.mismatches, 0);
    struct render_arg big[2] = {arg_int(SHMLOG_ARG_I32, (uint64_t)(int64_t)(INT_MIN + 1)), arg_int(SHMLOG_ARG_I32, 5)};
    size_t n = render("%*d", big, 2);
    cr_assert_str_eq(render_mem, "<width too large>");
    cr_assert_lt(n, 64);
}

/* ==== Hostile formats ==== */

Test(render_hostile, errors_are_visible, .timeout = 10)
{
    struct render_arg i1 = arg_int(SHMLOG_ARG_I32, 1), s = arg_str("abc"), p = arg_ptr(0x10);

    render("a%nb", &p, 1);
    cr_assert_str_eq(render_mem, "a<%n refused>b");
    render("%hhn%d", (struct render_arg[]){p, i1}, 2);
    cr_assert_str_eq(render_mem, "<%n refused>1");
    render("%n", NULL, 0);
    cr_assert_str_eq(render_mem, "<%n refused>");

    size_t n = render("%99999999d", &i1, 1);
    cr_assert_str_eq(render_mem, "<width too large>");
    cr_assert_lt(n, 64);
    render("%.99999999f", (struct render_arg[]){arg_f64(1.0)}, 1);
    cr_assert_str_eq(render_mem, "<precision too large>");
    render("%4096d|", &i1, 1);
    cr_assert_eq(strlen(render_mem), 4097, "a width of 4096 is still honoured");
    render("%4097d", &i1, 1);
    cr_assert_str_eq(render_mem, "<width too large>");
    render("%999999999999999999999999999d", &i1, 1);
    cr_assert_str_eq(render_mem, "<width too large>");

    render("%d %d %s", &i1, 1);
    cr_assert_str_eq(render_mem, "1 <missing arg> <missing arg>");

    /* A string's width reaches the longest a record holds, and any precision only cuts it; a number's are
     * still bounded. */
    static char longest[SHMLOG_MAX_PAYLOAD + 1], want[SHMLOG_MAX_PAYLOAD + 2];
    memset(longest, 'q', SHMLOG_MAX_PAYLOAD);
    const struct render_arg ls = arg_str(longest);
    for (int prec = 4097; prec <= (int)SHMLOG_MAX_PAYLOAD + 7000; prec += 3001) {
        int k = snprintf(want, sizeof want, "%.*s|", prec, longest);
        n = render("%.*s|", (struct render_arg[]){arg_int(SHMLOG_ARG_I32, (uint64_t)prec), ls}, 2);
        cr_assert(n == (size_t)k && memcmp(render_mem, want, n) == 0, "%%.*s of precision %d", prec);
    }
    n = render("%.99999s|", &ls, 1);
    cr_assert(n == SHMLOG_MAX_PAYLOAD + 1 && render_mem[n - 1] == '|', "a literal precision past every string");
    n = render("%14260s|", &s, 1);
    cr_assert(n == SHMLOG_MAX_PAYLOAD + 1 && strcmp(render_mem + n - 4, "abc|") == 0, "a string's width of 14260");
    render("%14261s", &s, 1);
    cr_assert_str_eq(render_mem, "<width too large>");
    render("%-*s", (struct render_arg[]){arg_int(SHMLOG_ARG_I32, 14261), s}, 2);
    cr_assert_str_eq(render_mem, "<width too large>");
    render("%5000d", &i1, 1);
    cr_assert_str_eq(render_mem, "<width too large>");
    render("%.*f", (struct render_arg[]){arg_int(SHMLOG_ARG_I32, 5000), arg_f64(1.0)}, 2);
    cr_assert_str_eq(render_mem, "<precision too large>");
    render("x", (struct render_arg[]){i1, s, arg_f64(2.5), p, arg_int(SHMLOG_ARG_BOOL, 1)}, 5);
    cr_assert_str_eq(render_mem, "x <extra: 1, \"abc\", 2.5, 0x10, true>");

    render("100%", NULL, 0);
    cr_assert_str_eq(render_mem, "100<incomplete %>");
    render("%-08.3l", NULL, 0);
    cr_assert_str_eq(render_mem, "<incomplete %>");
    render("%*d", (struct render_arg[]){s, i1}, 2);
    cr_assert_str_eq(render_mem, "<bad * for str>");
    render("%d|%s|%p|%f|%c", (struct render_arg[]){s, i1, s, s, arg_f64(1)}, 5);
    cr_assert_str_eq(render_mem, "<bad %d for str>|<bad %s for i32>|<bad %p for str>|<bad %f for str>|<bad %c for f64>");
    render("%lx", &s, 1);
    cr_assert_str_eq(render_mem, "<bad %lx for str>");
    render("%ls %lc", (struct render_arg[]){s, i1}, 2);
    cr_assert_str_eq(render_mem, "<bad %ls for str> <bad %lc for i32>");
    render("%k %y %1$d %m", &i1, 1);
    cr_assert_str_eq(render_mem, "<bad conversion %k> <bad conversion %y> <positional args unsupported> <%m unsupported> <extra: 1>");
    render("\x80\xff%\x80", NULL, 0);
    cr_assert_str_eq(render_mem, "\x80\xff<bad conversion %\\x80>");
    render("%%|%5%|%-5%", NULL, 0);
    cr_assert_str_eq(render_mem, "%|%|%");
}

Test(render_hostile, long_formats_stay_bounded, .timeout = 30)
{
    /* 4096-byte formats of every kind into a small buffer with a guard after it. */
    static const char *const units[] = {"%d", "%s", "%%", "%n", "%4096d", "%*.*f", "%", "é", "%.4096f"};
    char fmt[SHMLOG_MAX_FMT_BYTES + 1];
    struct render_arg args[SHMLOG_MAX_ARGS];
    for (unsigned i = 0; i < SHMLOG_MAX_ARGS; i++)
        args[i] = i % 2 ? arg_f64(1e308) : arg_int(SHMLOG_ARG_I32, 4096);
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t n = 0, ul = strlen(units[u]);
        while (n + ul <= SHMLOG_MAX_FMT_BYTES) {
            memcpy(fmt + n, units[u], ul);
            n += ul;
        }
        fmt[n] = 0;
        for (size_t cap = 0; cap <= 4096; cap = cap * 4 + 1) {
            char mem[4096 + 64];
            memset(mem, 0x5A, sizeof mem);
            struct render_buf b;
            render_buf_init(&b, mem, cap);
            render_format(fmt, args, SHMLOG_MAX_ARGS, &b);
            if (b.len > cap)
                cr_assert_fail("length %zu past capacity %zu", b.len, cap);
            for (size_t g = cap; g < sizeof mem; g++)
                if ((unsigned char)mem[g] != 0x5A)
                    cr_assert_fail("write past the buffer for unit %s cap %zu", units[u], cap);
        }
        /* Unbounded: the whole output stays within what the caps allow. */
        size_t out = render(fmt, args, SHMLOG_MAX_ARGS);
        cr_assert_lt(out, RENDER_MEM_BYTES - 1);
    }
}

Test(render_hostile, random_formats_and_payloads_never_crash, .timeout = 120)
{
    static const char alphabet[] = "%%%%%%dsxXpnfgeaAcuio*.-+ #0123456789lhjztLqm$\x80\xff\xc3\xa9 ab=_";
    char fmt[256];
    uint8_t payload[SHMLOG_MAX_PAYLOAD];
    struct shm_site site;
    struct render_arg args[SHMLOG_MAX_ARGS];
    char mem[512 + 32];
    for (int iter = 0; iter < 300000; iter++) {
        size_t flen = rng() % (sizeof fmt);
        for (size_t i = 0; i < flen; i++)
            fmt[i] = iter % 4 == 0 ? (char)(rng() % 255 + 1) : alphabet[rng() % (sizeof alphabet - 1)];
        fmt[flen] = 0;
        memset(&site, 0, sizeof site);
        site.nargs = (uint8_t)(rng() % (SHMLOG_MAX_ARGS + 1));
        for (unsigned i = 0; i < site.nargs; i++)
            site.arg_types[i] = (uint8_t)(1 + rng() % (SHMLOG_ARG_TYPE_COUNT - 1));
        size_t plen = rng() % (sizeof payload + 1);
        for (size_t i = 0; i < plen; i++)
            payload[i] = (uint8_t)rng();
        int nargs = render_decode_args(&site, payload, plen, args);
        if (nargs < 0) { /* still format with made-up integers */
            nargs = site.nargs;
            for (int i = 0; i < nargs; i++)
                args[i] = arg_int(SHMLOG_ARG_I64, rng());
        }
        for (int i = 0; i < nargs; i++)
            if (args[i].type == SHMLOG_ARG_STR)
                if (args[i].v.s < payload || args[i].v.s + args[i].str_len > payload + plen)
                    cr_assert_fail("decoded string outside the payload");
        memset(mem, 0x5A, sizeof mem);
        struct render_buf b;
        size_t cap = rng() % 513;
        render_buf_init(&b, mem, cap);
        render_format(fmt, args, nargs, &b);
        render_json_fields(fmt, args, nargs, &b);
        for (size_t g = cap; g < sizeof mem; g++)
            if ((unsigned char)mem[g] != 0x5A)
                cr_assert_fail("write past the buffer: format \"%s\"", fmt);
        char jmem[1 << 14];
        render_buf_init(&b, jmem, sizeof jmem);
        render_json_fields(fmt, args, nargs, &b);
        if (!b.overflow && !json_valid(b.data, b.len))
            cr_assert_fail("invalid fields JSON for format \"%s\": %.*s", fmt, (int)b.len, b.data);
    }
}

/* ==== Argument decoding ==== */

static size_t put_le(uint8_t *p, uint64_t v, unsigned width)
{
    for (unsigned i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return width;
}

Test(render_decode, every_type_round_trips, .timeout = 10)
{
    struct shm_site site;
    memset(&site, 0, sizeof site);
    uint8_t payload[SHMLOG_MAX_PAYLOAD];
    size_t off = 0;
    static const uint8_t types[] = {SHMLOG_ARG_BOOL, SHMLOG_ARG_I8,  SHMLOG_ARG_U8,  SHMLOG_ARG_I16,
                                    SHMLOG_ARG_U16,  SHMLOG_ARG_I32, SHMLOG_ARG_U32, SHMLOG_ARG_I64,
                                    SHMLOG_ARG_U64,  SHMLOG_ARG_F32, SHMLOG_ARG_F64, SHMLOG_ARG_PTR,
                                    SHMLOG_ARG_STR,  SHMLOG_ARG_STR};
    float f = -1.25f;
    uint32_t fbits;
    memcpy(&fbits, &f, 4);
    double d = 6.02214076e23;
    uint64_t dbits;
    memcpy(&dbits, &d, 8);
    off += put_le(payload + off, 1, 1);
    off += put_le(payload + off, (uint8_t)-5, 1);
    off += put_le(payload + off, 250, 1);
    off += put_le(payload + off, (uint16_t)-30000, 2);
    off += put_le(payload + off, 60000, 2);
    off += put_le(payload + off, (uint32_t)INT_MIN, 4);
    off += put_le(payload + off, UINT32_MAX, 4);
    off += put_le(payload + off, (uint64_t)INT64_MIN, 8);
    off += put_le(payload + off, UINT64_MAX, 8);
    off += put_le(payload + off, fbits, 4);
    off += put_le(payload + off, dbits, 8);
    off += put_le(payload + off, 0x7fffdeadbeefULL, 8);
    off += put_le(payload + off, 5 | SHMLOG_STR_TRUNCATED, 2);
    memcpy(payload + off, "hello", 5);
    off += 5;
    off += put_le(payload + off, 0, 2);
    site.nargs = sizeof types;
    memcpy(site.arg_types, types, sizeof types);
    struct render_arg a[SHMLOG_MAX_ARGS];
    cr_assert_eq(render_decode_args(&site, payload, off, a), (int)sizeof types);
    cr_assert_eq(a[0].v.u, 1);
    cr_assert_eq(a[1].v.i, -5);
    cr_assert_eq(a[2].v.u, 250);
    cr_assert_eq(a[3].v.i, -30000);
    cr_assert_eq(a[4].v.u, 60000);
    cr_assert_eq(a[5].v.i, INT_MIN);
    cr_assert_eq(a[6].v.u, UINT32_MAX);
    cr_assert_eq(a[7].v.i, INT64_MIN);
    cr_assert_eq(a[8].v.u, UINT64_MAX);
    cr_assert_eq(a[9].v.f, -1.25);
    cr_assert_eq(a[10].v.f, d);
    cr_assert_eq(a[11].v.u, 0x7fffdeadbeefULL);
    cr_assert_eq(a[12].str_len, 5);
    cr_assert(a[12].str_truncated);
    cr_assert_eq(memcmp(a[12].v.s, "hello", 5), 0);
    cr_assert_eq(a[13].str_len, 0);

    render("%d %hhd %u %hd %hu %d %u %ld %lu %.2f %g %p %s|%s", a, site.nargs);
    cr_assert_str_eq(render_mem, "1 -5 250 -30000 60000 -2147483648 4294967295 -9223372036854775808 "
                                 "18446744073709551615 -1.25 6.02214e+23 0x7fffdeadbeef hello|");

    /* Every shorter payload is inconsistent with the types. */
    for (size_t cut = 0; cut < off; cut++)
        cr_assert_eq(render_decode_args(&site, payload, cut, a), -1, "payload cut at %zu accepted", cut);
    /* A string length beyond the payload. */
    site.nargs = 1;
    site.arg_types[0] = SHMLOG_ARG_STR;
    put_le(payload, 400, 2);
    cr_assert_eq(render_decode_args(&site, payload, 100, a), -1);
    site.arg_types[0] = SHMLOG_ARG_NONE;
    cr_assert_eq(render_decode_args(&site, payload, 100, a), -1);
    site.arg_types[0] = SHMLOG_ARG_TYPE_COUNT;
    cr_assert_eq(render_decode_args(&site, payload, 100, a), -1);
    site.nargs = SHMLOG_MAX_ARGS + 1;
    cr_assert_eq(render_decode_args(&site, payload, 100, a), -1);
    cr_assert_eq(render_decode_args(NULL, payload, 100, a), -1);
}

/* ==== JSON ==== */

static char json_mem[1 << 16];

static const char *json_of_bytes(const void *s, size_t n, size_t *len)
{
    struct render_buf b;
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    render_json_string(&b, s, n);
    json_mem[b.len] = 0;
    *len = b.len;
    return json_mem;
}

Test(render_json, strings_escape_everything, .timeout = 30)
{
    size_t len;
    cr_assert_str_eq(json_of_bytes("a\"b\\c\n\x01\x1f\x7f", 9, &len), "\"a\\\"b\\\\c\\n\\u0001\\u001f\\u007f\"");
    cr_assert_str_eq(json_of_bytes("\xff", 1, &len), "\"\\ufffd\"");
    cr_assert_str_eq(json_of_bytes("\xc0\xaf", 2, &len), "\"\\ufffd\\ufffd\"", "overlong");
    cr_assert_str_eq(json_of_bytes("\xed\xa0\x80", 3, &len), "\"\\ufffd\\ufffd\\ufffd\"", "surrogate");
    cr_assert_str_eq(json_of_bytes("\xf4\x90\x80\x80", 4, &len), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", "> U+10FFFF");
    cr_assert_str_eq(json_of_bytes("h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10, &len),
                     "\"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "valid UTF-8 stays");
    cr_assert_str_eq(json_of_bytes("a\0b", 3, &len), "\"a\\u0000b\"");

    /* Every single byte, and random byte strings: valid JSON, and valid UTF-8
     * input decodes back to itself. */
    for (unsigned c = 0; c < 256; c++) {
        char in = (char)c;
        const char *j = json_of_bytes(&in, 1, &len);
        if (!json_valid(j, len))
            cr_assert_fail("byte %02x: %s", c, j);
    }
    uint8_t in[300];
    char decoded[sizeof json_mem];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rng() % sizeof in;
        for (size_t i = 0; i < n; i++)
            in[i] = iter % 2 ? (uint8_t)rng() : (uint8_t)(0x20 + rng() % 0x60);
        const char *j = json_of_bytes(in, n, &len);
        if (!json_valid(j, len))
            cr_assert_fail("invalid JSON string for random bytes: %s", j);
        struct json_cursor c = {j, j + len};
        size_t dlen;
        if (!json_string_at(&c, decoded, &dlen))
            cr_assert_fail("undecodable: %s", j);
        if (iter % 2 == 0 && (dlen != n || memcmp(decoded, in, n) != 0))
            cr_assert_fail("ASCII text did not round-trip: %s", j);
    }
}

static const char *json_double_of(double v, int is_f32)
{
    struct render_buf b;
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    render_json_double(&b, v, is_f32);
    json_mem[b.len] = 0;
    return json_mem;
}

Test(render_json, doubles_round_trip_shortest, .timeout = 60)
{
    cr_assert_str_eq(json_double_of(0.1, 0), "0.1");
    cr_assert_str_eq(json_double_of(101.25, 0), "101.25");
    cr_assert_str_eq(json_double_of(5.0, 0), "5.0");
    cr_assert_str_eq(json_double_of(-0.0, 0), "-0.0");
    cr_assert_str_eq(json_double_of(1e20, 0), "1e+20");
    cr_assert_str_eq(json_double_of(NAN, 0), "null");
    cr_assert_str_eq(json_double_of(-INFINITY, 0), "null");
    cr_assert_str_eq(json_double_of(0.1f, 1), "0.1");
    cr_assert_str_eq(json_double_of(16777216.0f, 1), "16777216.0");

    for (int i = 0; i < 200000; i++) {
        uint64_t bits = rng();
        if (i % 2)
            bits = (bits & 0x800FFFFFFFFFFFFFULL) | ((uint64_t)(1003 + rng() % 60) << 52);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (i % 5 == 0) /* prices: cents and ticks */
            v = (double)(int64_t)(rng() % 100000000) / 100.0;
        const char *j = json_double_of(v, 0);
        size_t len = strlen(j);
        if (!isfinite(v)) {
            if (strcmp(j, "null") != 0)
                cr_assert_fail("non-finite %a rendered as %s", v, j);
            continue;
        }
        if (!json_valid(j, len) || strtod(j, NULL) != v)
            cr_assert_fail("double %a rendered as %s", v, j);
        /* Shortest: one significant digit fewer never reads back (within %.17g's reach). */
        char shorter[400];
        int digits = 0;
        for (const char *p = j; *p && *p != 'e'; p++)
            digits += *p >= '0' && *p <= '9';
        if (digits > 2 && !strchr(j, 'e') && fabs(v) >= 1e-4 && fabs(v) < 1e15) {
            snprintf(shorter, sizeof shorter, "%.*g", digits - 2, v);
            if (strtod(shorter, NULL) == v && strlen(j) > strlen(shorter) + 2)
                cr_assert_fail("%s is not the shortest for %a (%s reads back)", j, v, shorter);
        }
        float f = (float)v;
        if (isfinite(f)) {
            j = json_double_of(f, 1);
            if (!json_valid(j, strlen(j)) || (float)strtod(j, NULL) != f)
                cr_assert_fail("float %a rendered as %s", (double)f, j);
        }
    }
}

Test(render_json, fields_are_typed, .timeout = 10)
{
    const char *fmt = "order id=%lu px=%.2f qty=%d side=%s ok=%d p=%p f=%f neg=%hhd nan=%f m.x_1=%c";
    struct render_arg a[] = {
        arg_int(SHMLOG_ARG_U64, UINT64_MAX), arg_f64(101.25),       arg_int(SHMLOG_ARG_I32, (uint64_t)-5),
        arg_str("buy \"now\""),              arg_int(SHMLOG_ARG_BOOL, 1), arg_ptr(0x1234),
        arg_f32(0.1f),                       arg_int(SHMLOG_ARG_I8, (uint64_t)-128), arg_f64(NAN),
        arg_int(SHMLOG_ARG_U8, 65),
    };
    struct render_buf b;
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    render_json_fields(fmt, a, sizeof a / sizeof a[0], &b);
    json_mem[b.len] = 0;
    cr_assert_str_eq(json_mem, "{\"id\":18446744073709551615,\"px\":101.25,\"qty\":-5,\"side\":\"buy \\\"now\\\"\","
                               "\"ok\":true,\"p\":\"0x1234\",\"f\":0.1,\"neg\":-128,\"nan\":null,\"m.x_1\":\"A\"}");
    cr_assert(json_valid(json_mem, b.len));

    /* No name, star arguments, duplicates and missing arguments. */
    struct render_arg s[] = {arg_int(SHMLOG_ARG_I32, 1), arg_int(SHMLOG_ARG_I32, 2), arg_int(SHMLOG_ARG_I32, 3),
                             arg_int(SHMLOG_ARG_I32, 4), arg_int(SHMLOG_ARG_I32, 5)};
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    render_json_fields("=%d a=%d%d w=%*d a=%d b=%d c=%d", s, 5, &b);
    json_mem[b.len] = 0;
    cr_assert_str_eq(json_mem, "{\"a\":2,\"w\":5}", "the star takes 4, w gets 5, the rest are missing");
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    render_json_fields("a=%d a=%d %%d=%d x=%n y=%s", s, 5, &b);
    json_mem[b.len] = 0;
    cr_assert_str_eq(json_mem, "{\"a\":1,\"a_2\":2,\"d\":3,\"y\":5}", "%%%% ends a spec, so d= names the next");
}

Test(render_json, a_string_field_is_cut_as_its_message_shows_it, .timeout = 10)
{
    /* a precision in the format, a '*' one, a negative '*' (none), a '*' that
     * is not an integer (the message shows an error, the field the whole) */
    const char *fmt = "a=%.3s b=%.*s c=%.*s d=%.*s e=%.9s";
    struct render_arg a[] = {
        arg_str("ESZ6NQZ6"), arg_int(SHMLOG_ARG_I32, 2), arg_str("XNAS"), arg_int(SHMLOG_ARG_I32, (uint64_t)-1),
        arg_str("whole"),    arg_f64(2.0),               arg_str("kept"), arg_str("short"),
    };
    struct render_buf b;
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    render_json_fields(fmt, a, sizeof a / sizeof a[0], &b);
    json_mem[b.len] = 0;
    cr_assert_str_eq(json_mem, "{\"a\":\"ESZ\",\"b\":\"XN\",\"c\":\"whole\",\"d\":\"kept\",\"e\":\"short\"}");
}

/* ==== Whole lines ==== */

static struct shm_site test_site;
static struct shm_copied_record test_rec;

static void make_record(const char *fmt, const char *file, uint32_t line, const uint8_t *types, unsigned nargs,
                        const uint8_t *payload, size_t plen)
{
    memset(&test_site, 0, sizeof test_site);
    snprintf(test_site.fmt, sizeof test_site.fmt, "%s", fmt);
    test_site.fmt_len = (uint32_t)strlen(fmt);
    snprintf(test_site.file, sizeof test_site.file, "%s", file);
    test_site.file_len = (uint32_t)strlen(file);
    test_site.line = line;
    test_site.level = SHMLOG_LEVEL_INFO;
    test_site.category = SHMLOG_CAT_ORDER;
    test_site.nargs = (uint8_t)nargs;
    memcpy(test_site.arg_types, types, nargs);
    memset(&test_rec, 0, sizeof test_rec);
    test_rec.pos = 4242;
    test_rec.tid = 77;
    test_rec.level = SHMLOG_LEVEL_INFO;
    test_rec.category = SHMLOG_CAT_ORDER;
    test_rec.nslots = (uint8_t)shmlog_slots_for_payload(plen);
    test_rec.payload_len = (uint16_t)(SHMLOG_HEAD_PAYLOAD + (test_rec.nslots - 1u) * SHMLOG_CONT_PAYLOAD);
    memcpy(test_rec.payload, payload, plen);
}

/* 2026-11-22T07:39:36.123456789Z */
#define TEST_TS 1795333176123456789ULL

static size_t render_line(const struct shm_site *site, int json)
{
    struct render_input in = {"app", "host1", 1234, 1, TEST_TS, site, &test_rec, NULL, NULL};
    struct render_buf b;
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    if (render_record(&in, json, &b) != 0)
        cr_assert_fail("render failed or overflowed");
    json_mem[b.len] = 0;
    return b.len;
}

Test(render_line, text_and_json_lines, .timeout = 10)
{
    uint8_t payload[64];
    size_t off = 0;
    off += put_le(payload + off, 987654321, 8);
    double px = 101.5;
    uint64_t bits;
    memcpy(&bits, &px, 8);
    off += put_le(payload + off, bits, 8);
    off += put_le(payload + off, 3, 2);
    memcpy(payload + off, "buy", 3);
    off += 3;
    const uint8_t types[] = {SHMLOG_ARG_U64, SHMLOG_ARG_F64, SHMLOG_ARG_STR};
    make_record("new order id=%lu px=%.2f side=%s", "src/oms/file.c", 42, types, 3, payload, off);

    render_line(&test_site, 0);
    cr_assert_str_eq(json_mem, "2026-11-22T07:39:36.123456789Z INFO  order app[1234/77] cpu1 file.c:42 "
                               "new order id=987654321 px=101.50 side=buy\n");
    size_t n = render_line(&test_site, 1);
    cr_assert_str_eq(json_mem,
                     "{\"ts_ns\":1795333176123456789,\"time\":\"2026-11-22T07:39:36.123456789Z\",\"level\":\"INFO\","
                     "\"category\":\"order\",\"host\":\"host1\",\"app\":\"app\",\"pid\":1234,\"tid\":77,\"cpu\":1,"
                     "\"seq\":4242,\"site\":\"src/oms/file.c:42\",\"msg\":\"new order id=987654321 px=101.50 side=buy\","
                     "\"fields\":{\"id\":987654321,\"px\":101.5,\"side\":\"buy\"}}\n");
    cr_assert(json_valid(json_mem, n));

    /* Truncated, category none, hostile bytes in the message. */
    test_rec.flags = SHMLOG_REC_TRUNCATED;
    test_rec.category = SHMLOG_CAT_NONE;
    test_rec.level = SHMLOG_LEVEL_WARN;
    strcpy(test_site.fmt, "a\nb\x1b[31m\xff %s");
    memcpy(payload, "\x02\x00\r\t", 4);
    test_site.nargs = 1;
    test_site.arg_types[0] = SHMLOG_ARG_STR;
    memcpy(test_rec.payload, payload, 4);
    render_line(&test_site, 0);
    cr_assert_str_eq(json_mem, "2026-11-22T07:39:36.123456789Z WARN  - app[1234/77] cpu1 file.c:42 "
                               "a\\nb\\x1b[31m\\xff \\r\\t <truncated>\n");
    n = render_line(&test_site, 1);
    cr_assert(json_valid(json_mem, n), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"msg\":\"a\\nb\\u001b[31m\\ufffd \\r\\t\""), "%s", json_mem);
    cr_assert(strstr(json_mem, ",\"truncated\":true}"), "%s", json_mem);

    /* Unknown site and a payload the site's types do not fit. */
    n = render_line(NULL, 1);
    cr_assert(json_valid(json_mem, n), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"site\":null,\"msg\":\"<unknown site 0>\",\"fields\":{}"), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"error\":\"unknown site\""), "%s", json_mem);
    render_line(NULL, 0);
    cr_assert(strstr(json_mem, " ? <unknown site 0>"), "%s", json_mem);
    test_site.nargs = 3;
    test_site.arg_types[0] = SHMLOG_ARG_STR;
    test_site.arg_types[1] = SHMLOG_ARG_STR;
    test_site.arg_types[2] = SHMLOG_ARG_STR;
    memcpy(test_rec.payload, "\xff\x7f", 2);
    n = render_line(&test_site, 1);
    cr_assert(json_valid(json_mem, n), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"error\":\"corrupt payload\""), "%s", json_mem);
}

Test(render_line, random_records_always_valid_json, .timeout = 120)
{
    static const char alphabet[] = "%%%%dsxpnfc*.-0123456789lhz=ab_ \x01\n\"\\\x80\xff";
    for (int iter = 0; iter < 50000; iter++) {
        memset(&test_site, 0, sizeof test_site);
        size_t flen = rng() % 200;
        for (size_t i = 0; i < flen; i++)
            test_site.fmt[i] = alphabet[rng() % (sizeof alphabet - 1)];
        size_t file_len = rng() % 20;
        for (size_t i = 0; i < file_len; i++)
            test_site.file[i] = (char)(1 + rng() % 255);
        test_site.nargs = (uint8_t)(rng() % (SHMLOG_MAX_ARGS + 1));
        for (unsigned i = 0; i < test_site.nargs; i++)
            test_site.arg_types[i] = (uint8_t)(1 + rng() % (SHMLOG_ARG_TYPE_COUNT - 1));
        memset(&test_rec, 0, sizeof test_rec);
        for (size_t i = 0; i < sizeof test_rec.payload; i++)
            test_rec.payload[i] = (uint8_t)rng();
        test_rec.payload_len = (uint16_t)(rng() % 600); /* also beyond the array: must be clamped */
        test_rec.level = (uint8_t)rng();
        test_rec.category = (uint8_t)rng();
        test_rec.flags = (uint8_t)rng();
        size_t n = render_line(iter % 10 ? &test_site : NULL, 1);
        if (!json_valid(json_mem, n) || json_mem[n - 1] != '\n' || memchr(json_mem, '\n', n - 1))
            cr_assert_fail("bad JSON line for format \"%s\": %s", test_site.fmt, json_mem);
        n = render_line(&test_site, 0);
        if (json_mem[n - 1] != '\n' || memchr(json_mem, '\n', n - 1))
            cr_assert_fail("text line is not one line: %s", json_mem);
    }
}

Test(render_line, loss_markers, .timeout = 10)
{
    struct render_input in = {"app\n", "h\"ost", 99, 3, TEST_TS, NULL, NULL, NULL, NULL};
    struct shm_loss loss = {1000, 34, 12, SHM_LOSS_DEAD_WRITER};
    struct render_buf b;
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    cr_assert_eq(render_loss(&in, &loss, 0, &b), 0);
    json_mem[b.len] = 0;
    cr_assert_str_eq(json_mem, "2026-11-22T07:39:36.123456789Z LOSS  app\\n[99] cpu3: 12 records "
                               "(34 positions from seq 1000) lost: dead_writer\n");
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    cr_assert_eq(render_loss(&in, &loss, 1, &b), 0);
    json_mem[b.len] = 0;
    cr_assert(json_valid(json_mem, b.len), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"loss\":{\"reason\":\"dead_writer\",\"records\":12,\"positions\":34,"
                               "\"first_seq\":1000}}\n"), "%s", json_mem);

    /* A loss of the whole process was in no ring: no cpu in either form. */
    struct render_input whole = in;
    whole.cpu = UINT32_MAX;
    struct shm_loss before_init = {0, 0, 4, SHM_LOSS_BEFORE_INIT};
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    cr_assert_eq(render_loss(&whole, &before_init, 0, &b), 0);
    json_mem[b.len] = 0;
    cr_assert_str_eq(json_mem, "2026-11-22T07:39:36.123456789Z LOSS  app\\n[99]: 4 records lost: before_init\n");
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    cr_assert_eq(render_loss(&whole, &before_init, 1, &b), 0);
    json_mem[b.len] = 0;
    cr_assert(json_valid(json_mem, b.len), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"pid\":99,\"loss\":{\"reason\":\"before_init\",\"records\":4,"), "%s", json_mem);
    cr_assert_null(strstr(json_mem, "cpu"), "%s", json_mem);

    /* A buffer too small: cut, flagged, never past its end. */
    char small[40];
    memset(small, 0x5A, sizeof small);
    render_buf_init(&b, small, 20);
    cr_assert_eq(render_loss(&in, &loss, 1, &b), -ENOBUFS);
    cr_assert_eq(b.len, 20);
    for (size_t i = 20; i < sizeof small; i++)
        cr_assert_eq((unsigned char)small[i], 0x5A);
}

/* A random site whose format mixes the conversions the prepared form renders
 * on its fast paths (%d %u %ld %s %f %.Nf, named fields) with the others. */
static void random_mixed_site(void)
{
    static const char *const pieces[] = {
        "px=%.2f ", "qty=%d ", "id=%lu ", "sym=%s ", "f=%f ", "n=%u ", "x=%x ", "w=%5d ", "e=%e ",
        "%% ", "lit \"q\"\\ ", "p=%.4f ", "g=%g ", "c=%c ", "l=%lld ", "t=%.0f ", "s=%.3s ", "z=%zu ",
    };
    static const uint8_t types[] = {SHMLOG_ARG_I8, SHMLOG_ARG_U8, SHMLOG_ARG_I16, SHMLOG_ARG_U16, SHMLOG_ARG_I32,
                                    SHMLOG_ARG_U32, SHMLOG_ARG_I64, SHMLOG_ARG_U64, SHMLOG_ARG_F32, SHMLOG_ARG_F64,
                                    SHMLOG_ARG_STR, SHMLOG_ARG_BOOL, SHMLOG_ARG_PTR};
    memset(&test_site, 0, sizeof test_site);
    int n = 1 + (int)(rng() % 8);
    for (int k = 0; k < n; k++)
        strcat(test_site.fmt, pieces[rng() % (sizeof pieces / sizeof pieces[0])]);
    strcpy(test_site.file, "src/x.c");
    test_site.line = 7;
    test_site.nargs = (uint8_t)(rng() % 10);
    for (unsigned k = 0; k < test_site.nargs; k++)
        test_site.arg_types[k] = types[rng() % sizeof types];
    test_site.level = SHMLOG_LEVEL_INFO;
    test_site.category = SHMLOG_CAT_ORDER;
}

/* A payload that matches the site's types (mostly), with prices, huge and
 * negative values, and strings with bytes to escape. */
static size_t random_str_max = 12; /* strings of 0..random_str_max-1 bytes */

static void random_matching_payload(void)
{
    memset(&test_rec, 0, sizeof test_rec);
    size_t off = 0;
    for (unsigned k = 0; k < test_site.nargs; k++) {
        unsigned t = test_site.arg_types[k];
        if (t == SHMLOG_ARG_STR) {
            size_t len = rng() % random_str_max;
            test_rec.payload[off] = (uint8_t)len;
            test_rec.payload[off + 1] = 0;
            for (size_t j = 0; j < len; j++)
                test_rec.payload[off + 2 + j] = (uint8_t)(rng() % 3 ? 'a' + rng() % 26 : rng());
            off += 2 + len;
        } else if (t == SHMLOG_ARG_F64) {
            double v = rng() % 2 ? (double)(int64_t)(rng() % 2000000 - 1000000) / 100.0 + (rng() % 2 ? 0.01 : 0)
                                 : (double)(int64_t)rng() / (double)(1ULL << (rng() % 64));
            memcpy(test_rec.payload + off, &v, 8);
            off += 8;
        } else {
            uint64_t v = rng() >> (rng() % 64);
            memcpy(test_rec.payload + off, &v, shmlog_arg_width(t));
            off += shmlog_arg_width(t);
        }
    }
    test_rec.payload_len = (uint16_t)(rng() % 50 ? off : rng() % (off + 1));
    test_rec.tid = (uint32_t)rng();
    test_rec.pos = rng();
    test_rec.level = rng() % 20 ? test_site.level : (uint8_t)(rng() % 8);
    test_rec.category = rng() % 20 ? test_site.category : (uint8_t)(rng() % 8);
    test_rec.flags = rng() % 10 ? 0 : SHMLOG_REC_TRUNCATED;
}

Test(render_line, prepared_site_matches_the_general_formatter, .timeout = 120)
{
    static char other[RENDER_LINE_MAX];
    for (int iter = 0; iter < 4000; iter++) {
        random_mixed_site();
        struct render_site *sr = render_site_new(&test_site, "app", "host1", NULL, 1234, NULL, NULL);
        cr_assert(sr != NULL);
        for (int k = 0; k < 8; k++) {
            random_matching_payload();
            /* Whole lines: as render_record (prepared per record) does. */
            for (int json = 0; json <= 1; json++) {
                size_t n = render_line(&test_site, json);
                struct render_buf b;
                render_buf_init(&b, other, sizeof other - 1);
                cr_assert_eq(render_prepared(sr, &test_rec, 1, TEST_TS, json, &b), 0);
                other[b.len] = 0;
                if (b.len != n || memcmp(other, json_mem, n) != 0)
                    cr_assert_fail("format \"%s\": prepared\n%s\nper record\n%s", test_site.fmt, other, json_mem);
                if (json && !json_valid(json_mem, n))
                    cr_assert_fail("bad JSON for \"%s\": %s", test_site.fmt, json_mem);
            }
            /* The message and the fields against the general path (no fast
             * conversions, no reuse of the message's digits). */
            struct render_arg args[SHMLOG_MAX_ARGS];
            int nargs = render_decode_args(&test_site, test_rec.payload, test_rec.payload_len, args);
            if (nargs < 0)
                continue;
            struct render_buf b;
            render_buf_init(&b, other, sizeof other - 1);
            render_format(test_site.fmt, args, nargs, &b);
            other[b.len] = 0;
            render_buf_init(&b, json_mem, sizeof json_mem - 1);
            render_prepared_msg(sr, &test_rec, &b);
            json_mem[b.len] = 0;
            cr_assert_str_eq(json_mem, other, "format \"%s\"", test_site.fmt);
            render_line(&test_site, 1);
            render_buf_init(&b, other, sizeof other - 1);
            render_buf_puts(&b, "\"fields\":");
            render_json_fields(test_site.fmt, args, nargs, &b);
            other[b.len] = 0;
            if (!strstr(json_mem, other))
                cr_assert_fail("format \"%s\": fields %s not in %s", test_site.fmt, other, json_mem);
        }
        render_site_free(sr);
    }
}

/* ==== The plain message's fast paths (Arrow's msg column, the C API's) ==== */

/* fmt with one argument of type (its payload p, n bytes) as a prepared site
 * renders the message alone, against want (libc's snprintf of the same call)
 * and against the general formatter. */
static int check_plain_msg(const char *fmt, uint8_t type, const uint8_t *p, size_t n, const char *want,
                           size_t want_len)
{
    make_record(fmt, "src/x.c", 3, &type, 1, p, n);
    /* One site per format and type, as a reader keeps it: the sweeps below render thousands of values of
     * each, and a site made for each value took most of a minute under ASan. */
    static struct render_site *sr;
    static char sr_fmt[64];
    static uint8_t sr_type;
    if (!sr || sr_type != type || strcmp(sr_fmt, fmt) != 0 || strlen(fmt) >= sizeof sr_fmt) {
        render_site_free(sr);
        sr = render_site_new(&test_site, "app", "host1", NULL, 1234, NULL, NULL);
        snprintf(sr_fmt, sizeof sr_fmt, "%s", fmt);
        sr_type = type;
    }
    cr_assert(sr != NULL);
    struct render_buf b;
    render_buf_init(&b, json_mem, sizeof json_mem - 1);
    cr_assert_eq(render_prepared_msg(sr, &test_rec, &b), 0);
    int ascii = b.ascii;
    if (b.len != want_len || memcmp(json_mem, want, want_len) != 0)
        cr_assert_fail("format \"%s\": prepared message \"%.*s\" (%zu bytes), printf \"%.*s\" (%zu bytes)", fmt,
                       (int)b.len, json_mem, b.len, (int)want_len, want, want_len);
    struct render_arg args[SHMLOG_MAX_ARGS];
    int nargs = render_decode_args(&test_site, test_rec.payload, test_rec.payload_len, args);
    cr_assert_eq(nargs, 1);
    static char general[1 << 12];
    render_buf_init(&b, general, sizeof general);
    render_format(fmt, args, nargs, &b);
    if (b.len != want_len || memcmp(general, want, want_len) != 0)
        cr_assert_fail("format \"%s\": general formatter \"%.*s\", printf \"%.*s\"", fmt, (int)b.len, general,
                       (int)want_len, want);
    return ascii;
}

Test(render_line, plain_message_fast_paths_match_printf, .timeout = 30)
{
    char want[1 << 12];
    uint8_t p[SHMLOG_MAX_PAYLOAD];
    static const char *const int_fmts[] = {"q=%d", "<%5d>", "<%-5d>", "<%05d>", "<%+d>", "<% d>", "<%.3d>",
                                           "%i%%", "100%% %d %%", "%d"};
    static const int32_t ints[] = {0, 1, -1, 9, 10, -10, 42, -42, 99999, -100000, INT32_MIN, INT32_MAX};
    for (size_t f = 0; f < sizeof int_fmts / sizeof *int_fmts; f++)
        for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
            int n = snprintf(want, sizeof want, int_fmts[f], ints[i]);
            check_plain_msg(int_fmts[f], SHMLOG_ARG_I32, p, put_le(p, (uint32_t)ints[i], 4), want, (size_t)n);
        }
    static const char *const u64_fmts[] = {"id=%lu", "<%8lu>", "<%-3lu>", "%lx", "%#lx", "<%.2lu>", "%ld"};
    static const uint64_t u64s[] = {0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u, 99999999, 100000000,
                                    (uint64_t)INT64_MAX, (uint64_t)INT64_MIN, UINT64_MAX};
    for (size_t f = 0; f < sizeof u64_fmts / sizeof *u64_fmts; f++)
        for (size_t i = 0; i < sizeof u64s / sizeof *u64s; i++) {
            int n = snprintf(want, sizeof want, u64_fmts[f], u64s[i]);
            check_plain_msg(u64_fmts[f], SHMLOG_ARG_U64, p, put_le(p, u64s[i], 8), want, (size_t)n);
        }
    static const char *const f_fmts[] = {"px=%.2f", "%f", "%.0f", "<%.4f>", "<%10.3f>", "<%-9.1f>", "%+.2f",
                                         "%.10f", "%.2f%%"};
    static const double doubles[] = {0.0, -0.0, 1.005, -1.005, 2.5, -2.5, 0.125, 123456.789, -0.004, 1e15 + 0.5,
                                     1e-7, 5e-324, -1e300, NAN, -INFINITY, INFINITY, 4503599627370497.5};
    for (size_t f = 0; f < sizeof f_fmts / sizeof *f_fmts; f++)
        for (size_t i = 0; i < sizeof doubles / sizeof *doubles; i++) {
            uint64_t bits;
            memcpy(&bits, &doubles[i], 8);
            int n = snprintf(want, sizeof want, f_fmts[f], doubles[i]);
            check_plain_msg(f_fmts[f], SHMLOG_ARG_F64, p, put_le(p, bits, 8), want, (size_t)n);
        }
    /* Strings of every length to 40 with a NUL at each place (%s stops there),
     * bytes that are no UTF-8, and the producer's truncation mark (the message
     * shows the bytes kept; the record's flag says it was cut). */
    static const char *const s_fmts[] = {"sym=%s", "<%.3s>", "<%5s>", "<%-5s>", "%s%%"};
    static const char *const odd[] = {"\xff\xfe", "caf\xc3\xa9", "\xc3", "ab\x80\x63\x64\x65\x66\x67\x68\x69\x6a\xe2\x82", "\xed\xa0\x80"};
    for (size_t f = 0; f < sizeof s_fmts / sizeof *s_fmts; f++)
        for (size_t len = 0; len <= 40; len++)
            for (size_t nul = 0; nul <= len + 5; nul++) {
                char str[48];
                size_t odd_i = nul - len - 1; /* nul > len: no NUL, the odd string of that number instead */
                for (size_t k = 0; k < len; k++)
                    str[k] = (char)('A' + k % 26);
                if (nul > len && odd_i < sizeof odd / sizeof *odd && len >= strlen(odd[odd_i]))
                    memcpy(str + len - strlen(odd[odd_i]), odd[odd_i], strlen(odd[odd_i]));
                if (nul < len)
                    str[nul] = '\0';
                str[len] = '\0';
                for (int cut = 0; cut <= 1; cut++) {
                    put_le(p, len | (cut ? SHMLOG_STR_TRUNCATED : 0u), 2);
                    memcpy(p + 2, str, len);
                    int n = snprintf(want, sizeof want, s_fmts[f], str);
                    check_plain_msg(s_fmts[f], SHMLOG_ARG_STR, p, 2 + len, want, (size_t)n);
                }
            }
}

/* The message of sr for test_rec alone, against the general formatter and in
 * buffers of every size up to its length and 160 more (by 8 past 200 but
 * when every): the same prefix, flagged when cut, nothing past. Returns
 * whether it said the message was ASCII (checked to be true). */
static int check_plain_msg_every_size(struct render_site *sr, int every)
{
    static char full[1 << 12], cut[1 << 12];
    struct render_buf b;
    render_buf_init(&b, full, sizeof full);
    cr_assert_eq(render_prepared_msg(sr, &test_rec, &b), 0);
    size_t n = b.len;
    /* ASCII said: no UTF-8 check follows, so it must be true */
    if (b.ascii && !render_ascii(full, n))
        cr_assert_fail("format \"%s\": \"%.*s\" said to be ASCII", test_site.fmt, (int)n, full);
    int ascii = b.ascii;
    struct render_arg args[SHMLOG_MAX_ARGS];
    int nargs = render_decode_args(&test_site, test_rec.payload, test_rec.payload_len, args);
    if (nargs >= 0) {
        render_buf_init(&b, cut, sizeof cut);
        render_format(test_site.fmt, args, nargs, &b);
        if (b.len != n || memcmp(cut, full, n) != 0)
            cr_assert_fail("format \"%s\": prepared \"%.*s\", general \"%.*s\"", test_site.fmt, (int)n, full,
                           (int)b.len, cut);
    }
    for (size_t cap = 0; cap <= n + 160; cap += 1 + (!every && cap > 200) * 7) {
        memset(cut, 0x5A, cap + 200);
        render_buf_init(&b, cut, cap);
        int rc = render_prepared_msg(sr, &test_rec, &b);
        size_t want = n < cap ? n : cap;
        /* if, not cr_assert: --full-stats would keep each of these millions of checks */
        if (rc != (n > cap ? -ENOBUFS : 0) || b.len != want)
            cr_assert_fail("format \"%s\", %zu bytes in %zu: %d, %zu bytes", test_site.fmt, n, cap, rc, b.len);
        if (memcmp(cut, full, want) != 0)
            cr_assert_fail("format \"%s\" in %zu bytes: \"%.*s\", whole \"%.*s\"", test_site.fmt, cap, (int)want,
                           cut, (int)n, full);
        static const char guard[200] = {[0 ... 199] = 0x5A};
        if (memcmp(cut + cap, guard, sizeof guard) != 0)
            cr_assert_fail("format \"%s\": a byte past %zu written", test_site.fmt, cap);
    }
    return ascii;
}

/* The message alone writes through a cursor, its room checked once for a
 * whole message or once a conversion, and falls back to the checked writes
 * near the buffer's end: random sites with long literals and strings of
 * every short length, and sites of the widest values, in buffers of every size. */
Test(render_line, plain_message_in_buffers_of_every_size, .timeout = 240)
{
    int said_ascii = 0;
    random_str_max = 41;
    for (int iter = 0; iter < 1500; iter++) {
        random_mixed_site();
        if (rng() % 2) { /* a literal longer than a piece copy */
            char rest[SHMLOG_MAX_FMT_BYTES + 1];
            size_t at = rng() % (strlen(test_site.fmt) + 1);
            strcpy(rest, test_site.fmt + at);
            test_site.fmt[at] = '\0';
            strcat(test_site.fmt, "a literal of more than sixty-four bytes, copied by the general path ");
            strcat(test_site.fmt, rest);
        }
        struct render_site *sr = render_site_new(&test_site, "app", "host1", NULL, 1234, NULL, NULL);
        cr_assert(sr != NULL);
        for (int k = 0; k < 4; k++) {
            random_matching_payload();
            said_ascii += check_plain_msg_every_size(sr, 0);
        }
        render_site_free(sr);
    }
    random_str_max = 12;
    cr_assert_gt(said_ascii, 10, "%d", said_ascii); /* and it is said of some */

    /* The widest values, packed: more than their payload's bytes. */
    static const struct {
        const char *conv;
        uint8_t type;
        double f;
        uint64_t u;
    } wide[] = {
        {"%lu", SHMLOG_ARG_U64, 0, UINT64_MAX},
        {"%ld", SHMLOG_ARG_I64, 0, (uint64_t)INT64_MIN},
        {"%.19f", SHMLOG_ARG_F64, -1.8446744073709551, 0},
        {"%.8f", SHMLOG_ARG_F64, -99999999.5, 0},
    };
    for (size_t w = 0; w < sizeof wide / sizeof *wide; w++)
        for (unsigned nargs = 1; nargs <= SHMLOG_MAX_ARGS; nargs++) {
            uint8_t types[SHMLOG_MAX_ARGS], payload[SHMLOG_MAX_ARGS * 8];
            char fmt[SHMLOG_MAX_ARGS * sizeof "%.19f"] = "";
            for (unsigned k = 0; k < nargs; k++) {
                strcat(fmt, wide[w].conv);
                types[k] = wide[w].type;
                if (wide[w].type == SHMLOG_ARG_F64)
                    memcpy(payload + 8 * k, &wide[w].f, 8);
                else
                    put_le(payload + 8 * k, wide[w].u, 8);
            }
            make_record(fmt, "src/x.c", 3, types, nargs, payload, 8 * nargs);
            struct render_site *sr = render_site_new(&test_site, "app", "host1", NULL, 1234, NULL, NULL);
            cr_assert(sr != NULL);
            cr_assert_eq(check_plain_msg_every_size(sr, 1), 1);
            render_site_free(sr);
        }
}

/* %.Nf of the message alone (prices below 10^8 digits written forwards,
 * then the point put in) against snprintf: every precision 0..9, ties,
 * values around each power of ten, signed zeros, the huge and the tiny. */
Test(render_line, plain_message_fixed_of_every_precision, .timeout = 60)
{
    char fmt[16], want[512];
    uint8_t p[8];
    static const double edges[] = {0.0, -0.0, 0.005, -0.005, 0.5, 1.5, 2.5, -2.5, 0.125, 1.005, 9.995, 99999999.5,
                                   9999999.95, 1e7, 1e8, 1e8 - 1, 5890.25, 97452.50, 1e-300, 5e-324, 1e300, -1e300,
                                   INFINITY, -INFINITY, NAN};
    for (int prec = 0; prec <= 9; prec++) {
        snprintf(fmt, sizeof fmt, "px=%%.%df", prec);
        for (int i = 0; i < 3000; i++) {
            double v;
            if (i < (int)(sizeof edges / sizeof *edges)) {
                v = edges[i];
            } else if (i % 3 == 0) { /* a tie or near one at this precision */
                v = ((double)(int64_t)(rng() % 2000000001) - 1000000000.0 + 0.5) / pow(10, prec);
            } else if (i % 3 == 1) { /* prices: cents, ticks */
                v = (double)(int64_t)(rng() % 20000000 - 10000000) / (double)(1 << (rng() % 8));
            } else { /* any magnitude */
                v = ldexp((double)(rng() >> 11) / 9007199254740992.0, (int)(rng() % 80) - 40);
                if (rng() % 2)
                    v = -v;
            }
            uint64_t bits;
            memcpy(&bits, &v, 8);
            int n = snprintf(want, sizeof want, fmt, v);
            check_plain_msg(fmt, SHMLOG_ARG_F64, p, put_le(p, bits, 8), want, (size_t)n);
        }
    }
}

/* A %s of str (4 bytes) or an int32 v in fmt, checked against printf:
 * whether the message alone said it was ASCII. */
static int plain_msg_ascii(const char *fmt, const char *str, int32_t v)
{
    char want[64];
    uint8_t p[16];
    if (str) {
        int n = snprintf(want, sizeof want, fmt, str); /* printf stops at a NUL, as the message does */
        size_t len = put_le(p, 4, 2);
        memcpy(p + len, str, 4);
        return check_plain_msg(fmt, SHMLOG_ARG_STR, p, len + 4, want, (size_t)n);
    }
    int n = snprintf(want, sizeof want, fmt, v);
    return check_plain_msg(fmt, SHMLOG_ARG_I32, p, put_le(p, (uint32_t)v, 4), want, (size_t)n);
}

/* The message alone says it is ASCII when its texts, strings and %c are,
 * and the general path (here %x, and a string cut at a NUL) was not taken. */
Test(render_line, plain_message_says_when_it_is_ascii)
{
    cr_assert_eq(plain_msg_ascii("sym=%s", "ESZ6", 0), 1);
    cr_assert_eq(plain_msg_ascii("sym\xc3\xa9=%s", "ESZ6", 0), 0);
    cr_assert_eq(plain_msg_ascii("sym=%s", "E\xc3\xa9" "6", 0), 0);
    cr_assert_eq(plain_msg_ascii("sym=%s", "\xc3\xa9\0" "6", 0), 0);
    cr_assert_eq(plain_msg_ascii("c=%c", NULL, 'A'), 1);
    cr_assert_eq(plain_msg_ascii("c=%c", NULL, 0xe9), 0);
    cr_assert_eq(plain_msg_ascii("q=%d", NULL, 42), 1);
    cr_assert_eq(plain_msg_ascii("x=%x", NULL, 42), 0);
}

/* Integers below 10^8 come out of one multiplication and a pair a
 * multiplication by 100 (rounding kept above the exact value): every one of
 * them against digits by division, wider ones against snprintf. */
Test(render_line, digits_of_every_width, .timeout = 120)
{
    char got[32], want[32];
    struct render_buf b;
    for (uint32_t v = 0; v < 100000000u; v++) {
        render_buf_init(&b, got, sizeof got);
        render_buf_u64(&b, v);
        char *p = want + sizeof want;
        uint32_t w = v;
        do {
            *--p = (char)('0' + w % 10);
            w /= 10;
        } while (w);
        size_t n = (size_t)(want + sizeof want - p);
        if (b.len != n || memcmp(got, p, n) != 0)
            cr_assert_fail("%" PRIu32 ": \"%.*s\"", v, (int)b.len, got);
        /* The forwards writer of the message program, beside the line's backwards one. */
        u64_digits_at(got, v, u64_ndigits(v));
        if (memcmp(got, p, n) != 0)
            cr_assert_fail("%" PRIu32 " forwards: \"%.*s\"", v, (int)n, got);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t v = rng() >> (rng() % 64);
        render_buf_init(&b, got, sizeof got);
        render_buf_u64(&b, v);
        int n = snprintf(want, sizeof want, "%" PRIu64, v);
        if (b.len != (size_t)n || memcmp(got, want, (size_t)n) != 0)
            cr_assert_fail("%s: \"%.*s\"", want, (int)b.len, got);
    }
}

/* The UTF-8 check takes words of ASCII at a time, the last overlapping: a
 * byte that is no ASCII is found at each place of strings of each length. */
Test(render_line, utf8_check_finds_a_byte_at_each_place, .timeout = 10)
{
    char s[64];
    for (size_t len = 0; len <= 40; len++) {
        memset(s, 'a', len);
        cr_assert_eq(render_ascii(s, len), 1);
        cr_assert_eq(render_utf8_valid(s, len), len);
        for (size_t at = 0; at < len; at++) {
            memset(s, 'a', len);
            s[at] = (char)0x80; /* a continuation byte with no lead: invalid */
            cr_assert_eq(render_ascii(s, len), 0, "length %zu, byte at %zu", len, at);
            cr_assert_eq(render_utf8_valid(s, len), at, "length %zu, byte at %zu", len, at);
            if (at + 2 <= len) {
                memcpy(s + at, "\xc3\xa9", 2); /* é: valid, and not ASCII */
                cr_assert_eq(render_ascii(s, len), 0);
                cr_assert_eq(render_utf8_valid(s, len), len);
            }
        }
    }
}

/* The definition the clock must meet, written the slow way: one 128-bit
 * division per call. */
static uint64_t tsc_to_ns_by_division(const struct shm_proc_info *p, uint64_t tsc)
{
    if (!p->tsc_hz)
        return p->anchor_ns;
    __int128 delta = (__int128)(int64_t)(tsc - p->anchor_tsc) * 1000000000 / (__int128)p->tsc_hz;
    __int128 ns = (__int128)p->anchor_ns + delta;
    return ns < 0 ? 0 : ns > (__int128)UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

Test(render_line, tsc_clock_matches_the_division, .timeout = 60)
{
    for (int i = 0; i < 2000000; i++) {
        struct shm_proc_info p;
        memset(&p, 0, sizeof p);
        switch (i % 5) {
        case 0: p.tsc_hz = 2000000000u + rng() % 2000000000u; break; /* real TSCs */
        case 1: p.tsc_hz = 1 + rng() % 1000; break;
        case 2: p.tsc_hz = rng() >> (rng() % 64); break;             /* 0 too */
        case 3: p.tsc_hz = 1000000000u; break;
        default: p.tsc_hz = UINT64_MAX - rng() % 1000; break;
        }
        p.anchor_tsc = rng();
        p.anchor_ns = rng() >> (rng() % 8);
        uint64_t span = rng() >> (rng() % 64);
        uint64_t tsc = i % 3 == 0 ? rng() : i % 3 == 1 ? p.anchor_tsc + span : p.anchor_tsc - span;
        struct shm_tsc_clock c;
        shm_tsc_clock_init(&c, &p);
        uint64_t fast = shm_tsc_clock_ns(&c, tsc), exact = tsc_to_ns_by_division(&p, tsc);
        if (fast != exact)
            cr_assert_fail("hz %" PRIu64 " anchor %" PRIu64 "/%" PRIu64 " tsc %" PRIu64 ": %" PRIu64 ", reader %" PRIu64,
                           p.tsc_hz, p.anchor_tsc, p.anchor_ns, tsc, fast, exact);
    }
}

Test(render_line, rfc3339_matches_gmtime, .timeout = 30)
{
    char want[64];
    for (int i = 0; i < 100000; i++) {
        uint64_t ns = i == 0 ? 0 : i == 1 ? UINT64_MAX : rng() % (UINT64_MAX / 4);
        time_t secs = (time_t)(ns / 1000000000u);
        struct tm tm;
        if (!gmtime_r(&secs, &tm))
            cr_assert_fail("gmtime_r failed for %" PRIu64, ns);
        size_t n = strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want + n, sizeof want - n, ".%09uZ", (unsigned)(ns % 1000000000u));
        char got[64];
        struct render_buf b;
        render_buf_init(&b, got, sizeof got - 1);
        render_buf_rfc3339(&b, ns);
        got[b.len] = 0;
        if (strcmp(got, want) != 0)
            cr_assert_fail("ns %" PRIu64 ": got %s want %s", ns, got, want);
    }
}

/* ==== The shmlog-dump binary ==== */

/* Runs the program named by env_var (meson sets it to the built binary)
 * with argv; returns its exit status, stdout and stderr. */
static int run_tool(const char *env_var, char *const argv[], char *out, size_t out_cap, char *err, size_t err_cap)
{
    const char *exe = getenv(env_var);
    cr_assert_not_null(exe, "%s is set by meson to the built program", env_var);
    int po[2], pe[2];
    cr_assert_eq(pipe(po), 0);
    cr_assert_eq(pipe(pe), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* No Criterion call in the child: it would talk to the runner as
         * a process the runner does not know. */
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(exe, argv);
        _exit(127);
    }
    cr_assert_gt(pid, 0);
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    ssize_t r;
    /* Both pipes at once: a child that fills one while we wait on the other
     * would never finish. */
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            char *buf = i == 0 ? out : err;
            size_t *n = i == 0 ? &no : &ne;
            size_t cap = i == 0 ? out_cap : err_cap;
            char sink[4096];
            r = *n + 1 < cap ? read(fds[i].fd, buf + *n, cap - 1 - *n) : read(fds[i].fd, sink, sizeof sink);
            if (r <= 0) {
                fds[i].fd = -1;
                open_fds--;
            } else if (*n + 1 < cap) {
                *n += (size_t)r;
            }
        }
    }
    out[no] = 0;
    err[ne] = 0;
    close(po[0]);
    close(pe[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(render_dump, bad_usage_is_one_line_and_exit_2, .timeout = 20)
{
    static char out[1 << 16], err[1 << 16];
    char *const bad_flag[] = {"shmlog-dump", "ring", "--bogus", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", bad_flag, out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "--bogus"), "stderr names the flag: %s", err);
    cr_assert_str_empty(out);

    char *const bad_cmd[] = {"shmlog-dump", "frobnicate", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", bad_cmd, out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(count_lines(err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "frobnicate"), "stderr: %s", err);

    char *const missing_value[] = {"shmlog-dump", "ring", "--pid", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", missing_value, out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(count_lines(err), 1, "stderr: %s", err);

    char *const bad_value[] = {"shmlog-dump", "ring", "--format", "xml", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", bad_value, out, sizeof out, err, sizeof err), 2);
    cr_assert_eq(count_lines(err), 1, "stderr: %s", err);

    char *const help[] = {"shmlog-dump", "--help", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", help, out, sizeof out, err, sizeof err), 0);
    cr_assert(strstr(out, "segments") && strstr(out, "ring"), "help lists the subcommands: %s", out);

    char *const version[] = {"shmlog-dump", "--version", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", version, out, sizeof out, err, sizeof err), 0);
    cr_assert_eq(count_lines(out), 1, "%s", out);
}

/* A fresh segment directory for the end-to-end test, removed afterwards
 * whether the test passed or not. */
static char seg_dir[64];

static void seg_dir_make(void)
{
    snprintf(seg_dir, sizeof seg_dir, "/dev/shm/shmlog-test-render-XXXXXX");
    cr_assert_not_null(mkdtemp(seg_dir));
}

static void seg_dir_remove(void)
{
    DIR *d = opendir(seg_dir);
    if (!d)
        return;
    struct dirent *de;
    char path[sizeof seg_dir + 300];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", seg_dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(seg_dir);
}

/* A real producer process writes its segments and exits; the dump then reads
 * the rings of the dead process: every record, valid JSON, typed fields, and
 * the segments listing says the process is dead. */
Test(render_dump, ring_of_a_dead_sample_process, .init = seg_dir_make, .fini = seg_dir_remove, .timeout = 120)
{
    static char out[8 << 20], err[1 << 16];

    char *const sample[] = {"shmlog-sample", "--app", "rendertest", "--count", "3000", "--threads", "2",
                            "--dir", seg_dir, NULL};
    cr_assert_eq(run_tool("SHMLOG_SAMPLE", sample, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    cr_assert(strstr(out, "3001 log calls"), "%s", out);
    cr_assert(strstr(out, " 0 dropped"), "%s", out);

    char *const ring_json[] = {"shmlog-dump", "ring", "--dir", seg_dir, "--format", "json", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", ring_json, out, sizeof out, err, sizeof err), 0, "stderr: %s", err);
    int records = 0, with_fields = 0;
    for (char *line = out, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert_not_null(nl, "every line ends with a newline");
        *nl = '\0';
        if (!json_valid(line, (size_t)(nl - line)))
            cr_assert_fail("invalid JSON line: %s", line);
        if (strstr(line, "\"loss\"") || !strstr(line, "\"app\":\"rendertest\""))
            cr_assert_fail("a record of rendertest without loss expected: %s", line);
        records++;
        with_fields += strstr(line, "\"fields\":{\"") != NULL;
        *nl = '\n';
    }
    cr_assert_eq(records, 3001, "one JSON line per log call");
    cr_assert_eq(with_fields, 3001, "every record of the sample has named fields");
    cr_assert(strstr(out, "\"category\":\"order\"") && strstr(out, "\"category\":\"market_data\"") &&
              strstr(out, "\"level\":\"WARN\""), "the mix has categories and levels");

    char *const ring_text[] = {"shmlog-dump", "ring", "--dir", seg_dir, NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", ring_text, out, sizeof out, err, sizeof err), 0);
    cr_assert_eq(count_lines(out), 3001);
    cr_assert(strstr(out, " order rendertest["), "text lines: %.200s", out);

    char *const segments[] = {"shmlog-dump", "segments", "--dir", seg_dir, "--format", "json", NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", segments, out, sizeof out, err, sizeof err), 0);
    cr_assert(strstr(out, "\"kind\":\"process\"") && strstr(out, "\"alive\":false"), "%s", out);
    cr_assert(strstr(out, "\"kind\":\"ring\""), "%s", out);
    cr_assert_null(strstr(out, "\"kind\":\"invalid\""), "%s", out);

    /* A file that only looks like a segment: one line says which and why. */
    char bogus[sizeof seg_dir + 32];
    snprintf(bogus, sizeof bogus, "%s/bogus-77.meta", seg_dir);
    FILE *f = fopen(bogus, "w");
    cr_assert_not_null(f);
    fputs("not a segment", f);
    fclose(f);
    char *const segments_text[] = {"shmlog-dump", "segments", "--dir", seg_dir, NULL};
    cr_assert_eq(run_tool("SHMLOG_DUMP", segments_text, out, sizeof out, err, sizeof err), 0);
    cr_assert(strstr(out, "invalid ") && strstr(out, "bogus-77.meta"), "%s", out);
    cr_assert(strstr(out, "] dead"), "%s", out);
}

/* A SHMLOG_STRUCT's record: "o=%s q=%d" with o's member count, q, then o's
 * members id, px and leg (a struct of its own: v, an optional with its flag). */
static void make_struct_record(const char *desc)
{
    uint8_t payload[64];
    size_t off = 0;
    off += put_le(payload + off, 3, 1);  /* 1 o: its member count */
    off += put_le(payload + off, (uint64_t)-4, 4); /* 2 q */
    off += put_le(payload + off, 7, 8);  /* 3 o.id */
    double px = 2.5;
    uint64_t bits;
    memcpy(&bits, &px, 8);
    off += put_le(payload + off, bits, 8); /* 4 o.px */
    off += put_le(payload + off, 1, 1);    /* 5 o.leg */
    off += put_le(payload + off, 0, 4);    /* 6 o.leg.v: empty */
    off += put_le(payload + off, 0, 1);    /* 7 v's has-value */
    const uint8_t types[] = {SHMLOG_ARG_U8,  SHMLOG_ARG_I32, SHMLOG_ARG_U64, SHMLOG_ARG_F64,
                             SHMLOG_ARG_U8, SHMLOG_ARG_I32, SHMLOG_ARG_BOOL};
    make_record("o=%s q=%d", "s.cpp", 9, types, 7, payload, off);
    snprintf(test_site.desc, sizeof test_site.desc, "%s", desc);
    test_site.desc_len = (uint32_t)strlen(desc);
}

Test(render_line, struct_members_print_nested_and_flatten_as_fields, .timeout = 10)
{
    make_struct_record("s1 Order id=3,px=4ms,leg=5;s5 Leg v=6;o6 7;x9 later kinds are skipped");
    render_line(&test_site, 0);
    cr_assert(strstr(json_mem, " s.cpp:9 o={id=7, px=2.5ms, leg={v=none}} q=-4\n"), "%s", json_mem);
    size_t n = render_line(&test_site, 1);
    cr_assert(json_valid(json_mem, n), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"fields\":{\"o\":{\"id\":7,\"px\":2.5,\"leg\":{\"v\":null}},\"q\":-4}}"), "%s",
              json_mem);

    struct render_site *sr = render_site_new(&test_site, "app", "host", NULL, 1, NULL, NULL);
    cr_assert(sr);
    struct render_field_info info[SHMLOG_MAX_ARGS];
    struct render_field fields[SHMLOG_MAX_ARGS];
    cr_assert_eq(render_site_fields(sr, info), 4);
    cr_assert_eq(render_prepared_fields(sr, &test_rec, fields), 4);
    const char *names[] = {"o.id", "o.px", "o.leg.v", "q"};
    const uint8_t types[] = {SHMLOG_ARG_U64, SHMLOG_ARG_F64, SHMLOG_ARG_I32, SHMLOG_ARG_I32};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(info[i].name_len, strlen(names[i]));
        cr_assert(!memcmp(info[i].name, names[i], info[i].name_len), "%d: %.*s", i, (int)info[i].name_len,
                  info[i].name);
        cr_assert(fields[i].name_len == info[i].name_len && !memcmp(fields[i].name, names[i], info[i].name_len));
        cr_assert_eq(info[i].type, types[i], "%d", i);
        cr_assert_eq(fields[i].value.type, types[i], "%d", i);
    }
    cr_assert_eq(fields[0].value.v.u, 7);
    cr_assert_eq(fields[1].value.v.f, 2.5);
    cr_assert_eq(fields[3].value.v.i, -4);
    render_site_free(sr);
}

Test(render_line, char_members_print_as_characters, .timeout = 10)
{
    /* "o=%s q=%d": o's members c and u (chars, a newline escaped), n (an int8_t: no c entry) and w (an i32,
     * whose c entry is left out); q is no member, so its own c entry leaves its %d a number */
    uint8_t payload[16];
    size_t off = 0;
    off += put_le(payload + off, 4, 1);   /* 1 o: its member count */
    off += put_le(payload + off, 'B', 1); /* 2 q */
    off += put_le(payload + off, 'B', 1); /* 3 o.c */
    off += put_le(payload + off, '\n', 1); /* 4 o.u */
    off += put_le(payload + off, 'B', 1); /* 5 o.n */
    off += put_le(payload + off, 'B', 4); /* 6 o.w */
    const uint8_t types[] = {SHMLOG_ARG_U8, SHMLOG_ARG_I8, SHMLOG_ARG_I8,
                             SHMLOG_ARG_U8, SHMLOG_ARG_I8, SHMLOG_ARG_I32};
    make_record("o=%s q=%d", "s.cpp", 9, types, 6, payload, off);
    const char *desc = "s1 T c=3,u=4,n=5,w=6;c3;c4;c6;c2";
    snprintf(test_site.desc, sizeof test_site.desc, "%s", desc);
    test_site.desc_len = (uint32_t)strlen(desc);
    render_line(&test_site, 0);
    cr_assert(strstr(json_mem, " s.cpp:9 o={c=B, u=\\n, n=66, w=66} q=66\n"), "%s", json_mem);
    size_t n = render_line(&test_site, 1);
    cr_assert(json_valid(json_mem, n), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"msg\":\"o={c=B, u=\\n, n=66, w=66} q=66\""), "%s", json_mem);
    cr_assert(strstr(json_mem, "\"fields\":{\"o\":{\"c\":\"B\",\"u\":\"\\n\",\"n\":66,\"w\":66},\"q\":66}}"), "%s",
              json_mem);
    /* a descriptor from before c entries: the number */
    desc = "s1 T c=3,u=4,n=5,w=6";
    snprintf(test_site.desc, sizeof test_site.desc, "%s", desc);
    test_site.desc_len = (uint32_t)strlen(desc);
    render_line(&test_site, 0);
    cr_assert(strstr(json_mem, " s.cpp:9 o={c=66, u=10, n=66, w=66} q=66\n"), "%s", json_mem);
}

Test(render_line, hostile_struct_entries_are_left_out, .timeout = 10)
{
    /* each refused as a whole: a member before or at its struct, past the arguments, claimed by another
     * struct, a name or unit that is not one, a second entry for one struct, junk */
    const char *const refused[] = {
        "s3 T a=1",          "s3 T a=3",          "s1 T a=8",          "s1 T a=99999999999999999999",
        "s5 T a=6;s1 T b=6", "s1 T a=3,=4",        "s1 T a-3",          "s1 T a=3abcdefghij",
        "s1 T a=3,",         "s1 T",              "s1",                "s0 T a=3",
        "s1 T a=3 ;",        "s17 T a=3",         "s1 T a=3,a=",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        make_struct_record(refused[i]);
        render_line(&test_site, 0);
        cr_assert(strstr(json_mem, " o=<bad %s for u8> q=-4 <extra: 7, 2.5, 1, 0, false>\n"), "%s: %s", refused[i],
                  json_mem);
        size_t n = render_line(&test_site, 1);
        cr_assert(json_valid(json_mem, n), "%s: %s", refused[i], json_mem);
        /* what a whole entry would have shown: o's three members */
        cr_assert(!strstr(json_mem, "\"o\":{\"id\":7,\"px\":2.5,\"leg\""), "%s: %s", refused[i], json_mem);
    }
    /* the first of two entries for one struct is kept, whole */
    make_struct_record("s1 T a=3;s1 T b=4");
    render_line(&test_site, 0);
    cr_assert(strstr(json_mem, " o={a=7} q=-4 <extra: 2.5, 1, 0, false>\n"), "%s", json_mem);
}
