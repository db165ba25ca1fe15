/*
 * kafka_source.h - a topic of shmlog frames (FORMAT.md, "Frames as
 * messages") read back: every partition, from the start, from a time
 * (the brokers' offsets for times) or from given offsets; each message checked
 * (key, headers, one whole frame, whole context frames) before anything uses
 * it, and placed in its host's stream of files: the next frame, a frame that
 * starts a run (a new file, or after a gap: its context comes first), or one
 * already seen (a shipper that sent it again).
 */
#ifndef KAFKA_SOURCE_H
#define KAFKA_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "shlog_file.h"

enum kmsg_place {
    KMSG_BAD = 0,   /* not a frame of ours: why says what (reported, never used) */
    KMSG_NEXT,      /* the frame after the last one of its host's file */
    KMSG_START,     /* starts a run of its file: read its context first */
    KMSG_DUPLICATE, /* its host's stream already had it */
};

struct kmsg {
    enum kmsg_place place;
    int32_t partition;
    int64_t offset;                  /* in the partition */
    const char *host;                /* the file header's, which the key matches */
    const struct shlog_file_header *hdr;
    const uint8_t *header;           /* its 128 bytes */
    uint64_t file_off;               /* where the frame is in its file */
    const uint8_t *frame;            /* one whole frame */
    size_t n;
    const uint8_t *ctx;              /* whole frames, or NULL */
    size_t ctx_n;
    int new_file;                    /* START: of a file its host had not had yet */
    char why[320];                   /* BAD */
};

struct ksrc;

/* A partition's position to start from. */
struct ksrc_start {
    int32_t partition;
    int64_t offset;
};

/* Opens kafka://BROKERS/TOPIC: every partition from since_ns (0: the
 * beginning), or from the positions in start (n of them; the others from
 * since_ns). follow: wait for new messages; else stop at the ends the
 * partitions had at open. 0, or -1 with err set. */
int ksrc_open(struct ksrc **out, const char *url, uint64_t since_ns, int follow, const struct ksrc_start *start,
              size_t n, char *err, size_t errcap);
/* The next message: 1 with *m filled (valid until the next call), 0 when
 * none came within timeout_ms or (not following) every partition is at its
 * end (ksrc_done), -1 on an error that ends reading (err says it). */
int ksrc_next(struct ksrc *k, struct kmsg *m, int timeout_ms, char *err, size_t errcap);
int ksrc_done(const struct ksrc *k);
/* The partitions and the offset each is read up to (the next one). */
size_t ksrc_positions(const struct ksrc *k, struct ksrc_start *out, size_t cap);
/* A host's stream starts after file_seq's frames before next_off (a run
 * resumed): what comes at next_off is NEXT. */
int ksrc_seed(struct ksrc *k, const char *host, uint64_t file_seq, uint64_t next_off);
void ksrc_close(struct ksrc *k);

#endif /* KAFKA_SOURCE_H */
