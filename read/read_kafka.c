/* read_kafka.c - kafka://: the topic shmlog-ship fills, read as the engine reads a directory. */
/*
 * The topic's own source (the hub) reads the partitions and hands each
 * checked message (kafka_source.c) to its host's source, made when the host
 * is first seen and put in the merge's list after the hub. A host's source
 * reads its messages as a file's frames: its feed hands back the context and
 * each frame (struct read_feed), which the source's step pushes into the
 * reader it opens for their file, with its own dedup and clock map, as the
 * files of a host are read. A feed calls nothing of the step that asked it.
 *
 * Which partition is read is what the merge asks for: a host's source reads
 * its own partition (the shipper keys a host's frames to one) until a
 * message of its own comes; the hub reads the partition furthest behind in
 * time (a message's timestamp is its frame's seal time, or the shipper's
 * clock for a frame without an anchor), and the hub's time, that partition's,
 * holds the merge's window back like a source's. So a host not seen yet,
 * whose records come later in a partition, cannot bring records older than
 * what the merge handed on. A host with nothing of its own waiting stops
 * holding the window back once another host's frame in its partition is
 * newer than its records by more than the window.
 *
 * Memory: the messages that wait for their host are at most PENDING_MAX
 * bytes (beyond, the host with the most waiting decodes one, and the merge's
 * own bound keeps the rest in best-effort order); librdkafka prefetches a
 * few frames a partition (kafka_source.c); a topic has at most HOSTS_MAX
 * hosts. A partition that brings nothing for STALL_NS before its end is
 * given up, said as damage: a reader never hangs on brokers that went away.
 * Following, one that brings nothing for FOLLOW_STALL_NS while the brokers
 * have messages past it is fetched again, said and counted: librdkafka can
 * stop delivering a partition after a leader change, and a follower would
 * then miss a host in silence.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka_source.h"
#include "read_engine.h"

#define HOSTS_MAX 4096u
#define PENDING_MAX (64u << 20)
#define POLL_MS 100
#define STALL_NS (30ull * 1000000000ull)
/* Following, a partition that brings nothing this long while the brokers have more is fetched again. */
#define FOLLOW_STALL_NS (10ull * 1000000000ull)

/* A message that waits for its host's source. */
struct pend {
    struct pend *next;
    struct ksrc_held *held; /* what m points into */
    struct kmsg m;
};

struct khost {
    struct source src;     /* the merge's source of the host */
    struct read_kafka *k;
    struct in_file file;   /* the frames being read, named as a mirror names their file */
    uint64_t file_seq, file_created_ns; /* which file they are (kafka_source.h) */
    uint32_t file_pid;
    struct pend *first, *last;
    uint64_t pending;      /* bytes of its messages that wait */
    struct pend *staged;   /* its context was handed in: its frame next */
    struct pend *handed;   /* its frame was handed back: freed at the next feed, once the step pushed it */
    size_t part;           /* the partition its messages come from */
};

/* A partition as the hub sees it. */
struct kpart {
    int seen;              /* read once, or at its end */
    int gone;              /* given up (STALL_NS) */
    uint64_t waiting_ns;   /* since when nothing came; 0: something did */
    const struct khost *latest; /* whose frame came last (one sent again too); NULL: no frame of a host read */
};

struct read_kafka {
    struct source src;     /* the hub's: finds hosts, holds the window back */
    struct ksrc *ks;
    char url[4200];
    char topic[256];
    uint64_t since_ns;
    int from_end, failed;
    struct kpart *parts;
    size_t nparts;
    struct khost **hosts;
    size_t nhosts, hosts_cap;
    struct hmap by_name;   /* (hash of the name, probe) -> khost */
    uint64_t pending;
    int hosts_over_said, resent_said;
    uint64_t files, bytes;
};

static void damage(struct read_engine *e, const char *msg)
{
    read_say(e, msg, 0);
    e->status = 1;
}

static int part_ended(const struct read_kafka *k, size_t i)
{
    if (k->failed || k->parts[i].gone)
        return 1;
    struct read_ksrc_part p;
    read_ksrc_part(k->ks, i, &p);
    return p.at_end;
}

/* ==== Hosts ==== */

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int host_feed(struct read_engine *e, struct source *s, struct read_feed *out);

/* The source of host name, or NULL (none yet); *probe: where a new one goes. */
static struct khost *host_find(const struct read_kafka *k, const char *name, uint64_t *probe)
{
    uint64_t hash = name_hash(name);
    struct khost *h;
    *probe = 0;
    /* A hash two names share (hostile ones can) takes the next probe. */
    while ((h = read_hmap_get(&k->by_name, hash, *probe)) && strcmp(h->file.host, name) != 0)
        (*probe)++;
    return h;
}

/* The source of host name, made (after the hub's in the merge's list) when
 * new (the source bounds them: HOSTS_MAX); NULL when out of memory. */
static struct khost *host_of(struct read_kafka *k, const char *name)
{
    uint64_t hash = name_hash(name), probe;
    struct khost *h = host_find(k, name, &probe);
    if (h)
        return h;
    if (k->nhosts == k->hosts_cap) {
        size_t cap = k->hosts_cap ? 2 * k->hosts_cap : 16;
        struct khost **v = realloc(k->hosts, cap * sizeof *v);
        if (!v)
            return NULL;
        k->hosts = v;
        k->hosts_cap = cap;
    }
    if (!(h = calloc(1, sizeof *h)))
        return NULL;
    if (read_source_init(&h->src) != 0 || read_hmap_put(&k->by_name, hash, probe, h) != 0) {
        shlog_dedup_free(h->src.dedup);
        free(h);
        return NULL;
    }
    h->k = k;
    snprintf(h->file.host, sizeof h->file.host, "%s", name);
    h->src.feed = host_feed;
    h->src.feed_ctx = h;
    h->src.park = 1;
    h->src.next_src = k->src.next_src;
    k->src.next_src = &h->src;
    k->hosts[k->nhosts++] = h;
    return h;
}

static void pend_free(struct read_kafka *k, struct khost *h, struct pend *p)
{
    uint64_t bytes = p->m.n + p->m.ctx_n;
    h->pending -= bytes;
    k->pending -= bytes;
    read_ksrc_release(p->held);
    free(p);
}

/* ==== Messages ==== */

/* A message read: said and dropped when it is no frame of a host or one
 * its host had, else queued for its host. 0, or -ENOMEM. */
static int route(struct read_engine *e, struct read_kafka *k, struct kmsg *m)
{
    char msg[4200 + 700];
    uint64_t probe;
    int own_again = m->place == KMSG_DUPLICATE || m->place == KMSG_EARLY; /* a frame of a host it has, or none */
    k->parts[m->part].latest = own_again ? host_find(k, m->hdr.host, &probe) : NULL;
    if (m->place == KMSG_BAD) {
        snprintf(msg, sizeof msg, "%s partition %d offset %" PRId64 ": %s; skipped", k->url, (int)m->partition,
                 m->offset, m->why);
        damage(e, msg);
        return 0;
    }
    if (m->place == KMSG_DUPLICATE) {
        /* A shipper sent it again (its state file is written after the acknowledgements): counted (stats). */
        if (!k->resent_said++) {
            snprintf(msg, sizeof msg, "%s: frames a shipper sent again are skipped, their records read once "
                     "(the first: host %s file %" PRIu64 " offset %" PRIu64 "; stats counts them)", k->url,
                     m->hdr.host, m->hdr.file_seq, m->file_off);
            read_say(e, msg, 1);
        }
        return 0;
    }
    if (m->place == KMSG_EARLY || m->place == KMSG_OTHER)
        return 0;
    if (m->place == KMSG_REFUSED) {
        if (!k->hosts_over_said++) {
            snprintf(msg, sizeof msg, "%s: more than %u hosts: the messages of host '%s' and others skipped", k->url,
                     HOSTS_MAX, m->hdr.host);
            damage(e, msg);
        }
        return 0;
    }
    struct khost *h = host_of(k, m->hdr.host);
    if (!h)
        return -ENOMEM;
    struct pend *p = malloc(sizeof *p);
    if (!p)
        return -ENOMEM;
    p->next = NULL;
    p->held = read_ksrc_take(k->ks);
    p->m = *m;
    if (h->last)
        h->last->next = p;
    else
        h->first = p;
    h->last = p;
    h->pending += m->n + m->ctx_n;
    k->pending += m->n + m->ctx_n;
    h->part = m->part;
    h->src.done = 0;
    k->parts[m->part].latest = h;
    return 0;
}

/* Following, partition part brought nothing again: fetched anew once it brought nothing for FOLLOW_STALL_NS
 * while the brokers have messages past it (asked of them once in FOLLOW_STALL_NS, for at most a second). */
static void follow_stall(struct read_engine *e, struct read_kafka *k, size_t part, uint64_t now)
{
    struct kpart *p = &k->parts[part];
    if (!p->waiting_ns || now - p->waiting_ns <= FOLLOW_STALL_NS) {
        if (!p->waiting_ns)
            p->waiting_ns = now;
        return;
    }
    p->waiting_ns = now;
    struct read_ksrc_part kp;
    read_ksrc_part(k->ks, part, &kp);
    int64_t high;
    int rc = read_ksrc_unstick(k->ks, part, &high);
    if (!rc)
        return;
    char msg[5000];
    const char *why = read_ksrc_last_error(k->ks);
    snprintf(msg, sizeof msg, "%s partition %d: nothing came for %llu s though the brokers have its offsets %" PRId64
             " to %" PRId64 "%s%s%s: %s (%" PRIu64 " times so far)", k->url, (int)kp.id,
             (unsigned long long)(FOLLOW_STALL_NS / 1000000000ull), kp.next, high - 1, *why ? " (librdkafka: " : "", why,
             *why ? ")" : "", rc > 0 ? "fetched again from the first" : "assigning it again failed",
             read_ksrc_counts(k->ks)->reassigned);
    if (rc > 0)
        read_say(e, msg, 1);
    else
        damage(e, msg);
}

/* Says what the topic's source has to say (read_ksrc_notice). */
static void say_notices(struct read_engine *e, struct read_kafka *k)
{
    char note[800], msg[sizeof k->url + 810];
    int lost;
    if (!read_ksrc_notice(k->ks, note, sizeof note, &lost))
        return;
    snprintf(msg, sizeof msg, "%s: %s", k->url, note);
    if (lost)
        damage(e, msg);
    else
        read_say(e, msg, 1);
}

/* Reads a message of partition part and routes it: 1 when one came, 0 when
 * none did within timeout_ms, -ENOMEM. */
static int pull(struct read_engine *e, struct read_kafka *k, size_t part, int timeout_ms)
{
    struct kmsg m;
    char err[512], msg[5000];
    int rc = read_ksrc_next_in(k->ks, part, &m, timeout_ms, err, sizeof err);
    struct kpart *p = &k->parts[part];
    say_notices(e, k);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "%s: %s; reading stops", k->url, err);
        damage(e, msg);
        k->failed = 1;
        return 0;
    }
    if (rc == 0) {
        uint64_t now = shm_mono_ns();
        if (e->follow)
            follow_stall(e, k, part, now);
        if (part_ended(k, part)) {
            p->seen = 1;
        } else if (!e->follow && !p->waiting_ns) {
            p->waiting_ns = now;
        } else if (!e->follow && now - p->waiting_ns > STALL_NS) {
            struct read_ksrc_part kp;
            read_ksrc_part(k->ks, part, &kp);
            const char *why = read_ksrc_last_error(k->ks);
            snprintf(msg, sizeof msg, "%s partition %d: nothing came for %llu s, up to offset %" PRId64
                     " of %" PRId64 " (%s); the rest of it is not read", k->url, (int)kp.id,
                     (unsigned long long)(STALL_NS / 1000000000ull), kp.next, kp.end, *why ? why : "no error said");
            damage(e, msg);
            p->gone = 1;
        }
        return 0;
    }
    p->seen = 1;
    p->waiting_ns = 0;
    return route(e, k, &m) < 0 ? -ENOMEM : 1;
}

/* The hub's time: the oldest partition's still being read. */
static void hub_times(struct read_kafka *k)
{
    uint64_t t = UINT64_MAX;
    int all_seen = 1;
    for (size_t i = 0; i < k->nparts; i++) {
        if (part_ended(k, i))
            continue;
        struct read_ksrc_part p;
        read_ksrc_part(k->ks, i, &p);
        all_seen &= k->parts[i].seen;
        uint64_t ns = p.last_ts_ms > 0 ? (uint64_t)p.last_ts_ms * 1000000ull : 0;
        if (ns < t)
            t = ns;
    }
    k->src.max_ts = t;
    /* Until every partition brought its first message, a host not seen yet may hold the oldest records. */
    k->src.frames = all_seen;
}

/* Over PENDING_MAX: the host with the most waiting is to decode a frame
 * (out->step_first). 1 when over, 0 when not. */
static int relieve(struct read_kafka *k, struct read_feed *out)
{
    if (k->pending <= PENDING_MAX)
        return 0;
    struct khost *most = NULL;
    for (size_t i = 0; i < k->nhosts; i++)
        if (!most || k->hosts[i]->pending > most->pending)
            most = k->hosts[i];
    out->step_first = &most->src;
    return 1;
}

/* The hub's feed: reads the partition furthest behind; it never has frames itself. */
static int hub_feed(struct read_engine *e, struct source *s, struct read_feed *out)
{
    struct read_kafka *k = s->feed_ctx;
    if (relieve(k, out))
        return 0;
    size_t best = SIZE_MAX;
    int64_t best_ts = 0;
    for (size_t i = 0; i < k->nparts; i++) {
        if (part_ended(k, i)) {
            k->parts[i].seen = 1;
            continue;
        }
        struct read_ksrc_part p;
        read_ksrc_part(k->ks, i, &p);
        /* One not read yet first (following: each in turn). */
        int64_t ts = k->parts[i].seen ? p.last_ts_ms : -2;
        if (best == SIZE_MAX || ts < best_ts) {
            best = i;
            best_ts = ts;
        }
    }
    if (best == SIZE_MAX) {
        if (!e->follow) {
            s->done = 1;
            /* Hosts its partitions passed by stopped with their files open:
             * stepped once more, their feeds end their files. */
            for (size_t i = 0; i < k->nhosts; i++)
                k->hosts[i]->src.done = 0;
        }
        hub_times(k);
        return 0;
    }
    int rc = pull(e, k, best, e->follow ? 0 : POLL_MS);
    hub_times(k);
    return rc < 0 ? rc : 0;
}

/* ==== A host's frames ==== */

/* Hands back the message p's frame for h's reader (its context first when
 * it starts a run, and the run's file to open). 1. */
static int deliver(struct khost *h, struct pend *p, struct read_feed *out)
{
    struct read_kafka *k = h->k;
    struct kmsg *m = &p->m;
    const struct source *s = &h->src;
    if (h->staged != p && (!s->rd || m->place == KMSG_START || h->file_seq != m->hdr.file_seq ||
                           h->file_created_ns != m->hdr.created_ns || h->file_pid != m->hdr.collector_pid)) {
        /* A run of its file starts: a reader as over a mirror's file, the context before the frame. */
        char name[256];
        shlog_file_name(&m->hdr, name, sizeof name);
        snprintf(h->file.path, sizeof h->file.path, "%s/%s", k->topic, name);
        h->file.seq = m->hdr.file_seq;
        out->hdr = &m->hdr;
        out->file = &h->file;
        h->file_seq = m->hdr.file_seq;
        h->file_created_ns = m->hdr.created_ns;
        h->file_pid = m->hdr.collector_pid;
        if (m->new_file) {
            k->files++;
            k->bytes += SHLOG_FILE_HEADER_BYTES;
        }
        if (m->ctx && m->file_off > SHLOG_FILE_HEADER_BYTES) {
            uint64_t at = m->file_off >= SHLOG_FILE_HEADER_BYTES + m->ctx_n ? m->file_off - m->ctx_n
                                                                             : SHLOG_FILE_HEADER_BYTES;
            out->bytes = m->ctx;
            out->n = m->ctx_n;
            out->off = at;
            if (m->place == KMSG_START)
                k->bytes += m->ctx_n;
            h->staged = p;
            return 1;
        }
    }
    out->bytes = m->frame;
    out->n = m->n;
    out->off = m->file_off;
    k->bytes += m->n;
    h->staged = NULL;
    h->handed = p;
    return 1;
}

static int host_feed(struct read_engine *e, struct source *s, struct read_feed *out)
{
    struct khost *h = s->feed_ctx;
    struct read_kafka *k = h->k;
    if (h->handed) {
        pend_free(k, h, h->handed);
        h->handed = NULL;
    }
    for (;;) {
        if (h->staged)
            return deliver(h, h->staged, out);
        if (h->first) {
            struct pend *p = h->first;
            h->first = p->next;
            if (!h->first)
                h->last = NULL;
            return deliver(h, p, out);
        }
        if (relieve(k, out))
            return 0;
        if (!e->follow && part_ended(k, h->part)) {
            /* Nothing more of it: its file is read to its end. */
            out->close = 1;
            s->done = 1;
            return 0;
        }
        struct read_ksrc_part p;
        read_ksrc_part(k->ks, h->part, &p);
        const struct khost *latest = k->parts[h->part].latest;
        if (!e->follow && latest && latest != h && p.last_ts_ms > 0 &&
            (uint64_t)p.last_ts_ms * 1000000ull > s->max_ts + SHLOG_ORDER_WINDOW_NS) {
            /* Another host's frame in its partition went past its last records by more than the window
             * with nothing of its own: it logs no more for now, and no longer holds the others back (a
             * message of its own takes it up again). Its own frames never do: one without an anchor (an
             * index frame) bears the shipper's clock, minutes past its records when shipped late. */
            s->done = 1;
            return 0;
        }
        int rc = pull(e, k, h->part, e->follow ? 0 : POLL_MS);
        if (rc < 0)
            return rc;
        if (rc == 0 && e->follow)
            return 0;
    }
}

/* ==== The topic ==== */

int read_kafka_open(struct read_engine *e, const char *url, uint64_t since_ns, int from_end, struct read_kafka **out,
                    char *err, size_t errcap)
{
    struct read_kafka *k = calloc(1, sizeof *k);
    if (!k || read_source_init(&k->src) != 0) {
        free(k);
        snprintf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    char brokers[4096];
    snprintf(k->url, sizeof k->url, "%s", url);
    if (shlog_kafka_url(url, brokers, sizeof brokers, k->topic, sizeof k->topic) != 0) {
        snprintf(err, errcap, "%s: not kafka://HOST:PORT[,HOST:PORT...]/TOPIC (a topic of [a-zA-Z0-9._-])", url);
        read_kafka_close(e, k);
        return -EINVAL;
    }
    k->since_ns = since_ns;
    k->from_end = from_end;
    const struct ksrc_options o = {.since_ns = since_ns, .from_end = from_end, .follow = e->follow,
                                   .per_partition = 1, .max_hosts = HOSTS_MAX, .host = e->filter->host};
    if (read_ksrc_open(&k->ks, url, &o, err, errcap) != 0) {
        read_kafka_close(e, k);
        return -EHOSTUNREACH;
    }
    k->nparts = read_ksrc_nparts(k->ks);
    if (!(k->parts = calloc(k->nparts, sizeof *k->parts))) {
        snprintf(err, errcap, "out of memory");
        read_kafka_close(e, k);
        return -ENOMEM;
    }
    k->src.feed = hub_feed;
    k->src.feed_ctx = k;
    hub_times(k);
    *out = k;
    return 0;
}

struct source *read_kafka_source(struct read_kafka *k)
{
    return &k->src;
}

int read_kafka_poll(struct read_engine *e, struct read_kafka *k, int timeout_ms)
{
    int taken = 0;
    for (size_t i = 0; i < k->nparts; i++) {
        int rc;
        while ((rc = pull(e, k, i, 0)) > 0)
            taken++;
        if (rc < 0)
            return rc;
    }
    if (!taken && timeout_ms > 0) {
        /* Nothing now: wait a while (each partition has its own queue, none wakes for all). */
        struct timespec t = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&t, NULL);
    }
    hub_times(k);
    return taken;
}

void read_kafka_totals(const struct read_kafka *k, struct read_kafka_total *t)
{
    t->files = k->files;
    t->bytes = k->bytes;
    t->resent = read_ksrc_counts(k->ks)->resent;
    t->partitions = k->nparts;
    t->partitions_skipped = read_ksrc_counts(k->ks)->partitions_skipped;
}

/* ==== The sites alone ==== */

/* The sites of bytes (whole frames) in a reader of them alone. 0, or -ENOMEM. */
static int scan_frames(struct read_engine *e, struct shlog_reader *rd, const void *bytes, size_t n, uint64_t off,
                       int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                       void *clientd)
{
    if (shlog_reader_push(rd, bytes, n, off) != 0)
        return -ENOMEM;
    return read_reader_each_site(e, rd, site, clientd);
}

int read_kafka_scan_sites(struct read_engine *e, struct read_kafka *k,
                          int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                          void *clientd)
{
    /* The messages the reader reads: from where it started to where it stops, read again. */
    struct ksrc_start *from = calloc(k->nparts ? k->nparts : 1, sizeof *from),
                      *to = calloc(k->nparts ? k->nparts : 1, sizeof *to);
    if (!from || !to) {
        free(from);
        free(to);
        return -ENOMEM;
    }
    for (size_t i = 0; i < k->nparts; i++) {
        struct read_ksrc_part p;
        read_ksrc_part(k->ks, i, &p);
        from[i] = (struct ksrc_start){p.id, p.first};
        to[i] = (struct ksrc_start){p.id, p.end};
    }
    const struct ksrc_options o = {.start = from, .nstart = k->nparts, .end = to, .nend = k->nparts,
                                   .max_hosts = HOSTS_MAX, .host = e->filter->host};
    struct ksrc *ks;
    char err[512];
    int rc = read_ksrc_open(&ks, k->url, &o, err, sizeof err);
    free(from);
    free(to);
    if (rc != 0)
        return 0; /* the records' pass says what is wrong */
    struct kmsg m;
    uint64_t last = shm_mono_ns();
    while (rc == 0) {
        int got = read_ksrc_next(ks, &m, POLL_MS, err, sizeof err);
        if (got < 0 || (got == 0 && (read_ksrc_done(ks) || shm_mono_ns() - last > STALL_NS)))
            break;
        if (got == 0)
            continue;
        last = shm_mono_ns();
        if (m.place != KMSG_NEXT && m.place != KMSG_START)
            continue;
        struct shlog_reader *rd;
        if (shlog_reader_open_frames(&rd, &m.hdr, k->topic, NULL, err, sizeof err) != 0) {
            rc = -ENOMEM;
            break;
        }
        shlog_reader_skip_records(rd, 1);
        if (e->frame_mem)
            shlog_reader_share_frame_mem(rd, e->frame_mem);
        if (m.ctx)
            rc = scan_frames(e, rd, m.ctx, m.ctx_n, SHLOG_FILE_HEADER_BYTES, site, clientd);
        if (rc == 0)
            rc = scan_frames(e, rd, m.frame, m.n, m.file_off, site, clientd);
        shlog_reader_close(rd);
    }
    read_ksrc_close(ks);
    return rc == -ENOMEM ? rc : 0;
}

void read_kafka_close(struct read_engine *e, struct read_kafka *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nhosts; i++) {
        struct khost *h = k->hosts[i];
        read_source_free(e, &h->src);
        if (h->handed)
            pend_free(k, h, h->handed);
        if (h->staged) {
            read_ksrc_release(h->staged->held);
            free(h->staged);
        }
        while (h->first) {
            struct pend *p = h->first;
            h->first = p->next;
            read_ksrc_release(p->held);
            free(p);
        }
        free(h);
    }
    free(k->hosts);
    read_hmap_clear(&k->by_name);
    read_ksrc_close(k->ks);
    read_source_free(e, &k->src);
    free(k->parts);
    free(k);
}
