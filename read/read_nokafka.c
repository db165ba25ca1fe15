/*
 * read_nokafka.c - libshmlog-read built without librdkafka (meson
 * -Dkafka=disabled): a kafka:// input gets one error that says so.
 */
#include <errno.h>
#include <stdio.h>

#include "read_engine.h"

int read_kafka_open(struct read_engine *e, const char *url, uint64_t since_ns, int from_end, struct read_kafka **out,
                    char *err, size_t errcap)
{
    (void)e, (void)since_ns, (void)from_end;
    *out = NULL;
    snprintf(err, errcap, "%s: kafka:// is not built in (this build has no librdkafka: meson -Dkafka=enabled)", url);
    return -ENOTSUP;
}

/* Never reached: there is no struct read_kafka to call them with. */
struct source *read_kafka_source(struct read_kafka *k)
{
    (void)k;
    return NULL;
}

int read_kafka_poll(struct read_engine *e, struct read_kafka *k, int timeout_ms)
{
    (void)e, (void)k, (void)timeout_ms;
    return -ENOTSUP;
}

int read_kafka_scan_sites(struct read_engine *e, struct read_kafka *k,
                          int (*site)(void *clientd, const struct shm_proc_info *p, const struct shm_site *s),
                          void *clientd)
{
    (void)e, (void)k, (void)site, (void)clientd;
    return 0;
}

void read_kafka_totals(const struct read_kafka *k, struct read_kafka_total *t)
{
    (void)k;
    *t = (struct read_kafka_total){0};
}

void read_kafka_close(struct read_engine *e, struct read_kafka *k)
{
    (void)e, (void)k;
}
