/*
 * dump_output.c - the layer every shmlog-dump command writes through: the
 * buffered standard output, the pieces of text and JSON lines, and the
 * record filters (dump.h). shmlog-dump.c (command line, segments, ring,
 * status, set-level, clean) and the file commands (read, stats, follow, verify)
 * both use it; it calls neither.
 */
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dump.h"

const char *const dump_prog = "shmlog-dump";

/* ==== Output: one large buffer, written in big chunks ==== */

static char out_mem[4u << 20];
static size_t out_len;
static int out_failed;

void out_flush(void)
{
    if (out_len && !out_failed && fwrite(out_mem, 1, out_len, stdout) != out_len)
        out_failed = 1;
    out_len = 0;
}

void out_push(void)
{
    out_flush();
    if (fflush(stdout) != 0)
        out_failed = 1;
}

int out_finish(void)
{
    out_flush();
    return fflush(stdout) != 0 || out_failed ? -1 : 0;
}

struct render_buf out_begin(void)
{
    struct render_buf b;
    if (sizeof out_mem - out_len < RENDER_LINE_MAX + 1) /* + 1: shmlog_read_format's NUL */
        out_flush();
    render_buf_init(&b, out_mem + out_len, sizeof out_mem - out_len);
    return b;
}

void out_end(const struct render_buf *b)
{
    out_len += b->len;
}

/* ==== Output pieces ==== */

void put_json_kv_str(struct render_buf *b, const char *key, const char *value)
{
    render_buf_putc(b, ',');
    render_buf_putc(b, '"');
    render_buf_puts(b, key);
    render_buf_puts(b, "\":");
    render_json_string(b, value, strlen(value));
}

void put_json_kv_u64(struct render_buf *b, const char *key, uint64_t v)
{
    render_buf_putc(b, ',');
    render_buf_putc(b, '"');
    render_buf_puts(b, key);
    render_buf_puts(b, "\":");
    render_buf_u64(b, v);
}

void put_json_kv_bool(struct render_buf *b, const char *key, int v)
{
    render_buf_putc(b, ',');
    render_buf_putc(b, '"');
    render_buf_puts(b, key);
    render_buf_puts(b, v ? "\":true" : "\":false");
}

/* Text values from shared memory may hold anything: show them through the
 * JSON escaper without the quotes, so a hostile name cannot break the line. */
void put_text_safe(struct render_buf *b, const char *s)
{
    size_t start = b->len;
    render_json_string(b, s, strlen(s));
    if (b->overflow || b->len - start < 2)
        return;
    memmove(b->data + start, b->data + start + 1, b->len - start - 2);
    b->len -= 2;
}

const char *level_text(uint32_t level)
{
    const char *name = shm_level_name(level);
    return name ? name : level == SHMLOG_LEVEL_OFF ? "OFF" : "?";
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ==== Filters ==== */

int filter_process(const struct dump_filter *f, const char *app, uint32_t pid)
{
    return (!f->pid || f->pid == pid) && (!f->app || strcmp(f->app, app ? app : "") == 0);
}

int filter_time(const struct dump_filter *f, uint64_t ts_ns)
{
    /* No --until passes every time, also the largest one (a damaged clock maps there). */
    return ts_ns >= f->since_ns && (ts_ns < f->until_ns || f->until_ns == UINT64_MAX);
}

int filter_record(const struct dump_filter *f, unsigned level, const char *category, uint64_t ts_ns)
{
    return (int)level >= f->min_level && (!f->category[0] || (category && strcmp(category, f->category) == 0)) &&
           filter_time(f, ts_ns);
}

int filter_grep(const struct dump_filter *f, const struct render_site *sr, const struct shm_copied_record *rec)
{
    if (!f->has_grep)
        return 1;
    /* The longest message fits with room; a cut one is matched as far as it goes. */
    static char msg[RENDER_LINE_MAX + 1];
    struct render_buf b;
    render_buf_init(&b, msg, sizeof msg - 1);
    render_prepared_msg(sr, rec, &b);
    msg[b.len] = '\0';
    return regexec(&f->grep, msg, 0, NULL, 0) == 0;
}
