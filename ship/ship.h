/*
 * ship.h - shmlog-ship's private header: its options, its state, and the
 * calls between its files: shmlog-ship.c (options, the loop, the state file,
 * metrics), follow.c (the collector's output directory: files in number
 * order, whole frames, the open .part up to its last complete frame) and
 * kafka.c (the producer: topic, messages, acknowledgements).
 */
#ifndef SHIP_H
#define SHIP_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "shlog_file.h"

#define PROG "shmlog-ship"

struct ship_options {
    const char *dir;            /* the collector's --out */
    char brokers[4096];
    char topic[256];
    const char *state;          /* --state FILE */
    const char *metrics_file;
    unsigned metrics_interval_s;
    int once;
    int partitions;             /* when creating the topic */
    int replication;            /* when creating it; 0: min(3, brokers) */
    uint64_t max_inflight;      /* bytes produced, not yet acknowledged, at most */
    unsigned poll_ms;           /* how often an idle shipper looks for new frames */
    const char *props[64];      /* -X key=value, handed to librdkafka */
    int nprops;
};

/* How far the files were taken: every file below seq, and off bytes of seq
 * (0: nothing of it). */
struct cursor {
    uint64_t seq, off;
};

/* A message produced and not yet acknowledged, or the start of a file
 * (bytes 0: it is acknowledged once everything before it is). */
struct inflight {
    struct cursor at;   /* the cursor once it and all before it are acknowledged */
    uint64_t bytes;     /* the frame's */
    uint64_t ctx_bytes; /* its context header's */
    uint64_t records;
    uint64_t sealed_ns;
    int done;           /* 1 acknowledged, -1 failed */
};

struct ship_counters {
    uint64_t messages, bytes, ctx_bytes, records; /* acknowledged */
    uint64_t broker_errors;  /* errors librdkafka reported (brokers down, ...) */
    uint64_t damaged_bytes;  /* of sealed files, between frames: not shipped */
    uint64_t damaged_frames; /* shipped as they are, though they do not decode */
    uint64_t torn;           /* sealed files that end inside a frame */
    uint64_t files_gone;     /* files removed before they were shipped whole */
    uint64_t files;          /* files started */
    uint64_t state_errors;   /* state file writes that failed */
};

struct ship {
    struct ship_options opt;
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
    /* The last frame produced of this file, to send again marked sealed
     * (SHLOG_MSG_SEALED) when the file is closed after it went */
    struct last_frame {
        uint64_t off, bytes; /* bytes 0: none */
        uint8_t *ctx;        /* its context, copied */
        size_t ctx_n, ctx_cap;
        uint64_t sealed_ns;
        int marked;          /* it went marked */
    } last;
    /* In flight, in production order */
    struct inflight *q;
    size_t qcap, qhead, qlen;
    uint64_t qbase;   /* message number of q[qhead] */
    uint64_t inflight_bytes;
    struct cursor acked;
    char fatal[512];  /* set when a message failed for good */
    struct ship_counters n;
    rd_kafka_t *rk;
};

extern struct ship S;
extern volatile sig_atomic_t stop_requested;

void warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t real_ns(void);
uint64_t mono_ns(void);

/* follow.c */
/* Opens the directory, finds where to start from the cursor. */
int follow_init(struct cursor start);
/* Reads and produces what is there, up to the in-flight bound: 1 if it made
 * progress, 0 if there is nothing to do now. Exits on what it cannot go on
 * from. */
int follow_step(void);
/* Bytes of the directory's files not yet acknowledged. */
uint64_t follow_lag_bytes(void);

/* kafka.c */
int kafka_init(void);
/* Queues a message: the frame (the buffer is given to librdkafka), its
 * context and where it ends; sealed: it ends its closed file (end.off is the
 * file's size). 0, or -1 after a line on stderr. */
int kafka_produce(void *frame, size_t n, const struct shlog_context_out *cx, struct cursor end, int sealed);
/* A file's start, acknowledged with what comes before it. */
void kafka_mark(struct cursor at);
/* Serves acknowledgements, waiting up to ms; moves S.acked. */
void kafka_poll(int ms);
/* Waits up to ms for every message to be acknowledged. */
void kafka_flush(int ms);
void kafka_close(void);

#endif /* SHIP_H */
