/*
 * render_fmtspec.c - an argument as fmt prints it for a {} placeholder's spec
 * that printf has no words for (a fill character, centring, b/B, a sign or
 * 0x before any integer, a width or precision from another argument, chrono
 * specs): the site's descriptor carries the spec itself in an "f" entry, and
 * this prints the value by it.
 */
#include "render_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* i8 i16 i32 i64: the even types from I8 (shmlog_abi.h). */
static int arg_is_signed(unsigned type)
{
    return type >= SHMLOG_ARG_I8 && type <= SHMLOG_ARG_I64 && (type & 1) == 0;
}

/* Room for any value but a string (whose bytes are padded in place). */
#define FMT_BODY_MAX 512

/* The length of the UTF-8 character at s (1 for a byte that starts none). */
static size_t utf8_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return k <= n ? k : 1;
}

/* Code points in n bytes: what fmt's width counts (for the text it is fed, one column each). */
static size_t code_points(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* The bytes of the first prec code points of s. */
static size_t first_code_points(const char *s, size_t n, size_t prec)
{
    size_t i = 0;
    for (size_t k = 0; i < n && k < prec; k++)
        i += utf8_len(s + i, n - i);
    return i < n ? i : n;
}

/* A width or precision: digits, or "{N}" naming argument N (from 1). */
static const char *spec_number(const char *s, const char *end, int *v, int *arg)
{
    *v = -1;
    *arg = -1;
    if (s < end && *s == '{') {
        char *e;
        long n = strtol(s + 1, &e, 10);
        if (e >= end || *e != '}' || n < 1 || n > (long)SHMLOG_MAX_ARGS)
            return NULL;
        *arg = (int)n - 1;
        return e + 1;
    }
    if (s < end && *s >= '0' && *s <= '9') {
        int x = 0;
        for (; s < end && *s >= '0' && *s <= '9'; s++)
            if (x <= RENDER_STR_MAX_WIDTH)
                x = x * 10 + (*s - '0');
        *v = x > RENDER_STR_MAX_WIDTH ? RENDER_STR_MAX_WIDTH : x;
    }
    return s;
}

int render_fmtspec_parse(const char *s, size_t n, struct fmtspec *f)
{
    const char *end = s + n, *p;
    memset(f, 0, sizeof *f);
    f->fill[0] = ' ';
    f->fill_len = 1;
    if (n < 2 || s[1] != ' ')
        return -1;
    f->what = s[0];
    p = s + 2;
    if (f->what == 'd') { /* the unit, then a space */
        const char *u = p;
        while (p < end && *p != ' ')
            p++;
        if (p >= end || p - u > 8)
            return -1;
        f->unit = u;
        f->unit_len = (uint8_t)(p - u);
        p++;
    }
    size_t k = p < end ? utf8_len(p, (size_t)(end - p)) : 0;
    if (p + k < end && (p[k] == '<' || p[k] == '>' || p[k] == '^')) {
        memcpy(f->fill, p, k);
        f->fill_len = (uint8_t)k;
        f->align = p[k];
        p += k + 1;
    } else if (p < end && (*p == '<' || *p == '>' || *p == '^')) {
        f->align = *p++;
    }
    int chrono = f->what == 't' || f->what == 'd'; /* after the width and precision: a chrono spec */
    if (!chrono && p < end && (*p == '+' || *p == '-' || *p == ' '))
        f->sign = *p++;
    if (!chrono && p < end && *p == '#') {
        f->hash = 1;
        p++;
    }
    if (!chrono && p < end && *p == '0') {
        f->zero = 1;
        p++;
    }
    if (!(p = spec_number(p, end, &f->width, &f->width_arg)))
        return -1;
    f->prec = f->prec_arg = -1;
    if (p < end && *p == '.' && !(p = spec_number(p + 1, end, &f->prec, &f->prec_arg)))
        return -1;
    if (chrono) {
        if (p < end) {
            f->chrono = p;
            f->chrono_len = (size_t)(end - p);
        }
        return 0;
    }
    if (p < end && *p == 'L')
        p++; /* the C locale's: no separators */
    if (p < end)
        f->type = *p++;
    return p == end ? 0 : -1;
}

/* An integer argument as fmt's d x X o b B c print it: sign, prefix, digits. */
static size_t fmt_integer(char *out, const struct fmtspec *f, uint64_t v, int is_signed, size_t *digits_at)
{
    char digits[72];
    char *e = digits + sizeof digits, *d = e;
    size_t n = 0;
    uint64_t mag = v;
    int neg = is_signed && (int64_t)v < 0;
    if (neg)
        mag = (uint64_t)0 - v;
    if (f->type == 'c') {
        out[0] = (char)v;
        *digits_at = 0;
        return 1;
    }
    unsigned base = f->type == 'x' || f->type == 'X' ? 16 : f->type == 'o' ? 8 : f->type == 'b' || f->type == 'B' ? 2 : 10;
    const char *set = f->type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        *--d = set[mag % base];
        mag /= base;
    } while (mag);
    if (neg)
        out[n++] = '-';
    else if (f->sign == '+' || f->sign == ' ')
        out[n++] = f->sign;
    if (f->hash && base != 10 && (base != 8 || *d != '0')) {
        out[n++] = '0';
        if (base != 8)
            out[n++] = f->type;
    }
    *digits_at = n;
    memcpy(out + n, d, (size_t)(e - d));
    return n + (size_t)(e - d);
}

/* A double as fmt prints it: shortest for no type and no precision, else printf's own conversion. */
static size_t fmt_double(char *out, const struct fmtspec *f, double v, int is_f32, int prec)
{
    if (!f->type && prec < 0) {
        size_t n = 0;
        if (!signbit(v) && (f->sign == '+' || f->sign == ' '))
            out[n++] = f->sign;
        return n + render_fmt_shortest_double(out + n, v, is_f32);
    }
    /* snprintf's, by a spec built from validated parts alone (glibc rounds exactly, as fmt does) */
    char conv = f->type ? f->type : 'g', spec[24];
    struct render_buf sb;
    render_buf_init(&sb, spec, sizeof spec - 1);
    render_buf_putc(&sb, '%');
    if (f->sign == '+' || f->sign == ' ')
        render_buf_putc(&sb, f->sign);
    if (f->hash)
        render_buf_putc(&sb, '#');
    if (prec >= 0) {
        render_buf_putc(&sb, '.');
        render_buf_u64(&sb, (uint64_t)prec);
    }
    render_buf_putc(&sb, strchr("eEfFgG", conv) ? conv : 'g');
    spec[sb.len] = '\0';
    int k = snprintf(out, FMT_BODY_MAX - 1, spec, v);
    size_t n = k < 0 ? 0 : (size_t)k < FMT_BODY_MAX - 2 ? (size_t)k : FMT_BODY_MAX - 2; /* room for one more */
    if (f->hash && (conv == 'g' || conv == 'G') && isfinite(v)) { /* fmt writes 1.0 where printf writes 1. */
        char *dot = memchr(out, '.', n);
        size_t at = dot ? (size_t)(dot - out) + 1 : 0;
        if (dot && at == n) { /* not before an exponent: 7.E+05, as fmt 9 writes it */
            memmove(out + at + 1, out + at, n - at);
            out[at] = '0';
            n++;
        }
    }
    return n;
}

/* Fraction digits a duration of period num/den shows after %S's seconds (0 for whole seconds or more). */
static int fraction_digits(uint64_t num, uint64_t den)
{
    if (num >= den || num != 1)
        return 0;
    int d = 0;
    for (uint64_t x = den; x > 1 && x % 10 == 0; x /= 10)
        d++;
    return d;
}

/* The period of a unit fmt prints after a count. 0: one the chrono specs do not know. */
static int unit_period(const struct fmtspec *f, uint64_t *num, uint64_t *den)
{
    static const struct { const char *u; uint64_t num, den; } units[] = {
        {"ns", 1, 1000000000}, {"\xc2\xb5s", 1, 1000000}, {"ms", 1, 1000}, {"s", 1, 1}, {"m", 60, 1},
        {"h", 3600, 1},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].u) == f->unit_len && memcmp(units[i].u, f->unit, f->unit_len) == 0) {
            *num = units[i].num;
            *den = units[i].den;
            return 1;
        }
    return 0;
}

static size_t put2(char *out, uint64_t v)
{
    out[0] = (char)('0' + v / 10 % 10);
    out[1] = (char)('0' + v % 10);
    return 2;
}

/* A duration (count of the unit) by chrono spec %Q %q %H %M %S %T %R %% %n %t. */
static size_t fmt_duration_chrono(char *out, const struct fmtspec *f, const struct render_arg *a)
{
    uint64_t num = 1, den = 1;
    int known = unit_period(f, &num, &den);
    int is_float = a->type == SHMLOG_ARG_F32 || a->type == SHMLOG_ARG_F64;
    int neg = is_float ? signbit(a->v.f) != 0 : arg_is_signed(a->type) && a->v.i < 0;
    uint64_t mag = is_float ? 0 : neg ? (uint64_t)0 - a->v.u : a->v.u;
    /* whole seconds and what is left below one (integral counts only) */
    u128 secs = known ? (u128)mag * num / den : 0;
    uint64_t sub = known && den > 1 ? mag % den : 0;
    int fd = fraction_digits(num, den);
    size_t n = 0;
    int signed_once = 0;
    for (size_t i = 0; i < f->chrono_len && n < FMT_BODY_MAX - 64; i++) {
        char c = f->chrono[i];
        if (c != '%' || i + 1 >= f->chrono_len) {
            out[n++] = c;
            continue;
        }
        c = f->chrono[++i];
        if (neg && !signed_once && c != '%' && c != 'n' && c != 't' && c != 'q') {
            out[n++] = '-';
            signed_once = 1;
        }
        switch (c) {
        case 'Q':
            if (is_float) {
                struct fmtspec g = *f;
                g.sign = 0;
                g.hash = 0;
                g.type = 'g';
                n += fmt_double(out + n, &g, fabs(a->v.f), 0, -1);
            } else {
                char d[24], *e = d + sizeof d;
                char *s = u64_digits_back(e, mag);
                memcpy(out + n, s, (size_t)(e - s));
                n += (size_t)(e - s);
            }
            break;
        case 'q': memcpy(out + n, f->unit, f->unit_len); n += f->unit_len; break;
        case 'H': n += put2(out + n, (uint64_t)(secs / 3600 % 24)); break;
        case 'M': n += put2(out + n, (uint64_t)(secs / 60 % 60)); break;
        case 'S':
        case 'T':
        case 'R':
            if (c != 'S') {
                n += put2(out + n, (uint64_t)(secs / 3600 % 24));
                out[n++] = ':';
                n += put2(out + n, (uint64_t)(secs / 60 % 60));
                if (c == 'R')
                    break;
                out[n++] = ':';
            }
            n += put2(out + n, (uint64_t)(secs % 60));
            if (fd) {
                out[n++] = '.';
                char d[24];
                struct render_buf b;
                render_buf_init(&b, d, sizeof d);
                render_buf_u64_padded(&b, sub, fd);
                memcpy(out + n, d, b.len);
                n += b.len;
            }
            break;
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        default: out[n++] = c; break; /* %%, and what the producer let through */
        }
    }
    return n;
}

/* A time point (ns since the epoch) by chrono spec, in UTC; fmt's default is "%F %T" in whole seconds. */
static size_t fmt_time(char *out, const struct fmtspec *f, int64_t ns)
{
    char spec[FMT_BODY_MAX / 2];
    size_t sl = f->chrono ? (f->chrono_len < sizeof spec - 1 ? f->chrono_len : sizeof spec - 1) : 5;
    memcpy(spec, f->chrono ? f->chrono : "%F %T", sl);
    spec[sl] = '\0';
    int64_t sec = ns / 1000000000 - (ns % 1000000000 < 0);
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return 0;
    return strftime(out, FMT_BODY_MAX, spec, &tm);
}

/* An integer argument (a width or a precision); -1 when it is none or negative. */
static int arg_count(const struct render_arg *args, int nargs, int i)
{
    if (i < 0 || i >= nargs || !arg_is_integer(args[i].type))
        return -1;
    int64_t v = arg_is_signed(args[i].type) ? args[i].v.i : (int64_t)(args[i].v.u > INT64_MAX ? INT64_MAX : args[i].v.u);
    return v < 0 ? -1 : v > RENDER_STR_MAX_WIDTH ? RENDER_STR_MAX_WIDTH : (int)v;
}

static void put_fill(struct render_buf *out, enum esc_mode esc, const struct fmtspec *f, size_t n)
{
    if (f->fill_len == 1 && (esc == ESC_NONE || f->fill[0] == ' ')) {
        render_buf_fill(out, f->fill[0], n);
        return;
    }
    while (n--)
        put_escaped(out, esc, f->fill, f->fill_len);
}

void render_fmtspec_value(struct render_buf *out, const struct fmtspec *f, const struct render_arg *args, int nargs,
                          int arg, const char *names, enum esc_mode esc)
{
    const struct render_arg *a = &args[arg];
    int width = f->width_arg >= 0 ? arg_count(args, nargs, f->width_arg) : f->width;
    int prec = f->prec_arg >= 0 ? arg_count(args, nargs, f->prec_arg) : f->prec;
    if (a->type != SHMLOG_ARG_STR) { /* a string's may reach the longest a record holds (the parse's cap) */
        width = width > RENDER_FMT_MAX_WIDTH ? RENDER_FMT_MAX_WIDTH : width;
        prec = prec > RENDER_FMT_MAX_WIDTH ? RENDER_FMT_MAX_WIDTH : prec;
    }
    char body[FMT_BODY_MAX];
    const char *text = body;
    size_t n = 0, digits_at = 0;
    char align = 'l'; /* fmt's side for text, bools, characters and chrono */
    int numeric = 0;
    if (f->what == 't') {
        n = fmt_time(body, f, a->v.i);
    } else if (f->what == 'd') {
        if (f->chrono) {
            n = fmt_duration_chrono(body, f, a);
        } else {
            struct fmtspec plain = *f; /* the count as {} prints it, fixed with a precision */
            plain.sign = 0;
            plain.hash = 0;
            plain.type = prec >= 0 ? 'f' : 'g'; /* fmt 9's, for a floating count */
            n = a->type == SHMLOG_ARG_F32 || a->type == SHMLOG_ARG_F64
                    ? fmt_double(body, &plain, a->v.f, a->type == SHMLOG_ARG_F32, prec)
                    : fmt_integer(body, &plain, a->v.u, arg_is_signed(a->type), &digits_at);
            memcpy(body + n, f->unit, f->unit_len);
            n += f->unit_len;
        }
    } else if (names && !f->type && arg_is_integer(a->type) &&
               render_enum_name_of(names, arg_is_signed(a->type) ? a->v.i : (int64_t)a->v.u, &text, &n)) {
        /* a SHMLOG_ENUM value's name, as text */
    } else if (a->type == SHMLOG_ARG_STR) {
        text = (const char *)a->v.s;
        n = a->str_len;
        const void *nul = memchr(text, '\0', n);
        if (nul)
            n = (size_t)((const char *)nul - text);
        if (prec >= 0)
            n = first_code_points(text, n, (size_t)prec);
    } else if (a->type == SHMLOG_ARG_F32 || a->type == SHMLOG_ARG_F64) {
        n = fmt_double(body, f, a->v.f, a->type == SHMLOG_ARG_F32, prec);
        numeric = 1;
        align = 'r';
        digits_at = n && (body[0] == '-' || body[0] == '+' || body[0] == ' ');
        if (!isfinite(a->v.f)) { /* fmt 9: inf and nan on the left, on the right in spaces where 0 asked for zeros */
            numeric = 0;
            align = f->zero ? 'r' : 'l';
        }
    } else if (a->type == SHMLOG_ARG_PTR) {
        struct fmtspec hex = *f;
        hex.type = 'x';
        hex.hash = 1;
        n = fmt_integer(body, &hex, a->v.u, 0, &digits_at);
        numeric = 1;
        align = 'r';
    } else if ((a->type == SHMLOG_ARG_BOOL && (!f->type || f->type == 's')) ||
               (f->what == 'c' && (!f->type || f->type == 'c'))) {
        if (a->type == SHMLOG_ARG_BOOL) {
            text = a->v.u ? "true" : "false";
            n = a->v.u ? 4 : 5;
        } else {
            body[0] = (char)a->v.u;
            n = 1;
        }
    } else if (arg_is_integer(a->type)) {
        n = fmt_integer(body, f, a->v.u, arg_is_signed(a->type), &digits_at);
        numeric = f->type != 'c';
        align = 'r';
    } else {
        render_buf_puts(out, "<bad argument>");
        return;
    }
    size_t cols = code_points(text, n);
    size_t pad = width > 0 && (size_t)width > cols ? (size_t)width - cols : 0;
    if (f->zero && numeric && !f->align) { /* zeros after the sign and the prefix */
        put_escaped(out, esc, text, digits_at);
        render_buf_fill(out, '0', pad);
        put_escaped(out, esc, text + digits_at, n - digits_at);
        return;
    }
    char side = f->align ? f->align : align == 'r' ? '>' : '<';
    size_t before = side == '>' ? pad : side == '^' ? pad / 2 : 0;
    put_fill(out, esc, f, before);
    put_escaped(out, esc, text, n);
    put_fill(out, esc, f, pad - before);
}
