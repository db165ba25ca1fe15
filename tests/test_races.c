/* Description: nothing is lost uncounted to a race or a broken segment: processes that die right after their first records are never finalized before their rings are read (hundreds of them, many at a time), a ring its process made unreadable is a counted loss removed with it, not an orphan. */
#include "test_util_file.h"

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "races"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(races, .init = setup, .fini = teardown, .timeout = 180);

/* Per process of a file set: records, EXIT sections and what they say. */
struct per_pid {
    uint32_t pid;
    uint64_t proc_start; /* with the pid: a pid the machine gave out again is another process */
    uint64_t records, exits, exit_records, exit_lost, lost;
};

static struct per_pid *find_pid(struct per_pid *v, size_t *n, size_t max, const struct shm_proc_info *info)
{
    for (size_t i = 0; i < *n; i++)
        if (v[i].pid == info->pid && v[i].proc_start == info->proc_start)
            return &v[i];
    cr_assert_lt(*n, max, "more than %zu processes", max);
    v[*n] = (struct per_pid){.pid = info->pid, .proc_start = info->proc_start};
    return &v[(*n)++];
}

struct per_pid_read {
    struct per_pid *v;
    size_t n, max;
    struct tu_read *all;
};

static void count_per_pid(const struct shlog_event *ev, void *ctx)
{
    struct per_pid_read *c = ctx;
    tu_read_event(c->all, ev);
    if (!ev->proc || (ev->kind != SHLOG_EV_RECORD && ev->kind != SHLOG_EV_EXIT && ev->kind != SHLOG_EV_LOSS))
        return;
    struct per_pid *p = find_pid(c->v, &c->n, c->max, &ev->proc->info);
    if (ev->kind == SHLOG_EV_RECORD) {
        p->records++;
    } else if (ev->kind == SHLOG_EV_LOSS) {
        p->lost += ev->loss.records;
    } else {
        p->exits++;
        p->exit_records = ev->exit_records;
        p->exit_lost = ev->exit_lost;
    }
}

/* Reads every closed file of the output into per-process counts (at most max processes). */
static size_t read_per_pid(struct per_pid *v, size_t max, struct tu_read *all)
{
    struct per_pid_read c = {v, 0, max, all};
    tu_each_event(env.out, count_per_pid, &c);
    return c.n;
}

/* ==== Processes that die right after logging ==== */

#define DIE_ROUNDS 20
#define DIE_AT_ONCE 30
#define DIE_RECORDS 100

Test(races, processes_that_die_right_after_logging_are_never_finalized_before_their_rings)
{
    /* Each process makes its meta, its ring at its first record, logs and
     * ends without shmlog_shutdown, many at once: the collector finds metas
     * whose process is gone already, with rings made after it listed the
     * directory. Every record must land under its process, and its EXIT
     * must count them. An 8 MiB meta takes the collector a while to open
     * (it faults it in), which widens the window between its listing of the
     * directory and its look at each process. */
    struct tu_child col = tu_collector(&env, NULL);
    const char *args[] = {"--threads", "1", "--count", "100", "--die", "--meta-bytes", "8388608",
                          "--ring-bytes", "65536", NULL};
    size_t npids = 0;
    for (int round = 0; round < DIE_ROUNDS; round++) {
        struct tu_child p[DIE_AT_ONCE];
        for (int k = 0; k < DIE_AT_ONCE; k++) {
            p[k] = tu_producer(args);
            npids++;
        }
        for (int k = 0; k < DIE_AT_ONCE; k++)
            cr_assert_eq(tu_wait_exit_within(&p[k], 20000, "a producer"), 0);
    }
    tu_assert_segments_gone(&env, 15000);
    tu_stop_collector(&env, &col);

    static struct per_pid v[DIE_ROUNDS * DIE_AT_ONCE];
    struct tu_read all = {0};
    size_t n = read_per_pid(v, DIE_ROUNDS * DIE_AT_ONCE, &all);
    cr_assert_eq(n, npids, "%zu processes in the files, %zu ran", n, npids);
    size_t short_exits = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(v[i].exits, 1, "pid %u: %lu EXIT sections", v[i].pid, (unsigned long)v[i].exits);
        short_exits += v[i].exit_records != DIE_RECORDS;
        cr_assert_eq(v[i].records, DIE_RECORDS, "pid %u: %lu records in the files (EXIT says %lu, %lu lost); "
                     "%zu of %zu processes so far had an EXIT short of their records", v[i].pid,
                     (unsigned long)v[i].records, (unsigned long)v[i].exit_records, (unsigned long)v[i].exit_lost,
                     short_exits, i + 1);
        cr_assert_eq(v[i].exit_records, DIE_RECORDS);
        cr_assert_eq(v[i].lost + v[i].exit_lost, 0);
    }
    cr_assert_eq(all.errors, 0, "%s", all.first_error);
    tu_read_free(&all);
}

/* ==== A ring that cannot be read ==== */

Test(races, a_ring_its_process_made_unreadable_is_a_counted_loss_not_an_orphan)
{
    const unsigned count = 1000;
    const char *args[] = {"--threads", "1", "--count", "1000", "--hold", NULL};
    struct tu_child p = tu_producer_one_cpu(args);
    tu_wait_line(&p, "done ");
    /* Its own uid scribbles on its ring header: no ring of this capacity. */
    char ring[700];
    tu_find_ring(env.seg, p.pid, ring, sizeof(ring));
    cr_assert(ring[0], "no ring of %d", (int)p.pid);
    int fd = open(ring, O_RDWR | O_CLOEXEC);
    cr_assert(fd >= 0);
    uint64_t cap = 3;
    cr_assert_eq(pwrite(fd, &cap, sizeof(cap), offsetof(struct shmlog_ring, capacity)), (ssize_t)sizeof(cap));
    close(fd);

    struct tu_child col = tu_collector(&env, NULL);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit_within(&p, 10000, "the producer"), 0);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.n, 0, "records of an unreadable ring");
    cr_assert_eq(got.lost[SHM_LOSS_CORRUPT], count, "%lu records counted lost, %u were in the ring",
                 (unsigned long)got.lost[SHM_LOSS_CORRUPT], count);
    cr_assert_eq(got.exits, 1);
    cr_assert_eq(tu_log_lines(&env, "not readable"), 1);
    tu_read_free(&got);
}

/* ==== More processes than descriptors ==== */

#define HOLDERS 300

Test(races, a_collector_out_of_descriptors_goes_on_draining_and_ending_processes)
{
    /* A limit of 256 descriptors, which the collector cannot raise: the
     * processes past it wait for one. One process logs on after a rotation,
     * whose new file needs a descriptor when every one may be taken. */
    char *argv[] = {"/usr/bin/prlimit", "--nofile=256:256", "--", (char *)tu_exe("COLLECTOR"), "--dir", env.seg,
                    "--out", env.out, NULL};
    if (access(argv[0], X_OK) != 0)
        cr_skip_test("needs prlimit (util-linux)");
    struct tu_child col = tu_spawn(argv, env.log);
    const char *slow_args[] = {"--app", "slow", "--threads", "1", "--forever", "--burst", "1", "--pause-us", "10000",
                               NULL};
    struct tu_child slow = tu_producer(slow_args);
    tu_wait_line(&slow, "ready");
    const char *hold_args[] = {"--threads", "1", "--count", "1", "--hold", "--ring-bytes", "65536", "--meta-bytes",
                               "65536", NULL};
    static struct tu_child holders[HOLDERS];
    for (int i = 0; i < HOLDERS; i++)
        holders[i] = tu_producer(hold_args);
    for (int i = 0; i < HOLDERS; i++)
        tu_wait_line(&holders[i], "done ");
    uint64_t until = tu_now_ms() + 20000; /* at the limit: said once, or (before) one line per segment */
    while (!tu_log_lines(&env, "take the descriptors") && !tu_log_lines(&env, "Too many open files") &&
           tu_now_ms() < until)
        tu_sleep_ms(20);
    cr_assert_lt(tu_now_ms(), until, "the collector never reached its descriptor limit");
    cr_assert_eq(kill(col.pid, SIGHUP), 0);
    tu_sleep_ms(1000);
    for (int i = 0; i < HOLDERS; i++) {
        tu_close_stdin(&holders[i]);
        cr_assert_eq(tu_wait_exit_within(&holders[i], 10000, "a producer"), 0);
    }
    kill(slow.pid, SIGKILL);
    tu_wait_exit(&slow);
    tu_assert_segments_gone(&env, 20000);
    tu_stop_collector(&env, &col);

    static struct per_pid v[HOLDERS + 1];
    struct tu_read all = {0};
    size_t n = read_per_pid(v, HOLDERS + 1, &all);
    cr_assert_eq(n, HOLDERS + 1);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(v[i].exits, 1, "pid %u: %lu EXIT sections", v[i].pid, (unsigned long)v[i].exits);
        if (v[i].pid != (uint32_t)slow.pid)
            cr_assert_eq(v[i].records + v[i].lost, 1, "pid %u: %lu records, %lu lost", v[i].pid,
                         (unsigned long)v[i].records, (unsigned long)v[i].lost);
    }
    cr_assert_eq(all.errors, 0, "%s", all.first_error);
    tu_read_free(&all);
}
