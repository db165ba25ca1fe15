/* read_inputs.c - the inputs of a reader: file headers, directories, files ordered by host and sequence. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "read_engine.h"

/* read_file_header, with why a header was refused (-EINVAL) in *why. */
static int read_header_why(const char *path, struct shlog_file_header *h, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    uint8_t buf[SHLOG_FILE_HEADER_BYTES];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    *why = shlog_file_header_decode(buf, (size_t)n, h);
    return *why ? -EINVAL : 0;
}

int read_file_header(const char *path, struct shlog_file_header *h)
{
    const char *why;
    return read_header_why(path, h, &why);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

static int add_input(struct read_engine *e, struct in_list *l, const char *path, int from_dir)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct in_file *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct in_file *f = &l->v[l->n];
    memset(f, 0, sizeof *f);
    if ((size_t)snprintf(f->path, sizeof f->path, "%s", path) >= sizeof f->path)
        return -ENAMETOOLONG;
    struct stat st;
    if (stat(path, &st) == 0)
        f->bytes = (uint64_t)st.st_size;
    f->part = has_suffix(path, SHLOG_PART_SUFFIX);
    struct shlog_file_header h;
    const char *why = NULL;
    int rc = read_header_why(path, &h, &why);
    if (rc) {
        f->bad_header = 1;
        snprintf(f->error, sizeof f->error, "%s", rc == -EINVAL ? why : strerror(-rc));
    } else if (!read_filter_host(e->filter, h.host)) {
        return 0; /* another host's file: none of it is read, counted or said */
    } else {
        snprintf(f->host, sizeof f->host, "%s", h.host);
        f->seq = h.file_seq;
        f->writer_alive = f->part && shlog_part_in_use(path);
        if (f->part && from_dir && !e->strict) {
            char note[4096 + 128];
            snprintf(note, sizeof note, "%s is %s; reading the frames it has", path,
                     f->writer_alive ? "still being written" : "left open by a collector that is gone");
            read_say(e, note, 1);
        }
    }
    l->n++;
    return 0;
}

static int in_file_cmp(const void *a, const void *b)
{
    const struct in_file *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    if (c)
        return c;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return strcmp(x->path, y->path);
}

/* Whether a directory's file named name may be host's: a name the collector gives (so a mirror) carries its
 * host before "-YYYYmmdd-HHMMSS-seq", and other hosts' files are not opened; another name, its header says. */
static int name_may_be_hosts(const char *name, const char *host)
{
    uint64_t seq;
    int part;
    if (shlog_file_name_seq(name, &seq, &part) != 0)
        return 1;
    const char *end = name + strlen(name);
    for (int dashes = 0; end > name && dashes < 3;)
        dashes += *--end == '-';
    size_t n = strlen(host);
    return (size_t)(end - name) == n && strncmp(name, host, n) == 0;
}

int read_inputs_add(struct read_engine *e, struct in_list *l, const char *path, int is_dir)
{
    if (!is_dir)
        return add_input(e, l, path, 0);
    DIR *d = opendir(path);
    if (!d) {
        char msg[4096 + 128];
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        read_say(e, msg, 0);
        e->status = 1;
        return 0;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !(has_suffix(de->d_name, SHLOG_FILE_SUFFIX) ||
                                      has_suffix(de->d_name, SHLOG_FILE_SUFFIX SHLOG_PART_SUFFIX)))
            continue;
        if (e->filter->host && !name_may_be_hosts(de->d_name, e->filter->host))
            continue;
        char file[4096];
        if ((size_t)snprintf(file, sizeof file, "%s/%s", path, de->d_name) >= sizeof file)
            continue;
        if (add_input(e, l, file, 1) != 0) {
            closedir(d);
            return -ENOMEM;
        }
    }
    closedir(d);
    return 0;
}

void read_inputs_sort(struct in_list *l)
{
    if (l->n)
        qsort(l->v, l->n, sizeof l->v[0], in_file_cmp);
}

void read_inputs_free(struct in_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        shlog_index_close(l->v[i].ix);
    free(l->v);
    *l = (struct in_list){0};
}
