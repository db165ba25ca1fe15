/*
 * shlog_ship.c - what the programs around the files share besides the
 * frames (FORMAT.md, "File names and life cycle" and "Frames as messages"):
 * a file's name and number, the shipper's state file, which the collector's
 * retention and shmlog-dump status read, and the kafka:// address.
 */
#include "shlog_coding.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int shlog_file_name_seq(const char *name, uint64_t *seq, int *part)
{
    size_t n = strlen(name), pl = strlen(SHLOG_PART_SUFFIX), sl = strlen(SHLOG_FILE_SUFFIX);
    *part = n > pl && strcmp(name + n - pl, SHLOG_PART_SUFFIX) == 0;
    if (*part)
        n -= pl;
    if (n <= sl || strncmp(name + n - sl, SHLOG_FILE_SUFFIX, sl) != 0)
        return -1;
    n -= sl;
    size_t d = n;
    while (d > 0 && isdigit((unsigned char)name[d - 1]))
        d--;
    if (n - d < 6 || (n - d > 6 && name[d] == '0'))
        return -1;
    /* "-YYYYmmdd-HHMMSS-" before the number, a host name before that */
    if (d < 18 || name[d - 1] != '-' || name[d - 8] != '-' || name[d - 17] != '-')
        return -1;
    for (size_t i = d - 16; i < d - 1; i++)
        if (i != d - 8 && !isdigit((unsigned char)name[i]))
            return -1;
    uint64_t v = 0;
    for (size_t i = d; i < n; i++) {
        unsigned c = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - c) / 10)
            return -1;
        v = v * 10 + c;
    }
    *seq = v;
    return 0;
}

int shlog_host_name_ok(const char *host)
{
    size_t n = strlen(host);
    if (n == 0 || n > SHMLOG_HOST_BYTES - 1 || host[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '_' && host[i] != '-')
            return 0;
    return 1;
}

/* ==== The shipper's state file ==== */

#define SHIPPED_MAGIC "shmlog-ship-state 1"

int shlog_shipped_write(const char *path, const struct shlog_shipped *s)
{
    char tmp[4200];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    char text[1024];
    n = snprintf(text, sizeof(text),
                 SHIPPED_MAGIC "\nhost %s\ntopic %s\nfile_seq %" PRIu64 "\noffset %" PRIu64 "\nupdated_ns %" PRIu64
                 "\nlag_bytes %" PRIu64 "\nlag_ns %" PRIu64 "\npid %u\nmessages %" PRIu64 "\nbytes %" PRIu64
                 "\nrecords %" PRIu64 "\nwire_bytes %" PRIu64 "\nctx_messages %" PRIu64 "\nctx_bytes %" PRIu64 "\n",
                 s->host, s->topic, s->file_seq, s->offset, s->updated_ns, s->lag_bytes, s->lag_ns, s->pid,
                 s->messages, s->bytes, s->records, s->wire_bytes, s->ctx_messages, s->ctx_bytes);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0)
        rc = errno ? -errno : -EIO;
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    /* The rename itself survives a power loss once the directory is synced. */
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            rc = -errno;
        close(dfd);
    }
    return rc;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int shlog_shipped_read(const char *path, struct shlog_shipped *s)
{
    memset(s, 0, sizeof(*s));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char text[1024];
    ssize_t n = read(fd, text, sizeof(text) - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    text[n] = '\0';
    if (strncmp(text, SHIPPED_MAGIC "\n", strlen(SHIPPED_MAGIC) + 1) != 0)
        return -EINVAL;
    int have_seq = 0, have_off = 0;
    for (char *save = NULL, *line = strtok_r(text + strlen(SHIPPED_MAGIC) + 1, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char key[32], val[300];
        if (sscanf(line, "%31s %299s", key, val) != 2)
            continue;
        uint64_t v = strtoull(val, NULL, 10);
        if (!strcmp(key, "host"))
            copy_name(s->host, sizeof(s->host), val);
        else if (!strcmp(key, "topic"))
            copy_name(s->topic, sizeof(s->topic), val);
        else if (!strcmp(key, "file_seq"))
            s->file_seq = v, have_seq = 1;
        else if (!strcmp(key, "offset"))
            s->offset = v, have_off = 1;
        else if (!strcmp(key, "updated_ns"))
            s->updated_ns = v;
        else if (!strcmp(key, "lag_bytes"))
            s->lag_bytes = v;
        else if (!strcmp(key, "lag_ns"))
            s->lag_ns = v;
        else if (!strcmp(key, "pid"))
            s->pid = (uint32_t)v;
        else if (!strcmp(key, "messages"))
            s->messages = v;
        else if (!strcmp(key, "bytes"))
            s->bytes = v;
        else if (!strcmp(key, "records"))
            s->records = v;
        else if (!strcmp(key, "wire_bytes"))
            s->wire_bytes = v;
        else if (!strcmp(key, "ctx_messages"))
            s->ctx_messages = v;
        else if (!strcmp(key, "ctx_bytes"))
            s->ctx_bytes = v;
    }
    return have_seq && have_off ? 0 : -EINVAL;
}

int shlog_dir_files(int dirfd, uint64_t min_seq,
                    int (*each)(void *clientd, const char *name, uint64_t seq, int part, uint64_t bytes), void *clientd)
{
    DIR *d = fdopendir(dup(dirfd));
    if (!d)
        return 0;
    rewinddir(d);
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        uint64_t seq;
        int part;
        struct stat st;
        if (shlog_file_name_seq(de->d_name, &seq, &part) == 0 && seq >= min_seq &&
            fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            rc = each(clientd, de->d_name, seq, part, (uint64_t)st.st_size);
    }
    closedir(d);
    return rc;
}

struct lag {
    const struct shlog_shipped *s;
    uint64_t bytes;
};

static int add_lag(void *clientd, const char *name, uint64_t seq, int part, uint64_t bytes)
{
    (void)name, (void)part;
    struct lag *l = clientd;
    const struct shlog_shipped *s = l->s;
    uint64_t from = seq == s->file_seq && s->offset > SHLOG_FILE_HEADER_BYTES ? s->offset : SHLOG_FILE_HEADER_BYTES;
    if (bytes > from)
        l->bytes += bytes - from;
    return 0;
}

uint64_t shlog_shipped_lag(int dirfd, const struct shlog_shipped *s)
{
    struct lag l = {s, 0};
    shlog_dir_files(dirfd, s->file_seq, add_lag, &l);
    return l.bytes;
}

struct last_file {
    int found;
    uint64_t seq, bytes;
};

static int last_file(void *clientd, const char *name, uint64_t seq, int part, uint64_t bytes)
{
    (void)name, (void)part;
    struct last_file *l = clientd;
    /* A .shlog and a .part of one number (a rename between two looks): the larger. */
    if (!l->found || seq > l->seq || (seq == l->seq && bytes > l->bytes))
        *l = (struct last_file){1, seq, bytes};
    return 0;
}

int shlog_shipped_ahead(int dirfd, const struct shlog_shipped *s, uint64_t *last_seq, uint64_t *last_bytes)
{
    struct last_file l = {0, 0, 0};
    shlog_dir_files(dirfd, 0, last_file, &l);
    *last_seq = l.seq;
    *last_bytes = l.bytes;
    /* No file: all shipped and removed, or none written yet; either way nothing to contradict. */
    return l.found && (s->file_seq > l.seq || (s->file_seq == l.seq && s->offset > l.bytes));
}

int shlog_shipped_has(const struct shlog_shipped *s, uint64_t file_seq)
{
    return file_seq < s->file_seq;
}

void shlog_file_name(const struct shlog_file_header *h, char *out, size_t cap)
{
    time_t t = (time_t)(h->created_ns / 1000000000ull);
    struct tm tm;
    char date[32];
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%Y%m%d-%H%M%S", &tm);
    snprintf(out, cap, "%s-%s-%06" PRIu64 SHLOG_FILE_SUFFIX, h->host, date, h->file_seq);
}

/* ==== kafka://BROKERS/TOPIC ==== */

#define KAFKA_SCHEME "kafka://"

int shlog_kafka_url(const char *url, char *brokers, size_t bcap, char *topic, size_t tcap)
{
    if (strncmp(url, KAFKA_SCHEME, strlen(KAFKA_SCHEME)) != 0)
        return -1;
    const char *b = url + strlen(KAFKA_SCHEME), *slash = strchr(b, '/');
    if (!slash || slash == b || !slash[1] || (size_t)(slash - b) >= bcap || strlen(slash + 1) >= tcap)
        return -1;
    /* Kafka's topic names: [a-zA-Z0-9._-], at most 249. */
    for (const char *t = slash + 1; *t; t++)
        if (!isalnum((unsigned char)*t) && *t != '.' && *t != '_' && *t != '-')
            return -1;
    if (strlen(slash + 1) > 249)
        return -1;
    memcpy(brokers, b, (size_t)(slash - b));
    brokers[slash - b] = '\0';
    snprintf(topic, tcap, "%s", slash + 1);
    return 0;
}

int shlog_host_map_topic(const char *topic, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s.hosts", topic);
    return n < 0 || (size_t)n >= cap || n > 249 ? -1 : 0;
}

int shlog_is_kafka_url(const char *s)
{
    return strncmp(s, KAFKA_SCHEME, strlen(KAFKA_SCHEME)) == 0;
}
