/* Description: invariant 4 against hostile producers: processes that scribble seeded random bytes over their own meta and ring segments (headers, site table, strings, counters, records) and shrink the files, while the collector and `shmlog-dump segments|ring` read them; neither crashes nor hangs, each bad segment is reported once and then left alone, and a well-behaved producer running alongside gets every record into the files. */
#include "test_util_file.h"

#include <errno.h>

/* SHMLOG_HOSTILE_SEED replays a run (printed at start); SHMLOG_CRASH_ROUNDS,
 * as for the crash matrix, makes it longer: hostile writers per test. */

#define HW_DEFAULT_WRITERS 6
#define DUMP_DEADLINE_MS 20000

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "hostile"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(hostile_producer, .init = setup, .fini = teardown, .timeout = 300);

static struct tu_child hostile(uint64_t seed, unsigned attack_ms, int headers_first, int truncate_at_end)
{
    char s[32], ms[32];
    snprintf(s, sizeof(s), "%lu", (unsigned long)seed);
    snprintf(ms, sizeof(ms), "%u", attack_ms);
    char *argv[8];
    int n = 0;
    argv[n++] = (char *)tu_exe("HOSTILE_WRITER");
    argv[n++] = "--seed";
    argv[n++] = s;
    argv[n++] = "--attack-ms";
    argv[n++] = ms;
    if (headers_first)
        argv[n++] = "--headers-first";
    if (truncate_at_end)
        argv[n++] = "--truncate";
    argv[n] = NULL;
    struct tu_child c = tu_spawn(argv, NULL);
    tu_wait_line(&c, "ready");
    return c;
}

/* Collector log lines that name a segment of process pid. */
static int lines_about(pid_t pid)
{
    char meta[64], ring[64];
    snprintf(meta, sizeof(meta), "hostile-%d.", (int)pid);
    snprintf(ring, sizeof(ring), "hostile-%d-", (int)pid);
    return tu_log_lines(&env, meta) + tu_log_lines(&env, ring);
}

/* Runs `shmlog-dump <cmd> --dir seg` to completion: it must end by itself in
 * bounded time, with status 0 or 1, never by a signal. */
struct dump_stats {
    unsigned runs;
    uint64_t longest_ms;
};

static void run_dump(const char *cmd, struct dump_stats *ds)
{
    char *argv[] = {(char *)tu_exe("SHMLOG_DUMP"), (char *)cmd, "--dir", env.seg, NULL};
    uint64_t t0 = tu_now_ms();
    struct tu_child c = tu_spawn(argv, "/dev/null");
    char what[64];
    snprintf(what, sizeof(what), "shmlog-dump %s", cmd);
    int st = tu_wait_exit_within(&c, DUMP_DEADLINE_MS, what);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) <= 1, "shmlog-dump %s ended with status %#x%s", cmd, st,
              WIFSIGNALED(st) ? " (killed by a signal)" : "");
    ds->runs++;
    uint64_t ms = tu_now_ms() - t0;
    if (ms > ds->longest_ms)
        ds->longest_ms = ms;
}

/* Segments in the directory, leaving out the ones the collector refused to
 * open and those of processes whose meta segment it refused. */
static size_t accepted_segments_left(void)
{
    DIR *d = opendir(env.seg);
    cr_assert(d != NULL);
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d))) {
        unsigned kind;
        char app[SHMLOG_APP_BYTES], meta[512], self[700];
        uint32_t pid, cpu;
        if (shm_parse_seg_name(de->d_name, &kind, app, sizeof(app), &pid, &cpu) != 0)
            continue;
        snprintf(meta, sizeof(meta), "ignoring segment: %s/%s-%u.meta: ", env.seg, app, pid);
        snprintf(self, sizeof(self), "ignoring segment: %s/%s: ", env.seg, de->d_name);
        n += tu_log_lines(&env, meta) == 0 && tu_log_lines(&env, self) == 0;
    }
    closedir(d);
    return n;
}

static void assert_collector_alive(const struct tu_child *col)
{
    int st = 0;
    pid_t w = waitpid(col->pid, &st, WNOHANG);
    /* Once this read "died (status 0)" with no more to go on: say which. */
    cr_assert(w != -1, "waitpid on the collector: %s", strerror(errno));
    cr_assert_eq(w, 0, "the collector %s %d", WIFSIGNALED(st) ? "was killed by signal" : "exited with",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

Test(hostile_producer, scribbling_and_shrinking_producers_crash_and_hang_nothing)
{
    uint64_t seed = tu_seed("SHMLOG_HOSTILE_SEED", "hostile_producer scribbling");
    unsigned writers = (unsigned)tu_env_u64("SHMLOG_CRASH_ROUNDS", 0) / 4;
    if (writers < HW_DEFAULT_WRITERS)
        writers = HW_DEFAULT_WRITERS;
    struct tu_child col = tu_collector(&env, NULL);
    enum { THREADS = 2, COUNT = 100000 };
    const char *pargs[] = {"--threads", "2", "--count", "100000", "--burst", "200", "--pause-us", "2000",
                           "--long-every", "31", "--hold", NULL};
    struct tu_child good = tu_producer(pargs);
    tu_wait_line(&good, "ready");

    struct dump_stats ds = {0};
    uint64_t attacks = 0;
    unsigned truncated = 0, reported = 0;
    /* Two at a time: one shrinks its files at the end, the other does not. */
    for (unsigned w = 0; w < writers; w += 2) {
        struct tu_child h[2];
        for (int k = 0; k < 2; k++)
            h[k] = hostile(seed + w + (unsigned)k, 1200, 0, k == 1);
        /* The readers, back to back while the attack goes on and while the
         * second writer shrinks its files under their mappings. */
        uint64_t t0 = tu_now_ms();
        for (unsigned k = 0; tu_now_ms() - t0 < 1600; k++)
            run_dump(k % 2 ? "ring" : "segments", &ds);
        attacks += tu_wait_line(&h[0], "attacks ");
        attacks += tu_wait_line(&h[1], "attacks ");
        tu_wait_line(&h[1], "truncated");
        truncated++;
        /* After the shrink, readers meet SIGBUS territory. */
        run_dump("ring", &ds);
        run_dump("segments", &ds);
        tu_sleep_ms(300);
        assert_collector_alive(&col);

        /* Reported, then left alone: the count must not grow over rescans. */
        int before[2];
        for (int k = 0; k < 2; k++) {
            /* a meta found with no magic yet is given 2 s before the report */
            uint64_t until = tu_now_ms() + 5000;
            while (lines_about(h[k].pid) == 0 && tu_now_ms() < until)
                tu_sleep_ms(20);
            before[k] = lines_about(h[k].pid);
            cr_assert_geq(before[k], 1, "nothing was reported about hostile writer %d (seed %lu)", (int)h[k].pid,
                          (unsigned long)(seed + w + (unsigned)k));
            reported++;
        }
        tu_sleep_ms(2500); /* two rescans */
        for (int k = 0; k < 2; k++)
            cr_assert_eq(lines_about(h[k].pid), before[k], "hostile writer %d re-reported in a loop", (int)h[k].pid);
        for (int k = 0; k < 2; k++) {
            tu_close_stdin(&h[k]);
            cr_assert_eq(tu_wait_exit(&h[k]), 0);
        }
    }
    unsigned long long dropped = tu_wait_line(&good, "done ");
    tu_close_stdin(&good);
    cr_assert_eq(tu_wait_exit(&good), 0);
    /* Every process the collector accepted is drained and removed. A hostile
     * meta refused at open is not the collector's to delete: it stays. */
    uint64_t until = tu_now_ms() + 30000;
    while (accepted_segments_left() && tu_now_ms() < until)
        tu_sleep_ms(20);
    cr_assert_eq(accepted_segments_left(), 0, "segments of accepted producers are left after they exited");
    assert_collector_alive(&col);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    size_t files = tu_read_all(env.out, &got);
    /* Hostile input never makes our own files unreadable. */
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    size_t n = tu_check_producer(&got, (uint32_t)good.pid, THREADS, COUNT);
    cr_assert_eq(n + dropped, (size_t)THREADS * COUNT, "the well-behaved producer: %zu records + %llu dropped", n,
                 dropped);
    fprintf(stderr,
            "hostile_producer: %u hostile writers (%u shrank their files), %lu attacks, %u reported; shmlog-dump ran "
            "%u times (longest %lu ms); %zu files, %zu records (%zu of the well-behaved producer, %llu dropped); "
            "losses: corrupt %lu, dead writer %lu\n",
            writers, truncated, (unsigned long)attacks, reported, ds.runs, (unsigned long)ds.longest_ms, files, got.n,
            n, dropped, (unsigned long)got.lost[SHM_LOSS_CORRUPT],
            (unsigned long)got.lost[SHM_LOSS_DEAD_WRITER]);
    tu_read_free(&got);
}

Test(hostile_producer, a_ring_shrunk_while_shmlog_dump_reads_it_is_reported_not_fatal)
{
    /* A full 16 MiB ring renders to megabytes of text. The dump blocks on
     * its stdout pipe, which the test does not read, with the ring mapped
     * and most records still to go; the ring shrinks; reading the pipe lets
     * the dump go on into the lost pages (SIGBUS). */
    const char *pargs[] = {"--threads", "1", "--count", "200000", "--ring-bytes", "16777216", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "done ");
    char *argv[] = {(char *)tu_exe("SHMLOG_DUMP"), "ring", "--dir", env.seg, NULL};
    struct tu_child d = tu_spawn(argv, NULL);
    char line[4096];
    cr_assert(fgets(line, sizeof(line), d.out), "shmlog-dump ring printed nothing");
    tu_sleep_ms(100); /* the pipe is full: the dump waits in write() */
    /* every ring: the thread may have run on more than one cpu */
    char tag[64];
    snprintf(tag, sizeof(tag), "-%d-cpu", (int)p.pid);
    unsigned shrunk = 0;
    DIR *dir = opendir(env.seg);
    cr_assert(dir != NULL);
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strstr(de->d_name, tag))
            continue;
        char path[700];
        snprintf(path, sizeof(path), "%s/%s", env.seg, de->d_name);
        cr_assert_eq(truncate(path, 8192), 0, "%s: %s", path, strerror(errno));
        shrunk++;
    }
    closedir(dir);
    cr_assert_geq(shrunk, 1, "no ring segment");
    size_t lines = 1;
    while (fgets(line, sizeof(line), d.out))
        lines++;
    fprintf(stderr, "hostile_producer shrink: the dump printed %zu of 200000 records\n", lines);
    int st = tu_wait_exit_within(&d, DUMP_DEADLINE_MS, "shmlog-dump ring");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) <= 1, "shmlog-dump ring ended with status %#x%s", st,
              WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS ? " (SIGBUS: no guard for a segment that shrinks)" : "");
    tu_close_stdin(&p);
    tu_wait_exit(&p);
}

Test(hostile_producer, segments_broken_before_the_collector_starts_are_reported_once)
{
    uint64_t seed = tu_seed("SHMLOG_HOSTILE_SEED", "hostile_producer headers");
    struct tu_child h[3];
    for (int k = 0; k < 3; k++)
        h[k] = hostile(seed + (unsigned)k, 300, 1, 0);
    for (int k = 0; k < 3; k++)
        tu_wait_line(&h[k], "attacks ");
    struct dump_stats ds = {0};
    run_dump("segments", &ds);
    run_dump("ring", &ds);

    struct tu_child col = tu_collector(&env, NULL);
    const char *pargs[] = {"--threads", "1", "--count", "20000", "--hold", NULL};
    struct tu_child good = tu_producer(pargs);
    unsigned long long dropped = tu_wait_line(&good, "done ");
    tu_sleep_ms(3500); /* an unpublished-looking segment is reported after 2 s; then rescans */
    int lines[3];
    for (int k = 0; k < 3; k++) {
        lines[k] = lines_about(h[k].pid);
        cr_assert_geq(lines[k], 1, "the broken meta segment of %d was not reported", (int)h[k].pid);
    }
    tu_sleep_ms(2500);
    for (int k = 0; k < 3; k++)
        cr_assert_eq(lines_about(h[k].pid), lines[k], "%d re-reported in a loop", (int)h[k].pid);
    char cmd[800];
    snprintf(cmd, sizeof(cmd),
             /* '/' first: the test directory's random suffix may also read hostile-<digits> */
             "d=$(grep -o '/hostile-[0-9][0-9]*[-.a-z0-9]*' '%s' | sort | uniq -d); test -z \"$d\" || { cat '%s' >&2; false; }",
             env.log, env.log);
    cr_assert_eq(system(cmd), 0, "a segment was reported twice (the collector log is above)");
    assert_collector_alive(&col);

    tu_close_stdin(&good);
    cr_assert_eq(tu_wait_exit(&good), 0);
    for (int k = 0; k < 3; k++) {
        tu_close_stdin(&h[k]);
        cr_assert_eq(tu_wait_exit(&h[k]), 0);
    }
    tu_stop_collector(&env, &col);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    size_t n = tu_check_producer(&got, (uint32_t)good.pid, 1, 20000);
    cr_assert_eq(n, got.n, "records of a process whose segments were refused");
    cr_assert_eq(n + dropped, 20000);
    fprintf(stderr, "hostile_producer headers: 3 writers' segments refused; dump ran %u times\n", ds.runs);
    tu_read_free(&got);
}
