/* Description: helpers shared by the file-format tests: build processes, sites
 * and records, write frames to a file, read a file back into arrays. */
#ifndef TEST_FILE_HELPERS_H
#define TEST_FILE_HELPERS_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "shlog_file.h"

/* FNV-1a 32, the check of file headers and frame prefixes (FORMAT.md). */
static inline uint32_t th_fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Writes at *off a frame no encoder would make: a valid prefix and zstd
 * frame around exactly raw[0..n), whose prefix declares declared_raw bytes. */
static inline void th_append_raw_frame(int fd, uint64_t *off, const uint8_t *raw, size_t n, uint32_t declared_raw)
{
    size_t cap = ZSTD_compressBound(n) + 16;
    uint8_t *buf = malloc(cap);
    cr_assert(buf);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    size_t z = ZSTD_compress2(cc, buf + 16, cap - 16, raw, n);
    cr_assert(!ZSTD_isError(z));
    ZSTD_freeCCtx(cc);
    uint32_t w[3] = {SHLOG_FRAME_MAGIC, (uint32_t)z, declared_raw};
    memcpy(buf, w, 12);
    uint32_t c = th_fnv(buf, 12);
    memcpy(buf + 12, &c, 4);
    cr_assert_eq(pwrite(fd, buf, 16 + z, (off_t)*off), (ssize_t)(16 + z));
    *off += 16 + z;
    free(buf);
}

static inline void th_proc(struct shmlog_proc_info *p, uint32_t pid, uint64_t start)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->app, sizeof(p->app), "app%u", pid);
    snprintf(p->host, sizeof(p->host), "testhost");
    p->pid = pid;
    p->uid = 1000;
    p->proc_start = start;
    p->created_ns = 1700000000000000000ull;
    p->tsc_hz = 3000000000ull;
    p->anchor_tsc = 123456789;
    p->anchor_ns = 1700000000000000000ull;
}

/* A site with nargs types from a 0-terminated list. */
static inline void th_site(struct shmlog_site_info *s, uint32_t id, const char *fmt, ...)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->line = 100 + id;
    s->level = SHMLOG_LEVEL_INFO;
    s->category = (uint8_t)(id % SHMLOG_CAT_COUNT);
    snprintf(s->fmt, sizeof(s->fmt), "%s", fmt);
    s->fmt_len = (uint32_t)strlen(s->fmt);
    snprintf(s->file, sizeof(s->file), "src/file%u.c", id);
    s->file_len = (uint32_t)strlen(s->file);
    va_list ap;
    va_start(ap, fmt);
    int t;
    while ((t = va_arg(ap, int)) != 0)
        s->arg_types[s->nargs++] = (uint8_t)t;
    va_end(ap);
}

/* Fills r's payload from the site's types: integers and floats from vals,
 * strings from strs (in order). Returns the used length. */
static inline size_t th_payload(struct shmlog_rec *r, const struct shmlog_site_info *s, const uint64_t *vals,
                                const char *const *strs)
{
    size_t off = 0;
    unsigned si = 0;
    for (unsigned i = 0; i < s->nargs; i++) {
        unsigned t = s->arg_types[i];
        if (t == SHMLOG_ARG_STR) {
            size_t n = strlen(strs[si++]);
            r->payload[off] = (uint8_t)n;
            r->payload[off + 1] = (uint8_t)(n >> 8);
            memcpy(r->payload + off + 2, strs[si - 1], n);
            off += 2 + n;
        } else {
            unsigned w = shmlog_arg_width(t);
            for (unsigned b = 0; b < w; b++)
                r->payload[off + b] = (uint8_t)(vals[i] >> (8 * b));
            off += w;
        }
    }
    return off;
}

/* Sets the slot geometry of r for a payload of n used bytes, and fills the
 * unused rest of the slots with junk (the decoder must not keep it). */
static inline void th_slots(struct shmlog_rec *r, size_t used)
{
    r->nslots = (uint8_t)shmlog_slots_for_payload(used);
    r->payload_len = (uint16_t)(SHMLOG_HEAD_PAYLOAD + (r->nslots - 1) * SHMLOG_CONT_PAYLOAD);
    for (size_t i = used; i < r->payload_len; i++)
        r->payload[i] = (uint8_t)(0xA5 ^ i);
}

/* A file being written by a test. */
struct th_file {
    int fd;
    struct shlog_enc *enc;
    uint64_t off;
    uint64_t frame_end[256]; /* end offset of each frame written */
    uint64_t frame_records[256];
    unsigned nframes;
};

static inline void th_open(struct th_file *f, const char *path, uint64_t seq)
{
    memset(f, 0, sizeof(*f));
    f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert(f->fd >= 0);
    cr_assert_eq(shlog_enc_new(&f->enc, 3), 0);
    struct shlog_file_header h = {.file_seq = seq, .created_ns = 1, .collector_pid = 1};
    snprintf(h.host, sizeof(h.host), "testhost");
    uint8_t hb[SHLOG_FILE_HEADER_BYTES];
    shlog_file_header_encode(hb, &h);
    cr_assert_eq(pwrite(f->fd, hb, sizeof(hb), 0), (ssize_t)sizeof(hb));
    f->off = sizeof(hb);
}

static inline void th_flush(struct th_file *f)
{
    uint64_t records = shlog_enc_frame_records(f->enc);
    size_t cap = shlog_enc_frame_bound(f->enc);
    void *buf = malloc(cap);
    long n = shlog_enc_frame(f->enc, buf, cap);
    cr_assert(n > 0, "frame encode: %ld", n);
    cr_assert_eq(pwrite(f->fd, buf, (size_t)n, (off_t)f->off), n);
    f->off += (uint64_t)n;
    cr_assert(f->nframes < 256);
    f->frame_end[f->nframes] = f->off;
    f->frame_records[f->nframes++] = records;
    free(buf);
}

static inline void th_close(struct th_file *f)
{
    shlog_enc_free(f->enc);
    close(f->fd);
}

/* Everything a reader returned. */
struct th_read {
    struct shmlog_rec *recs;
    uint32_t *rec_pid;
    uint32_t *rec_cpu;
    size_t n, cap;
    size_t errors, torn, losses, exits, processes, sites;
    size_t exits_how[SHLOG_EXIT_DIED + 1]; /* by enum shlog_exit_how */
    uint64_t lost[SHMLOG_LOSS_REASON_MAX + 1];
    char first_error[256];
};

static inline void th_read_event(struct th_read *out, const struct shlog_event *ev)
{
    switch (ev->kind) {
    case SHLOG_EV_RECORD:
        if (ev->site) { /* the renderer's form of the site agrees with the file's */
            cr_assert(ev->site_info != NULL);
            cr_assert_eq(ev->site_info->id, ev->site->id);
            cr_assert_eq(ev->site_info->nargs, ev->site->nargs);
            cr_assert_str_eq(ev->site_info->fmt, ev->site->fmt);
            cr_assert_str_eq(ev->site_info->file, ev->site->file);
        }
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 1024;
            out->recs = realloc(out->recs, out->cap * sizeof(*out->recs));
            out->rec_pid = realloc(out->rec_pid, out->cap * sizeof(*out->rec_pid));
            out->rec_cpu = realloc(out->rec_cpu, out->cap * sizeof(*out->rec_cpu));
            cr_assert(out->recs && out->rec_pid && out->rec_cpu);
        }
        out->recs[out->n] = *ev->rec;
        out->rec_pid[out->n] = ev->proc->info.pid;
        out->rec_cpu[out->n++] = ev->cpu;
        break;
    case SHLOG_EV_ERROR:
        if (!out->errors++)
            snprintf(out->first_error, sizeof(out->first_error), "%s", ev->error);
        out->torn += ev->torn != 0;
        break;
    case SHLOG_EV_LOSS:
        out->losses++;
        if (ev->loss.reason < 8)
            out->lost[ev->loss.reason] += ev->loss.records;
        break;
    case SHLOG_EV_EXIT:
        out->exits++;
        out->exits_how[ev->exit_how]++;
        break;
    case SHLOG_EV_PROCESS: out->processes++; break;
    case SHLOG_EV_SITE: out->sites++; break;
    }
}

/* Reads path to the end with dedup state d (NULL: private). Returns the
 * reader's final status (0, or -errno). */
static inline int th_read_file(const char *path, struct shlog_dedup *d, struct th_read *out)
{
    struct shlog_reader *r;
    char err[512];
    int rc = shlog_reader_open(&r, path, 0, d, err, sizeof(err));
    if (rc)
        return rc;
    struct shlog_event ev;
    while ((rc = shlog_reader_next(r, &ev)) > 0)
        th_read_event(out, &ev);
    shlog_reader_close(r);
    return rc;
}

static inline void th_read_free(struct th_read *r)
{
    free(r->recs);
    free(r->rec_pid);
    free(r->rec_cpu);
    memset(r, 0, sizeof(*r));
}

/* A private temporary directory, removed with its files by th_rmdir. */
static inline void th_mkdtemp(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "/tmp/shmlog-test-%s-XXXXXX", tag);
    cr_assert(mkdtemp(dir) != NULL);
}

static inline void th_rmdir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#endif
