/*
 * follow.c - the collector's output directory as shmlog-ship reads it: files
 * in number order, each frame whole, the open .part up to its last complete
 * frame (a frame still being written fails its zstd checksum and is waited
 * for), damage in a closed file skipped and counted, as readers do.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship.h"

/* Frames produced per step at most, so acknowledgements are served between. */
#define STEP_FRAMES 64
#define RESYNC_CHUNK 65536u

/* The file looked for: the first numbered want or after it. */
struct wanted {
    int found, part;
    uint64_t seq;
    char *name;
    size_t cap;
};

static int consider(void *clientd, const char *name, uint64_t seq, int part, uint64_t bytes)
{
    (void)bytes;
    struct wanted *w = clientd;
    if (strlen(name) >= w->cap ||
        (w->found && (seq > w->seq || (seq == w->seq && (part || !w->part)))))
        return 0;
    w->found = 1;
    w->seq = seq;
    w->part = part;
    snprintf(w->name, w->cap, "%s", name);
    return 0;
}

/* The file numbered seq or the next one after it: its name in name. 1 found,
 * 0 none. A .shlog is taken before a .part of the same number (the rename
 * came between two looks). */
static int find_file(const struct follow *fl, uint64_t want, uint64_t *seq, char *name, size_t cap, int *part)
{
    struct wanted w = {0, 0, 0, name, cap};
    shlog_dir_files(fl->dirfd, want, consider, &w);
    *seq = w.seq;
    *part = w.part;
    return w.found;
}

static void close_file(struct follow *fl)
{
    if (fl->fd >= 0)
        close(fl->fd);
    fl->fd = -1;
}

/* The frame at off of fb bytes was produced, with cx; marked: sealed. */
static void remember(struct follow *fl, uint64_t off, uint64_t fb, const struct shlog_context_out *cx, int marked)
{
    struct last_frame *l = &fl->last;
    if (cx->ctx_n > l->ctx_cap) {
        uint8_t *c = realloc(l->ctx, cx->ctx_n);
        if (!c) {
            fprintf(stderr, PROG ": out of memory\n");
            exit(1);
        }
        l->ctx = c;
        l->ctx_cap = cx->ctx_n;
    }
    if (cx->ctx_n)
        memcpy(l->ctx, cx->ctx, cx->ctx_n);
    l->ctx_n = cx->ctx_n;
    l->off = off;
    l->bytes = fb;
    l->sealed_ns = cx->sealed_ns;
    l->marked = marked;
}

/* Learns the definitions of the frames before off again (a restart in the
 * middle of a file), and which was the last. */
static void relearn(struct follow *fl, uint64_t off)
{
    uint64_t at = SHLOG_FILE_HEADER_BYTES;
    uint8_t pre[SHLOG_FRAME_PREFIX_BYTES];
    while (at < off && shlog_pread_full(fl->fd, pre, sizeof(pre), at) == (ssize_t)sizeof(pre)) {
        uint64_t fb = shlog_frame_bytes(pre, sizeof(pre));
        if (!fb || at + fb > off)
            break;
        uint8_t *f = malloc(fb);
        if (!f || shlog_pread_full(fl->fd, f, fb, at) != (ssize_t)fb) {
            free(f);
            break;
        }
        struct shlog_context_out cx;
        if (shlog_context_next(fl->ctx, f, fb, &cx) != -ENOMEM && at + fb == off)
            remember(fl, at, fb, &cx, 0); /* whether it went marked is not known: sent again if closed */
        free(f);
        at += fb;
    }
}

/* A closed file whose last frame went before it was closed: that frame
 * again, marked sealed (readers that have it skip it as sent again). */
static void mark_sealed(struct follow *fl, struct kafka *k, uint64_t size)
{
    struct last_frame *l = &fl->last;
    if (!l->bytes || l->marked || l->off + l->bytes != size)
        return;
    uint8_t *f = malloc(l->bytes);
    if (!f) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    if (shlog_pread_full(fl->fd, f, l->bytes, l->off) != (ssize_t)l->bytes) {
        free(f);
        return;
    }
    /* Its records were counted when it went first. */
    const struct shlog_context_out cx = {l->ctx_n ? l->ctx : NULL, l->ctx_n, 0, l->sealed_ns};
    if (kafka_produce(k, f, l->bytes, fl->header, fl->hdr.host, &cx, (struct cursor){fl->seq, size}, 1) != 0)
        exit(1);
    l->marked = 1;
}

/* Opens the next file to ship: 1 opened, 0 none yet. */
static int open_next(struct follow *fl, struct kafka *k)
{
    uint64_t seq = 0;
    char name[256];
    int part = 0;
    if (!find_file(fl, fl->next_seq, &seq, name, sizeof(name), &part))
        return 0;
    int fd = openat(fl->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0; /* renamed or removed between the look and the open: look again */
    struct stat st;
    uint8_t h[SHLOG_FILE_HEADER_BYTES];
    struct shlog_file_header hdr;
    const char *why = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (shlog_pread_full(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
        why = part ? NULL : "shorter than its header";
    else
        why = shlog_file_header_decode(h, sizeof(h), &hdr);
    if (why || (part && st.st_size < SHLOG_FILE_HEADER_BYTES)) {
        close(fd);
        if (part && !why)
            return 0; /* being created: its header comes first */
        shm_warn(PROG, "%s/%s: %s: skipped, not shipped", fl->dir, name, why);
        fl->next_seq = seq + 1;
        return 1;
    }
    /* Only the first file opened can be the state file's, and nothing was
     * produced before it: start is what the brokers hold at that point. */
    if (seq > fl->start.seq && fl->start.off > 0 && fl->n.files == 0) {
        shm_warn(PROG, "file %" PRIu64 " is gone with bytes after offset %" PRIu64 " not shipped", fl->start.seq, fl->start.off);
        fl->n.files_gone++;
    }
    fl->fd = fd;
    fl->seq = seq;
    fl->part = part;
    fl->sealed = !part;
    snprintf(fl->name, sizeof(fl->name), "%s", name);
    memcpy(fl->header, h, sizeof(h));
    fl->hdr = hdr;
    shlog_context_reset(fl->ctx);
    fl->ctx_over_said = 0;
    fl->sent_end = 0;
    fl->last.bytes = 0;
    if (seq == fl->start.seq && fl->start.off > SHLOG_FILE_HEADER_BYTES) {
        relearn(fl, fl->start.off);
        fl->off = fl->start.off;
    } else {
        fl->off = SHLOG_FILE_HEADER_BYTES;
        kafka_mark(k, (struct cursor){seq, 0});
    }
    fl->n.files++;
    return 1;
}

/* Whether the .part being read was closed: renamed to its .shlog name. */
static int renamed(const struct follow *fl)
{
    struct stat st;
    return fstatat(fl->dirfd, fl->name, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT;
}

/* The next valid frame prefix at or after from, before end; end if none. */
static uint64_t resync(const struct follow *fl, uint64_t from, uint64_t end)
{
    uint8_t *chunk = malloc(RESYNC_CHUNK + SHLOG_FRAME_PREFIX_BYTES);
    if (!chunk)
        return end;
    for (uint64_t at = from; at + SHLOG_FRAME_PREFIX_BYTES <= end;) {
        ssize_t n = shlog_pread_full(fl->fd, chunk, RESYNC_CHUNK + SHLOG_FRAME_PREFIX_BYTES, at);
        if (n < (ssize_t)SHLOG_FRAME_PREFIX_BYTES)
            break;
        for (size_t i = 0; i + SHLOG_FRAME_PREFIX_BYTES <= (size_t)n; i++)
            if (shlog_frame_bytes(chunk + i, SHLOG_FRAME_PREFIX_BYTES)) {
                free(chunk);
                return at + i;
            }
        at += (uint64_t)n - SHLOG_FRAME_PREFIX_BYTES + 1;
    }
    free(chunk);
    return end;
}

/* Whether the message of the frame at fl->off carries its context: when it
 * does not go on from the message before it, or that many ms after the last
 * one that did (SHLOG_MSG_CONTEXT_EVERY_MS); its timestamp is its seal time,
 * or librdkafka's clock, which reads about this one. */
static int carries_context(struct follow *fl, const struct shlog_context_out *cx)
{
    uint64_t ms = (cx->sealed_ns ? cx->sealed_ns : shm_real_ns()) / 1000000u;
    if (fl->sent_end == fl->off && ms < fl->ctx_sent_ms + SHLOG_MSG_CONTEXT_EVERY_MS)
        return 0;
    if (!cx->ctx_n && fl->off != SHLOG_FILE_HEADER_BYTES) {
        fl->ctx_sent_ms = 0; /* none to give (a frame that does not decode): the next one carries it */
        return 0;
    }
    fl->ctx_sent_ms = ms;
    return 1;
}

/* One frame at fl->off of a file of size bytes: 1 produced or skipped, 0 wait. */
static int ship_frame(struct follow *fl, struct kafka *k, uint64_t size)
{
    uint8_t pre[SHLOG_FRAME_PREFIX_BYTES];
    if (fl->off + sizeof(pre) > size || shlog_pread_full(fl->fd, pre, sizeof(pre), fl->off) != (ssize_t)sizeof(pre))
        return 0;
    uint64_t fb = shlog_frame_bytes(pre, sizeof(pre));
    if (!fb) {
        if (!fl->sealed)
            return 0; /* a write in flight leaves zeros before it */
        uint64_t next = resync(fl, fl->off + 1, size);
        shm_warn(PROG, "%s: offset %" PRIu64 ": %" PRIu64 " bytes that are no frame skipped, not shipped", fl->name, fl->off,
              next - fl->off);
        fl->n.damaged_bytes += next - fl->off;
        fl->off = next;
        return 1;
    }
    if (fl->off + fb > size)
        return 0; /* being written; in a closed file, torn (follow_step) */
    uint8_t *f = malloc(fb);
    if (!f) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    if (shlog_pread_full(fl->fd, f, fb, fl->off) != (ssize_t)fb) {
        free(f);
        return 0;
    }
    struct shlog_context_out cx;
    int rc = shlog_context_next(fl->ctx, f, fb, &cx);
    if (rc == -EINVAL) {
        if (!fl->sealed) {
            free(f); /* still being written: its checksum fails until it is whole */
            return 0;
        }
        shm_warn(PROG, "%s: offset %" PRIu64 ": a frame that does not decode, shipped as it is", fl->name, fl->off);
        fl->n.damaged_frames++;
    } else if (rc == -E2BIG && !fl->ctx_over_said++) {
        shm_warn(PROG, "%s: more definitions than a reader keeps: a reader that starts after offset %" PRIu64
              " may miss some", fl->name, fl->off);
    } else if (rc == -ENOMEM) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    int ends = fl->sealed && fl->off + fb == size;
    remember(fl, fl->off, fb, &cx, ends);
    struct shlog_context_out sent = cx;
    if (!carries_context(fl, &cx))
        sent.ctx = NULL, sent.ctx_n = 0;
    if (kafka_produce(k, f, fb, fl->header, fl->hdr.host, &sent, (struct cursor){fl->seq, fl->off + fb}, ends) != 0)
        exit(1);
    fl->off += fb;
    fl->sent_end = fl->off;
    return 1;
}

int follow_step(struct follow *fl, struct kafka *k)
{
    if (fl->fd < 0) {
        int opened = open_next(fl, k);
        fl->at_end = !opened;
        return opened;
    }
    /* A reader of one host finds its frames by the map: its entry goes first. */
    if (!kafka_host_mapped(k, fl->hdr.host)) {
        fl->at_end = 0;
        return 0;
    }
    /* Sealed first, then the size: a closed file's size is its last. */
    if (!fl->sealed && renamed(fl))
        fl->sealed = 1;
    struct stat st;
    if (fstat(fl->fd, &st) != 0) {
        shm_warn(PROG, "%s: %s", fl->name, strerror(errno));
        return 0;
    }
    uint64_t size = (uint64_t)st.st_size;
    int n = 0, room = 1;
    while (n < STEP_FRAMES && (room = kafka_room(k, fl->max_inflight)) && ship_frame(fl, k, size))
        n++;
    if (fl->sealed && room && n < STEP_FRAMES) {
        if (fl->off < size) {
            shm_warn(PROG, "%s: ends inside a frame (%" PRIu64 " bytes): torn, not shipped", fl->name, size - fl->off);
            fl->n.torn++;
        }
        mark_sealed(fl, k, size);
        close_file(fl);
        fl->next_seq = fl->seq + 1;
        return 1;
    }
    fl->at_end = n == 0 && room; /* held back by the acknowledgements is not the end */
    return n > 0;
}

int follow_init(struct follow *fl, const char *dir, uint64_t max_inflight, struct cursor start,
                const volatile sig_atomic_t *stop)
{
    fl->dir = dir;
    fl->max_inflight = max_inflight;
    fl->start = start;
    fl->fd = -1;
    /* A shipper started with the collector, or before it, finds no directory yet: it comes. */
    int said = 0;
    while ((fl->dirfd = open(fl->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 && errno == ENOENT && !*stop) {
        if (!said++)
            shm_warn(PROG, "--dir %s: not there yet; waiting for it", fl->dir);
        sleep(1);
    }
    if (fl->dirfd < 0) {
        if (!*stop)
            fprintf(stderr, PROG ": --dir %s: %s\n", fl->dir, strerror(errno));
        return -1;
    }
    if (shlog_context_new(&fl->ctx)) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    fl->next_seq = start.seq;
    return 0;
}

uint64_t follow_lag_bytes(const struct follow *fl, struct cursor acked)
{
    struct shlog_shipped at = {.file_seq = acked.seq, .offset = acked.off};
    return shlog_shipped_lag(fl->dirfd, &at);
}
