/* read_time.c - the times the filters take (shmlog-dump --since and --until, the library's shmlog_read_parse_time): absolute, partial (in the zone the caller names) or relative to now. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "read_filter.h"

const char *const read_time_forms =
    "2026-11-23T03:31:05[.5][Z|+01:00], 2026-11-23[T03:31[:05]], 03:31[:05[.5]] (today), "
    "-30s, -5m, -2h, -1d (before now), Unix seconds[.frac] or ns";

/* Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int read_digits(const char **s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return -1;
        v = v * 10 + (unsigned)(**s - '0');
    }
    *out = v;
    return 0;
}

/* ".ddd" at *s (if there is one) as nanoseconds; digits past the ninth are
 * read and dropped. 0, or -1 for a '.' without digits. */
static int read_fraction(const char **s, uint64_t *ns)
{
    *ns = 0;
    if (**s != '.')
        return 0;
    (*s)++;
    int digits = 0;
    for (; **s >= '0' && **s <= '9'; (*s)++)
        if (digits < 9) {
            *ns = *ns * 10 + (uint64_t)(**s - '0');
            digits++;
        }
    if (digits == 0)
        return -1;
    while (digits++ < 9)
        *ns *= 10;
    return 0;
}

/* A civil time without a zone. */
struct civil {
    unsigned year, mon, day, hh, mm, ss;
};

/* "hh:mm[:ss[.frac]]" at *s. */
static int read_clock(const char **s, struct civil *c, uint64_t *frac)
{
    c->ss = 0;
    *frac = 0;
    if (read_digits(s, 2, &c->hh) || *(*s)++ != ':' || read_digits(s, 2, &c->mm))
        return -1;
    if (**s == ':') {
        (*s)++;
        if (read_digits(s, 2, &c->ss) || read_fraction(s, frac))
            return -1;
    }
    return c->hh > 23 || c->mm > 59 || c->ss > 60 ? -1 : 0;
}

/* Seconds since the epoch of c in the local zone (local) or UTC; -1 when
 * there is none. */
static int64_t civil_to_epoch(const struct civil *c, int local)
{
    if (!local)
        return days_from_civil(c->year, c->mon, c->day) * 86400 + c->hh * 3600 + c->mm * 60 + c->ss;
    /* mktime picks the earlier of a repeated hour and moves a skipped one
     * forward, as a person reading local times would. */
    struct tm tm = {.tm_year = (int)c->year - 1900, .tm_mon = (int)c->mon - 1, .tm_mday = (int)c->day,
                    .tm_hour = (int)c->hh, .tm_min = (int)c->mm, .tm_sec = (int)c->ss, .tm_isdst = -1};
    time_t t = mktime(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t;
}

/* "-30s", "-5m", "-2h", "-1d": that long before now. */
static int parse_relative(const char *s, uint64_t now, uint64_t *ns)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s + 1, &end, 10);
    if (errno || end == s + 1 || s[1] < '0' || s[1] > '9' || !end[0] || end[1])
        return -1;
    uint64_t unit;
    switch (end[0]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return -1;
    }
    if (n > now / 1000000000u / unit)
        return -1;
    *ns = now - n * unit * 1000000000u;
    return 0;
}

/* "YYYY-MM-DD[Thh:mm[:ss[.frac]]][Z|+hh:mm]", 't' and ' ' for 'T' and 'z'
 * for 'Z' too; a zone needs a clock time. */
static int parse_date(const char *s, int local, uint64_t *ns)
{
    const char *p = s;
    struct civil c = {0};
    uint64_t frac = 0;
    if (read_digits(&p, 4, &c.year) || *p++ != '-' || read_digits(&p, 2, &c.mon) || *p++ != '-' ||
        read_digits(&p, 2, &c.day))
        return -1;
    if (c.year < 1970 || c.mon < 1 || c.mon > 12 || c.day < 1 || c.day > 31)
        return -1;
    int has_clock = *p == 'T' || *p == 't' || *p == ' ';
    if (has_clock) {
        p++;
        if (read_clock(&p, &c, &frac))
            return -1;
    }
    int64_t secs;
    if (has_clock && (*p == 'Z' || *p == 'z' || *p == '+' || *p == '-')) {
        int64_t offset = 0;
        if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            unsigned oh, om;
            if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            offset = sign * (int64_t)(oh * 3600 + om * 60);
        } else {
            p++;
        }
        secs = days_from_civil(c.year, c.mon, c.day) * 86400 + c.hh * 3600 + c.mm * 60 + c.ss - offset;
    } else {
        secs = civil_to_epoch(&c, local);
    }
    if (*p || secs < 0)
        return -1;
    *ns = (uint64_t)secs * 1000000000u + frac;
    return 0;
}

/* "hh:mm[:ss[.frac]]": today's date, in the local zone (local) or UTC. */
static int parse_clock_today(const char *s, int local, uint64_t now, uint64_t *ns)
{
    const char *p = s;
    struct civil c;
    uint64_t frac;
    if (read_clock(&p, &c, &frac) || *p)
        return -1;
    time_t t = (time_t)(now / 1000000000u);
    struct tm today;
    if (!(local ? localtime_r(&t, &today) : gmtime_r(&t, &today)))
        return -1;
    c.year = (unsigned)today.tm_year + 1900;
    c.mon = (unsigned)today.tm_mon + 1;
    c.day = (unsigned)today.tm_mday;
    int64_t secs = civil_to_epoch(&c, local);
    if (secs < 0)
        return -1;
    *ns = (uint64_t)secs * 1000000000u + frac;
    return 0;
}

/* Unix seconds (up to 11 digits, a fraction allowed) or nanoseconds. */
static int parse_unix(const char *s, uint64_t *ns)
{
    char *end;
    errno = 0;
    unsigned long long whole = strtoull(s, &end, 10);
    if (errno || end == s || s[0] < '0' || s[0] > '9')
        return -1;
    size_t ndigits = (size_t)(end - s);
    if (*end != '.' && ndigits > 11) {
        if (*end)
            return -1;
        *ns = whole;
        return 0;
    }
    if (whole > UINT64_MAX / 1000000000u)
        return -1;
    const char *p = end;
    uint64_t frac;
    if (read_fraction(&p, &frac) || *p)
        return -1;
    *ns = (uint64_t)whole * 1000000000u + frac;
    return 0;
}

int read_parse_time(const char *s, int local, uint64_t now, uint64_t *ns)
{
    if (s[0] == '-')
        return parse_relative(s, now, ns);
    if (strlen(s) >= 10 && s[4] == '-')
        return parse_date(s, local, ns);
    if (strlen(s) >= 5 && s[2] == ':')
        return parse_clock_today(s, local, now, ns);
    return parse_unix(s, ns);
}

uint64_t read_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
