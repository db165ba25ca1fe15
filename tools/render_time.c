/*
 * render_time.c - RFC 3339 times, "YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ", UTC, from
 * nanoseconds since the epoch, without the C library's time functions.
 */
#include "render_private.h"

#include <stdint.h>

/* "YYYY-MM-DDThh:mm:ss" of a second since the epoch, UTC. */
static void format_civil_second(char out[19], uint64_t secs)
{
    uint64_t days = secs / 86400u;
    uint32_t sod = (uint32_t)(secs % 86400u);

    /* Civil date from days since 1970-01-01 (H. Hinnant's civil_from_days),
     * exact for every u64 nanosecond value. */
    uint64_t z = days + 719468u;
    uint64_t era = z / 146097u;
    uint64_t doe = z - era * 146097u;
    uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint64_t year = yoe + era * 400u;
    uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint64_t mp = (5u * doy + 2u) / 153u;
    uint64_t day = doy - (153u * mp + 2u) / 5u + 1u;
    uint64_t month = mp < 10 ? mp + 3 : mp - 9;
    if (month <= 2)
        year++;

    struct render_buf b;
    render_buf_init(&b, out, 19);
    buf_u64_padded(&b, year, 4);
    render_buf_putc(&b, '-');
    buf_u64_padded(&b, month, 2);
    render_buf_putc(&b, '-');
    buf_u64_padded(&b, day, 2);
    render_buf_putc(&b, 'T');
    buf_u64_padded(&b, sod / 3600u, 2);
    render_buf_putc(&b, ':');
    buf_u64_padded(&b, sod / 60u % 60u, 2);
    render_buf_putc(&b, ':');
    buf_u64_padded(&b, sod % 60u, 2);
}

/* "YYYY-MM-DDThh:mm:ss" of secs. Records come in bursts within one second:
 * the last second's text is kept. */
const char *civil_second(uint64_t secs)
{
    static __thread uint64_t cached_sec = UINT64_MAX;
    static __thread char cached[19];
    if (secs != cached_sec) {
        format_civil_second(cached, secs);
        cached_sec = secs;
    }
    return cached;
}

void render_buf_rfc3339(struct render_buf *out, uint64_t ns)
{
    char tmp[30];
    struct render_buf b;
    render_buf_init(&b, tmp, sizeof tmp);
    render_buf_put(&b, civil_second(ns / 1000000000u), 19);
    render_buf_putc(&b, '.');
    buf_u64_padded(&b, ns % 1000000000u, 9);
    render_buf_putc(&b, 'Z');
    render_buf_put(out, tmp, b.len);
}
