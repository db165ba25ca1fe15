/*
 * render_float.c - doubles in decimal: |a| * 10^prec rounded exactly as glibc
 * prints %.<prec>f, and the shortest decimal that reads back as the same
 * double (JSON values and the arguments a format did not use).
 */
#include "render_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int render_fixed_round_exact(double a, int prec, u128 *q)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    unsigned bexp = (unsigned)(bits >> 52) & 0x7ff;
    uint64_t m = bits & ((1ULL << 52) - 1);
    int e;

    if (bexp == 0x7ff || prec < 0 || prec > 19)
        return -1;
    if (bexp == 0) {
        e = -1074;
    } else {
        m |= 1ULL << 52;
        e = (int)bexp - 1075;
    }
    if (m == 0) {
        *q = 0;
        return 0;
    }
    if (e >= 0) {
        if (e > 74) /* m << e must stay below 2^127 */
            return -1;
        u128 whole = (u128)m << e;
        if (whole > ~(u128)0 / render_pow10_u64[prec])
            return -1;
        *q = whole * render_pow10_u64[prec];
        return 0;
    }
    unsigned shift = (unsigned)-e;
    u128 n = (u128)m * render_pow10_u64[prec]; /* < 2^53 * 10^19 < 2^117 */
    if (shift >= 118) {                 /* n < 2^117 <= half: rounds to zero */
        *q = 0;
        return 0;
    }
    u128 whole = n >> shift;
    u128 rest = n & (((u128)1 << shift) - 1);
    u128 half = (u128)1 << (shift - 1);
    if (rest > half || (rest == half && (whole & 1)))
        whole++;
    *q = whole;
    return 0;
}

/* put_fixed for 128-bit values and for a buffer near its end (where what
 * does not fit is cut). */
void render_put_fixed_cut(struct render_buf *out, u128 q, int prec, int dot_always)
{
    uint64_t scale = render_pow10_u64[prec];
    if (q <= UINT64_MAX) {
        char tmp[24];
        char *end = tmp + sizeof tmp;
        char *p = u64_digits_back(end, (uint64_t)q);
        while (end - p < prec + 1)
            *--p = '0';
        render_buf_put(out, p, (size_t)(end - p - prec));
        if (prec > 0 || dot_always)
            render_buf_putc(out, '.');
        render_buf_put(out, end - prec, (size_t)prec);
        return;
    }
    render_buf_u128(out, q / scale);
    if (prec > 0 || dot_always)
        render_buf_putc(out, '.');
    if (prec > 0)
        render_buf_u64_padded(out, (uint64_t)(q % scale), prec);
}

struct shortest_try {
    double a;       /* > 0, finite */
    uint64_t m;     /* a = m / 2^shift */
    int shift;
    unsigned bexp;
    int is_f32;
};


static void shortest_init(struct shortest_try *t, double a, int is_f32)
{
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    t->a = a;
    t->is_f32 = is_f32;
    t->bexp = (unsigned)(bits >> 52) & 0x7ff;
    t->m = t->bexp ? (bits & ((1ULL << 52) - 1)) | (1ULL << 52) : bits & ((1ULL << 52) - 1);
    t->shift = t->bexp ? 1075 - (int)t->bexp : 1074; /* a = m / 2^shift */
}

/* Whether q / 10^p reads back as a: 1 yes, 0 no, -1 cannot tell here. */
static int candidate_reads_back(const struct shortest_try *t, int p, u128 q)
{
    if (q <= (1ULL << 53)) {
        /* q and 10^p are exact doubles: one correctly rounded division,
         * cheaper than the integers below. */
        double back = (double)(uint64_t)q / render_pow10_dbl[p];
        return t->is_f32 ? (float)back == (float)t->a : back == t->a;
    }
    if (t->is_f32 || t->shift <= 0 || t->shift > 116)
        return -1;
    /* In integers: |q / 10^p - m / 2^shift| < half an ulp (1 / 2^(shift+1)),
     * scaled by 2^(shift+2) * 10^p; a tie reads back as a when m is even.
     * Below a power of two the interval is half as wide. All < 2^120. */
    u128 scale = render_pow10_u64[p];
    u128 cand = q << t->shift, exact = (u128)t->m * scale;
    int below = cand < exact;
    u128 dist = 4 * (below ? exact - cand : cand - exact), half = 2 * scale;
    if (below && t->m == (1ULL << 52) && t->bexp > 1)
        dist *= 2;
    return dist < half || (dist == half && (t->m & 1) == 0);
}

/* Whether a rounded to p fraction digits (*q / 10^p) reads back as a: 1 yes,
 * 0 no, -1 cannot tell here (then %g decides). */
static int shortest_check(const struct shortest_try *t, int p, u128 *q)
{
    if (fixed_round(t->a, p, q) < 0)
        return -1;
    return candidate_reads_back(t, p, *q);
}

/* The fewest fraction digits p >= lo at which a reads back (*q then holds
 * it rounded), knowing that lo - 1 does not; -1 when that is not decided
 * here. Reading back only gets better with more digits (the closest value of
 * p + 1 digits is no farther than the one of p digits), so the answer is
 * found by halving, after a guess at 15, 16 and 17 significant digits where
 * long values end. Before those, the next SHORT_TRIES digits one by one:
 * prices a format shows with too few digits are short decimals still.
 * int_digits: the significant digits a has before the point (negative:
 * zeros after it). */
#define SHORT_TRIES 3
static int shortest_above(const struct shortest_try *t, int lo, int int_digits, u128 *q)
{
    int hi = -1; /* the smallest p known to read back; *q holds it rounded */
    u128 cand;
    for (int k = 0; k < SHORT_TRIES && lo <= 19 && lo + int_digits < 15; k++) {
        int r = shortest_check(t, lo, &cand);
        if (r < 0)
            return -1;
        if (r) {
            *q = cand;
            return lo;
        }
        lo++;
    }
    for (int sig = 15; sig <= 17; sig++) {
        int p = sig - int_digits;
        if (p < lo)
            continue;
        if (p > 19)
            break;
        int r = shortest_check(t, p, &cand);
        if (r < 0)
            return -1;
        if (r) {
            hi = p;
            *q = cand;
            break;
        }
        lo = p + 1;
    }
    if (hi < 0) {
        if (lo > 19 || shortest_check(t, 19, q) != 1)
            return -1;
        hi = 19;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int r = shortest_check(t, mid, &cand);
        if (r < 0)
            return -1;
        if (r) {
            hi = mid;
            *q = cand;
        } else {
            lo = mid + 1;
        }
    }
    return hi;
}

/* Shortest decimal of a finite double that reads back as the same double (or,
 * is_f32, whose double narrows back to the same float). Always has a '.' or an
 * exponent, so a JSON reader keeps it a float. */
void render_put_shortest_double(struct render_buf *out, double v, int is_f32)
{
    double a = fabs(v);
    if (signbit(v))
        render_buf_putc(out, '-');
    if (a == 0) {
        render_buf_puts(out, "0.0");
        return;
    }
    /* Fixed notation with the fewest fraction digits that round-trips
     * (shortest_check: exact for short candidates and for the 16 or 17 digits
     * computed prices such as 100.01 - 0.01 need). Short prices are found by
     * counting up; longer values by shortest_above(). */
    struct shortest_try t;
    shortest_init(&t, a, is_f32);
    u128 q;
    int found = -1;
    for (int p = 0; p <= 3 && found < 0; p++) {
        int r = shortest_check(&t, p, &q);
        if (r < 0)
            break;
        if (r)
            found = p;
        else if (p == 3)
            found = shortest_above(&t, 4, q ? (int)u64_ndigits((uint64_t)q) - 3 : -3, &q);
    }
    if (found >= 0) {
        put_fixed(out, q, found, 1);
        if (found == 0)
            render_buf_putc(out, '0');
        return;
    }
    /* Very large, very small or long: the fewest %g digits that read back. */
    char tmp[40];
    for (int digits = is_f32 ? 6 : 15; digits <= 17; digits++) {
        int n = snprintf(tmp, sizeof tmp, "%.*g", digits, a);
        if (n <= 0 || (size_t)n >= sizeof tmp)
            break;
        double back = strtod(tmp, NULL);
        if (digits == 17 || (is_f32 ? (float)back == (float)a : back == a)) {
            render_buf_put(out, tmp, (size_t)n);
            if (!strpbrk(tmp, ".e"))
                render_buf_puts(out, ".0");
            return;
        }
    }
}

/* The shortest round-trip form of a finite double whose fixed rendering
 * with p digits was q: from there it only needs to look shorter. shown
 * (or NULL): that rendering as text, sign included, shown_len bytes. */
void render_put_shortest_from(struct render_buf *out, double v, u128 q, int p, const char *shown, size_t shown_len)
{
    struct shortest_try t;
    double a = fabs(v);
    shortest_init(&t, a, 0);
    if (a == 0 || q > UINT64_MAX) {
        render_put_shortest_double(out, v, 0);
        return;
    }
    int r = candidate_reads_back(&t, p, q);
    if (r != 1) {
        /* Longer than p digits (a computed value): search from p + 1. */
        int found = r < 0 ? -1 : shortest_above(&t, p + 1, q ? (int)u64_ndigits((uint64_t)q) - p : -p, &q);
        if (found < 0) {
            render_put_shortest_double(out, v, 0);
            return;
        }
        if (signbit(v))
            render_buf_putc(out, '-');
        put_fixed(out, q, found, 1);
        if (found == 0)
            render_buf_putc(out, '0');
        return;
    }
    int shown_p = p;
    if (q <= UINT64_MAX) { /* 64-bit: a division by a constant is a multiplication */
        uint64_t q64 = (uint64_t)q;
        while (p > 0 && q64 % 10 == 0) {
            q64 /= 10;
            p--;
        }
        q = q64;
    } else {
        while (p > 0 && q % 10 == 0) {
            q /= 10;
            p--;
        }
    }
    /* Reading back is monotonic in p: shorter only while p - 1 still does.
     * q's last digit is not 0, so every p - 1 digit value is at least 10^-p
     * away: none can share a's rounding interval, one ulp wide, when the ulp
     * (2^-shift) is smaller than that. */
    u128 shorter;
    int ulp_below = t.shift >= 64 || (t.shift > 0 && render_pow10_u64[p] < (1ULL << t.shift));
    if (ulp_below && shown) {
        /* The message's digits without the zeros just stripped. */
        render_buf_put(out, shown, shown_len - (size_t)(shown_p - p));
        if (shown_p == 0)
            render_buf_put(out, ".0", 2);
        else if (p == 0)
            render_buf_putc(out, '0');
        return;
    }
    while (p > 0 && !ulp_below && shortest_check(&t, p - 1, &shorter) == 1) {
        q = shorter;
        p--;
    }
    if (signbit(v))
        render_buf_putc(out, '-');
    put_fixed(out, q, p, 1);
    if (p == 0)
        render_buf_putc(out, '0');
}

size_t render_fmt_shortest_double(char *out, double v, int is_f32)
{
    size_t n = 0;
    if (signbit(v))
        out[n++] = '-';
    double a = fabs(v);
    if (isnan(v) || isinf(v)) {
        memcpy(out + n, isnan(v) ? "nan" : "inf", 3);
        return n + 3;
    }
    if (a == 0) {
        out[n++] = '0';
        return n;
    }
    /* The fewest significant digits whose correctly rounded decimal reads back. */
    char e[40];
    int len = 0;
    for (int digits = 1; digits <= 17; digits++) {
        len = snprintf(e, sizeof e, "%.*e", digits - 1, a);
        if (len <= 0 || (size_t)len >= sizeof e)
            return n;
        if (is_f32 ? strtof(e, NULL) == (float)a : strtod(e, NULL) == a)
            break;
    }
    char digit[20];
    int nd = 0;
    const char *p = e;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digit[nd++] = *p;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digit[nd - 1] == '0')
        nd--;
    if (exp < -4 || exp >= 16) {
        out[n++] = digit[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digit + 1, (size_t)nd - 1);
            n += (size_t)nd - 1;
        }
        n += (size_t)snprintf(out + n, 8, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
        return n;
    }
    if (exp < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int z = -1; z > exp; z--)
            out[n++] = '0';
        memcpy(out + n, digit, (size_t)nd);
        return n + (size_t)nd;
    }
    for (int k = 0; k <= exp || k < nd; k++) {
        if (k == exp + 1)
            out[n++] = '.';
        out[n++] = k < nd ? digit[k] : '0';
    }
    return n;
}
