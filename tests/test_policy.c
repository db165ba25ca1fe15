/* Description: what a full ring does under each policy (drop and count, overwrite the oldest, spin until released), the live log level set in-process or from another process, a refused call site, the collector's fast read of one-slot records (shm_ring_take) against shm_ring_next, and the progress line producers publish at each sixteenth of the ring. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"
#include "shmlog.h"
#include "test_util.h"

#define CAP 1024u /* records in the smallest ring */

static char dir[TU_DIR_MAX];
static struct tu_proc proc;
static struct shm_ring_view *ring; /* the ring of cpu 0, where this test's thread writes */

static void dir_up(void) { cr_assert_eq(tu_mkdtemp(dir, sizeof dir, "policy"), 0); }

static void dir_down(void)
{
    tu_proc_close(&proc);
    shmlog_shutdown();
    tu_rmtree(dir);
}

/* A producer with rings of CAP records and the given policy; the calling
 * thread pinned to cpu 0, whose ring is opened read-write (as the collector
 * does) into `ring`. */
static void producer_up(int policy)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "policy";
    cfg.dir = dir;
    cfg.policy = policy;
    cfg.ring_bytes = CAP * SHMLOG_RECORD_BYTES;
    cfg.quiet = 1;
    int rc = shmlog_init(&cfg);
    cr_assert_eq(rc, 0, "shmlog_init: %s", strerror(-rc));
    cr_assert_eq(tu_pin_self(0), 0);
    cr_assert_eq(shmlog_thread_init(), 0);
    char err[512] = "";
    cr_assert_eq(tu_proc_open(&proc, dir, "policy", (uint32_t)getpid(), 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(proc.nrings, 1, "only the ring of cpu 0 was made");
    ring = &proc.ring[0];
    cr_assert_eq(ring->cpu, 0);
    cr_assert_eq(ring->policy, (uint32_t)policy);
}

/* Collects the first u32 argument (a sequence number) of every record. */
struct seqs {
    uint32_t n;
    uint32_t v[64 * 1024];
    uint64_t pos[64 * 1024];
};

static int collect_seq(const struct shm_copied_record *rec, const struct shm_ring_view *v, void *ctx)
{
    (void)v;
    struct seqs *s = ctx;
    uint32_t seq = UINT32_MAX;
    tu_arg_u32(rec, 0, &seq);
    if (s->n < 64 * 1024) {
        s->pos[s->n] = rec->pos;
        s->v[s->n++] = seq;
    }
    return 0;
}

/* ==== DROP ==== */

Test(policy, drop_counts_exactly_what_was_not_written, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    const uint32_t attempts = CAP + 476;
    for (uint32_t seq = 0; seq < attempts; seq++)
        SHMLOG_INFO("seq=%u", seq);
    cr_assert_eq(shm_ring_head(ring), CAP, "the ring is exactly full");
    cr_assert_eq(shm_ring_dropped(ring), attempts - CAP);
    cr_assert_eq(ring->hdr->dropped, attempts - CAP, "the ring header counts the drops");
    cr_assert_eq(ring->hdr->drop_bytes, (uint64_t)(attempts - CAP) * 4, "and their payload bytes");
    cr_assert_eq(shmlog_dropped(), attempts - CAP, "shmlog_dropped() agrees");

    static struct seqs got;
    uint64_t pos = 0;
    struct tu_drain_stats st = {0};
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, &st), SHM_READ_EMPTY);
    cr_assert_eq(got.n, CAP);
    for (uint32_t i = 0; i < CAP; i++)
        cr_assert_eq(got.v[i], i, "the oldest records are kept, in order: at %u seq %u", i, got.v[i]);
    cr_assert_eq(st.loss_events, 0, "drops are counted by the producer, not seen as holes");

    /* Space released by the reader is used again; the count does not move. */
    shm_ring_release(ring, pos);
    for (uint32_t seq = 5000; seq < 5010; seq++)
        SHMLOG_INFO("seq=%u", seq);
    got.n = 0;
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, NULL), SHM_READ_EMPTY);
    cr_assert_eq(got.n, 10);
    cr_assert_eq(got.v[0], 5000);
    cr_assert_eq(shmlog_dropped(), attempts - CAP);
}

Test(policy, drop_refuses_a_record_that_does_not_fit_whole, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    for (uint32_t seq = 0; seq < CAP - 4; seq++)
        SHMLOG_INFO("seq=%u", seq);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    SHMLOG_INFO("seq=%u s=%s", 9999u, big); /* 6 slots: does not fit the 4 left */
    cr_assert_eq(shmlog_dropped(), 1);
    cr_assert_eq(shm_ring_head(ring), CAP - 4, "nothing of it was reserved");
    for (uint32_t seq = CAP - 4; seq < CAP; seq++)
        SHMLOG_INFO("seq=%u", seq); /* the 4 one-slot records still fit */
    cr_assert_eq(shmlog_dropped(), 1);
    cr_assert_eq(shm_ring_head(ring), CAP);
    static struct seqs got;
    uint64_t pos = 0;
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, NULL), SHM_READ_EMPTY);
    cr_assert_eq(got.n, CAP);
    cr_assert_eq(got.v[CAP - 1], CAP - 1);
}

/* ==== OVERWRITE ==== */

Test(policy, overwrite_keeps_the_newest_and_reports_the_loss, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_OVERWRITE);
    const uint32_t written = 5 * CAP + 123;
    for (uint32_t seq = 0; seq < written; seq++)
        SHMLOG_INFO("seq=%u", seq);
    cr_assert_eq(shm_ring_head(ring), written, "nothing refused");
    cr_assert_eq(shmlog_dropped(), 0);

    uint64_t pos = 0;
    struct shm_copied_record rec;
    struct shm_loss loss;
    cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_LOSS);
    cr_assert_eq(loss.reason, SHM_LOSS_OVERWRITTEN);
    cr_assert_eq(loss.first_pos, 0);
    cr_assert_eq(loss.positions, written - CAP);
    cr_assert_eq(pos, written - CAP);
    static struct seqs got;
    struct tu_drain_stats st = {0};
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, &st), SHM_READ_EMPTY);
    cr_assert_eq(st.loss_events, 0);
    cr_assert_eq(got.n, CAP, "the newest cap records");
    for (uint32_t i = 0; i < CAP; i++)
        cr_assert_eq(got.v[i], written - CAP + i);
}

/* Records of 1..8 slots: the oldest record still whole starts somewhere in
 * the last cap positions; from there on every record is there. */
Test(policy, overwrite_with_records_of_every_size, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_OVERWRITE);
    char s[SHMLOG_MAX_PAYLOAD];
    const uint32_t written = 3000;
    for (uint32_t seq = 0; seq < written; seq++) {
        size_t len = (seq * 37) % 420;
        memset(s, 'a' + seq % 26, len);
        s[len] = 0;
        SHMLOG_INFO("seq=%u s=%s", seq, s);
    }
    uint64_t head = shm_ring_head(ring);
    uint64_t pos = 0;
    static struct seqs got;
    struct tu_drain_stats st = {0};
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, &st), SHM_READ_EMPTY);
    cr_assert_eq(st.loss_events, 1, "one loss: everything before the window");
    uint64_t lost = st.lost_positions[SHM_LOSS_OVERWRITTEN];
    cr_assert(lost <= got.pos[0] && got.pos[0] - lost < SHMLOG_MAX_SLOTS,
              "the loss runs up to the first record (or the pad before it): %llu, %llu", (unsigned long long)lost,
              (unsigned long long)got.pos[0]);
    cr_assert_geq(got.pos[0], head - CAP, "the first record read lies in the last cap positions");
    cr_assert_leq(got.pos[0], head - CAP + 2 * SHMLOG_MAX_SLOTS, "and is the oldest whole one there");
    cr_assert_eq(got.v[got.n - 1], written - 1, "the newest record is last");
    for (uint32_t i = 1; i < got.n; i++)
        cr_assert_eq(got.v[i], got.v[i - 1] + 1, "contiguous after the loss: %u then %u", got.v[i - 1], got.v[i]);
}

/* A reader racing a writer that laps it: every record it returns is whole
 * (its string matches its seq), records come in order, and what it misses
 * is reported as overwritten. */
struct lapping_writer {
    uint32_t records;
    int done;
};

static size_t lap_string(char *s, uint32_t seq)
{
    size_t len = (seq * 29) % 400;
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + (seq + i) % 26);
    s[len] = 0;
    return len;
}

static void *lapping_writer_main(void *arg)
{
    struct lapping_writer *w = arg;
    if (tu_pin_self(0) != 0)
        return NULL;
    char s[512];
    for (uint32_t seq = 0; seq < w->records; seq++) {
        lap_string(s, seq);
        SHMLOG_INFO("seq=%u s=%s", seq, s);
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

Test(policy, overwrite_reader_racing_the_writer_never_returns_a_torn_record, .init = dir_up, .fini = dir_down,
     .timeout = 30)
{
    producer_up(SHMLOG_OVERWRITE);
    cr_assert_eq(tu_pin_self(tu_allowed_cpus() > 1 ? 1 : 0), 0, "reader on the other cpu");
    struct lapping_writer w = {.records = 400000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, lapping_writer_main, &w), 0);
    uint64_t pos = 0, records = 0, losses = 0;
    int64_t last = -1;
    char want[512];
    for (;;) {
        int done = __atomic_load_n(&w.done, __ATOMIC_ACQUIRE);
        struct shm_copied_record rec;
        struct shm_loss loss;
        int st;
        while ((st = shm_ring_next(ring, &pos, &rec, 0, &loss)) != SHM_READ_EMPTY) {
            if (st == SHM_READ_PENDING)
                continue; /* the writer is mid-record: look again */
            if (st == SHM_READ_LOSS) {
                cr_assert_eq(loss.reason, SHM_LOSS_OVERWRITTEN, "reason %u", loss.reason);
                losses++;
                continue;
            }
            uint32_t seq = 0;
            const uint8_t *b = NULL;
            size_t len = 0;
            int cut = 1;
            cr_assert_eq(tu_arg_u32(&rec, 0, &seq), 0);
            cr_assert_gt((int64_t)seq, last, "records in order: %u after %lld", seq, (long long)last);
            size_t want_len = lap_string(want, seq);
            cr_assert(tu_arg_str(&rec, 4, &b, &len, &cut) > 0 && len == want_len && !cut &&
                          memcmp(b, want, len) == 0,
                      "seq %u at %llu: torn record (len %zu, expected %zu)", seq, (unsigned long long)rec.pos, len,
                      want_len);
            last = seq;
            records++;
        }
        if (done)
            break;
    }
    pthread_join(th, NULL);
    cr_assert_eq(last, (int64_t)w.records - 1, "the newest record is read last");
    cr_assert_gt(losses, 0, "a writer lapping the reader shows as overwritten loss");
    cr_log_info("read %llu of %u records, %llu loss events", (unsigned long long)records, w.records,
                (unsigned long long)losses);
}

/* The same race made certain: the reader's copy of a record is stopped in
 * the middle (its continuation slot's page is made unreadable, the fault
 * handler runs the writer a full lap, then lets the copy go on). The reader
 * must notice the record changed under it and report it overwritten. */
static uint8_t *trap_page;
static unsigned trapped;

static void write_lap(void)
{
    for (uint32_t i = 0; i < CAP; i++)
        SHMLOG_INFO("lap i=%u", i);
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    uint8_t *at = si->si_addr;
    if (!trap_page || at < trap_page || at >= trap_page + 4096) {
        signal(sig, SIG_DFL); /* a real crash: let it happen */
        return;
    }
    trapped++;
    write_lap(); /* the hot path takes no lock: fine in a handler */
    mprotect(trap_page, 4096, PROT_READ);
    trap_page = NULL;
}

Test(policy, overwrite_writer_lapping_mid_copy_is_reported_not_returned, .init = dir_up, .fini = dir_down,
     .timeout = 20)
{
    producer_up(SHMLOG_OVERWRITE);
    write_lap(); /* registers the site outside the handler; fills positions 0..CAP-1 */
    /* Records of 3 slots from position CAP + 63: their head slot ends a page
     * of the ring, their continuation slots start the next one. */
    for (uint32_t i = 0; i < 63; i++)
        SHMLOG_INFO("seq=%u", i);
    char s[101];
    memset(s, 's', 100);
    s[100] = 0;
    SHMLOG_INFO("seq=%u s=%s", 63u, s);
    uint64_t pos = CAP + 63;
    cr_assert_eq(shm_ring_head(ring), pos + 3);
    uint8_t *cont = (uint8_t *)ring->slots + (((pos + 1) & ring->mask) << 6);
    cr_assert_eq((uintptr_t)cont % 4096, 0, "the continuation slot starts a page");

    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, &old), 0);
    trap_page = cont;
    cr_assert_eq(mprotect(cont, 4096, PROT_NONE), 0);

    struct shm_copied_record rec;
    struct shm_loss loss;
    int st = shm_ring_next(ring, &pos, &rec, 0, &loss);
    sigaction(SIGSEGV, &old, NULL);
    cr_assert_eq(trapped, 1, "the copy was interrupted once");
    cr_assert_eq(st, SHM_READ_LOSS, "a record overwritten while copied is not returned (status %d)", st);
    cr_assert_eq(loss.reason, SHM_LOSS_OVERWRITTEN, "reason %u", loss.reason);
    cr_assert_eq(loss.first_pos, CAP + 63);

    /* Reading on finds the writer's newer records, whole. */
    static struct seqs got;
    struct tu_drain_stats stats = {0};
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, &stats), SHM_READ_EMPTY);
    cr_assert_eq(stats.lost_records[SHM_LOSS_CORRUPT], 0);
    cr_assert_gt(got.n, 0);
    cr_assert_eq(got.v[got.n - 1], CAP - 1, "the last record of the lap is there");
}

/* The race at each of the reader's loads of a head slot's commit word: a
 * hardware watchpoint stops the reader after its k-th access to the word, and
 * the handler writes a lap whose record in that slot has three slots where
 * the reader's record had one. Wherever the lap falls, the reader reports the
 * record overwritten, or returns it whole when the lap came after its last
 * check: never corrupt, which would put a wrong loss reason in the files. */
#ifndef TRAP_PERF
#define TRAP_PERF 6 /* si_code of a perf event's SIGTRAP (Linux 5.13) */
#endif
static int watch_fd = -1;
static unsigned watch_hits, watch_lap_at;

static void on_watch(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)ctx;
    if (si->si_code != TRAP_PERF || ++watch_hits != watch_lap_at)
        return;
    ioctl(watch_fd, PERF_EVENT_IOC_DISABLE, 0); /* the lap writes the word too */
    for (uint32_t i = 0; i + 1 < CAP; i++)
        SHMLOG_INFO("lap i=%u", i);
    char s[101];
    memset(s, 's', 100);
    s[100] = 0;
    SHMLOG_INFO("seq=%u s=%s", 7u, s);
}

static int watch_word(const void *word)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_BREAKPOINT;
    a.bp_type = HW_BREAKPOINT_RW; /* x86 watches reads only with writes */
    a.bp_addr = (uintptr_t)word;
    a.bp_len = HW_BREAKPOINT_LEN_8;
    a.sample_period = 1;
    a.sigtrap = 1;
    a.remove_on_exec = 1; /* the kernel asks it of sigtrap */
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

Test(policy, overwrite_writer_lapping_at_any_commit_load_is_reported_overwritten_not_corrupt, .init = dir_up,
     .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_OVERWRITE);
    write_lap(); /* registers both sites outside the handler */
    char s[101];
    memset(s, 's', 100);
    s[100] = 0;
    SHMLOG_INFO("seq=%u s=%s", 0u, s);
    struct sigaction sa = {0}, old;
    sa.sa_sigaction = on_watch;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGTRAP, &sa, &old), 0);
    unsigned overwritten = 0, whole = 0, k;
    for (k = 1; k <= 4; k++) {
        /* The reader's record: one slot at ring index 7, the newest, so the
         * head it reads is one past it. The lap puts a 3-slot record there. */
        uint32_t i = 0;
        do
            SHMLOG_INFO("lap i=%u", i++);
        while ((shm_ring_head(ring) & ring->mask) != 8);
        uint64_t pos = shm_ring_head(ring) - 1, p = pos;
        watch_hits = 0;
        watch_lap_at = k;
        watch_fd = watch_word(ring->slots + ((p & ring->mask) << 6));
        cr_assert_geq(watch_fd, 0, "a hardware watchpoint (perf_event_open: %s)", strerror(errno));
        struct shm_copied_record rec;
        struct shm_loss loss;
        int st = shm_ring_next(ring, &pos, &rec, 0, &loss);
        close(watch_fd);
        if (watch_hits < k) /* the reader loads the word fewer than k times */
            break;
        cr_assert_eq(shm_ring_head(ring), p + CAP + 3, "the lap ran: its last record is 3 slots at the reader's");
        if (st == SHM_READ_LOSS) {
            cr_assert_eq(loss.reason, SHM_LOSS_OVERWRITTEN, "lap after the reader's access %u: loss reason %u", k,
                         loss.reason);
            cr_assert_eq(loss.first_pos, p);
            overwritten++;
        } else {
            uint32_t v = UINT32_MAX;
            cr_assert_eq(st, SHM_READ_RECORD, "lap after the reader's access %u: status %d", k, st);
            cr_assert_eq(rec.pos, p);
            cr_assert_eq(tu_arg_u32(&rec, 0, &v), 0);
            cr_assert_eq(v, i - 1, "lap after the reader's access %u: the record read whole", k);
            whole++;
        }
    }
    sigaction(SIGTRAP, &old, NULL);
    cr_assert_geq(k, 3, "the reader loads its record's commit word at least twice (%u)", k - 1);
    cr_assert_gt(overwritten, 0, "a lap between the reader's loads shows as overwritten");
    cr_log_info("laps after %u accesses: %u overwritten, %u read whole", k - 1, overwritten, whole);
}

/* ==== SPIN ==== */

struct spin_writer {
    uint32_t records;
    uint32_t progress; /* records written so far */
};

static void *spin_writer_main(void *arg)
{
    struct spin_writer *w = arg;
    if (tu_pin_self(0) != 0)
        return NULL;
    char s[300];
    for (uint32_t seq = 0; seq < w->records; seq++) {
        if (seq % 5 == 4) {
            size_t len = seq % 250;
            memset(s, 'q', len);
            s[len] = 0;
            SHMLOG_INFO("seq=%u s=%s", seq, s);
        } else {
            SHMLOG_INFO("seq=%u", seq);
        }
        __atomic_store_n(&w->progress, seq + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

Test(policy, spin_waits_for_the_reader_and_loses_nothing, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    producer_up(SHMLOG_SPIN);
    cr_assert_eq(tu_pin_self(tu_allowed_cpus() > 1 ? 1 : 0), 0);
    struct spin_writer w = {.records = 50000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, spin_writer_main, &w), 0);

    /* No reader yet: the writer fills the ring and then waits. */
    for (int waited = 0; shm_ring_head(ring) < CAP - SHMLOG_MAX_SLOTS && waited < 10000; waited++)
        tu_sleep_ms(1);
    tu_sleep_ms(20);
    uint32_t stuck_at = __atomic_load_n(&w.progress, __ATOMIC_ACQUIRE);
    tu_sleep_ms(50);
    cr_assert_eq(__atomic_load_n(&w.progress, __ATOMIC_ACQUIRE), stuck_at, "the writer waits while the ring is full");
    cr_assert_lt(stuck_at, w.records);
    cr_assert_geq(shm_ring_head(ring), CAP - SHMLOG_MAX_SLOTS, "it stopped at a full ring");
    cr_assert_leq(shm_ring_head(ring), CAP);
    cr_assert_eq(shmlog_dropped(), 0);

    /* Drain and release: the writer goes on, and every record arrives. */
    uint64_t pos = 0;
    uint32_t next = 0;
    struct shm_copied_record rec;
    struct shm_loss loss;
    while (next < w.records) {
        int st = shm_ring_next(ring, &pos, &rec, 0, &loss);
        cr_assert_neq(st, SHM_READ_LOSS, "nothing is lost under SPIN");
        if (st != SHM_READ_RECORD) {
            shm_ring_release(ring, pos);
            continue;
        }
        uint32_t seq = UINT32_MAX;
        cr_assert_eq(tu_arg_u32(&rec, 0, &seq), 0);
        cr_assert_eq(seq, next, "in order and complete");
        next++;
        if (next % 100 == 0)
            shm_ring_release(ring, pos);
    }
    pthread_join(th, NULL);
    cr_assert_eq(shmlog_dropped(), 0);
    cr_assert_eq(shm_ring_dropped(ring), 0);
}

/* ==== shm_ring_take ==== */

/* What the collector does: runs of records by shm_ring_take, whatever it
 * leaves by shm_ring_next. Reads from *pos to the end, into out; returns
 * how many records came by take. */
static size_t read_as_collector(uint64_t *pos, struct shm_copied_record *out, size_t *n, size_t cap)
{
    static struct shmlog_record taken[64];
    size_t by_take = 0;
    for (;;) {
        uint64_t from = *pos;
        size_t max = 1 + *n % 64;
        size_t k = shm_ring_take(ring, pos, shm_ring_head(ring), taken, max);
        cr_assert_leq(k, max, "at most max slots");
        cr_assert_eq(*pos, from + k, "one position per slot taken");
        for (size_t i = 0; i < k && *n < cap; i += taken[i].nslots) {
            cr_assert(taken[i].nslots >= 1 && i + taken[i].nslots <= k, "whole records only");
            struct shm_copied_record *r = &out[(*n)++];
            memset(r, 0, sizeof(*r));
            r->pos = from + i;
            r->tsc = taken[i].tsc;
            r->site = taken[i].site;
            r->tid = taken[i].tid;
            r->level = taken[i].level;
            r->category = taken[i].category;
            r->flags = taken[i].flags;
            r->nslots = taken[i].nslots;
            r->payload_len = (uint16_t)shm_record_payload(r->payload, &taken[i], r->nslots);
            for (unsigned j = 1; j < r->nslots; j++)
                cr_assert_eq(taken[i + j].commit, (r->pos + j + 1) | SHMLOG_COMMIT_CONT);
            by_take++;
        }
        if (k)
            continue;
        struct shm_loss loss;
        int st = shm_ring_next(ring, pos, &out[*n], 0, &loss);
        if (st != SHM_READ_RECORD)
            return by_take;
        if (*n < cap)
            (*n)++;
    }
}

static size_t read_by_next(uint64_t *pos, struct shm_copied_record *out, size_t cap)
{
    size_t n = 0;
    struct shm_loss loss;
    while (n < cap && shm_ring_next(ring, pos, &out[n], 0, &loss) == SHM_READ_RECORD)
        n++;
    return n;
}

static void assert_same_records(const struct shm_copied_record *a, const struct shm_copied_record *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert(a[i].pos == b[i].pos && a[i].tsc == b[i].tsc && a[i].site == b[i].site && a[i].tid == b[i].tid &&
                      a[i].level == b[i].level && a[i].category == b[i].category && a[i].flags == b[i].flags &&
                      a[i].nslots == b[i].nslots && a[i].payload_len == b[i].payload_len,
                  "record %zu (position %llu)", i, (unsigned long long)a[i].pos);
        cr_assert_eq(memcmp(a[i].payload, b[i].payload, a[i].payload_len), 0, "record %zu", i);
    }
}

/* Records of one slot and of several, a truncated string, other levels, and
 * a pad where a long record did not fit at the ring's end: the fast read
 * returns what shm_ring_next returns, record for record, and leaves
 * shm_ring_next little more than the pads and records too long for the
 * room it was given. */
Test(take, returns_what_ring_next_returns, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    static struct shm_copied_record fast[CAP], slow[CAP];
    char s[SHMLOG_MAX_PAYLOAD + 10];
    uint64_t start = 0;
    for (int lap = 0; lap < 3; lap++) {
        uint32_t seq = 0;
        while (shm_ring_head(ring) - start < CAP - 2 * shmlog_slots_for_payload(SHMLOG_DEFAULT_ARG_BYTES)) {
            size_t len = seq % 7 == 3 ? (seq * 31) % 300 : seq % 5;
            if (seq % 997 == 0) /* a lap's first: records of the most slots come by ring_next */
                len = sizeof s - 1; /* cut to fit: the truncated flag */
            memset(s, 'a' + seq % 26, len);
            s[len] = 0;
            if (seq % 11 == 0)
                SHMLOG_WARN("seq=%u s=%s", seq, s);
            else
                SHMLOG_INFO("seq=%u s=%s", seq, s);
            seq++;
        }
        uint64_t a = start, b = start;
        size_t nf = 0;
        size_t by_take = read_as_collector(&a, fast, &nf, CAP);
        size_t ns = read_by_next(&b, slow, CAP);
        cr_assert_eq(a, b, "both end at the same position");
        cr_assert_eq(a, shm_ring_head(ring));
        cr_assert_eq(nf, ns, "lap %d: %zu records, %zu by ring_next", lap, nf, ns);
        assert_same_records(fast, slow, nf);
        cr_assert_gt(by_take, ns * 9 / 10, "most came by take (%zu of %zu)", by_take, ns);
        shm_ring_release(ring, a);
        start = a;
    }
    cr_assert_gt(start, 2 * CAP, "the ring wrapped: its pads were crossed");
    cr_assert_eq(shmlog_dropped(), 0);
}

static struct shmlog_record *slot_of(uint64_t pos)
{
    return (struct shmlog_record *)(uintptr_t)(ring->slots + ((pos & ring->mask) << 6));
}

/* A slot not yet committed, and committed slots whose headers no producer
 * writes (a level or category out of range, two slots claimed without a
 * continuation, a pad flag mid-ring): take stops before each and leaves it
 * to shm_ring_next, which says what it is. */
Test(take, stops_before_any_slot_it_does_not_copy, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    for (uint32_t seq = 0; seq < 40; seq++)
        SHMLOG_INFO("seq=%u", seq);
    static struct shmlog_record out[64];
    uint64_t pos = 0, head = shm_ring_head(ring);
    cr_assert_eq(head, 40);

    slot_of(5)->commit = 0;
    cr_assert_eq(shm_ring_take(ring, &pos, head, out, 64), 5);
    cr_assert_eq(pos, 5);
    for (uint64_t i = 0; i < 5; i++)
        cr_assert_eq(memcmp(&out[i], slot_of(i), sizeof(out[i])), 0, "slot %llu copied whole", (unsigned long long)i);
    struct shm_copied_record rec;
    struct shm_loss loss;
    cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_PENDING);
    slot_of(5)->commit = 6;

    static const struct {
        uint64_t at;
        unsigned field;
        uint8_t value;
    } bad[] = {{9, 0, SHMLOG_LEVEL_FATAL + 1}, {14, 1, SHMLOG_MAX_CATEGORIES}, {20, 2, 2}, {27, 3, SHMLOG_REC_PAD},
               {33, 3, 0x80}};
    for (unsigned k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct shmlog_record *r = slot_of(bad[k].at);
        uint8_t *field[] = {&r->level, &r->category, &r->nslots, &r->flags};
        *field[bad[k].field] = bad[k].value;
        uint64_t from = pos;
        cr_assert_eq(shm_ring_take(ring, &pos, head, out, 64), bad[k].at - from);
        cr_assert_eq(pos, bad[k].at, "stopped before position %llu", (unsigned long long)bad[k].at);
        cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_LOSS);
        cr_assert_eq(loss.reason, SHM_LOSS_CORRUPT, "position %llu: reason %u", (unsigned long long)bad[k].at,
                     loss.reason);
        cr_assert_eq(loss.first_pos, bad[k].at);
    }
    cr_assert_eq(shm_ring_take(ring, &pos, head, out, 3), 3, "at most max");
    uint64_t from = pos;
    cr_assert_eq(shm_ring_take(ring, &pos, head, out, 64), head - from, "then the rest, up to the head");
    cr_assert_eq(shm_ring_take(ring, &pos, head, out, 64), 0, "and nothing past it");

    /* A record of several slots: taken whole or not at all, and not when a
     * continuation slot says another position. */
    char s[100];
    memset(s, 'x', sizeof s - 1);
    s[sizeof s - 1] = 0;
    SHMLOG_INFO("seq=%u s=%s", 40u, s); /* 3 slots at 40..42 */
    SHMLOG_INFO("seq=%u", 41u);
    head = shm_ring_head(ring);
    cr_assert_eq(head, 44);
    from = pos;
    cr_assert_eq(shm_ring_take(ring, &pos, head, out, 2), 0, "no room for its 3 slots");
    cr_assert_eq(pos, from);
    uint64_t commit = ((struct shmlog_cont *)slot_of(42))->commit;
    ((struct shmlog_cont *)slot_of(42))->commit = commit + 1;
    cr_assert_eq(shm_ring_take(ring, &pos, head, out, 64), 0, "a continuation slot out of place");
    cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_LOSS);
    cr_assert_eq(loss.reason, SHM_LOSS_CORRUPT);
    ((struct shmlog_cont *)slot_of(42))->commit = commit;
    pos = from;
    cr_assert_eq(shm_ring_take(ring, &pos, head, out, 64), 4, "both records, whole");
    cr_assert_eq(out[0].nslots, 3);
    cr_assert_eq(out[3].nslots, 1);
    for (uint64_t i = 0; i < 4; i++)
        cr_assert_eq(memcmp(&out[i], slot_of(from + i), sizeof(out[i])), 0, "slot %llu copied whole",
                     (unsigned long long)(from + i));
}

/* There a writer may lap the reader while it copies: take leaves every
 * record to shm_ring_next, which checks each again after its copy. */
Test(take, leaves_an_overwrite_ring_to_ring_next, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_OVERWRITE);
    for (uint32_t seq = 0; seq < 10; seq++)
        SHMLOG_INFO("seq=%u", seq);
    static struct shmlog_record out[64];
    uint64_t pos = 0;
    cr_assert_eq(shm_ring_take(ring, &pos, shm_ring_head(ring), out, 64), 0);
    cr_assert_eq(pos, 0);
    struct shm_copied_record rec;
    struct shm_loss loss;
    cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_RECORD);
}

/* ==== Progress line ==== */

/* The reserve head reaches the progress line each time a reservation crosses
 * a sixteenth of the ring, and only then: in between, the collector learns
 * nothing it would have to read the producer line for. A record of several
 * slots that crosses the boundary publishes its end; so does the slow path
 * (a full ring that was released, reserved again). */
Test(progress, published_at_each_sixteenth_of_the_ring, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    const uint64_t step = CAP >> SHMLOG_PROGRESS_SHIFT;
    cr_assert(ring->publishes, "a version %u ring publishes", SHMLOG_ABI_VERSION);
    cr_assert_eq(shm_ring_published(ring), 0);
    for (uint64_t i = 1; i < step; i++) {
        SHMLOG_INFO("seq=%u", (unsigned)i);
        cr_assert_eq(shm_ring_published(ring), 0, "nothing published below the first sixteenth (%llu records)",
                     (unsigned long long)i);
    }
    SHMLOG_INFO("seq=%u", (unsigned)step);
    cr_assert_eq(shm_ring_published(ring), step, "the record that reaches it publishes");
    for (uint64_t i = 0; i < step - 2; i++)
        SHMLOG_INFO("seq=%u", 0u);
    cr_assert_eq(shm_ring_head(ring), 2 * step - 2);
    cr_assert_eq(shm_ring_published(ring), step);
    char s[100]; /* 3 slots, 2 * step - 2 .. 2 * step: crosses the second sixteenth */
    memset(s, 'y', sizeof s - 1);
    s[sizeof s - 1] = 0;
    SHMLOG_INFO("s=%s", s);
    cr_assert_eq(shm_ring_head(ring), 2 * step + 1);
    cr_assert_eq(shm_ring_published(ring), 2 * step + 1, "a record across the boundary publishes its end");

    /* Fill the ring, drop, release everything: the slow path that reserves
     * again publishes as the fast one does. */
    while (shm_ring_head(ring) < CAP)
        SHMLOG_INFO("seq=%u", 1u);
    SHMLOG_INFO("seq=%u", 2u);
    cr_assert_eq(shm_ring_dropped(ring), 1);
    cr_assert_eq(shm_ring_published(ring), CAP, "the record that filled the ring published");
    shm_ring_release(ring, CAP);
    for (uint64_t i = 0; i < step; i++)
        SHMLOG_INFO("seq=%u", 3u);
    cr_assert_eq(shm_ring_published(ring), CAP + step);
}

/* The collector's read up to a published point: take never copies (nor
 * prefetches) the slot at the bound, and a release below a bound never
 * passes it, whatever a hostile record claims. */
Test(progress, take_and_release_stop_at_the_bound, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    for (uint32_t seq = 0; seq < 40; seq++)
        SHMLOG_INFO("seq=%u", seq);
    static struct shmlog_record out[64];
    uint64_t pos = 0;
    cr_assert_eq(shm_ring_take(ring, &pos, 25, out, 64), 25, "up to the bound, committed slots past it stay");
    cr_assert_eq(pos, 25);
    cr_assert_eq(shm_ring_take(ring, &pos, 25, out, 64), 0);
    char s[100];
    memset(s, 'z', sizeof s - 1);
    s[sizeof s - 1] = 0;
    SHMLOG_INFO("s=%s", s); /* 3 slots at 40..42 */
    pos = 40;
    cr_assert_eq(shm_ring_take(ring, &pos, 41, out, 64), 0, "a record across the bound is not taken");
    cr_assert_eq(shm_ring_take(ring, &pos, 43, out, 64), 3);
    shm_ring_release_below(ring, 43, 30);
    cr_assert_eq(shm_ring_tail(ring), 30, "released up to the bound given, not the position");
    shm_ring_release_below(ring, 43, 43);
    cr_assert_eq(shm_ring_tail(ring), 43);
}

/* ==== Live level ==== */

static uint32_t evaluated;
static uint32_t count_me(void) { return ++evaluated; }

/* Records in the ring since *pos whose site has format fmt. */
static unsigned count_site_records(uint64_t *pos, const char *fmt)
{
    struct shm_copied_record rec;
    struct shm_loss loss;
    static struct shm_site si;
    unsigned n = 0;
    while (shm_ring_next(ring, pos, &rec, 0, &loss) == SHM_READ_RECORD)
        if (shm_meta_site(&proc.meta, rec.site, &si) == 0 && strcmp(si.fmt, fmt) == 0)
            n++;
    return n;
}

static void log_each_level(void)
{
    SHMLOG_TRACE("trace n=%u", count_me());
    SHMLOG_DEBUG("debug n=%u", count_me());
    SHMLOG_INFO("info n=%u", count_me());
    SHMLOG_ORDER(DEBUG, "order debug n=%u", count_me());
    SHMLOG_FATAL("fatal n=%u", count_me());
}

struct level_counts {
    unsigned trace, debug, info, order_debug, fatal;
};

static struct level_counts read_levels(uint64_t *pos)
{
    /* Each pass over the ring counts one format, from the same start. */
    uint64_t start = *pos, end = start;
    struct level_counts c;
    const char *fmts[5] = {"trace n=%u", "debug n=%u", "info n=%u", "order debug n=%u", "fatal n=%u"};
    unsigned *slots[5] = {&c.trace, &c.debug, &c.info, &c.order_debug, &c.fatal};
    for (int i = 0; i < 5; i++) {
        uint64_t p = start;
        *slots[i] = count_site_records(&p, fmts[i]);
        end = p;
    }
    *pos = end;
    return c;
}

Test(level, set_level_filters_records_and_skips_their_arguments, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    uint64_t pos = 0;
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_INFO, "the default level");
    cr_assert_eq(proc.info.level, SHMLOG_LEVEL_INFO, "published in the meta segment");

    evaluated = 0;
    log_each_level();
    struct level_counts c = read_levels(&pos);
    cr_assert(c.trace == 0 && c.debug == 0 && c.order_debug == 0, "below INFO: not written");
    cr_assert(c.info == 1 && c.fatal == 1);
    cr_assert_eq(evaluated, 2, "arguments of filtered calls are not evaluated");

    shmlog_set_level(SHMLOG_LEVEL_DEBUG);
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_DEBUG);
    struct shm_proc_info info;
    char err[256];
    cr_assert_eq(shm_meta_info(&proc.meta, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.level, SHMLOG_LEVEL_DEBUG, "a reader sees the new level");
    evaluated = 0;
    log_each_level();
    c = read_levels(&pos);
    cr_assert(c.trace == 0 && c.debug == 1 && c.order_debug == 1 && c.info == 1 && c.fatal == 1);
    cr_assert_eq(evaluated, 4);

    shmlog_set_level(SHMLOG_LEVEL_OFF);
    evaluated = 0;
    log_each_level();
    c = read_levels(&pos);
    cr_assert(c.trace + c.debug + c.info + c.order_debug + c.fatal == 0, "OFF: nothing at all");
    cr_assert_eq(evaluated, 0);

    shmlog_set_level(42); /* not a level: ignored */
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_OFF);
    shmlog_set_level(-1);
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_OFF);
    shmlog_set_level(SHMLOG_LEVEL_TRACE);
    log_each_level();
    c = read_levels(&pos);
    cr_assert(c.trace == 1 && c.debug == 1 && c.info == 1 && c.order_debug == 1 && c.fatal == 1);
}

/* A level or category out of range that the compiler cannot see (a variable)
 * is clamped at the call: FATAL (never hidden below the live level) and NONE.
 * The record, its site and the records after it stay readable. */
Test(site, a_variable_level_or_category_out_of_range_is_clamped, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    volatile int bad_category = 7, bad_level = 9, negative = -1;
    SHMLOG_LOG(bad_category, SHMLOG_LEVEL_INFO, "cat n=%u", 1u);
    SHMLOG_LOG(SHMLOG_CAT_ORDER, bad_level, "lvl n=%u", 2u);
    SHMLOG_LOG(negative, negative, "both n=%u", 3u);
    for (uint32_t seq = 0; seq < 50; seq++)
        SHMLOG_INFO("seq=%u", seq);
    struct shm_copied_record rec;
    struct shm_loss loss;
    static struct shm_site si;
    uint64_t pos = 0;
    const struct { const char *fmt; unsigned level, category; } want[3] = {
        {"cat n=%u", SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE},
        {"lvl n=%u", SHMLOG_LEVEL_FATAL, SHMLOG_CAT_ORDER},
        {"both n=%u", SHMLOG_LEVEL_FATAL, SHMLOG_CAT_NONE},
    };
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_RECORD, "record %d is readable", i);
        cr_assert_eq(shm_meta_site(&proc.meta, rec.site, &si), 0);
        cr_assert_str_eq(si.fmt, want[i].fmt);
        cr_assert_eq(rec.flags, SHMLOG_REC_CLAMPED, "%s: flagged", want[i].fmt);
        cr_assert_eq(rec.level, want[i].level, "%s: level %u", want[i].fmt, rec.level);
        cr_assert_eq(rec.category, want[i].category, "%s: category %u", want[i].fmt, rec.category);
        cr_assert_eq(si.level, want[i].level);
        cr_assert_eq(si.category, want[i].category);
    }
    struct shm_proc_info info;
    char err[256];
    cr_assert_eq(shm_meta_info(&proc.meta, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.out_of_range, 3, "once a call: %llu", (unsigned long long)info.out_of_range);
    static struct seqs got;
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, NULL), SHM_READ_EMPTY);
    cr_assert_eq(got.n, 50, "the records after them: %u", got.n);
}

/* A format longer than SHMLOG_MAX_FMT_BYTES is refused at its first call: no
 * call of that site writes a record, each one is counted as unregistered, and
 * the sites around it are not disturbed. */
Test(site, a_refused_site_writes_nothing_and_counts_every_call, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    /* A format must be a literal: one of SHMLOG_MAX_FMT_BYTES + 2 bytes. */
#define X16 "xxxxxxxxxxxxxxxx"
#define X256 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16 X16
#define X4096 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256 X256
    _Static_assert(sizeof(X4096 "%u") - 1 > SHMLOG_MAX_FMT_BYTES, "the format is too long to register");
    for (uint32_t seq = 0; seq < 3; seq++) {
        SHMLOG_INFO("seq=%u", seq);
        SHMLOG_INFO(X4096 "%u", 1000 + seq);
    }
    struct shm_proc_info info;
    char err[256];
    cr_assert_eq(shm_meta_info(&proc.meta, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.unregistered, 3, "every call of the refused site is counted: %llu",
                 (unsigned long long)info.unregistered);
    cr_assert_eq(shmlog_dropped(), 3, "and reported by shmlog_dropped()");
    cr_assert_eq(shm_ring_head(ring), 3, "only the other site's records were reserved");
    static struct seqs got;
    uint64_t pos = 0;
    cr_assert_eq(tu_drain(ring, &pos, 0, collect_seq, &got, NULL), SHM_READ_EMPTY);
    cr_assert_eq(got.n, 3);
    for (uint32_t i = 0; i < 3; i++)
        cr_assert_eq(got.v[i], i, "record %u is seq=%u", i, got.v[i]);
}

/* Another process (a tool) opens the meta segment read-write and stores a level. */
static void set_category_level_from_another_process(int category, uint32_t level)
{
    char path[TU_PATH_MAX];
    snprintf(path, sizeof path, "%s/policy-%d.meta", dir, (int)getpid());
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct shm_seg seg;
        char err[256];
        if (shm_seg_open(&seg, path, 1, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            _exit(1);
        }
        int old = shm_meta_set_level(&seg, category, level);
        shm_seg_close(&seg);
        _exit(old < 0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void set_level_from_another_process(uint32_t level)
{
    set_category_level_from_another_process(-1, level);
}

Test(level, a_category_set_from_another_process_changes_that_category_only, .init = dir_up, .fini = dir_down,
     .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    uint64_t pos = 0;
    set_category_level_from_another_process(SHMLOG_CAT_ORDER, SHMLOG_LEVEL_DEBUG);
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_ORDER), SHMLOG_LEVEL_DEBUG);
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_INFO, "category none keeps its level");
    evaluated = 0;
    log_each_level();
    struct level_counts c = read_levels(&pos);
    cr_assert(c.trace == 0 && c.debug == 0 && c.info == 1 && c.order_debug == 1 && c.fatal == 1,
              "trace %u debug %u info %u order debug %u fatal %u", c.trace, c.debug, c.info, c.order_debug, c.fatal);
    cr_assert_eq(evaluated, 3, "the arguments of the calls below their category's level are not evaluated");

    /* one level for all again, as set-level without --category stores it */
    set_level_from_another_process(SHMLOG_LEVEL_WARN);
    log_each_level();
    c = read_levels(&pos);
    cr_assert(c.info + c.order_debug == 0 && c.fatal == 1);
    cr_assert_eq(shm_meta_set_level(&proc.meta, SHMLOG_CAT_USER, SHMLOG_LEVEL_INFO), -EINVAL,
                 "a category the process did not define");
}

/* The config of a program that names the categories venue and strategy. */
static void config_with_categories(struct shmlog_config *cfg)
{
    static const char *const mine[] = {"venue", "strategy", NULL};
    shmlog_config_init(cfg);
    cfg->app = "policy";
    cfg->dir = dir;
    cfg->quiet = 1;
    cfg->categories = mine;
}

Test(level, levels_per_category_come_from_the_config_then_the_environment, .init = dir_up, .fini = dir_down,
     .timeout = 20)
{
    struct shmlog_config cfg;
    config_with_categories(&cfg);
    cfg.levels = "WARN,md=DEBUG,venue=TRACE";
    cr_assert_eq(setenv("SHMLOG_LEVELS", "strategy=ERROR,order=info", 1), 0);
    int rc = shmlog_init(&cfg);
    unsetenv("SHMLOG_LEVELS");
    cr_assert_eq(rc, 0, "shmlog_init: %s", strerror(-rc));
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_WARN);
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_MARKET_DATA), SHMLOG_LEVEL_DEBUG);
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_ORDER), SHMLOG_LEVEL_INFO, "the environment, case aside");
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_TRADE), SHMLOG_LEVEL_WARN);
    cr_assert_eq(shmlog_category("venue"), SHMLOG_CAT_USER, "in the order the config names them");
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_USER), SHMLOG_LEVEL_TRACE);
    cr_assert_eq(shmlog_get_category_level(shmlog_category("strategy")), SHMLOG_LEVEL_ERROR);
    cr_assert_eq(shmlog_category("md"), SHMLOG_CAT_MARKET_DATA, "as the macro SHMLOG_MD spells it");
    shmlog_shutdown();

    /* one clear refusal, nothing left behind */
    cfg.levels = "venue=LOUD";
    cr_assert_eq(shmlog_init(&cfg), -EINVAL);
    cfg.levels = "pricing=DEBUG";
    cr_assert_eq(shmlog_init(&cfg), -EINVAL, "a category nobody defined");
}

static void dir_up_stderr(void)
{
    dir_up();
    cr_redirect_stderr();
}

/* What shmlog_init printed on stderr since the last call (the redirected stream). */
static const char *init_stderr(void)
{
    static char text[4096];
    fflush(stderr);
    FILE *f = cr_get_redirected_stderr();
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    return text;
}

Test(level, levels_take_blanks_around_tokens_and_a_refusal_names_the_token_and_the_categories,
     .init = dir_up_stderr, .fini = dir_down, .timeout = 20)
{
    struct shmlog_config cfg;
    config_with_categories(&cfg);
    cfg.levels = " warn , md = DEBUG,\tvenue=trace ";
    cr_assert_eq(setenv("SHMLOG_LEVELS", "info, strategy = ERROR", 1), 0);
    int rc = shmlog_init(&cfg);
    unsetenv("SHMLOG_LEVELS");
    cr_assert_eq(rc, 0, "shmlog_init: %s", strerror(-rc));
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_ORDER), SHMLOG_LEVEL_INFO, "the environment's 'info' for all");
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_MARKET_DATA), SHMLOG_LEVEL_INFO);
    cr_assert_eq(shmlog_get_category_level(shmlog_category("strategy")), SHMLOG_LEVEL_ERROR, "' strategy = ERROR'");
    shmlog_shutdown();

    cfg.levels = NULL;
    cr_assert_eq(setenv("SHMLOG_LEVELS", "info, venue=DEBUGX", 1), 0);
    cr_assert_eq(shmlog_init(&cfg), -EINVAL);
    const char *said = init_stderr();
    cr_assert_str_eq(said,
                     "shmlog: SHMLOG_LEVELS='info, venue=DEBUGX': 'venue=DEBUGX': no level 'DEBUGX' (TRACE DEBUG INFO "
                     "WARN ERROR FATAL OFF); categories: none trade order md risk portfolio venue strategy\n");
    cr_assert_eq(setenv("SHMLOG_LEVELS", "info, pricing = DEBUG", 1), 0);
    cr_assert_eq(shmlog_init(&cfg), -EINVAL);
    said = init_stderr();
    unsetenv("SHMLOG_LEVELS");
    cr_assert_str_eq(said, "shmlog: SHMLOG_LEVELS='info, pricing = DEBUG': 'pricing = DEBUG': no category 'pricing'; "
                           "categories: none trade order md risk portfolio venue strategy\n");
}

Test(site, a_program_names_its_categories, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    int venue = shmlog_category("venue"), pricing = shmlog_category("pricing");
    cr_assert_eq(venue, SHMLOG_CAT_USER);
    cr_assert_eq(pricing, SHMLOG_CAT_USER + 1);
    cr_assert_eq(shmlog_category("venue"), venue, "defined once");
    cr_assert_eq(shmlog_category("Venue"), -EINVAL, "a-z, 0-9 and _ only");
    cr_assert_eq(shmlog_category(""), -EINVAL);
    cr_assert_eq(shmlog_category("a_name_of_twenty_four_by"), -EINVAL, "at most 23 bytes");
    cr_assert_eq(shmlog_set_category_level(pricing, SHMLOG_LEVEL_DEBUG), 0);
    SHMLOG_CAT(venue, INFO, "venue n=%u", 1u);
    SHMLOG_CAT(venue, DEBUG, "venue debug n=%u", 2u);
    SHMLOG_CAT(pricing, DEBUG, "pricing n=%u", 3u);
    static struct shm_categories cats;
    shm_meta_categories(&proc.meta, &cats);
    cr_assert_eq(cats.count, SHMLOG_CAT_USER + 2);
    cr_assert_str_eq(cats.names[venue], "venue");
    cr_assert_str_eq(cats.names[pricing], "pricing");
    cr_assert_eq(cats.live[pricing], SHMLOG_LEVEL_DEBUG);
    cr_assert_eq(cats.live[venue], SHMLOG_LEVEL_INFO);
    struct shm_copied_record rec;
    struct shm_loss loss;
    static struct shm_site si;
    uint64_t pos = 0;
    const struct { const char *fmt; int category; } want[2] = {{"venue n=%u", venue}, {"pricing n=%u", pricing}};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_RECORD, "record %d", i);
        cr_assert_eq(shm_meta_site(&proc.meta, rec.site, &si), 0);
        cr_assert_str_eq(si.fmt, want[i].fmt);
        cr_assert_eq(rec.category, want[i].category);
        cr_assert_eq(rec.flags, 0);
    }
    cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_EMPTY, "venue debug is below venue's level");
}

Test(site, calls_before_init_are_counted, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    for (unsigned i = 0; i < 7; i++)
        SHMLOG_INFO("early n=%u", i);
    SHMLOG_ORDER(WARN, "early order");
    producer_up(SHMLOG_DROP);
    struct shm_proc_info info;
    char err[256];
    cr_assert_eq(shm_meta_info(&proc.meta, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.before_init, 8, "before_init %llu", (unsigned long long)info.before_init);
    SHMLOG_INFO("early n=%u", 8u);
    struct shm_copied_record rec;
    struct shm_loss loss;
    uint64_t pos = 0;
    cr_assert_eq(shm_ring_next(ring, &pos, &rec, 0, &loss), SHM_READ_RECORD, "the site registers after init");
    cr_assert_eq(shm_meta_info(&proc.meta, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.before_init, 8);
}

Test(level, a_write_to_the_meta_segment_changes_the_level, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    uint64_t pos = 0;
    set_level_from_another_process(SHMLOG_LEVEL_TRACE);
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_TRACE);
    evaluated = 0;
    log_each_level();
    struct level_counts c = read_levels(&pos);
    cr_assert(c.trace == 1 && c.debug == 1 && c.info == 1 && c.order_debug == 1 && c.fatal == 1);
    cr_assert_eq(evaluated, 5);

    set_level_from_another_process(SHMLOG_LEVEL_FATAL);
    cr_assert_eq(shmlog_get_level(), SHMLOG_LEVEL_FATAL);
    log_each_level();
    c = read_levels(&pos);
    cr_assert(c.trace + c.debug + c.info + c.order_debug == 0 && c.fatal == 1);

    set_level_from_another_process(SHMLOG_LEVEL_OFF);
    log_each_level();
    c = read_levels(&pos);
    cr_assert_eq(c.fatal, 0);
}

/* Thread names share the site table with call sites but take at most a
 * quarter of it: a program that starts (or renames) threads all day is
 * refused a name (-ENOSPC), never a call site. The same name again takes no
 * slot. */
Test(site, thread_names_take_at_most_a_quarter_of_the_table, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP); /* its shmlog_thread_init named the thread once */
    cr_assert_eq(shmlog_thread_name("same"), 0);
    cr_assert_eq(shmlog_thread_name("same"), 0);
    uint32_t quarter = proc.info.site_capacity / 4, named = 2;
    char name[SHMLOG_THREAD_NAME_BYTES + 1];
    int rc = 0;
    while (rc == 0 && named <= quarter) {
        snprintf(name, sizeof name, "t%u", named);
        if ((rc = shmlog_thread_name(name)) == 0)
            named++;
    }
    cr_assert_eq(rc, -ENOSPC, "the %uth name was refused: %d", named + 1, rc);
    cr_assert_eq(named, quarter, "threads took a quarter of the %u slots: %u", proc.info.site_capacity, named);
    SHMLOG_INFO("seq=%u", 7u);
    struct shm_proc_info info;
    char err[256];
    cr_assert_eq(shm_meta_info(&proc.meta, &info, err, sizeof err), 0, "%s", err);
    cr_assert_eq(info.unregistered, 0, "the call site after them still got a slot");
    cr_assert_eq(info.site_count, quarter + 1);
    struct shm_site site;
    cr_assert_eq(shm_meta_site(&proc.meta, quarter, &site), 0);
    cr_assert_str_eq(site.fmt, "seq=%u");
    uint32_t tid;
    cr_assert_eq(shm_meta_thread(&proc.meta, 1, &tid, name), 0);
    cr_assert_str_eq(name, "same");
    cr_assert_eq(shm_meta_thread(&proc.meta, quarter, &tid, name), 1, "a call site is no thread");
}

/* Version 4 had no site flags (its producers wrote zero): read as version 4,
 * a table entry is a call site whatever its flags, as before; from version 5
 * on, the flagged entry is a thread's name and no call site. */
Test(site, a_version_4_meta_has_no_thread_entries, .init = dir_up, .fini = dir_down, .timeout = 20)
{
    producer_up(SHMLOG_DROP);
    cr_assert_eq(shmlog_thread_name("md-0"), 0);
    struct shm_proc_info info;
    char err[256];
    cr_assert_eq(shm_meta_info(&proc.meta, &info, err, sizeof err), 0, "%s", err);
    uint32_t id = info.site_count - 1, tid;
    char name[SHMLOG_THREAD_NAME_BYTES + 1];
    struct shm_site site;
    cr_assert_eq(shm_meta_thread(&proc.meta, id, &tid, name), 0);
    cr_assert_str_eq(name, "md-0");
    cr_assert_eq(shm_meta_site(&proc.meta, id, &site), -EINVAL, "a thread entry is no call site");
    struct shmlog_seg_header *h = proc.meta.addr;
    h->abi_version = 4;
    h->format_word = SHMLOG_FORMAT_WORD_OF(4);
    struct shm_seg v4;
    cr_assert_eq(shm_seg_open(&v4, proc.meta.path, 0, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(v4.hdr.abi_version, 4);
    cr_assert_eq(shm_meta_thread(&v4, id, &tid, name), 1, "version 4: a call site");
    cr_assert_eq(shm_meta_site(&v4, id, &site), 0);
    cr_assert_str_eq(site.fmt, "md-0");
    shm_seg_close(&v4);
    h->abi_version = SHMLOG_ABI_VERSION;
    h->format_word = SHMLOG_FORMAT_WORD;
}

/* Every name a program cannot have as its own: the built-in categories and the alias md. */
static const struct { const char *name; int id; } builtin_names[] = {
    {"none", SHMLOG_CAT_NONE}, {"trade", SHMLOG_CAT_TRADE},      {"order", SHMLOG_CAT_ORDER},
    {"market_data", SHMLOG_CAT_MARKET_DATA}, {"md", SHMLOG_CAT_MARKET_DATA}, {"risk", SHMLOG_CAT_RISK},
    {"portfolio", SHMLOG_CAT_PORTFOLIO},
};

Test(level, a_program_category_named_like_a_built_in_one_fails_init_with_one_line_naming_it,
     .init = dir_up_stderr, .fini = dir_down, .timeout = 30)
{
    for (size_t b = 0; b < sizeof builtin_names / sizeof builtin_names[0]; b++) {
        for (int place = 0; place < 2; place++) {
            /* the README's pattern: an enum from SHMLOG_CAT_USER over these names */
            const char *mine[] = {"oms", "strat", NULL};
            mine[place] = builtin_names[b].name;
            struct shmlog_config cfg;
            config_with_categories(&cfg);
            cfg.categories = mine;
            cr_assert_eq(shmlog_init(&cfg), -EEXIST, "'%s' at place %d", builtin_names[b].name, place);
            const char *said = init_stderr();
            char want[256];
            snprintf(want, sizeof want, "shmlog: cfg.categories[%d] '%s' is the built-in category %s (id %d), not id %d",
                     place, builtin_names[b].name, shm_categories_name(NULL, (unsigned)builtin_names[b].id),
                     builtin_names[b].id, SHMLOG_CAT_USER + place);
            cr_assert(strncmp(said, want, strlen(want)) == 0, "said: %s", said);
            cr_assert(strchr(said, '\n') == said + strlen(said) - 1, "one line: %s", said);
            cr_assert_eq(shmlog_dir(), NULL, "not initialized");
        }
    }
    /* nothing left behind: the corrected config gets the ids its places promise */
    static const char *const fixed[] = {"app_md", "oms", "app_risk", "strat", NULL};
    struct shmlog_config cfg;
    config_with_categories(&cfg);
    cfg.categories = fixed;
    cfg.levels = "app_risk=DEBUG";
    int rc = shmlog_init(&cfg);
    cr_assert_eq(rc, 0, "shmlog_init: %s", strerror(-rc));
    for (int i = 0; fixed[i]; i++)
        cr_assert_eq(shmlog_category(fixed[i]), SHMLOG_CAT_USER + i, "%s", fixed[i]);
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_USER + 2), SHMLOG_LEVEL_DEBUG);
    cr_assert_eq(shmlog_set_category_level(SHMLOG_CAT_USER + 3, SHMLOG_LEVEL_DEBUG), 0);
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_USER + 3), SHMLOG_LEVEL_DEBUG);
    cr_assert_eq(shmlog_get_category_level(SHMLOG_CAT_RISK), SHMLOG_LEVEL_INFO, "the built-in risk untouched");
}

Test(level, a_category_named_twice_or_defined_before_init_at_another_id_fails_init,
     .init = dir_up_stderr, .fini = dir_down, .timeout = 20)
{
    struct shmlog_config cfg;
    config_with_categories(&cfg);
    static const char *const twice[] = {"venue", "strategy", "venue", NULL};
    cfg.categories = twice;
    cr_assert_eq(shmlog_init(&cfg), -EEXIST);
    cr_assert_str_eq(init_stderr(), "shmlog: cfg.categories[2] 'venue' is already category id 6, not id 8 "
                                    "(SHMLOG_CAT_USER + 2) as its place promises: name each category once, and "
                                    "call shmlog_category() for other names only after shmlog_init()\n");
    /* shmlog_category() before init took id 6; the config promises it to venue */
    cr_assert_eq(shmlog_category("pricing"), SHMLOG_CAT_USER);
    config_with_categories(&cfg);
    cr_assert_eq(shmlog_init(&cfg), -EEXIST);
    cr_assert(strstr(init_stderr(), "cfg.categories[0] 'venue' is already category id"), "venue would be 7");
    /* a name defined before init at the place the config gives it is the same category */
    static const char *const pricing_first[] = {"pricing", "venue", NULL};
    cfg.categories = pricing_first;
    int rc = shmlog_init(&cfg);
    cr_assert_eq(rc, 0, "shmlog_init: %s", strerror(-rc));
    cr_assert_eq(shmlog_category("venue"), SHMLOG_CAT_USER + 1);
}

Test(level, every_built_in_name_and_alias_in_levels_sets_that_built_in_category, .init = dir_up, .fini = dir_down,
     .timeout = 20)
{
    for (size_t b = 0; b < sizeof builtin_names / sizeof builtin_names[0]; b++) {
        struct shmlog_config cfg;
        config_with_categories(&cfg);
        char spec[64];
        snprintf(spec, sizeof spec, "WARN,%s=TRACE", builtin_names[b].name);
        cfg.levels = spec;
        int rc = shmlog_init(&cfg);
        cr_assert_eq(rc, 0, "%s: %s", spec, strerror(-rc));
        for (int id = 0; id < SHMLOG_CAT_USER + 2; id++)
            cr_assert_eq(shmlog_get_category_level(id), id == builtin_names[b].id ? SHMLOG_LEVEL_TRACE : SHMLOG_LEVEL_WARN,
                         "%s: category %d", spec, id);
        cr_assert_eq(shmlog_category(builtin_names[b].name), builtin_names[b].id,
                     "shmlog_category('%s') is the built-in id", builtin_names[b].name);
        shmlog_shutdown();
    }
}
