/*
 * Description: fuzzes the argument decoder, the printf-compatible formatter and
 * the text / JSON Lines renderer (render/render*.c), with render.h's promises as
 * oracles, and compares the formatter with glibc printf on valid formats.
 *
 * Input: byte 0 bit 0 chooses the mode.
 *   0 hostile  a site and a record as any file or segment could hold them:
 *              header fields (any flags but the decoder's own SHM_REC_VALUES),
 *              16 raw argument types, then "fmt\0file\0payload";
 *              with byte 0 bit 1, "fmt\0file\0func\0desc\0payload" (the site's
 *              function and its arguments' descriptor, SHMLOG_ENUM's names).
 *              Checks: decoded arguments lie in the payload, nothing
 *              overflows RENDER_LINE_MAX, a small buffer gets a prefix
 *              of the full output, every JSON line parses, every text line is
 *              one line of printable UTF-8, shortest doubles read back exactly.
 *   1 printf   the input drives a generator of valid formats whose arguments
 *              match their conversions (flags, width, precision, '*', length
 *              modifiers, every type) and of the payload a producer would have
 *              written; render_format must print exactly what snprintf prints.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "render.h"

static char line_buf[RENDER_LINE_MAX];
static char small_buf[RENDER_FMT_MAX_WIDTH + 1];
static struct shm_site site;
static struct shm_copied_record rec;

/* Takes bytes up to (not including) the next NUL, at most max; skips the NUL. */
static size_t take_cstring(struct fz_in *in, char *out, size_t max)
{
    const uint8_t *nul = memchr(in->p, 0, in->n);
    size_t len = nul ? (size_t)(nul - in->p) : in->n;
    size_t keep = len < max ? len : max;
    memcpy(out, in->p, keep);
    out[keep] = '\0';
    size_t used = nul ? len + 1 : len;
    in->p += used;
    in->n -= used;
    return keep;
}

static void check_args(const struct render_arg *args, int nargs, const uint8_t *payload, size_t plen)
{
    for (int i = 0; i < nargs; i++) {
        const struct render_arg *a = &args[i];
        FZ_CHECK(a->type == site.arg_types[i]);
        if (a->type == SHMLOG_ARG_STR) {
            FZ_CHECK(a->v.s >= payload && a->v.s + a->str_len <= payload + plen);
            continue;
        }
        unsigned bits = 8 * shmlog_arg_width(a->type);
        FZ_CHECK(bits > 0);
        if (bits == 64 || a->type == SHMLOG_ARG_F32 || a->type == SHMLOG_ARG_F64)
            continue;
        int is_signed = a->type == SHMLOG_ARG_I8 || a->type == SHMLOG_ARG_I16 || a->type == SHMLOG_ARG_I32;
        if (is_signed)
            FZ_CHECK(a->v.i >= -(INT64_C(1) << (bits - 1)) && a->v.i < (INT64_C(1) << (bits - 1)));
        else
            FZ_CHECK(a->v.u < (UINT64_C(1) << bits));
    }
}

/* The formatter's output into a buffer of cap bytes is the first cap bytes of
 * its full output, and says it overflowed exactly when the full one is longer. */
static void check_truncation(const char *fmt, const struct render_arg *args, int nargs, size_t cap)
{
    struct render_buf full, small;
    render_buf_init(&full, line_buf, sizeof line_buf);
    render_format(fmt, args, nargs, &full);
    FZ_CHECK(!full.overflow);
    render_buf_init(&small, small_buf, cap);
    render_format(fmt, args, nargs, &small);
    FZ_CHECK(small.len <= cap);
    FZ_CHECK(small.overflow == (full.len > cap));
    FZ_CHECK(small.len == (full.len < cap ? full.len : cap));
    FZ_CHECK(memcmp(small.data, full.data, small.len) == 0);
}

static void check_json_values(const char *fmt, const struct render_arg *args, int nargs)
{
    struct render_buf b;
    render_buf_init(&b, line_buf, sizeof line_buf);
    render_json_fields(fmt, args, nargs, &b);
    FZ_CHECK(!b.overflow && b.len > 0 && b.data[0] == '{' && fz_json_valid(b.data, b.len));
    for (int i = 0; i < nargs; i++) {
        render_buf_init(&b, line_buf, sizeof line_buf);
        render_json_arg(&b, &args[i]);
        FZ_CHECK(!b.overflow && fz_json_valid(b.data, b.len));
    }
}

static void check_double(double v, int is_f32)
{
    char text[64];
    struct render_buf b;
    render_buf_init(&b, text, sizeof text - 1);
    render_json_double(&b, v, is_f32);
    FZ_CHECK(!b.overflow && fz_json_valid(b.data, b.len));
    text[b.len] = '\0';
    if (!isfinite(v)) {
        FZ_CHECK(strcmp(text, "null") == 0);
        return;
    }
    /* Shortest round trip: the text reads back as the same value. */
    double back = strtod(text, NULL);
    if (is_f32)
        FZ_CHECK((float)back == (float)v && signbit(back) == signbit(v));
    else
        FZ_CHECK(memcmp(&back, &v, sizeof v) == 0);
}

static void check_lines(const struct render_input *ri, const struct shm_loss *loss)
{
    struct render_buf b;
    for (int json = 0; json <= 1; json++) {
        render_buf_init(&b, line_buf, sizeof line_buf);
        FZ_CHECK(render_record(ri, json, &b) == 0);
        FZ_CHECK(json ? fz_json_line_valid(b.data, b.len) : fz_text_line_valid(b.data, b.len));
        render_buf_init(&b, line_buf, sizeof line_buf);
        FZ_CHECK(render_loss(ri, loss, json, &b) == 0);
        FZ_CHECK(json ? fz_json_line_valid(b.data, b.len) : fz_text_line_valid(b.data, b.len));
    }
}

static void run_hostile(struct fz_in *in, int with_desc)
{
    static char app[SHMLOG_APP_BYTES], host[SHMLOG_HOST_BYTES];
    memset(&site, 0, sizeof site);
    memset(&rec, 0, sizeof rec);
    site.id = fz_u32(in);
    site.line = fz_u32(in);
    site.level = fz_u8(in);
    site.category = fz_u8(in);
    site.nargs = fz_u8(in);
    fz_bytes(in, site.arg_types, SHMLOG_MAX_ARGS);
    rec.level = fz_u8(in);
    rec.category = fz_u8(in);
    /* Any flags a file's record can carry: SHM_REC_VALUES is the decoder's own (a file's is cleared, a
     * ring's rejected), set only on values it laid out, so no hostile record reaches a renderer with it. */
    rec.flags = fz_u8(in) & ~SHM_REC_VALUES;
    rec.nslots = fz_u8(in);
    rec.tid = fz_u32(in);
    rec.pos = fz_u64(in);
    rec.site = site.id;
    uint16_t declared_len = fz_u16(in);
    size_t small_cap = fz_u16(in) % (sizeof small_buf + 1);
    uint64_t ts_ns = fz_u64(in);
    uint32_t cpu = fz_u32(in), pid = fz_u32(in);
    struct shm_loss loss = {fz_u64(in), fz_u64(in), fz_u64(in), fz_u8(in)};
    take_cstring(in, app, sizeof app - 1);
    take_cstring(in, host, sizeof host - 1);
    site.fmt_len = (uint32_t)take_cstring(in, site.fmt, SHMLOG_MAX_FMT_BYTES);
    site.file_len = (uint32_t)take_cstring(in, site.file, SHMLOG_MAX_FILE_BYTES);
    if (with_desc) {
        site.func_len = (uint32_t)take_cstring(in, site.func, SHMLOG_MAX_FUNC_BYTES);
        site.desc_len = (uint32_t)take_cstring(in, site.desc, SHMLOG_MAX_DESC_BYTES);
    }
    size_t plen = fz_bytes(in, rec.payload, sizeof rec.payload);
    /* A record from a ring declares its slots' capacity; from a file, what its
     * arguments use; a hostile one anything. */
    rec.payload_len = declared_len & 1 ? (uint16_t)plen : declared_len >> 1;

    struct render_arg args[SHMLOG_MAX_ARGS];
    int nargs = render_decode_args(&site, rec.payload, plen, args);
    FZ_CHECK(nargs == -1 || (nargs == site.nargs && nargs <= (int)SHMLOG_MAX_ARGS));
    if (nargs >= 0) {
        check_args(args, nargs, rec.payload, plen);
        check_truncation(site.fmt, args, nargs, small_cap);
        check_json_values(site.fmt, args, nargs);
    }
    /* Any formatter input at all: a negative count means no arguments. */
    check_truncation(site.fmt, args, -1, small_cap);

    double d;
    uint64_t bits = 0;
    memcpy(&bits, rec.payload, plen < 8 ? plen : 8);
    memcpy(&d, &bits, sizeof d);
    check_double(d, 0);
    float f;
    uint32_t fbits = (uint32_t)bits;
    memcpy(&f, &fbits, sizeof f);
    check_double(f, 1);

    struct render_input ri = {app, host, pid, cpu, ts_ns, &site, &rec, NULL, NULL};
    check_lines(&ri, &loss);
    ri.site = NULL; /* a record whose site is unknown */
    ri.app = NULL;
    ri.host = NULL;
    check_lines(&ri, &loss);
}

/* ==== printf mode: valid formats, compared with glibc ==== */

/* One argument as C passes it to printf. */
struct cval {
    enum { CV_INT, CV_UINT, CV_LL, CV_ULL, CV_DOUBLE, CV_LDOUBLE, CV_STR, CV_PTR } kind;
    long long i;
    unsigned long long u;
    double d;
    const char *s;
};

#define FMT_ONE(value)                                                                          \
    (nstar == 0 ? snprintf(dst, cap, spec, value)                                               \
     : nstar == 1 ? snprintf(dst, cap, spec, star[0], value)                                    \
                  : snprintf(dst, cap, spec, star[0], star[1], value))

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
/* glibc's rendering of one conversion (with nstar '*' values before it). */
static int glibc_one(char *dst, size_t cap, const char *spec, int nstar, const int star[2], const struct cval *v)
{
    switch (v->kind) {
    case CV_INT: return FMT_ONE((int)v->i);
    case CV_UINT: return FMT_ONE((unsigned)v->u);
    case CV_LL: return FMT_ONE(v->i);
    case CV_ULL: return FMT_ONE(v->u);
    case CV_DOUBLE: return FMT_ONE(v->d);
    case CV_LDOUBLE: return FMT_ONE((long double)v->d);
    case CV_STR: return FMT_ONE(v->s);
    case CV_PTR: return FMT_ONE((void *)(uintptr_t)v->u);
    }
    return -1;
}
#pragma GCC diagnostic pop

struct gen {
    struct fz_in *in;
    size_t fmt_len;
    uint8_t payload[SHMLOG_MAX_PAYLOAD];
    size_t plen;
    char expect[RENDER_LINE_MAX / 2];
    size_t elen;
};

static int gen_has_room(const struct gen *g, unsigned args, size_t payload_bytes)
{
    return site.nargs + args <= SHMLOG_MAX_ARGS && g->plen + payload_bytes <= SHMLOG_MAX_PAYLOAD &&
           g->fmt_len + 48 < SHMLOG_MAX_FMT_BYTES;
}

static void gen_fmt(struct gen *g, const char *s, size_t n)
{
    memcpy(site.fmt + g->fmt_len, s, n);
    g->fmt_len += n;
    site.fmt[g->fmt_len] = '\0';
}

static void gen_arg(struct gen *g, unsigned type, uint64_t bits)
{
    unsigned w = shmlog_arg_width(type);
    for (unsigned k = 0; k < w; k++)
        g->payload[g->plen++] = (uint8_t)(bits >> (8 * k));
    site.arg_types[site.nargs++] = (uint8_t)type;
}

/* A width or precision: small mostly, up to the formatter's limit sometimes. */
static int gen_number(struct fz_in *in)
{
    uint8_t b = fz_u8(in);
    return b & 0x80 ? (int)(fz_u16(in) % (RENDER_FMT_MAX_WIDTH + 1)) : b & 0x3f;
}

/* Appends one conversion and its argument(s) to the format, the payload and
 * the expected text. Returns 0 when there was no room for it. */
static int gen_conversion(struct gen *g, unsigned klass)
{
    struct fz_in *in = g->in;
    static const char int_conv[] = "diouxXc", float_conv[] = "fFeEgGaA";
    static const char *const long_len[] = {"l", "ll", "j", "z", "t", "q"};
    static const char *const short_len[] = {"", "h", "hh"};
    static const char *const float_len[] = {"", "l", "L"};
    unsigned flag_bits = fz_u8(in);
    unsigned shape = fz_u8(in); /* bit 0: width, 1: precision, 2: '*' width, 3: '*' precision */
    char conv;
    const char *length = "";
    const char *allowed_flags;
    unsigned type;
    struct cval v;
    memset(&v, 0, sizeof v);
    char str[SHMLOG_MAX_PAYLOAD + 1];
    size_t str_len = 0;
    int allow_prec = 1;

    switch (klass) {
    case 0: { /* integers */
        type = SHMLOG_ARG_BOOL + fz_u8(in) % (SHMLOG_ARG_U64 - SHMLOG_ARG_BOOL + 1);
        conv = int_conv[fz_u8(in) % (sizeof int_conv - 1)];
        unsigned w = shmlog_arg_width(type);
        uint64_t raw = fz_u64(in);
        if (w < 8)
            raw &= (UINT64_C(1) << (8 * w)) - 1;
        int is_signed_type = type == SHMLOG_ARG_I8 || type == SHMLOG_ARG_I16 || type == SHMLOG_ARG_I32 ||
                             type == SHMLOG_ARG_I64;
        /* The value as the producer's C argument was: sign- or zero-extended. */
        long long value = (long long)raw;
        if (is_signed_type && w < 8 && (raw >> (8 * w - 1)) & 1)
            value = (long long)(raw | ~((UINT64_C(1) << (8 * w)) - 1));
        if (conv == 'c' && w == 8)
            conv = 'd'; /* %c takes an int */
        int is_signed_conv = conv == 'd' || conv == 'i';
        if (conv == 'c') {
            allowed_flags = "-";
            allow_prec = 0;
            v.kind = CV_INT;
            v.i = (int)value;
        } else if (w == 8) {
            length = long_len[fz_u8(in) % 6];
            allowed_flags = is_signed_conv ? "-+ 0'" : conv == 'u' ? "-+ 0'" : "-+ #0";
            v.kind = is_signed_conv ? CV_LL : CV_ULL;
            v.i = value;
            v.u = (unsigned long long)value;
        } else {
            length = short_len[fz_u8(in) % 3];
            allowed_flags = is_signed_conv ? "-+ 0'" : conv == 'u' ? "-+ 0'" : "-+ #0";
            v.kind = is_signed_conv ? CV_INT : CV_UINT;
            v.i = (int)value;
            v.u = (unsigned)value;
        }
        if (!gen_has_room(g, 3, 16))
            return 0;
        break;
    }
    case 1: { /* floating point */
        type = fz_u8(in) & 1 ? SHMLOG_ARG_F32 : SHMLOG_ARG_F64;
        conv = float_conv[fz_u8(in) % (sizeof float_conv - 1)];
        length = float_len[fz_u8(in) % 3];
        allowed_flags = "-+ #0'";
        uint64_t raw = fz_u64(in);
        if (type == SHMLOG_ARG_F32) {
            raw &= 0xffffffffu;
            float f;
            uint32_t fb = (uint32_t)raw;
            memcpy(&f, &fb, sizeof f);
            v.d = f;
        } else {
            memcpy(&v.d, &raw, sizeof v.d);
        }
        v.kind = length[0] == 'L' ? CV_LDOUBLE : CV_DOUBLE;
        if (!gen_has_room(g, 3, 16))
            return 0;
        break;
    }
    case 2: { /* strings, NUL bytes included: printf stops at them */
        type = SHMLOG_ARG_STR;
        conv = 's';
        allowed_flags = "-";
        if (!gen_has_room(g, 3, 10))
            return 0;
        size_t room = SHMLOG_MAX_PAYLOAD - g->plen - 10;
        size_t want = fz_u8(in) % (room + 1);
        fz_span(in, want, &str_len);
        memcpy(str, in->p - str_len, str_len);
        str[str_len] = '\0';
        v.kind = CV_STR;
        v.s = str;
        break;
    }
    default: /* pointers */
        type = SHMLOG_ARG_PTR;
        conv = 'p';
        allowed_flags = "-";
        allow_prec = 0;
        v.kind = CV_PTR;
        v.u = fz_u64(in);
        if (!gen_has_room(g, 3, 16))
            return 0;
        break;
    }

    char spec[48];
    size_t n = 0;
    int star[2];
    int nstar = 0;
    spec[n++] = '%';
    for (unsigned i = 0; allowed_flags[i]; i++)
        if (flag_bits & (1u << i))
            spec[n++] = allowed_flags[i];
    if (shape & 4) {
        spec[n++] = '*';
        int w = gen_number(in);
        star[nstar++] = fz_u8(in) & 1 ? -w : w; /* negative: left-justified */
    } else if (shape & 1) {
        n += (size_t)snprintf(spec + n, sizeof spec - n, "%d", gen_number(in));
    }
    if (allow_prec && (shape & 8)) {
        memcpy(spec + n, ".*", 2);
        n += 2;
        int p = gen_number(in);
        star[nstar++] = fz_u8(in) & 1 ? -1 - (p & 7) : p; /* negative: as if omitted */
    } else if (allow_prec && (shape & 2)) {
        n += (size_t)snprintf(spec + n, sizeof spec - n, ".%d", gen_number(in));
    }
    size_t len_n = strlen(length);
    memcpy(spec + n, length, len_n);
    n += len_n;
    spec[n++] = conv;
    spec[n] = '\0';

    for (int i = 0; i < nstar; i++)
        gen_arg(g, SHMLOG_ARG_I32, (uint32_t)star[i]);
    if (type == SHMLOG_ARG_STR) {
        uint16_t hdr = (uint16_t)(str_len | (fz_u8(in) & 1 ? SHMLOG_STR_TRUNCATED : 0));
        g->payload[g->plen++] = (uint8_t)hdr;
        g->payload[g->plen++] = (uint8_t)(hdr >> 8);
        memcpy(g->payload + g->plen, str, str_len);
        g->plen += str_len;
        site.arg_types[site.nargs++] = SHMLOG_ARG_STR;
    } else if (type == SHMLOG_ARG_F32 || type == SHMLOG_ARG_F64) {
        uint64_t bits;
        if (type == SHMLOG_ARG_F32) {
            float f = (float)v.d;
            uint32_t fb;
            memcpy(&fb, &f, sizeof fb);
            bits = fb;
        } else {
            memcpy(&bits, &v.d, sizeof bits);
        }
        gen_arg(g, type, bits);
    } else {
        gen_arg(g, type, v.kind == CV_ULL || v.kind == CV_UINT || v.kind == CV_PTR ? v.u : (uint64_t)v.i);
    }
    gen_fmt(g, spec, n);
    int k = glibc_one(g->expect + g->elen, sizeof g->expect - g->elen, spec, nstar, star, &v);
    FZ_CHECK(k >= 0 && (size_t)k < sizeof g->expect - g->elen);
    g->elen += (size_t)k;
    return 1;
}

static void run_printf(struct fz_in *in)
{
    static struct gen g;
    memset(&site, 0, sizeof site);
    g.in = in;
    g.fmt_len = g.plen = g.elen = 0;
    site.fmt[0] = '\0';
    while (in->n > 0) {
        unsigned op = fz_u8(in) % 8;
        if (op == 0) { /* literal text: any bytes but '%' and NUL */
            size_t len;
            const uint8_t *lit = fz_span(in, fz_u8(in) % 24, &len);
            if (g.fmt_len + len + 48 >= SHMLOG_MAX_FMT_BYTES)
                break;
            for (size_t i = 0; i < len; i++) {
                char ch = lit[i] == '%' || lit[i] == 0 ? '_' : (char)lit[i];
                gen_fmt(&g, &ch, 1);
                g.expect[g.elen++] = ch;
            }
        } else if (op == 1) {
            if (g.fmt_len + 48 >= SHMLOG_MAX_FMT_BYTES)
                break;
            gen_fmt(&g, "%%", 2);
            g.expect[g.elen++] = '%';
        } else if (!gen_conversion(&g, (op - 2) % 4)) {
            break;
        }
    }
    site.fmt_len = (uint32_t)g.fmt_len;

    struct render_arg args[SHMLOG_MAX_ARGS];
    int nargs = render_decode_args(&site, g.payload, g.plen, args);
    FZ_CHECK(nargs == site.nargs);
    struct render_buf out;
    render_buf_init(&out, line_buf, sizeof line_buf);
    render_format(site.fmt, args, nargs, &out);
    if (out.len != g.elen || memcmp(out.data, g.expect, g.elen) != 0) {
        fprintf(stderr, "format: \"%s\"\nglibc:  \"%.*s\"\nshmlog: \"%.*s\"\n", site.fmt, (int)g.elen, g.expect,
                (int)out.len, out.data);
        FZ_CHECK(!"render_format differs from glibc printf");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct fz_in in = {data + 1, size - 1};
    if (data[0] & 1)
        run_printf(&in);
    else
        run_hostile(&in, data[0] & 2);
    return 0;
}
