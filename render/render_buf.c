/*
 * render_buf.c - the bounded output buffer's out-of-line parts and integers
 * in decimal and hex (the inline parts: render.h, render_private.h).
 */
#include "render_private.h"

#include <string.h>

const char render_digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void render_buf_put_slow(struct render_buf *b, const void *src, size_t n)
{
    size_t room = b->cap - b->len;
    if (n > room) {
        n = room;
        b->overflow = 1;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

void render_buf_fill(struct render_buf *b, char c, size_t n)
{
    size_t room = b->cap - b->len;
    if (n > room) {
        n = room;
        b->overflow = 1;
    }
    memset(b->data + b->len, c, n);
    b->len += n;
}

void render_buf_u64(struct render_buf *b, uint64_t v)
{
    buf_u64(b, v);
}

void render_buf_i64(struct render_buf *b, int64_t v)
{
    buf_i64(b, v);
}

/* Appends v zero-padded to exactly ndigits digits (v < 10^ndigits). */
void render_buf_u64_padded(struct render_buf *b, uint64_t v, int ndigits)
{
    char tmp[24];
    char *end = tmp + sizeof tmp;
    char *p = u64_digits_back(end, v);
    while (end - p < ndigits)
        *--p = '0';
    render_buf_put(b, p, (size_t)(end - p));
}

void render_buf_u128(struct render_buf *b, u128 v)
{
    static const uint64_t ten19 = 10000000000000000000ULL;
    if (v <= UINT64_MAX) {
        render_buf_u64(b, (uint64_t)v);
        return;
    }
    /* v < 2^128 so v / 10^19 < 2^64: two pieces suffice. */
    render_buf_u64(b, (uint64_t)(v / ten19));
    render_buf_u64_padded(b, (uint64_t)(v % ten19), 19);
}

void render_buf_hex64(struct render_buf *b, uint64_t v)
{
    char tmp[16];
    render_buf_put(b, tmp, (size_t)(hex_at(tmp, v, 0) - tmp));
}

const uint64_t render_pow10_u64[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

const double render_pow10_dbl[20] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                                     1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};

void render_trace_id(uint64_t hi, uint64_t lo, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[i] = digits[hi >> (60 - 4 * i) & 0xF];
        out[16 + i] = digits[lo >> (60 - 4 * i) & 0xF];
    }
    out[32] = '\0';
}
