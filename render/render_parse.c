/*
 * render_parse.c - format strings parsed as printf parses them: the walk over
 * literal runs and conversion specs, consuming argument indices as printf
 * would, the `name=%conv` pairs that become the JSON fields object, and the
 * names of a described enum's values.
 */
#include "render_private.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

void render_walk_init(struct fmt_walk *w, const char *fmt, int nargs)
{
    w->p = w->lit_begin = fmt ? fmt : "";
    w->next_arg = 0;
    w->nargs = nargs < 0 ? 0 : nargs;
}

int render_takes_value(char conv)
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
 * RENDER_STR_MAX_WIDTH come back as RENDER_STR_MAX_WIDTH + 1. */
static int parse_number(const char **s)
{
    int v = 0;
    while (is_digit(**s)) {
        if (v <= RENDER_STR_MAX_WIDTH)
            v = v * 10 + (**s - '0');
        (*s)++;
    }
    return v > RENDER_STR_MAX_WIDTH ? RENDER_STR_MAX_WIDTH + 1 : v;
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
    if (sp->error == SPEC_OK && sp->width > render_max_width(sp->conv))
        sp->error = SPEC_WIDTH_LARGE;
    else if (sp->error == SPEC_OK && sp->conv != 's' && sp->prec > RENDER_FMT_MAX_WIDTH)
        sp->error = SPEC_PREC_LARGE;

    /* A spec printf could not have made sense of takes nothing, so what follows
     * it keeps its arguments. */
    if (sp->error == SPEC_INCOMPLETE || sp->error == SPEC_POSITIONAL)
        return;
    if (width_star)
        sp->width_arg = take_arg(w);
    if (prec_star)
        sp->prec_arg = take_arg(w);
    if (render_takes_value(sp->conv))
        sp->value_arg = take_arg(w);
}

/* Next literal run (text, len) or spec. */
enum item_kind render_walk_next(struct fmt_walk *w, struct fmt_spec *sp, const char **text, size_t *len)
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

void render_note_field(struct field_refs *f, const struct fmt_spec *sp)
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
    f->v[f->n].prec = sp->conv == 's' ? sp->prec : -1;
    f->v[f->n].prec_arg = sp->conv == 's' ? sp->prec_arg : ARG_NONE;
    f->v[f->n].conv = sp->conv;
    f->n++;
}

const struct render_arg *render_field_arg(const struct render_arg *args, int arg, int prec, int prec_arg,
                                          struct render_arg *cut)
{
    const struct render_arg *a = &args[arg];
    if (a->type != SHMLOG_ARG_STR)
        return a;
    if (prec_arg >= 0) { /* as the message reads it (render_printf.c) */
        int64_t star;
        if (star_int(&args[prec_arg], &star) < 0)
            return a;
        prec = star < 0 ? -1 : (int)star;
    }
    if (prec < 0 || (size_t)prec >= a->str_len)
        return a;
    *cut = *a;
    cut->str_len = (uint16_t)prec;
    return cut;
}

int render_shown_as(const struct render_site *sr, int arg, char conv, unsigned type)
{
    if (type < SHMLOG_ARG_I8 || type > SHMLOG_ARG_U64)
        return 0;
    if (conv == 'c')
        return 1;
    if (!sr || arg < 0 || arg >= (int)SHMLOG_MAX_ARGS)
        return 0;
    if (conv == 0 && (sr->char_args >> arg & 1u) && (type == SHMLOG_ARG_I8 || type == SHMLOG_ARG_U8))
        return 1;
    return sr->enum_of[arg] && (conv == 0 || conv == 'd' || conv == 'i' || conv == 'u') ? 2 : 0;
}

const struct render_arg *render_shown_text(const struct render_site *sr, int arg, char conv,
                                           const struct render_arg *a, struct render_field_room *room)
{
    int as = render_shown_as(sr, arg, conv, a->type);
    if (!as)
        return a;
    const char *name = room->text;
    size_t len;
    if (as == 1) {
        room->text[0] = (char)(uint8_t)a->v.u; /* as %c: the value's low byte */
        len = 1;
    } else if (!render_enum_name_of(sr->enum_of[arg], a->v.i, &name, &len)) {
        int is_signed = (a->type & 1) == 0; /* I8..I64 are even (shmlog_arg_type) */
        len = (size_t)(is_signed ? snprintf(room->text, sizeof room->text, "%lld", (long long)a->v.i)
                                 : snprintf(room->text, sizeof room->text, "%llu", (unsigned long long)a->v.u));
    }
    room->arg = (struct render_arg){.type = SHMLOG_ARG_STR, .str_len = (uint16_t)len, .v.s = (const uint8_t *)name};
    return &room->arg;
}

int render_enum_name_of(const char *names, int64_t v, const char **name, size_t *len)
{
    const char *p = names;
    while (*p && *p != ';') {
        const char *n = p, *eq = strchr(p, '=');
        int64_t x = strtoll(eq + 1, (char **)&p, 10);
        if (x == v) {
            *name = n;
            *len = (size_t)(eq - n);
            return 1;
        }
        if (*p == ',')
            p++;
    }
    return 0;
}
