/*
 * kafka_source.h - a topic of shmlog frames (FORMAT.md, "Frames as
 * messages") read back: every partition (of one host, those the topic's host
 * map gives it), from the start, from a time
 * (the brokers' offsets for times), from the end, or from given offsets;
 * each message checked (key, headers, one whole frame, whole context frames)
 * before anything uses it, and placed in its host's stream of files: the
 * next frame, a frame that starts a run (a new file, or after a gap: its
 * context comes first), or one already seen (a shipper that sent it again).
 * A file is its header's host, number, creation time and collector pid, so a
 * re-imaged host's new file 0 is not its old one.
 * Read as one stream of messages (read_ksrc_next: the mirror), or partition by
 * partition (read_ksrc_next_in: the reader's engine, which reads the partitions
 * furthest behind in time first).
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
    KMSG_REFUSED,   /* of a host past ksrc_options.max_hosts (counted, never used) */
    KMSG_EARLY,     /* sealed before since_ns: none of its records is wanted (never used) */
    KMSG_OTHER,     /* of a host ksrc_options.host does not name (not counted, never used) */
};

struct kmsg {
    enum kmsg_place place;
    int32_t partition;
    size_t part;                     /* its index among the partitions (read_ksrc_part) */
    int64_t offset;                  /* in the partition */
    int64_t ts_ms;                   /* the message's timestamp: its frame's seal time; -1: none */
    struct shlog_file_header hdr;    /* its file's header; hdr.host is the key */
    const uint8_t *header;           /* its 128 bytes */
    uint64_t file_off;               /* where the frame is in its file */
    const uint8_t *frame;            /* one whole frame */
    size_t n;
    const uint8_t *ctx;              /* whole frames, or NULL */
    size_t ctx_n;
    int new_file;                    /* START: of a file its host had not had yet */
    int sealed;                      /* the last frame of its file, which was closed (shlog.sealed) */
    char why[320];                   /* BAD */
};

struct ksrc;

/* A partition's position to start from. */
struct ksrc_start {
    int32_t partition;
    int64_t offset;
};

/* Where a read starts, and how it goes on. */
struct ksrc_options {
    uint64_t since_ns;               /* from the first message at or after it; 0: from the beginning */
    int from_end;                    /* without since_ns: from what comes after the open */
    int follow;                      /* wait for new messages; else stop at the ends the partitions had at open */
    int per_partition;               /* read with read_ksrc_next_in, not read_ksrc_next */
    const struct ksrc_start *start;  /* these partitions from these offsets (the others as above) */
    size_t nstart;
    const struct ksrc_start *end;    /* not following: stop these partitions here, not at their ends */
    size_t nend;
    size_t max_hosts;                /* hosts taken, at most; the messages of others are REFUSED. 0: no bound */
    const char *host;                /* this host's messages only, the others OTHER; NULL: every host's.
                                      * Read from the partitions the topic's host map gives it, when it
                                      * gives some; else from every one */
};

/* What was not used, and why. */
struct read_ksrc_counts {
    uint64_t resent;  /* DUPLICATE: frames a shipper sent again */
    uint64_t refused; /* REFUSED: messages of hosts past max_hosts */
    uint32_t partitions_skipped; /* the topic's partitions not read: the host map puts none of host's frames there */
    uint64_t reassigned; /* times the partitions were assigned again: a stalled one (read_ksrc_unstick), or
                          * one at an offset the brokers do not have */
};

/* Opens kafka://BROKERS/TOPIC. 0, or -1 with err set. */
int read_ksrc_open(struct ksrc **out, const char *url, const struct ksrc_options *o, char *err, size_t errcap);
/* The next message: 1 with *m filled (valid until the next call, or until
 * read_ksrc_release of what read_ksrc_take took), 0 when none came within timeout_ms
 * or (not following) every partition is at its end (read_ksrc_done), -1 on an
 * error that ends reading (err says it). */
int read_ksrc_next(struct ksrc *k, struct kmsg *m, int timeout_ms, char *err, size_t errcap);
/* read_ksrc_next of partition index part alone (a ksrc opened per_partition); 0
 * also once that partition is at its end. */
int read_ksrc_next_in(struct ksrc *k, size_t part, struct kmsg *m, int timeout_ms, char *err, size_t errcap);
/* The message the last read_ksrc_next gave is the caller's: its bytes stay until
 * read_ksrc_release(the pointer returned). */
struct ksrc_held *read_ksrc_take(struct ksrc *k);
void read_ksrc_release(struct ksrc_held *h);
int read_ksrc_done(const struct ksrc *k);
/* A partition as read so far. */
struct read_ksrc_part {
    int32_t id;
    int64_t first, next, end; /* where the read started, the offset read up to, where it stops */
    int64_t last_ts_ms;       /* the timestamp of the last message read; -1: none yet */
    int at_end;               /* not following: nothing more comes; following: none for now */
};
size_t read_ksrc_nparts(const struct ksrc *k);
void read_ksrc_part(const struct ksrc *k, size_t i, struct read_ksrc_part *out);
/* What librdkafka last said was wrong (brokers away...), or "". */
const char *read_ksrc_last_error(const struct ksrc *k);
/* The partitions and the offset each is read up to (the next one). */
size_t read_ksrc_positions(const struct ksrc *k, struct ksrc_start *out, size_t cap);
/* The file of hdr's stream starts after its frames before next_off (a run
 * resumed): what comes at next_off is NEXT, and the host counts against
 * max_hosts. 0, or -ENOMEM. */
int read_ksrc_seed(struct ksrc *k, const struct shlog_file_header *hdr, uint64_t next_off);
/* A host taken, whatever max_hosts says (one the caller already has). 0, or -ENOMEM. */
int read_ksrc_add_host(struct ksrc *k, const char *host);
const struct read_ksrc_counts *read_ksrc_counts(const struct ksrc *k);
/* Partition index part, from which nothing came for a while: when the brokers have offsets past the one
 * it is read up to (*high: their end), its fetching is started again from there (every partition
 * assigned again): 1; 0 when they have none (or did not answer), -1 when the assignment failed. */
int read_ksrc_unstick(struct ksrc *k, size_t part, int64_t *high);
/* What the reader is to say since it last asked: librdkafka's warnings that it passes offsets by, and
 * offsets the brokers no longer have (*damage: messages were not read). 1 with out filled, or 0. */
int read_ksrc_notice(struct ksrc *k, char *out, size_t cap, int *damage);
void read_ksrc_close(struct ksrc *k);

#endif /* KAFKA_SOURCE_H */
