/* Description: crashes lose nothing committed: a producer killed with SIGKILL mid-burst has every committed record written and its segments removed; a collector killed with SIGKILL and restarted leaves files whose dedup'd reading has every record exactly once; a ring truncated under the mapping (SIGBUS) is abandoned, not fatal; a collector killed between a process's EXIT and the removal of its segments writes no second EXIT when restarted. */
#include <sched.h>

#include "test_util_file.h"

#include <sys/types.h>

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "crash"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(collector_crash, .init = setup, .fini = teardown, .timeout = 120);

/* Per thread, the record indexes must be exactly 0..max (a prefix: each
 * committed record landed), apart from at most `allowed` missing ones. */
static void assert_prefixes(const struct tu_read *got, uint32_t pid, unsigned threads, uint64_t cap,
                            uint64_t allowed)
{
    uint64_t max[8] = {0}, n[8] = {0};
    for (size_t k = 0; k < got->n; k++) {
        if (got->rec_pid[k] != pid)
            continue;
        struct tu_rec r = tu_decode(got->recs[k]);
        cr_assert_lt(r.t, threads);
        if (r.i + 1 > max[r.t])
            max[r.t] = r.i + 1;
        n[r.t]++;
    }
    uint64_t top = 0;
    for (unsigned t = 0; t < threads; t++)
        top = max[t] > top ? max[t] : top;
    cr_assert_leq(top, cap);
    tu_check_producer(got, pid, threads, top); /* no duplicates, order kept */
    uint64_t missing = 0;
    for (unsigned t = 0; t < threads; t++) /* a thread may not have started before the kill */
        missing += max[t] - n[t];
    cr_assert_leq(missing, allowed, "%lu records missing inside the written ranges", missing);
}

Test(collector_crash, producer_sigkill_mid_burst)
{
    struct tu_child col = tu_collector(&env, NULL);
    const char *pargs[] = {"--threads", "2", "--forever", "--burst", "2000", "--pause-us", "300",
                           "--ring-bytes", "67108864", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "ready");
    tu_wait_line(&p, "progress ");
    tu_wait_line(&p, "progress ");
    cr_assert_eq(kill(p.pid, SIGKILL), 0);
    int st = tu_wait_exit(&p);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cr_assert(tu_wait_segments_gone(env.seg, 10000), "the killed producer's segments were not removed");
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_eq(got.exits, 1);
    cr_assert_eq(got.lost[SHM_LOSS_DROPPED], 0, "the 64 MiB rings should not fill");
    cr_assert_geq(got.n, 20000);
    /* A thread killed inside a record leaves one reserved, uncommitted slot:
     * reported as a dead-writer loss, never as a hole elsewhere. */
    uint64_t dead = got.lost[SHM_LOSS_DEAD_WRITER];
    cr_assert_leq(dead, 2);
    assert_prefixes(&got, (uint32_t)p.pid, 2, 1ull << 32, dead);
    tu_read_free(&got);
}

Test(collector_crash, collector_sigkill_and_restart_duplicates_nothing)
{
    enum { COUNT = 150000, THREADS = 2 };
    /* The gate keeps the last 30000 records of each thread for after the
     * kill: on a loaded machine the producer could otherwise be done and
     * drained before it, and the restart would have nothing to write. */
    const char *pargs[] = {"--threads", "2", "--count", "150000", "--burst", "1000", "--pause-us", "1000",
                           "--gate-at", "120000", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "ready");
    struct tu_child col = tu_collector(&env, NULL);
    tu_wait_line(&p, "progress ");
    /* Killed once it has written part of a file, wherever the producer
     * has got to. */
    uint64_t until = tu_now_ms() + 10000;
    while (tu_count_files(env.out, ".part") == 0 && tu_now_ms() < until)
        tu_sleep_ms(5);
    tu_sleep_ms(100);
    cr_assert_eq(kill(col.pid, SIGKILL), 0);
    tu_wait_exit(&col);
    cr_assert_geq(tu_count_files(env.out, ".part"), 1, "the killed collector left no file");
    tu_close_stdin(&p);
    tu_sleep_ms(50);
    col = tu_collector(&env, NULL);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);

    cr_assert_eq(tu_count_files(env.out, ".part"), 0, "the restart did not recover the .part file");
    struct tu_read got = {0};
    cr_assert_geq(tu_read_all(env.out, &got), 2);
    size_t n = tu_check_producer(&got, (uint32_t)p.pid, THREADS, COUNT);
    cr_assert_eq(got.lost[SHM_LOSS_DROPPED], dropped);
    cr_assert_eq(n + dropped, (size_t)THREADS * COUNT, "records %zu + dropped %llu", n, dropped);
    /* The only errors allowed: the killed collector's torn last frame. */
    cr_assert_leq(got.errors, 1, "%s", got.first_error);
    cr_assert_eq(got.errors, got.torn);
    tu_read_free(&got);
}

Test(collector_crash, a_ring_truncated_under_the_mapping_is_abandoned_not_fatal)
{
    struct tu_child col = tu_collector(&env, NULL);
    const char *slow[] = {"--threads", "1", "--forever", "--burst", "100", "--pause-us", "2000", NULL};
    /* On one cpu, so that it has one ring, the one cut below: a ring it left
     * would hold nothing undrained past the cut. */
    struct tu_child p = tu_producer_one_cpu(slow);
    tu_wait_line(&p, "progress ");
    char ring[600];
    tu_find_ring(env.seg, p.pid, ring, sizeof(ring));
    cr_assert(ring[0], "no ring segment");
    /* A hostile or broken writer shrinks its ring: every access past the new
     * end faults, in the producer and in the collector. The collector is held
     * meanwhile, so undrained records lie past the cut (8192 bytes keep 64
     * slots; 200 ms is ~10000 records) and it must touch the lost pages. */
    cr_assert_eq(kill(col.pid, SIGSTOP), 0);
    tu_sleep_ms(200);
    cr_assert_eq(truncate(ring, 8192), 0);
    cr_assert_eq(kill(col.pid, SIGCONT), 0);
    tu_sleep_ms(100);
    kill(p.pid, SIGKILL);
    tu_wait_exit(&p);
    cr_assert(tu_wait_segments_gone(env.seg, 10000), "the broken producer's segments were not removed");
    cr_assert_eq(kill(col.pid, 0), 0, "the collector died");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "grep -q 'SIGBUS' '%s'", env.log);
    cr_assert_eq(system(cmd), 0, "the collector did not report the fault");

    /* And it goes on serving others. */
    const char *pargs[] = {"--threads", "1", "--count", "20000", NULL};
    struct tu_child q = tu_producer(pargs);
    unsigned long long dropped = tu_wait_line(&q, "done ");
    cr_assert_eq(tu_wait_exit(&q), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)q.pid, 1, 20000) + dropped, 20000);
    /* What the cut ring held past the records read is counted, not dropped silently. */
    cr_assert_gt(got.lost[SHM_LOSS_CORRUPT], 0, "the records past the cut are not counted as lost");
    tu_read_free(&got);
}

/* The size of the one .part file of dir, or -1. */
static off_t part_size(const char *dir)
{
    DIR *d = opendir(dir);
    off_t size = -1;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        struct stat st;
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".part") == 0 && fstatat(dirfd(d), de->d_name, &st, 0) == 0)
            size = st.st_size;
    }
    if (d)
        closedir(d);
    return size;
}

/* EXIT sections of pid in every file of dir, closed or not (a .part torn at its end reads up to the tear). */
static size_t exits_of(const char *dir, uint32_t pid)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strstr(de->d_name, ".shlog"))
            continue;
        char path[700], err[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct shlog_reader *r;
        if (shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)) != 0)
            continue;
        struct shlog_event ev;
        while (shlog_reader_next(r, &ev) > 0)
            n += ev.kind == SHLOG_EV_EXIT && ev.proc->info.pid == pid;
        shlog_reader_close(r);
    }
    closedir(d);
    return n;
}

/* Issue 47: a collector SIGKILLed after a process's EXIT reached the file
 * and before it removed the process's segments (the EXIT frame's fsync is
 * the window) finds the segments again when restarted: it must not write a
 * second EXIT. Driven round after round until a kill lands in the window. */
Test(collector_crash, a_kill_between_an_exit_and_removing_the_segments_writes_no_second_exit, .timeout = 300)
{
    enum { ROUNDS = 40 };
    int hits = 0;
    for (int round = 0; round < ROUNDS && hits < 3; round++) {
        struct tu_child col = tu_collector_ready(&env, NULL);
        const char *pargs[] = {"--threads", "1", "--count", "1000", "--hold", NULL};
        struct tu_child p = tu_producer(pargs);
        tu_wait_line(&p, "done ");
        /* Its records written: the next write is the frame with its EXIT. */
        off_t size = -1, seen;
        for (int stable = 0; stable < 20; stable = seen == size && seen > 0 ? stable + 1 : 0) {
            tu_sleep_ms(10);
            seen = size;
            size = part_size(env.out);
        }
        tu_close_stdin(&p);
        cr_assert_eq(tu_wait_exit(&p), 0);
        uint64_t until = tu_now_ms() + 10000;
        while (part_size(env.out) == size && tu_now_ms() < until)
            ;
        cr_assert_eq(kill(col.pid, SIGKILL), 0);
        tu_wait_exit(&col);
        int hit = tu_count_files(env.seg, "") > 0 && exits_of(env.out, (uint32_t)p.pid) == 1;
        hits += hit;
        col = tu_collector(&env, NULL);
        tu_assert_segments_gone(&env, 10000);
        tu_stop_collector(&env, &col);
        cr_assert_eq(exits_of(env.out, (uint32_t)p.pid), 1, "round %d (%s): %zu EXITs for pid %d", round,
                     hit ? "killed between the EXIT and the segments' removal" : "killed elsewhere",
                     exits_of(env.out, (uint32_t)p.pid), (int)p.pid);
    }
    cr_assert_gt(hits, 0, "no kill of %d landed between an EXIT and the segments' removal", ROUNDS);
    fprintf(stderr, "collector_crash: %d kill(s) between an EXIT and the segments' removal\n", hits);
}
