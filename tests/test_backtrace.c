/* Description: the backtrace through a real collector, real producer processes and shmlog-dump read: with
 * backtrace_level DEBUG, trigger ERROR and N records, the files hold exactly the last N DEBUG records before each
 * ERROR (a second ERROR only those kept since the first), flagged and shown just before their trigger, the INFO and
 * ERROR records unflagged, and nothing else; shmlog-dump backtrace and shmlog_backtrace_flush write the kept ones
 * without a trigger; with backtrace off no DEBUG record lands and none is flagged; a producer killed after a
 * trigger loses nothing the trigger wrote; verify finds every file whole, also when records are kept in passes
 * of their own between batches; the EXIT marker counts the records written. */
#include "test_util_file.h"

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "backtrace"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(backtrace, .init = setup, .fini = teardown, .timeout = 120);

static struct tu_child start_producer_mode(const char *records, const char *mode)
{
    char *argv[] = {(char *)tu_exe("BT_PRODUCER"), (char *)records, (char *)mode, NULL};
    struct tu_child p = tu_spawn(argv, NULL);
    tu_wait_line(&p, "pid ");
    return p;
}

static struct tu_child start_producer(const char *records)
{
    return start_producer_mode(records, NULL);
}

/* One command to the producer; returns once it has done it. */
static void say(struct tu_child *p, const char *cmd)
{
    size_t n = strlen(cmd);
    cr_assert_eq(write(p->in_fd, cmd, n), (ssize_t)n);
    cr_assert_eq(write(p->in_fd, "\n", 1), 1);
    if (strcmp(cmd, "quit") != 0)
        tu_wait_line(p, "ok");
}

/* The records of the output directory as shmlog-dump read --format json
 * prints them, each as "<msg> <B|->" (B: flagged backtrace), in its order,
 * into out; returns how many. */
static size_t read_out(char out[][48], size_t cap)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s read --format json %s", tu_exe("SHMLOG_DUMP"), env.out);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char line[4096];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        const char *m = strstr(line, "\"msg\":\"");
        if (!m)
            continue;
        m += 7;
        size_t len = strcspn(m, " \"");
        cr_assert_lt(n, cap);
        /* the message's first two words: "d i=12" */
        const char *sp = m + len;
        if (*sp == ' ')
            sp += 1 + strcspn(sp + 1, " \"");
        snprintf(out[n], 48, "%.*s %c", (int)(sp - m), m, strstr(line, "\"backtrace\":true") ? 'B' : '-');
        n++;
    }
    int st = pclose(f);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x", cmd, st);
    return n;
}

static void expect(char got[][48], size_t n, const char *const want[], size_t nwant)
{
    for (size_t i = 0; i < n || i < nwant; i++) {
        const char *g = i < n ? got[i] : "(nothing)", *w = i < nwant ? want[i] : "(nothing)";
        if (strcmp(g, w) != 0) {
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, "  got[%zu] %s\n", k, got[k]);
            cr_assert_fail("record %zu: got '%s', wanted '%s' (%zu records, %zu wanted)", i, g, w, n, nwant);
        }
    }
}

static void verify_out(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s verify %s >&2", tu_exe("SHMLOG_DUMP"), env.out);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "verify: status %#x", st);
}

static void finish(struct tu_child *p, struct tu_child *col)
{
    say(p, "quit");
    int st = tu_wait_exit(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer status %#x", st);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, col);
}

/* want[] += "d i=A B" .. "d i=B-1 B" */
static size_t want_debug(const char **want, size_t n, char store[][48], unsigned a, unsigned b)
{
    for (unsigned i = a; i < b; i++) {
        snprintf(store[n], 48, "d i=%u B", i);
        want[n] = store[n];
        n++;
    }
    return n;
}

static char got[4096][48], store[4096][48];
static const char *want[4096];

Test(backtrace, the_last_n_records_before_each_trigger_and_nothing_else)
{
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child p = start_producer("16");
    say(&p, "debug 0 50");
    say(&p, "info 0 3");
    say(&p, "debug 50 100");
    say(&p, "error 1");
    say(&p, "debug 100 105");
    say(&p, "error 2");
    say(&p, "debug 105 300"); /* kept, never triggered */
    finish(&p, &col);
    size_t n = 0;
    want[n++] = "n i=0 -";
    want[n++] = "n i=1 -";
    want[n++] = "n i=2 -";
    n = want_debug(want, n, store, 84, 100);
    want[n++] = "e k=1 -";
    n = want_debug(want, n, store, 100, 105);
    want[n++] = "e k=2 -";
    expect(got, read_out(got, 4096), want, n);
    verify_out();
}

Test(backtrace, a_request_writes_what_was_kept_without_a_trigger)
{
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child p = start_producer("64");
    say(&p, "debug 0 10");
    /* Until the collector has drained them and seen the request: asked again
     * meanwhile, it writes only what it kept since. */
    size_t n = 0;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s backtrace --app bt --dir %s >&2", tu_exe("SHMLOG_DUMP"), env.seg);
    for (uint64_t until = tu_now_ms() + 20000; n < 10 && tu_now_ms() < until; n = read_out(got, 4096)) {
        int st = system(cmd);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x", cmd, st);
        tu_sleep_ms(100);
    }
    say(&p, "debug 10 20");
    say(&p, "flush"); /* shmlog_backtrace_flush, once: the ring is drained before the request is read */
    for (uint64_t until = tu_now_ms() + 20000; n < 20 && tu_now_ms() < until; n = read_out(got, 4096))
        tu_sleep_ms(100);
    say(&p, "debug 20 30");
    finish(&p, &col);
    expect(got, read_out(got, 4096), want, want_debug(want, 0, store, 0, 20));
    verify_out();
}

Test(backtrace, off_by_default_writes_no_detail_and_flags_nothing)
{
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child p = start_producer("off");
    say(&p, "debug 0 50");
    say(&p, "info 0 2");
    say(&p, "error 1");
    finish(&p, &col);
    const char *w[] = {"n i=0 -", "n i=1 -", "e k=1 -"};
    expect(got, read_out(got, 4096), w, 3);
    verify_out();
}

Test(backtrace, a_producer_killed_after_a_trigger_loses_nothing_it_triggered)
{
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child p = start_producer("8");
    say(&p, "debug 0 40");
    say(&p, "error 7");
    say(&p, "debug 40 45");
    cr_assert_eq(kill(p.pid, SIGKILL), 0);
    tu_wait_exit(&p);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);
    size_t n = want_debug(want, 0, store, 32, 40);
    want[n++] = "e k=7 -";
    expect(got, read_out(got, 4096), want, n);
    verify_out();
}

/* The EXIT marker's records: those of the process in the files. */
static unsigned long exit_records(void)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "%s read --format json %s", tu_exe("SHMLOG_DUMP"), env.out);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char line[4096];
    unsigned long records = 0;
    int exits = 0;
    while (fgets(line, sizeof line, f)) {
        const char *x = strstr(line, "\"exit\":{\"records\":");
        if (x) {
            records = strtoul(x + strlen("\"exit\":{\"records\":"), NULL, 10);
            exits++;
        }
    }
    pclose(f);
    cr_assert_eq(exits, 1);
    return records;
}

/* Kept records in a pass of their own, between batches (--max-delay-ms 5 and
 * pauses): each batch passes over the positions kept before its first record,
 * so verify finds the file whole; the EXIT marker counts the records written
 * (not the kept ones, written or not, twice or at all). */
Test(backtrace, batches_account_for_kept_positions_and_exit_counts_what_was_written)
{
    const char *args[] = {"--max-delay-ms", "5", NULL};
    struct tu_child col = tu_collector(&env, args);
    struct tu_child p = start_producer("10");
    char cmd[64];
    for (unsigned k = 0; k < 12; k++) {
        snprintf(cmd, sizeof cmd, "debug %u %u", k * 100, k * 100 + 100);
        say(&p, cmd);
        tu_sleep_ms(30);
        snprintf(cmd, sizeof cmd, "info %u %u", k * 2, k * 2 + 2);
        say(&p, cmd);
        tu_sleep_ms(30);
        if (k % 4 == 3) {
            snprintf(cmd, sizeof cmd, "error %u", k);
            say(&p, cmd);
        }
    }
    finish(&p, &col);
    size_t n = read_out(got, 4096);
    cr_assert_eq(n, 24 + 3 + 3 * 10, "INFO, ERROR and the last 10 DEBUG before each ERROR: %zu", n);
    verify_out();
    cr_assert_eq(exit_records(), n, "the EXIT marker counts %lu records, the files hold %zu", exit_records(), n);
}

/* A producer that shrinks its own meta and asks for its backtrace: the
 * collector must not read the lost pages unguarded (the kept records name
 * sites it has not read yet, on an overwrite ring, which is read record by
 * record), and goes on for everyone else. */
Test(backtrace, a_meta_shrunk_before_a_flush_costs_its_own_process_only)
{
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child p = start_producer_mode("100", "overwrite");
    say(&p, "debug 0 50");
    say(&p, "info 0 5");
    tu_sleep_ms(200); /* drained: the debug records kept */
    say(&p, "shrink");
    say(&p, "flush");
    tu_sleep_ms(200);
    int st;
    cr_assert_eq(waitpid(col.pid, &st, WNOHANG), 0, "the collector ended (status %#x)", st);
    say(&p, "quit");
    cr_assert_eq(tu_wait_exit_within(&p, 10000, "the producer"), 0);

    const char *args[] = {"--threads", "1", "--count", "2000", NULL};
    struct tu_child q = tu_producer(args);
    unsigned long long dropped = tu_wait_line(&q, "done ");
    cr_assert_eq(tu_wait_exit(&q), 0);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);
    cr_assert_eq(tu_log_lines(&env, "SIGBUS"), 1, "the fault is reported once");
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)q.pid, 1, 2000) + dropped, 2000);
    size_t of_p = 0;
    for (size_t i = 0; i < got.n; i++)
        of_p += got.rec_pid[i] == (uint32_t)p.pid;
    cr_assert_eq(of_p, 55, "the shrunk process's own records: %zu", of_p);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    tu_read_free(&got);
}
