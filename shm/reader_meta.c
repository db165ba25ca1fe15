/*
 * reader_meta.c - a process's meta segment read: its process information,
 * categories and call sites copied out and checked (the table's geometry
 * re-checked on every read, since its writer could change it), and the two
 * words a reader may store there: a live level and a backtrace request.
 */
#include "names.h"
#include "reader.h"
#include "reader_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct shmlog_meta *meta_of(const struct shm_seg *seg)
{
    return (const struct shmlog_meta *)seg->addr;
}

/* The site table geometry as the creator set it. It never changes after
 * creation, but a hostile writer could change it: callers re-check bounds. */
static int meta_geometry(const struct shm_seg *seg, uint32_t *sites_off, uint32_t *cap, uint32_t *str_off,
                         uint32_t *str_bytes)
{
    const struct shmlog_meta *m = meta_of(seg);
    *sites_off = shmlog__load_relaxed(&m->sites_offset);
    *cap = shmlog__load_relaxed(&m->site_capacity);
    *str_off = shmlog__load_relaxed(&m->strings_offset);
    *str_bytes = shmlog__load_relaxed(&m->strings_bytes);
    uint64_t table_end = (uint64_t)*sites_off + (uint64_t)*cap * SHMLOG_SITE_BYTES;
    if (*sites_off != SHMLOG_META_HEADER_BYTES || table_end > *str_off ||
        (uint64_t)*str_off + *str_bytes > seg->bytes)
        return -EINVAL;
    return 0;
}

int shm_meta_info(const struct shm_seg *seg, struct shm_proc_info *out, char *err, size_t errcap)
{
    const struct shmlog_meta *m = meta_of(seg);
    memset(out, 0, sizeof *out);
    uint32_t sites_off, cap, str_off, str_bytes;
    if (meta_geometry(seg, &sites_off, &cap, &str_off, &str_bytes) != 0)
        return shm_fail(err, errcap, -EINVAL, "%s: site table out of bounds", seg->path);
    memcpy(out->app, m->app, sizeof out->app);
    out->app[sizeof out->app - 1] = 0;
    memcpy(out->host, m->host, sizeof out->host);
    out->host[sizeof out->host - 1] = 0;
    if (!shm_name_valid(out->app, sizeof out->app) || !shm_name_valid(out->host, sizeof out->host))
        return shm_fail(err, errcap, -EINVAL, "%s: app or host name is not [A-Za-z0-9_.-]", seg->path);
    out->pid = seg->hdr.pid;
    out->uid = seg->hdr.uid;
    out->proc_start = seg->hdr.proc_start;
    out->created_ns = seg->hdr.created_ns;
    memcpy(out->instance, seg->hdr.instance, sizeof(out->instance));
    out->tsc_hz = shmlog__load_relaxed(&m->tsc_hz);
    out->anchor_tsc = shmlog__load_relaxed(&m->anchor_tsc);
    out->anchor_ns = shmlog__load_relaxed(&m->anchor_ns);
    out->level = shmlog__load_relaxed(&m->level);
    uint32_t count = shmlog__load_acquire(&m->site_count);
    out->site_count = count < cap ? count : cap;
    out->site_capacity = cap;
    out->flags = shmlog__load_relaxed(&m->hdr.flags);
    out->unregistered = shmlog__load_relaxed(&m->unregistered);
    out->no_ring = shmlog__load_relaxed(&m->no_ring);
    out->category_count = SHMLOG_CAT_COUNT;
    out->backtrace_level = SHMLOG_LEVEL_OFF;
    if (seg->hdr.abi_version >= 4) {
        out->before_init = shmlog__load_relaxed(&m->before_init);
        out->out_of_range = shmlog__load_relaxed(&m->out_of_range);
        uint32_t n = shmlog__load_acquire(&m->category_count);
        out->category_count = n < SHMLOG_CAT_COUNT ? SHMLOG_CAT_COUNT : n > SHMLOG_MAX_CATEGORIES ? SHMLOG_MAX_CATEGORIES : n;
        uint32_t bl = shmlog__load_relaxed(&m->backtrace_level), bt = shmlog__load_relaxed(&m->backtrace_trigger);
        out->backtrace_level = bl < SHMLOG_LEVEL_OFF ? bl : SHMLOG_LEVEL_OFF;
        out->backtrace_trigger = bt < SHMLOG_LEVEL_OFF ? bt : SHMLOG_LEVEL_OFF;
        out->backtrace_records = shmlog__load_relaxed(&m->backtrace_records);
        out->backtrace_requests = shmlog__load_relaxed(&m->backtrace_requests);
    }
    if (out->tsc_hz < 1000000 || out->tsc_hz > 100000000000ull)
        return shm_fail(err, errcap, -EINVAL, "%s: implausible TSC frequency %llu Hz", seg->path,
                    (unsigned long long)out->tsc_hz);
    return 0;
}

void shm_meta_categories(const struct shm_seg *seg, struct shm_categories *out)
{
    const struct shmlog_meta *m = meta_of(seg);
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < SHMLOG_CAT_COUNT; i++)
        snprintf(out->names[i], sizeof out->names[i], "%s", shm_category_name(i));
    out->count = SHMLOG_CAT_COUNT;
    if (seg->hdr.abi_version < 4) {
        uint32_t level = shmlog__load_relaxed(&m->level);
        memset(out->live, level <= SHMLOG_LEVEL_OFF ? (int)level : SHMLOG_LEVEL_OFF, sizeof out->live);
        return;
    }
    /* Acquire pairs with the producer's release of the count after a name. */
    uint32_t n = shmlog__load_acquire(&m->category_count);
    out->count = n < SHMLOG_CAT_COUNT ? SHMLOG_CAT_COUNT : n > SHMLOG_MAX_CATEGORIES ? SHMLOG_MAX_CATEGORIES : n;
    for (unsigned i = 0; i < SHMLOG_MAX_CATEGORIES; i++) {
        unsigned live = shmlog__load_relaxed(&m->levels[i]) >> 8;
        out->live[i] = (uint8_t)(live <= SHMLOG_LEVEL_OFF ? live : SHMLOG_LEVEL_OFF);
    }
    for (unsigned i = SHMLOG_CAT_COUNT; i < out->count; i++) {
        char name[SHMLOG_CATEGORY_NAME_BYTES];
        memcpy(name, m->category_names[i], sizeof name);
        size_t len = shm_category_name_len(name, sizeof name);
        if (len > 0 && len < sizeof name && name[len] == 0)
            memcpy(out->names[i], name, len + 1);
    }
}

int shm_meta_set_level(const struct shm_seg *seg, int category, unsigned level)
{
    struct shmlog_meta *m = (struct shmlog_meta *)seg->addr;
    if (level > SHMLOG_LEVEL_OFF)
        return -EINVAL;
    if (seg->hdr.abi_version < 4) {
        if (category > 0)
            return -EINVAL;
        int old = (int)shmlog__load_relaxed(&m->level);
        shmlog__store_release(&m->level, level);
        return old;
    }
    uint32_t n = shmlog__load_acquire(&m->category_count);
    if (category >= (int)(n > SHMLOG_MAX_CATEGORIES ? SHMLOG_MAX_CATEGORIES : n))
        return -EINVAL;
    unsigned keep = shmlog__load_relaxed(&m->backtrace_level);
    keep = keep < SHMLOG_LEVEL_OFF ? keep : SHMLOG_LEVEL_OFF;
    int old = (int)(shmlog__load_relaxed(&m->levels[category < 0 ? 0 : category]) >> 8);
    /* The producer loads its category's word on every call (relaxed): one
     * atomic store each, nothing else in the segment is written. */
    for (unsigned i = 0; i < SHMLOG_MAX_CATEGORIES; i++)
        if (category < 0 || (unsigned)category == i)
            shmlog__store_relaxed(&m->levels[i], shmlog_level_word(level, keep));
    if (category < 0)
        shmlog__store_relaxed(&m->level, level);
    return old > SHMLOG_LEVEL_OFF ? SHMLOG_LEVEL_OFF : old;
}

int64_t shm_meta_request_backtrace(const struct shm_seg *seg)
{
    struct shmlog_meta *m = (struct shmlog_meta *)seg->addr;
    if (seg->hdr.abi_version < 4)
        return -EINVAL;
    return (int64_t)((shmlog__add_relaxed(&m->backtrace_requests, 1) + 1) & INT64_MAX);
}

/* Copies a string of the arena: it must lie inside it and end in NUL. */
static int copy_meta_string(const struct shm_seg *seg, uint32_t str_off, uint32_t str_bytes, uint32_t off,
                            uint32_t len, uint32_t max, char *out)
{
    if (len > max || off < str_off || (uint64_t)off + len + 1 > (uint64_t)str_off + str_bytes)
        return -EINVAL;
    memcpy(out, (const uint8_t *)seg->addr + off, len);
    out[len] = 0;
    if (memchr(out, 0, len)) /* an embedded NUL: not what the producer writes */
        return -EINVAL;
    return 0;
}

/* A site's argument types into types: those of the entry, and from ABI 7
 * those past it in the strings (bounds checked as a string's): 0, or -EINVAL. */
static int site_types(const struct shm_seg *seg, const struct shmlog_site *s, uint32_t str_off, uint32_t str_bytes,
                      uint8_t types[SHMLOG_MAX_ARGS])
{
    if (s->nargs <= SHMLOG_SITE_ARG_TYPES) {
        memcpy(types, s->arg_types, s->nargs);
        return 0;
    }
    uint32_t more = s->nargs - SHMLOG_SITE_ARG_TYPES, off = s->more_types_offset;
    if (seg->hdr.abi_version < 7 || s->nargs > SHMLOG_MAX_ARGS || off < str_off ||
        (uint64_t)off + more > (uint64_t)str_off + str_bytes)
        return -EINVAL;
    memcpy(types, s->arg_types, SHMLOG_SITE_ARG_TYPES);
    memcpy(types + SHMLOG_SITE_ARG_TYPES, (const uint8_t *)seg->addr + off, more);
    return 0;
}

/* Version 4 segments had no site flags: a thread entry is of version 5 on. */
static int site_is_thread(const struct shm_seg *seg, const struct shmlog_site *s)
{
    return seg->hdr.abi_version >= 5 && (s->flags & SHMLOG_SITE_THREAD);
}

/* Entry id of the table, under the count the producer published: 0, or -errno. */
static int meta_entry(const struct shm_seg *seg, uint32_t id, struct shmlog_site *s, uint32_t *str_off,
                      uint32_t *str_bytes)
{
    uint32_t sites_off, cap;
    if (meta_geometry(seg, &sites_off, &cap, str_off, str_bytes) != 0)
        return -EINVAL;
    /* Acquire pairs with the producer's release of site_count. */
    uint32_t count = shmlog__load_acquire(&meta_of(seg)->site_count);
    if (id >= count || id >= cap)
        return -ENOENT;
    memcpy(s, (const uint8_t *)seg->addr + sites_off + (size_t)id * SHMLOG_SITE_BYTES, sizeof *s);
    return 0;
}

int shm_meta_thread(const struct shm_seg *seg, uint32_t id, uint32_t *tid, char name[SHMLOG_THREAD_NAME_BYTES + 1])
{
    struct shmlog_site s;
    uint32_t str_off, str_bytes;
    int rc = meta_entry(seg, id, &s, &str_off, &str_bytes);
    if (rc)
        return rc;
    if (!site_is_thread(seg, &s))
        return 1;
    if (s.line == 0)
        return -EINVAL;
    *tid = s.line;
    /* Read up to one byte past the bound, so that a longer name shows cut. */
    uint32_t len = s.fmt_len < SHMLOG_THREAD_NAME_BYTES + 1 ? s.fmt_len : SHMLOG_THREAD_NAME_BYTES + 1;
    char raw[SHMLOG_THREAD_NAME_BYTES + 2];
    if (len == 0 || s.fmt_offset < str_off || (uint64_t)s.fmt_offset + len > (uint64_t)str_off + str_bytes) {
        memcpy(name, "?", 2);
        return 0;
    }
    memcpy(raw, (const uint8_t *)seg->addr + s.fmt_offset, len);
    shmlog_thread_name_clean(raw, len, name);
    return 0;
}

int shm_meta_site(const struct shm_seg *seg, uint32_t id, struct shm_site *out)
{
    uint32_t str_off, str_bytes;
    struct shmlog_site s;
    int rc = meta_entry(seg, id, &s, &str_off, &str_bytes);
    if (rc)
        return rc;
    uint8_t types[SHMLOG_MAX_ARGS];
    if (site_is_thread(seg, &s) || s.level > SHMLOG_LEVEL_FATAL || s.category >= SHMLOG_MAX_CATEGORIES ||
        site_types(seg, &s, str_off, str_bytes, types) != 0)
        return -EINVAL;
    struct shmlog_args_shape shape; /* arguments a record can hold */
    if (shmlog_args_shape_init(&shape, s.nargs, types) != 0)
        return -EINVAL;
    if (copy_meta_string(seg, str_off, str_bytes, s.fmt_offset, s.fmt_len, SHMLOG_MAX_FMT_BYTES, out->fmt) ||
        copy_meta_string(seg, str_off, str_bytes, s.file_offset, s.file_len, SHMLOG_MAX_FILE_BYTES, out->file))
        return -EINVAL;
    out->func[0] = out->desc[0] = 0;
    out->func_len = out->desc_len = 0;
    if (seg->hdr.abi_version >= 5) { /* before, the words were reserved: zero */
        if ((s.func_len && copy_meta_string(seg, str_off, str_bytes, s.func_offset, s.func_len, SHMLOG_MAX_FUNC_BYTES,
                                            out->func)) ||
            ((s.flags & SHMLOG_SITE_DESC) &&
             copy_meta_string(seg, str_off, str_bytes, s.desc_offset, s.desc_len, SHMLOG_MAX_DESC_BYTES, out->desc)))
            return -EINVAL;
        out->func_len = s.func_len;
        out->desc_len = s.flags & SHMLOG_SITE_DESC ? s.desc_len : 0;
    }
    out->id = id;
    out->line = s.line;
    out->level = s.level;
    out->category = s.category;
    out->nargs = s.nargs;
    memcpy(out->arg_types, types, s.nargs);
    out->fmt_len = s.fmt_len;
    out->file_len = s.file_len;
    return 0;
}
