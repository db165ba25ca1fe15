/*
 * render_text.c - text lines: the record, exit and loss lines (their layout:
 * render.h), with everything from other processes escaped.
 */
#include "render_private.h"

#include <errno.h>
#include <string.h>

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void render_put_level_text(struct render_buf *out, unsigned level, int pad)
{
    const char *name = shm_level_name(level);
    size_t len;
    if (name) {
        len = strlen(name);
        render_buf_put(out, name, len);
    } else {
        render_buf_putc(out, 'L');
        render_buf_u64(out, level);
        len = level < 10 ? 2 : level < 100 ? 3 : 4;
    }
    if (pad && len < 5)
        render_buf_fill(out, ' ', 5 - len);
}

/* " INFO  order app[1234/" */
void render_put_text_head(struct render_buf *out, unsigned level, const char *category, unsigned category_id,
                          const char *app, uint32_t pid)
{
    render_buf_putc(out, ' ');
    render_put_level_text(out, level, 1);
    render_buf_putc(out, ' ');
    if (!category) {
        render_buf_puts(out, "cat");
        render_buf_u64(out, category_id);
    } else {
        render_buf_puts(out, category_id == SHMLOG_CAT_NONE ? "-" : category);
    }
    render_buf_putc(out, ' ');
    if (app)
        render_put_text_escaped(out, app, strlen(app));
    render_buf_putc(out, '[');
    render_buf_u64(out, pid);
    render_buf_putc(out, '/');
}

/* " file.c:42 " (the file's last path component) */
void render_put_text_site(struct render_buf *out, const char *file, uint32_t line, int known)
{
    render_buf_putc(out, ' ');
    if (known) {
        const char *name = base_name(file);
        render_put_text_escaped(out, name, strlen(name));
        render_buf_putc(out, ':');
        render_buf_u64(out, line);
    } else {
        render_buf_putc(out, '?');
    }
    render_buf_putc(out, ' ');
}

int render_text_record(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu, uint64_t ts_ns,
                       const char *thread, const struct render_trace *trace, const struct render_arg *args, int nargs,
                       struct render_buf *out)
{
    int truncated = (rec->flags & SHMLOG_REC_TRUNCATED) != 0;
    /* A record repeats its site's level and category; one that differs
     * (a hostile or damaged record) gets its own head. */
    int own_head = rec->level != sr->level || rec->category != sr->category;

    render_buf_rfc3339(out, ts_ns);
    if (own_head)
        render_put_text_head(out, rec->level, shm_categories_name(sr->cats, rec->category), rec->category, sr->app,
                             sr->pid);
    else
        put_piece(out, sr->text_head, sr->text_head_len);
    render_buf_u64(out, rec->tid);
    if (thread) { /* a name has no control character (FORMAT.md, THREAD) */
        render_buf_putc(out, ':');
        render_buf_puts(out, thread);
    }
    render_buf_put(out, "] cpu", 5);
    render_buf_u64(out, cpu);
    put_piece(out, sr->text_site, sr->text_site_len);
    render_put_prepared_msg(sr, rec, args, nargs, out, ESC_TEXT, NULL);
    if (trace && !(rec->flags & SHMLOG_REC_TRACE)) { /* a trace record's message says it already */
        char id[33];
        render_trace_id(trace->hi, trace->lo, id);
        render_buf_put(out, " trace_id=", 10);
        render_buf_put(out, id, 32);
        if (trace->span[0]) {
            render_buf_put(out, " span=", 6);
            render_buf_puts(out, trace->span);
        }
    }
    if (truncated)
        render_buf_put(out, " <truncated>", 12);
    if (rec->flags & SHMLOG_REC_CLAMPED)
        render_buf_put(out, " <clamped>", 10);
    if (rec->flags & SHMLOG_REC_BACKTRACE)
        render_buf_put(out, " <backtrace>", 12);
    if (rec->flags & SHM_REC_TIME_UNCERTAIN)
        render_buf_put(out, " <time uncertain>", 17);
    render_buf_putc(out, '\n');
    return out->overflow ? -ENOBUFS : 0;
}

/* how: 0..2, as render_exit() has checked it. */
int render_text_exit(const struct render_input *in, uint64_t records, uint64_t lost, unsigned how,
                     struct render_buf *out)
{
    static const char *const text[3] = {"process exited", "process shut down", "process died without shutting down"};
    render_buf_rfc3339(out, in->ts_ns);
    render_buf_puts(out, " EXIT  ");
    if (in->app)
        render_put_text_escaped(out, in->app, strlen(in->app));
    render_buf_putc(out, '[');
    render_buf_u64(out, in->pid);
    render_buf_puts(out, "]: ");
    render_buf_puts(out, text[how]);
    render_buf_puts(out, "; ");
    render_buf_u64(out, records);
    render_buf_puts(out, records == 1 ? " record, " : " records, ");
    render_buf_u64(out, lost);
    render_buf_puts(out, " lost\n");
    return out->overflow ? -ENOBUFS : 0;
}

int render_text_loss(const struct render_input *in, const struct shm_loss *loss, struct render_buf *out)
{
    const char *reason = shm_loss_reason_name(loss->reason);
    render_buf_rfc3339(out, in->ts_ns);
    render_buf_puts(out, " LOSS  ");
    if (in->app)
        render_put_text_escaped(out, in->app, strlen(in->app));
    render_buf_putc(out, '[');
    render_buf_u64(out, in->pid);
    render_buf_putc(out, ']');
    if (in->cpu != UINT32_MAX) { /* a loss of the whole process (before_init, no_ring) has no ring */
        render_buf_puts(out, " cpu");
        render_buf_u64(out, in->cpu);
    }
    render_buf_puts(out, ": ");
    render_buf_u64(out, loss->records);
    render_buf_puts(out, loss->records == 1 ? " record" : " records");
    if (loss->positions) {
        render_buf_puts(out, " (");
        render_buf_u64(out, loss->positions);
        render_buf_puts(out, loss->positions == 1 ? " position from seq " : " positions from seq ");
        render_buf_u64(out, loss->first_pos);
        render_buf_putc(out, ')');
    }
    render_buf_puts(out, " lost: ");
    render_buf_puts(out, reason);
    render_buf_putc(out, '\n');
    return out->overflow ? -ENOBUFS : 0;
}
