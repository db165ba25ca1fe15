/*
 * render_json.c - JSON Lines: the fields object, and
 * the record, exit and loss objects (keys and their order: render.h).
 */
#include "render_private.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* "name": of field i; a repeated name gets its argument's position as a
 * suffix, so no value hides behind a duplicate key. */
void render_put_field_key(struct render_buf *out, const struct field_refs *f, int i)
{
    const struct field_ref *r = &f->v[i];
    int duplicate = 0;
    for (int j = 0; j < i; j++)
        duplicate |= f->v[j].len == r->len && memcmp(f->v[j].name, r->name, r->len) == 0;
    render_buf_putc(out, '"');
    render_buf_put(out, r->name, r->len); /* [A-Za-z0-9_.]: nothing to escape */
    if (duplicate) {
        render_buf_putc(out, '_');
        render_buf_u64(out, (uint64_t)r->arg + 1);
    }
    render_buf_puts(out, "\":");
}

/* {"name":value,...} */
static void emit_fields(struct render_buf *out, const struct field_refs *f, const struct render_arg *args)
{
    render_buf_putc(out, '{');
    for (int i = 0; i < f->n; i++) {
        if (i)
            render_buf_putc(out, ',');
        render_put_field_key(out, f, i);
        struct render_field_room room;
        const struct render_arg *a = render_shown_text(NULL, f->v[i].arg, f->v[i].conv, &args[f->v[i].arg], &room);
        render_json_arg(out, a != &args[f->v[i].arg] ? a
                                                     : render_field_arg(args, f->v[i].arg, f->v[i].prec,
                                                                        f->v[i].prec_arg, &room.arg));
    }
    render_buf_putc(out, '}');
}

void render_json_fields(const char *fmt, const struct render_arg *args, int nargs, struct render_buf *out)
{
    struct fmt_walk w;
    struct fmt_spec sp;
    struct field_refs fields;
    const char *text;
    size_t len;
    enum item_kind kind;

    fields.n = 0;
    render_walk_init(&w, fmt, nargs);
    while ((kind = render_walk_next(&w, &sp, &text, &len)) != ITEM_END)
        if (kind == ITEM_SPEC)
            render_note_field(&fields, &sp);
    emit_fields(out, &fields, args);
}

static void put_json_cstring(struct render_buf *out, const char *s)
{
    if (!s)
        s = "";
    render_json_string(out, s, strlen(s));
}

/* The pieces of the JSON time of second sec in m: everything but the 9
 * nanosecond digits (twice): "{"ts_ns":<seconds>", ","time":"<civil second>."
 * and the zone's suffix. */
static void json_time_pieces(struct render_memo *m, uint64_t sec)
{
    memcpy(m->json_head, "{\"ts_ns\":", 9);
    char digits[20];
    char *p = u64_digits_back(digits + sizeof digits, sec);
    m->json_head_len = 9 + (unsigned)(digits + sizeof digits - p);
    memcpy(m->json_head + 9, p, m->json_head_len - 9);
    int32_t off = render_zone_offset(m, sec);
    memcpy(m->json_middle, ",\"time\":\"", 9);
    char civil[19];
    memcpy(m->json_middle + 9, render_civil_second(m, sec + (uint64_t)(int64_t)off, civil), 19);
    m->json_middle[28] = '.';
    m->json_tail_len = (unsigned)render_zone_suffix(m, off, m->json_tail);
    m->json_tail[m->json_tail_len++] = '"';
    m->json_sec = sec;
    m->json_local = m->local;
}

/* The fields every line starts with in JSON: ts_ns and time. */
static void put_json_time(struct render_buf *out, uint64_t ts_ns)
{
    /* Records of one second share all but the nanoseconds: their pieces are
     * made once per second, in the buffer's memo. */
    struct render_memo *m = out->memo;
    uint64_t sec = ts_ns / 1000000000u;
    if (m && sec && out->cap - out->len >= sizeof m->json_head + sizeof m->json_middle + 18 + sizeof m->json_tail) {
        if (sec != m->json_sec || m->json_local != m->local)
            json_time_pieces(m, sec);
        char *d = out->data + out->len;
        memcpy(d, m->json_head, sizeof m->json_head);
        d += m->json_head_len;
        uint32_t ns = (uint32_t)(ts_ns % 1000000000u);
        write_8_digits(d, ns / 10);
        d[8] = (char)('0' + ns % 10);
        memcpy(d + 9, m->json_middle, sizeof m->json_middle);
        memcpy(d + 9 + sizeof m->json_middle, d, 9);
        memcpy(d + 18 + sizeof m->json_middle, m->json_tail, sizeof m->json_tail);
        out->len += m->json_head_len + 18 + sizeof m->json_middle + m->json_tail_len;
        return;
    }
    render_buf_put(out, "{\"ts_ns\":", 9);
    render_buf_u64(out, ts_ns);
    render_buf_put(out, ",\"time\":\"", 9);
    render_buf_rfc3339(out, ts_ns);
    render_buf_putc(out, '"');
}
/* ",\"level\":\"INFO\",\"category\":\"order\",\"host\":..,\"app\":..,\"pid\":1234,\"tid\":" */
/* ",\"instance\":\"<hex>\"", when the files name the process's instance. */
static void put_json_instance(struct render_buf *out, const char *instance)
{
    if (!*instance)
        return;
    render_buf_puts(out, ",\"instance\":\"");
    render_buf_puts(out, instance);
    render_buf_putc(out, '"');
}

void render_instance_hex(char out[33], const uint8_t *instance)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t any = 0;
    for (int i = 0; instance && i < 16; i++) {
        any |= instance[i];
        out[2 * i] = digits[instance[i] >> 4];
        out[2 * i + 1] = digits[instance[i] & 15];
    }
    out[any ? 32 : 0] = '\0';
}

void render_put_json_head(struct render_buf *out, unsigned level, const char *category, unsigned category_id,
                          const char *host, const char *app, uint32_t pid, const char *instance)
{
    render_buf_puts(out, ",\"level\":\"");
    render_put_level_text(out, level, 0);
    render_buf_puts(out, "\",\"category\":\"");
    if (category) {
        render_buf_puts(out, category);
    } else {
        render_buf_puts(out, "cat");
        render_buf_u64(out, category_id);
    }
    render_buf_puts(out, "\",\"host\":");
    put_json_cstring(out, host);
    render_buf_puts(out, ",\"app\":");
    put_json_cstring(out, app);
    render_buf_puts(out, ",\"pid\":");
    render_buf_u64(out, pid);
    put_json_instance(out, instance);
    render_buf_puts(out, ",\"tid\":");
}

/* ",\"site\":\"file:line\",\"func\":\"f\",\"msg\":\"" (func when the site names one) */
void render_put_json_site(struct render_buf *out, const char *file, uint32_t line, const char *func, int known)
{
    if (!known) {
        render_buf_puts(out, ",\"site\":null,\"msg\":\"");
        return;
    }
    render_buf_puts(out, ",\"site\":\"");
    render_json_escape_body(out, (const uint8_t *)file, strlen(file));
    render_buf_putc(out, ':');
    render_buf_u64(out, line);
    if (func && *func) {
        render_buf_puts(out, "\",\"func\":\"");
        render_json_escape_body(out, (const uint8_t *)func, strlen(func));
    }
    render_buf_puts(out, "\",\"msg\":\"");
}

/* A SHMLOG_STRUCT argument's field: {"id":7,"px":2.5,...}, a member struct
 * as an object, an empty std::optional as null, other values as fields show
 * them (an enum's name, a char as a string, a time's ns). */
static void put_json_struct(struct render_buf *out, const struct render_site *sr, const struct render_arg *args,
                            int arg)
{
    render_buf_putc(out, '{');
    for (int k = 0; k < sr->members_n[arg]; k++) {
        const struct prep_member *m = &sr->members[sr->members_from[arg] + k];
        if (k)
            render_buf_putc(out, ',');
        render_buf_putc(out, '"');
        render_buf_put(out, m->name, m->name_len); /* [A-Za-z0-9_]: nothing to escape */
        render_buf_put(out, "\":", 2);
        if (sr->struct_args >> m->arg & 1u)
            put_json_struct(out, sr, args, m->arg); /* a member is after its struct: this ends */
        else if (sr->present_of[m->arg] && !args[sr->present_of[m->arg] - 1].v.u)
            render_buf_puts(out, "null");
        else {
            struct render_field_room room;
            render_json_arg(out, render_shown_text(sr, m->arg, 0, &args[m->arg], &room));
        }
    }
    render_buf_putc(out, '}');
}

/* "<tid>,"cpu":<cpu>": a ring's records mostly share both, so the text of
 * the last pair is kept in the memo. */
static void put_tid_cpu(struct render_buf *out, uint32_t tid, uint32_t cpu)
{
    struct render_memo *m = out->memo;
    uint64_t key = (uint64_t)tid << 32 | cpu;
    if (!m || key != m->tid_cpu) {
        char text[32];
        struct render_buf b;
        render_buf_init(&b, m ? m->tid_cpu_text : text, sizeof text);
        buf_u64(&b, tid);
        render_buf_put(&b, ",\"cpu\":", 7);
        buf_u64(&b, cpu);
        if (!m) {
            render_buf_put(out, text, b.len);
            return;
        }
        m->tid_cpu_len = b.len;
        m->tid_cpu = key;
    }
    render_buf_put(out, m->tid_cpu_text, m->tid_cpu_len);
}
int render_json_record(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu, uint64_t ts_ns,
                       const char *thread, const struct render_trace *trace, const struct render_arg *args, int nargs,
                       struct render_buf *out)
{
    int truncated = (rec->flags & SHMLOG_REC_TRUNCATED) != 0;
    /* A record repeats its site's level and category; one that differs
     * (a hostile or damaged record) gets its own head. */
    int own_head = rec->level != sr->level || rec->category != sr->category;

    put_json_time(out, ts_ns);
    if (own_head)
        render_put_json_head(out, rec->level, shm_categories_name(sr->cats, rec->category), rec->category, sr->host,
                             sr->app, sr->pid, sr->instance);
    else
        put_piece(out, sr->json_head, sr->json_head_len);
    put_tid_cpu(out, rec->tid, cpu);
    if (thread) {
        render_buf_put(out, ",\"thread\":", 10);
        render_json_string(out, thread, strlen(thread));
    }
    render_buf_put(out, ",\"seq\":", 7);
    buf_u64(out, rec->pos);
    put_piece(out, sr->json_site, sr->json_site_len);
    struct arg_memo memo[SHMLOG_MAX_ARGS];
    for (int i = 0; i < sr->nfields; i++)
        memo[sr->fields[i].arg].kind = MEMO_NONE;
    render_put_prepared_msg(sr, rec, args, nargs, out, ESC_JSON, sr->nfields ? memo : NULL);
    render_buf_put(out, "\",\"fields\":{", 12);
    if (nargs >= 0) {
        for (int i = 0; i < sr->nfields; i++) {
            const struct prep_field *f = &sr->fields[i];
            const struct arg_memo *m = &memo[f->arg];
            /* the first key without its leading comma */
            put_piece(out, f->key + (i == 0), f->key_len - (i == 0));
            if (f->arg >= 0 && f->arg < sr->nargs && (sr->struct_args >> f->arg & 1u)) {
                put_json_struct(out, sr, args, f->arg);
                continue;
            }
            if (f->arg >= 0 && f->arg < sr->nargs && (sr->tree_args >> f->arg & 1u) &&
                args[f->arg].type == SHMLOG_ARG_STR) {
                render_tree_json(out, args[f->arg].v.s, args[f->arg].str_len);
                continue;
            }
            if (sr->present_of[f->arg] && !args[sr->present_of[f->arg] - 1].v.u) {
                render_buf_puts(out, "null"); /* an empty std::optional */
                continue;
            }
            struct render_field_room room;
            const struct render_arg *shown = render_shown_text(sr, f->arg, f->conv, &args[f->arg], &room);
            if (shown != &args[f->arg]) {
                render_json_arg(out, shown); /* a character, an enum's name */
                continue;
            }
            switch (out->overflow ? MEMO_NONE : m->kind) {
            case MEMO_COPY:
                put_piece(out, out->data + m->off, m->len);
                break;
            case MEMO_STR:
                render_buf_putc(out, '"');
                put_piece(out, out->data + m->off, m->len);
                render_buf_putc(out, '"');
                break;
            case MEMO_FIXED:
                render_put_shortest_from(out, args[f->arg].v.f, m->q, m->prec, out->data + m->off, m->len);
                break;
            default:
                render_json_arg(out, render_field_arg(args, f->arg, f->prec, f->prec_arg, &room.arg));
                break;
            }
        }
    }
    render_buf_putc(out, '}');
    if (trace) {
        char id[33];
        render_trace_id(trace->hi, trace->lo, id);
        render_buf_put(out, ",\"trace_id\":\"", 13);
        render_buf_put(out, id, 32);
        render_buf_putc(out, '"');
        if (trace->span[0]) {
            render_buf_put(out, ",\"span\":", 8);
            render_json_string(out, trace->span, strlen(trace->span));
        }
    }
    if (truncated)
        render_buf_puts(out, ",\"truncated\":true");
    if (rec->flags & SHMLOG_REC_CLAMPED)
        render_buf_puts(out, ",\"clamped\":true");
    if (rec->flags & SHMLOG_REC_BACKTRACE)
        render_buf_puts(out, ",\"backtrace\":true");
    if (rec->flags & SHM_REC_TIME_UNCERTAIN)
        render_buf_puts(out, ",\"time_uncertain\":true");
    if (!sr->known)
        render_buf_puts(out, ",\"error\":\"unknown site\"");
    else if (nargs < 0)
        render_buf_puts(out, ",\"error\":\"corrupt payload\"");
    render_buf_put(out, "}\n", 2);
    return out->overflow ? -ENOBUFS : 0;
}

/* The keys an exit and a loss begin with: when, and whose. */
static void put_json_origin(struct render_buf *out, const struct render_input *in)
{
    put_json_time(out, in->ts_ns);
    render_buf_puts(out, ",\"host\":");
    put_json_cstring(out, in->host);
    render_buf_puts(out, ",\"app\":");
    put_json_cstring(out, in->app);
    render_buf_puts(out, ",\"pid\":");
    render_buf_u64(out, in->pid);
    char instance[33];
    render_instance_hex(instance, in->instance);
    put_json_instance(out, instance);
}

/* how: 0..2, as render_exit() has checked it. */
int render_json_exit(const struct render_input *in, uint64_t records, uint64_t lost, unsigned how,
                     struct render_buf *out)
{
    static const char *const key[3] = {NULL, "shutdown", "died"};
    put_json_origin(out, in);
    render_buf_puts(out, ",\"exit\":{\"records\":");
    render_buf_u64(out, records);
    render_buf_puts(out, ",\"lost\":");
    render_buf_u64(out, lost);
    if (key[how]) {
        render_buf_puts(out, ",\"how\":\"");
        render_buf_puts(out, key[how]);
        render_buf_putc(out, '"');
    }
    render_buf_puts(out, "}}\n");
    return out->overflow ? -ENOBUFS : 0;
}

int render_json_loss(const struct render_input *in, const struct shm_loss *loss, struct render_buf *out)
{
    const char *reason = shm_loss_reason_name(loss->reason);
    put_json_origin(out, in);
    if (in->cpu != UINT32_MAX) { /* a loss of the whole process (before_init, no_ring) has no ring */
        render_buf_puts(out, ",\"cpu\":");
        render_buf_u64(out, in->cpu);
    }
    render_buf_puts(out, ",\"loss\":{\"reason\":\"");
    render_buf_puts(out, reason);
    render_buf_puts(out, "\",\"records\":");
    render_buf_u64(out, loss->records);
    render_buf_puts(out, ",\"positions\":");
    render_buf_u64(out, loss->positions);
    render_buf_puts(out, ",\"first_seq\":");
    render_buf_u64(out, loss->first_pos);
    render_buf_puts(out, "}}\n");
    return out->overflow ? -ENOBUFS : 0;
}
