/*
 * kafka.c - shmlog-ship's producer: librdkafka with idempotence and
 * acks=all, messages that never time out (the files are the buffer), the
 * topic created when missing, and the acknowledgements that move the cursor.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ship.h"

/* Kafka refuses a request over its socket.request.max.bytes (100 MiB by
 * default); a frame is at most 64 MiB before compression (SHLOG_MAX_FRAME_RAW)
 * and in practice a few MiB after it. */
#define MESSAGE_MAX_BYTES 100000000
#define TOPIC_MESSAGE_MAX_BYTES "99000000"
#define METADATA_TIMEOUT_MS 10000
/* An idempotent producer keeps at most 5 requests in flight a partition
 * (RD_KAFKA_IDEMP_MAX_INFLIGHT), and librdkafka (2.0.2 to this day) wakes its
 * broker thread at once, without sending, while a message waits behind them:
 * when acknowledgements stall (acks=all and a follower killed: about 3 s
 * until the controller fences it) it spins a core. With no more messages
 * than that window in its hands, none ever waits. */
#define UNACKED_MAX 5
/* The opaque of a host map entry, which no message number reaches. */
#define MAP_ENTRY ((void *)UINTPTR_MAX)

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 2) /* errors come through on_error, once a minute; warnings are transient */
        shm_warn(PROG, "kafka: %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka *k = opaque;
    k->n.broker_errors++;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[400];
        rd_kafka_fatal_error(rk, why, sizeof(why));
        snprintf(k->fatal, sizeof(k->fatal), "the producer failed for good: %s", why);
        return;
    }
    /* Brokers down say so every few seconds: one line a minute is enough,
     * the metrics count every one. */
    uint64_t now = shm_mono_ns();
    if (!k->error_said_ns || now - k->error_said_ns > 60000000000ull) {
        k->error_said_ns = now;
        shm_warn(PROG, "kafka: %s (the files keep what is not shipped; retrying)", reason);
    }
}

static struct inflight *q_at(struct kafka *k, uint64_t msgno)
{
    if (msgno < k->qbase || msgno - k->qbase >= k->qlen)
        return NULL;
    return &k->q[(k->qhead + (msgno - k->qbase)) % k->qcap];
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct kafka *k = opaque;
    if (m->_private == MAP_ENTRY) {
        if (!m->err && m->key_len == strlen(k->map_host) && !memcmp(m->key, k->map_host, m->key_len))
            k->map_done = 1;
        else if (m->err && !k->fatal[0])
            snprintf(k->fatal, sizeof(k->fatal), "the host map's entry for %s was refused: %s (the topic %s "
                     "must be there, or creatable, and writable)", k->map_host, rd_kafka_err2str(m->err),
                     rd_kafka_topic_name(k->map_rkt));
        return;
    }
    struct inflight *f = q_at(k, (uint64_t)(uintptr_t)m->_private);
    if (!f)
        return;
    if (m->err) {
        f->done = -1;
        if (!k->fatal[0])
            snprintf(k->fatal, sizeof(k->fatal), "file %" PRIu64 ": the frame before offset %" PRIu64 " (%zu bytes) "
                     "was refused: %s", f->at.seq, f->at.off, m->len, rd_kafka_err2str(m->err));
        return;
    }
    f->done = 1;
}

static int q_push(struct kafka *k, struct inflight f)
{
    if (k->qlen == k->qcap) {
        size_t ncap = k->qcap ? k->qcap * 2 : 1024;
        struct inflight *nq = malloc(ncap * sizeof(*nq));
        if (!nq)
            return -ENOMEM;
        for (size_t i = 0; i < k->qlen; i++)
            nq[i] = k->q[(k->qhead + i) % k->qcap];
        free(k->q);
        k->q = nq;
        k->qcap = ncap;
        k->qhead = 0;
    }
    k->q[(k->qhead + k->qlen) % k->qcap] = f;
    k->qlen++;
    k->inflight_bytes += f.bytes + f.ctx_bytes;
    k->inflight_msgs += f.bytes != 0;
    return 0;
}

/* The acknowledged messages at the front move the cursor. */
static void q_advance(struct kafka *k)
{
    while (k->qlen && k->q[k->qhead].done == 1) {
        struct inflight *f = &k->q[k->qhead];
        k->acked = f->at;
        if (f->bytes) {
            k->n.messages++;
            k->n.bytes += f->bytes;
            k->n.ctx_bytes += f->ctx_bytes;
            k->n.ctx_messages += f->ctx_bytes > 0;
            k->n.wire_bytes += f->wire_bytes;
            k->n.records += f->records;
        }
        k->inflight_bytes -= f->bytes + f->ctx_bytes;
        k->inflight_msgs -= f->bytes != 0;
        k->qhead = (k->qhead + 1) % k->qcap;
        k->qlen--;
        k->qbase++;
    }
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char err[512];
    if (rd_kafka_conf_set(conf, key, val, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, PROG ": kafka setting %s=%s: %s\n", key, val, err);
        return -1;
    }
    return 0;
}

/* The number of brokers, and whether the topic is there: 1 yes, 0 no, -1 no answer. */
static int topic_state(struct kafka *k, rd_kafka_topic_t *rkt, int *brokers, int *partitions)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(k->rk, 0, rkt, &md, METADATA_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    *brokers = md->broker_cnt;
    int there = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0;
    *partitions = there ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    return there;
}

/* The topic name of partitions partitions; kept: its messages are never
 * deleted (the host map, which readers trust as long as frames are there). */
static int create_topic(struct kafka *k, const char *name, int partitions, int brokers, int kept)
{
    int rf = k->opt.replication ? k->opt.replication : brokers < 3 ? brokers : 3;
    char err[512], isr[16];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, rf, err, sizeof(err));
    if (!nt) {
        fprintf(stderr, PROG ": topic %s: %s\n", name, err);
        return -1;
    }
    /* Two copies must have a message before it counts as written, where
     * there are three; frames of up to MESSAGE_MAX_BYTES. */
    snprintf(isr, sizeof(isr), "%d", rf >= 3 ? 2 : 1);
    rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", isr);
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", TOPIC_MESSAGE_MAX_BYTES);
    if (kept)
        rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
    rd_kafka_queue_t *rq = rd_kafka_queue_new(k->rk);
    rd_kafka_CreateTopics(k->rk, &nt, 1, NULL, rq);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(rq, METADATA_TIMEOUT_MS * 3);
    int rc = -1;
    if (!ev) {
        shm_warn(PROG, "topic %s: no answer to its creation yet", name);
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        if (!e && n == 1)
            e = rd_kafka_topic_result_error(tr[0]);
        if (!e || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            if (!e)
                shm_warn(PROG, "created topic %s: %d partitions, replication factor %d, min.insync.replicas %s",
                      name, partitions, rf, isr);
            rc = 0;
        } else {
            shm_warn(PROG, "topic %s: cannot create it: %s", name,
                  n == 1 && rd_kafka_topic_result_error_string(tr[0]) ? rd_kafka_topic_result_error_string(tr[0])
                                                                     : rd_kafka_err2str(e));
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(rq);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* The host map's topic, made when missing (a failure to make it shows as
 * its entry refused, kafka_host_mapped). */
static void map_init(struct kafka *k, int brokers)
{
    char name[300];
    if (shlog_host_map_topic(k->opt.topic, name, sizeof(name)) != 0) {
        shm_warn(PROG, "topic %s: no room for a host map's name (%s.hosts is past Kafka's 249 characters): "
                 "readers of one host read every partition", k->opt.topic, k->opt.topic);
        return;
    }
    k->map_rkt = rd_kafka_topic_new(k->rk, name, NULL);
    int partitions = 0;
    if (topic_state(k, k->map_rkt, &brokers, &partitions) == 0)
        create_topic(k, name, 1, brokers, 1);
}

/* The partition of host's messages. */
static int32_t partition_of(const struct kafka *k, const char *host)
{
    if (k->opt.partition != RD_KAFKA_PARTITION_UA)
        return k->opt.partition;
    for (int i = 0; i < k->opt.nprops; i++)
        if (!strncmp(k->opt.props[i], "partitioner=", strlen("partitioner=")))
            return RD_KAFKA_PARTITION_UA;
    /* librdkafka's murmur2 partitioner (Kafka's Java clients' hash), computed here so that the map says it
     * and the messages are given it: a host stays in its partition if the topic gains some. */
    return rd_kafka_msg_partitioner_murmur2(k->rkt, host, strlen(host), k->topic_partitions, NULL, NULL);
}

int kafka_host_mapped(struct kafka *k, const char *host)
{
    if (!strcmp(k->map_host, host))
        return k->map_done;
    snprintf(k->map_host, sizeof(k->map_host), "%s", host);
    k->partition = partition_of(k, host);
    k->map_done = !k->map_rkt;
    if (k->map_done)
        return 1;
    char value[16];
    if (k->partition == RD_KAFKA_PARTITION_UA)
        snprintf(value, sizeof(value), "%s", SHLOG_HOST_MAP_ANY);
    else
        snprintf(value, sizeof(value), "%d", (int)k->partition);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_RKT(k->map_rkt), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(host, strlen(host)),
        RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(MAP_ENTRY), RD_KAFKA_V_END);
    if (e)
        k->map_host[0] = '\0'; /* a full queue: produced again at the next call */
    return 0;
}

/* 0 when the --partition asked for is one of the topic's, else -1 after a line. */
static int partition_ok(const struct kafka *k, int partitions)
{
    if (k->opt.partition == RD_KAFKA_PARTITION_UA || k->opt.partition < partitions)
        return 0;
    fprintf(stderr, PROG ": --partition %d: topic %s has %d partitions (0 to %d)\n", k->opt.partition, k->opt.topic,
            partitions, partitions - 1);
    return -1;
}

int kafka_init(struct kafka *k, const struct kafka_options *opt, struct cursor start,
               const volatile sig_atomic_t *stop)
{
    k->opt = *opt;
    k->acked = start;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512], max[32];
    snprintf(max, sizeof(max), "%d", MESSAGE_MAX_BYTES);
    /* Idempotence keeps a host's frames in order and once per broker
     * retry; no timeout: an outage holds the messages, the files hold the
     * rest; frames are zstd already. */
    if (set(conf, "bootstrap.servers", k->opt.brokers) || set(conf, "enable.idempotence", "true") ||
        set(conf, "acks", "all") || set(conf, "message.timeout.ms", "0") || set(conf, "linger.ms", "5") ||
        set(conf, "compression.type", "none") || set(conf, "message.max.bytes", max) ||
        set(conf, "partitioner", "murmur2_random") || set(conf, "queue.buffering.max.kbytes", "2097151") ||
        set(conf, "client.id", PROG)) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    for (int i = 0; i < k->opt.nprops; i++) {
        char kv[1024];
        snprintf(kv, sizeof(kv), "%s", k->opt.props[i]);
        char *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, PROG ": -X %s: not KEY=VALUE\n", k->opt.props[i]);
            rd_kafka_conf_destroy(conf);
            return -1;
        }
        *eq = '\0';
        if (set(conf, kv, eq + 1)) {
            rd_kafka_conf_destroy(conf);
            return -1;
        }
    }
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!k->rk) {
        fprintf(stderr, PROG ": kafka: %s\n", err);
        return -1;
    }
    k->rkt = rd_kafka_topic_new(k->rk, k->opt.topic, NULL);
    /* The topic, once the brokers answer: until then nothing is read from the files. */
    int said = 0;
    for (;;) {
        int brokers = 0, partitions = 0, there = topic_state(k, k->rkt, &brokers, &partitions);
        /* A cluster still coming up shows a broker its metadata has not
         * caught up with yet: a topic made now would have fewer replicas. */
        for (int i = 0; there == 0 && !k->opt.replication && brokers < 3 && i < 3; i++) {
            int again = 0;
            rd_kafka_poll(k->rk, 1000);
            if (topic_state(k, k->rkt, &again, &partitions) == 0 && again > brokers)
                brokers = again;
        }
        if (there == 0 && create_topic(k, k->opt.topic, k->opt.partitions, brokers, 0) == 0) {
            there = 1;
            partitions = k->opt.partitions; /* made just now, with these */
        }
        if (there == 1) {
            if (partition_ok(k, partitions))
                return -1;
            k->topic_partitions = partitions;
            map_init(k, brokers);
            return 0;
        }
        if (!said++)
            shm_warn(PROG, "kafka %s: no answer about topic %s yet; retrying", k->opt.brokers, k->opt.topic);
        if (*stop)
            return -1;
        rd_kafka_poll(k->rk, 1000);
    }
}

int kafka_produce(struct kafka *k, void *frame, size_t n, const uint8_t file_header[SHLOG_FILE_HEADER_BYTES],
                  const char *key, const struct shlog_context_out *cx, struct cursor end, int sealed)
{
    uint8_t off[8], size[8];
    uint64_t at = end.off - n;
    for (int i = 0; i < 8; i++) {
        off[i] = (uint8_t)(at >> (8 * i));
        size[i] = (uint8_t)(end.off >> (8 * i));
    }
    uint64_t msgno = k->qbase + k->qlen;
    uint64_t wire = strlen(key) + n + strlen(SHLOG_MSG_FILE) + SHLOG_FILE_HEADER_BYTES + strlen(SHLOG_MSG_OFFSET) +
                    sizeof(off) + (cx->ctx_n ? strlen(SHLOG_MSG_CONTEXT) + cx->ctx_n : 0) +
                    (sealed ? strlen(SHLOG_MSG_SEALED) + sizeof(size) : 0);
    for (;;) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(4);
        rd_kafka_header_add(h, SHLOG_MSG_FILE, -1, file_header, SHLOG_FILE_HEADER_BYTES);
        rd_kafka_header_add(h, SHLOG_MSG_OFFSET, -1, off, sizeof(off));
        if (cx->ctx_n)
            rd_kafka_header_add(h, SHLOG_MSG_CONTEXT, -1, cx->ctx, cx->ctx_n);
        if (sealed)
            rd_kafka_header_add(h, SHLOG_MSG_SEALED, -1, size, sizeof(size));
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_PARTITION(k->partition), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(frame, n),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_TIMESTAMP(cx->sealed_ns ? (int64_t)(cx->sealed_ns / 1000000) : 0),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)msgno), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        rd_kafka_headers_destroy(h);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, PROG ": file %" PRIu64 " offset %" PRIu64 ": cannot produce: %s\n", end.seq, at,
                    rd_kafka_err2str(e));
            free(frame);
            return -1;
        }
        kafka_poll(k, 100);
    }
    struct inflight f = {end, n, cx->ctx_n, wire, cx->records, cx->sealed_ns, 0};
    if (q_push(k, f)) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    return 0;
}

int kafka_room(const struct kafka *k, uint64_t max_bytes)
{
    return k->inflight_bytes < max_bytes && k->inflight_msgs < UNACKED_MAX;
}

void kafka_mark(struct kafka *k, struct cursor at)
{
    struct inflight f = {at, 0, 0, 0, 0, 0, 1};
    if (q_push(k, f)) {
        fprintf(stderr, PROG ": out of memory\n");
        exit(1);
    }
    q_advance(k);
}

void kafka_poll(struct kafka *k, int ms)
{
    rd_kafka_poll(k->rk, ms);
    q_advance(k);
}

void kafka_flush(struct kafka *k, int ms)
{
    rd_kafka_flush(k->rk, ms);
    q_advance(k);
}

uint64_t kafka_lag_ns(const struct kafka *k, uint64_t now)
{
    for (size_t i = 0; i < k->qlen; i++) {
        const struct inflight *f = &k->q[(k->qhead + i) % k->qcap];
        if (f->bytes && f->sealed_ns)
            return now > f->sealed_ns ? now - f->sealed_ns : 0;
    }
    return 0;
}

void kafka_close(struct kafka *k)
{
    if (k->map_rkt)
        rd_kafka_topic_destroy(k->map_rkt);
    if (k->rkt)
        rd_kafka_topic_destroy(k->rkt);
    if (k->rk)
        rd_kafka_destroy(k->rk);
}
