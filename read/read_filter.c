/* read_filter.c - the record filters of libshmlog-read and shmlog-dump: process, time, level, category, thread, grep. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "read_filter.h"

void read_filter_init(struct read_filter *f)
{
    memset(f, 0, sizeof *f);
    f->min_level = -1;
    f->until_ns = UINT64_MAX;
}

int read_filter_grep_set(struct read_filter *f, const char *re, char *why, size_t whycap)
{
    if (!f->grep_msg && !(f->grep_msg = malloc(RENDER_LINE_MAX + 1)))
        return -ENOMEM;
    if (f->has_grep)
        regfree(&f->grep);
    f->has_grep = 0;
    int rc = regcomp(&f->grep, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        if (whycap)
            regerror(rc, &f->grep, why, whycap);
        return -EINVAL;
    }
    f->has_grep = 1;
    return 0;
}

void read_filter_free(struct read_filter *f)
{
    if (f->has_grep)
        regfree(&f->grep);
    f->has_grep = 0;
    free(f->grep_msg);
    f->grep_msg = NULL;
}

int read_filter_process(const struct read_filter *f, const char *app, uint32_t pid)
{
    return (!f->pid || f->pid == pid) && (!f->app || strcmp(f->app, app ? app : "") == 0);
}

int read_filter_thread(const struct read_filter *f, uint32_t tid, const char *name)
{
    if (!f->thread || (name && strcmp(name, f->thread) == 0))
        return 1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(f->thread, &end, 10);
    return f->thread[0] >= '0' && f->thread[0] <= '9' && !*end && !errno && v == tid;
}

int read_filter_grep(const struct read_filter *f, const struct render_site *sr, const struct shm_copied_record *rec)
{
    if (!f->has_grep)
        return 1;
    /* The longest message fits with room; a cut one is matched as far as it goes. */
    struct render_buf b;
    render_buf_init(&b, f->grep_msg, RENDER_LINE_MAX);
    render_prepared_msg(sr, rec, &b);
    f->grep_msg[b.len] = '\0';
    return regexec(&f->grep, f->grep_msg, 0, NULL, 0) == 0;
}
