/* dump_index.c - shmlog-dump index: gives closed files that lack an index (older files, a damaged index) one, by a rewrite that never puts their records at risk. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump.h"
#include "shlog_file.h"

enum index_outcome { INDEX_DONE, INDEX_HAD_ONE, INDEX_LACKS_ONE, INDEX_SKIPPED, INDEX_FAILED };

/* One file being rewritten: the old one read, the new one written beside it. */
struct rewrite {
    const char *path;
    int old_fd, new_fd;
    char tmp[4096 + 64];
    uint64_t old_bytes, new_bytes, index_bytes, frames;
    struct shlog_enc *enc;
    struct shlog_reader *frames_reader;
    uint8_t *frame, *out;
    size_t frame_cap, out_cap;
    /* the batch open in the encoder: whose records it takes */
    int batch_open, batch_backtrace;
    uint32_t batch_proc, batch_cpu;
    uint64_t batch_order_tsc;
    char why[600];
};

static int failed(struct rewrite *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failed(struct rewrite *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
    return -1;
}

static int grow(uint8_t **p, size_t *cap, size_t want)
{
    if (*cap >= want)
        return 0;
    uint8_t *q = realloc(*p, want);
    if (!q)
        return -1;
    *p = q;
    *cap = want;
    return 0;
}

static int batch_end(struct rewrite *w)
{
    if (!w->batch_open)
        return 0;
    w->batch_open = 0;
    return shlog_enc_batch_end(w->enc);
}

static int batch_begin(struct rewrite *w, const struct shlog_event *ev)
{
    w->batch_open = 1;
    w->batch_proc = ev->proc->key;
    w->batch_cpu = ev->cpu;
    w->batch_backtrace = ev->backtrace;
    w->batch_order_tsc = ev->order_tsc;
    return ev->backtrace ? shlog_enc_backtrace_begin(w->enc, ev->proc->key, ev->cpu, ev->order_tsc)
                         : shlog_enc_batch_begin(w->enc, ev->proc->key, ev->cpu);
}

/* A record of the old file into the encoder's open frame, in a batch of its
 * ring's (a new one where the ring changes or the batch is full). */
static int feed_record(struct rewrite *w, const struct shlog_event *ev)
{
    if (w->batch_open && (w->batch_proc != ev->proc->key || w->batch_cpu != ev->cpu ||
                          w->batch_backtrace != ev->backtrace || w->batch_order_tsc != ev->order_tsc)) {
        int rc = batch_end(w);
        if (rc)
            return rc;
    }
    if (!w->batch_open) {
        int rc = batch_begin(w, ev);
        if (rc)
            return rc;
    }
    static struct shm_copied_record rec;
    memcpy(&rec, ev->rec, shm_rec_copy_bytes(ev->rec));
    rec.flags &= (uint8_t)~SHM_REC_TIME_UNCERTAIN; /* a reader's own, never in a ring */
    int rc = shlog_enc_record(w->enc, &rec);
    if (rc == -ENOSPC) { /* a full batch: the next one */
        rc = batch_end(w);
        rc = rc ? rc : batch_begin(w, ev);
        rc = rc ? rc : shlog_enc_record(w->enc, &rec);
    }
    struct shm_loss loss;
    const char *why;
    if (!rc && shlog_enc_take_loss(w->enc, &loss, &why))
        return failed(w, "a record at ring position %llu could not be summed up: %s",
                      (unsigned long long)rec.pos, why);
    return rc;
}

/* What the index sums up of a frame's events, into the encoder's open frame. */
static int feed_event(struct rewrite *w, const struct shlog_event *ev, uint64_t off)
{
    int rc = 0;
    switch (ev->kind) {
    case SHLOG_EV_ERROR:
        return failed(w, "damaged at offset %llu (%s): left as it is; shmlog-dump verify says more",
                      (unsigned long long)off, ev->error);
    case SHLOG_EV_PROCESS:
        rc = batch_end(w);
        return rc ? rc : shlog_enc_process(w->enc, ev->proc->key, &ev->proc->info);
    case SHLOG_EV_SITE:
        if (!ev->site_info)
            shlog_enc_frame_mixed(w->enc);
        return ev->site_info ? shlog_enc_site(w->enc, ev->site->proc, ev->site_info) : 0;
    case SHLOG_EV_CLOCK:
        rc = batch_end(w);
        return rc ? rc : shlog_enc_clock(w->enc, &ev->clock, &ev->anchor, 1);
    case SHLOG_EV_RECORD:
        return feed_record(w, ev);
    case SHLOG_EV_FRAME_END:
        return 0;
    default: /* losses, exits, names: the index sums up records only, and says the frame holds more */
        shlog_enc_frame_mixed(w->enc);
        return 0;
    }
}

/* The frame of n bytes at off (in w->frame), which the new file holds at the
 * same offset: summed up, and where the encoder closes a group an index frame
 * appended. */
static int copy_frame(struct rewrite *w, uint64_t off, size_t n)
{
    int rc = shlog_reader_push(w->frames_reader, w->frame, n, off);
    if (rc)
        return failed(w, "reading the frame at offset %llu: %s", (unsigned long long)off, strerror(-rc));
    struct shlog_event ev;
    while ((rc = shlog_reader_next(w->frames_reader, &ev)) == 1)
        if (feed_event(w, &ev, off))
            return w->why[0] ? -1 : failed(w, "summing up the frame at offset %llu failed", (unsigned long long)off);
    if (rc < 0)
        return failed(w, "reading the frame at offset %llu: %s", (unsigned long long)off, strerror(-rc));
    if (batch_end(w))
        return failed(w, "summing up the frame at offset %llu failed", (unsigned long long)off);
    size_t cap = shlog_enc_footer_bound(w->enc) + n / 25 + SHLOG_INDEX_ENTRY_BOUND;
    if (grow(&w->out, &w->out_cap, cap))
        return failed(w, "out of memory");
    long k = shlog_enc_frame_at(w->enc, w->frame, n, off, w->new_bytes, w->out, cap);
    if (k < 0)
        return failed(w, "indexing the frame at offset %llu: %s", (unsigned long long)off, strerror((int)-k));
    if (dump_write_all(w->new_fd, w->out, (size_t)k))
        return failed(w, "writing %s: %s", w->tmp, strerror(errno));
    w->new_bytes += (uint64_t)k;
    w->index_bytes += (uint64_t)k;
    w->frames++;
    return 0;
}

/* The old file's bytes, all of them, into the new one: nothing moves, so a
 * shipper or mirror part-way through the file goes on at its offset. */
static int copy_all(struct rewrite *w)
{
    uint64_t done = 0;
    while (done < w->old_bytes) {
        ssize_t k = copy_file_range(w->old_fd, NULL, w->new_fd, NULL, (size_t)(w->old_bytes - done), 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        done += (uint64_t)k;
    }
    /* where the kernel copies no range (across file systems, some of them): read and write */
    while (done < w->old_bytes) {
        size_t want = w->old_bytes - done < (1u << 20) ? (size_t)(w->old_bytes - done) : 1u << 20;
        if (grow(&w->frame, &w->frame_cap, want))
            return failed(w, "out of memory");
        ssize_t got = shlog_pread_full(w->old_fd, w->frame, want, done);
        if (got <= 0 || pwrite(w->new_fd, w->frame, (size_t)got, (off_t)done) != got)
            return failed(w, "copying %s: %s", w->path, got == 0 ? "it shrank" : strerror(errno));
        done += (uint64_t)got;
    }
    if (lseek(w->new_fd, (off_t)done, SEEK_SET) < 0)
        return failed(w, "writing %s: %s", w->tmp, strerror(errno));
    w->new_bytes = done;
    return 0;
}

/* The new file: the old one as it is, and an index of its frames appended
 * (the old one's index frames, cut off or damaged, stay where they are,
 * frames of no records); then synced. */
static int write_new(struct rewrite *w)
{
    uint8_t head[SHLOG_FILE_HEADER_BYTES];
    struct shlog_file_header hdr;
    const char *bad;
    if (shlog_pread_full(w->old_fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
        (bad = shlog_file_header_decode(head, sizeof head, &hdr)))
        return failed(w, "not a collector file it can read");
    char err[512];
    if (shlog_reader_open_frames(&w->frames_reader, &hdr, w->path, NULL, err, sizeof err))
        return failed(w, "%s", err);
    if (shlog_enc_new(&w->enc, 1))
        return failed(w, "out of memory");
    if (copy_all(w))
        return -1;
    for (uint64_t off = sizeof head; off < w->old_bytes;) {
        uint8_t prefix[SHLOG_FRAME_PREFIX_BYTES + 4];
        ssize_t got = shlog_pread_full(w->old_fd, prefix, sizeof prefix, off);
        uint64_t n = got < (ssize_t)SHLOG_FRAME_PREFIX_BYTES ? 0 : shlog_frame_bytes(prefix, (size_t)got);
        if (!n || n > w->old_bytes - off)
            return failed(w, "damaged at offset %llu (no frame there, or one past the end): left as it is; "
                          "shmlog-dump verify says more", (unsigned long long)off);
        if (grow(&w->frame, &w->frame_cap, n))
            return failed(w, "out of memory");
        if (shlog_pread_full(w->old_fd, w->frame, n, off) != (ssize_t)n)
            return failed(w, "reading %s: %s", w->path, strerror(errno ? errno : EIO));
        /* The old file's own index frames are not summed up again. */
        if (!shlog_frame_is_index(prefix, (size_t)got) && copy_frame(w, off, n))
            return -1;
        off += n;
    }
    size_t cap = shlog_enc_footer_bound(w->enc);
    if (grow(&w->out, &w->out_cap, cap))
        return failed(w, "out of memory");
    long k = shlog_enc_footer(w->enc, w->out, cap);
    if (k < 0)
        return failed(w, "writing the footer: %s", strerror((int)-k));
    if (dump_write_all(w->new_fd, w->out, (size_t)k) || fsync(w->new_fd))
        return failed(w, "writing %s: %s", w->tmp, strerror(errno));
    w->new_bytes += (uint64_t)k;
    w->index_bytes += (uint64_t)k;
    return 0;
}

/* 1 when a and b are the same event but for where in their files they are. */
static int same_event(const struct shlog_event *a, const struct shlog_event *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case SHLOG_EV_BLOCK: /* rows as values: every byte of a row is its record's */
        if (a->proc->key != b->proc->key || a->cpu != b->cpu || a->block->n != b->block->n)
            return 0;
        for (uint32_t i = 0; i < a->block->n; i++)
            if (a->block->bytes[i] != b->block->bytes[i] || !a->block->site[i] != !b->block->site[i] ||
                memcmp(a->block->rec[i], b->block->rec[i], a->block->bytes[i]))
                return 0;
        return 1;
    case SHLOG_EV_LOSS:
        return a->cpu == b->cpu && a->loss.first_pos == b->loss.first_pos &&
               a->loss.positions == b->loss.positions && a->loss.records == b->loss.records &&
               a->loss.reason == b->loss.reason && a->counter_total == b->counter_total;
    case SHLOG_EV_CLOCK:
        return a->anchor.tsc == b->anchor.tsc && a->anchor.ns == b->anchor.ns;
    case SHLOG_EV_EXIT:
        return a->exit_ns == b->exit_ns && a->exit_records == b->exit_records;
    default:
        return 1;
    }
}

/* The new file reads back as the old: every event the same, in order, and
 * an index from its footer that sums up every frame. */
static int check_new(struct rewrite *w)
{
    int fd = open(w->tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return failed(w, "reading %s back: %s", w->tmp, strerror(errno));
    char err[512];
    struct shlog_index *ix = NULL;
    struct shlog_reader *a = NULL, *b = NULL;
    int rc = shlog_index_open(&ix, fd, err, sizeof err);
    if (rc)
        failed(w, "reading the new index back: %s", err);
    else if (!shlog_index_from_footer(ix) || shlog_index_note(ix) || shlog_index_count(ix) != w->frames)
        rc = failed(w, "the new index did not read back whole: %s",
                    shlog_index_note(ix) ? shlog_index_note(ix) : "frames missing");
    if (!rc && (shlog_reader_open_fd(&a, w->old_fd, w->path, 0, NULL, err, sizeof err) ||
                shlog_reader_open_fd(&b, fd, w->tmp, 0, NULL, err, sizeof err)))
        rc = failed(w, "reading back: %s", err);
    uint64_t events = 0;
    if (!rc) {
        shlog_reader_blocks(a, 1);
        shlog_reader_blocks(b, 1);
    }
    while (!rc) {
        struct shlog_event ea, eb;
        int ra = shlog_reader_next(a, &ea), rb = shlog_reader_next(b, &eb);
        if (ra < 0 || rb < 0)
            rc = failed(w, "reading back: %s", strerror(ra < 0 ? -ra : -rb));
        else if (ra != rb || (ra == 1 && !same_event(&ea, &eb)))
            rc = failed(w, "the new file does not read back as the old (event %llu differs)",
                        (unsigned long long)events);
        else if (ra == 1 && ea.kind == SHLOG_EV_ERROR)
            rc = failed(w, "damaged: %s", ea.error);
        else if (ra == 0)
            break;
        events++;
    }
    if (a)
        shlog_reader_close(a);
    if (b)
        shlog_reader_close(b);
    if (ix)
        shlog_index_close(ix);
    close(fd);
    return rc;
}

/* The new file in the old one's place, when the old one is still the one
 * that was read: the rename is the one step that changes what the name
 * holds, and it is whole or not at all. */
static int replace_old(struct rewrite *w, const struct stat *was)
{
    struct stat now;
    if (lstat(w->path, &now) || now.st_dev != was->st_dev || now.st_ino != was->st_ino ||
        now.st_size != was->st_size || now.st_mtim.tv_sec != was->st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != was->st_mtim.tv_nsec)
        return failed(w, "changed while it was indexed: left as it is");
    if (fchmod(w->new_fd, was->st_mode & 0666) || rename(w->tmp, w->path))
        return failed(w, "replacing it: %s", strerror(errno));
    w->tmp[0] = 0;
    char dir[4096];
    const char *slash = strrchr(w->path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - w->path) + 1 : 1, slash ? w->path : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd)) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        return failed(w, "syncing its directory: %s", strerror(e));
    }
    close(dfd);
    return 0;
}

static enum index_outcome index_file(const char *path, int check, int in_dir)
{
    char msg[4096 + 1024];
    size_t len = strlen(path);
    if (len >= strlen(SHLOG_PART_SUFFIX) && !strcmp(path + len - strlen(SHLOG_PART_SUFFIX), SHLOG_PART_SUFFIX)) {
        snprintf(msg, sizeof msg, "%s: being written (a .part): the collector writes its index; not rewritten", path);
        dump_say(msg, in_dir);
        return in_dir ? INDEX_SKIPPED : INDEX_FAILED;
    }
    struct rewrite w = {.path = path, .old_fd = -1, .new_fd = -1};
    struct stat st;
    enum index_outcome out = INDEX_FAILED;
    char err[512];
    struct shlog_index *ix = NULL;
    if ((w.old_fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fstat(w.old_fd, &st)) {
        failed(&w, "%s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        failed(&w, "not a regular file");
    } else if (st.st_uid != geteuid()) {
        /* a file another uid could have placed in a shared directory is
         * not rewritten under its name (DESIGN.md, invariant 7) */
        failed(&w, "owned by uid %u, not by this one (%u): not rewritten", (unsigned)st.st_uid, (unsigned)geteuid());
    } else if (shlog_index_open(&ix, w.old_fd, err, sizeof err)) {
        failed(&w, "%s", err);
    } else if (shlog_index_from_footer(ix) && !shlog_index_note(ix)) {
        snprintf(msg, sizeof msg, "%s: already indexed (%zu frames)", path, shlog_index_count(ix));
        out = INDEX_HAD_ONE;
    } else if (check) {
        snprintf(msg, sizeof msg, "%s: no index: %s", path,
                 shlog_index_note(ix) ? shlog_index_note(ix) : "no footer");
        out = INDEX_LACKS_ONE;
    } else {
        w.old_bytes = (uint64_t)st.st_size;
        const char *slash = strrchr(path, '/');
        snprintf(w.tmp, sizeof w.tmp, "%.*s.%s.index-XXXXXX", slash ? (int)(slash - path) + 1 : 0, path,
                 slash ? slash + 1 : path);
        if ((w.new_fd = mkostemp(w.tmp, O_CLOEXEC)) < 0) {
            failed(&w, "creating a file beside it: %s", strerror(errno));
            w.tmp[0] = 0;
        } else if (!write_new(&w) && !check_new(&w) && !replace_old(&w, &st)) {
            snprintf(msg, sizeof msg, "%s: indexed: %llu frames, index %llu bytes (%.2f %% of the file)", path,
                     (unsigned long long)w.frames, (unsigned long long)w.index_bytes,
                     100.0 * (double)w.index_bytes / (double)w.new_bytes);
            out = INDEX_DONE;
        }
    }
    if (out == INDEX_FAILED)
        snprintf(msg, sizeof msg, "%s: %s", path, w.why);
    if (out == INDEX_FAILED)
        dump_say(msg, 0);
    else
        printf("%s\n", msg);
    if (w.tmp[0])
        unlink(w.tmp);
    if (w.new_fd >= 0)
        close(w.new_fd);
    if (w.old_fd >= 0)
        close(w.old_fd);
    if (ix)
        shlog_index_close(ix);
    if (w.frames_reader)
        shlog_reader_close(w.frames_reader);
    shlog_enc_free(w.enc);
    free(w.frame);
    free(w.out);
    return out;
}

/* The collector's files of a directory (their names, then indexed one by one). */
struct dir_names {
    char **v;
    size_t n;
};

static int add_name(void *clientd, const char *name, uint64_t seq, int part, uint64_t bytes)
{
    (void)seq, (void)bytes, (void)part;
    struct dir_names *d = clientd;
    char **v = realloc(d->v, (d->n + 1) * sizeof *v);
    if (!v || !(v[d->n] = strdup(name)))
        dump_oom();
    d->v = v;
    d->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_index(struct cli *cli)
{
    int nargs, status = 0;
    const char *const *args = input_args(cli, &nargs);
    for (int i = 0; i < nargs; i++) {
        struct stat st;
        if (stat_input(cli, args[i], &st)) {
            status = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            enum index_outcome o = index_file(args[i], cli->check, 0);
            status |= o == INDEX_FAILED || o == INDEX_LACKS_ONE;
            continue;
        }
        int dfd = open(args[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct dir_names names = {0};
        if (dfd >= 0) {
            shlog_dir_files(dfd, 0, add_name, &names);
            close(dfd);
        }
        if (names.n > 1)
            qsort(names.v, names.n, sizeof *names.v, by_name);
        for (size_t k = 0; k < names.n; k++) {
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", args[i], names.v[k]);
            enum index_outcome o = index_file(path, cli->check, 1);
            status |= o == INDEX_FAILED || o == INDEX_LACKS_ONE;
            free(names.v[k]);
        }
        free(names.v);
    }
    fflush(stdout);
    return status;
}
