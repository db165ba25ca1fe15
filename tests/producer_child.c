/* Description: a producer process for tests/test_multiproc.c: writes a known sequence per thread, then exits, waits to be killed, or dies with a reserved record never committed. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmlog.h"

/*
 * usage: producer_child DIR APP CHILD THREADS RECORDS MODE
 *
 * Each thread t writes records seq = 0..RECORDS-1, "c=%u t=%u seq=%u", with a
 * string argument on every 8th (see child_string(): the reader recomputes it).
 * MODE:
 *   run   write everything, shmlog_shutdown(), exit 0
 *   kill  print "ready" on stdout once every thread has written RECORDS/100
 *         records, keep writing; when done, wait for SIGKILL
 *   hole  one thread: RECORDS records, then a 3-slot record reserved and never
 *         committed (what a crash between reserve and commit leaves), then
 *         RECORDS more with seq going on after the hole's; exit 0 without
 *         shmlog_shutdown()
 *   hole-late  as hole, with a record of no argument ("late commit") in the
 *         slot, and another such slot after the second RECORDS, then RECORDS
 *         more; prints "ready", commits both at the first line on stdin,
 *         prints "committed" and stays alive until stdin closes (threads
 *         preempted between their reserve and their commit, which run again)
 */

static unsigned child_id, records;
static const char *mode;
static unsigned threads_ready;
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;

/* Kept in step with the copy in test_multiproc.c. */
static size_t child_string(char *s, unsigned c, unsigned t, unsigned seq)
{
    size_t len = (seq / 8 * 11 + t * 3 + c) % 200;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + (c + t + seq + i) % 26);
    s[len] = 0;
    return len;
}

static void write_one(unsigned t, unsigned seq)
{
    char s[256];
    if (seq % 8 == 7) {
        child_string(s, child_id, t, seq);
        SHMLOG_INFO("c=%u t=%u seq=%u s=%s", child_id, t, seq, s);
    } else {
        SHMLOG_INFO("c=%u t=%u seq=%u", child_id, t, seq);
    }
}

static void *thread_main(void *arg)
{
    unsigned t = (unsigned)(uintptr_t)arg;
    shmlog_thread_init();
    unsigned ready_at = records / 100;
    for (unsigned seq = 0; seq < records; seq++) {
        write_one(t, seq);
        if (seq == ready_at) {
            pthread_mutex_lock(&ready_lock);
            threads_ready++;
            pthread_cond_broadcast(&ready_cond);
            pthread_mutex_unlock(&ready_lock);
        }
    }
    return NULL;
}

/* Reserves a record of `payload` bytes (a string argument; none when 0) the
 * way SHMLOG_LOG does, and returns without committing it: its head, and its
 * position in *pos. */
static uint8_t *reserve_and_abandon(size_t payload, uint64_t *pos)
{
    static uint64_t site_cache;
    const uint8_t types[1] = {SHMLOG_ARG_STR};
    uint32_t site = (uint32_t)shmlog__register_site(&site_cache, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, __FILE__, __LINE__,
                                                    __func__, payload ? "abandoned s=%s" : "late commit", NULL,
                                                    payload ? 1 : 0, types);
    if (!site) {
        fprintf(stderr, "producer_child: the abandoned record's site was refused\n");
        exit(3);
    }
    uint8_t *head = shmlog__begin(shmlog__rdtsc(), site, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE, payload, 0, pos);
    if (!head) {
        fprintf(stderr, "producer_child: could not reserve the abandoned record\n");
        exit(3);
    }
    /* no shmlog__commit(head, pos): this is the record a crash leaves */
    return head;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: producer_child DIR APP CHILD THREADS RECORDS run|kill|hole|hole-late\n");
        return 2;
    }
    child_id = (unsigned)strtoul(argv[3], NULL, 10);
    unsigned nthreads = (unsigned)strtoul(argv[4], NULL, 10);
    records = (unsigned)strtoul(argv[5], NULL, 10);
    mode = argv[6];
    if (nthreads == 0 || nthreads > 64 || records < 100) {
        fprintf(stderr, "producer_child: 1..64 threads and at least 100 records\n");
        return 2;
    }

    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.dir = argv[1];
    cfg.app = argv[2];
    cfg.quiet = 1;
    cfg.all_cpus = 1;
    cfg.ring_bytes = strcmp(mode, "kill") == 0 ? 64u << 20 : 16u << 20; /* both hold every record */
    int rc = shmlog_init(&cfg);
    if (rc) {
        fprintf(stderr, "producer_child: shmlog_init: %s\n", strerror(-rc));
        return 1;
    }

    int late = strcmp(mode, "hole-late") == 0;
    if (strcmp(mode, "hole") == 0 || late) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0 || shmlog_thread_init() != 0)
            return 1; /* every record in one ring: the hole sits between them */
        unsigned seq = 0;
        for (; seq < records; seq++)
            write_one(0, seq);
        uint64_t pos, pos2 = 0;
        uint8_t *head = reserve_and_abandon(late ? 0 : 100, &pos), *head2 = NULL;
        for (; seq < 2 * records; seq++)
            write_one(0, seq);
        if (late) {
            head2 = reserve_and_abandon(0, &pos2);
            for (; seq < 3 * records; seq++)
                write_one(0, seq);
            printf("ready\n");
            fflush(stdout);
            char buf[64];
            ssize_t got = read(0, buf, sizeof buf);
            if (got > 0) {
                shmlog__commit(head, pos);
                shmlog__commit(head2, pos2);
                printf("committed\n");
                fflush(stdout);
            }
            while (got > 0)
                got = read(0, buf, sizeof buf);
        }
        _exit(0);
    }

    pthread_t th[64];
    for (unsigned t = 0; t < nthreads; t++)
        if (pthread_create(&th[t], NULL, thread_main, (void *)(uintptr_t)t) != 0)
            return 1;
    if (strcmp(mode, "kill") == 0) {
        pthread_mutex_lock(&ready_lock);
        while (threads_ready < nthreads)
            pthread_cond_wait(&ready_cond, &ready_lock);
        pthread_mutex_unlock(&ready_lock);
        printf("ready\n");
        fflush(stdout);
    }
    for (unsigned t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    if (strcmp(mode, "kill") == 0)
        for (;;)
            pause();
    shmlog_shutdown();
    return 0;
}
