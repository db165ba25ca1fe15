/*
 * kafka_leader.c - prints the node id of the broker that leads the partition
 * of TOPIC holding messages (the one a single host's shipper fills), for
 * tests/test_ship_outage.sh, which kills a follower of it; -1 when no
 * partition holds any.
 *
 *   kafka_leader BOOTSTRAP TOPIC
 */
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#define TIMEOUT_MS 10000

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: kafka_leader BOOTSTRAP TOPIC\n");
        return 2;
    }
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_leader: %s\n", err);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "kafka_leader: %s\n", err);
        return 2;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "kafka_leader: %s: %s\n", argv[2],
                rd_kafka_err2str(e ? e : md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        return 1;
    }
    int leader = -1;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        const rd_kafka_metadata_partition_t *p = &md->topics[0].partitions[i];
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(rk, argv[2], p->id, &low, &high, TIMEOUT_MS) == 0 && high > 0)
            leader = p->leader;
    }
    printf("%d\n", leader);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return 0;
}
