/*
 * output.c - the output files: their names and numbers, the .part files an
 * earlier run left, opening and closing a file, retention, and the
 * lines that say when the output fails and when it works again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "options.h"
#include "output.h"

struct exit_written {
    uint32_t pid;
    uint64_t proc_start;
    uint8_t instance[16];
};

/* What output.c keeps: made by output_new, handed to each call. */
struct output {
    const struct options *opt;
    uint64_t next_seq; /* the next file number */
    int seq_spent;     /* the last file number was given: none is left */
    uint64_t file_gen; /* the last outfile's gen */
    /* output trouble (a full disk, an I/O error): one line when it starts, one when it ends */
    int out_error;            /* errno of the failure going on, 0 if none */
    uint64_t out_error_since; /* mono_ns when out_error started */
    char host[SHMLOG_HOST_BYTES];
    struct output_stats stats;
    int exits_fd;                    /* the note, while it exists; -1: none */
    unsigned exit_frames;            /* frames with EXITs submitted and not yet done */
    struct exit_written *exits_seen; /* found written at the start, not yet asked for */
    size_t nexits_seen;
};

struct output *output_new(const struct options *o)
{
    struct output *out = calloc(1, sizeof(*out));
    if (!out)
        return NULL;
    out->opt = o;
    out->exits_fd = -1;
    return out;
}

void output_set_host(struct output *out, const char *name)
{
    snprintf(out->host, sizeof(out->host), "%s", name);
}

const struct output_stats *output_stats(struct output *out)
{
    return &out->stats;
}

int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int out_dir_unsafe(struct output *out, char *why, size_t cap)
{
    struct stat link, st;
    uid_t me = geteuid();
    if (lstat(out->opt->out, &link) != 0 || stat(out->opt->out, &st) != 0)
        snprintf(why, cap, "%s", strerror(errno));
    else if (S_ISLNK(link.st_mode) && link.st_uid != me && link.st_uid != 0)
        snprintf(why, cap, "a symbolic link of uid %u, who could point it elsewhere", (unsigned)link.st_uid);
    else if (!S_ISDIR(st.st_mode))
        snprintf(why, cap, "not a directory");
    else if (st.st_uid != me)
        snprintf(why, cap, "owned by uid %u, not by this collector's uid %u: its owner could delete its files and "
                 "plant others (as root: chown %u %s)", (unsigned)st.st_uid, (unsigned)me, (unsigned)me, out->opt->out);
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        snprintf(why, cap, "writable by %s (mode %o): they could delete its files and plant others (chmod go-w %s)",
                 st.st_mode & S_IWOTH ? "every user" : "its group", (unsigned)(st.st_mode & 07777), out->opt->out);
    else
        return 0;
    return -1;
}

int share_out_dir(struct output *out)
{
    struct stat st;
    if (!out->opt->have_group)
        return 0;
    if (stat(out->opt->out, &st) != 0)
        return -errno;
    if (st.st_gid != out->opt->out_gid && chown(out->opt->out, (uid_t)-1, out->opt->out_gid) != 0)
        return -errno;
    /* chown may clear the set-group-ID bit: the mode comes after it. */
    mode_t mode = (st.st_mode & 07777) | S_ISGID | S_IRGRP | S_IXGRP;
    if ((st.st_mode & 07777) != mode && chmod(out->opt->out, mode) != 0)
        return -errno;
    return 0;
}

/* 0 with *seq for a name outfile_open gives, else -1: a name spelled
 * otherwise is never one the collector writes, so numbering and retention
 * leave it alone. */
static int file_seq_of(const char *name, uint64_t *seq, int *part)
{
    return shlog_file_name_seq(name, seq, part);
}

/* Set once UINT64_MAX is taken: wrapping around to 0 would reuse names. */

/* The next file number, or -EOVERFLOW when none is left. */
static int take_seq(struct output *out, uint64_t *seq)
{
    if (out->seq_spent)
        return -EOVERFLOW;
    *seq = out->next_seq++;
    out->seq_spent = out->next_seq == 0;
    return 0;
}

/* path with its number replaced: "<stem>-<seq>.shlog", the stem (directory,
 * host, date) kept. 0, or -ENAMETOOLONG. */
static int renumbered(char *out, size_t cap, const char *path, uint64_t seq)
{
    const char *dash = strrchr(path, '-');
    if (!dash)
        return -EINVAL;
    size_t n = (size_t)snprintf(out, cap, "%.*s-%06" PRIu64 SHLOG_FILE_SUFFIX, (int)(dash - path), path, seq);
    return n < cap ? 0 : -ENAMETOOLONG;
}

/* rename(2) that never replaces what is at to: -EEXIST if anything is. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -errno;
    /* A file system without RENAME_NOREPLACE: link(2) refuses a taken name too. */
    if (link(from, to) != 0)
        return -errno;
    if (unlink(from) != 0)
        shm_warn(PROG, "cannot remove %s (it is also %s now): %s", from, to, strerror(errno));
    return 0;
}

/* Renames the closed file at from to to, or under the next free number (to
 * is updated) when something already has that name. 0, or -errno. */
static int close_as(struct output *out, const char *from, char *to, size_t cap)
{
    int rc;
    while ((rc = rename_noreplace(from, to)) == -EEXIST) {
        uint64_t seq;
        char next[4400];
        if ((rc = take_seq(out, &seq)) != 0 || (rc = renumbered(next, sizeof(next), to, seq)) != 0)
            return rc;
        shm_warn(PROG, "%s exists: left alone, %s becomes %s", to, from, next);
        snprintf(to, cap, "%s", next);
    }
    return rc;
}

/* Numbers new files after every name present, then renames the .part files a
 * crashed run left (their whole frames are valid); exits 2, renaming nothing,
 * when a file has the last number, since wrapping around would reuse names. */
void recover_out_dir(struct output *out)
{
    DIR *d = opendir(out->opt->out);
    if (!d)
        return;
    struct dirent *de;
    int any = 0;
    uint64_t top = 0;
    char top_name[256] = "";
    while ((de = readdir(d))) {
        int part;
        uint64_t seq;
        if (file_seq_of(de->d_name, &seq, &part) == 0 && (!any || seq > top)) {
            any = 1;
            top = seq;
            snprintf(top_name, sizeof(top_name), "%s", de->d_name);
        }
    }
    if (any && top == UINT64_MAX) {
        fprintf(stderr, PROG ": --out %s: %s has the last file number, %" PRIu64 ": none is left for a new file "
                "(move the files elsewhere)\n", out->opt->out, top_name, top);
        exit(2);
    }
    out->next_seq = any ? top + 1 : 0;
    /* A second pass: a .part renamed because its name is taken gets a number
     * above every file, so all of them must have been seen. */
    rewinddir(d);
    while ((de = readdir(d))) {
        int part;
        uint64_t seq;
        if (file_seq_of(de->d_name, &seq, &part) != 0 || !part)
            continue;
        char from[4400], to[4400];
        snprintf(from, sizeof(from), "%s/%s", out->opt->out, de->d_name);
        struct stat st;
        /* Only regular files: a symlink planted under a .part name is neither
         * followed nor given a .shlog name that readers would follow. */
        if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode) || shlog_part_in_use(from))
            continue;
        if (st.st_size < SHLOG_FILE_HEADER_BYTES) {
            /* Killed between creating it and writing its header: frames are
             * written only after the header, so it holds nothing. */
            if (unlink(from) == 0)
                shm_warn(PROG, "removed %s: an earlier run left it without a header (nothing in it)", from);
            continue;
        }
        snprintf(to, sizeof(to), "%s", from);
        to[strlen(to) - strlen(SHLOG_PART_SUFFIX)] = '\0';
        int rc = close_as(out, from, to, sizeof(to));
        if (rc == 0)
            shm_warn(PROG, "recovered %s from an earlier run (its last frame may be torn)", to);
        else
            shm_warn(PROG, "cannot rename %s: %s", from, strerror(-rc));
    }
    closedir(d);
}

struct kept { uint64_t seq; uint64_t bytes; char name[256]; };

static int kept_cmp(const void *a, const void *b)
{
    const struct kept *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* --keep / --max-bytes: deletes the oldest closed files. */
static void apply_retention(struct output *out)
{
    if (!out->opt->keep && !out->opt->max_bytes)
        return;
    DIR *d = opendir(out->opt->out);
    if (!d)
        return;
    struct kept *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int part;
        uint64_t seq;
        struct stat st;
        if (file_seq_of(de->d_name, &seq, &part) != 0 || part || strlen(de->d_name) >= sizeof(v->name) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct kept *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                /* Without every file, the oldest ones are not known: delete none this time. */
                shm_warn(PROG, "retention: out of memory, nothing deleted");
                n = 0;
                break;
            }
            v = nv;
        }
        v[n].seq = seq;
        v[n].bytes = (uint64_t)st.st_size;
        snprintf(v[n].name, sizeof(v[n].name), "%s", de->d_name);
        total += v[n++].bytes;
    }
    if (n)
        qsort(v, n, sizeof(*v), kept_cmp);
    /* --keep yields to the shipper; --max-bytes is the disk's bound and does not. */
    struct shlog_shipped shipped = {.file_seq = UINT64_MAX};
    int rc = out->opt->ship_state ? shlog_shipped_read(out->opt->ship_state, &shipped) : 0;
    if (rc && rc != -ENOENT)
        shm_warn(PROG, "retention: --ship-state %s: %s: every file counts as not shipped", out->opt->ship_state, strerror(-rc));
    if (rc)
        shipped.file_seq = 0;
    for (size_t i = 0; i < n && ((out->opt->keep && n - i > out->opt->keep && shlog_shipped_has(&shipped, v[i].seq)) ||
                                 (out->opt->max_bytes && total > out->opt->max_bytes)); i++) {
        if (unlinkat(dirfd(d), v[i].name, 0) != 0) {
            shm_warn(PROG, "retention: cannot delete %s/%s: %s", out->opt->out, v[i].name, strerror(errno));
        } else if (!shlog_shipped_has(&shipped, v[i].seq)) {
            out->stats.unshipped_removed++;
            shm_warn(PROG, "retention: --max-bytes removed %s/%s before shmlog-ship shipped it (%" PRIu64 " files so far)",
                  out->opt->out, v[i].name, out->stats.unshipped_removed);
        }
        total -= v[i].bytes;
    }
    free(v);
    closedir(d);
}

struct outfile *outfile_new(struct output *out)
{
    struct outfile *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->fd = -1;
    f->gen = ++out->file_gen;
    if (shlog_enc_new(&f->enc, out->opt->zstd_level)) {
        free(f);
        return NULL;
    }
    return f;
}

/* A full disk fails every write and every retry: one line when the trouble
 * starts and one when it ends, not one per frame or per second. Nothing is
 * released meanwhile, so producers drop and count once their rings fill. */
void output_failed(struct output *out, const char *what, const char *path, int err)
{
    if (out->out_error)
        return;
    out->out_error = err;
    out->out_error_since = shm_mono_ns();
    shm_warn(PROG, "%s %s: %s; retrying every %llu ms, the records stay in their rings until written "
          "(producers drop and count when a ring is full)",
          what, path, strerror(err), WRITE_RETRY_NS / 1000000ull);
}

int output_error(struct output *out)
{
    return out->out_error;
}

void output_ok(struct output *out)
{
    if (!out->out_error)
        return;
    shm_warn(PROG, "output works again after %.1f s", (double)(shm_mono_ns() - out->out_error_since) / 1e9);
    out->out_error = 0;
}

/* --group: the file readable by the group (0640) whatever the umask, in the
 * group the directory's set-group-ID bit gave it, or given it now. */
static void share_file(struct output *out, int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_gid != out->opt->out_gid && fchown(fd, (uid_t)-1, out->opt->out_gid) != 0)
        shm_warn(PROG, "--group: %s stays in group %u: %s", path, (unsigned)st.st_gid, strerror(errno));
    if (fchmod(fd, 0640) != 0)
        shm_warn(PROG, "--group: %s stays unreadable by the group: %s", path, strerror(errno));
}

/* Something else has a name the file was to take: it is left alone and the
 * caller takes the next file number. -EEXIST. */
static int name_taken(const char *path)
{
    shm_warn(PROG, "%s exists and is not ours: left alone, taking the next file number", path);
    return -EEXIST;
}

/* Creates the file on disk and writes its header (once, before any frame). */
int outfile_open(struct output *out, struct outfile *f)
{
    /* One clock reading for the name and the header: a mirror names the file from its header. */
    uint64_t created_ns = shm_real_ns();
    time_t now = (time_t)(created_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y%m%d-%H%M%S", &tm);
    if (take_seq(out, &f->seq) != 0) {
        output_failed(out, "no file number is left after 18446744073709551615 in", out->opt->out, EOVERFLOW);
        return -EOVERFLOW;
    }
    snprintf(f->final_path, sizeof(f->final_path), "%s/%s-%s-%06" PRIu64 SHLOG_FILE_SUFFIX, out->opt->out, out->host,
             date, f->seq);
    snprintf(f->part_path, sizeof(f->part_path), "%s" SHLOG_PART_SUFFIX, f->final_path);
    /* A closed file under the name is skipped now; outfile_close still never
     * replaces one that appears meanwhile. */
    struct stat st;
    if (lstat(f->final_path, &st) == 0)
        return name_taken(f->final_path);
    struct shlog_file_header h = {.version = SHLOG_FILE_VERSION, .file_seq = f->seq, .created_ns = created_ns,
                                  .collector_pid = (uint32_t)getpid(), .flags = SHLOG_FILE_SITES_FIRST | SHLOG_FILE_COLLECTOR_HOST};
    snprintf(h.host, sizeof(h.host), "%s", out->host);
    uint8_t hb[SHLOG_FILE_HEADER_BYTES];
    shlog_file_header_encode(hb, &h);
    /* A reader polling the directory would take a .part without its header
     * for a damaged file: the file is made unnamed, its header written, and
     * only then named; where that cannot be done (no O_TMPFILE, no /proc) it
     * is made under its name. */
    for (int in_place = 0;; in_place = 1) {
        /* O_EXCL | O_NOFOLLOW, and linkat's EEXIST: whatever is planted under
         * the name (a symlink to a file elsewhere) is neither followed nor
         * reused; the caller moves on to the next sequence number. */
        f->fd = in_place ? open(f->part_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
                         : open(out->opt->out, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (f->fd < 0 && !in_place)
            continue;
        if (f->fd < 0) {
            int e = errno;
            if (e == EEXIST)
                return name_taken(f->part_path);
            output_failed(out, "cannot create", f->part_path, e);
            out->next_seq = f->seq; /* the number is free again */
            out->seq_spent = 0;
            return -e;
        }
        /* The proof that we write it, for the next start's recovery. */
        int locked = shlog_part_lock(f->fd);
        if (locked != 0)
            shm_warn(PROG, "%s: cannot lock it: %s (a collector started meanwhile would take it for a crashed run's)",
                  f->part_path, strerror(-locked));
        if (out->opt->have_group)
            share_file(out, f->fd, f->part_path);
        errno = 0;
        if (pwrite(f->fd, hb, sizeof(hb), 0) != (ssize_t)sizeof(hb)) {
            int e = errno ? errno : ENOSPC; /* a short write: the disk filled */
            output_failed(out, "cannot write the header of", f->part_path, e);
            close(f->fd);
            if (in_place)
                unlink(f->part_path);
            f->fd = -1;
            out->next_seq = f->seq; /* the number is free again */
            out->seq_spent = 0;
            return -e;
        }
        if (in_place)
            break;
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", f->fd);
        if (linkat(AT_FDCWD, self, AT_FDCWD, f->part_path, AT_SYMLINK_FOLLOW) == 0)
            break;
        int e = errno;
        close(f->fd);
        f->fd = -1;
        if (e == EEXIST)
            return name_taken(f->part_path);
    }
    f->size = sizeof(hb);
    f->opened_ns = shm_mono_ns();
    out->stats.files++;
    return 0;
}

int outfile_removed(const struct outfile *f)
{
    struct stat st;
    return f->fd >= 0 && fstat(f->fd, &st) == 0 && st.st_nlink == 0;
}

void outfile_close(struct output *out, struct outfile *f)
{
    if (f->fd >= 0) {
        if (f->sync_err)
            shm_warn(PROG, "fsync %s: %s", f->part_path, strerror(f->sync_err));
        close(f->fd);
        /* A deleted file has no name left to rename: its loss was said and counted. */
        int rc = f->removed ? 0 : close_as(out, f->part_path, f->final_path, sizeof(f->final_path));
        if (rc != 0)
            shm_warn(PROG, "cannot rename %s: %s (the next start recovers it)", f->part_path, strerror(-rc));
    }
    shlog_enc_free(f->enc);
    free(f->procs);
    free(f);
    apply_retention(out);
}

/* ==== EXITs in flight ====
 * A collector killed after an EXIT reached its file and before the process's
 * segments were removed finds the segments again at its next start, and
 * nothing in them says the EXIT was written. So each EXIT is noted here before
 * its frame is written: the process, and where the frame goes with a hash of
 * its bytes; the next start takes an EXIT whose frame is in its file whole as
 * written. The note is removed whenever no EXIT is in flight. */
#define EXITS_NOTE ".exits-in-flight"
#define EXITS_NOTE_MAX (16u << 20)

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* 1 if out/name (or its .part) holds len bytes at off hashing to hash. */
static int frame_landed(struct output *out, const char *name, uint64_t off, uint64_t len, uint64_t hash)
{
    char path[4400];
    int fd = -1;
    for (int part = 0; part < 2 && fd < 0; part++) {
        snprintf(path, sizeof(path), "%s/%s%s", out->opt->out, name, part ? SHLOG_PART_SUFFIX : "");
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0 || len > SHLOG_MAX_FRAME_RAW * 2ull) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    uint8_t *buf = malloc(len ? len : 1);
    int whole = buf && pread(fd, buf, len, (off_t)off) == (ssize_t)len && fnv1a(buf, len) == hash;
    free(buf);
    close(fd);
    return whole;
}

static void exits_note_read(struct output *out, const char *text)
{
    for (const char *line = text; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
        struct exit_written w;
        char inst[33], name[256];
        uint64_t off, len, hash;
        if (sscanf(line, "%" SCNu32 " %" SCNu64 " %32s %255s %" SCNu64 " %" SCNu64 " %" SCNx64, &w.pid,
                   &w.proc_start, inst, name, &off, &len, &hash) != 7 || strlen(inst) != 32 || strchr(name, '/') ||
            name[0] == '.')
            continue; /* a line cut by the kill: its frame was not written either */
        for (int i = 0; i < 16; i++)
            sscanf(inst + 2 * i, "%2" SCNx8, &w.instance[i]);
        if (!frame_landed(out, name, off, len, hash))
            continue;
        struct exit_written *nv = realloc(out->exits_seen, (out->nexits_seen + 1) * sizeof(*nv));
        if (!nv)
            break;
        out->exits_seen = nv;
        out->exits_seen[out->nexits_seen++] = w;
    }
}

static void exits_note_path(struct output *out, char *path, size_t cap)
{
    snprintf(path, cap, "%s/" EXITS_NOTE, out->opt->out);
}

void exits_note_open(struct output *out)
{
    char path[4400];
    exits_note_path(out, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return; /* the last run stopped with no EXIT in flight */
    struct stat st;
    char *text = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size <= EXITS_NOTE_MAX &&
        (text = malloc((size_t)st.st_size + 1)) && pread(fd, text, (size_t)st.st_size, 0) == st.st_size) {
        text[st.st_size] = '\0';
        exits_note_read(out, text);
    }
    free(text);
    close(fd);
    if (out->nexits_seen)
        shm_warn(PROG, "%zu EXIT(s) the last run wrote before it was stopped are in its files: not written again",
              out->nexits_seen);
    if (unlink(path) != 0)
        shm_warn(PROG, "cannot remove %s: %s", path, strerror(errno));
}

int exit_written_before(struct output *out, const struct shm_proc_info *info)
{
    for (size_t i = 0; i < out->nexits_seen; i++)
        if (out->exits_seen[i].pid == info->pid && out->exits_seen[i].proc_start == info->proc_start &&
            memcmp(out->exits_seen[i].instance, info->instance, sizeof(info->instance)) == 0) {
            out->exits_seen[i] = out->exits_seen[--out->nexits_seen];
            return 1;
        }
    return 0;
}

void exits_note_frame(struct output *out, const struct outfile *file, const uint8_t *buf, size_t len, uint64_t off,
                      struct proc *const *procs, size_t n)
{
    out->exit_frames++;
    char path[4400];
    exits_note_path(out, path, sizeof(path));
    if (out->exits_fd < 0)
        out->exits_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out->exits_fd < 0) {
        shm_warn(PROG, "%s: %s: a restart after a kill now may write a process's EXIT twice", path, strerror(errno));
        return;
    }
    const char *name = strrchr(file->final_path, '/');
    name = name ? name + 1 : file->final_path;
    uint64_t hash = fnv1a(buf, len);
    for (size_t i = 0; i < n; i++) {
        const struct shm_proc_info *info = &procs[i]->info;
        char line[600], inst[33];
        for (int k = 0; k < 16; k++)
            snprintf(inst + 2 * k, 3, "%02x", info->instance[k]);
        int w = snprintf(line, sizeof(line), "%" PRIu32 " %" PRIu64 " %s %s %" PRIu64 " %zu %" PRIx64 "\n", info->pid,
                         info->proc_start, inst, name, off, len, hash);
        if (w > 0 && (size_t)w < sizeof(line) && write(out->exits_fd, line, (size_t)w) != w)
            shm_warn(PROG, "%s: %s: a restart after a kill now may write pid %" PRIu32 "'s EXIT twice", path,
                  strerror(errno), info->pid);
    }
}

void exits_note_done(struct output *out)
{
    if (!out->exit_frames || --out->exit_frames || out->exits_fd < 0)
        return;
    char path[4400];
    exits_note_path(out, path, sizeof(path));
    unlink(path);
    close(out->exits_fd);
    out->exits_fd = -1;
}
