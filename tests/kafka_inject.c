/*
 * kafka_inject.c - puts hostile messages into a topic shmlog-ship fills, for
 * tests/test_kafka.sh: garbage, a truncated frame, a frame claiming another
 * host than its key, a bad file header, a bad context, an empty value, and a
 * frame whose prefix is whole but whose zstd data is not (of a host "hostc").
 * One line per message on stdout: its name. Or, as an attacker who can read
 * and write the topic would: the file's first frame again under its own file
 * header at another offset (forge), under N host names no host has (hosts),
 * or under N headers of its host, number and second that no collector wrote
 * (incarnations: a file's creation time 1 to N ns into its second).
 *
 *   kafka_inject BOOTSTRAP TOPIC FILE     FILE: a .shlog whose first frame is used
 *   kafka_inject forge BOOTSTRAP TOPIC FILE OFFSET
 *   kafka_inject hosts BOOTSTRAP TOPIC FILE N
 *   kafka_inject incarnations BOOTSTRAP TOPIC FILE N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "shlog_file.h"

static rd_kafka_t *rk;

static void put_message(const char *name, const char *key, const void *value, size_t n, const uint8_t *file,
                 const uint8_t *off, const void *ctx, size_t ctx_n, const char *topic)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    if (file)
        rd_kafka_header_add(h, SHLOG_MSG_FILE, -1, file, SHLOG_FILE_HEADER_BYTES);
    if (off)
        rd_kafka_header_add(h, SHLOG_MSG_OFFSET, -1, off, 8);
    if (ctx)
        rd_kafka_header_add(h, SHLOG_MSG_CONTEXT, -1, ctx, ctx_n);
    rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                              RD_KAFKA_V_VALUE((void *)value, n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e) {
        fprintf(stderr, "kafka_inject: %s: %s\n", name, rd_kafka_err2str(e));
        exit(1);
    }
    printf("%s\n", name);
}

static void put_u64le(uint8_t out[8], uint64_t v)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

int main(int argc, char **argv)
{
    const char *mode = argc == 6 ? argv[1] : NULL;
    if (mode && (!strcmp(mode, "forge") || !strcmp(mode, "hosts") || !strcmp(mode, "incarnations"))) {
        argv++;
        argc--;
    } else if (argc != 4) {
        fprintf(stderr, "usage: kafka_inject [forge|hosts|incarnations] BOOTSTRAP TOPIC FILE [OFFSET|N]\n");
        return 2;
    }
    FILE *f = fopen(argv[3], "rb");
    static uint8_t buf[16 << 20];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    struct shlog_file_header hdr;
    if (n < SHLOG_FILE_HEADER_BYTES + SHLOG_FRAME_PREFIX_BYTES || shlog_file_header_decode(buf, n, &hdr)) {
        fprintf(stderr, "kafka_inject: %s: not a shmlog file\n", argv[3]);
        return 1;
    }
    const uint8_t *frame = buf + SHLOG_FILE_HEADER_BYTES;
    size_t fb = (size_t)shlog_frame_bytes(frame, n - SHLOG_FILE_HEADER_BYTES);
    if (!fb || SHLOG_FILE_HEADER_BYTES + fb > n) {
        fprintf(stderr, "kafka_inject: %s: no whole first frame\n", argv[3]);
        return 1;
    }
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK ||
        !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err)))) {
        fprintf(stderr, "kafka_inject: %s\n", err);
        return 1;
    }
    const char *topic = argv[2];
    uint8_t off128[8] = {SHLOG_FILE_HEADER_BYTES};
    if (mode) {
        uint64_t arg = strtoull(argv[4], NULL, 10);
        uint8_t file[SHLOG_FILE_HEADER_BYTES], off[8];
        if (!strcmp(mode, "forge")) {
            put_u64le(off, arg);
            put_message("forged-offset", hdr.host, frame, fb, buf, off, NULL, 0, topic);
        }
        for (uint64_t i = 0; strcmp(mode, "forge") && i < arg; i++) {
            struct shlog_file_header fh = hdr;
            if (!strcmp(mode, "hosts"))
                snprintf(fh.host, sizeof(fh.host), "flood%06llu", (unsigned long long)i);
            else
                fh.created_ns = hdr.created_ns / 1000000000ull * 1000000000ull + i + 1;
            shlog_file_header_encode(file, &fh);
            rd_kafka_poll(rk, 0);
            put_message(fh.host, fh.host, frame, fb, file, off128, NULL, 0, topic);
        }
        rd_kafka_flush(rk, 60000);
        int left = rd_kafka_outq_len(rk);
        rd_kafka_destroy(rk);
        return left ? 1 : 0;
    }
    /* A header of the file's host at a sequence number no collector used. */
    struct shlog_file_header h = hdr;
    h.file_seq = 999999;
    uint8_t own[SHLOG_FILE_HEADER_BYTES], other[SHLOG_FILE_HEADER_BYTES], hostc[SHLOG_FILE_HEADER_BYTES],
        junk[SHLOG_FILE_HEADER_BYTES];
    shlog_file_header_encode(own, &h);
    struct shlog_file_header o = h;
    snprintf(o.host, sizeof(o.host), "%s", strcmp(hdr.host, "hostb") ? "hostb" : "hosta");
    shlog_file_header_encode(other, &o);
    struct shlog_file_header c = hdr;
    snprintf(c.host, sizeof(c.host), "hostc");
    c.file_seq = 0;
    shlog_file_header_encode(hostc, &c);
    uint8_t garbage[1000];
    srand(7);
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)rand();
    memcpy(junk, garbage, sizeof(junk));
    static uint8_t broken[16 << 20];
    memcpy(broken, frame, fb);
    broken[SHLOG_FRAME_PREFIX_BYTES + (fb - SHLOG_FRAME_PREFIX_BYTES) / 2] ^= 0x5a;

    put_message("garbage", hdr.host, garbage, sizeof(garbage), NULL, NULL, NULL, 0, topic);
    put_message("truncated", hdr.host, frame, fb / 2, own, off128, NULL, 0, topic);
    put_message("other-host", hdr.host, frame, fb, other, off128, NULL, 0, topic);
    put_message("bad-file-header", hdr.host, frame, fb, junk, off128, NULL, 0, topic);
    put_message("bad-context", hdr.host, frame, fb, own, off128, garbage, sizeof(garbage), topic);
    put_message("empty", hdr.host, NULL, 0, own, off128, NULL, 0, topic);
    put_message("corrupt-zstd", "hostc", broken, fb, hostc, off128, NULL, 0, topic);
    rd_kafka_flush(rk, 30000);
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    return left ? 1 : 0;
}
