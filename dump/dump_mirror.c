/*
 * dump_mirror.c - shmlog-dump mirror: a topic of shipped frames written back
 * as each host's files, the frames byte for byte, so every reader of files
 * (shmlog-dump, libshmlog-read, Python, DuckDB) reads a fleet on a central
 * box as it reads one host. A file a run starts in the middle of gets the
 * first message's context frames before it (FORMAT.md, "Frames as
 * messages"); a run picks up where the last one stopped (DIR/.shmlog-mirror).
 * A file is its header's (host, number, creation time, collector pid): a
 * re-imaged host's new file 0 is a file beside its old one. The hosts a
 * directory takes are bounded (--max-hosts): a topic anyone can write to
 * cannot make it a file per key.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "kafka_source.h"

#define MIRROR_STATE ".shmlog-mirror"
#define MIRROR_MAGIC "shmlog-mirror 1"
#define SYNC_INTERVAL_NS 1000000000ull
#define MAX_OPEN 256 /* files kept open; the least recently written closes first */
#define MAX_PARTS 4096
#define MAX_HOSTS_DEFAULT 4096 /* as many as read kafka:// takes */

struct mfile {
    char host[SHMLOG_HOST_BYTES + 1];
    uint64_t seq, next; /* next: the source offset its frames reach */
    uint64_t created_ns; /* with host, seq and pid: which file it is (its header's) */
    uint32_t pid;
    char name[512];     /* under the directory, .part while its host may add to it */
    int fd;
    uint64_t used;
    int dirty;
};

static struct mfile files[MAX_OPEN];
static size_t nfiles;
static uint64_t tick;
static int dirfd_out = -1;
static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static void mfile_sync(struct mfile *f)
{
    if (f->fd >= 0 && f->dirty && fdatasync(f->fd) != 0)
        fprintf(stderr, "%s: mirror: %s: %s\n", dump_prog, f->name, strerror(errno));
    f->dirty = 0;
}

/* Closed for good: synced, and renamed from .part to .shlog. */
static void mfile_seal(struct mfile *f)
{
    mfile_sync(f);
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    size_t n = strlen(f->name), pl = strlen(SHLOG_PART_SUFFIX);
    if (n > pl && !strcmp(f->name + n - pl, SHLOG_PART_SUFFIX)) {
        char to[512];
        snprintf(to, sizeof(to), "%.*s", (int)(n - pl), f->name);
        if (renameat2(dirfd_out, f->name, dirfd_out, to, RENAME_NOREPLACE) == 0)
            snprintf(f->name, sizeof(f->name), "%s", to);
    }
}

static void mfile_drop(struct mfile *f)
{
    if (f->fd >= 0) {
        mfile_sync(f);
        close(f->fd);
    }
    *f = files[--nfiles];
}

static int mfile_is(const struct mfile *f, const struct shlog_file_header *h)
{
    return f->seq == h->file_seq && f->created_ns == h->created_ns && f->pid == h->collector_pid &&
           !strcmp(f->host, h->host);
}

/* The mirror file of h's file this run knows, or NULL. */
static struct mfile *mfile_of(const struct shlog_file_header *h)
{
    for (size_t i = 0; i < nfiles; i++)
        if (mfile_is(&files[i], h))
            return &files[i];
    return NULL;
}

/* The header of the file name under the directory; 0, or -1. */
static int header_of(const char *name, struct shlog_file_header *h)
{
    uint8_t b[SHLOG_FILE_HEADER_BYTES];
    int fd = openat(dirfd_out, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = shlog_pread_full(fd, b, sizeof(b), 0);
    close(fd);
    return n == (ssize_t)sizeof(b) && !shlog_file_header_decode(b, sizeof(b), h) ? 0 : -1;
}

/* A name for f (its .part, or the .shlog an earlier run closed) that no
 * other file has: another file of its host, number and second (a host
 * re-imaged within it) takes the next second's name. 0, or -1. */
static int mfile_name(struct mfile *f, const struct shlog_file_header *h)
{
    struct shlog_file_header at = *h;
    for (int tries = 0; tries < 64; tries++, at.created_ns += 1000000000ull) {
        char name[sizeof(f->name) - sizeof(SHLOG_PART_SUFFIX)];
        shlog_file_name(&at, name, sizeof(name));
        struct shlog_file_header there;
        const char *pick = NULL;
        char part[sizeof(f->name)];
        snprintf(part, sizeof(part), "%s" SHLOG_PART_SUFFIX, name);
        if (faccessat(dirfd_out, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            pick = name;
        else if (faccessat(dirfd_out, part, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            pick = part;
        if (!pick) {
            snprintf(f->name, sizeof(f->name), "%s", part);
            return 0;
        }
        if (header_of(pick, &there) == 0 && mfile_is(f, &there)) {
            snprintf(f->name, sizeof(f->name), "%s", pick); /* this file, from an earlier run */
            return 0;
        }
    }
    return -1;
}

/* The mirror file of m's file, opened for appending; made (with its
 * header) when there is none. NULL after a line on stderr; *unnamed when
 * every name it could take is another file's (a topic that made them). */
static struct mfile *mfile_get(const struct kmsg *m, int *unnamed)
{
    *unnamed = 0;
    struct mfile *f = mfile_of(&m->hdr);
    if (!f) {
        if (nfiles == MAX_OPEN) {
            struct mfile *old = &files[0];
            for (size_t i = 1; i < nfiles; i++)
                if (files[i].used < old->used)
                    old = &files[i];
            mfile_drop(old);
        }
        f = &files[nfiles++];
        memset(f, 0, sizeof(*f));
        f->fd = -1;
        snprintf(f->host, sizeof(f->host), "%s", m->hdr.host);
        f->seq = m->hdr.file_seq;
        f->created_ns = m->hdr.created_ns;
        f->pid = m->hdr.collector_pid;
        if (mfile_name(f, &m->hdr) != 0) {
            fprintf(stderr, "%s: mirror: partition %d offset %" PRId64 ": host %s file %" PRIu64 ": 64 other files "
                    "of its host, number and second have its names; skipped\n", dump_prog, (int)m->partition,
                    m->offset, m->hdr.host, m->hdr.file_seq);
            *f = files[--nfiles];
            *unnamed = 1;
            return NULL;
        }
    }
    f->used = ++tick;
    if (f->fd >= 0)
        return f;
    /* A closed file of an earlier run, or one this run sealed: appended to. */
    char sealed[512];
    snprintf(sealed, sizeof(sealed), "%.*s", (int)(strlen(f->name) - strlen(SHLOG_PART_SUFFIX)), f->name);
    if (strstr(f->name, SHLOG_PART_SUFFIX) && faccessat(dirfd_out, sealed, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        snprintf(f->name, sizeof(f->name), "%s", sealed);
    f->fd = openat(dirfd_out, f->name, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (f->fd < 0 && errno == ENOENT) {
        f->fd = openat(dirfd_out, f->name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
        if (f->fd >= 0 && write(f->fd, m->header, SHLOG_FILE_HEADER_BYTES) != SHLOG_FILE_HEADER_BYTES) {
            fprintf(stderr, "%s: mirror: %s: %s\n", dump_prog, f->name, strerror(errno ? errno : ENOSPC));
            close(f->fd);
            f->fd = -1;
        }
        f->next = SHLOG_FILE_HEADER_BYTES;
        f->dirty = 1;
    }
    if (f->fd < 0) {
        fprintf(stderr, "%s: mirror: %s: %s\n", dump_prog, f->name, strerror(errno));
        *f = files[--nfiles];
        return NULL;
    }
    return f;
}

static int write_all(struct mfile *f, const uint8_t *p, size_t n)
{
    if (dump_write_all(f->fd, p, n)) {
        fprintf(stderr, "%s: mirror: %s: %s\n", dump_prog, f->name, strerror(errno));
        return -1;
    }
    f->dirty = 1;
    return 0;
}

/* ==== State: where the next run starts ==== */

static int write_state(const char *topic, struct ksrc *k)
{
    struct ksrc_start *pos = malloc(MAX_PARTS * sizeof *pos); /* 64 KiB: not on the stack */
    if (!pos)
        return -1;
    size_t np = read_ksrc_positions(k, pos, MAX_PARTS);
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s.tmp", MIRROR_STATE);
    int fd = openat(dirfd_out, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    FILE *o = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!o) {
        if (fd >= 0)
            close(fd);
        free(pos);
        return -1;
    }
    fprintf(o, MIRROR_MAGIC "\ntopic %s\n", topic);
    for (size_t i = 0; i < np && i < MAX_PARTS; i++)
        fprintf(o, "partition %d %" PRId64 "\n", (int)pos[i].partition, pos[i].offset);
    free(pos);
    for (size_t i = 0; i < nfiles; i++)
        fprintf(o, "file %s %" PRIu64 " %" PRIu64 " %s\n", files[i].host, files[i].seq, files[i].next, files[i].name);
    int bad = fflush(o) != 0 || fsync(fileno(o)) != 0;
    if (fclose(o) != 0 || bad || renameat(dirfd_out, tmp, dirfd_out, MIRROR_STATE) != 0)
        return -1;
    return fsync(dirfd_out);
}

/* The last run's positions and files, when it mirrored the same topic. */
static size_t read_state(const char *topic, struct ksrc_start *pos, size_t cap)
{
    int fd = openat(dirfd_out, MIRROR_STATE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *in = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!in) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char line[1200], t[256] = "";
    size_t np = 0;
    if (!fgets(line, sizeof(line), in) || strncmp(line, MIRROR_MAGIC "\n", sizeof(MIRROR_MAGIC)) != 0 ||
        !fgets(line, sizeof(line), in) || sscanf(line, "topic %255s", t) != 1 || strcmp(t, topic) != 0) {
        fclose(in);
        return 0;
    }
    while (fgets(line, sizeof(line), in)) {
        int p;
        long long off;
        struct mfile f = {.fd = -1};
        if (sscanf(line, "partition %d %lld", &p, &off) == 2 && np < cap) {
            pos[np++] = (struct ksrc_start){p, off};
        } else if (nfiles < MAX_OPEN && sscanf(line, "file %64s %" SCNu64 " %" SCNu64 " %511s", f.host, &f.seq, &f.next,
                                               f.name) == 4 && shlog_host_name_ok(f.host) && !strchr(f.name, '/')) {
            /* Which file it is, from its own header: a state of a run before the file's identity had none. */
            struct shlog_file_header h;
            if (header_of(f.name, &h) == 0 && h.file_seq == f.seq && !strcmp(h.host, f.host)) {
                f.created_ns = h.created_ns;
                f.pid = h.collector_pid;
                files[nfiles++] = f;
            }
        }
    }
    fclose(in);
    return np;
}

/* ==== Hosts ==== */

static int known_host(void *clientd, const char *name, uint64_t seq, int part, uint64_t bytes)
{
    (void)seq, (void)bytes;
    /* HOST-YYYYmmdd-HHMMSS-NNNNNN.shlog[.part], as shlog_file_name_seq checked it */
    size_t n = strlen(name) - strlen(SHLOG_FILE_SUFFIX) - (part ? strlen(SHLOG_PART_SUFFIX) : 0);
    while (n > 0 && name[n - 1] >= '0' && name[n - 1] <= '9')
        n--;
    char host[SHMLOG_HOST_BYTES + 1];
    if (n < 18 || n - 17 >= sizeof(host))
        return 0;
    memcpy(host, name, n - 17);
    host[n - 17] = '\0';
    return shlog_host_name_ok(host) ? read_ksrc_add_host(clientd, host) : 0;
}

/* Counts every host the directory has files of against the bound, first:
 * the hosts it took in earlier runs keep their place. 0, or -ENOMEM. */
static int known_hosts(struct ksrc *k)
{
    return shlog_dir_files(dirfd_out, 0, known_host, k);
}

/* ==== The command ==== */

int cmd_mirror(struct cli *cli)
{
    const char *url = cli->positional[0];
    if (cli->npositional != 1 || !shlog_is_kafka_url(url))
        usage_error("mirror wants one kafka://HOST:PORT[,HOST:PORT...]/TOPIC and --out DIR");
    if (!cli->out_dir || strcmp(cli->out_dir_from, "--out") != 0)
        usage_error("mirror wants --out DIR: where the hosts' files go");
    char brokers[4096], topic[256], err[600];
    if (shlog_kafka_url(url, brokers, sizeof(brokers), topic, sizeof(topic)) != 0)
        usage_error("%s: not kafka://HOST:PORT[,HOST:PORT...]/TOPIC (a topic of [a-zA-Z0-9._-])", url);
    if (mkdir(cli->out_dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: mirror: --out %s: %s\n", dump_prog, cli->out_dir, strerror(errno));
        return 1;
    }
    dirfd_out = open(cli->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd_out < 0) {
        fprintf(stderr, "%s: mirror: --out %s: %s\n", dump_prog, cli->out_dir, strerror(errno));
        return 1;
    }
    static struct ksrc_start start[MAX_PARTS];
    size_t nstart = read_state(topic, start, MAX_PARTS);
    struct ksrc *k;
    size_t max_hosts = cli->max_hosts ? cli->max_hosts : MAX_HOSTS_DEFAULT;
    const struct ksrc_options ko = {.since_ns = cli->filter.since_ns, .follow = cli->follow, .start = start,
                                    .nstart = nstart, .max_hosts = max_hosts};
    if (read_ksrc_open(&k, url, &ko, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: mirror: %s\n", dump_prog, err);
        return 1;
    }
    if (known_hosts(k) != 0)
        dump_oom();
    for (size_t i = 0; i < nfiles; i++) {
        struct shlog_file_header h = {.file_seq = files[i].seq, .created_ns = files[i].created_ns,
                                      .collector_pid = files[i].pid};
        memcpy(h.host, files[i].host, sizeof(h.host)); /* the same size, NUL-terminated */
        if (read_ksrc_seed(k, &h, files[i].next) != 0)
            dump_oom();
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    uint64_t messages = 0, frames = 0, dups = 0, bad = 0, refused = 0, unnamed_files = 0, synced = read_now_ns();
    int failed = 0;
    struct kmsg m;
    while (!stop && !failed) {
        int rc = read_ksrc_next(k, &m, 200, err, sizeof(err));
        char note[800];
        int lost;
        if (read_ksrc_notice(k, note, sizeof note, &lost)) {
            fprintf(stderr, "%s: mirror: %s\n", dump_prog, note);
            bad += lost;
        }
        if (rc < 0) {
            fprintf(stderr, "%s: mirror: %s\n", dump_prog, err);
            failed = 1;
            break;
        }
        if (rc == 0 && read_ksrc_done(k))
            break;
        if (rc == 1) {
            messages++;
            if (m.place == KMSG_BAD) {
                bad++;
                fprintf(stderr, "%s: mirror: %s partition %d offset %" PRId64 ": %s; skipped\n", dump_prog, topic,
                        (int)m.partition, m.offset, m.why);
            } else if (m.place == KMSG_EARLY) {
                /* none of its records is after --since: not written */
            } else if (m.place == KMSG_REFUSED) {
                if (!refused++)
                    fprintf(stderr, "%s: mirror: %s: more than %zu hosts (--max-hosts): the messages of host '%s' "
                            "and of any other new host refused; a larger --max-hosts takes them\n", dump_prog, topic,
                            max_hosts, m.hdr.host);
            } else if (m.place == KMSG_DUPLICATE) {
                dups++;
                /* A shipper that saw its file closed after sending the last frame sends it again, marked. */
                struct mfile *f = m.sealed ? mfile_of(&m.hdr) : NULL;
                if (f && f->next == m.file_off + m.n)
                    mfile_seal(f);
            } else {
                if (m.new_file) /* a host's newer file: its older ones (of an older incarnation too) are done */
                    for (size_t i = 0; i < nfiles; i++)
                        if (!strcmp(files[i].host, m.hdr.host) && files[i].fd >= 0 &&
                            (files[i].seq < m.hdr.file_seq || files[i].created_ns < m.hdr.created_ns))
                            mfile_seal(&files[i]);
                int unnamed;
                struct mfile *f = mfile_get(&m, &unnamed);
                if (!f && unnamed) {
                    unnamed_files++;
                } else if (!f || (m.place == KMSG_START && m.ctx && m.file_off > SHLOG_FILE_HEADER_BYTES &&
                           write_all(f, m.ctx, m.ctx_n)) || write_all(f, m.frame, m.n)) {
                    failed = 1;
                    break;
                } else {
                    f->next = m.file_off + m.n;
                    frames++;
                    if (m.sealed)
                        mfile_seal(f);
                }
            }
        }
        if (read_now_ns() - synced >= SYNC_INTERVAL_NS) {
            for (size_t i = 0; i < nfiles; i++)
                mfile_sync(&files[i]);
            if (write_state(topic, k) != 0)
                fprintf(stderr, "%s: mirror: %s/%s: %s\n", dump_prog, cli->out_dir, MIRROR_STATE, strerror(errno));
            synced = read_now_ns();
        }
    }
    for (size_t i = 0; i < nfiles; i++)
        mfile_sync(&files[i]);
    if (!failed && write_state(topic, k) != 0) {
        fprintf(stderr, "%s: mirror: %s/%s: %s\n", dump_prog, cli->out_dir, MIRROR_STATE, strerror(errno));
        failed = 1;
    }
    for (size_t i = 0; i < nfiles; i++)
        if (files[i].fd >= 0)
            close(files[i].fd);
    read_ksrc_close(k);
    char over[256] = "";
    if (refused)
        snprintf(over, sizeof(over), ", %" PRIu64 " messages of hosts past --max-hosts refused", refused);
    if (unnamed_files)
        snprintf(over + strlen(over), sizeof(over) - strlen(over),
                 ", %" PRIu64 " frames of files left no name (reported above)", unnamed_files);
    fprintf(stderr, "%s: mirror: %" PRIu64 " messages: %" PRIu64 " frames written, %" PRIu64
            " already there (sent again, skipped), %" PRIu64 " not frames of a host (reported above)%s\n",
            dump_prog, messages, frames, dups, bad, over);
    return failed || bad || refused || unnamed_files ? 1 : 0;
}
