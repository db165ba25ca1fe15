/*
 * kafka_source.c - a topic of shmlog frames read back (kafka_source.h): the
 * consumer (librdkafka, partitions assigned, never a consumer group), the
 * checks every message passes before its bytes are used, and each host's
 * place in its files.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "kafka_source.h"

#define META_TIMEOUT_MS 15000
#define RETRY_MS 200
/* How long a partition may be said unknown before it is taken as gone: a broker started again answers
 * before it knows the topic, and librdkafka finds the partition again by itself when it is let to. */
#define UNKNOWN_GRACE_MS 30000
#define RECENT_FILES 16 /* per host: the files whose frames may still come again */
/* One message is at most a frame (SHLOG_MAX_FRAME_RAW before compression, a
 * few MiB in practice) and its context: the fetches must take one whole. */
#define FETCH_MAX_BYTES "104857600"
#define RECEIVE_MAX_BYTES "209715200"
/* Read partition by partition, librdkafka's prefetch is per partition: a few
 * frames each, not its 64 MiB default. */
#define PART_PREFETCH_KBYTES "16384"
/* A partition's offsets asked while reading: a broker away must not hold a follower up for long. */
#define WATERMARK_MS 1000

/* A file is its header's (host, file_seq, created_ns, collector_pid): a
 * host re-imaged, whose collector numbers its files from 0 again, writes
 * other files than the old ones, and a header one reads off the topic names
 * the file it was copied from, no other. */
struct file_id {
    uint64_t seq, created_ns;
    uint32_t pid;
};

/* A run of frames each of which began where the one before it ended. */
struct chain {
    uint64_t lo, hi;
    uint64_t used;
};

/* A frame given, known by where it starts and a fingerprint of its bytes. */
struct frame_seen {
    uint64_t off, fp;
};

/* Where a file's frames were placed. A frame is skipped as sent again only
 * when a chain holds it and, among the last KEPT_FRAMES given, the frame
 * that started there had its bytes (or it starts below all of them): a
 * message at an offset no shipper reached starts a chain of its own, and the
 * real frames go on at the end of theirs, so no offset hides them. */
#define CHAINS 4
#define KEPT_FRAMES 32
struct file_pos {
    struct file_id id;
    uint64_t next; /* where the frame given last ends: a frame there goes on from it; UINT64_MAX: none yet */
    struct chain chains[CHAINS];
    unsigned nchains;
    struct frame_seen kept[KEPT_FRAMES];
    unsigned nkept, kept_next;
    uint64_t used; /* when it was last placed, to forget the oldest */
};

struct host_state {
    char name[SHMLOG_HOST_BYTES + 1];
    struct file_pos files[RECENT_FILES];
    unsigned nfiles;
};

struct part_state {
    int32_t id;
    int64_t first; /* where the read started */
    int64_t next;  /* the offset read up to */
    int64_t end;   /* not following: stop here */
    int64_t last_ts_ms;
    int eof;       /* following: the last look found nothing */
    uint64_t unknown_since_ms; /* said unknown since (UNKNOWN_GRACE_MS); 0: known */
    rd_kafka_queue_t *q; /* per_partition: its own queue */
};

struct ksrc {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt; /* held: librdkafka refreshes a leader it was told is wrong only for a topic it holds */
    char topic[256];
    int follow;
    int per_partition;
    struct part_state *parts;
    size_t nparts;
    struct host_state *hosts;
    size_t nhosts, hosts_cap;
    size_t max_hosts;       /* 0: no bound */
    char host[SHMLOG_HOST_BYTES]; /* the one host read; "": every one */
    int64_t since_ms;       /* --since: a frame sealed before it is EARLY; 0: none */
    struct read_ksrc_counts counts;
    uint64_t tick;
    rd_kafka_message_t *held; /* the message *m points into */
    struct shlog_file_header hdr;
    char last_error[256];
    /* What the reader is to say (read_ksrc_notice): librdkafka's warnings, written by its threads, and
     * offsets the brokers no longer have. */
    pthread_mutex_t notice_lock;
    char notice[600];
    unsigned notices;  /* since the reader last took one; only the first is kept */
    int notice_damage; /* one of them means messages not read */
};

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)err;
    struct ksrc *k = rd_kafka_opaque(rk);
    (void)opaque;
    if (k)
        snprintf(k->last_error, sizeof(k->last_error), "%s", reason);
}

__attribute__((format(printf, 3, 4)))
static void notify(struct ksrc *k, int damage, const char *fmt, ...)
{
    pthread_mutex_lock(&k->notice_lock);
    if (!k->notices++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(k->notice, sizeof k->notice, fmt, ap);
        va_end(ap);
    }
    k->notice_damage |= damage;
    pthread_mutex_unlock(&k->notice_lock);
}

/* librdkafka's warnings that it passes offsets by (an offset reset, one out of range) are kept to be said:
 * messages skipped in silence are what a reader must never do. The rest is noise here (errors come
 * through on_error). Called from librdkafka's threads. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    struct ksrc *k = rd_kafka_opaque(rk);
    if (!k || level > LOG_WARNING)
        return;
    if (!strcmp(fac, "OFFSET") || !strcmp(fac, "FETCH") || strstr(buf, "out of range") || strstr(buf, "offset reset"))
        notify(k, 0, "%s: librdkafka: %s", k->topic, buf);
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t errcap)
{
    char why[256];
    if (rd_kafka_conf_set(conf, key, val, why, sizeof(why)) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errcap, "kafka setting %s=%s: %s", key, val, why);
    return -1;
}

static struct part_state *part_of(struct ksrc *k, int32_t id)
{
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].id == id)
            return &k->parts[i];
    return NULL;
}

static uint64_t mono_ms(void)
{
    return shm_mono_ns() / 1000000u;
}

/* The brokers' offsets for time ms in every partition of tl, asked again
 * while a partition has no leader yet (a topic just made, a broker gone), up
 * to META_TIMEOUT_MS. */
static rd_kafka_resp_err_t offsets_for_time(struct ksrc *k, rd_kafka_topic_partition_list_t *tl, int64_t ms)
{
    uint64_t until = mono_ms() + META_TIMEOUT_MS;
    for (;;) {
        for (int i = 0; i < tl->cnt; i++) {
            tl->elems[i].offset = ms;
            tl->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(k->rk, tl, RETRY_MS * 5);
        for (int i = 0; i < tl->cnt && !e; i++)
            e = tl->elems[i].err;
        if (!e || mono_ms() >= until)
            return e;
        usleep(RETRY_MS * 1000);
    }
}

/* Whether partition id is in the list of n. */
static int listed(const int32_t *list, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == id)
            return 1;
    return 0;
}

/* The partitions the host map of topic gives host (FORMAT.md, "Hosts' partitions"), into list (cap of
 * them): how many; 0 when it cannot tell (no map, no entry, an entry of any partition, or no answer
 * within META_TIMEOUT_MS): every partition is read then. */
static size_t host_partitions(const char *brokers, const char *topic, const char *host, int32_t *list, size_t cap)
{
    char map[300], err[4800], group[64];
    if (shlog_host_map_topic(topic, map, sizeof map) != 0)
        return 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof(group), "shmlog-dump-%d", (int)getpid());
    if (set(conf, "bootstrap.servers", brokers, err, sizeof err) || set(conf, "group.id", group, err, sizeof err) ||
        set(conf, "enable.auto.commit", "false", err, sizeof err) ||
        set(conf, "enable.partition.eof", "true", err, sizeof err)) {
        rd_kafka_conf_destroy(conf);
        return 0;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk)
        return 0;
    size_t n = 0;
    int any = 0;
    int64_t lo = 0, hi = 0;
    uint64_t until = mono_ms() + META_TIMEOUT_MS;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, map, NULL);
    int there = rkt && !rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT_MS) && md->topic_cnt == 1 &&
                !md->topics[0].err && md->topics[0].partition_cnt == 1;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (there && !rd_kafka_query_watermark_offsets(rk, map, 0, &lo, &hi, META_TIMEOUT_MS) && hi > lo) {
        rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tl, map, 0)->offset = lo;
        int64_t next = lo;
        if (!rd_kafka_assign(rk, tl)) {
            while (next < hi && mono_ms() < until) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, RETRY_MS);
                if (!m)
                    continue;
                if (!m->err) {
                    next = m->offset + 1;
                    char v[16];
                    size_t vn = m->len < sizeof v - 1 ? m->len : sizeof v - 1;
                    memcpy(v, m->payload ? m->payload : "", vn);
                    v[vn] = '\0';
                    char *end;
                    long id = strtol(v, &end, 10);
                    if (m->key_len == strlen(host) && !memcmp(m->key, host, m->key_len)) {
                        if (!strcmp(v, SHLOG_HOST_MAP_ANY) || end == v || *end || id < 0 || id > INT32_MAX)
                            any = 1;
                        else if (!listed(list, n, (int32_t)id) && n < cap)
                            list[n++] = (int32_t)id;
                        else if (!listed(list, n, (int32_t)id))
                            any = 1;
                    }
                } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    next = m->offset > next ? m->offset : next;
                }
                rd_kafka_message_destroy(m);
            }
        }
        rd_kafka_topic_partition_list_destroy(tl);
        if (next < hi)
            any = 1; /* not read to its end in time: an entry not seen may name another partition */
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return any ? 0 : n;
}

int read_ksrc_open(struct ksrc **out, const char *url, const struct ksrc_options *o, char *err, size_t errcap)
{
    char brokers[4096];
    struct ksrc *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    pthread_mutex_init(&k->notice_lock, NULL);
    k->follow = o->follow;
    k->per_partition = o->per_partition;
    k->max_hosts = o->max_hosts;
    snprintf(k->host, sizeof k->host, "%s", o->host ? o->host : "");
    uint64_t since_ns = o->since_ns;
    k->since_ms = (int64_t)(since_ns / 1000000);
    /* From what comes after the open: as from a time, the frames before it only where the ones after need
     * them (check). */
    if (!since_ns && o->from_end)
        k->since_ms = (int64_t)(shm_real_ns() / 1000000);
    /* A message needs the context of one up to SHLOG_MSG_CONTEXT_EVERY_MS before it. */
    int64_t look_ms = k->since_ms ? k->since_ms - SHLOG_MSG_CONTEXT_LOOKBACK_MS : 0;
    if (shlog_kafka_url(url, brokers, sizeof(brokers), k->topic, sizeof(k->topic)) != 0) {
        snprintf(err, errcap, "%s: not kafka://HOST:PORT[,HOST:PORT...]/TOPIC", url);
        free(k);
        return -1;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof(group), "shmlog-dump-%d", (int)getpid());
    if (set(conf, "bootstrap.servers", brokers, err, errcap) || set(conf, "group.id", group, err, errcap) ||
        set(conf, "enable.auto.commit", "false", err, errcap) ||
        set(conf, "enable.auto.offset.store", "false", err, errcap) ||
        set(conf, "enable.partition.eof", "true", err, errcap) ||
        /* An offset the brokers do not have is the reader's to say and to go on from (take), never
         * librdkafka's to jump over in silence (its default: to the end). */
        set(conf, "auto.offset.reset", "error", err, errcap) ||
        set(conf, "fetch.max.bytes", FETCH_MAX_BYTES, err, errcap) ||
        set(conf, "receive.message.max.bytes", RECEIVE_MAX_BYTES, err, errcap) ||
        (o->per_partition && set(conf, "queued.max.messages.kbytes", PART_PREFETCH_KBYTES, err, errcap)) ||
        set(conf, "client.id", "shmlog-dump", err, errcap)) {
        rd_kafka_conf_destroy(conf);
        free(k);
        return -1;
    }
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, k);
    char why[512];
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!k->rk) {
        snprintf(err, errcap, "kafka: %s", why);
        free(k);
        return -1;
    }
    rd_kafka_topic_t *rkt = k->rkt = rd_kafka_topic_new(k->rk, k->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    /* A broker just started again may answer before it knows the topic:
     * asked again, as a partition whose leader is being chosen is below. */
    for (uint64_t until = mono_ms() + META_TIMEOUT_MS;; usleep(RETRY_MS * 1000)) {
        e = rd_kafka_metadata(k->rk, 0, rkt, &md, META_TIMEOUT_MS);
        int settled = !e && md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
                      md->topics[0].err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE;
        if (settled || mono_ms() >= until)
            break;
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
    }
    if (e || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        snprintf(err, errcap, "%s: %s", url,
                 e ? (k->last_error[0] ? k->last_error : rd_kafka_err2str(e))
                   : md->topic_cnt != 1 || !md->topics[0].err ? "the topic has no partitions"
                                                             : rd_kafka_err2str(md->topics[0].err));
        if (md)
            rd_kafka_metadata_destroy(md);
        read_ksrc_close(k);
        return -1;
    }
    size_t topic_parts = (size_t)md->topics[0].partition_cnt;
    int32_t *only = k->host[0] ? calloc(topic_parts, sizeof *only) : NULL;
    size_t nonly = only ? host_partitions(brokers, k->topic, k->host, only, topic_parts) : 0;
    /* A map that names only partitions the topic does not have tells nothing. */
    size_t known = 0;
    for (size_t i = 0; i < topic_parts; i++)
        known += listed(only, nonly, md->topics[0].partitions[i].id);
    if (!known)
        nonly = 0;
    k->parts = calloc(topic_parts, sizeof(*k->parts));
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)topic_parts);
    for (size_t i = 0; i < topic_parts && k->parts; i++) {
        int32_t id = md->topics[0].partitions[i].id;
        if (nonly && !listed(only, nonly, id))
            continue;
        k->parts[k->nparts++].id = id;
        rd_kafka_topic_partition_list_add(tl, k->topic, id)->offset = look_ms > 0 ? look_ms : RD_KAFKA_OFFSET_BEGINNING;
    }
    free(only);
    rd_kafka_metadata_destroy(md);
    k->counts.partitions_skipped = (uint32_t)(topic_parts - k->nparts);
    if (!k->parts) {
        snprintf(err, errcap, "out of memory");
        rd_kafka_topic_partition_list_destroy(tl);
        read_ksrc_close(k);
        return -1;
    }
    /* Each partition's offsets before its offset for a time is asked: "none at or after the time" then
     * starts at an end that every message stamped at or after it comes past, where an end asked after
     * would pass by the ones produced in between (a follower from now, open while the shippers send). */
    int64_t *lo = calloc((size_t)tl->cnt + 1, sizeof *lo), *hi = calloc((size_t)tl->cnt + 1, sizeof *hi);
    for (int i = 0; i < tl->cnt && lo && hi; i++) {
        rd_kafka_topic_partition_t *tp = &tl->elems[i];
        uint64_t until = mono_ms() + META_TIMEOUT_MS;
        while ((e = rd_kafka_query_watermark_offsets(k->rk, k->topic, tp->partition, &lo[i], &hi[i], RETRY_MS * 5)) &&
               mono_ms() < until)
            usleep(RETRY_MS * 1000); /* a partition whose leader is being chosen (a topic just made, a broker gone) */
        if (e) {
            snprintf(err, errcap, "%s: partition %d: %s", url, (int)tp->partition, rd_kafka_err2str(e));
            break;
        }
    }
    if (!lo || !hi || e) {
        if (!lo || !hi)
            snprintf(err, errcap, "out of memory");
        free(lo);
        free(hi);
        rd_kafka_topic_partition_list_destroy(tl);
        read_ksrc_close(k);
        return -1;
    }
    /* A time becomes each partition's first offset at or after it (the
     * messages carry their frame's seal time). */
    if (look_ms > 0 && (e = offsets_for_time(k, tl, look_ms)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errcap, "%s: the offsets for %s: %s", url, since_ns ? "--since" : "now", rd_kafka_err2str(e));
        free(lo);
        free(hi);
        rd_kafka_topic_partition_list_destroy(tl);
        read_ksrc_close(k);
        return -1;
    }
    for (int i = 0; i < tl->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &tl->elems[i];
        for (size_t s = 0; s < o->nstart; s++)
            if (o->start[s].partition == tp->partition)
                tp->offset = o->start[s].offset;
        struct part_state *p = part_of(k, tp->partition);
        p->end = hi[i];
        for (size_t s = 0; s < o->nend; s++)
            if (o->end[s].partition == tp->partition && o->end[s].offset < hi[i])
                p->end = o->end[s].offset;
        if (tp->offset == RD_KAFKA_OFFSET_END || tp->offset < 0)
            tp->offset = tp->offset == RD_KAFKA_OFFSET_BEGINNING ? lo[i] : hi[i]; /* -1 from a time: none at or after it */
        if (tp->offset < lo[i])
            tp->offset = lo[i];
        p->first = p->next = tp->offset;
        p->last_ts_ms = -1;
    }
    free(lo);
    free(hi);
    /* Its own queue per partition, the consumer's keeping librdkafka's events. Taken from the consumer's
     * before the assignment starts fetching: a queue taken after would leave the first fetches in the
     * consumer's, read after later ones, and their frames would look like ones a shipper sent again. */
    for (size_t i = 0; i < k->nparts && k->per_partition; i++) {
        k->parts[i].q = rd_kafka_queue_get_partition(k->rk, k->topic, k->parts[i].id);
        if (!k->parts[i].q) {
            snprintf(err, errcap, "%s: partition %d has no queue", url, (int)k->parts[i].id);
            rd_kafka_topic_partition_list_destroy(tl);
            read_ksrc_close(k);
            return -1;
        }
        rd_kafka_queue_forward(k->parts[i].q, NULL);
    }
    e = rd_kafka_assign(k->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e) {
        snprintf(err, errcap, "%s: %s", url, rd_kafka_err2str(e));
        read_ksrc_close(k);
        return -1;
    }
    *out = k;
    return 0;
}

int read_ksrc_done(const struct ksrc *k)
{
    if (k->follow)
        return 0;
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].next < k->parts[i].end)
            return 0;
    return 1;
}

size_t read_ksrc_positions(const struct ksrc *k, struct ksrc_start *out, size_t cap)
{
    size_t n = 0;
    for (; n < k->nparts && n < cap; n++)
        out[n] = (struct ksrc_start){k->parts[n].id, k->parts[n].next};
    return k->nparts;
}

size_t read_ksrc_nparts(const struct ksrc *k)
{
    return k->nparts;
}

void read_ksrc_part(const struct ksrc *k, size_t i, struct read_ksrc_part *out)
{
    const struct part_state *p = &k->parts[i];
    *out = (struct read_ksrc_part){p->id, p->first, p->next, p->end, p->last_ts_ms,
                              k->follow ? p->eof : p->next >= p->end};
}

const char *read_ksrc_last_error(const struct ksrc *k)
{
    return k->last_error;
}

/* Assigns every partition again from the offset each is read up to, partition p from offset: librdkafka's
 * fetch state for it made anew, and its queue its own again (as a queue that stopped after a leader change
 * may not be: librdkafka #4340). 0, or an error. */
static rd_kafka_resp_err_t reassign(struct ksrc *k, struct part_state *p, int64_t offset)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)k->nparts);
    p->next = offset;
    for (size_t i = 0; i < k->nparts; i++) {
        rd_kafka_topic_partition_list_add(tl, k->topic, k->parts[i].id)->offset = k->parts[i].next;
        if (k->parts[i].q)
            rd_kafka_queue_forward(k->parts[i].q, NULL); /* before the fetches start (read_ksrc_open) */
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(k->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    k->counts.reassigned++;
    return e;
}

int read_ksrc_unstick(struct ksrc *k, size_t part, int64_t *high)
{
    struct part_state *p = &k->parts[part];
    int64_t lo, hi;
    if (rd_kafka_query_watermark_offsets(k->rk, k->topic, p->id, &lo, &hi, WATERMARK_MS) || hi <= p->next)
        return 0;
    *high = hi;
    if (lo > p->next)
        notify(k, 1, "%s partition %d: offsets %" PRId64 " to %" PRId64 " are gone from the brokers (retention): "
               "not read", k->topic, (int)p->id, p->next, lo - 1);
    return reassign(k, p, lo > p->next ? lo : p->next) ? -1 : 1;
}

/* The brokers said they have no offset p->next (librdkafka stopped fetching it: auto.offset.reset): said,
 * and partition p read again from the nearest offset they have. */
static void out_of_range(struct ksrc *k, struct part_state *p)
{
    int64_t lo = 0, hi = 0, from = p->next;
    if (!rd_kafka_query_watermark_offsets(k->rk, k->topic, p->id, &lo, &hi, WATERMARK_MS)) {
        from = p->next < lo ? lo : p->next > hi ? hi : p->next;
        if (from != p->next)
            notify(k, 1, "%s partition %d: the brokers have offsets %" PRId64 " to %" PRId64 ", not %" PRId64
                   " (%s): read on from %" PRId64, k->topic, (int)p->id, lo, hi, p->next,
                   p->next < lo ? "older ones removed: not read" : "their log was cut back after a leader change",
                   from);
    }
    /* Not fetched until assigned again; with no answer, from where it was (asked again if it fails again). */
    reassign(k, p, from);
}

int read_ksrc_notice(struct ksrc *k, char *out, size_t cap, int *damage)
{
    pthread_mutex_lock(&k->notice_lock);
    unsigned n = k->notices;
    if (n > 1)
        snprintf(out, cap, "%s (and %u more like it)", k->notice, n - 1);
    else if (n)
        snprintf(out, cap, "%s", k->notice);
    *damage = k->notice_damage;
    k->notices = 0;
    k->notice_damage = 0;
    pthread_mutex_unlock(&k->notice_lock);
    return n > 0;
}

/* ==== Hosts ==== */

/* The state of host name, made when new; NULL past max_hosts (*over) or
 * out of memory. */
static struct host_state *host_of(struct ksrc *k, const char *name, int *over)
{
    *over = 0;
    for (size_t i = 0; i < k->nhosts; i++)
        if (!strcmp(k->hosts[i].name, name))
            return &k->hosts[i];
    if (k->max_hosts && k->nhosts >= k->max_hosts) {
        *over = 1;
        return NULL;
    }
    if (k->nhosts == k->hosts_cap) {
        size_t cap = k->hosts_cap ? k->hosts_cap * 2 : 16;
        struct host_state *nh = realloc(k->hosts, cap * sizeof(*nh));
        if (!nh)
            return NULL;
        k->hosts = nh;
        k->hosts_cap = cap;
    }
    struct host_state *h = &k->hosts[k->nhosts++];
    memset(h, 0, sizeof(*h));
    snprintf(h->name, sizeof(h->name), "%s", name);
    return h;
}

static int same_file(const struct file_id *a, const struct file_id *b)
{
    return a->seq == b->seq && a->created_ns == b->created_ns && a->pid == b->pid;
}

/* The file id of h, made when new (the least recently used one goes). */
static struct file_pos *file_of(struct ksrc *k, struct host_state *h, const struct file_id *id, int *made)
{
    *made = 0;
    for (unsigned i = 0; i < h->nfiles; i++)
        if (same_file(&h->files[i].id, id)) {
            h->files[i].used = ++k->tick;
            return &h->files[i];
        }
    struct file_pos *f = &h->files[h->nfiles < RECENT_FILES ? h->nfiles++ : 0];
    for (unsigned i = 0; i < h->nfiles; i++)
        if (h->files[i].used < f->used)
            f = &h->files[i];
    memset(f, 0, sizeof(*f));
    f->id = *id;
    f->next = UINT64_MAX; /* nothing given: its first frame starts a run */
    f->used = ++k->tick;
    *made = 1;
    return f;
}

/* Whether a frame at off of file id goes on from the one given last of it. */
static int goes_on(const struct host_state *h, const struct file_id *id, uint64_t off)
{
    for (unsigned i = 0; i < h->nfiles; i++)
        if (same_file(&h->files[i].id, id))
            return h->files[i].next == off;
    return 0;
}

int read_ksrc_seed(struct ksrc *k, const struct shlog_file_header *hdr, uint64_t next_off)
{
    int over, made;
    struct host_state *h = host_of(k, hdr->host, &over);
    if (!h)
        return over ? 0 : -ENOMEM;
    const struct file_id id = {hdr->file_seq, hdr->created_ns, hdr->collector_pid};
    struct file_pos *f = file_of(k, h, &id, &made);
    /* What the last run wrote is one chain, its frames older than any kept. */
    f->next = next_off;
    f->chains[0] = (struct chain){SHLOG_FILE_HEADER_BYTES, next_off, k->tick};
    f->nchains = next_off > SHLOG_FILE_HEADER_BYTES;
    return 0;
}

int read_ksrc_add_host(struct ksrc *k, const char *host)
{
    size_t max = k->max_hosts;
    int over;
    k->max_hosts = 0; /* a host the caller has already is taken past the bound */
    struct host_state *h = host_of(k, host, &over);
    k->max_hosts = max;
    return h ? 0 : -ENOMEM;
}

const struct read_ksrc_counts *read_ksrc_counts(const struct ksrc *k)
{
    return &k->counts;
}

/* ==== Where a frame goes in its file ==== */

static uint64_t fingerprint(const uint8_t *p, size_t n)
{
    /* The prefix's sizes, the start of the zstd data and its end (the
     * content checksum): who has not seen a frame cannot match it. */
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    size_t head = n < SHLOG_FRAME_PREFIX_BYTES + 64 ? n : SHLOG_FRAME_PREFIX_BYTES + 64;
    for (size_t i = 4; i < head; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    for (size_t i = n >= 16 ? n - 16 : 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* 1: the frame that started at off among the kept ones had these bytes, or
 * off is below every kept one (older than what is kept); 0: another frame
 * started there, or none did where the kept ones would show it. */
static int seen_before(const struct file_pos *f, uint64_t off, uint64_t fp)
{
    uint64_t lowest = UINT64_MAX;
    for (unsigned i = 0; i < f->nkept; i++) {
        if (f->kept[i].off == off)
            return f->kept[i].fp == fp;
        if (f->kept[i].off < lowest)
            lowest = f->kept[i].off;
    }
    return off < lowest;
}

static enum kmsg_place place(struct ksrc *k, struct file_pos *f, uint64_t off, uint64_t end, uint64_t fp)
{
    struct chain *c = NULL;
    for (unsigned i = 0; i < f->nchains && !c; i++)
        if (f->chains[i].hi == off)
            c = &f->chains[i];
    if (!c) {
        for (unsigned i = 0; i < f->nchains; i++)
            if (f->chains[i].lo <= off && end <= f->chains[i].hi && seen_before(f, off, fp))
                return KMSG_DUPLICATE;
        /* Starts a chain: in place of the one placed to least recently. */
        c = &f->chains[f->nchains < CHAINS ? f->nchains++ : 0];
        for (unsigned i = 0; i < f->nchains; i++)
            if (f->chains[i].used < c->used)
                c = &f->chains[i];
        c->lo = off;
    }
    enum kmsg_place p = off == f->next ? KMSG_NEXT : KMSG_START;
    c->hi = end;
    c->used = ++k->tick;
    f->next = end;
    f->kept[f->kept_next] = (struct frame_seen){off, fp};
    f->kept_next = (f->kept_next + 1) % KEPT_FRAMES;
    if (f->nkept < KEPT_FRAMES)
        f->nkept++;
    return p;
}

/* ==== Messages ==== */

__attribute__((format(printf, 2, 3)))
static int bad(struct kmsg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof(m->why), fmt, ap);
    va_end(ap);
    m->place = KMSG_BAD;
    return 1;
}

/* Bytes that are whole frames and nothing else. */
static int whole_frames(const uint8_t *p, size_t n)
{
    while (n) {
        uint64_t fb = shlog_frame_bytes(p, n);
        if (!fb || fb > n)
            return 0;
        p += fb;
        n -= (size_t)fb;
    }
    return 1;
}

static int check(struct ksrc *k, const rd_kafka_message_t *msg, struct kmsg *m)
{
    rd_kafka_headers_t *hs = NULL;
    const void *file = NULL, *off = NULL, *ctx = NULL, *sealed = NULL;
    size_t file_n = 0, off_n = 0, ctx_n = 0, sealed_n = 0;
    if (rd_kafka_message_headers(msg, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (rd_kafka_header_get_last(hs, SHLOG_MSG_FILE, &file, &file_n))
            file = NULL;
        if (rd_kafka_header_get_last(hs, SHLOG_MSG_OFFSET, &off, &off_n))
            off = NULL;
        if (rd_kafka_header_get_last(hs, SHLOG_MSG_CONTEXT, &ctx, &ctx_n))
            ctx = NULL;
    }
    if (!file || file_n != SHLOG_FILE_HEADER_BYTES || !off || off_n != 8)
        return bad(m, "no %s and %s headers: not a frame shmlog-ship sent", SHLOG_MSG_FILE, SHLOG_MSG_OFFSET);
    const char *why = shlog_file_header_decode(file, file_n, &m->hdr);
    if (why)
        return bad(m, "its %s header: %s", SHLOG_MSG_FILE, why);
    m->header = file;
    if (!shlog_host_name_ok(m->hdr.host))
        return bad(m, "its file header's host name is not one of [A-Za-z0-9._-] (a file name on a mirror)");
    if (msg->key_len != strlen(m->hdr.host) || memcmp(msg->key, m->hdr.host, msg->key_len) != 0)
        return bad(m, "keyed '%.*s' but its file header says host '%s': a frame claiming another host",
                   msg->key_len > 64 ? 64 : (int)msg->key_len, msg->key ? (const char *)msg->key : "",
                   m->hdr.host);
    const uint8_t *o = off;
    m->file_off = 0;
    for (int i = 7; i >= 0; i--)
        m->file_off = m->file_off << 8 | o[i];
    if (m->file_off < SHLOG_FILE_HEADER_BYTES)
        return bad(m, "its frame's offset %" PRIu64 " is inside the file header", m->file_off);
    uint64_t fb = msg->payload ? shlog_frame_bytes(msg->payload, msg->len) : 0;
    if (!fb || fb != msg->len)
        return bad(m, "its value (%zu bytes) is not one whole frame%s", msg->len,
                   fb > msg->len ? " (truncated)" : "");
    if (ctx && (!ctx_n || !whole_frames(ctx, ctx_n)))
        return bad(m, "its %s header is not whole frames", SHLOG_MSG_CONTEXT);
    if (hs && rd_kafka_header_get_last(hs, SHLOG_MSG_SEALED, &sealed, &sealed_n) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        uint64_t size = 0;
        for (int i = 7; sealed_n == 8 && i >= 0; i--)
            size = size << 8 | ((const uint8_t *)sealed)[i];
        if (sealed_n != 8 || size != m->file_off + msg->len)
            return bad(m, "its %s header does not say its file ends after this frame", SHLOG_MSG_SEALED);
        m->sealed = 1;
    }
    m->frame = msg->payload;
    m->n = msg->len;
    m->ctx = ctx_n ? ctx : NULL;
    m->ctx_n = ctx_n;
    if (k->host[0] && strcmp(k->host, m->hdr.host) != 0) {
        m->place = KMSG_OTHER;
        return 1;
    }
    int over;
    struct host_state *h = host_of(k, m->hdr.host, &over);
    if (!h && over) {
        k->counts.refused++;
        m->place = KMSG_REFUSED;
        return 1;
    }
    if (!h)
        return bad(m, "out of memory");
    const struct file_id id = {m->hdr.file_seq, m->hdr.created_ns, m->hdr.collector_pid};
    /* Sealed before --since, its records are all older: nothing a read from there wants (as a shipper's
     * second sending of an older frame, which comes after where the brokers' offset for the time started
     * it), unless the frames after it need it: one that goes on from the frame given last of its file, or
     * a run may start at (a file's first frame, or one with a context; the read starts before --since to
     * meet one: open). */
    if (k->since_ms && m->ts_ms >= 0 && m->ts_ms < k->since_ms && !m->ctx &&
        m->file_off != SHLOG_FILE_HEADER_BYTES && !goes_on(h, &id, m->file_off)) {
        m->place = KMSG_EARLY;
        return 1;
    }
    int made;
    struct file_pos *f = file_of(k, h, &id, &made);
    m->new_file = made;
    m->place = place(k, f, m->file_off, m->file_off + m->n, fingerprint(m->frame, m->n));
    if (m->place == KMSG_DUPLICATE)
        k->counts.resent++;
    return 1;
}

/* What a polled message is: 1 a message for the caller (*m filled, the
 * message held), 0 none (an end, or one past where reading stops), -1 an
 * error that ends reading. */
static int take(struct ksrc *k, rd_kafka_message_t *msg, struct kmsg *m, char *err, size_t errcap)
{
    struct part_state *p = part_of(k, msg->partition);
    if (p && (!msg->err || msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF))
        p->unknown_since_ms = 0;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        /* Everything below the end was read (offsets may skip, as after compaction). */
        if (p && !k->follow && msg->offset > p->next)
            p->next = msg->offset < p->end ? msg->offset : p->end;
        if (p)
            p->eof = 1;
        rd_kafka_message_destroy(msg);
        return 0;
    }
    if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && p) {
        out_of_range(k, p);
        rd_kafka_message_destroy(msg);
        return 0;
    }
    if (msg->err) {
        if (p && !p->unknown_since_ms &&
            (msg->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || msg->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION))
            p->unknown_since_ms = mono_ms();
        int fatal = msg->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
        snprintf(err, errcap, "%s: %s", k->topic, rd_kafka_message_errstr(msg));
        snprintf(k->last_error, sizeof(k->last_error), "%s", rd_kafka_message_errstr(msg));
        rd_kafka_message_destroy(msg);
        return fatal ? -1 : 0;
    }
    if (!p || (!k->follow && msg->offset >= p->end)) {
        rd_kafka_message_destroy(msg); /* past the end it had at open */
        return 0;
    }
    memset(m, 0, sizeof(*m));
    m->partition = msg->partition;
    m->part = (size_t)(p - k->parts);
    m->offset = msg->offset;
    k->held = msg;
    /* A partition's messages come in their order: one from before the last is not a frame sent again
     * (which its file offset would make it look like), and is said, never dropped in silence. */
    if (msg->offset < p->next)
        return bad(m, "came after offset %" PRId64 ": the partition was read out of order", p->next - 1);
    p->next = msg->offset + 1;
    p->eof = 0;
    m->ts_ms = rd_kafka_message_timestamp(msg, NULL);
    if (m->ts_ms >= 0)
        p->last_ts_ms = m->ts_ms;
    check(k, msg, m);
    return 1;
}

/* -1 (err said) when partition p was said unknown for longer than UNKNOWN_GRACE_MS, else 0. */
static int gone(struct ksrc *k, const struct part_state *p, char *err, size_t errcap)
{
    if (!p->unknown_since_ms || mono_ms() - p->unknown_since_ms <= UNKNOWN_GRACE_MS)
        return 0;
    snprintf(err, errcap, "%s partition %d: %s for %d s", k->topic, (int)p->id, k->last_error, UNKNOWN_GRACE_MS / 1000);
    return -1;
}

static void let_go(struct ksrc *k)
{
    if (k->held) {
        rd_kafka_message_destroy(k->held);
        k->held = NULL;
    }
}

int read_ksrc_next(struct ksrc *k, struct kmsg *m, int timeout_ms, char *err, size_t errcap)
{
    let_go(k);
    for (;;) {
        if (read_ksrc_done(k))
            return 0;
        for (size_t i = 0; i < k->nparts; i++)
            if (gone(k, &k->parts[i], err, errcap))
                return -1;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(k->rk, timeout_ms);
        if (!msg)
            return 0;
        int rc = take(k, msg, m, err, errcap);
        if (rc)
            return rc;
    }
}

int read_ksrc_next_in(struct ksrc *k, size_t part, struct kmsg *m, int timeout_ms, char *err, size_t errcap)
{
    let_go(k);
    struct part_state *p = &k->parts[part];
    for (;;) {
        if (gone(k, p, err, errcap))
            return -1;
        /* The consumer's own queue has librdkafka's errors and events now. */
        rd_kafka_message_t *ev = rd_kafka_consumer_poll(k->rk, 0);
        int rc = ev ? take(k, ev, m, err, errcap) : 0;
        if (rc)
            return rc;
        if (!k->follow && p->next >= p->end)
            return 0;
        rd_kafka_message_t *msg = rd_kafka_consume_queue(p->q, timeout_ms);
        if (!msg)
            return 0;
        rc = take(k, msg, m, err, errcap);
        if (rc || (k->follow && p->eof))
            return rc;
    }
}

struct ksrc_held *read_ksrc_take(struct ksrc *k)
{
    struct ksrc_held *h = (struct ksrc_held *)k->held;
    k->held = NULL;
    return h;
}

void read_ksrc_release(struct ksrc_held *h)
{
    if (h)
        rd_kafka_message_destroy((rd_kafka_message_t *)h);
}

void read_ksrc_close(struct ksrc *k)
{
    if (!k)
        return;
    let_go(k);
    for (size_t i = 0; i < k->nparts; i++)
        if (k->parts[i].q)
            rd_kafka_queue_destroy(k->parts[i].q); /* before the consumer closes */
    if (k->rkt)
        rd_kafka_topic_destroy(k->rkt);
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    pthread_mutex_destroy(&k->notice_lock);
    free(k->parts);
    free(k->hosts);
    free(k);
}
