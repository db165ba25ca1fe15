/*
 * read_arrow_nest.c - a value tree's column (a field whose sites all give
 * one shape, format/FORMAT.md 12) as Arrow's nested types: a sequence or set
 * a list, a map a map, a pair or tuple a struct of fields "0", "1", ..., an
 * optional a null where it is empty, the leaves typed as arguments are. The tree's bytes are untrusted: a node that does
 * not match the shape, or that the bytes end in, ends its container there
 * (the elements before it stay, as the text shows them), and a tree that
 * matches nothing is a null row. read_arrow.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read_arrow.h"
#include "read_lib.h"

/* One node of the shape, with its Arrow buffers while a batch is built and
 * its ArrowArray and ArrowSchema once handed over. */
struct nest {
    char kind;           /* '[' list, '{' map, 'e' a map's entries, '(' a tuple, or a leaf letter */
    uint8_t optional;    /* the '?'s before it: an empty one is a null */
    uint8_t leaf;        /* a leaf's argument type */
    uint8_t width;       /* a fixed leaf's bytes a value (0: bool, or not fixed) */
    unsigned kids;       /* a list's item, a map's entries, an entry's key and value, a tuple's elements */
    struct nest **child;
    char index[12];      /* a tuple element's field name: its position */
    uint8_t *valid;      /* validity; cleared when grown */
    uint8_t *data;       /* values (bool: bits), or int32 offsets (string, list, map) */
    char *chars;         /* string leaves */
    size_t cap, chars_len, chars_cap;
    int64_t len, nulls;
    struct ArrowArray arr;
    struct ArrowArray **arr_kids;
    const void *bufs[3];
    struct ArrowSchema sc;
    struct ArrowSchema **sc_kids;
    char *name, *metadata; /* the column's (its root's), owned */
};

static int has_offsets(const struct nest *c)
{
    return c->kind == '[' || c->kind == '{' || c->leaf == SHMLOG_ARG_STR;
}

/* Room for one more value. 0, or -ENOMEM. */
static int nest_room(struct nest *c)
{
    if ((size_t)c->len < c->cap)
        return 0;
    size_t cap = c->cap ? 2 * c->cap : 64, old_bits = (c->cap + 7) / 8, bits = (cap + 7) / 8;
    size_t bytes = has_offsets(c) ? (cap + 1) * 4 : c->width ? cap * c->width : bits;
    uint8_t *v = c->kind == 'e' ? NULL : realloc(c->valid, bits), *d;
    if (c->kind != 'e' && !v)
        return -ENOMEM;
    c->valid = v;
    if (v)
        memset(v + old_bits, 0, bits - old_bits);
    if (c->kind != 'e') {
        if (!(d = realloc(c->data, bytes)))
            return -ENOMEM;
        if (!c->width && !has_offsets(c))
            memset(d + old_bits, 0, bits - old_bits);
        if (!c->data && has_offsets(c))
            memset(d, 0, 4);
        c->data = d;
    }
    c->cap = cap;
    return 0;
}

/* The end of the value at c->len (its offsets'), which is then valid (or null). */
static void nest_end_value(struct nest *c, int64_t end, int valid)
{
    if (has_offsets(c)) {
        int32_t e = (int32_t)end;
        memcpy(c->data + (size_t)(c->len + 1) * 4, &e, 4);
    }
    if (valid)
        c->valid[c->len >> 3] |= (uint8_t)(1u << (c->len & 7));
    else
        c->nulls++;
    c->len++;
}

static int nest_null(struct nest *c)
{
    for (unsigned k = 0; c->kind == '(' && k < c->kids; k++)
        if (nest_null(c->child[k]) != 0)
            return -ENOMEM;
    if (nest_room(c) != 0)
        return -ENOMEM;
    if (c->width)
        memset(c->data + (size_t)c->len * c->width, 0, c->width);
    int32_t end = 0;
    if (has_offsets(c))
        memcpy(&end, c->data + (size_t)c->len * 4, 4);
    nest_end_value(c, end, 0);
    return 0;
}

static int nest_put(struct nest *c, struct tree_in *in, unsigned depth, int dry);

/* A map's entry (key, value) or a list's element. */
static int nest_put_element(struct nest *e, struct tree_in *in, unsigned depth, int dry)
{
    if (e->kind != 'e')
        return nest_put(e, in, depth, dry);
    int r = nest_put(e->child[0], in, depth, dry);
    if (r == 1)
        r = nest_put(e->child[1], in, depth, dry);
    if (r == 1 && !dry)
        e->len++;
    return r;
}

/* A container's elements into its child e: each checked first (dry), so that
 * one that does not match leaves nothing behind; it and what follows are not
 * read (as the text shows them: "... N more"). */
static int nest_put_elements(struct nest *c, struct nest *e, struct tree_in *in, unsigned depth, int dry)
{
    uint32_t count;
    if (!render_tree_take_u32(in, &count))
        return 0;
    for (uint32_t k = 0; k < count; k++) {
        struct tree_in probe = *in;
        int r = nest_put_element(e, &probe, depth + 1, 1);
        if (r < 0)
            return r;
        if (r == 0) {
            in->n = in->off;
            break;
        }
        if (dry)
            *in = probe;
        else if ((r = nest_put_element(e, in, depth + 1, 0)) != 1)
            return r < 0 ? r : -EINVAL; /* the same bytes matched dry */
    }
    if (dry)
        return 1;
    if (nest_room(c) != 0)
        return -ENOMEM;
    nest_end_value(c, e->len, 1);
    return 1;
}

/* A string leaf's bytes, made valid UTF-8 as every Arrow string is. */
static int nest_put_chars(struct nest *c, const uint8_t *s, size_t n)
{
    if (read_room(&c->chars, &c->chars_cap, c->chars_len + 3 * n) != 0)
        return -ENOMEM;
    struct render_buf out;
    render_buf_init(&out, c->chars + c->chars_len, c->chars_cap - c->chars_len);
    render_utf8_repair(&out, s, n);
    c->chars_len += out.len;
    return 0;
}

/* A tuple's elements, one a field: it matches when each does (checked dry
 * before any is put, as a container's element is). */
static int nest_put_tuple(struct nest *c, struct tree_in *in, unsigned depth, int dry)
{
    uint32_t count;
    if (!render_tree_take_u32(in, &count) || count != c->kids)
        return 0;
    for (unsigned k = 0; k < c->kids; k++) {
        int r = nest_put(c->child[k], in, depth + 1, dry);
        if (r != 1)
            return r < 0 || dry ? r : -EINVAL; /* the same bytes matched dry */
    }
    if (dry)
        return 1;
    if (nest_room(c) != 0)
        return -ENOMEM;
    nest_end_value(c, 0, 1);
    return 1;
}

/* The node at in as c's next value: 1, or 0 when it does not match c (nothing
 * put), or -ENOMEM. dry: only whether it matches. */
static int nest_put(struct nest *c, struct tree_in *in, unsigned depth, int dry)
{
    uint8_t tag;
    for (unsigned k = 0; k < c->optional; k++, depth++) {
        if (depth > SHMLOG_TREE_MAX_DEPTH || !render_tree_take(in, &tag, 1))
            return 0;
        if (tag == SHMLOG_TREE_NONE)
            return dry ? 1 : nest_null(c) == 0 ? 1 : -ENOMEM;
        if (tag != SHMLOG_TREE_SOME)
            return 0;
    }
    if (depth > SHMLOG_TREE_MAX_DEPTH || !render_tree_take(in, &tag, 1))
        return 0;
    if (c->kind == '[')
        return tag == SHMLOG_TREE_SEQ || tag == SHMLOG_TREE_SET ? nest_put_elements(c, c->child[0], in, depth, dry) : 0;
    if (c->kind == '{')
        return tag == SHMLOG_TREE_MAP ? nest_put_elements(c, c->child[0], in, depth, dry) : 0;
    if (c->kind == '(')
        return tag == SHMLOG_TREE_TUPLE ? nest_put_tuple(c, in, depth, dry) : 0;
    if (c->leaf == SHMLOG_ARG_STR) {
        const uint8_t *s;
        size_t n;
        int whole = 1;
        if (tag == SHMLOG_TREE_CHAR) {
            s = in->p + in->off;
            n = 1;
            if (!render_tree_take(in, &tag, 1))
                return 0;
        } else if (tag != SHMLOG_TREE_STR && tag != SHMLOG_TREE_TEXT && tag != SHMLOG_TREE_PATH) {
            return 0;
        } else if (!render_tree_take_bytes(in, &s, &n, &whole) || !whole) {
            return 0;
        }
        if (dry)
            return 1;
        if (nest_room(c) != 0 || nest_put_chars(c, s, n) != 0)
            return -ENOMEM;
        nest_end_value(c, (int64_t)c->chars_len, 1);
        return 1;
    }
    struct render_arg a;
    if (tag != c->leaf || !render_tree_take_scalar(in, tag, &a))
        return 0;
    if (dry)
        return 1;
    if (nest_room(c) != 0)
        return -ENOMEM;
    if (c->leaf == SHMLOG_ARG_BOOL) {
        if (a.v.u)
            c->data[c->len >> 3] |= (uint8_t)(1u << (c->len & 7));
    } else if (c->leaf == SHMLOG_ARG_F32) {
        float f = (float)a.v.f;
        memcpy(c->data + (size_t)c->len * 4, &f, 4);
    } else {
        uint64_t u = a.v.u; /* integers sign-extended, doubles their bits: the low bytes are the value */
        memcpy(c->data + (size_t)c->len * c->width, &u, c->width);
    }
    nest_end_value(c, 0, 1);
    return 1;
}

void read_nest_free(struct nest *c)
{
    if (!c)
        return;
    for (unsigned k = 0; k < c->kids && c->child; k++)
        read_nest_free(c->child[k]);
    free(c->child);
    free(c->arr_kids);
    free(c->sc_kids);
    free(c->valid);
    free(c->data);
    free(c->chars);
    free(c->name);
    free(c->metadata);
    free(c);
}

/* Room for c's n children (none made yet). */
static int nest_kids(struct nest *c, unsigned n)
{
    c->kids = n;
    c->child = calloc(n, sizeof *c->child);
    c->arr_kids = calloc(n, sizeof *c->arr_kids);
    c->sc_kids = calloc(n, sizeof *c->sc_kids);
    return c->child && c->arr_kids && c->sc_kids;
}

/* The elements of the tuple at s + *i (render_tree_shape_len checked it: it ends in its ')'). */
static unsigned tuple_elements(const char *s, size_t i)
{
    unsigned n = 0, depth = 0;
    for (; depth || s[i] != ')'; i++) {
        n += !depth && s[i] != '?'; /* a leaf or an opening bracket at the tuple's own level starts an element */
        depth += s[i] == '[' || s[i] == '{' || s[i] == '(';
        depth -= s[i] == ']' || s[i] == '}' || s[i] == ')';
    }
    return n;
}

static struct nest *nest_parse(const char *s, size_t *i)
{
    struct nest *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    while (s[*i] == '?') {
        c->optional++;
        (*i)++;
    }
    c->kind = s[(*i)++];
    int ok = 1;
    if (c->kind == '[') {
        ok = nest_kids(c, 1) && (c->child[0] = nest_parse(s, i)) != NULL;
        (*i)++; /* ']' */
    } else if (c->kind == '{') {
        struct nest *e = NULL;
        ok = nest_kids(c, 1) && (e = c->child[0] = calloc(1, sizeof *e)) && (e->kind = 'e') && nest_kids(e, 2) &&
             (e->child[0] = nest_parse(s, i)) && (e->child[1] = nest_parse(s, i));
        (*i)++; /* '}' */
    } else if (c->kind == '(') {
        ok = nest_kids(c, tuple_elements(s, *i));
        for (unsigned k = 0; ok && k < c->kids; k++) {
            ok = (c->child[k] = nest_parse(s, i)) != NULL;
            if (ok)
                snprintf(c->child[k]->index, sizeof c->child[k]->index, "%u", k);
        }
        (*i)++; /* ')' */
    } else {
        c->leaf = (uint8_t)render_tree_leaf_type(c->kind);
        c->width = c->leaf == SHMLOG_ARG_BOOL || c->leaf == SHMLOG_ARG_STR ? 0 : (uint8_t)shmlog_arg_width(c->leaf);
    }
    if (!ok || (c->kind != 'e' && nest_room(c) != 0) ||
        (c->leaf == SHMLOG_ARG_STR && !(c->chars = malloc(c->chars_cap = 256)))) {
        read_nest_free(c);
        return NULL;
    }
    return c;
}

struct nest *read_nest_new(const char *shape)
{
    size_t i = 0;
    return nest_parse(shape, &i);
}

int read_nest_fill(struct nest *c, uint32_t rows)
{
    while (c->len < (int64_t)rows)
        if (nest_null(c) != 0)
            return -ENOMEM;
    return 0;
}

int read_nest_put_row(struct nest *c, uint32_t row, const uint8_t *p, size_t n)
{
    if (read_nest_fill(c, row) != 0)
        return -ENOMEM;
    struct tree_in in = {p, n, 0}, probe = in;
    int r = nest_put(c, &probe, 0, 1);
    if (r == 1)
        r = nest_put(c, &in, 0, 0);
    else if (r == 0)
        r = nest_null(c) == 0 ? 1 : -ENOMEM;
    return r == 1 ? 0 : r < 0 ? r : -EINVAL;
}

/* ==== Handing over ==== */

static void release_nest_part(struct ArrowArray *a)
{
    a->release = NULL; /* its memory is its column's, which its root's release frees */
}

static void release_nest_array(struct ArrowArray *a)
{
    struct nest *c = a->private_data;
    a->release = NULL;
    read_nest_free(c);
}

static void nest_array(struct nest *c, int root)
{
    c->bufs[0] = c->nulls ? c->valid : NULL;
    c->bufs[1] = c->data;
    c->bufs[2] = c->chars;
    int64_t kids = c->kids;
    for (int64_t k = 0; k < kids; k++) {
        nest_array(c->child[k], 0);
        c->arr_kids[k] = &c->child[k]->arr;
    }
    c->arr = (struct ArrowArray){.length = c->len, .null_count = c->nulls,
                                 .n_buffers = c->kind == 'e' || c->kind == '(' ? 1 : c->leaf == SHMLOG_ARG_STR ? 3 : 2,
                                 .buffers = c->bufs, .n_children = kids, .children = kids ? c->arr_kids : NULL,
                                 .release = root ? release_nest_array : release_nest_part, .private_data = c};
}

void read_nest_export(struct nest *c, struct ArrowArray *out)
{
    nest_array(c, 1);
    *out = c->arr;
}

static const char *leaf_format(unsigned t)
{
    static const char *const formats[] = {
        [SHMLOG_ARG_BOOL] = "b", [SHMLOG_ARG_I8] = "c",  [SHMLOG_ARG_U8] = "C",  [SHMLOG_ARG_I16] = "s",
        [SHMLOG_ARG_U16] = "S",  [SHMLOG_ARG_I32] = "i", [SHMLOG_ARG_U32] = "I", [SHMLOG_ARG_I64] = "l",
        [SHMLOG_ARG_U64] = "L",  [SHMLOG_ARG_F32] = "f", [SHMLOG_ARG_F64] = "g", [SHMLOG_ARG_PTR] = "L",
        [SHMLOG_ARG_STR] = "u",
    };
    return formats[t];
}

static void release_nest_schema_part(struct ArrowSchema *sc)
{
    sc->release = NULL;
}

static void release_nest_schema(struct ArrowSchema *sc)
{
    struct nest *c = sc->private_data;
    sc->release = NULL;
    read_nest_free(c);
}

static void nest_schema(struct nest *c, const char *name, int nullable)
{
    int64_t kids = c->kids;
    static const char *const kid_names[3][2] = {{"item"}, {"entries"}, {"key", "value"}};
    int which = c->kind == '[' ? 0 : c->kind == '{' ? 1 : 2;
    for (int64_t k = 0; k < kids; k++) {
        /* a map's entries and keys are never null; a null tuple's elements are */
        nest_schema(c->child[k], c->kind == '(' ? c->child[k]->index : kid_names[which][k],
                    c->kind == '[' || c->kind == '(' || (c->kind == 'e' && k == 1));
        c->sc_kids[k] = &c->child[k]->sc;
    }
    c->sc = (struct ArrowSchema){.format = c->kind == '[' ? "+l" : c->kind == '{' ? "+m"
                                           : c->kind == 'e' || c->kind == '(' ? "+s" : leaf_format(c->leaf),
                                 .name = name, .flags = nullable ? ARROW_FLAG_NULLABLE : 0, .n_children = kids,
                                 .children = kids ? c->sc_kids : NULL, .release = release_nest_schema_part,
                                 .private_data = c};
}

int read_nest_schema(const char *shape, const char *name, char *metadata, struct ArrowSchema *out)
{
    struct nest *c = read_nest_new(shape);
    if (!c || !(c->name = strdup(name))) {
        read_nest_free(c);
        free(metadata);
        return -ENOMEM;
    }
    c->metadata = metadata;
    nest_schema(c, c->name, 1);
    c->sc.metadata = metadata;
    c->sc.release = release_nest_schema;
    *out = c->sc;
    return 0;
}
