/*
 * render_site.c - a call site prepared once for all its records: the format
 * parsed into literal runs and conversion specs, a fast path chosen for the
 * common conversions, the literal text checked for escaping, the fields
 * object's keys and the constant parts of both line formats made, all in one
 * allocation bounded by the format's size.
 */
#include "render_private.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FLAT_NAME_MAX (FIELD_NAME_MAX + 8) /* a key's own: the name and a duplicate's "_16" */

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
    if (sp->conv == 'x' && !(sp->flags & ~(unsigned)FL_HASH) && sp->width < 0 && sp->prec < 0 &&
        fast_int_fits(sp, type, 0))
        return FAST_HEX;
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

/* Whether an item of kind opens an item of its own: a spec joins the text just before it. */
static int opens_item(enum item_kind kind, int after_text)
{
    return !(kind == ITEM_SPEC && after_text);
}

/* The items prep_fill makes of site's format. */
static int prep_items(const struct shm_site *site, size_t fmt_len)
{
    if (!site || site->nargs > SHMLOG_MAX_ARGS)
        return 0;
    char fmt[SHMLOG_MAX_FMT_BYTES + 1];
    memcpy(fmt, site->fmt, fmt_len);
    fmt[fmt_len] = '\0';
    struct fmt_walk w;
    struct fmt_spec sp;
    const char *text;
    size_t len;
    enum item_kind kind;
    int n = 0, after_text = 0;
    render_walk_init(&w, fmt, site->nargs);
    while ((kind = render_walk_next(&w, &sp, &text, &len)) != ITEM_END) {
        n += opens_item(kind, after_text);
        after_text = kind == ITEM_TEXT;
    }
    return n;
}

/* Bytes of the prepared form, with an upper bound on every escaped piece
 * (a byte escapes to at most 6 in JSON, 4 in text), and room for its items
 * alone: a long format of few items would otherwise take tens of KB per site. */
static size_t prep_bytes(const struct shm_site *site, const char *app, const char *host, const char *hostname,
                         int *nitems)
{
    size_t fmt_len = site ? bounded_strlen(site->fmt, SHMLOG_MAX_FMT_BYTES) : 0;
    size_t file_len = site ? bounded_strlen(site->file, SHMLOG_MAX_FILE_BYTES) : 0;
    size_t func_len = site ? bounded_strlen(site->func, SHMLOG_MAX_FUNC_BYTES) : 0;
    size_t desc_len = site ? bounded_strlen(site->desc, SHMLOG_MAX_DESC_BYTES) : 0;
    size_t app_len = bounded_strlen(app, SHMLOG_APP_BYTES), host_len = bounded_strlen(host, SHMLOG_HOST_BYTES);
    size_t hostname_len = hostname ? bounded_strlen(hostname, SHMLOG_HOST_BYTES) : 0;
    *nitems = prep_items(site, fmt_len);
    size_t arena = (fmt_len + 1) + (file_len + 1) + (app_len + 1) + (host_len + 1) +
                   (hostname_len + 1) + (144 + 48 + 6 * (app_len + host_len + hostname_len)) + (64 + 4 * app_len) + (64 + 6 * file_len) +
                   (32 + 4 * file_len) + (func_len + 1) + (16 + 6 * func_len) + 3 * (desc_len + 1) +
                   (desc_len ? desc_len + SHMLOG_MAX_ARGS : 0) + /* the "a" entries' shapes */
                   (desc_len ? SHMLOG_MAX_ARGS * (sizeof(struct fmtspec) + 8) : 0) +
                   SHMLOG_MAX_ARGS * (FIELD_NAME_MAX + 32) + (desc_len ? SHMLOG_MAX_ARGS * FLAT_NAME_MAX : 0);
    return sizeof(struct render_site) + arena + PIECE_PAD + 8 +
           (size_t)*nitems * (sizeof(struct prep_item) + sizeof(struct prep_op));
}

/* A NUL-terminated copy of n bytes of s in the arena. */
static const char *arena_copy(struct render_buf *arena, const char *s, size_t n)
{
    const char *at = arena->data + arena->len;
    render_buf_put(arena, s ? s : "", n);
    render_buf_putc(arena, '\0');
    return at;
}

/* How many bytes at s are a name's: [A-Za-z0-9_], the producer's only ones. */
static size_t name_bytes(const char *s)
{
    size_t n = 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

/* Length of a descriptor's enum list "Name=value,..." at s (up to ';' or its
 * end), or 0 when it is not one: names [A-Za-z0-9_], values decimal. */
static size_t enum_list_len(const char *s)
{
    const char *p = s;
    for (;;) {
        const char *name = p;
        p += name_bytes(p);
        if (p == name || *p++ != '=')
            return 0;
        if (*p == '-')
            p++;
        const char *digits = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == digits || p - digits > 19)
            return 0;
        if (*p != ',')
            return *p == ';' || *p == 0 ? (size_t)(p - s) : 0;
        p++;
    }
}

/* The value conversions (d i u, no '*') of argument arg take fast, with names. */
static void prep_arg_items(struct render_site *sr, long arg, uint8_t fast, const char *names)
{
    for (int i = 0; i < sr->nitems; i++) {
        struct prep_item *it = &sr->items[i];
        if (it->kind == PREP_SPEC && it->arg == arg && it->spec.conv && strchr("diu", it->spec.conv) &&
            it->spec.error == SPEC_OK && it->spec.width_arg == ARG_NONE && it->spec.prec_arg == ARG_NONE &&
            sr->arg_types[arg] >= SHMLOG_ARG_I8 && sr->arg_types[arg] <= SHMLOG_ARG_U64 &&
            (fast == FAST_ENUM || sr->arg_types[arg] == SHMLOG_ARG_I64)) {
            it->fast = fast;
            it->names = names;
        }
    }
}

/* A struct entry's member list "name=<argument>[unit],..." at s (argument
 * from 1, unit [a-z] or valid UTF-8, up to 8 bytes): its members appended to sr->members, each an
 * argument after arg that no struct has yet (so nesting ends, and each
 * argument shows once); 0, or -1 with nothing kept when it is not one. */
static int prep_members(struct render_site *sr, struct render_buf *arena, long arg, const char *s, uint32_t *claimed)
{
    const uint8_t from = sr->nmembers;
    uint32_t mine = 0;
    const char *p = s;
    for (;;) {
        const char *name = p;
        p += name_bytes(p);
        size_t name_len = (size_t)(p - name);
        if (!name_len || name_len > FIELD_NAME_MAX || *p++ != '=' || *p < '1' || *p > '9')
            break;
        long m = 0;
        while (*p >= '0' && *p <= '9' && m < 100)
            m = m * 10 + (*p++ - '0');
        m--;
        const char *unit = p;
        while (((*p >= 'a' && *p <= 'z') || (unsigned char)*p >= 0x80) && p - unit <= 8)
            p++;
        size_t unit_len = (size_t)(p - unit);
        if (m <= arg || m >= sr->nargs || ((*claimed | mine) >> m & 1u) || unit_len > 8 ||
            render_utf8_valid(unit, unit_len) != unit_len || sr->nmembers >= SHMLOG_MAX_ARGS)
            break;
        mine |= 1u << m;
        struct prep_member *pm = &sr->members[sr->nmembers++];
        pm->name = arena_copy(arena, name, name_len);
        pm->name_len = (uint8_t)name_len;
        pm->unit = arena_copy(arena, unit, unit_len);
        pm->unit_len = (uint8_t)unit_len;
        pm->arg = (uint8_t)m;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p != ';' && *p != 0)
            break;
        sr->members_from[arg] = from;
        sr->members_n[arg] = (uint8_t)(sr->nmembers - from);
        sr->struct_args |= 1u << arg;
        *claimed |= mine;
        return 0;
    }
    sr->nmembers = from;
    return -1;
}

/* An "f" entry's spec at s for argument arg: parsed into the arena, and
 * the argument's items (and those of the arguments it takes a width or a
 * precision from) made to print by it. The latter, as a mask. */
static uint32_t prep_fmtspec(struct render_site *sr, struct render_buf *arena, long arg, const char *s)
{
    size_t n = strcspn(s, ";");
    const char *text = arena_copy(arena, s, n);
    while (arena->len % 8)
        render_buf_putc(arena, '\0');
    if (arena->cap - arena->len < sizeof(struct fmtspec))
        return 0;
    struct fmtspec *f = (struct fmtspec *)(void *)(arena->data + arena->len);
    if (render_fmtspec_parse(text, n, f) != 0 || f->width_arg >= sr->nargs || f->prec_arg >= sr->nargs ||
        f->width_arg == arg || f->prec_arg == arg)
        return 0;
    arena->len += sizeof(struct fmtspec);
    sr->fmt_of[arg] = f;
    uint32_t taken = (f->width_arg >= 0 ? 1u << f->width_arg : 0) | (f->prec_arg >= 0 ? 1u << f->prec_arg : 0);
    for (int i = 0; i < sr->nitems; i++) {
        struct prep_item *it = &sr->items[i];
        if (it->kind == PREP_SPEC && it->spec.error == SPEC_OK && it->arg >= 0)
            it->fast = it->arg == arg ? FAST_FMT : (taken >> it->arg & 1u) ? FAST_HIDDEN : it->fast;
    }
    return taken;
}

/* Fields for the named arguments the format's text names none for, in the arguments' order. */
static void prep_named_fields(const struct render_site *sr, struct field_refs *fields)
{
    for (int arg = 0; arg < sr->nargs; arg++) {
        if (!sr->name_of[arg] || fields->n >= (int)SHMLOG_MAX_ARGS)
            continue;
        int at = 0, seen = 0;
        for (int i = 0; i < fields->n; i++) {
            seen |= fields->v[i].arg == arg;
            at += fields->v[i].arg < arg;
        }
        if (seen)
            continue;
        memmove(&fields->v[at + 1], &fields->v[at], (size_t)(fields->n - at) * sizeof fields->v[0]);
        fields->v[at] = (struct field_ref){sr->name_of[arg], sr->name_len[arg], arg, -1, ARG_NONE, 0};
        fields->n++;
    }
}

/* The site's descriptor (untrusted): an "e<argument> <Type> <list>" entry
 * makes that argument's values print as their names, a "t<argument>" entry
 * its ns since the epoch as a time, an "o<argument> <has-value argument>"
 * entry it print as none when that BOOL is false, an "s<argument> <Type>
 * <members>" entry it print as its members (prep_members), a "c<argument>"
 * entry (an i8 or u8) it print as a character as a member, a "v<argument>"
 * entry (a string) it print as the value tree its bytes hold, an "f<argument>
 * <spec>" entry it print as fmt prints that spec (prep_fmtspec), an
 * "n<argument> <name>" entry (a named argument) name its field, an "a<argument>
 * <shape>" entry give its value tree's type (render_tree_shape_len). An entry that does
 * not parse, or of another kind, is left out. The has-value and member
 * arguments, as a mask: what the message says, not extras. */
static uint32_t prep_descriptor(struct render_site *sr, struct render_buf *arena, const char *desc)
{
    uint32_t presence = 0, claimed = 0;
    for (const char *p = desc; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        char *end;
        if ((*p != 'e' && *p != 't' && *p != 'o' && *p != 's' && *p != 'c' && *p != 'v' && *p != 'f' && *p != 'n' &&
             *p != 'a') ||
            p[1] < '1' || p[1] > '9')
            continue;
        long arg = strtol(p + 1, &end, 10) - 1;
        if (arg < 0 || arg >= sr->nargs)
            continue;
        if (*p == 's') {
            const char *type_end = *end == ' ' ? strpbrk(end + 1, " ;") : NULL;
            if (type_end && *type_end == ' ' && !(sr->struct_args >> arg & 1u))
                prep_members(sr, arena, arg, type_end + 1, &claimed);
            continue;
        }
        if (*p == 'o') {
            long has = *end == ' ' && end[1] >= '1' && end[1] <= '9' ? strtol(end + 1, &end, 10) - 1 : -1;
            if (has >= 0 && has < sr->nargs && has != arg && sr->arg_types[has] == SHMLOG_ARG_BOOL &&
                (*end == ';' || *end == 0)) {
                sr->present_of[arg] = (uint8_t)(has + 1);
                presence |= 1u << has;
            }
            continue;
        }
        if (*p == 'n') {
            /* a name is a key in every reader's output: refused unless it is all name bytes */
            size_t n = *end == ' ' ? strcspn(end + 1, ";") : 0;
            if (n && n <= FIELD_NAME_MAX && name_bytes(end + 1) >= n && !sr->name_of[arg]) {
                sr->name_of[arg] = arena_copy(arena, end + 1, n);
                sr->name_len[arg] = (uint8_t)n;
            }
            continue;
        }
        if (*p == 'f') {
            if (*end == ' ' && !sr->fmt_of[arg])
                claimed |= prep_fmtspec(sr, arena, arg, end + 1);
            continue;
        }
        if (*p == 'c') {
            if (*end == ';' || *end == 0)
                sr->char_args |= 1u << arg;
            continue;
        }
        if (*p == 'a') {
            size_t n = *end == ' ' ? strcspn(end + 1, ";") : 0;
            if (n && render_tree_shape_len(end + 1, n) == n && !sr->shape_of[arg])
                sr->shape_of[arg] = arena_copy(arena, end + 1, n);
            continue;
        }
        if (*p == 'v') {
            if ((*end == ';' || *end == 0) && sr->arg_types[arg] == SHMLOG_ARG_STR)
                sr->tree_args |= 1u << arg;
            continue;
        }
        if (*p == 't') {
            if (*end == ';' || *end == 0) {
                prep_arg_items(sr, arg, FAST_TIME, NULL);
                sr->time_args |= 1u << arg;
            }
            continue;
        }
        const char *type_end = *end == ' ' ? strpbrk(end + 1, " ;") : NULL;
        size_t n = type_end && *type_end == ' ' ? enum_list_len(type_end + 1) : 0;
        if (n) {
            const char *names = arena_copy(arena, type_end + 1, n);
            prep_arg_items(sr, arg, FAST_ENUM, names);
            if (!sr->enum_of[arg])
                sr->enum_of[arg] = names;
        }
    }
    return presence | claimed;
}

/* The flat fields of argument arg whose name is the len bytes of name (a
 * FLAT_NAME_MAX buffer): the argument itself, or a struct's members named
 * name.member (cut to FLAT_NAME_MAX), depth first. */
static void prep_flat(struct render_site *sr, struct render_buf *arena, int field, int arg, char *name, size_t len)
{
    if (sr->nflat >= (int)SHMLOG_MAX_ARGS)
        return;
    if (arg < 0 || arg >= sr->nargs || !(sr->struct_args >> arg & 1u)) {
        const char *at = arena->data + arena->len;
        render_buf_put(arena, name, len);
        sr->flat[sr->nflat++] = (struct prep_flat){at, len, field, arg};
        return;
    }
    for (int k = 0; k < sr->members_n[arg]; k++) {
        const struct prep_member *m = &sr->members[sr->members_from[arg] + k];
        size_t n = len;
        if (n < FLAT_NAME_MAX)
            name[n++] = '.';
        size_t take = m->name_len < FLAT_NAME_MAX - n ? m->name_len : FLAT_NAME_MAX - n;
        memcpy(name + n, m->name, take);
        prep_flat(sr, arena, field, m->arg, name, n + take); /* members are after arg: it ends */
    }
}

/* The message's program (struct prep_op): the fast conversions of an
 * argument that is no struct and no std::optional's value keep their own
 * code; everything else is OP_ITEM. */
static void prep_ops(struct render_site *sr)
{
    sr->ops_ascii = sr->first_extra >= sr->nargs;
    for (int i = 0; i < sr->nitems; i++) {
        const struct prep_item *it = &sr->items[i];
        struct prep_op *op = &sr->ops[i];
        *op = (struct prep_op){it->text, (uint32_t)it->len, OP_TEXT, 0, it->prec};
        if (it->kind == PREP_TEXT)
            continue;
        op->op = OP_ITEM;
        if (it->arg < 0 || it->arg >= (int)sr->nargs || ((sr->struct_args | sr->tree_args) >> it->arg & 1u) ||
            sr->present_of[it->arg])
            continue;
        static const uint8_t op_of_fast[] = {
            [FAST_SIGNED] = OP_SIGNED, [FAST_UNSIGNED] = OP_UNSIGNED, [FAST_STR] = OP_STR,
            [FAST_FIXED] = OP_FIXED,   [FAST_CHAR] = OP_CHAR,         [FAST_HEX] = OP_HEX,
        };
        if (it->fast < sizeof op_of_fast && op_of_fast[it->fast] != OP_TEXT) {
            op->op = op_of_fast[it->fast];
            op->arg = (uint8_t)it->arg;
            if (op->op == OP_HEX)
                op->prec = (it->spec.flags & FL_HASH) != 0;
        }
    }
    for (int i = 0; i < sr->nitems; i++)
        if (sr->ops[i].op == OP_ITEM || !render_ascii(sr->ops[i].text, sr->ops[i].len))
            sr->ops_ascii = 0;
    /* A sign and 20 digits, a %c's byte, fixed_digits' 41 and a sign (the
     * forwards path's 8 bytes past its end are within PIECE_PAD). */
    static const uint8_t value_max[] = {[OP_SIGNED] = 21, [OP_UNSIGNED] = 20, [OP_FIXED] = 42, [OP_CHAR] = 1,
                                        [OP_HEX] = 18};
    sr->ops_direct = 1;
    sr->ops_room = PIECE_PAD;
    for (int i = 0; i < sr->nitems; i++) {
        const struct prep_op *op = &sr->ops[i];
        if (op->op == OP_ITEM || op->len > PIECE_PAD)
            sr->ops_direct = 0;
        sr->ops_room += op->len + (op->op < sizeof value_max ? value_max[op->op] : 0);
    }
}

/* Fills mem (prep_bytes() of it) with the prepared form. 0, or -EINVAL if a
 * piece did not fit (a bound above is wrong: never for valid sizes). */
static int prep_fill(void *mem, size_t bytes, const struct shm_site *site, const char *app, const char *host,
                     const char *hostname, uint32_t pid, const uint8_t *instance, const struct shm_categories *cats, int max_items)
{
    struct render_site *sr = mem;
    memset(sr, 0, sizeof *sr);
    sr->bytes = bytes;
    sr->known = site != NULL;
    sr->pid = pid;
    render_instance_hex(sr->instance, instance);
    sr->cats = cats;
    /* items and their ops after the arena, aligned */
    size_t items_off = (bytes - (size_t)max_items * (sizeof(struct prep_item) + sizeof(struct prep_op))) & ~(size_t)7;
    sr->items = (struct prep_item *)((char *)mem + items_off);
    sr->ops = (struct prep_op *)(sr->items + max_items);
    struct render_buf arena;
    render_buf_init(&arena, sr->arena, items_off - offsetof(struct render_site, arena));

    sr->app = arena_copy(&arena, app, bounded_strlen(app, SHMLOG_APP_BYTES));
    sr->host = arena_copy(&arena, host, bounded_strlen(host, SHMLOG_HOST_BYTES));
    sr->hostname = hostname ? arena_copy(&arena, hostname, bounded_strlen(hostname, SHMLOG_HOST_BYTES)) : NULL;
    const char *fmt = "";
    if (site) {
        sr->level = site->level;
        sr->category = site->category;
        sr->nargs = site->nargs > SHMLOG_MAX_ARGS ? SHMLOG_MAX_ARGS + 1 : site->nargs;
        memcpy(sr->arg_types, site->arg_types, sizeof sr->arg_types);
        sr->shaped = shmlog_args_shape_init(&sr->shape, site->nargs, site->arg_types) == 0;
        sr->line = site->line;
        sr->file = arena_copy(&arena, site->file, bounded_strlen(site->file, SHMLOG_MAX_FILE_BYTES));
        sr->func = arena_copy(&arena, site->func, bounded_strlen(site->func, SHMLOG_MAX_FUNC_BYTES));
        fmt = arena_copy(&arena, site->fmt, bounded_strlen(site->fmt, SHMLOG_MAX_FMT_BYTES));
    } else {
        sr->file = sr->func = arena_copy(&arena, "", 0);
    }

    sr->json_head = arena.data + arena.len;
    render_put_json_head(&arena, sr->level, shm_categories_name(cats, sr->category), sr->category, sr->host,
                         sr->hostname, sr->app, pid, sr->instance);
    sr->json_head_len = (size_t)(arena.data + arena.len - sr->json_head);
    sr->text_head = arena.data + arena.len;
    render_put_text_head(&arena, sr->level, shm_categories_name(cats, sr->category), sr->category, sr->app, pid);
    sr->text_head_len = (size_t)(arena.data + arena.len - sr->text_head);
    sr->json_site = arena.data + arena.len;
    render_put_json_site(&arena, sr->file, sr->line, sr->func, sr->known);
    sr->json_site_len = (size_t)(arena.data + arena.len - sr->json_site);
    sr->text_site = arena.data + arena.len;
    render_put_text_site(&arena, sr->file, sr->line, sr->known);
    sr->text_site_len = (size_t)(arena.data + arena.len - sr->text_site);

    if (site && sr->nargs <= SHMLOG_MAX_ARGS) {
        struct fmt_walk w;
        struct fmt_spec sp;
        struct field_refs fields;
        const char *text;
        size_t len;
        enum item_kind kind;
        fields.n = 0;
        render_walk_init(&w, fmt, sr->nargs);
        while ((kind = render_walk_next(&w, &sp, &text, &len)) != ITEM_END) {
            struct prep_item *it;
            if (!opens_item(kind, sr->nitems && sr->items[sr->nitems - 1].kind == PREP_TEXT)) {
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
                it->plain = plain_run((const uint8_t *)text, 0, len, render_json_plain) == len;
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
            render_note_field(&fields, &sp);
        }
        sr->first_extra = w.next_arg;
        uint32_t presence = prep_descriptor(sr, &arena, site->desc);
        prep_named_fields(sr, &fields);
        sr->optionals = presence != 0;
        while (sr->first_extra < sr->nargs && (presence >> sr->first_extra & 1u))
            sr->first_extra++; /* what the message says with none, not an extra */
        for (int i = 0; i < fields.n; i++) {
            struct prep_field *f = &sr->fields[i];
            f->key = arena.data + arena.len;
            render_buf_putc(&arena, ',');
            render_put_field_key(&arena, &fields, i);
            f->key_len = (size_t)(arena.data + arena.len - f->key);
            f->arg = fields.v[i].arg;
            f->prec = fields.v[i].prec;
            f->prec_arg = fields.v[i].prec_arg;
            f->conv = fields.v[i].conv;
            if (f->arg >= 0 && f->arg < (int)sr->nargs && (sr->struct_args >> f->arg & 1u)) {
                char name[FLAT_NAME_MAX];
                size_t name_len = f->key_len - 4 < FLAT_NAME_MAX ? f->key_len - 4 : FLAT_NAME_MAX;
                memcpy(name, f->key + 2, name_len);
                prep_flat(sr, &arena, i, f->arg, name, name_len);
            } else if (sr->nflat < (int)SHMLOG_MAX_ARGS) {
                sr->flat[sr->nflat++] = (struct prep_flat){f->key + 2, f->key_len - 4, i, f->arg}; /* the key's name */
            }
        }
        sr->nfields = fields.n;
        prep_ops(sr);
    }
    sr->arena_len = arena.len;
    return arena.overflow ? -EINVAL : 0;
}

struct render_site *render_site_new(const struct shm_site *site, const char *app, const char *host,
                                    const char *hostname, uint32_t pid, const uint8_t *instance,
                                    const struct shm_categories *cats)
{
    int max_items;
    size_t bytes = prep_bytes(site, app, host, hostname, &max_items);
    struct render_site *sr = malloc(bytes);
    if (sr && prep_fill(sr, bytes, site, app, host, hostname, pid, instance, cats, max_items) != 0) {
        free(sr);
        sr = NULL;
    }
    return sr;
}

void render_site_free(struct render_site *sr)
{
    free(sr);
}

size_t render_site_bytes(const struct render_site *sr)
{
    return sr->bytes;
}

/* A site prepared for one record. */
int render_record(const struct render_input *in, int json, struct render_buf *out)
{
    if (!in->rec)
        return -EINVAL;
    int max_items;
    size_t bytes = prep_bytes(in->site, in->app, in->host, in->hostname, &max_items);
    struct render_site *sr = malloc(bytes);
    if (!sr)
        return -ENOMEM;
    int rc = prep_fill(sr, bytes, in->site, in->app, in->host, in->hostname, in->pid, in->instance, NULL, max_items);
    if (rc == 0)
        rc = render_prepared(sr, in->rec, in->cpu, in->ts_ns, json, out);
    free(sr);
    return rc;
}
