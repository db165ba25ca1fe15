/* Description: end to end with real producer processes, io_uring and files: producers started before and after the collector are drained, every record lands exactly once (or is counted as dropped), per-thread order holds, rotation by size, time and SIGHUP under load loses and duplicates nothing, and exited producers' segments are removed; segment directories made after the collector started are found at once; a collector that finds a ring over half full compresses at --zstd-fast-level (and only then); a trickle waits for --max-delay-ms and no longer; a version 2 producer's ring is read by its head. */
#include <sys/mman.h>

#include "test_util_file.h"

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "e2e"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

/* collector_e2e proves what lands and in which files, however slowly: it runs beside other tests.
 * collector_latency bounds how soon a record lands, in milliseconds: meson runs it alone. */
TestSuite(collector_e2e, .init = setup, .fini = teardown, .timeout = 120);
TestSuite(collector_latency, .init = setup, .fini = teardown, .timeout = 120);

Test(collector_e2e, producers_before_and_after_start_exact_multiset)
{
    enum { COUNT = 60000, THREADS = 2 };
    /* Paced over about 300 ms, longer than the collector takes to start on a
     * loaded machine, so that the run spans several of its passes: a file
     * rotates between passes, and a process that is gone before the first
     * one is drained whole into the file open then. */
    const char *pargs[] = {"--threads", "2", "--count", "60000", "--long-every", "97", "--burst", "1000",
                           "--pause-us", "5000", NULL};
    const char *hold_args[] = {"--threads", "2", "--count", "60000", "--long-every", "97", "--hold", NULL};
    /* Started before the collector: its records wait in the rings. */
    struct tu_child a = tu_producer(hold_args);
    tu_wait_line(&a, "ready");
    unsigned long long dropped = tu_wait_line(&a, "done ");

    const char *cargs[] = {"--rotate-size", "16k", NULL};
    struct tu_child col = tu_collector_ready(&env, cargs);
    struct tu_child b = tu_producer(pargs), c = tu_producer(pargs);
    dropped += tu_wait_line(&b, "done ");
    dropped += tu_wait_line(&c, "done ");
    cr_assert_eq(tu_wait_exit(&b), 0);
    cr_assert_eq(tu_wait_exit(&c), 0);
    tu_close_stdin(&a); /* lets the first producer exit */
    cr_assert_eq(tu_wait_exit(&a), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000), "segments of exited producers were not removed");
    tu_stop_collector(&env, &col);

    cr_assert_eq(tu_count_files(env.out, ".part"), 0, "a .part file is left");
    struct tu_read got = {0};
    size_t files = tu_read_all(env.out, &got);
    cr_assert_geq(files, 2, "no rotation by size: %zu files", files);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_eq(got.exits, 3);
    size_t n = tu_check_producer(&got, (uint32_t)a.pid, THREADS, COUNT) +
               tu_check_producer(&got, (uint32_t)b.pid, THREADS, COUNT) +
               tu_check_producer(&got, (uint32_t)c.pid, THREADS, COUNT);
    cr_assert_eq(n, got.n, "records of unknown processes");
    cr_assert_eq(got.lost[SHM_LOSS_DROPPED], dropped, "drops in the files %lu, producers counted %llu",
                 got.lost[SHM_LOSS_DROPPED], dropped);
    cr_assert_eq(n + dropped, 3ull * THREADS * COUNT, "records %zu + dropped %llu", n, dropped);
    cr_assert_eq(got.lost[SHM_LOSS_DEAD_WRITER] + got.lost[SHM_LOSS_CORRUPT], 0);
    tu_read_free(&got);
}

Test(collector_e2e, rotation_by_time_and_sighup_under_load)
{
    enum { COUNT = 200000, THREADS = 2 };
    const char *cargs[] = {"--rotate-time", "1", NULL};
    struct tu_child col = tu_collector(&env, cargs);
    const char *pargs[] = {"--threads", "2", "--count", "200000", "--burst", "500", "--pause-us", "1000", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "ready");
    for (int k = 0; k < 12; k++) {
        tu_sleep_ms(80);
        cr_assert_eq(kill(col.pid, SIGHUP), 0);
    }
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    size_t files = tu_read_all(env.out, &got);
    cr_assert_geq(files, 6, "only %zu files after 12 SIGHUPs and time rotation", files);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    size_t n = tu_check_producer(&got, (uint32_t)p.pid, THREADS, COUNT);
    cr_assert_eq(n, got.n);
    cr_assert_eq(got.lost[SHM_LOSS_DROPPED], dropped);
    cr_assert_eq(n + dropped, (size_t)THREADS * COUNT, "records %zu + dropped %llu", n, dropped);
    /* Each file is self-contained: every one defines the process it has records of. */
    cr_assert_geq(got.processes, files - 1);
    tu_read_free(&got);
}

Test(collector_e2e, once_drains_and_ignores_bad_segments)
{
    /* Junk that looks like segments: a bad magic, a symlink, a foreign name. */
    char path[400];
    snprintf(path, sizeof(path), "%s/evil-4242.meta", env.seg);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    char junk[8192];
    memset(junk, 0x5a, sizeof(junk));
    cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    /* An hour old: not a segment still being created. */
    struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    cr_assert_eq(futimens(fd, old), 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/link-4243.meta", env.seg);
    cr_assert_eq(symlink("/etc/passwd", path), 0);
    snprintf(path, sizeof(path), "%s/evil-4242-cpu0.ring", env.seg);
    cr_assert_eq(symlink("/etc/passwd", path), 0);

    const char *pargs[] = {"--threads", "1", "--count", "5000", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    const char *cargs[] = {"--once", NULL};
    struct tu_child col = tu_collector(&env, cargs);
    int st = tu_wait_exit(&col);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_all(env.out, &got), 1);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 5000) + dropped, 5000);
    cr_assert_eq(got.exits, 0, "the producer still runs");
    tu_read_free(&got);
    /* The producer's segments stay: it is alive. */
    cr_assert_geq(tu_count_files(env.seg, ".meta"), 3);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);

    /* The junk was reported, once each, and never taken for a producer. */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test $(grep -c 'ignoring segment' '%s') -eq 3", env.log);
    cr_assert_eq(system(cmd), 0, "expected 3 'ignoring segment' lines in the collector log");

    /* A second --once run sees the producer gone: exit marker, segments removed. */
    col = tu_collector(&env, cargs);
    st = tu_wait_exit(&col);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(tu_count_files(env.seg, ".meta"), 2, "junk stays, the producer's meta goes");
    cr_assert_eq(tu_count_files(env.seg, ".ring"), 1, "only the junk ring symlink stays");
    got = (struct tu_read){0};
    cr_assert_eq(tu_read_all(env.out, &got), 2);
    cr_assert_eq(got.exits, 1);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 5000) + dropped, 5000, "nothing read twice");
    tu_read_free(&got);
}

Test(collector_e2e, bad_flags_exit_2_with_one_line)
{
    const char *bad[][3] = {{"--bogus", NULL, NULL}, {"--poll", "sometimes", NULL}, {"--rotate-size", "12Q", NULL},
                            {"--fsync", "maybe", NULL}, {"--zstd-level", "99", NULL}, {"--cpu", "x", NULL}};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char log[400];
        snprintf(log, sizeof(log), "%s/flags%zu.log", env.root, k);
        char *argv[6] = {(char *)tu_exe("COLLECTOR"), "--out", env.out, (char *)bad[k][0], (char *)bad[k][1], NULL};
        struct tu_child c = tu_spawn(argv, log);
        int st = tu_wait_exit(&c);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status %#x", bad[k][0], st);
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "test $(wc -l < '%s') -eq 1", log);
        cr_assert_eq(system(cmd), 0, "%s: not exactly one line on stderr", bad[k][0]);
    }
}

Test(collector_e2e, retention_by_count_and_bytes)
{
    const char *pargs[] = {"--threads", "2", "--count", "100000", "--burst", "500", "--pause-us", "3000", NULL};
    const char *by_count[] = {"--rotate-size", "1k", "--keep", "3", NULL};
    struct tu_child col = tu_collector(&env, by_count);
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);
    cr_assert_eq(tu_count_files(env.out, ".shlog"), 3, "--keep 3 left %zu files", tu_count_files(env.out, ".shlog"));
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_eq(got.exits, 1, "the newest files (with the exit) are the ones kept");
    tu_read_free(&got);

    /* Small frames (a frame holds up to 50 ms of records), so that several files fit in 20k
     * however slowly a sanitizer build drains. */
    const char *slow_args[] = {"--threads", "2", "--count", "20000", "--burst", "100", "--pause-us", "3000", NULL};
    const char *by_bytes[] = {"--rotate-size", "1k", "--max-bytes", "20k", NULL};
    col = tu_collector(&env, by_bytes);
    p = tu_producer(slow_args);
    tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    cr_assert(tu_wait_segments_gone(env.seg, 10000));
    tu_stop_collector(&env, &col);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test $(cat '%s'/*.shlog | wc -c) -le 20480", env.out);
    cr_assert_eq(system(cmd), 0, "closed files exceed --max-bytes");
    cr_assert_geq(tu_count_files(env.out, ".shlog"), 2, "--max-bytes 20k kept %zu files", tu_count_files(env.out, ".shlog"));
}

/* The newest output file (the open .part one), or "" if none yet. */
static void newest_part(char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = opendir(env.out);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".shlog.part"))
            snprintf(out, cap, "%s/%s", env.out, de->d_name);
    closedir(d);
}

/* Milliseconds until the want-th record of process pid can be read from the
 * open file, from now; UINT64_MAX when none within timeout_ms. */
static uint64_t ms_until_records_in_file(pid_t pid, unsigned want, unsigned timeout_ms)
{
    uint64_t t0 = tu_now_ms(), found = 0;
    unsigned seen = 0;
    struct shlog_reader *r = NULL;
    while (!found && tu_now_ms() - t0 < timeout_ms) {
        char path[600];
        if (!r) {
            newest_part(path, sizeof(path));
            char err[512];
            if (!path[0] || shlog_reader_open(&r, path, 1, NULL, err, sizeof(err)) != 0) {
                r = NULL;
                tu_sleep_ms(2);
                continue;
            }
        }
        struct shlog_event ev;
        int rc;
        while ((rc = shlog_reader_next(r, &ev)) > 0)
            if (ev.kind == SHLOG_EV_RECORD && ev.proc->info.pid == (uint32_t)pid && ++seen == want)
                found = tu_now_ms();
        cr_assert_geq(rc, 0);
        if (!found)
            tu_sleep_ms(2);
    }
    if (r)
        shlog_reader_close(r);
    return found ? found - t0 : UINT64_MAX;
}

static uint64_t ms_until_in_file(pid_t pid, unsigned timeout_ms)
{
    return ms_until_records_in_file(pid, 1, timeout_ms);
}

/* The frames at the fast level that the collector's last exit line gives, or
 * -1 when there is no such line. */
static long fast_frames_logged(void)
{
    FILE *f = fopen(env.log, "r");
    char line[512];
    long n = -1;
    while (f && fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, " frames (");
        if (p && strstr(p, " at the fast level)"))
            n = strtol(p + strlen(" frames ("), NULL, 10);
    }
    if (f)
        fclose(f);
    return n;
}

Test(collector_latency, a_record_under_light_load_reaches_the_file_quickly)
{
    struct tu_child col = tu_collector_ready(&env, NULL);
    const char *pargs[] = {"--threads", "1", "--count", "1", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "done ");
    uint64_t ms = ms_until_in_file(p.pid, 5000);
    cr_assert(ms != UINT64_MAX, "the record did not reach the file within 5 s");
    fprintf(stderr, "record visible in the file %lu ms after it was logged\n", (unsigned long)ms);
    /* The target is 100 ms; a loaded CI machine gets some slack. */
    cr_assert_lt(ms, 1000, "took %lu ms", (unsigned long)ms);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_stop_collector(&env, &col);
    cr_assert_eq(fast_frames_logged(), 0, "a ring never near full got frames at the fast level");
}

/* A ring is made by its thread's first call or shmlog_thread_init, which
 * may come long before its first record (here: a gate). The collector that
 * finds it empty reads it again until that record, which lands at once, not
 * --max-delay-ms after the ring was first read. */
Test(collector_latency, a_ring_found_empty_has_its_first_record_read_at_once)
{
    const char *cargs[] = {"--max-delay-ms", "1000", NULL};
    struct tu_child col = tu_collector_ready(&env, cargs);
    const char *pargs[] = {"--threads", "1", "--count", "2", "--gate-at", "0", "--burst", "1", "--pause-us", "30000000",
                           NULL};
    struct tu_child p = tu_producer_one_cpu(pargs);
    tu_wait_line(&p, "ready");
    char ring[700] = "";
    for (int i = 0; i < 500 && !ring[0]; i++, tu_sleep_ms(10))
        tu_find_ring(env.seg, p.pid, ring, sizeof(ring));
    cr_assert(ring[0], "shmlog_thread_init made no ring");
    tu_sleep_ms(100); /* the collector has found it, empty */
    tu_close_stdin(&p);
    uint64_t ms = ms_until_records_in_file(p.pid, 1, 8000);
    cr_assert(ms != UINT64_MAX, "the first record did not reach the file within 8 s");
    fprintf(stderr, "the first record of a ring found empty reached the file after %lu ms\n", (unsigned long)ms);
    cr_assert_lt(ms, 500, "took %lu ms: read --max-delay-ms after the ring was found", (unsigned long)ms);
    tu_stop_collector(&env, &col);
}

/* A ring whose published point stands (a record, a pause, a record) has its
 * head read every --max-delay-ms, not sooner: a new ring is read at once, so
 * the first record lands quickly; the second, logged 400 ms later, waits for
 * the next read of the head, 1000 ms after the first, and for its frame. */
Test(collector_latency, a_trickle_waits_for_max_delay_and_no_longer)
{
    const char *cargs[] = {"--max-delay-ms", "1000", NULL};
    struct tu_child col = tu_collector_ready(&env, cargs);
    /* On one cpu: a ring it moved to would be new, and a new ring is read at once. */
    const char *pargs[] = {"--threads", "1", "--count", "2", "--burst", "1", "--pause-us", "400000", "--hold", NULL};
    struct tu_child p = tu_producer_one_cpu(pargs);
    tu_wait_line(&p, "ready");
    uint64_t second_logged = tu_now_ms() + 400;
    uint64_t first = ms_until_records_in_file(p.pid, 1, 5000);
    cr_assert_lt(first, 350, "a new ring was not read at once: its first record took %lu ms", (unsigned long)first);
    uint64_t in_file = ms_until_records_in_file(p.pid, 2, 6000);
    cr_assert(in_file != UINT64_MAX, "the second record did not reach the file within 6 s");
    uint64_t ms = tu_now_ms() - second_logged;
    fprintf(stderr, "the second record reached the file %lu ms after it was logged\n", (unsigned long)ms);
    /* About 600 ms: a loaded machine only makes it later. */
    cr_assert_geq(ms, 300, "read after %lu ms: the head was read sooner than --max-delay-ms", (unsigned long)ms);
    cr_assert_lt(ms, 1000 + 50 + 1500, "took %lu ms", (unsigned long)ms);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_stop_collector(&env, &col);
}

/* Rewrites the segment header at path as a version 2 producer wrote it. */
static void make_version_2(const char *path)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    struct shmlog_seg_header *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(h, MAP_FAILED, "%s: %s", path, strerror(errno));
    h->abi_version = 2;
    h->format_word = SHMLOG_FORMAT_WORD_OF(2);
    munmap(h, (size_t)st.st_size);
    close(fd);
}

/* Producers built before the progress line (ABI version 2) keep working: their
 * rings are read by their head on every pass, so a record logged while the
 * collector runs lands at once whatever --max-delay-ms says. */
Test(collector_latency, a_version_2_ring_is_read_by_its_head)
{
    const char *pargs[] = {"--threads", "1", "--count", "2", "--burst", "1", "--pause-us", "1500000", "--hold", NULL};
    struct tu_child p = tu_producer_one_cpu(pargs);
    tu_wait_line(&p, "ready");
    uint64_t second_logged = tu_now_ms() + 1500;
    tu_sleep_ms(200); /* its first record made its ring */
    DIR *d = opendir(env.seg);
    cr_assert_not_null(d);
    struct dirent *de;
    int rewritten = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[1200];
        snprintf(path, sizeof(path), "%s/%s", env.seg, de->d_name);
        make_version_2(path);
        rewritten++;
    }
    closedir(d);
    cr_assert_eq(rewritten, 2, "a meta and a ring segment");
    /* Read as a version 3 ring, its head would be read 1000 ms after the
     * collector's first pass: the second record would wait about 700 ms. */
    const char *cargs[] = {"--max-delay-ms", "1000", NULL};
    struct tu_child col = tu_collector(&env, cargs);
    cr_assert_lt(ms_until_records_in_file(p.pid, 1, 1000), 1000, "the first record within a second");
    cr_assert(ms_until_records_in_file(p.pid, 2, 4000) != UINT64_MAX, "the second record did not land");
    uint64_t ms = tu_now_ms() - second_logged;
    cr_assert_lt(ms, 500, "the second record took %lu ms: the ring was not read by its head", (unsigned long)ms);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_stop_collector(&env, &col);
    FILE *log = fopen(env.log, "r");
    char line[1024];
    while (log && fgets(line, sizeof(line), log))
        cr_assert_null(strstr(line, "ABI"), "the collector complained: %s", line);
    if (log)
        fclose(log);
}

/* A producer fills rings of 16384 slots with 20000 records, then the collector
 * starts: it finds one ring over half full (all of one, or the larger share
 * of two) and compresses frames at --zstd-fast-level until the rings are under
 * a quarter full, unless that level is --zstd-level's. Every record lands
 * either way. */
static void filled_ring_drained(const char *const cargs[], int fast_expected)
{
    const char *pargs[] = {"--threads", "1", "--count", "20000", "--ring-bytes", "1048576", "--hold", NULL};
    struct tu_child p = tu_producer(pargs);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    struct tu_child col = tu_collector(&env, cargs);
    /* A drain pass, not only the one at shutdown, must have seen the fill. */
    cr_assert(ms_until_in_file(p.pid, 5000) != UINT64_MAX, "no record reached the file within 5 s");
    tu_stop_collector(&env, &col);
    long fast = fast_frames_logged();
    cr_assert_geq(fast, 0, "no exit line with the frames at the fast level");
    if (fast_expected)
        cr_assert_gt(fast, 0, "no frame was compressed at the fast level");
    else
        cr_assert_eq(fast, 0, "%ld frames at the fast level", fast);
    struct tu_read got = {0};
    cr_assert_geq(tu_read_all(env.out, &got), 1);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 20000) + dropped, 20000);
    tu_read_free(&got);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
}

Test(collector_e2e, a_filling_ring_gets_frames_at_the_fast_level)
{
    filled_ring_drained(NULL, 1);
}

Test(collector_e2e, a_fast_level_equal_to_the_level_is_never_used)
{
    const char *cargs[] = {"--zstd-level", "3", "--zstd-fast-level", "3", NULL};
    filled_ring_drained(cargs, 0);
}

/* A segment directory that does not exist when the collector starts (the
 * first producer makes it) is watched for at once, not found at the next
 * rescan, up to a second later, while the producer's ring fills. Three are
 * made a third of a rescan apart, so rescans alone would leave one of them
 * unseen for at least 666 ms; the third is two levels down, the test making
 * the first. */
Test(collector_latency, segment_dirs_made_after_start_are_found_at_once)
{
    char dirs[3][300];
    snprintf(dirs[0], sizeof(dirs[0]), "%s/late0", env.root);
    snprintf(dirs[1], sizeof(dirs[1]), "%s/late1", env.root);
    snprintf(dirs[2], sizeof(dirs[2]), "%s/late2/seg", env.root);
    struct tu_env late = env;
    snprintf(late.seg, sizeof(late.seg), "%s", dirs[0]);
    const char *cargs[] = {"--dir", dirs[1], "--dir", dirs[2], NULL};
    struct tu_child col = tu_collector_ready(&late, cargs);
    uint64_t start = tu_now_ms();
    for (int i = 0; i < 3; i++) {
        uint64_t due = start + 333u * (unsigned)i;
        while (tu_now_ms() < due)
            tu_sleep_ms(1);
        if (i == 2) {
            char parent[300];
            snprintf(parent, sizeof(parent), "%s/late2", env.root);
            cr_assert_eq(mkdir(parent, 0700), 0);
        }
        setenv("SHMLOG_DIR", dirs[i], 1); /* the producer makes it */
        const char *pargs[] = {"--threads", "1", "--count", "1", "--hold", NULL};
        struct tu_child p = tu_producer(pargs);
        tu_wait_line(&p, "done ");
        uint64_t ms = ms_until_in_file(p.pid, 5000);
        fprintf(stderr, "%s: the record reached the file in %lu ms\n", dirs[i], (unsigned long)ms);
        /* inotify answers in milliseconds; a loaded CI machine gets some slack */
        cr_assert_lt(ms, 300, "%s: %lu ms", dirs[i], (unsigned long)ms);
        tu_close_stdin(&p);
        cr_assert_eq(tu_wait_exit(&p), 0);
    }
    setenv("SHMLOG_DIR", env.seg, 1);
    tu_stop_collector(&late, &col);
}

/* A ring left quiet for ten times --max-delay-ms, whose producer then logs
 * bursts of a sixteenth of it: every record lands, in order, none dropped.
 * The collector leaves a quiet ring unread while its uid's bell stands still
 * (drain.c, ring_can_wait), and each burst moves it once. The ring holds
 * sixteen bursts (80 ms): a collector that waits for something else than the
 * bell, as --max-delay-ms (200), drops records; a loaded machine does not. */
Test(collector_latency, a_ring_idle_for_long_gets_every_record_of_its_bursts)
{
    const char *cargs[] = {"--max-delay-ms", "200", NULL};
    struct tu_child col = tu_collector_ready(&env, cargs);
    const char *pargs[] = {"--threads", "1", "--count", "40000", "--ring-bytes", "262144", "--gate-at", "1",
                           "--burst", "256", "--pause-us", "5000", NULL};
    struct tu_child p = tu_producer_one_cpu(pargs);
    tu_wait_line(&p, "ready");
    cr_assert(ms_until_records_in_file(p.pid, 1, 8000) != UINT64_MAX, "the first record did not reach the file within 8 s");
    tu_sleep_ms(1000); /* five times --max-delay-ms: the collector has long taken the ring for quiet */
    tu_close_stdin(&p);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_stop_collector(&env, &col);
    cr_assert_eq(dropped, 0, "the producer dropped %llu records: its ring was read late", dropped);
    struct tu_read got = {0};
    cr_assert_geq(tu_read_all(env.out, &got), 1);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 40000), 40000);
    cr_assert_eq(got.losses, 0, "%zu loss markers", got.losses);
    tu_read_free(&got);
}

/* A producer's rings carry SHMLOG_RING_BELL and name its uid's bell, a file
 * of its own (0644) in /dev/shm, which moves each time a ring's progress line
 * does: every sixteenth of the ring. */
Test(collector_e2e, a_producer_rings_its_uid_bell_every_sixteenth_of_a_ring)
{
    char bell[64];
    snprintf(bell, sizeof(bell), SHMLOG_BELL_PREFIX "%u", (unsigned)geteuid());
    struct shmlog_bell before = {0};
    int fd = open(bell, O_RDONLY);
    if (fd >= 0) { /* made by an earlier producer of ours */
        cr_assert_eq(pread(fd, &before, sizeof(before), 0), (ssize_t)sizeof(before));
        close(fd);
    }
    const char *pargs[] = {"--threads", "1", "--count", "1000", "--ring-bytes", "65536", "--hold", NULL};
    struct tu_child p = tu_producer_one_cpu(pargs);
    cr_assert_eq(tu_wait_line(&p, "done "), 0);
    char ring[700] = "";
    tu_find_ring(env.seg, p.pid, ring, sizeof(ring));
    cr_assert(ring[0], "no ring of pid %d in %s", (int)p.pid, env.seg);
    fd = open(ring, O_RDONLY);
    cr_assert_geq(fd, 0, "%s: %s", ring, strerror(errno));
    struct shmlog_ring h;
    cr_assert_eq(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    close(fd);
    cr_assert(h.ring_flags & SHMLOG_RING_BELL, "ring_flags %#x", h.ring_flags);
    struct stat st;
    cr_assert_eq(lstat(bell, &st), 0, "%s: %s", bell, strerror(errno));
    cr_assert(S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 0777) == 0644, "%s: mode %o uid %u", bell,
              (unsigned)st.st_mode, (unsigned)st.st_uid);
    cr_assert(h.bell_dev == (uint64_t)st.st_dev && h.bell_ino == (uint64_t)st.st_ino, "the ring names another bell");
    fd = open(bell, O_RDONLY);
    struct shmlog_bell after;
    cr_assert_eq(pread(fd, &after, sizeof(after), 0), (ssize_t)sizeof(after));
    close(fd);
    /* 1000 one-slot records cross 1000 / (capacity / 16) sixteenths; other
     * producers of our uid may ring it too. */
    uint64_t sixteenths = 1000 / (h.capacity / 16);
    cr_assert_gt(sixteenths, 0, "a ring of %lu slots", (unsigned long)h.capacity);
    cr_assert_geq(after.rung - before.rung, sixteenths, "the bell moved %lu times for %lu sixteenths",
                  (unsigned long)(after.rung - before.rung), (unsigned long)sixteenths);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit(&p), 0);
}
