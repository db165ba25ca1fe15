/* Description: no ordinary mishap loses records silently: a producer in its own pid namespace (a container) is drained while it runs and finalised only when it is gone; the exit marker says whether a process shut down (shmlog_shutdown, or a return from main without it) or died (a real SIGSEGV); a committed record that fails validation, or that the collector cannot encode (its payload does not hold its site's arguments), costs only itself, counted, and the ring is read on; shmlog-dump clean removes what gone processes left and discards records never drained only when told, saying how many. */
#include "test_util_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "losses"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(losses, .init = setup, .fini = teardown, .timeout = 120);

/* Segment files in the segment directory. */
static size_t segments_left(void) { return tu_count_files(env.seg, ".meta") + tu_count_files(env.seg, ".ring"); }

/* Skips a test that runs producers as containers do, in pid namespaces of their own. */
static void need_unshare(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root for unshare --pid");
    if (access("/usr/bin/unshare", X_OK) != 0)
        cr_skip_test("needs unshare (util-linux)");
}

Test(losses, a_producer_in_its_own_pid_namespace_is_drained_while_it_runs, .timeout = 60)
{
    need_unshare();
    struct tu_child col = tu_collector(&env, NULL);
    enum { THREADS = 2, COUNT = 20000 };
    /* As a container runs: pid 1 of its own pid namespace, with its own /proc. */
    char *argv[] = {"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", (char *)tu_exe("TEST_PRODUCER"),
                    "--threads", "2", "--count", "20000", "--pause-us", "50", "--burst", "100", "--hold", NULL};
    struct tu_child p = tu_spawn(argv, NULL);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    /* It runs: its segments stay, and no exit marker is written. */
    tu_sleep_ms(1500);
    cr_assert_geq(segments_left(), 2, "the collector removed the segments of a running process");
    cr_assert_eq(tu_log_lines(&env, "never initialised"), 0, "a running process's ring was taken for a dead one's");
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000), "its segments were not removed after it exited");
    tu_stop_collector(&env, &col);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    /* The pid it logs under is its own namespace's: 1. */
    size_t n = tu_check_producer(&got, 1, THREADS, COUNT);
    cr_assert_eq(n + dropped, (size_t)THREADS * COUNT, "%zu records + %llu dropped of %u", n, dropped,
                 THREADS * COUNT);
    cr_assert_eq(got.exits, 1);
    cr_assert_eq(got.exits_how[SHLOG_EXIT_SHUTDOWN], 1, "it called shmlog_shutdown before it ended");
    tu_read_free(&got);
}

Test(losses, the_exit_marker_says_whether_a_process_shut_down_or_died, .timeout = 60)
{
    struct tu_child col = tu_collector(&env, NULL);
    /* A sanitizer build's handler would turn the signal into an exit(1). */
    setenv("ASAN_OPTIONS", "handle_segv=0:handle_sigbus=0", 1);
    const char *args[] = {"--threads", "1", "--count", "1000", "--hold", NULL};
    const char *returns[] = {"--threads", "1", "--count", "1000", "--no-shutdown", NULL};
    struct tu_child clean = tu_producer(args), crashed = tu_producer(args), returned = tu_producer(returns);
    unsigned long long dropped = tu_wait_line(&clean, "done ") + tu_wait_line(&crashed, "done ") +
                                 tu_wait_line(&returned, "done ");
    cr_assert_eq(tu_wait_exit(&returned), 0);
    cr_assert_eq(kill(crashed.pid, SIGSEGV), 0);
    int st = 0;
    cr_assert_eq(waitpid(crashed.pid, &st, 0), crashed.pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "the producer did not die of SIGSEGV");
    tu_close_stdin(&clean);
    cr_assert_eq(tu_wait_exit(&clean), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)clean.pid, 1, 1000) +
                     tu_check_producer(&got, (uint32_t)crashed.pid, 1, 1000) +
                     tu_check_producer(&got, (uint32_t)returned.pid, 1, 1000) + dropped,
                 3000);
    cr_assert_eq(got.exits, 3);
    cr_assert_eq(got.exits_how[SHLOG_EXIT_SHUTDOWN], 2, "the clean one shut down, the one that returned from main too");
    cr_assert_eq(got.exits_how[SHLOG_EXIT_DIED], 1, "the crashed one died without shutting down");
    tu_read_free(&got);
    /* What a person reads says it too. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s read %s | grep -c 'EXIT.*died without shutting down'", tu_exe("SHMLOG_DUMP"),
             env.out);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    int lines = -1;
    cr_assert_eq(fscanf(f, "%d", &lines), 1);
    pclose(f);
    cr_assert_eq(lines, 1);
}

/* A ring file mapped writable, and the head slot of one of its records. */
struct mapped_record {
    uint8_t *map;
    size_t bytes;
    struct shmlog_record *rec;
};

/* The record at ring position pos of the ring file at ring_path. */
static struct mapped_record map_record(const char *ring_path, uint64_t pos)
{
    int fd = open(ring_path, O_RDWR);
    cr_assert_geq(fd, 0, "%s: %s", ring_path, strerror(errno));
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    cr_assert_neq(m, MAP_FAILED);
    const struct shmlog_ring *hdr = (const struct shmlog_ring *)m;
    cr_assert_gt(hdr->head, pos, "position %lu was not written", (unsigned long)pos);
    struct shmlog_record *rec = (struct shmlog_record *)(m + SHMLOG_RING_HEADER_BYTES +
                                                         (pos & (hdr->capacity - 1)) * SHMLOG_RECORD_BYTES);
    cr_assert_eq(rec->commit, pos + 1, "position %lu does not hold a record head", (unsigned long)pos);
    return (struct mapped_record){m, (size_t)st.st_size, rec};
}

/* Sets the category byte of the record at ring position pos to a value no
 * producer writes. */
static void corrupt_record(const char *ring_path, uint64_t pos)
{
    struct mapped_record r = map_record(ring_path, pos);
    r.rec->category = 200; /* past SHMLOG_MAX_CATEGORIES */
    munmap(r.map, r.bytes);
}

/* Sets the length of the string argument of the test producer's record at
 * ring position pos ("t=%u i=%lu px=%f s=%s": at payload byte 20) to more
 * than a record holds: its slot stays whole, its payload no longer holds its
 * site's arguments. */
static void overlong_string(const char *ring_path, uint64_t pos)
{
    struct mapped_record r = map_record(ring_path, pos);
    cr_assert_eq(r.rec->nslots, 1);
    uint16_t hdr16 = shmlog_str_header(SHMLOG_MAX_PAYLOAD, 0);
    memcpy(r.rec->payload + 20, &hdr16, sizeof hdr16);
    munmap(r.map, r.bytes);
}

/* The test producer's 150 records of one thread on one cpu, stopped before
 * its record 100 while break_records(ring path) breaks some of the first in
 * place, then a collector (with extra options) drains them all; *got holds
 * the files' records. */
static void break_and_drain(void (*break_records)(const char *ring), const char *const extra[], struct tu_read *got)
{
    /* On one cpu, so that every position is in the one ring it writes. */
    char *argv[] = {"/usr/bin/taskset", "-c", "0", (char *)tu_exe("TEST_PRODUCER"), "--threads", "1", "--count", "150",
                    "--gate-at", "100", NULL};
    struct tu_child p = tu_spawn(argv, NULL);
    tu_wait_line(&p, "ready");
    char ring[600];
    tu_sleep_ms(300);
    tu_find_ring(env.seg, p.pid, ring, sizeof ring);
    break_records(ring); /* written before any collector runs */
    struct tu_child col = tu_collector(&env, extra);
    tu_close_stdin(&p); /* the last 50, after the broken ones were seen */
    cr_assert_eq(tu_wait_line(&p, "done "), 0, "nothing dropped");
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);
    tu_read_all(env.out, got);
    cr_assert_eq(got->errors, 0, "%s", got->first_error);
    cr_assert_eq(tu_check_producer(got, (uint32_t)p.pid, 1, 150) + got->losses, 150, "every record, or its loss");
}

static void corrupt_50(const char *ring) { corrupt_record(ring, 50); }

Test(losses, a_record_that_fails_validation_costs_only_itself, .timeout = 60)
{
    if (access("/usr/bin/taskset", X_OK) != 0)
        cr_skip_test("needs taskset (util-linux)");
    struct tu_read got = {0};
    break_and_drain(corrupt_50, NULL, &got); /* one slot a record: the test producer's records are short */
    cr_assert_eq(got.lost[SHM_LOSS_CORRUPT], 1, "the broken one, counted");
    cr_assert_eq(got.losses, 1);
    cr_assert_eq(tu_log_lines(&env, "failed validation"), 1, "reported once");
    cr_assert_eq(tu_log_lines(&env, "quarantined"), 0, "the ring was read on");
    tu_read_free(&got);
}

static void overlong_50_51_80(const char *ring)
{
    overlong_string(ring, 50);
    overlong_string(ring, 51);
    overlong_string(ring, 80);
}

/* A committed record whose payload does not hold its call site's arguments
 * (a producer that scribbled on it) is not encoded: a loss marker,
 * unencodable, stands in its place in the file, the collector says so once
 * and counts it in its metrics, and every other record reads as written. */
Test(losses, a_record_the_collector_cannot_encode_costs_only_itself, .timeout = 60)
{
    if (access("/usr/bin/taskset", X_OK) != 0)
        cr_skip_test("needs taskset (util-linux)");
    char metrics[600];
    snprintf(metrics, sizeof metrics, "%s/metrics.prom", env.root);
    const char *args[] = {"--metrics-file", metrics, "--metrics-interval", "1", NULL};
    struct tu_read got = {0};
    break_and_drain(overlong_50_51_80, args, &got);
    cr_assert_eq(got.lost[SHM_LOSS_UNENCODABLE], 3, "the three, counted");
    cr_assert_eq(got.losses, 3, "a marker each");
    cr_assert_eq(tu_log_lines(&env, "could not be encoded"), 1, "reported once");
    char text[1 << 16];
    cr_assert_gt(tu_read_file(metrics, text, sizeof text), 0);
    cr_assert(strstr(text, "shmlog_collector_losses_total{reason=\"unencodable\"} 3\n"), "%s", text);
    cr_assert(strstr(text, "shmlog_collector_records_total 147\n"), "records written, not read");
    tu_read_free(&got);
}

/* Runs `shmlog-dump clean --dir seg [extra]`: its exit status, its stdout in out. */
static int dump_clean(const char *extra, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s clean --dir %s %s 2>&1", tu_exe("SHMLOG_DUMP"), env.seg, extra);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(losses, clean_removes_what_gone_processes_left_and_never_discards_records_silently, .timeout = 60)
{
    /* One process drained by a collector that then stopped, before the
     * process ended: gone, with nothing left to drain. */
    const char *held[] = {"--threads", "1", "--count", "200", "--hold", NULL};
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child drained = tu_producer(held);
    tu_wait_line(&drained, "done ");
    tu_sleep_ms(500);
    tu_stop_collector(&env, &col);
    /* One gone with 300 records no collector drained, one that still runs. */
    const char *full[] = {"--threads", "1", "--count", "300", NULL};
    struct tu_child undrained = tu_producer(full);
    cr_assert_eq(tu_wait_exit(&undrained), 0);
    struct tu_child live = tu_producer(held);
    tu_wait_line(&live, "done ");
    tu_close_stdin(&drained);
    cr_assert_eq(tu_wait_exit(&drained), 0);

    char out[8192], live_meta[600], undrained_meta[600];
    snprintf(live_meta, sizeof live_meta, "%s/tprod-%d.meta", env.seg, (int)live.pid);
    snprintf(undrained_meta, sizeof undrained_meta, "%s/tprod-%d.meta", env.seg, (int)undrained.pid);
    cr_assert_eq(dump_clean("", out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "kept: 300 record(s) never drained"), "%s", out);
    cr_assert(strstr(out, "nothing left to drain"), "%s", out);
    cr_assert_eq(access(undrained_meta, F_OK), 0, "records never drained were removed without --force");

    cr_assert_eq(dump_clean("--force", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "discarded 300 record(s) never drained"), "%s", out);
    cr_assert_neq(access(undrained_meta, F_OK), 0, "--force did not remove it");
    cr_assert_eq(access(live_meta, F_OK), 0, "a running process's segments were removed");

    tu_close_stdin(&live);
    cr_assert_eq(tu_wait_exit(&live), 0);
    cr_assert_eq(dump_clean("--force", out, sizeof out), 0, "%s", out);
    cr_assert_eq(segments_left(), 0, "%s", out);
}

/* The start time of the process of meta segment path (its header). */
static uint64_t meta_start(const char *path)
{
    struct shmlog_seg_header h;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "%s", path);
    cr_assert_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    close(fd);
    return h.proc_start;
}

/* Records per app of the pairs that share their start time. */
struct app_counts {
    char (*apps)[2][16];
    int pairs;
    size_t per[16][2];
};

static void count_apps(const struct shlog_event *ev, void *ctx)
{
    struct app_counts *c = ctx;
    if (ev->kind == SHLOG_EV_RECORD)
        for (int a = 0; a < c->pairs; a++)
            for (int k = 0; k < 2; k++)
                c->per[a][k] += strcmp(ev->proc->info.app, c->apps[a][k]) == 0;
}

Test(losses, two_containers_pid_1_started_in_one_tick_stay_two_processes, .timeout = 120)
{
    need_unshare();
    struct tu_child col = tu_collector(&env, NULL);
    /* Pairs of containers, each pid 1 of its own pid namespace, one uid, on
     * one cpu, started together until a pair shares its start time (the
     * kernel's ticks: 10 ms). Only their instance tells them apart. */
    cpu_set_t all, one;
    tu_first_cpu(&all, &one);
    int pairs_alike = 0, attempts = 0;
    char alike[16][2][16];
    for (int attempt = 0; attempt < 16 && pairs_alike < 2; attempt++, attempts++) {
        char app[2][16], meta[2][700];
        struct tu_child c[2];
        cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
        for (int k = 0; k < 2; k++) {
            snprintf(app[k], sizeof(app[k]), "c%d%c", attempt, 'a' + k);
            char *argv[] = {"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", (char *)tu_exe("TEST_PRODUCER"),
                            "--app", app[k], "--threads", "1", "--count", "5000", "--hold", NULL};
            c[k] = tu_spawn(argv, NULL);
        }
        cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(tu_wait_line(&c[k], "done "), 0);
            snprintf(meta[k], sizeof(meta[k]), "%s/%s-1.meta", env.seg, app[k]);
        }
        if (meta_start(meta[0]) == meta_start(meta[1])) {
            memcpy(alike[pairs_alike][0], app[0], sizeof(app[0]));
            memcpy(alike[pairs_alike++][1], app[1], sizeof(app[1]));
        }
        for (int k = 0; k < 2; k++) {
            tu_close_stdin(&c[k]);
            cr_assert_eq(tu_wait_exit(&c[k]), 0);
        }
    }
    if (!pairs_alike)
        cr_skip_test("no two containers started in the same tick in 16 tries");
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);

    /* Every record of both, in one read with one dedup state. */
    struct app_counts c = {alike, pairs_alike, {{0}}};
    tu_each_event(env.out, count_apps, &c);
    size_t (*per)[2] = c.per;
    for (int a = 0; a < pairs_alike; a++)
        for (int k = 0; k < 2; k++)
            cr_assert_eq(per[a][k], 5000, "%s (pid 1, the start time of %s): %zu of 5000 records read", alike[a][k],
                         alike[a][!k], per[a][k]);
    /* And shmlog-dump, which keys processes its own way, reads them all. */
    char cmd[1200], out[64];
    snprintf(cmd, sizeof(cmd), "'%s' read '%s' 2>/dev/null | grep -c ' i=' > '%s/count'", tu_exe("SHMLOG_DUMP"),
             env.out, env.root);
    cr_assert(system(cmd) >= 0);
    snprintf(cmd, sizeof(cmd), "%s/count", env.root);
    cr_assert_gt(tu_read_file(cmd, out, sizeof(out)), 0);
    cr_assert_eq(strtoul(out, NULL, 10), attempts * 10000ul, "shmlog-dump read shows %s records of %d containers",
                 out, 2 * attempts);
}

/* Two containers, each pid 1 of its own pid namespace, of one app and one
 * uid, with the same thread ids: shmlog-dump's JSON tells their records and
 * exits apart by the process instance, 3000 records and an exit under each. */
Test(losses, two_containers_pid_1_of_one_app_are_told_apart_by_their_instance, .timeout = 60)
{
    need_unshare();
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child c[2];
    for (int k = 0; k < 2; k++) {
        char *argv[] = {"/usr/bin/unshare", "--pid", "--fork", "--mount-proc", (char *)tu_exe("TEST_PRODUCER"),
                        "--app", "ctr", "--threads", "1", "--count", "3000", "--hold", NULL};
        c[k] = tu_spawn(argv, NULL);
    }
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(tu_wait_line(&c[k], "done "), 0);
        tu_close_stdin(&c[k]);
        cr_assert_eq(tu_wait_exit(&c[k]), 0);
    }
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);
    char cmd[3000], out[256];
    snprintf(cmd, sizeof(cmd),
             "'%s' read --format json '%s' > '%s/json' 2> '%s/dump.err'; grep '\"app\":\"ctr\",\"pid\":1,' '%s/json' | "
             "grep -o '\"instance\":\"[0-9a-f]*\"' | sort | uniq -c | awk '{print $1, length($2)}' > '%s/instances'",
             tu_exe("SHMLOG_DUMP"), env.out, env.root, env.root, env.root, env.root);
    cr_assert(system(cmd) >= 0);
    snprintf(cmd, sizeof(cmd), "%s/instances", env.root);
    cr_assert_gt(tu_read_file(cmd, out, sizeof(out)), 0, "no record of ctr shows an instance");
    /* Each count, and the length of "instance":"<32 hex digits>". */
    if (strcmp(out, "3001 45\n3001 45\n") != 0) {
        /* What tells a collector's loss from a reader's: the exits, the reader's messages, the collector's log. */
        snprintf(cmd, sizeof(cmd),
                 "grep -v '\"msg\"' '%s/json' >&2; grep -o '\"instance\":\"[0-9a-f]*\",\"tid\":[0-9]*,\"cpu\":[0-9]*' "
                 "'%s/json' | uniq -c >&2; cat '%s/dump.err' >&2; ls -la '%s' >&2; cat '%s' >&2",
                 env.root, env.root, env.root, env.out, env.log);
        cr_assert(system(cmd) >= 0);
    }
    cr_assert_str_eq(out, "3001 45\n3001 45\n", "records and exits per instance, and the key's length:\n%s", out);
}
