/*
 * dump_files.c - shmlog-dump's commands on collector files: read, stats,
 * follow and verify.
 *
 * Inputs are grouped into sources: the files of one host, in sequence order,
 * read one after the other with one dedup state (collector/FORMAT.md,
 * "Duplicates"). Each source decodes one frame at a time.
 *
 * read merges records in time order with bounded memory. Every ring is a
 * stream (a FIFO of decoded records, in ring order); a heap orders the
 * streams by the time of their first record. Ring order is kept: a writer
 * preempted between taking its time and reserving its slot has an older time
 * than the record before it in its ring, and comes right after that one. The smallest record may be
 * written once no stream that is empty could still bring an earlier one:
 *
 *   stream empty, its source not at its end, the ring still logging
 *     -> its next record is no earlier than its last one (ring order), so
 *        records up to that time may go; later ones wait for a frame more
 *   the ring had no record for QUIET frames of its source
 *     -> the collector found it empty on a later pass: what it logs next is
 *        newer than what those frames hold; it no longer holds others back
 *
 * A ring the merge has not seen yet can still come: the collector finds a
 * new segment within a rescan (1 s), so a ring's first records may follow
 * newer records of others in the file. A record also waits until the inputs
 * reached MERGE_WINDOW_NS past it.
 *
 * Records wait in the FIFOs while a source decodes further. If they ever
 * exceed MERGE_BUFFER_MAX, the smallest goes out anyway (order is then best
 * effort; memory stays bounded), also in the middle of a frame.
 *
 * Memory does not grow with the number of files, hosts or frames: a source
 * waits between frames, where its reader needs none of the last one; every
 * reader decodes in one shared frame memory (at most SHLOG_MAX_FRAME_RAW
 * decompressed), and what readers keep of their own while they wait stays
 * within PARKED_FRAMES_MAX. Besides: MERGE_BUFFER_MAX of FIFO chunks and
 * FREE_CHUNKS_MAX spare ones, and what the files define (processes, sites:
 * SITE_STRINGS_MAX, PREPARED_MAX and the readers' own bounds per file).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "shlog_file.h"

#define MERGE_BUFFER_MAX (64u << 20) /* bytes of the FIFOs' chunks, where records wait */
#define MERGE_WINDOW_NS 1200000000u   /* the collector's rescan period and a frame's age, with margin */
#define CHUNK_MAP_BYTES (2u << 20)     /* the largest chunk: one 2 MiB (huge) page */
#define CHUNK_FIRST_BYTES (16u << 10)  /* a stream's first chunk: what a ring that waits holds */
#define FREE_CHUNKS_MAX 4u             /* 2 MiB chunks kept for reuse */
#define SITE_STRINGS_MAX (512u << 20) /* call-site text kept over all inputs */
#define PREPARED_MAX (256u << 20)     /* prepared renderers kept; beyond, all are dropped and redone */
#define PARKED_FRAMES_MAX (32u << 20) /* frame memory kept by readers that wait, over all sources */
#define SITE_PTR_CACHE 256u
#define TOP_SITES 20
#define FOLLOW_POLL_NS 100000000u

/* ==== Small hash map: (k1, k2) -> pointer ==== */

struct hmap_slot {
    uint64_t k1, k2;
    void *v; /* NULL: free */
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap, n;
};

static size_t hmap_hash(uint64_t k1, uint64_t k2)
{
    uint64_t h = (k1 ^ (k2 * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
    return (size_t)(h ^ (h >> 31));
}

static void *hmap_get(const struct hmap *m, uint64_t k1, uint64_t k2)
{
    if (!m->cap)
        return NULL;
    for (size_t i = hmap_hash(k1, k2) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const struct hmap_slot *s = &m->slots[i];
        if (!s->v)
            return NULL;
        if (s->k1 == k1 && s->k2 == k2)
            return s->v;
    }
}

/* 0, or -ENOMEM. v must not be NULL; an existing key is replaced. */
static int hmap_put(struct hmap *m, uint64_t k1, uint64_t k2, void *v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct hmap_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (size_t j = 0; j < m->cap; j++) {
            struct hmap_slot *s = &m->slots[j];
            if (!s->v)
                continue;
            size_t i = hmap_hash(s->k1, s->k2) & (cap - 1);
            while (slots[i].v)
                i = (i + 1) & (cap - 1);
            slots[i] = *s;
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t i = hmap_hash(k1, k2) & (m->cap - 1);
    while (m->slots[i].v && !(m->slots[i].k1 == k1 && m->slots[i].k2 == k2))
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].v)
        m->n++;
    m->slots[i] = (struct hmap_slot){k1, k2, v};
    return 0;
}

static void hmap_clear(struct hmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ==== What the inputs define ==== */

struct source;

/* A process, as (pid, proc_start) within one source. */
struct dproc {
    struct shmlog_proc_info info;
    struct shmlog_tsc_clock clock;
    int passes;            /* --pid / --app */
    struct shmlog_site_render *unknown; /* renders records of sites the file did not define */
    struct hmap rings;     /* cpu -> dring */
    struct hmap sites;     /* id -> dsite */
    struct dproc *next_all;
};

/* A FIFO of entries in chunks, each twice the one before up to 2 MiB: a
 * stream that holds a few entries costs 16 KiB, not a huge page. */
struct chunk {
    struct chunk *next;
    size_t head, tail; /* bytes consumed, bytes written */
    size_t bytes;      /* of the allocation, header included */
    unsigned char data[];
};

struct fifo {
    struct chunk *first, *last;
    uint64_t count;
};

/* One ring of one process: a stream of the merge. */
struct dring {
    struct fifo q;        /* first: the heap holds &q */
    struct dproc *proc;
    struct source *src;
    uint32_t cpu;
    uint64_t last_ts;     /* time of the last record decoded */
    int has_last;
    uint64_t last_frame;  /* its source's frame count at that record */
    int finished;         /* its process exited: nothing more comes */
    int heap_index;       /* -1: not in the heap */
    /* verify */
    uint64_t expected;    /* the next ring position */
    int has_expected;
    struct dring *next_all;
};

/* A call site of a process; the prepared renderer is made on first use. */
struct dsite {
    struct dproc *proc;
    uint32_t id, line;
    uint8_t level, category, nargs;
    uint8_t arg_types[SHMLOG_MAX_ARGS];
    char *fmt, *file;      /* NULL when over SITE_STRINGS_MAX: shown as unknown */
    struct shmlog_site_render *sr;
    uint64_t records;      /* stats */
    struct dsite *next_all;
};

struct in_file {
    char path[4096];
    char host[SHMLOG_HOST_BYTES + 1];
    uint64_t seq;
    uint64_t bytes;
    int part;          /* a .shlog.part */
    int writer_alive;  /* a .part whose collector runs: it is still being written */
    int bad_header;
    char error[256];
    /* verify */
    uint64_t records, gaps, gap_positions, errors, frames, torn;
};

struct source {
    struct in_file *files;
    size_t nfiles, next;
    struct in_file *cur_file;
    struct shlog_reader *rd;
    struct shlog_dedup *dedup;
    int done;
    uint64_t frames;        /* frames begun */
    uint64_t frame_off;     /* offset of the frame being decoded */
    uint64_t max_ts;        /* latest record time decoded */
    struct hmap procs;      /* (pid, proc_start) -> dproc */
    struct hmap by_ptr;     /* the reader's shlog_proc pointer -> dproc (this file) */
    const struct shlog_proc *last_ptr;
    struct dring *last_ring;
    struct dproc *last_proc;
    const void *site_ptr[SITE_PTR_CACHE]; /* the reader's shlog_site pointer ... */
    struct dsite *site_of[SITE_PTR_CACHE]; /* ... -> dsite (this file) */
    size_t nrings;          /* rings it has records of */
    uint64_t skip_below;    /* follow: frames before this offset were there at start */
    size_t parked;          /* bytes its reader keeps for frames while it waits */
    struct shmlog_clock_map clock; /* the host's anchors, over its files in order */
    int file_anchored;      /* the current file gave an anchor: its records map with them */
};

enum mode { MODE_READ, MODE_STATS, MODE_VERIFY, MODE_FOLLOW };

/* The file command running (one per process): its inputs, the merge of
 * their streams, what it has written, and the counts stats reports. */
static struct {
    enum mode mode;
    const struct cli *cli;
    int status;              /* exit status so far */
    uint64_t shown;          /* records written */
    int stop;                /* --limit reached */
    uint64_t buffered;       /* bytes of the FIFOs' chunks */
    struct source *srcs;     /* read: the merge's inputs, one source per host */
    size_t nsrc;
    size_t parked;           /* bytes readers keep for frames while their sources wait */
    struct shlog_frame_mem *frame_mem; /* what every reader decodes in: one frame at a time */
    uint64_t frontier;       /* latest record time decoded from any input */
    uint64_t site_bytes, prepared_bytes;
    struct chunk *free_chunks; /* of CHUNK_MAP_BYTES */
    unsigned nfree_chunks;
    struct dproc *all_procs;
    struct dring *all_rings;
    struct dsite *all_sites;
    /* the heap of streams: the FIFOs of the rings (struct dring) */
    struct fifo **heap;
    size_t nheap, heap_cap;
    /* stats */
    uint64_t levels[8], categories[8], records, lost[8], duplicates, frames, bad_frames, torn;
    uint64_t first_ns, last_ns, file_bytes, nfiles;
    struct hmap apps; /* app name hash -> app_count */
    struct clock_stats {
        uint64_t anchors, steps, process_calibrated; /* process_calibrated: records mapped without anchors */
        uint32_t max_err_ns;
        struct shlog_clock_info last; /* the state the newest section gave */
        uint64_t max_esterror_ns;
        uint64_t unsynchronized;      /* anchors taken while the kernel said its clock was not */
    } clock;
} file_cmd;

static void note_error(const char *msg)
{
    out_push();
    fprintf(stderr, "%s: %s\n", dump_prog, msg);
}

/* ==== FIFO entries ==== */

enum entry_kind { ENTRY_RECORD = 1, ENTRY_LOSS = 2, ENTRY_EXIT = 3 };

/* Kept small: the merge window holds many. */
struct entry {
    uint64_t ts_ns;
    struct dproc *proc;
    struct dsite *site;   /* RECORD; NULL: a site the file did not define */
    uint16_t bytes;       /* the whole entry, 8-aligned */
    uint8_t kind;
    uint32_t cpu;
    /* RECORD: the head of a struct shmlog_rec, payload_len bytes of payload.
     * LOSS: struct shmlog_loss. EXIT: struct entry_exit. */
};

struct entry_exit {
    uint64_t records, lost;
    unsigned how; /* enum shlog_exit_how */
};

#define REC_HEAD offsetof(struct shmlog_rec, payload)

/* A chunk of bytes (header included). The 2 MiB ones are mappings asking
 * for a huge page: a first touch of fresh memory costs a page fault (dear on
 * VMs), one per 2 MiB instead of one per 4 KiB; a few are kept for reuse. */
static struct chunk *chunk_new(size_t bytes)
{
    struct chunk *c = NULL;
    if (bytes < CHUNK_MAP_BYTES) {
        c = malloc(bytes);
    } else if (file_cmd.free_chunks) {
        c = file_cmd.free_chunks;
        file_cmd.free_chunks = c->next;
        file_cmd.nfree_chunks--;
    } else {
        void *m = mmap(NULL, CHUNK_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        madvise(m, CHUNK_MAP_BYTES, MADV_HUGEPAGE);
        c = m;
    }
    if (!c)
        return NULL;
    c->next = NULL;
    c->head = c->tail = 0;
    c->bytes = bytes;
    file_cmd.buffered += bytes;
    return c;
}

static void chunk_free(struct chunk *c)
{
    file_cmd.buffered -= c->bytes;
    if (c->bytes < CHUNK_MAP_BYTES) {
        free(c);
    } else if (file_cmd.nfree_chunks < FREE_CHUNKS_MAX) {
        c->next = file_cmd.free_chunks;
        file_cmd.free_chunks = c;
        file_cmd.nfree_chunks++;
    } else {
        munmap(c, CHUNK_MAP_BYTES);
    }
}

/* Room for an entry of bytes at the FIFO's end, or NULL (out of memory). */
static struct entry *fifo_push(struct fifo *q, size_t bytes)
{
    bytes = (bytes + 7) & ~(size_t)7; /* < 1 KiB: a record head and its payload at most */
    struct chunk *last = q->last;
    if (!last || last->bytes - sizeof(*last) - last->tail < bytes) {
        size_t size = last ? 2 * last->bytes : CHUNK_FIRST_BYTES;
        struct chunk *c = chunk_new(size < CHUNK_MAP_BYTES ? size : CHUNK_MAP_BYTES);
        if (!c)
            return NULL;
        if (last)
            last->next = c;
        else
            q->first = c;
        q->last = c;
    }
    struct entry *e = (struct entry *)(q->last->data + q->last->tail);
    q->last->tail += bytes;
    e->bytes = (uint16_t)bytes;
    q->count++;
    return e;
}

static struct entry *fifo_front(const struct fifo *q)
{
    return q->count ? (struct entry *)(q->first->data + q->first->head) : NULL;
}

static void fifo_pop(struct fifo *q)
{
    struct chunk *c = q->first;
    struct entry *e = (struct entry *)(c->data + c->head);
    c->head += e->bytes;
    q->count--;
    if (c->head == c->tail) {
        /* Emptied: a stream that waits holds no chunk. */
        q->first = c->next;
        if (!q->first)
            q->last = NULL;
        chunk_free(c);
    }
}

/* ==== Heap of streams by the time of their first entry ==== */

static int *stream_heap_index(struct fifo *q);

/* The heap holds streams: each is the FIFO at the start of a dring. */
static uint64_t stream_ts(struct fifo *q)
{
    return fifo_front(q)->ts_ns;
}

static void heap_swap(size_t a, size_t b)
{
    struct fifo *t = file_cmd.heap[a];
    file_cmd.heap[a] = file_cmd.heap[b];
    file_cmd.heap[b] = t;
    *stream_heap_index(file_cmd.heap[a]) = (int)a;
    *stream_heap_index(file_cmd.heap[b]) = (int)b;
}

static void heap_up(size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (stream_ts(file_cmd.heap[p]) <= stream_ts(file_cmd.heap[i]))
            return;
        heap_swap(i, p);
        i = p;
    }
}

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < file_cmd.nheap && stream_ts(file_cmd.heap[l]) < stream_ts(file_cmd.heap[m]))
            m = l;
        if (r < file_cmd.nheap && stream_ts(file_cmd.heap[r]) < stream_ts(file_cmd.heap[m]))
            m = r;
        if (m == i)
            return;
        heap_swap(i, m);
        i = m;
    }
}

/* A stream got its first entry. */
static int heap_add(struct fifo *q)
{
    if (file_cmd.nheap == file_cmd.heap_cap) {
        size_t cap = file_cmd.heap_cap ? file_cmd.heap_cap * 2 : 64;
        struct fifo **h = realloc(file_cmd.heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        file_cmd.heap = h;
        file_cmd.heap_cap = cap;
    }
    file_cmd.heap[file_cmd.nheap] = q;
    *stream_heap_index(q) = (int)file_cmd.nheap;
    file_cmd.nheap++;
    heap_up(file_cmd.nheap - 1);
    return 0;
}

/* The top stream's first entry was taken. */
static void heap_top_popped(void)
{
    struct fifo *q = file_cmd.heap[0];
    if (q->count) {
        heap_down(0);
        return;
    }
    *stream_heap_index(q) = -1;
    file_cmd.nheap--;
    if (file_cmd.nheap) {
        file_cmd.heap[0] = file_cmd.heap[file_cmd.nheap];
        *stream_heap_index(file_cmd.heap[0]) = 0;
        heap_down(0);
    }
}

static int *stream_heap_index(struct fifo *q)
{
    return &((struct dring *)q)->heap_index;
}

/* ==== Inputs ==== */

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

/* The sequence number in "<host>-<date>-<seq>.shlog[.part]": the digits
 * before the suffix. */
static int name_seq(const char *name, uint64_t *seq)
{
    const char *dot = strstr(name, SHLOG_FILE_SUFFIX);
    if (!dot)
        return -1;
    const char *p = dot;
    while (p > name && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == dot || p == name || p[-1] != '-')
        return -1;
    *seq = strtoull(p, NULL, 10);
    return 0;
}

int find_open_part(const char *dir, uint64_t min_seq, char *path, size_t cap, uint64_t *seq)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t s;
        if (!has_suffix(de->d_name, SHLOG_FILE_SUFFIX SHLOG_PART_SUFFIX) || name_seq(de->d_name, &s) != 0)
            continue;
        if (s < min_seq || (found && s <= *seq))
            continue;
        if ((size_t)snprintf(path, cap, "%s/%s", dir, de->d_name) >= cap)
            continue;
        *seq = s;
        found = 1;
    }
    closedir(d);
    return found ? 0 : -ENOENT;
}

struct in_list {
    struct in_file *v;
    size_t n, cap;
};

static int add_input(struct in_list *l, const char *path, int from_dir)
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
    } else {
        snprintf(f->host, sizeof f->host, "%s", h.host);
        f->seq = h.file_seq;
        f->writer_alive = f->part && h.collector_pid &&
                          (kill((pid_t)h.collector_pid, 0) == 0 || errno == EPERM);
        if (f->part && from_dir && file_cmd.mode != MODE_VERIFY) {
            char note[4096 + 128];
            snprintf(note, sizeof note, "note: %s is %s; reading the frames it has", path,
                     f->writer_alive ? "still being written" : "left open by a collector that is gone");
            note_error(note);
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

/* The files named: files as given, directories as their .shlog and .shlog.part
 * files. Sorted by host then sequence number. */
static int collect_inputs(const struct cli *cli, struct in_list *l)
{
    if (cli->npositional == 0) {
        fprintf(stderr, "%s: %s: no file or directory given (see '%s --help')\n", dump_prog, cli->command,
                dump_prog);
        exit(EXIT_USAGE);
    }
    for (int i = 0; i < cli->npositional; i++) {
        const char *arg = cli->positional[i];
        struct stat st;
        if (stat(arg, &st) != 0) {
            fprintf(stderr, "%s: %s: %s\n", dump_prog, arg, strerror(errno));
            file_cmd.status = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (add_input(l, arg, 0) != 0)
                return -ENOMEM;
            continue;
        }
        DIR *d = opendir(arg);
        if (!d) {
            fprintf(stderr, "%s: %s: %s\n", dump_prog, arg, strerror(errno));
            file_cmd.status = 1;
            continue;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.' || !(has_suffix(de->d_name, SHLOG_FILE_SUFFIX) ||
                                          has_suffix(de->d_name, SHLOG_FILE_SUFFIX SHLOG_PART_SUFFIX)))
                continue;
            char path[4096];
            if ((size_t)snprintf(path, sizeof path, "%s/%s", arg, de->d_name) >= sizeof path)
                continue;
            if (add_input(l, path, 1) != 0) {
                closedir(d);
                return -ENOMEM;
            }
        }
        closedir(d);
    }
    if (l->n)
        qsort(l->v, l->n, sizeof l->v[0], in_file_cmp);
    return 0;
}

/* ==== Identities: processes, rings, sites ==== */

static struct dproc *proc_of(struct source *s, const struct shlog_proc *p)
{
    if (p == s->last_ptr)
        return s->last_proc;
    struct dproc *d = hmap_get(&s->by_ptr, (uintptr_t)p, 0);
    if (!d) {
        d = hmap_get(&s->procs, p->info.pid, p->info.proc_start);
        if (!d) {
            d = calloc(1, sizeof *d);
            if (!d || hmap_put(&s->procs, p->info.pid, p->info.proc_start, d) != 0) {
                free(d);
                return NULL;
            }
            d->next_all = file_cmd.all_procs;
            file_cmd.all_procs = d;
        }
        if (hmap_put(&s->by_ptr, (uintptr_t)p, 0, d) != 0)
            return NULL;
        /* The latest definition: the same process in every file. */
        d->info = p->info;
        shmlog_tsc_clock_init(&d->clock, &d->info);
        d->passes = filter_process(&file_cmd.cli->filter, d->info.app, d->info.pid);
    }
    s->last_ptr = p;
    s->last_proc = d;
    return d;
}

static struct dring *ring_of(struct source *s, struct dproc *p, uint32_t cpu)
{
    /* A batch is records of one ring: the last one is the likely one. */
    struct dring *r = s->last_ring;
    if (r && r->proc == p && r->cpu == cpu)
        return r;
    r = hmap_get(&p->rings, cpu, 0);
    if (r) {
        s->last_ring = r;
        return r;
    }
    r = calloc(1, sizeof *r);
    if (!r || hmap_put(&p->rings, cpu, 0, r) != 0) {
        free(r);
        return NULL;
    }
    r->proc = p;
    r->src = s;
    r->cpu = cpu;
    r->heap_index = -1;
    s->nrings++;
    r->next_all = file_cmd.all_rings;
    file_cmd.all_rings = r;
    return r;
}

static char *copy_string(const char *s, size_t n)
{
    if (file_cmd.site_bytes + n + 1 > SITE_STRINGS_MAX)
        return NULL;
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
        file_cmd.site_bytes += n + 1;
    }
    return c;
}

static struct dsite *site_of(struct source *s, struct dproc *p, const struct shlog_site *site)
{
    unsigned slot = (unsigned)(((uintptr_t)site >> 4) % SITE_PTR_CACHE);
    if (s->site_ptr[slot] == site)
        return s->site_of[slot];
    struct dsite *d = hmap_get(&p->sites, site->id, 0);
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d || hmap_put(&p->sites, site->id, 0, d) != 0) {
            free(d);
            return NULL;
        }
        d->proc = p;
        d->id = site->id;
        d->next_all = file_cmd.all_sites;
        file_cmd.all_sites = d;
    }
    if (!d->fmt) {
        d->line = site->line;
        d->level = site->level;
        d->category = site->category;
        d->nargs = site->nargs;
        memcpy(d->arg_types, site->arg_types, sizeof d->arg_types);
        d->fmt = copy_string(site->fmt, site->fmt_len);
        d->file = copy_string(site->file, site->file_len);
        if (!d->fmt || !d->file) {
            free(d->fmt);
            free(d->file);
            d->fmt = d->file = NULL;
        }
    }
    s->site_ptr[slot] = site;
    s->site_of[slot] = d;
    return d;
}

/* The renderer of records of site d (NULL: of an unknown site of proc). */
static const struct shmlog_site_render *prepared(struct dsite *d, struct dproc *proc)
{
    static struct shmlog_site_info info;
    int known = d && d->fmt;
    struct shmlog_site_render **slot = known ? &d->sr : &proc->unknown;
    if (*slot)
        return *slot;
    if (file_cmd.prepared_bytes > PREPARED_MAX) {
        /* Hostile numbers of sites: start over rather than grow. */
        for (struct dsite *x = file_cmd.all_sites; x; x = x->next_all) {
            shmlog_site_render_free(x->sr);
            x->sr = NULL;
        }
        for (struct dproc *x = file_cmd.all_procs; x; x = x->next_all) {
            shmlog_site_render_free(x->unknown);
            x->unknown = NULL;
        }
        file_cmd.prepared_bytes = 0;
    }
    if (known) {
        memset(&info, 0, offsetof(struct shmlog_site_info, fmt));
        info.id = d->id;
        info.line = d->line;
        info.level = d->level;
        info.category = d->category;
        info.nargs = d->nargs;
        memcpy(info.arg_types, d->arg_types, sizeof info.arg_types);
        snprintf(info.fmt, sizeof info.fmt, "%s", d->fmt);
        snprintf(info.file, sizeof info.file, "%s", d->file);
        info.fmt_len = (uint32_t)strlen(info.fmt);
        info.file_len = (uint32_t)strlen(info.file);
    }
    *slot = shmlog_site_render_new(known ? &info : NULL, proc->info.app, proc->info.host, proc->info.pid);
    if (*slot)
        file_cmd.prepared_bytes += shmlog_site_render_bytes(*slot);
    return *slot;
}

/* ==== Sources ==== */

static int source_open_next(struct source *s)
{
    char err[512];
    while (s->next < s->nfiles) {
        struct in_file *f = &s->files[s->next++];
        s->cur_file = f;
        s->file_anchored = 0;
        if (f->bad_header) {
            char msg[4096 + 300];
            snprintf(msg, sizeof msg, "%s: %s", f->path, f->error);
            note_error(msg);
            f->errors++;
            file_cmd.status = 1;
            continue;
        }
        if (shlog_reader_open(&s->rd, f->path, file_cmd.mode == MODE_FOLLOW, s->dedup, err, sizeof err) != 0) {
            note_error(err);
            f->errors++;
            file_cmd.status = 1;
            continue;
        }
        /* source_step stops between frames, where the reader holds nothing
         * it still needs. */
        shlog_reader_report_frame_ends(s->rd, 1);
        if (file_cmd.frame_mem)
            shlog_reader_share_frame_mem(s->rd, file_cmd.frame_mem);
        /* The reader's process and site pointers are its own, and its frame
         * offsets start over. */
        s->frame_off = UINT64_MAX;
        hmap_clear(&s->by_ptr);
        s->last_ptr = NULL;
        memset(s->site_ptr, 0, sizeof s->site_ptr);
        return 1;
    }
    return 0;
}

/* The source waits while others decode (read merges them): its reader
 * keeps the last frame's memory only within PARKED_FRAMES_MAX over all of
 * them, so a merge of any number of files holds one decoded frame and
 * budgets the rest. */
static void source_park(struct source *s)
{
    if (!s->rd || file_cmd.nsrc < 2)
        return;
    size_t room = file_cmd.parked < PARKED_FRAMES_MAX ? PARKED_FRAMES_MAX - file_cmd.parked : 0;
    s->parked = shlog_reader_trim(s->rd, room);
    file_cmd.parked += s->parked;
}

static void source_unpark(struct source *s)
{
    file_cmd.parked -= s->parked;
    s->parked = 0;
}

static void source_close_file(struct source *s)
{
    source_unpark(s);
    if (!s->rd)
        return;
    const struct shlog_reader_stats *st = shlog_reader_stats(s->rd);
    file_cmd.frames += st->frames;
    file_cmd.bad_frames += st->bad_frames;
    file_cmd.torn += st->torn;
    file_cmd.duplicates += st->duplicates;
    s->cur_file->frames = st->frames;
    shlog_reader_close(s->rd);
    s->rd = NULL;
    hmap_clear(&s->by_ptr);
    s->last_ptr = NULL;
    memset(s->site_ptr, 0, sizeof s->site_ptr);
}

/* ==== Events ==== */

static void handle_error(struct source *s, const struct shlog_event *ev)
{
    struct in_file *f = s->cur_file;
    if (ev->torn && f->writer_alive) {
        /* The collector is writing the frame right now. */
        if (file_cmd.mode != MODE_VERIFY) {
            char msg[400];
            snprintf(msg, sizeof msg, "note: %s", ev->error);
            note_error(msg);
            return;
        }
    }
    f->errors++;
    f->torn |= (uint64_t)ev->torn;
    file_cmd.status = 1;
    char msg[400];
    snprintf(msg, sizeof msg, "%s%s", ev->error, ev->torn ? "" : " (reading goes on)");
    note_error(msg);
}

/* verify: ring positions follow each other, but for PAD slots at the end
 * of the ring (the next record then starts the ring over) and losses. */
static void verify_position(struct source *s, struct dring *r, uint64_t pos, uint64_t next)
{
    if (r->has_expected && pos != r->expected) {
        int pad = pos > r->expected && pos - r->expected < SHMLOG_MAX_SLOTS && pos % SHMLOG_RING_MIN_RECORDS == 0;
        if (!pad) {
            struct in_file *f = s->cur_file;
            f->gaps++;
            f->gap_positions += pos > r->expected ? pos - r->expected : 0;
            char msg[4096 + 300];
            snprintf(msg, sizeof msg,
                     "%s: %s[%u] cpu%u: ring positions %llu..%llu are missing and no loss marker explains them",
                     f->path, r->proc->info.app, r->proc->info.pid, r->cpu, (unsigned long long)r->expected,
                     (unsigned long long)pos - 1);
            if (pos < r->expected)
                snprintf(msg, sizeof msg, "%s: %s[%u] cpu%u: ring position %llu after %llu (out of order)",
                         f->path, r->proc->info.app, r->proc->info.pid, r->cpu, (unsigned long long)pos,
                         (unsigned long long)r->expected);
            note_error(msg);
        }
    }
    r->expected = next;
    r->has_expected = 1;
}

struct app_count {
    char name[SHMLOG_APP_BYTES];
    uint64_t n;
};

static void count_app(const char *app, uint64_t n)
{
    /* FNV-1a of the name; the name itself is kept with its count. */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = app; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    struct app_count *a = hmap_get(&file_cmd.apps, h, 0);
    if (!a) {
        if (file_cmd.apps.n >= 65536 || !(a = calloc(1, sizeof *a)) || hmap_put(&file_cmd.apps, h, 0, a) != 0) {
            free(a);
            return;
        }
        snprintf(a->name, sizeof a->name, "%s", app);
    }
    a->n += n;
}

static void oom(void)
{
    out_push();
    fprintf(stderr, "%s: out of memory\n", dump_prog);
    exit(1);
}

/* Appends an entry (its header, then len bytes of body) to ring r's stream,
 * and puts the stream in the merge heap if it was not. */
static void queue_entry(struct dring *r, enum entry_kind kind, uint64_t ts, uint32_t cpu, struct dsite *site,
                        struct dproc *p, const void *body, size_t len)
{
    struct entry *e = fifo_push(&r->q, sizeof(struct entry) + len);
    if (!e)
        oom();
    e->ts_ns = ts;
    e->kind = (uint8_t)kind;
    e->cpu = cpu;
    e->site = site;
    e->proc = p;
    memcpy(e + 1, body, len);
    if (r->heap_index < 0 && heap_add(&r->q) != 0)
        oom();
}

static void take_record(struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(s, ev->proc);
    if (!p)
        oom();
    struct dring *r = ring_of(s, p, ev->cpu);
    if (!r)
        oom();
    const struct shmlog_rec *rec = ev->rec;
    uint64_t ts;
    if (s->file_anchored) {
        ts = shmlog_clock_map_ns(&s->clock, rec->tsc);
    } else {
        ts = shmlog_tsc_clock_ns(&p->clock, rec->tsc);
        file_cmd.clock.process_calibrated++;
    }
    r->last_ts = ts;
    r->has_last = 1;
    r->last_frame = s->frames;
    r->finished = 0;
    if (ts > s->max_ts)
        s->max_ts = ts;
    if (ts > file_cmd.frontier)
        file_cmd.frontier = ts;
    if (file_cmd.mode == MODE_VERIFY) {
        s->cur_file->records++;
        verify_position(s, r, rec->pos, rec->pos + rec->nslots);
        return;
    }
    if (ev->offset < s->skip_below)
        return;
    if (!p->passes || !filter_record(&file_cmd.cli->filter, rec->level, rec->category, ts))
        return;
    struct dsite *d = ev->site ? site_of(s, p, ev->site) : NULL;
    if (ev->site && !d)
        oom();
    if (file_cmd.cli->filter.has_grep) {
        const struct shmlog_site_render *sr = prepared(d, p);
        if (!sr)
            oom();
        if (!filter_grep(&file_cmd.cli->filter, sr, rec))
            return;
    }
    if (file_cmd.mode == MODE_STATS) {
        file_cmd.records++;
        file_cmd.levels[rec->level & 7]++;
        file_cmd.categories[rec->category & 7]++;
        if (d)
            d->records++;
        if (!file_cmd.first_ns || ts < file_cmd.first_ns)
            file_cmd.first_ns = ts;
        if (ts > file_cmd.last_ns)
            file_cmd.last_ns = ts;
        return;
    }
    queue_entry(r, ENTRY_RECORD, ts, ev->cpu, d && d->fmt ? d : NULL, p, rec, REC_HEAD + rec->payload_len);
}

static void take_loss(struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(s, ev->proc);
    if (!p)
        oom();
    struct dring *r = ring_of(s, p, ev->cpu);
    if (!r)
        oom();
    if (file_cmd.mode == MODE_VERIFY) {
        if (ev->loss.positions)
            verify_position(s, r, ev->loss.first_pos, ev->loss.first_pos + ev->loss.positions);
        return;
    }
    if (ev->offset < s->skip_below || !p->passes)
        return;
    uint64_t ts = r->has_last ? r->last_ts : s->max_ts;
    const struct dump_filter *f = &file_cmd.cli->filter;
    if (ts < f->since_ns || ts >= f->until_ns)
        return;
    if (file_cmd.mode == MODE_STATS) {
        file_cmd.lost[ev->loss.reason & 7] += ev->loss.records;
        return;
    }
    queue_entry(r, ENTRY_LOSS, ts, ev->cpu, NULL, p, &ev->loss, sizeof ev->loss);
}

static void take_exit(struct source *s, const struct shlog_event *ev)
{
    struct dproc *p = proc_of(s, ev->proc);
    if (!p)
        oom();
    for (size_t i = 0; i < p->rings.cap; i++)
        if (p->rings.slots[i].v)
            ((struct dring *)p->rings.slots[i].v)->finished = 1;
    if (file_cmd.mode == MODE_VERIFY || file_cmd.mode == MODE_STATS || ev->offset < s->skip_below || !p->passes)
        return;
    const struct dump_filter *f = &file_cmd.cli->filter;
    if (ev->exit_ns < f->since_ns || ev->exit_ns >= f->until_ns)
        return;
    /* An exit marker is merged like a record: it goes into the stream of
     * one of the process's rings (after its records: the collector writes it
     * once they are drained), or of a stream of its own. */
    struct dring *r = NULL;
    for (size_t i = 0; i < p->rings.cap && !r; i++)
        r = p->rings.slots[i].v;
    if (!r && !(r = ring_of(s, p, UINT32_MAX)))
        oom();
    struct entry_exit x = {ev->exit_records, ev->exit_lost, ev->exit_how};
    queue_entry(r, ENTRY_EXIT, ev->exit_ns > r->last_ts ? ev->exit_ns : r->last_ts, r->cpu, NULL, p, &x, sizeof x);
}

static void take_anchor(struct source *s, const struct shlog_event *ev)
{
    struct clock_stats *c = &file_cmd.clock;
    uint64_t anchors = s->clock.anchors;
    shmlog_clock_map_add(&s->clock, &ev->anchor, ev->clock.hz_q16);
    s->file_anchored = shmlog_clock_map_ready(&s->clock);
    if (s->clock.anchors == anchors)
        return; /* one it had */
    c->anchors++;
    c->steps += (ev->anchor.flags & SHMLOG_ANCHOR_STEPPED) != 0;
    if (ev->anchor.err_ns > c->max_err_ns)
        c->max_err_ns = ev->anchor.err_ns;
    if (ev->clock.esterror_ns > c->max_esterror_ns)
        c->max_esterror_ns = ev->clock.esterror_ns;
    c->unsynchronized += ev->clock.synchronized == SHLOG_NO;
    c->last = ev->clock;
}

static void take_event(struct source *s, const struct shlog_event *ev)
{
    if (ev->kind != SHLOG_EV_ERROR && ev->offset != s->frame_off) {
        s->frame_off = ev->offset;
        s->frames++;
    }
    switch (ev->kind) {
    case SHLOG_EV_PROCESS:
        if (!proc_of(s, ev->proc))
            oom();
        break;
    case SHLOG_EV_RECORD:
        take_record(s, ev);
        break;
    case SHLOG_EV_LOSS:
        take_loss(s, ev);
        break;
    case SHLOG_EV_EXIT:
        take_exit(s, ev);
        break;
    case SHLOG_EV_CLOCK:
        take_anchor(s, ev);
        break;
    case SHLOG_EV_ERROR:
        handle_error(s, ev);
        break;
    default: /* SITE: taken when a record uses it */
        break;
    }
}

static void drain(struct source *srcs, size_t nsrc, int all);

/* Decodes one frame of s (and the damage before it): its events up to its
 * SHLOG_EV_FRAME_END, or to the end of the data. Returns 1 if it decoded
 * something, 0 at the end of the source (in follow mode: for now). */
static int source_step(struct source *s)
{
    static struct shlog_event ev;
    if (s->done)
        return 0;
    source_unpark(s);
    int got = 0;
    for (;;) {
        if (!s->rd && !source_open_next(s)) {
            if (file_cmd.mode != MODE_FOLLOW)
                s->done = 1;
            return got;
        }
        int rc = shlog_reader_next(s->rd, &ev);
        if (rc < 0) {
            char msg[4096 + 128];
            snprintf(msg, sizeof msg, "%s: %s", s->cur_file->path, strerror(-rc));
            note_error(msg);
            s->cur_file->errors++;
            file_cmd.status = 1;
            source_close_file(s);
            continue;
        }
        if (rc == 0) {
            if (file_cmd.mode == MODE_FOLLOW)
                return got;
            /* A file ended: back to the caller, which may want to know. */
            source_close_file(s);
            return 1;
        }
        got = 1;
        if (ev.kind == SHLOG_EV_FRAME_END) {
            source_park(s);
            return 1;
        }
        take_event(s, &ev);
        /* One frame may hold millions of records: past the merge's buffer,
         * the earliest go out now, in best-effort order. */
        if (file_cmd.buffered >= MERGE_BUFFER_MAX && file_cmd.srcs)
            drain(file_cmd.srcs, file_cmd.nsrc, 0);
        if (file_cmd.stop)
            return 1; /* --limit reached: nothing more is wanted */
    }
}

/* ==== Emitting in time order ==== */

static void emit_entry(const struct entry *e)
{
    struct dproc *p = e->proc;
    struct shmlog_buf b = out_begin();
    if (e->kind == ENTRY_RECORD) {
        const struct shmlog_rec *rec = (const struct shmlog_rec *)(e + 1);
        const struct shmlog_site_render *sr = prepared(e->site, p);
        if (!sr)
            oom();
        shmlog_render_prepared(sr, rec, e->cpu, e->ts_ns, file_cmd.cli->json, &b);
        file_cmd.shown++;
        if (file_cmd.cli->filter.limit && file_cmd.shown >= file_cmd.cli->filter.limit)
            file_cmd.stop = 1;
    } else {
        struct shmlog_render_input in = {p->info.app, p->info.host, p->info.pid, e->cpu, e->ts_ns, NULL, NULL};
        if (e->kind == ENTRY_LOSS) {
            struct shmlog_loss loss;
            memcpy(&loss, e + 1, sizeof loss);
            shmlog_render_loss(&in, &loss, file_cmd.cli->json, &b);
        } else {
            struct entry_exit x;
            memcpy(&x, e + 1, sizeof x);
            shmlog_render_exit(&in, x.records, x.lost, x.how, file_cmd.cli->json, &b);
        }
    }
    out_end(&b);
}

/* Frames without a record of a ring after which it no longer holds others
 * back. One collector pass over every ring fits a frame or a few (a pass
 * drains at most 16 Ki records per ring, a frame takes 64 Ki): a ring absent
 * from this many frames was found empty by a pass since its last record. */
static uint64_t quiet_frames(const struct source *s)
{
    return 4 + s->nrings / 4;
}

/* The time up to which every stream is complete, and the source that holds
 * the others back (NULL if none does). */
static uint64_t horizon(struct source *srcs, size_t nsrc, struct source **blocking)
{
    uint64_t h = UINT64_MAX;
    *blocking = NULL;
    for (size_t i = 0; i < nsrc; i++)
        if (!srcs[i].done && srcs[i].frames == 0) {
            *blocking = &srcs[i];
            return 0;
        }
    for (struct dring *r = file_cmd.all_rings; r; r = r->next_all) {
        struct source *s = r->src;
        if (s->done || r->q.count || r->finished || !r->has_last || s->frames - r->last_frame >= quiet_frames(s))
            continue;
        if (r->last_ts < h) {
            h = r->last_ts;
            *blocking = s;
        }
    }
    return h;
}

/* Writes entries while they are known to be next. all: the inputs ended (or
 * a follow pass did), write everything. */
static void drain(struct source *srcs, size_t nsrc, int all)
{
    struct source *blocking = NULL;
    uint64_t h = all ? UINT64_MAX : horizon(srcs, nsrc, &blocking);
    while (file_cmd.nheap && !file_cmd.stop) {
        struct fifo *q = file_cmd.heap[0];
        struct entry *e = fifo_front(q);
        if (!all &&
            (e->ts_ns > h || e->ts_ns > file_cmd.frontier - MERGE_WINDOW_NS || file_cmd.frontier < MERGE_WINDOW_NS) &&
            file_cmd.buffered < MERGE_BUFFER_MAX)
            return;
        emit_entry(e);
        fifo_pop(q);
        heap_top_popped();
        if (!q->count && !all) {
            /* The stream ran dry: later ones may not pass its last time. */
            struct dring *r = (struct dring *)q;
            struct source *s = r->src;
            if (!s->done && !r->finished && s->frames - r->last_frame < quiet_frames(s) && r->last_ts < h)
                h = r->last_ts;
        }
    }
}

static void merge_run(struct source *srcs, size_t nsrc)
{
    file_cmd.srcs = srcs;
    file_cmd.nsrc = nsrc;
    for (;;) {
        drain(srcs, nsrc, 0);
        if (file_cmd.stop)
            break;
        struct source *blocking = NULL;
        horizon(srcs, nsrc, &blocking);
        if (!blocking) {
            /* Only the window holds the heap back: decode the input that is
             * furthest behind. */
            for (size_t i = 0; i < nsrc; i++)
                if (!srcs[i].done && (!blocking || srcs[i].max_ts < blocking->max_ts))
                    blocking = &srcs[i];
        }
        if (!blocking)
            break;
        source_step(blocking);
    }
    drain(srcs, nsrc, 1);
    file_cmd.srcs = NULL;
    file_cmd.nsrc = 0;
}

/* ==== Sources from the inputs ==== */

static struct source *make_sources(struct in_list *l, size_t *nsrc)
{
    struct source *srcs = calloc(l->n ? l->n : 1, sizeof *srcs);
    if (!srcs || (!file_cmd.frame_mem && shlog_frame_mem_new(&file_cmd.frame_mem) != 0))
        oom();
    size_t n = 0;
    for (size_t i = 0; i < l->n;) {
        size_t end = i + 1;
        while (end < l->n && strcmp(l->v[end].host, l->v[i].host) == 0)
            end++;
        struct source *s = &srcs[n++];
        s->files = &l->v[i];
        s->nfiles = end - i;
        s->frame_off = UINT64_MAX;
        if (shlog_dedup_new(&s->dedup) != 0)
            oom();
        i = end;
    }
    *nsrc = n;
    return srcs;
}

static void free_sources(struct source *srcs, size_t nsrc)
{
    for (size_t i = 0; i < nsrc; i++) {
        source_close_file(&srcs[i]);
        shlog_dedup_free(srcs[i].dedup);
        hmap_clear(&srcs[i].procs);
        hmap_clear(&srcs[i].by_ptr);
    }
    free(srcs);
    shlog_frame_mem_free(file_cmd.frame_mem); /* after its readers */
    file_cmd.frame_mem = NULL;
    while (file_cmd.all_rings) {
        struct dring *r = file_cmd.all_rings;
        file_cmd.all_rings = r->next_all;
        for (struct chunk *c = r->q.first, *next; c; c = next) {
            next = c->next;
            chunk_free(c);
        }
        free(r);
    }
    while (file_cmd.all_sites) {
        struct dsite *d = file_cmd.all_sites;
        file_cmd.all_sites = d->next_all;
        shmlog_site_render_free(d->sr);
        free(d->fmt);
        free(d->file);
        free(d);
    }
    while (file_cmd.all_procs) {
        struct dproc *p = file_cmd.all_procs;
        file_cmd.all_procs = p->next_all;
        hmap_clear(&p->rings);
        hmap_clear(&p->sites);
        shmlog_site_render_free(p->unknown);
        free(p);
    }
    while (file_cmd.free_chunks) {
        struct chunk *c = file_cmd.free_chunks;
        file_cmd.free_chunks = c->next;
        munmap(c, CHUNK_MAP_BYTES);
    }
    file_cmd.nfree_chunks = 0;
    free(file_cmd.heap);
    file_cmd.heap = NULL;
    file_cmd.nheap = file_cmd.heap_cap = 0;
}

static void begin(struct cli *cli, enum mode mode)
{
    file_cmd.mode = mode;
    file_cmd.cli = cli;
}

/* ==== read ==== */

int cmd_read(struct cli *cli)
{
    begin(cli, MODE_READ);
    struct in_list l = {0};
    if (collect_inputs(cli, &l) != 0)
        oom();
    size_t nsrc;
    struct source *srcs = make_sources(&l, &nsrc);
    merge_run(srcs, nsrc);
    free_sources(srcs, nsrc);
    free(l.v);
    return file_cmd.status;
}

/* ==== stats ==== */

static int site_count_cmp(const void *a, const void *b)
{
    const struct dsite *x = *(const struct dsite *const *)a, *y = *(const struct dsite *const *)b;
    if (x->records != y->records)
        return x->records > y->records ? -1 : 1;
    return strcmp(x->file ? x->file : "", y->file ? y->file : "");
}

static void put_rate(struct shmlog_buf *b, const char *fmt, double v)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, fmt, v);
    shmlog_buf_puts(b, tmp);
}


/* "name":count for every non-zero one of the 8 counters, comma-separated. */
static void put_json_counts(struct shmlog_buf *b, const uint64_t counts[8], const char *(*name)(unsigned))
{
    for (unsigned i = 0, n = 0; i < 8; i++) {
        if (!counts[i])
            continue;
        if (n++)
            shmlog_buf_putc(b, ',');
        shmlog_buf_putc(b, '"');
        shmlog_buf_puts(b, name(i) ? name(i) : "?");
        shmlog_buf_puts(b, "\":");
        shmlog_buf_u64(b, counts[i]);
    }
}

static const char *tristate_json(enum shlog_tristate t)
{
    return t == SHLOG_YES ? "true" : t == SHLOG_NO ? "false" : "null";
}

/* What the times rest on: the collector's anchors and the clocks' state
 * they were taken in, or each process's own calibration. */
static void put_clock_stats(struct shmlog_buf *b, int json)
{
    const struct clock_stats *c = &file_cmd.clock;
    char line[512];
    if (json) {
        snprintf(line, sizeof line,
                 ",\"clock\":{\"anchors\":%llu,\"steps\":%llu,\"max_anchor_error_ns\":%u,"
                 "\"records_on_process_calibration\":%llu,\"tsc_invariant\":%s,\"synchronized\":%s,"
                 "\"anchors_unsynchronized\":%llu,\"max_esterror_ns\":%llu,\"clocksource\":",
                 (unsigned long long)c->anchors, (unsigned long long)c->steps, c->max_err_ns,
                 (unsigned long long)c->process_calibrated, tristate_json(c->last.tsc_invariant),
                 tristate_json(c->last.synchronized), (unsigned long long)c->unsynchronized,
                 (unsigned long long)c->max_esterror_ns);
        shmlog_buf_puts(b, line);
        shmlog_json_string(b, c->last.clocksource, strlen(c->last.clocksource));
        shmlog_buf_putc(b, '}');
        return;
    }
    if (!c->anchors) {
        shmlog_buf_puts(b, "clock: no anchors (files from before them): times use each process's own "
                           "calibration, good for seconds after its start\n");
        return;
    }
    snprintf(line, sizeof line, "clock: %llu anchors, worst error %u ns, %llu steps of the wall clock; TSC %s; "
             "clocksource %s; system clock %s",
             (unsigned long long)c->anchors, c->max_err_ns, (unsigned long long)c->steps,
             c->last.tsc_invariant == SHLOG_YES ? "invariant" : c->last.tsc_invariant == SHLOG_NO
                                                                   ? "NOT invariant"
                                                                   : "invariance unknown",
             c->last.clocksource[0] ? c->last.clocksource : "unknown",
             c->unsynchronized == c->anchors ? "not synchronised"
             : c->unsynchronized           ? "not synchronised at times"
                                           : "synchronised");
    shmlog_buf_puts(b, line);
    if (c->max_esterror_ns) {
        snprintf(line, sizeof line, " (estimated error up to %.6f s)", (double)c->max_esterror_ns / 1e9);
        shmlog_buf_puts(b, line);
    }
    if (c->process_calibrated) {
        snprintf(line, sizeof line, "; %llu records from files without anchors use their process's calibration",
                 (unsigned long long)c->process_calibrated);
        shmlog_buf_puts(b, line);
    }
    shmlog_buf_putc(b, '\n');
}

static void put_share(struct shmlog_buf *b, uint64_t n, uint64_t total)
{
    shmlog_buf_u64(b, n);
    put_rate(b, " (%.1f%%)", total ? 100.0 * (double)n / (double)total : 0.0);
}

/* What stats reports beyond the counters: the sites with records, most
 * first, and the totals and rates made of the counters. */
struct stats_summary {
    struct dsite **sites;
    size_t nsites;
    uint64_t lost_total;
    double span;       /* seconds from the first record to the last */
    double per_record; /* bytes on disk */
    double rate;       /* records per second over the span */
};

/* Reads every input to its end: each event counted as it is decoded. */
static void stats_count(struct cli *cli, struct in_list *l, struct source **srcs, size_t *nsrc)
{
    if (collect_inputs(cli, l) != 0)
        oom();
    for (size_t i = 0; i < l->n; i++)
        file_cmd.file_bytes += l->v[i].bytes;
    file_cmd.nfiles = l->n;
    *srcs = make_sources(l, nsrc);
    for (size_t i = 0; i < *nsrc; i++)
        while (source_step(&(*srcs)[i]))
            ;
}

static void stats_summarize(struct stats_summary *s)
{
    /* apps and sites */
    for (struct dsite *d = file_cmd.all_sites; d; d = d->next_all)
        if (d->records)
            count_app(d->proc->info.app, d->records);
    size_t nsites = 0;
    for (struct dsite *d = file_cmd.all_sites; d; d = d->next_all)
        nsites += d->records != 0;
    s->sites = calloc(nsites ? nsites : 1, sizeof *s->sites);
    if (!s->sites)
        oom();
    nsites = 0;
    for (struct dsite *d = file_cmd.all_sites; d; d = d->next_all)
        if (d->records)
            s->sites[nsites++] = d;
    qsort(s->sites, nsites, sizeof *s->sites, site_count_cmp);
    s->nsites = nsites;
    /* Records of sites the files never defined count under "?". */
    s->lost_total = 0;
    for (int i = 0; i < 8; i++)
        s->lost_total += file_cmd.lost[i];
    s->span = file_cmd.last_ns > file_cmd.first_ns ? (double)(file_cmd.last_ns - file_cmd.first_ns) / 1e9 : 0;
    s->per_record = file_cmd.records ? (double)file_cmd.file_bytes / (double)file_cmd.records : 0;
    s->rate = s->span > 0 ? (double)file_cmd.records / s->span : 0;
}

/* ---- JSON: one object ---- */

/* "apps":{"name":count,...} without the key */
static void put_json_apps(struct shmlog_buf *b)
{
    for (size_t i = 0, n = 0; i < file_cmd.apps.cap; i++) {
        struct app_count *a = file_cmd.apps.slots[i].v;
        if (!a)
            continue;
        if (n++)
            shmlog_buf_putc(b, ',');
        shmlog_json_string(b, a->name, strlen(a->name));
        shmlog_buf_putc(b, ':');
        shmlog_buf_u64(b, a->n);
    }
}

/* One element of "sites": the i-th. */
static void put_json_site(struct shmlog_buf *b, const struct dsite *d, size_t i)
{
    if (i)
        shmlog_buf_putc(b, ',');
    shmlog_buf_puts(b, "{\"site\":");
    if (d->file) {
        char line[32];
        snprintf(line, sizeof line, ":%u\"", d->line);
        shmlog_json_string(b, d->file, strlen(d->file));
        if (!b->overflow)
            b->len--; /* the closing quote: ":line" goes inside */
        shmlog_buf_puts(b, line);
    } else {
        shmlog_buf_puts(b, "null");
    }
    put_json_kv_str(b, "format", d->fmt ? d->fmt : "");
    put_json_kv_str(b, "app", d->proc->info.app);
    put_json_kv_u64(b, "pid", d->proc->info.pid);
    put_json_kv_u64(b, "records", d->records);
    shmlog_buf_putc(b, '}');
}

/* The counters, then the top sites, each written out on its own. */
static void stats_json(struct shmlog_buf *b, const struct stats_summary *s)
{
    shmlog_buf_puts(b, "{\"files\":");
    shmlog_buf_u64(b, file_cmd.nfiles);
    put_json_kv_u64(b, "bytes", file_cmd.file_bytes);
    put_json_kv_u64(b, "frames", file_cmd.frames);
    put_json_kv_u64(b, "bad_frames", file_cmd.bad_frames);
    put_json_kv_u64(b, "torn", file_cmd.torn);
    put_json_kv_u64(b, "records", file_cmd.records);
    put_json_kv_u64(b, "duplicates", file_cmd.duplicates);
    shmlog_buf_puts(b, ",\"bytes_per_record\":");
    shmlog_json_double(b, s->per_record, 0);
    put_json_kv_u64(b, "first_ns", file_cmd.first_ns);
    put_json_kv_u64(b, "last_ns", file_cmd.last_ns);
    shmlog_buf_puts(b, ",\"span_s\":");
    shmlog_json_double(b, s->span, 0);
    shmlog_buf_puts(b, ",\"records_per_s\":");
    shmlog_json_double(b, s->rate, 0);
    put_clock_stats(b, 1);
    shmlog_buf_puts(b, ",\"losses\":{\"total\":");
    shmlog_buf_u64(b, s->lost_total);
    for (unsigned r = SHMLOG_LOSS_DROPPED; r <= SHMLOG_LOSS_REASON_MAX; r++)
        put_json_kv_u64(b, shmlog_loss_reason_name(r), file_cmd.lost[r]);
    shmlog_buf_puts(b, "},\"levels\":{");
    put_json_counts(b, file_cmd.levels, shmlog_level_name);
    shmlog_buf_puts(b, "},\"categories\":{");
    put_json_counts(b, file_cmd.categories, shmlog_category_name);
    shmlog_buf_puts(b, "},\"apps\":{");
    put_json_apps(b);
    shmlog_buf_puts(b, "},\"sites\":[");
    out_end(b);
    for (size_t i = 0; i < s->nsites && i < TOP_SITES; i++) {
        *b = out_begin();
        put_json_site(b, s->sites[i], i);
        out_end(b);
    }
    *b = out_begin();
    shmlog_buf_puts(b, "]}\n");
}

/* ---- Text: one screen ---- */

/* "files: ...", "records: ..." and, when there are records, "time: ..." */
static void put_text_totals(struct shmlog_buf *b, const struct stats_summary *s)
{
    char line[256];
    snprintf(line, sizeof line, "files: %llu, %llu bytes on disk, %llu frames (%llu damaged%s)\n",
             (unsigned long long)file_cmd.nfiles, (unsigned long long)file_cmd.file_bytes,
             (unsigned long long)file_cmd.frames, (unsigned long long)file_cmd.bad_frames,
             file_cmd.torn ? ", torn tail" : "");
    shmlog_buf_puts(b, line);
    snprintf(line, sizeof line, "records: %llu (%llu duplicates dropped), %.2f bytes on disk per record\n",
             (unsigned long long)file_cmd.records, (unsigned long long)file_cmd.duplicates, s->per_record);
    shmlog_buf_puts(b, line);
    if (file_cmd.records) {
        shmlog_buf_puts(b, "time: ");
        shmlog_buf_rfc3339(b, file_cmd.first_ns);
        shmlog_buf_puts(b, " .. ");
        shmlog_buf_rfc3339(b, file_cmd.last_ns);
        put_rate(b, " (%.3f s)", s->span);
        put_rate(b, ", %.0f records/s\n", s->rate);
    }
}

/* "losses: N records, reason n, ..." (no newline) */
static void put_text_losses(struct shmlog_buf *b, const struct stats_summary *s)
{
    char line[256];
    snprintf(line, sizeof line, "losses: %llu records", (unsigned long long)s->lost_total);
    shmlog_buf_puts(b, line);
    for (unsigned r = SHMLOG_LOSS_DROPPED; r <= SHMLOG_LOSS_REASON_MAX; r++)
        if (file_cmd.lost[r]) {
            snprintf(line, sizeof line, ", %s %llu", shmlog_loss_reason_name(r), (unsigned long long)file_cmd.lost[r]);
            shmlog_buf_puts(b, line);
        }
}

/* label, then " NAME count (share%)" for every non-zero one of the 8 counters. */
static void put_text_counts(struct shmlog_buf *b, const char *label, const uint64_t counts[8],
                            const char *(*name)(unsigned))
{
    shmlog_buf_puts(b, label);
    for (unsigned i = 0; i < 8; i++)
        if (counts[i]) {
            shmlog_buf_putc(b, ' ');
            shmlog_buf_puts(b, name(i) ? name(i) : "?");
            shmlog_buf_putc(b, ' ');
            put_share(b, counts[i], file_cmd.records);
        }
}

static void put_text_apps(struct shmlog_buf *b)
{
    shmlog_buf_puts(b, "\nby app:");
    for (size_t i = 0; i < file_cmd.apps.cap; i++) {
        struct app_count *a = file_cmd.apps.slots[i].v;
        if (!a)
            continue;
        shmlog_buf_putc(b, ' ');
        put_text_safe(b, a->name);
        shmlog_buf_putc(b, ' ');
        put_share(b, a->n, file_cmd.records);
    }
}

/* "  count share%  app file.c:line format" */
static void put_text_site(struct shmlog_buf *b, const struct dsite *d)
{
    char line[256];
    snprintf(line, sizeof line, "  %12llu %5.1f%%  ", (unsigned long long)d->records,
             file_cmd.records ? 100.0 * (double)d->records / (double)file_cmd.records : 0.0);
    shmlog_buf_puts(b, line);
    put_text_safe(b, d->proc->info.app);
    shmlog_buf_putc(b, ' ');
    if (d->file) {
        const char *slash = strrchr(d->file, '/');
        put_text_safe(b, slash ? slash + 1 : d->file);
        snprintf(line, sizeof line, ":%u ", d->line);
        shmlog_buf_puts(b, line);
        put_text_safe(b, d->fmt);
    } else {
        shmlog_buf_puts(b, "?");
    }
    shmlog_buf_putc(b, '\n');
}

/* The totals, the clock, the losses, the shares, then the top sites, each
 * written out on its own. */
static void stats_text(struct shmlog_buf *b, const struct stats_summary *s)
{
    char line[256];
    put_text_totals(b, s);
    put_clock_stats(b, 0);
    put_text_losses(b, s);
    put_text_counts(b, "\nby level:", file_cmd.levels, shmlog_level_name);
    put_text_counts(b, "\nby category:", file_cmd.categories, shmlog_category_name);
    put_text_apps(b);
    snprintf(line, sizeof line, "\ntop sites (%zu with records):\n", s->nsites);
    shmlog_buf_puts(b, line);
    out_end(b);
    for (size_t i = 0; i < s->nsites && i < TOP_SITES; i++) {
        *b = out_begin();
        put_text_site(b, s->sites[i]);
        out_end(b);
    }
    *b = out_begin();
}

int cmd_stats(struct cli *cli)
{
    begin(cli, MODE_STATS);
    struct in_list l = {0};
    struct source *srcs;
    size_t nsrc;
    stats_count(cli, &l, &srcs, &nsrc);
    struct stats_summary s;
    stats_summarize(&s);

    struct shmlog_buf b = out_begin();
    if (cli->json)
        stats_json(&b, &s);
    else
        stats_text(&b, &s);
    out_end(&b);

    for (size_t i = 0; i < file_cmd.apps.cap; i++)
        free(file_cmd.apps.slots[i].v);
    hmap_clear(&file_cmd.apps);
    free(s.sites);
    free_sources(srcs, nsrc);
    free(l.v);
    return file_cmd.status;
}

/* ==== verify ==== */

int cmd_verify(struct cli *cli)
{
    begin(cli, MODE_VERIFY);
    struct in_list l = {0};
    if (collect_inputs(cli, &l) != 0)
        oom();
    size_t nsrc;
    struct source *srcs = make_sources(&l, &nsrc);
    int whole_all = file_cmd.status == 0;
    for (size_t i = 0; i < nsrc; i++) {
        struct source *s = &srcs[i];
        size_t reported = 0;
        while (!s->done || reported < s->next) {
            if (!s->done)
                source_step(s);
            /* Files before the open one are finished: their summaries. */
            size_t finished = s->rd ? s->next - 1 : s->next;
            for (; reported < finished; reported++) {
                const struct in_file *f = &s->files[reported];
                int whole = !f->errors && !f->gaps && !f->bad_header;
                whole_all &= whole;
                struct shmlog_buf b = out_begin();
                put_text_safe(&b, f->path);
                char line[512];
                if (f->bad_header)
                    snprintf(line, sizeof line, ": BAD: %s\n", f->error);
                else if (whole)
                    snprintf(line, sizeof line, ": ok: %llu frames, %llu records, %llu bytes\n",
                             (unsigned long long)f->frames, (unsigned long long)f->records,
                             (unsigned long long)f->bytes);
                else
                    snprintf(line, sizeof line,
                             ": DAMAGED: %llu frame errors%s, %llu unexplained position gaps (%llu positions); "
                             "%llu good frames, %llu records%s\n",
                             (unsigned long long)(f->errors - f->torn), f->torn ? ", torn tail" : "",
                             (unsigned long long)f->gaps, (unsigned long long)f->gap_positions,
                             (unsigned long long)f->frames, (unsigned long long)f->records,
                             f->part && f->writer_alive ? " (still being written)" : "");
                shmlog_buf_puts(&b, line);
                out_end(&b);
                out_push();
            }
        }
    }
    free_sources(srcs, nsrc);
    free(l.v);
    return whole_all && file_cmd.status == 0 ? 0 : 1;
}

/* ==== follow ==== */

static volatile sig_atomic_t follow_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    follow_stop = 1;
}

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The file after after_seq in dir (the lowest sequence number above it, or
 * any when has_after is 0 and newest is 0; the highest when newest is 1):
 * closed .shlog or open .shlog.part. 0, or -ENOENT. */
static int find_file(const char *dir, int has_after, uint64_t after_seq, int newest, int only_part,
                     struct in_file *f)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int found = 0;
    uint64_t best = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t seq;
        int part = has_suffix(de->d_name, SHLOG_FILE_SUFFIX SHLOG_PART_SUFFIX);
        if ((!part && (only_part || !has_suffix(de->d_name, SHLOG_FILE_SUFFIX))) || name_seq(de->d_name, &seq) != 0)
            continue;
        if ((has_after && seq <= after_seq) || (found && (newest ? seq <= best : seq >= best)))
            continue;
        if ((size_t)snprintf(f->path, sizeof f->path, "%s/%s", dir, de->d_name) >= sizeof f->path)
            continue;
        best = seq;
        f->seq = seq;
        f->part = part;
        found = 1;
    }
    closedir(d);
    return found ? 0 : -ENOENT;
}

int cmd_follow(struct cli *cli)
{
    begin(cli, MODE_FOLLOW);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct in_file file;
    struct source src;
    memset(&src, 0, sizeof src);
    memset(&file, 0, sizeof file);
    src.files = &file;
    src.frame_off = UINT64_MAX;
    if (shlog_dedup_new(&src.dedup) != 0)
        oom();
    struct timespec poll = {0, FOLLOW_POLL_NS};

    /* Start at the end of the open file; with none, after the newest file
     * there is: records already written are not new. */
    int has_after = 0;
    uint64_t after = 0;
    struct in_file start;
    memset(&start, 0, sizeof start);
    if (find_file(cli->out_dir, 0, 0, 1, 1, &start) == 0) {
        struct stat st;
        has_after = start.seq > 0;
        after = start.seq - 1;
        src.skip_below = stat(start.path, &st) == 0 ? (uint64_t)st.st_size : 0;
    } else if (find_file(cli->out_dir, 0, 0, 1, 0, &start) == 0) {
        has_after = 1;
        after = start.seq;
    }

    while (!follow_stop && !file_cmd.stop) {
        if (!src.rd) {
            /* The next file in sequence, closed or still open: a rotation
             * may have closed one before we saw it open. */
            memset(&file, 0, sizeof file);
            if (find_file(cli->out_dir, has_after, after, 0, 0, &file) != 0) {
                nanosleep(&poll, NULL);
                continue;
            }
            file.writer_alive = file.part;
            has_after = 1;
            after = file.seq;
            src.nfiles = 1;
            src.next = 0;
            if (!source_open_next(&src)) {
                src.skip_below = 0;
                continue;
            }
        }
        while (source_step(&src) && !follow_stop)
            ;
        if (!file.part || !path_exists(file.path)) {
            /* Closed (renamed after its last write): read to its end. */
            while (source_step(&src))
                ;
            source_close_file(&src);
            src.skip_below = 0;
        }
        drain(&src, 1, 1);
        out_push();
        if (src.rd)
            nanosleep(&poll, NULL);
    }
    drain(&src, 1, 1);
    out_push();
    source_close_file(&src);
    shlog_dedup_free(src.dedup);
    hmap_clear(&src.procs);
    hmap_clear(&src.by_ptr);
    free_sources(NULL, 0);
    return file_cmd.status;
}
