/*
 * dump_output.c - the layer every shmlog-dump command writes through: the
 * buffered standard output, its zone, standard error, and the pieces of
 * text and JSON lines (dump.h). shmlog-dump.c and every command use it; it
 * calls none of them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"

const char *const dump_prog = "shmlog-dump";

/* ==== Output: one large buffer, written in big chunks ==== */

static char out_mem[4u << 20];
static size_t out_len;
static int out_failed;
static struct render_memo out_memo; /* the output's zone, and what its lines repeat */

void out_zone(int local)
{
    render_memo_init(&out_memo, local);
}

void out_flush(void)
{
    if (out_len && !out_failed && fwrite(out_mem, 1, out_len, stdout) != out_len)
        out_failed = 1;
    out_len = 0;
}

void out_write(const void *p, size_t n)
{
    out_flush();
    if (n && !out_failed && fwrite(p, 1, n, stdout) != n)
        out_failed = 1;
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
    b.memo = &out_memo;
    return b;
}

void out_end(const struct render_buf *b)
{
    out_len += b->len;
}

int dump_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = ENOSPC;
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

void dump_say(const char *msg, int note)
{
    out_push();
    fprintf(stderr, "%s: %s%s\n", dump_prog, note ? "note: " : "", msg);
}

void dump_oom(void)
{
    out_push();
    fprintf(stderr, "%s: out of memory\n", dump_prog);
    exit(1);
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
