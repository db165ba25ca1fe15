/*
 * render_escape.c - bytes made safe to show: escaped for a text line (control
 * bytes and invalid UTF-8 as \xNN) or for a JSON string (valid JSON for any
 * bytes, invalid UTF-8 as \ufffd).
 */
#include "render_private.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is invalid:
 * overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_valid_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[2] & 0xC0) != 0x80)
            return 0;
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi ? 4 : 0;
    }
    return 0;
}

size_t render_utf8_valid(const void *src, size_t n)
{
    const uint8_t *s = src;
    if (render_ascii(s, n))
        return n;
    size_t i = 0;
    while (i < n) {
        /* ASCII, 8 bytes at a time: most messages are nothing else. */
        uint64_t w;
        while (i + 8 <= n && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull)))
            i += 8;
        if (i >= n)
            break;
        size_t len = utf8_valid_len(s + i, n - i);
        if (!len)
            return i;
        i += len;
    }
    return n;
}

void render_utf8_repair(struct render_buf *out, const void *src, size_t n)
{
    const uint8_t *s = src;
    size_t i = 0;
    while (i < n) {
        size_t ok = render_utf8_valid(s + i, n - i);
        render_buf_put(out, s + i, ok);
        i += ok;
        if (i < n) {
            render_buf_put(out, "\xef\xbf\xbd", 3); /* U+FFFD */
            i++;
        }
    }
}

/* Bytes carried as they are: printable ASCII. JSON strings also escape the
 * quote and the backslash. */
#define PLAIN_ROW(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
const uint8_t render_text_plain[256] = {
    PLAIN_ROW(0), PLAIN_ROW(0), PLAIN_ROW(1), PLAIN_ROW(1), PLAIN_ROW(1), PLAIN_ROW(1), PLAIN_ROW(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x7f */
};
const uint8_t render_json_plain[256] = {
    PLAIN_ROW(0), PLAIN_ROW(0),
    1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    PLAIN_ROW(1), PLAIN_ROW(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \ */, 1, 1, 1,
    PLAIN_ROW(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x7f */
};
#undef PLAIN_ROW

/* JSON string contents (no quotes) for any bytes. */
void render_json_escape_body(struct render_buf *out, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        size_t run = plain_run(s, i, n, render_json_plain);
        render_buf_put(out, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        uint8_t c = s[i];
        if (c >= 0x80) {
            size_t len = utf8_valid_len(s + i, n - i);
            if (len) {
                render_buf_put(out, s + i, len);
                i += len;
            } else {
                render_buf_put(out, "\\ufffd", 6);
                i++;
            }
            continue;
        }
        switch (c) {
        case '"': render_buf_put(out, "\\\"", 2); break;
        case '\\': render_buf_put(out, "\\\\", 2); break;
        case '\n': render_buf_put(out, "\\n", 2); break;
        case '\r': render_buf_put(out, "\\r", 2); break;
        case '\t': render_buf_put(out, "\\t", 2); break;
        case '\b': render_buf_put(out, "\\b", 2); break;
        case '\f': render_buf_put(out, "\\f", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            render_buf_put(out, u, sizeof u);
            break;
        }
        }
        i++;
    }
}

void render_json_string(struct render_buf *out, const void *s, size_t n)
{
    render_buf_putc(out, '"');
    render_json_escape_body(out, (const uint8_t *)s, n);
    render_buf_putc(out, '"');
}

/* Text lines: control bytes and invalid UTF-8 become visible escapes, so a
 * hostile message cannot break lines or drive the terminal. */
void render_put_text_escaped(struct render_buf *out, const void *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)src;
    size_t i = 0;
    while (i < n) {
        size_t run = plain_run(s, i, n, render_text_plain);
        render_buf_put(out, s + i, run - i);
        i = run;
        if (i >= n)
            break;
        uint8_t c = s[i];
        size_t len = c >= 0x80 ? utf8_valid_len(s + i, n - i) : 0;
        if (len) {
            render_buf_put(out, s + i, len);
            i += len;
            continue;
        }
        if (c == '\n') {
            render_buf_puts(out, "\\n");
        } else if (c == '\r') {
            render_buf_puts(out, "\\r");
        } else if (c == '\t') {
            render_buf_puts(out, "\\t");
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            render_buf_put(out, esc, sizeof esc);
        }
        i++;
    }
}
