/*
 * render_tree.c - value trees (a C++ container, tuple, variant, ... carried
 * in a string argument, shmlog_args.h): their text as fmt prints them, and
 * their JSON. The bytes are untrusted: every read is bounds-checked, nesting
 * stops at SHMLOG_TREE_MAX_DEPTH, and a tree that ends early (the payload
 * bound cut it) shows what it holds and how many elements are missing.
 */
#include "render_private.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* An argument as fmt's {} prints it, in text (40 bytes), for the types a {}
 * format turns into %s (bool, floating point, pointer); 0 for any other, which
 * stays a bad argument. */
size_t render_fmt_value(char *text, const struct render_arg *a)
{
    switch (a->type) {
    case SHMLOG_ARG_BOOL:
        memcpy(text, a->v.u ? "true" : "false", 5);
        return a->v.u ? 4 : 5;
    case SHMLOG_ARG_F32: case SHMLOG_ARG_F64:
        return render_fmt_shortest_double(text, a->v.f, a->type == SHMLOG_ARG_F32);
    case SHMLOG_ARG_PTR:
        return (size_t)snprintf(text, 40, "0x%llx", (unsigned long long)a->v.u);
    default:
        return 0;
    }
}

int render_tree_take(struct tree_in *in, void *dst, size_t k)
{
    if (k > in->n - in->off)
        return 0;
    memcpy(dst, in->p + in->off, k);
    in->off += k;
    return 1;
}

int render_tree_take_u32(struct tree_in *in, uint32_t *v)
{
    uint8_t b[4];
    if (!render_tree_take(in, b, 4))
        return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static int take_i64(struct tree_in *in, int64_t *v)
{
    uint8_t b[8];
    if (!render_tree_take(in, b, 8))
        return 0;
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--)
        u = u << 8 | b[k];
    *v = (int64_t)u;
    return 1;
}

int render_tree_take_scalar(struct tree_in *in, unsigned t, struct render_arg *a)
{
    unsigned w = shmlog_arg_width(t);
    uint8_t b[8] = {0};
    if (!w || !render_tree_take(in, b, w))
        return 0;
    uint64_t u = 0;
    for (int k = (int)w - 1; k >= 0; k--)
        u = u << 8 | b[k];
    memset(a, 0, sizeof *a);
    a->type = (uint8_t)t;
    if (t == SHMLOG_ARG_F32) {
        float f;
        uint32_t u32 = (uint32_t)u;
        memcpy(&f, &u32, 4);
        a->v.f = f;
    } else if (t == SHMLOG_ARG_F64) {
        memcpy(&a->v.f, &u, 8);
    } else if (t == SHMLOG_ARG_I8 || t == SHMLOG_ARG_I16 || t == SHMLOG_ARG_I32 || t == SHMLOG_ARG_I64) {
        unsigned shift = 64 - 8 * w;
        a->v.i = (int64_t)(u << shift) >> shift;
    } else {
        a->v.u = u;
    }
    return 1;
}

int render_tree_take_bytes(struct tree_in *in, const uint8_t **s, size_t *len, int *whole)
{
    uint32_t n;
    if (!render_tree_take_u32(in, &n))
        return 0;
    size_t left = in->n - in->off;
    *whole = n <= left;
    *len = *whole ? n : left;
    *s = in->p + in->off;
    in->off += *len;
    return 1;
}

/* A node's tag, unless nesting is past the bound or the tree ends. */
static int take_tag(struct tree_in *in, unsigned depth, uint8_t *tag)
{
    return depth <= SHMLOG_TREE_MAX_DEPTH && render_tree_take(in, tag, 1);
}

/* A string node's bytes; one the tree ends in only at the top (shown cut),
 * not inside a container (the element is missing). */
static int take_string(struct tree_in *in, int nested, const uint8_t **s, size_t *len)
{
    int whole;
    return render_tree_take_bytes(in, s, len, &whole) && (whole || !nested);
}

/* Bytes in double quotes as fmt's debug format writes a string (\n \r \t
 * \" \\, \xNN for other control bytes and bytes that are not UTF-8), or
 * single quotes for a char (\' escaped, " not). */
static void put_quoted(struct render_buf *out, enum esc_mode esc, const uint8_t *s, size_t n, char q)
{
    put_escaped(out, esc, &q, 1);
    char hex[5] = {'\\', 'x', 0, 0, 0};
    static const char digits[] = "0123456789abcdef";
    size_t plain = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        const char *e = NULL;
        size_t elen = 2, valid = 1;
        if (c == '\n')
            e = "\\n";
        else if (c == '\r')
            e = "\\r";
        else if (c == '\t')
            e = "\\t";
        else if (c == '\\')
            e = "\\\\";
        else if (c == (uint8_t)q)
            e = q == '"' ? "\\\"" : "\\'";
        else if (c < 0x20 || c == 0x7F)
            e = hex;
        else if (c >= 0x80) {
            valid = render_utf8_valid(s + i, n - i < 4 ? n - i : 4);
            /* the sequence c leads, when whole and valid; C1 controls (U+0080..U+009F) are escaped */
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (valid < need || (c == 0xC2 && s[i + 1] < 0xA0))
                e = hex, valid = 1;
            else
                valid = need;
        }
        if (!e) {
            i += valid;
            continue;
        }
        put_escaped(out, esc, s + plain, i - plain);
        if (e == hex) {
            uint8_t b = c;
            if (valid == 1 && c == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] < 0xA0) {
                b = s[i + 1]; /* a C1 control: its code point */
                i++;
            }
            hex[2] = digits[b >> 4];
            hex[3] = digits[b & 15];
            elen = 4;
        }
        put_escaped(out, esc, e, elen);
        i++;
        plain = i;
        if (i > n)
            break;
    }
    if (plain < n)
        put_escaped(out, esc, s + plain, n - plain);
    put_escaped(out, esc, &q, 1);
}

static int put_text_node(struct render_buf *out, struct tree_in *in, enum esc_mode esc, int nested, unsigned depth);

/* count elements of a container (pairs of a map), between open and close;
 * the ones the tree does not hold as "... N more". Fails only when not even
 * the count is there. */
static int put_text_elements(struct render_buf *out, struct tree_in *in, enum esc_mode esc, unsigned depth,
                             const char *open, const char *close, int map)
{
    uint32_t count;
    if (!render_tree_take_u32(in, &count))
        return 0;
    render_buf_puts(out, open);
    uint32_t k = 0;
    for (; k < count; k++) {
        size_t mark = out->len, at = in->off;
        if (k)
            render_buf_put(out, ", ", 2);
        int ok = put_text_node(out, in, esc, 1, depth + 1);
        if (ok && map) {
            render_buf_put(out, ": ", 2);
            ok = put_text_node(out, in, esc, 1, depth + 1);
        }
        if (!ok) {
            if (!out->overflow)
                out->len = mark;
            in->off = at;
            in->n = at; /* what follows is not read either */
            break;
        }
    }
    if (k < count) {
        render_buf_puts(out, k ? ", ... " : "... ");
        render_buf_u64(out, count - k);
        render_buf_puts(out, " more");
    }
    render_buf_puts(out, close);
    return 1;
}

/* One node as fmt prints it: nested (inside a container) a string in
 * quotes, a std::optional as optional(...). 0: the tree ends in it. */
static int put_text_node(struct render_buf *out, struct tree_in *in, enum esc_mode esc, int nested, unsigned depth)
{
    uint8_t tag;
    const uint8_t *s;
    size_t len;
    if (!take_tag(in, depth, &tag))
        return 0;
    switch (tag) {
    case SHMLOG_TREE_STR: case SHMLOG_TREE_TEXT: case SHMLOG_TREE_PATH:
        if (!take_string(in, nested, &s, &len))
            return 0;
        if ((nested && tag == SHMLOG_TREE_STR) || tag == SHMLOG_TREE_PATH)
            put_quoted(out, esc, s, len, '"');
        else
            put_escaped(out, esc, s, len);
        return 1;
    case SHMLOG_TREE_CHAR:
        if (!render_tree_take(in, &tag, 1))
            return 0;
        if (nested)
            put_quoted(out, esc, &tag, 1, '\'');
        else
            put_escaped(out, esc, &tag, 1);
        return 1;
    case SHMLOG_TREE_SEQ: return put_text_elements(out, in, esc, depth, "[", "]", 0);
    case SHMLOG_TREE_SET: return put_text_elements(out, in, esc, depth, "{", "}", 0);
    case SHMLOG_TREE_MAP: return put_text_elements(out, in, esc, depth, "{", "}", 1);
    case SHMLOG_TREE_TUPLE: return put_text_elements(out, in, esc, depth, "(", ")", 0);
    case SHMLOG_TREE_NONE:
        render_buf_puts(out, "none");
        return 1;
    case SHMLOG_TREE_SOME:
        if (!nested)
            return put_text_node(out, in, esc, 0, depth + 1);
        render_buf_puts(out, "optional(");
        if (!put_text_node(out, in, esc, 1, depth + 1))
            return 0;
        render_buf_putc(out, ')');
        return 1;
    case SHMLOG_TREE_VARIANT:
        render_buf_puts(out, "variant(");
        if (!put_text_node(out, in, esc, 1, depth + 1))
            return 0;
        render_buf_putc(out, ')');
        return 1;
    case SHMLOG_TREE_DURATION: {
        int64_t count;
        uint8_t n;
        if (!take_i64(in, &count) || !render_tree_take(in, &n, 1) || n > in->n - in->off)
            return 0;
        render_buf_i64(out, count);
        put_escaped(out, esc, in->p + in->off, n);
        in->off += n;
        return 1;
    }
    case SHMLOG_TREE_TIME: {
        int64_t ns;
        if (!take_i64(in, &ns))
            return 0;
        if (ns < 0)
            render_buf_i64(out, ns);
        else
            render_buf_rfc3339(out, (uint64_t)ns);
        return 1;
    }
    case SHMLOG_TREE_STRUCT: {
        uint8_t count, n;
        if (!render_tree_take(in, &count, 1))
            return 0;
        render_buf_putc(out, '{');
        for (unsigned k = 0; k < count; k++) {
            if (k)
                render_buf_put(out, ", ", 2);
            if (!render_tree_take(in, &n, 1) || n > in->n - in->off)
                return 0;
            put_escaped(out, esc, in->p + in->off, n);
            in->off += n;
            render_buf_putc(out, '=');
            if (!put_text_node(out, in, esc, 0, depth + 1)) /* members print as a struct's members do */
                return 0;
        }
        render_buf_putc(out, '}');
        return 1;
    }
    default: {
        struct render_arg a;
        char text[48];
        size_t n;
        if (!render_tree_take_scalar(in, tag, &a))
            return 0;
        if (tag == SHMLOG_ARG_PTR || tag == SHMLOG_ARG_BOOL || tag == SHMLOG_ARG_F32 || tag == SHMLOG_ARG_F64) {
            n = render_fmt_value(text, &a);
            render_buf_put(out, text, n);
        } else if (tag == SHMLOG_ARG_I8 || tag == SHMLOG_ARG_I16 || tag == SHMLOG_ARG_I32 || tag == SHMLOG_ARG_I64) {
            render_buf_i64(out, a.v.i);
        } else {
            render_buf_u64(out, a.v.u);
        }
        return 1;
    }
    }
}

void render_tree_text(struct render_buf *out, const uint8_t *p, size_t n, enum esc_mode esc)
{
    struct tree_in in = {p, n, 0};
    size_t mark = out->len;
    if (!put_text_node(out, &in, esc, 0, 0) && !out->overflow) {
        out->len = mark;
        render_buf_puts(out, n ? "<cut value>" : "<empty value>");
    }
}

void render_tree_plain(struct render_buf *out, const struct render_arg *a)
{
    render_tree_text(out, a->v.s, a->type == SHMLOG_ARG_STR ? a->str_len : 0, ESC_NONE);
}

static int put_json_node(struct render_buf *out, struct tree_in *in, unsigned depth);

/* Typed argument values as JSON: here, with the trees that hold them, since
 * render_json.c calls this file. */
void render_json_double(struct render_buf *out, double v, int is_f32)
{
    if (!isfinite(v))
        render_buf_puts(out, "null");
    else
        render_put_shortest_double(out, v, is_f32);
}

void render_json_arg(struct render_buf *out, const struct render_arg *a)
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
        render_json_double(out, a->v.f, a->type == SHMLOG_ARG_F32);
        break;
    case SHMLOG_ARG_PTR:
        render_buf_puts(out, "\"0x");
        render_buf_hex64(out, a->v.u);
        render_buf_putc(out, '"');
        break;
    case SHMLOG_ARG_STR:
        render_json_string(out, a->v.s, a->str_len);
        break;
    default:
        render_buf_puts(out, "null");
        break;
    }
}


static int put_json_elements(struct render_buf *out, struct tree_in *in, unsigned depth, int map)
{
    uint32_t count;
    if (!render_tree_take_u32(in, &count))
        return 0;
    render_buf_putc(out, map ? '{' : '[');
    for (uint32_t k = 0; k < count; k++) {
        size_t mark = out->len, at = in->off;
        if (k)
            render_buf_putc(out, ',');
        int ok = 1;
        if (map) {
            /* a key as its text, in a JSON string (JSON keys are strings) */
            uint8_t tag = at < in->n ? in->p[at] : 0;
            if (tag == SHMLOG_TREE_STR || tag == SHMLOG_TREE_TEXT || tag == SHMLOG_TREE_PATH) {
                ok = put_json_node(out, in, depth + 1);
            } else {
                char key[256];
                struct render_buf kb;
                render_buf_init(&kb, key, sizeof key);
                kb.memo = out->memo;
                ok = put_text_node(&kb, in, ESC_NONE, 0, depth + 1);
                render_json_string(out, key, kb.len);
            }
            render_buf_putc(out, ':');
        }
        if (ok)
            ok = put_json_node(out, in, depth + 1);
        if (!ok) {
            if (!out->overflow)
                out->len = mark;
            in->off = at;
            in->n = at; /* what follows is not read either */
            break;
        }
    }
    render_buf_putc(out, map ? '}' : ']');
    return 1;
}

/* One node as JSON: containers as arrays, maps and structs as objects, an
 * empty std::optional as null, a duration as its count, a time as its ns. */
static int put_json_node(struct render_buf *out, struct tree_in *in, unsigned depth)
{
    uint8_t tag;
    const uint8_t *s;
    size_t len;
    if (!take_tag(in, depth, &tag))
        return 0;
    switch (tag) {
    case SHMLOG_TREE_STR: case SHMLOG_TREE_TEXT: case SHMLOG_TREE_PATH:
        if (!take_string(in, depth > 0, &s, &len))
            return 0;
        render_json_string(out, s, len);
        return 1;
    case SHMLOG_TREE_CHAR:
        if (!render_tree_take(in, &tag, 1))
            return 0;
        render_json_string(out, &tag, 1);
        return 1;
    case SHMLOG_TREE_SEQ: case SHMLOG_TREE_SET: case SHMLOG_TREE_TUPLE:
        return put_json_elements(out, in, depth, 0);
    case SHMLOG_TREE_MAP:
        return put_json_elements(out, in, depth, 1);
    case SHMLOG_TREE_NONE:
        render_buf_puts(out, "null");
        return 1;
    case SHMLOG_TREE_SOME: case SHMLOG_TREE_VARIANT:
        return put_json_node(out, in, depth + 1);
    case SHMLOG_TREE_DURATION: {
        int64_t count;
        uint8_t n;
        if (!take_i64(in, &count) || !render_tree_take(in, &n, 1) || n > in->n - in->off)
            return 0;
        in->off += n;
        render_buf_i64(out, count);
        return 1;
    }
    case SHMLOG_TREE_TIME: {
        int64_t ns;
        if (!take_i64(in, &ns))
            return 0;
        render_buf_i64(out, ns);
        return 1;
    }
    case SHMLOG_TREE_STRUCT: {
        uint8_t count, n;
        if (!render_tree_take(in, &count, 1))
            return 0;
        render_buf_putc(out, '{');
        for (unsigned k = 0; k < count; k++) {
            if (k)
                render_buf_putc(out, ',');
            if (!render_tree_take(in, &n, 1) || n > in->n - in->off)
                return 0;
            render_json_string(out, in->p + in->off, n);
            in->off += n;
            render_buf_putc(out, ':');
            if (!put_json_node(out, in, depth + 1))
                return 0;
        }
        render_buf_putc(out, '}');
        return 1;
    }
    default: {
        struct render_arg a;
        if (!render_tree_take_scalar(in, tag, &a))
            return 0;
        render_json_arg(out, &a);
        return 1;
    }
    }
}

void render_tree_json(struct render_buf *out, const uint8_t *p, size_t n)
{
    struct tree_in in = {p, n, 0};
    size_t mark = out->len;
    if (!put_json_node(out, &in, 0) && !out->overflow) {
        out->len = mark;
        render_buf_puts(out, "null");
    }
}

/* A shape's leaf letters, indexed by argument type (shmlog_abi.h: BOOL = 1 .. STR = 13). */
static const char leaf_letters[] = "?bcChHiIlLfdps";

unsigned render_tree_leaf_type(char c)
{
    const char *at = c && c != '?' ? memchr(leaf_letters, c, sizeof leaf_letters - 1) : NULL;
    return at ? (unsigned)(at - leaf_letters) : 0;
}

static size_t shape_at(const char *s, size_t n, size_t i, unsigned depth)
{
    if (i >= n || depth > SHMLOG_TREE_MAX_DEPTH)
        return 0;
    if (render_tree_leaf_type(s[i]))
        return i + 1;
    size_t k;
    switch (s[i]) {
    case '?':
        return shape_at(s, n, i + 1, depth + 1);
    case '[':
        k = shape_at(s, n, i + 1, depth + 1);
        return k && k < n && s[k] == ']' ? k + 1 : 0;
    case '{':
        if (i + 1 < n && s[i + 1] == '?') /* an Arrow map's keys are never null */
            return 0;
        k = shape_at(s, n, i + 1, depth + 1);
        k = k ? shape_at(s, n, k, depth + 1) : 0;
        return k && k < n && s[k] == '}' ? k + 1 : 0;
    case '(': /* one element at least */
        k = i + 1;
        do
            k = shape_at(s, n, k, depth + 1);
        while (k && k < n && s[k] != ')');
        return k && k < n ? k + 1 : 0;
    default:
        return 0;
    }
}

size_t render_tree_shape_len(const char *s, size_t n)
{
    return shape_at(s, n, 0, 0);
}
