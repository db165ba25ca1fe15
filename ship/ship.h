/*
 * ship.h - shmlog-ship's private header, in the order its files call one
 * another (each only the ones above it): kafka.c (the producer: topic, messages, acknowledgements; struct
 * kafka), follow.c (the collector's output directory: files in number order,
 * whole frames, the open .part up to its last complete frame; struct follow)
 * and shmlog-ship.c (options, the program's state, the loop, the state file,
 * metrics), which alone holds both structs and hands each to its calls.
 */
#ifndef SHIP_H
#define SHIP_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "clock.h"
#include "say.h"
#include "shlog_file.h"

#define PROG "shmlog-ship"


/* How far the files were taken: every file below seq, and off bytes of seq
 * (0: nothing of it). */
struct cursor {
    uint64_t seq, off;
};

/* ==== kafka.c ==== */

struct kafka_options {
    char brokers[4096];
    char topic[256];
    int partitions;             /* when creating the topic */
    int partition;              /* every message's (--partition); RD_KAFKA_PARTITION_UA: the partitioner's by host */
    int replication;            /* when creating it; 0: min(3, brokers) */
    const char *props[64];      /* -X key=value, handed to librdkafka */
    int nprops;
};

/* A message produced and not yet acknowledged, or the start of a file
 * (bytes 0: it is acknowledged once everything before it is). */
struct inflight {
    struct cursor at;   /* the cursor once it and all before it are acknowledged */
    uint64_t bytes;     /* the frame's */
    uint64_t ctx_bytes; /* its context header's */
    uint64_t wire_bytes; /* the message's: key, value, headers' names and values */
    uint64_t records;
    uint64_t sealed_ns;
    int done;           /* 1 acknowledged, -1 failed */
};

struct kafka_counters {
    uint64_t messages, bytes, ctx_bytes, ctx_messages, wire_bytes, records; /* acknowledged */
    uint64_t broker_errors;  /* errors librdkafka reported (brokers down, ...) */
};

/* The producer's state. librdkafka's callbacks write only here (the
 * delivery reports mark q, errors count and set fatal); kafka_poll and
 * kafka_flush turn the marks into acked, which the loop reads. */
struct kafka {
    struct kafka_options opt;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    /* In flight, in production order */
    struct inflight *q;
    size_t qcap, qhead, qlen;
    uint64_t qbase;   /* message number of q[qhead] */
    uint64_t inflight_bytes;
    uint64_t inflight_msgs;
    struct cursor acked;
    int topic_partitions;
    int32_t partition;       /* the host's messages': --partition, the murmur2 hash of the host, or
                              * RD_KAFKA_PARTITION_UA (a partitioner named with -X partitioner=) */
    rd_kafka_topic_t *map_rkt; /* the host map's topic; NULL: the topic's name leaves no room for one */
    char map_host[SHMLOG_HOST_BYTES + 1]; /* the host whose entry in the map was produced */
    int map_done;            /* and acknowledged: its frames may go */
    char fatal[512];  /* set when a message failed for good */
    uint64_t error_said_ns; /* when a broker error was last written out */
    struct kafka_counters n;
};

/* Connects and waits until the topic is there (creating it), unless *stop is
 * set first; everything before start counts as acknowledged. 0, or -1 after a
 * line on stderr. */
int kafka_init(struct kafka *k, const struct kafka_options *opt, struct cursor start,
               const volatile sig_atomic_t *stop);
/* Queues a message: the frame (the buffer is given to librdkafka), the
 * header of its file, its key, its context and where it ends; sealed: it
 * ends its closed file (end.off is the file's size). 0, or -1 after a line
 * on stderr. */
int kafka_produce(struct kafka *k, void *frame, size_t n, const uint8_t file_header[SHLOG_FILE_HEADER_BYTES],
                  const char *key, const struct shlog_context_out *cx, struct cursor end, int sealed);
/* Whether another message may be produced: fewer than max_bytes and than
 * UNACKED_MAX (kafka.c) messages wait for their acknowledgement. */
int kafka_room(const struct kafka *k, uint64_t max_bytes);
/* Whether host's frames may be produced: 1 once the host map's entry that
 * names their partition was acknowledged; 0 until then (the entry is
 * produced at the first call for a host; kafka_poll serves its answer). */
int kafka_host_mapped(struct kafka *k, const char *host);
/* A file's start, acknowledged with what comes before it. */
void kafka_mark(struct kafka *k, struct cursor at);
/* Serves acknowledgements, waiting up to ms; moves k->acked. */
void kafka_poll(struct kafka *k, int ms);
/* Waits up to ms for every message to be acknowledged. */
void kafka_flush(struct kafka *k, int ms);
/* Age at now of the oldest frame not yet acknowledged, by its seal time. */
uint64_t kafka_lag_ns(const struct kafka *k, uint64_t now);
void kafka_close(struct kafka *k);

/* ==== follow.c ==== */

struct follow_counters {
    uint64_t damaged_bytes;  /* of sealed files, between frames: not shipped */
    uint64_t damaged_frames; /* shipped as they are, though they do not decode */
    uint64_t torn;           /* sealed files that end inside a frame */
    uint64_t files_gone;     /* files removed before they were shipped whole */
    uint64_t files;          /* files started */
};

/* The follower's state: the directory and the file being read. */
struct follow {
    const char *dir;           /* the collector's --out */
    uint64_t max_inflight;     /* bytes produced, not yet acknowledged, at most */
    struct cursor start;       /* where the state file said shipping stood */
    int dirfd;
    /* The file being read */
    int fd;
    uint64_t seq;
    int part;         /* opened as .part: sealed once the name is gone */
    int sealed;
    char name[256];
    uint8_t header[SHLOG_FILE_HEADER_BYTES];
    struct shlog_file_header hdr;
    uint64_t off;     /* the next frame to read starts here */
    uint64_t next_seq; /* the file to look for when none is open */
    int at_end;       /* nothing more to read now */
    struct shlog_context *ctx;
    int ctx_over_said;
    uint64_t sent_end;      /* where the last frame produced of this file ends; 0: none yet */
    uint64_t ctx_sent_ms;   /* the timestamp of the last of its messages that carried a context */
    /* The last frame produced of this file, to send again marked sealed
     * (SHLOG_MSG_SEALED) when the file is closed after it went */
    struct last_frame {
        uint64_t off, bytes; /* bytes 0: none */
        uint8_t *ctx;        /* its context, copied */
        size_t ctx_n, ctx_cap;
        uint64_t sealed_ns;
        int marked;          /* it went marked */
    } last;
    struct follow_counters n;
};

/* Opens the directory, waiting for it while it does not exist, unless *stop
 * is set first; shipping resumes at start. 0, or -1 (after a line on stderr
 * unless stopped). */
int follow_init(struct follow *fl, const char *dir, uint64_t max_inflight, struct cursor start,
                const volatile sig_atomic_t *stop);
/* Reads what is there and produces it through k, up to the in-flight bound:
 * 1 if it made progress, 0 if there is nothing to do now. Exits on what it
 * cannot go on from. */
int follow_step(struct follow *fl, struct kafka *k);
/* Bytes of the directory's files after acked. */
uint64_t follow_lag_bytes(const struct follow *fl, struct cursor acked);

#endif /* SHIP_H */
