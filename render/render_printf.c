/*
 * render_printf.c - our printf-compatible formatter: each conversion rendered
 * from the argument types the call site registered, never by handing a format
 * string to the printf family. Integers, strings, characters and pointers are
 * formatted here; a floating-point conversion is either formatted here (%f
 * with precision <= 19, exactly) or handed to snprintf as a spec we build from
 * validated parts, with exactly one double. The message of a record comes
 * from a format walked now (render_msg) or from a site's prepared items
 * (render_put_prepared_msg, the fast paths render_site.c chose).
 */
#include "render_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ==== Formatting conversions ==== */

/* Pads body (sign/prefix first, then zeros or body) to width, like printf. */
static void put_padded(struct render_buf *out, const struct fmt_spec *sp, int width, const char *prefix,
                       size_t prefix_len, size_t zeros, const char *body, size_t body_len, int zero_pad)
{
    size_t total = prefix_len + zeros + body_len;
    size_t pad = width > 0 && (size_t)width > total ? (size_t)width - total : 0;
    if (pad && !(sp->flags & FL_MINUS) && !zero_pad)
        render_buf_fill(out, ' ', pad);
    render_buf_put(out, prefix, prefix_len);
    if (pad && !(sp->flags & FL_MINUS) && zero_pad)
        render_buf_fill(out, '0', pad);
    render_buf_fill(out, '0', zeros);
    render_buf_put(out, body, body_len);
    if (pad && (sp->flags & FL_MINUS))
        render_buf_fill(out, ' ', pad);
}

/* d i u o x X and non-null p. value: the argument's 64 bits, already cut to
 * the conversion's width and extended by its signedness. */
void render_format_integer(struct render_buf *out, const struct fmt_spec *sp, int width, int prec,
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

uint64_t render_cut_to_length(uint64_t v, enum fmt_length length, int is_signed)
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

static void format_double(struct render_buf *out, const struct fmt_spec *sp, int width, int prec, double v,
                          char conv)
{
    u128 q;
    if ((conv == 'f' || conv == 'F') && fixed_round(v, prec < 0 ? 6 : prec, &q) == 0) {
        char body[96];
        struct render_buf b;
        int p = prec < 0 ? 6 : prec;
        char sign[1];
        size_t sign_len = 0;
        render_buf_init(&b, body, sizeof body);
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
    struct render_buf s;
    render_buf_init(&s, spec, sizeof spec - 1);
    render_buf_putc(&s, '%');
    if (sp->flags & FL_MINUS) render_buf_putc(&s, '-');
    if (sp->flags & FL_PLUS) render_buf_putc(&s, '+');
    if (sp->flags & FL_SPACE) render_buf_putc(&s, ' ');
    if (sp->flags & FL_HASH) render_buf_putc(&s, '#');
    if (sp->flags & FL_ZERO) render_buf_putc(&s, '0');
    if (width > 0)
        render_buf_u64(&s, (uint64_t)width);
    if (prec >= 0) {
        render_buf_putc(&s, '.');
        render_buf_u64(&s, (uint64_t)prec);
    }
    /* %La prints a long double's 64-bit mantissa: hand over the long double
     * the producer had (it narrowed it to this double without loss of what
     * we know). */
    int as_long_double = sp->length == LEN_BIG_L;
    if (as_long_double)
        render_buf_putc(&s, 'L');
    render_buf_putc(&s, conv);
    spec[s.len] = '\0';

    /* Widest case: %f of DBL_MAX (309 digits) with precision and width 4096. */
    char tmp[2 * RENDER_FMT_MAX_WIDTH + 512];
    int n = as_long_double ? snprintf(tmp, sizeof tmp, spec, (long double)v) : snprintf(tmp, sizeof tmp, spec, v);
    if (n < 0)
        return;
    render_buf_put(out, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* %c and %s and (nil): bytes padded with spaces, as glibc does even with '0'.
 * The width counts the bytes as printf would; escaping comes after. */
static void format_bytes(struct render_buf *out, const struct fmt_spec *sp, int width, const void *s, size_t n,
                         enum esc_mode esc)
{
    size_t pad = width > 0 && (size_t)width > n ? (size_t)width - n : 0;
    if (!(sp->flags & FL_MINUS))
        render_buf_fill(out, ' ', pad);
    put_escaped(out, esc, s, n);
    if (sp->flags & FL_MINUS)
        render_buf_fill(out, ' ', pad);
}

/* "%<length><conv>" of a spec, the conversion byte shown as \xNN when it
 * is not printable; escaped as the message is (it may be a quote). */
static void put_error_spec(struct render_buf *out, const struct fmt_spec *sp, enum esc_mode esc)
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
    render_buf_putc(out, '%');
    render_buf_put(out, sp->length_text, sp->length_len);
    put_escaped(out, esc, shown, n);
}

static void put_bad_type(struct render_buf *out, const struct fmt_spec *sp, unsigned type, enum esc_mode esc)
{
    render_buf_puts(out, "<bad ");
    put_error_spec(out, sp, esc);
    render_buf_puts(out, " for ");
    render_buf_puts(out, render_arg_type_name(type));
    render_buf_putc(out, '>');
}

/* A '*' argument: printf reads an int. 0, or -1 after rendering an error. */
static int star_value(struct render_buf *out, const struct render_arg *args, int idx, int64_t *v)
{
    if (idx == ARG_MISSING) {
        render_buf_puts(out, "<missing arg>");
        return -1;
    }
    if (star_int(&args[idx], v) < 0) {
        render_buf_puts(out, "<bad * for ");
        render_buf_puts(out, render_arg_type_name(args[idx].type));
        render_buf_putc(out, '>');
        return -1;
    }
    return 0;
}

static void format_spec(struct render_buf *out, const struct fmt_spec *sp, const struct render_arg *args,
                        enum esc_mode esc)
{
    switch (sp->error) {
    case SPEC_INCOMPLETE: render_buf_puts(out, "<incomplete %>"); return;
    case SPEC_POSITIONAL: render_buf_puts(out, "<positional args unsupported>"); return;
    case SPEC_WIDTH_LARGE: render_buf_puts(out, "<width too large>"); return;
    case SPEC_PREC_LARGE: render_buf_puts(out, "<precision too large>"); return;
    case SPEC_OK: break;
    }
    if (sp->conv == '%') {
        render_buf_putc(out, '%');
        return;
    }
    if (sp->conv == 'n') {
        render_buf_puts(out, "<%n refused>");
        return;
    }
    if (sp->conv == 'm') {
        render_buf_puts(out, "<%m unsupported>");
        return;
    }
    if (!render_takes_value(sp->conv)) {
        render_buf_puts(out, "<bad conversion ");
        put_error_spec(out, sp, esc);
        render_buf_putc(out, '>');
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
        if (star > render_max_width(sp->conv)) {
            render_buf_puts(out, "<width too large>");
            return;
        }
        width = (int)star;
    }
    if (sp->prec_arg != ARG_NONE) {
        if (star_value(out, args, sp->prec_arg, &star) < 0)
            return;
        if (sp->conv != 's' && star > RENDER_FMT_MAX_WIDTH) {
            render_buf_puts(out, "<precision too large>");
            return;
        }
        prec = star < 0 ? -1 : (int)star;
    }
    if (eff.flags & FL_MINUS)
        eff.flags &= ~(unsigned)FL_ZERO;
    if (eff.flags & FL_PLUS)
        eff.flags &= ~(unsigned)FL_SPACE;
    if (sp->value_arg == ARG_MISSING) {
        render_buf_puts(out, "<missing arg>");
        return;
    }

    const struct render_arg *a = &args[sp->value_arg];
    switch (sp->conv) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X': {
        if (!arg_is_integer(a->type))
            break;
        int is_signed = sp->conv == 'd' || sp->conv == 'i';
        render_format_integer(out, &eff, width, prec, render_cut_to_length(a->v.u, sp->length, is_signed), is_signed,
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
        if (sp->length != LEN_NONE)
            break;
        if (a->type != SHMLOG_ARG_STR) {
            /* what a C++ {} format made of a bool, a float or a pointer: as wide as a number may be */
            if (width > RENDER_FMT_MAX_WIDTH) {
                render_buf_puts(out, "<width too large>");
                return;
            }
            char text[40];
            size_t n = render_fmt_value(text, a);
            if (!n)
                break;
            format_bytes(out, &eff, width, text, n, ESC_NONE);
            return;
        }
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
            render_format_integer(out, &eff, width, prec, a->v.u, 0, 'p');
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

/* ==== The message of a format walked now ==== */

/* An argument the format did not use, shown after the message. */
static void put_extra_arg(struct render_buf *out, const struct render_arg *a, enum esc_mode esc)
{
    switch (a->type) {
    case SHMLOG_ARG_BOOL:
        render_buf_puts(out, a->v.u ? "true" : "false");
        break;
    case SHMLOG_ARG_I8: case SHMLOG_ARG_I16: case SHMLOG_ARG_I32: case SHMLOG_ARG_I64:
        render_buf_i64(out, a->v.i);
        break;
    case SHMLOG_ARG_U8: case SHMLOG_ARG_U16: case SHMLOG_ARG_U32: case SHMLOG_ARG_U64:
        render_buf_u64(out, a->v.u);
        break;
    case SHMLOG_ARG_F32: case SHMLOG_ARG_F64:
        if (isnan(a->v.f))
            render_buf_puts(out, "nan");
        else if (isinf(a->v.f))
            render_buf_puts(out, a->v.f < 0 ? "-inf" : "inf");
        else
            render_put_shortest_double(out, a->v.f, a->type == SHMLOG_ARG_F32);
        break;
    case SHMLOG_ARG_PTR:
        render_buf_puts(out, "0x");
        render_buf_hex64(out, a->v.u);
        break;
    case SHMLOG_ARG_STR:
        put_escaped(out, esc, "\"", 1);
        put_escaped(out, esc, a->v.s, a->str_len);
        put_escaped(out, esc, "\"", 1);
        break;
    default:
        render_buf_puts(out, "?");
        break;
    }
}

/* " <extra: ...>" for the arguments from..nargs the format did not use. */
static void put_extras(struct render_buf *out, const struct render_arg *args, int from, int nargs, enum esc_mode esc)
{
    if (from >= nargs)
        return;
    render_buf_puts(out, " <extra: ");
    for (int i = from; i < nargs; i++) {
        if (i > from)
            render_buf_puts(out, ", ");
        put_extra_arg(out, &args[i], esc);
    }
    render_buf_putc(out, '>');
}

/* Renders fmt with args into out, escaped as esc says; notes the named
 * fields in fields when it is not NULL. */
void render_msg(const char *fmt, const struct render_arg *args, int nargs, struct render_buf *out,
                       enum esc_mode esc, struct field_refs *fields)
{
    struct fmt_walk w;
    struct fmt_spec sp;
    const char *text;
    size_t len;
    enum item_kind kind;

    render_walk_init(&w, fmt, nargs);
    while ((kind = render_walk_next(&w, &sp, &text, &len)) != ITEM_END) {
        if (kind == ITEM_TEXT) {
            put_escaped(out, esc, text, len);
            continue;
        }
        format_spec(out, &sp, args, esc);
        if (fields)
            render_note_field(fields, &sp);
    }
    put_extras(out, args, w.next_arg, w.nargs, esc);
}

void render_format(const char *fmt, const struct render_arg *args, int nargs, struct render_buf *out)
{
    render_msg(fmt, args, nargs, out, ESC_NONE, NULL);
}
/* ==== The message of a prepared site ==== */

/* 1 when one of the n bytes at s is a NUL: word loads, the last overlapping
 * the one before (a word has a zero byte exactly when (w - 0x01..) & ~w &
 * 0x80.. is not 0). */
static inline int has_nul(const uint8_t *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    if (n >= 8) {
        uint64_t w;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, s + i, 8);
            if ((w - ones) & ~w & highs)
                return 1;
        }
        memcpy(&w, s + n - 8, 8);
        return ((w - ones) & ~w & highs) != 0;
    }
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return (((a - (uint32_t)ones) & ~a) | ((b - (uint32_t)ones) & ~b)) & (uint32_t)highs;
    }
    return n && (!s[0] || !s[n / 2] || !s[n - 1]);
}

/* %s of a prepared FAST_STR item. 1 when it showed the whole string. */
static inline __attribute__((always_inline)) int put_str_arg(struct render_buf *out, const struct render_arg *a,
                                                             enum esc_mode esc)
{
    size_t n = a->str_len;
    /* Most strings have nothing to escape (and so no NUL): one pass. */
    if (esc != ESC_NONE ? plain_run(a->v.s, 0, n, esc == ESC_JSON ? render_json_plain : render_text_plain) == n
                        : !has_nul(a->v.s, n)) {
        render_buf_put(out, a->v.s, n);
        return 1;
    }
    const void *nul = memchr(a->v.s, '\0', n);
    if (nul)
        n = (size_t)((const uint8_t *)nul - a->v.s);
    put_escaped(out, esc, a->v.s, n);
    return n == a->str_len;
}

static void memo_bytes(struct arg_memo *memo, uint8_t kind, size_t from, const struct render_buf *out)
{
    if (!memo || out->overflow)
        return;
    memo->kind = kind;
    memo->off = (uint32_t)from;
    memo->len = (uint32_t)(out->len - from);
}

/* Argument arg as fmt's {} prints it inside a struct: a member struct as
 * its members, an empty std::optional as none, a described enum's value as
 * its name, a time as the readers' times, a char as %c does, a string as its
 * bytes. */
static void put_member_value(struct render_buf *out, const struct render_site *sr, const struct render_arg *args,
                             int arg, enum esc_mode esc)
{
    const struct render_arg *a = &args[arg];
    if ((sr->tree_args >> arg & 1u) && a->type == SHMLOG_ARG_STR) {
        render_tree_text(out, a->v.s, a->str_len, esc);
        return;
    }
    if (sr->struct_args >> arg & 1u) {
        render_buf_putc(out, '{');
        for (int k = 0; k < sr->members_n[arg]; k++) {
            const struct prep_member *m = &sr->members[sr->members_from[arg] + k];
            if (k)
                render_buf_put(out, ", ", 2);
            render_buf_put(out, m->name, m->name_len);
            render_buf_putc(out, '=');
            put_member_value(out, sr, args, m->arg, esc); /* a member is after its struct: this ends */
            if (!(sr->present_of[m->arg] && !args[sr->present_of[m->arg] - 1].v.u))
                render_buf_put(out, m->unit, m->unit_len);
        }
        render_buf_putc(out, '}');
        return;
    }
    if (sr->present_of[arg] && !args[sr->present_of[arg] - 1].v.u) {
        render_buf_puts(out, "none");
        return;
    }
    const char *name;
    size_t n;
    char text[48];
    if (sr->enum_of[arg] && a->type >= SHMLOG_ARG_I8 && a->type <= SHMLOG_ARG_U64 &&
        render_enum_name_of(sr->enum_of[arg], a->v.i, &name, &n)) {
        render_buf_put(out, name, n);
    } else if ((sr->time_args >> arg & 1u) && a->type == SHMLOG_ARG_I64 && a->v.i >= 0) {
        struct render_buf t;
        render_buf_init(&t, text, sizeof text);
        t.memo = out->memo; /* the zone the record's time is shown in */
        render_buf_rfc3339(&t, a->v.u);
        render_buf_put(out, text, t.len);
    } else if ((sr->char_args >> arg & 1u) && (a->type == SHMLOG_ARG_I8 || a->type == SHMLOG_ARG_U8)) {
        unsigned char c = (unsigned char)a->v.u;
        put_escaped(out, esc, &c, 1);
    } else if (a->type == SHMLOG_ARG_STR) {
        const void *nul = memchr(a->v.s, '\0', a->str_len);
        put_escaped(out, esc, a->v.s, nul ? (size_t)((const uint8_t *)nul - a->v.s) : a->str_len);
    } else if ((n = render_fmt_value(text, a)) > 0) {
        render_buf_put(out, text, n);
    } else {
        put_extra_arg(out, a, esc);
    }
}

/* A value tree as fmt prints it, padded to the conversion's width (in
 * bytes) on its side, as %s pads. */
static void put_tree_padded(struct render_buf *out, const struct fmt_spec *sp, const struct render_arg *a,
                            enum esc_mode esc)
{
    size_t from = out->len;
    render_tree_text(out, a->v.s, a->str_len, esc);
    size_t n = out->len - from;
    if (sp->width <= 0 || (size_t)sp->width <= n || out->overflow)
        return;
    size_t pad = (size_t)sp->width - n;
    for (size_t k = 0; k < pad; k++)
        render_buf_putc(out, ' ');
    if (out->overflow || (sp->flags & FL_MINUS))
        return;
    memmove(out->data + from + pad, out->data + from, n);
    memset(out->data + from, ' ', pad);
}

/* The value of spec item it; memo (JSON only, or NULL) notes what the
 * fields can reuse. */
static inline __attribute__((always_inline)) void put_item_value(const struct render_site *sr,
                                                                 const struct prep_item *it,
                                                                 const struct render_arg *args,
                                                                 struct render_buf *out, enum esc_mode esc,
                                                                 struct arg_memo *memo)
{
    const struct render_arg *a = &args[it->arg];
    struct arg_memo *m = memo ? &memo[it->arg] : NULL;
    size_t from = out->len;
    if ((unsigned)it->arg < SHMLOG_MAX_ARGS && (sr->struct_args >> it->arg & 1u)) {
        put_member_value(out, sr, args, it->arg, esc); /* {id=7, px=2.5} whatever the conversion */
        return;
    }
    if ((unsigned)it->arg < SHMLOG_MAX_ARGS && (sr->tree_args >> it->arg & 1u) && a->type == SHMLOG_ARG_STR) {
        put_tree_padded(out, &it->spec, a, esc);
        return;
    }
    if (sr->optionals && (unsigned)it->arg < SHMLOG_MAX_ARGS && sr->present_of[it->arg] &&
        !args[sr->present_of[it->arg] - 1].v.u) {
        struct fmt_spec as_text = it->spec;
        as_text.flags &= FL_MINUS; /* an empty std::optional takes the width and its side, as %s does */
        format_bytes(out, &as_text, as_text.width, "none", 4, ESC_NONE);
        return;
    }
    switch (it->fast) {
    case FAST_SIGNED:
        buf_i64(out, (int64_t)a->v.u);
        /* the field of a signed type shows the same digits */
        if (a->type >= SHMLOG_ARG_I8 && a->type <= SHMLOG_ARG_I64 && (a->type & 1) == 0)
            memo_bytes(m, MEMO_COPY, from, out);
        return;
    case FAST_UNSIGNED:
        buf_u64(out, a->v.u);
        if (a->type >= SHMLOG_ARG_U8 && a->type <= SHMLOG_ARG_U64 && (a->type & 1) == 1)
            memo_bytes(m, MEMO_COPY, from, out);
        return;
    case FAST_STR:
        if (put_str_arg(out, a, esc))
            memo_bytes(m, MEMO_STR, from, out);
        return;
    case FAST_FMT:
        render_fmtspec_value(out, sr->fmt_of[it->arg], args, sr->nargs, it->arg, sr->enum_of[it->arg], esc);
        return;
    case FAST_HIDDEN:
        return;
    case FAST_HEX:
        if ((it->spec.flags & FL_HASH) && a->v.u)
            render_buf_put(out, "0x", 2);
        render_buf_hex64(out, a->v.u);
        return;
    case FAST_CHAR: {
        uint8_t ch = (uint8_t)a->v.u;
        if (esc == ESC_NONE || (esc == ESC_JSON ? render_json_plain : render_text_plain)[ch])
            render_buf_putc(out, (char)ch);
        else
            put_escaped(out, esc, &ch, 1);
        return;
    }
    case FAST_INT: {
        const struct fmt_spec *sp = &it->spec;
        int is_signed = sp->conv == 'd' || sp->conv == 'i';
        render_format_integer(out, sp, sp->width, sp->prec, render_cut_to_length(a->v.u, sp->length, is_signed),
                              is_signed, sp->conv == 'i' ? 'd' : sp->conv);
        return;
    }
    case FAST_ENUM: {
        const struct fmt_spec *sp = &it->spec;
        const char *name;
        size_t n;
        int64_t v = (int64_t)render_cut_to_length(a->v.u, sp->length, sp->conv != 'u');
        if (render_enum_name_of(it->names, v, &name, &n)) {
            struct fmt_spec as_text = *sp;
            as_text.flags &= FL_MINUS; /* a name takes the width and its side, as %s does */
            format_bytes(out, &as_text, sp->width, name, n, ESC_NONE);
            return;
        }
        break; /* a value outside the list: its number */
    }
    case FAST_TIME: {
        if (a->v.i < 0)
            break; /* before 1970: its number */
        char text[48];
        struct render_buf t;
        render_buf_init(&t, text, sizeof text);
        t.memo = out->memo; /* the zone the record's time is shown in */
        render_buf_rfc3339(&t, a->v.u);
        struct fmt_spec as_text = it->spec;
        as_text.flags &= FL_MINUS;
        format_bytes(out, &as_text, as_text.width, text, t.len, ESC_NONE);
        return;
    }
    case FAST_FIXED: {
        u128 q;
        if (fixed_round(a->v.f, it->prec, &q) == 0) {
            if (signbit(a->v.f))
                render_buf_putc(out, '-');
            put_fixed(out, q, it->prec, 0);
            if (m && a->type == SHMLOG_ARG_F64) {
                memo_bytes(m, MEMO_FIXED, from, out);
                m->prec = it->prec;
                m->q = q;
            }
            return;
        }
        break; /* not finite, or too large: the general path */
    }
    default:
        break;
    }
    format_spec(out, &it->spec, args, esc);
}

/* The message escaped for a line; inline in render_put_prepared_msg, which gives
 * esc and memo as constants. */
static inline __attribute__((always_inline)) void render_items_as(const struct render_site *sr,
                                                                  const struct render_arg *args,
                                                                  struct render_buf *out, enum esc_mode esc,
                                                                  struct arg_memo *memo)
{
    for (int i = 0; i < sr->nitems; i++) {
        const struct prep_item *it = &sr->items[i];
        if (it->plain)
            put_piece(out, it->text, it->len);
        else
            put_escaped(out, esc, it->text, it->len);
        if (it->kind != PREP_TEXT)
            put_item_value(sr, it, args, out, esc, memo);
    }
    put_extras(out, args, sr->first_extra, sr->nargs, esc);
}

/* Item i of the message alone through the buffer's checked writes: an
 * OP_ITEM, or any op where the output is short of room. */
static __attribute__((noinline)) void put_item_plain(const struct render_site *sr, int i, const struct render_arg *args,
                                                     struct render_buf *out)
{
    const struct prep_item *it = &sr->items[i];
    put_piece(out, it->text, it->len);
    if (it->kind != PREP_TEXT)
        put_item_value(sr, it, args, out, ESC_NONE, NULL);
}

/* Room an op of the message alone may write, but a string's bytes: a piece
 * copy (PIECE_PAD) and a value (a sign and fixed_digits' 41). */
#define OP_ROOM (PIECE_PAD + 48)

/* The arguments of the message program: args, or (vals) the values of rec
 * (SHM_REC_VALUES, of the site's types), read where an op needs them and
 * decoded into fill only when an op takes the general path. */
struct ops_args {
    const struct render_arg *args;
    const struct shm_copied_record *rec;
    struct render_arg *fill;
};

/* args of a values record, decoded once. */
static const struct render_arg *ops_args_all(const struct render_site *sr, struct ops_args *oa)
{
    if (!oa->args) {
        render_decode_args_values(sr, oa->rec, oa->fill);
        oa->args = oa->fill;
    }
    return oa->args;
}

/* The message alone by the site's program (struct prep_op) from op from:
 * the same bytes as render_items_as with ESC_NONE. The output is a local
 * cursor: through out, every byte store would make the compiler load out
 * again. checked: its room is checked before each op; else the caller
 * checked it for every op (sr->ops_room), and the first op that takes the
 * general path ends the run. Returns where it ended. */
static inline __attribute__((always_inline)) int render_ops_from(const struct render_site *sr, struct ops_args *oa,
                                                                 int vals, struct render_buf *out, int from,
                                                                 int checked, unsigned *not_ascii_io)
{
    const struct render_arg *args = oa->args;
    const struct shm_copied_record *rec = oa->rec;
    const struct prep_op *op = sr->ops + from;
    char *d = out->data + out->len, *lim = out->data + out->cap;
    unsigned not_ascii = *not_ascii_io; /* or a string or %c that is not, or the general path taken */
    int i = from, n = sr->nitems; /* n read once: the byte stores below may alias sr */
    for (; i < n; i++, op++) {
        /* an op of a value (OP_SIGNED .. OP_CHAR) has an argument: text and items have none to read */
        int has_value = op->op != OP_TEXT && op->op != OP_ITEM;
        const struct render_arg *a = vals || !has_value ? NULL : &args[op->arg];
        uint64_t v = !has_value ? 0 : vals ? shm_rec_value(rec, op->arg) : a->v.u;
        size_t len = !has_value ? 0 : vals ? v & SHMLOG_STR_LEN_MASK : a->str_len; /* a string's */
        size_t room = (size_t)(lim - d);
        if (checked && (room < OP_ROOM || op->len > PIECE_PAD || (op->op == OP_STR && room - OP_ROOM < len)))
            goto slow;
        /* the text is in the padded arena; what runs past is written over */
        memcpy(d, op->text, 16);
        if (op->len > 16)
            memcpy(d + 16, op->text + 16, PIECE_PAD - 16);
        d += op->len;
        switch (op->op) {
        case OP_TEXT:
            continue;
        case OP_SIGNED: {
            if ((int64_t)v < 0) {
                *d++ = '-';
                v = (uint64_t)0 - v;
            }
            unsigned nd = u64_ndigits(v);
            u64_digits_at(d, v, nd);
            d += nd;
            continue;
        }
        case OP_UNSIGNED: {
            unsigned nd = u64_ndigits(v);
            u64_digits_at(d, v, nd);
            d += nd;
            continue;
        }
        case OP_STR: {
            const uint8_t *src = vals ? shm_rec_str_at(rec, v) : a->v.s;
            if (has_nul(src, len)) {
                d -= op->len; /* put_str_arg cuts the C string */
                break;
            }
            not_ascii |= !render_ascii(src, len);
            if (len <= 16)
                render_copy_small(d, src, len); /* most strings: no call */
            else
                memcpy(d, src, len);
            d += len;
            continue;
        }
        case OP_CHAR:
            not_ascii |= (uint8_t)v >> 7;
            *d++ = (char)(uint8_t)v;
            continue;
        case OP_HEX:
            d = hex_at(d, v, op->prec);
            continue;
        case OP_FIXED: {
            double f;
            if (vals && sr->arg_types[op->arg] == SHMLOG_ARG_F32)
                f = value_f32(v);
            else
                memcpy(&f, &v, sizeof f);
            u128 q;
            if (fixed_round(f, op->prec, &q) == 0 && q <= UINT64_MAX) {
                if (signbit(f))
                    *d++ = '-';
                unsigned prec = (unsigned)op->prec, nd = u64_ndigits((uint64_t)q);
                if (q < 100000000u && nd > prec && prec <= 8) { /* most prices */
                    d = fixed_below_1e8(d, (uint32_t)q, nd, prec);
                    continue;
                }
                d = fixed_digits(d, (uint64_t)q, op->prec, 0);
                continue;
            }
            d -= op->len; /* not finite, or too large: the general path, text and all */
            break;
        }
        default:
            d -= op->len;
            break;
        }
    slow:
        out->len = (size_t)(d - out->data);
        put_item_plain(sr, i, vals ? ops_args_all(sr, oa) : args, out);
        d = out->data + out->len;
        not_ascii = 1;
        if (!checked) {
            i++;
            break; /* it may have written more than the room counted for it */
        }
    }
    out->len = (size_t)(d - out->data);
    *not_ascii_io = not_ascii;
    return i;
}

/* The message alone: unchecked while the output has room for every op
 * (strings: at most the payload's strs bytes), checked from the first op
 * that took the general path, or throughout when it is short. */
static inline __attribute__((always_inline)) void render_ops(const struct render_site *sr, struct ops_args *oa,
                                                             int vals, struct render_buf *out)
{
    unsigned not_ascii = !sr->ops_ascii;
    int i = 0;
    if (sr->ops_direct && out->cap - out->len >= sr->ops_room + oa->rec->payload_len)
        i = render_ops_from(sr, oa, vals, out, 0, 0, &not_ascii);
    if (i < sr->nitems)
        render_ops_from(sr, oa, vals, out, i, 1, &not_ascii);
    if (sr->first_extra < sr->nargs)
        put_extras(out, vals ? ops_args_all(sr, oa) : oa->args, sr->first_extra, sr->nargs, ESC_NONE);
    out->ascii = !not_ascii;
}

void render_msg_values(const struct render_site *sr, const struct shm_copied_record *rec, struct render_buf *out)
{
    struct render_arg fill[SHMLOG_MAX_ARGS];
    struct ops_args oa = {NULL, rec, fill};
    render_ops(sr, &oa, 1, out);
}

/* The message: rendered, or what was wrong with the record. */
void render_put_prepared_msg(const struct render_site *sr, const struct shm_copied_record *rec,
                             const struct render_arg *args, int nargs, struct render_buf *out, enum esc_mode esc,
                             struct arg_memo *memo)
{
    if (!sr->known) {
        render_buf_puts(out, "<unknown site ");
        render_buf_u64(out, rec->site);
        render_buf_putc(out, '>');
    } else if (nargs < 0) {
        render_buf_puts(out, "<corrupt payload: ");
        render_buf_u64(out, rec->payload_len);
        render_buf_puts(out, " bytes do not match the site's argument types>");
    } else if (esc == ESC_NONE && !memo) {
        struct ops_args oa = {args, rec, NULL};
        render_ops(sr, &oa, 0, out); /* the message alone: Arrow's column, the C API's */
    } else {
        render_items_as(sr, args, out, esc, memo);
    }
}
