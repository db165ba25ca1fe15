/* Description: helpers shared by the fuzz harnesses (input cursor, output oracles, private files). */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ==== Input cursor ==== */

size_t fz_bytes(struct fz_in *in, void *dst, size_t n)
{
    size_t k = n < in->n ? n : in->n;
    if (k)
        memcpy(dst, in->p, k);
    memset((uint8_t *)dst + k, 0, n - k);
    in->p += k;
    in->n -= k;
    return k;
}

const uint8_t *fz_span(struct fz_in *in, size_t n, size_t *len)
{
    const uint8_t *p = in->p;
    *len = n < in->n ? n : in->n;
    in->p += *len;
    in->n -= *len;
    return p;
}

uint8_t fz_u8(struct fz_in *in)
{
    uint8_t v;
    fz_bytes(in, &v, 1);
    return v;
}

uint16_t fz_u16(struct fz_in *in)
{
    uint8_t b[2];
    fz_bytes(in, b, 2);
    return (uint16_t)(b[0] | b[1] << 8);
}

uint32_t fz_u32(struct fz_in *in)
{
    uint8_t b[4];
    fz_bytes(in, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

uint64_t fz_u64(struct fz_in *in)
{
    uint64_t lo = fz_u32(in);
    return lo | (uint64_t)fz_u32(in) << 32;
}

/* ==== Oracles ==== */

int fz_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

struct json_cur {
    const char *p, *end;
    int depth;
};

static int json_value(struct json_cur *c);

static void json_ws(struct json_cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int json_lit(struct json_cur *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int json_digits(struct json_cur *c)
{
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > start;
}

static int json_number(struct json_cur *c)
{
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!(c->p < c->end && *c->p >= '1' && *c->p <= '9') || !json_digits(c))
        return 0;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!json_digits(c))
            return 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (!json_digits(c))
            return 0;
    }
    return 1;
}

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int json_string(struct json_cur *c)
{
    if (c->p >= c->end || *c->p != '"')
        return 0;
    const char *raw = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20)
            return 0;
        if (ch != '\\') {
            c->p++;
            continue;
        }
        c->p++;
        if (c->p >= c->end)
            return 0;
        switch (*c->p) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            c->p++;
            break;
        case 'u':
            if (c->end - c->p < 5 || !is_hex(c->p[1]) || !is_hex(c->p[2]) || !is_hex(c->p[3]) ||
                !is_hex(c->p[4]))
                return 0;
            c->p += 5;
            break;
        default:
            return 0;
        }
    }
    if (c->p >= c->end || !fz_utf8_valid((const uint8_t *)raw, (size_t)(c->p - raw)))
        return 0;
    c->p++;
    return 1;
}

static int json_members(struct json_cur *c, char close, int keyed)
{
    c->p++;
    json_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        json_ws(c);
        if (keyed) {
            if (!json_string(c))
                return 0;
            json_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return 0;
            c->p++;
        }
        if (!json_value(c))
            return 0;
        json_ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 1;
        }
        return 0;
    }
}

static int json_value(struct json_cur *c)
{
    json_ws(c);
    if (c->p >= c->end)
        return 0;
    int ok;
    switch (*c->p) {
    case '{':
    case '[':
        if (++c->depth > 64)
            return 0;
        ok = *c->p == '{' ? json_members(c, '}', 1) : json_members(c, ']', 0);
        c->depth--;
        return ok;
    case '"': return json_string(c);
    case 't': return json_lit(c, "true");
    case 'f': return json_lit(c, "false");
    case 'n': return json_lit(c, "null");
    default: return json_number(c);
    }
}

int fz_json_valid(const char *s, size_t n)
{
    struct json_cur c = {s, s + n, 0};
    if (!json_value(&c))
        return 0;
    json_ws(&c);
    return c.p == c.end;
}

int fz_json_line_valid(const char *s, size_t n)
{
    if (n == 0 || s[n - 1] != '\n' || memchr(s, '\n', n - 1))
        return 0;
    return fz_json_valid(s, n - 1);
}

int fz_text_line_valid(const char *s, size_t n)
{
    if (n == 0 || s[n - 1] != '\n')
        return 0;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return 0;
    }
    return fz_utf8_valid((const uint8_t *)s, n - 1);
}

/* ==== Files ==== */

static char private_dir[64];

static void remove_private_dir(void)
{
    DIR *d = opendir(private_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[sizeof private_dir + 256];
            snprintf(path, sizeof path, "%s/%s", private_dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(private_dir);
}

const char *fz_private_dir(void)
{
    if (private_dir[0])
        return private_dir;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(private_dir, sizeof private_dir, "%s/shmlog-fuzz-XXXXXX", base);
    if (!mkdtemp(private_dir)) {
        private_dir[0] = '\0';
        return NULL;
    }
    atexit(remove_private_dir);
    return private_dir;
}

int fz_write_file(const char *path, const void *data, size_t n, size_t pad_to)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(fd, (const uint8_t *)data + done, n - done);
        if (k < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        done += (size_t)k;
    }
    /* The zero tail is a hole: large sparse segments cost nothing to make. */
    if (pad_to > n && ftruncate(fd, (off_t)pad_to) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    close(fd);
    return 0;
}
