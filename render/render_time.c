/*
 * render_time.c - RFC 3339 times from nanoseconds since the epoch, in UTC
 * ("YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ") or in the local zone with its offset
 * ("...+01:00"), without the C library's time functions on the common path.
 */
#include "render_private.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

/* ==== The zone ==== */

void render_memo_init(struct render_memo *m, int local)
{
    memset(m, 0, sizeof *m);
    if (local)
        tzset();
    m->local = local != 0;
    m->zone_lo = 1; /* an empty span */
    m->civil_sec = m->json_sec = m->tid_cpu = UINT64_MAX;
}

/* The zone's offset at sec in whole minutes (an offset RFC 3339 can show). */
static int32_t offset_at(int64_t sec)
{
    time_t t = (time_t)sec;
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return 0;
    return (int32_t)(tm.tm_gmtoff / 60 * 60);
}

/* Seconds lo..hi (inclusive) have one offset (the memo's zone_*).
 * localtime_r per record would cost more than the whole record: it runs only
 * when a record leaves the span, which ends at the zone's transitions. */

/* No zone changes its offset twice within this many seconds, so two equal
 * offsets this far apart have no transition between them. */
#define ZONE_PROBE_SECS 3600

/* The last second from sec, going by step (+1 or -1) and at most
 * ZONE_PROBE_SECS, that still has sec's offset off. */
static int64_t span_end(int64_t sec, int32_t off, int step)
{
    int64_t same = sec, other = sec + step * ZONE_PROBE_SECS;
    if (offset_at(other) == off)
        return other;
    while ((other - same) * step > 1) {
        int64_t mid = same + (other - same) / 2;
        if (offset_at(mid) == off)
            same = mid;
        else
            other = mid;
    }
    return same;
}

int32_t render_zone_offset(struct render_memo *m, uint64_t sec)
{
    if (!m || !m->local)
        return 0;
    int64_t s = sec > (uint64_t)INT64_MAX / 2 ? INT64_MAX / 2 : (int64_t)sec;
    if (s < m->zone_lo || s > m->zone_hi) {
        m->zone_off = offset_at(s);
        m->zone_lo = span_end(s, m->zone_off, -1);
        m->zone_hi = span_end(s, m->zone_off, 1);
    }
    /* West of Greenwich, the epoch's first hours have no civil second that
     * a u64 holds: they are shown in UTC (+00:00). */
    if (m->zone_off < 0 && sec < (uint64_t)-(int64_t)m->zone_off)
        return 0;
    return m->zone_off;
}

size_t render_zone_suffix(const struct render_memo *m, int32_t off, char out[6])
{
    if (!m || !m->local) {
        out[0] = 'Z';
        return 1;
    }
    uint32_t mins = (uint32_t)(off < 0 ? -off : off) / 60u;
    out[0] = off < 0 ? '-' : '+';
    out[1] = (char)('0' + mins / 600u % 10u);
    out[2] = (char)('0' + mins / 60u % 10u);
    out[3] = ':';
    out[4] = (char)('0' + mins % 60u / 10u);
    out[5] = (char)('0' + mins % 10u);
    return 6;
}

/* ==== Civil time ==== */

/* "YYYY-MM-DDThh:mm:ss" of a second since the epoch. */
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
    render_buf_u64_padded(&b, year, 4);
    render_buf_putc(&b, '-');
    render_buf_u64_padded(&b, month, 2);
    render_buf_putc(&b, '-');
    render_buf_u64_padded(&b, day, 2);
    render_buf_putc(&b, 'T');
    render_buf_u64_padded(&b, sod / 3600u, 2);
    render_buf_putc(&b, ':');
    render_buf_u64_padded(&b, sod / 60u % 60u, 2);
    render_buf_putc(&b, ':');
    render_buf_u64_padded(&b, sod % 60u, 2);
}

const char *render_civil_second(struct render_memo *m, uint64_t secs, char out[19])
{
    if (!m) {
        format_civil_second(out, secs);
        return out;
    }
    if (secs != m->civil_sec) {
        format_civil_second(m->civil_text, secs);
        m->civil_sec = secs;
    }
    return m->civil_text;
}

void render_buf_rfc3339(struct render_buf *out, uint64_t ns)
{
    char tmp[36], civil[19];
    struct render_buf b;
    uint64_t sec = ns / 1000000000u;
    int32_t off = render_zone_offset(out->memo, sec);
    render_buf_init(&b, tmp, sizeof tmp);
    render_buf_put(&b, render_civil_second(out->memo, sec + (uint64_t)(int64_t)off, civil), 19);
    render_buf_putc(&b, '.');
    render_buf_u64_padded(&b, ns % 1000000000u, 9);
    char suffix[8];
    render_buf_put(&b, suffix, render_zone_suffix(out->memo, off, suffix));
    render_buf_put(out, tmp, b.len);
}
