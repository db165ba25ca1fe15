/* Description: invariants 2 and 3 under SIGKILL: while producers log known per-thread sequences, the harness kills producers, the collector (and restarts it), or both, dozens of times at seeded random moments; afterwards every record whose log call returned is in the files exactly once or counted as dropped, per-thread order holds in ring order, every loss is a counted marker, and producers that exited normally have all their records. */
#include "test_util_file.h"

/*
 * What "committed" means for a SIGKILLed producer: --progress in tests/test_collector_producer.c
 * stores, per thread, how many of its log calls returned. A call that
 * returned either committed its record or counted it as dropped, so per
 * thread, records 0 .. attempted-1 must each be in the files or be counted in
 * a DROPPED marker. Record `attempted` may have been in flight at the kill: it
 * may be in the files, counted (dropped, or a dead writer's reserved slot), or
 * nowhere. So per process, with M the returned calls missing from the files
 * and F the in-flight records missing from them:
 *     M <= dropped + dead_writer <= M + F
 * The left side fails when a committed record is lost; the right side when a
 * loss is counted that did not happen.
 *
 * SHMLOG_CRASH_ROUNDS: kill rounds per scenario (default 24; the README's
 * `slow` run uses more). SHMLOG_CRASH_SEED: replays a run (printed at start).
 */

#define CM_MAX_THREADS 8
#define CM_LIVE 3                 /* producers running at once */
#define CM_DEFAULT_ROUNDS 24

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "crashmx"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(crash_matrix, .init = setup, .fini = teardown, .timeout = 600);

/* ==== Seeded randomness ==== */

static uint64_t rng;

static uint64_t rnd(void)
{
    /* xorshift64*: enough for choosing moments; the seed replays a run. */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}

static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

/* ==== Producers and what the files say about them ==== */

struct cm_pos {
    uint64_t pos;
    uint32_t i;
    uint16_t cpu;
    uint8_t t;
};

struct cm_prod {
    struct tu_child child;
    uint32_t pid;
    uint64_t proc_start;
    unsigned threads;
    uint64_t count; /* 0: logs until killed */
    int running, killed;
    int killed_in_init; /* SIGKILLed right after the start, maybe before its meta segment existed */
    int busy;           /* logs without pauses; killed in the next round */
    uint64_t done_dropped; /* its own drop counter when it exited normally */
    uint64_t attempted[CM_MAX_THREADS];
    char progress[400];
    /* from the files */
    uint8_t *seen[CM_MAX_THREADS]; /* bit i: record i was read */
    struct cm_pos *order;
    size_t norder, order_cap;
    uint64_t lost[8];
    int exit_seen;
};

struct cm_run {
    const char *name;
    int kill_producers, kill_collector;
    struct cm_prod **prods;
    size_t nprods, cap;
    struct tu_child col;
    uint32_t killed_collectors[4096];
    size_t nkilled_collectors;
    uint64_t producer_kills, producer_kills_in_init, normal_exits, collector_kills;
    struct cm_prod *last_found;
};

static const char *cm_exe(void) { return tu_exe("TEST_PRODUCER"); }

static void cm_kill(struct cm_run *run, struct cm_prod *p);

static struct cm_prod *cm_spawn(struct cm_run *run)
{
    if (run->nprods == run->cap) {
        run->cap = run->cap ? run->cap * 2 : 64;
        run->prods = realloc(run->prods, run->cap * sizeof(*run->prods));
        cr_assert(run->prods);
    }
    struct cm_prod *p = calloc(1, sizeof(*p));
    cr_assert(p);
    run->prods[run->nprods] = p;
    p->threads = 1 + (unsigned)rnd_below(3);
    /* When producers are killed, most log until then; otherwise all finish.
     * A busy one (no pauses) is inside a log call most of the time, so its
     * kill often leaves a reserved, never committed slot: a dead writer. */
    p->count = run->kill_producers && rnd_below(3) ? 0 : 3000 + rnd_below(30000);
    p->busy = p->count == 0 && rnd_below(4) == 0;
    snprintf(p->progress, sizeof(p->progress), "%s/progress-%zu", env.root, run->nprods);
    run->nprods++;
    int fd = open(p->progress, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, CM_MAX_THREADS * sizeof(uint64_t)), 0);
    close(fd);

    char threads[16], count[32], ring[32], burst[16], pause[16], longe[16];
    snprintf(threads, sizeof(threads), "%u", p->threads);
    snprintf(count, sizeof(count), "%lu", (unsigned long)p->count);
    /* The smallest ring fills in tens of ms while the collector is down:
     * drops happen; the larger one mostly rides a restart out. */
    snprintf(ring, sizeof(ring), "%u", p->busy ? 16u << 20 : rnd_below(2) ? 65536u : 1u << 20);
    snprintf(burst, sizeof(burst), "%u", 20 + (unsigned)rnd_below(80));
    snprintf(pause, sizeof(pause), "%u", p->busy ? 0u : 500 + (unsigned)rnd_below(1500));
    snprintf(longe, sizeof(longe), "%u", rnd_below(3) ? 0u : 5 + (unsigned)rnd_below(60));
    char *argv[] = {(char *)cm_exe(), "--progress", p->progress, "--threads", threads, "--count", count,
                    "--ring-bytes", ring, "--burst", burst, "--pause-us", pause, "--long-every", longe, NULL};
    p->child = tu_spawn(argv, NULL);
    p->pid = (uint32_t)p->child.pid;
    p->running = 1;
    if (run->kill_producers && rnd_below(8) == 0) {
        /* Killed while it starts: before exec, in shmlog_init with a
         * half-made segment, or in its first records. */
        p->killed_in_init = 1;
        struct timespec ts = {0, (long)rnd_below(3000) * 1000};
        nanosleep(&ts, NULL);
        cm_kill(run, p);
        return p;
    }
    tu_wait_line(&p->child, "ready");
    p->proc_start = shm_proc_start_time(p->pid);
    cr_assert_neq(p->proc_start, 0);
    return p;
}

/* Reaps p (it has ended or was killed) and reads its progress file. */
static void cm_reap(struct cm_run *run, struct cm_prod *p)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    cr_assert_eq(waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT), 0);
    if (!p->proc_start) /* a zombie still has its start time */
        p->proc_start = shm_proc_start_time(p->pid);
    if (si.si_code == CLD_EXITED) {
        cr_assert_eq(si.si_status, 0, "producer %u exited with %d", p->pid, si.si_status);
        p->done_dropped = tu_wait_line(&p->child, "done ");
        p->killed = 0;
        run->normal_exits++;
    } else {
        cr_assert(si.si_code == CLD_KILLED && si.si_status == SIGKILL, "producer %u: code %d status %d", p->pid,
                  si.si_code, si.si_status);
        p->killed = 1;
        run->producer_kills++;
        run->producer_kills_in_init += p->killed_in_init;
    }
    tu_wait_exit(&p->child);
    p->running = 0;
    int fd = open(p->progress, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, p->attempted, sizeof(p->attempted), 0), (ssize_t)sizeof(p->attempted));
    close(fd);
    for (unsigned t = 0; t < p->threads; t++) {
        if (!p->killed)
            cr_assert_eq(p->attempted[t], p->count, "producer %u thread %u", p->pid, t);
        /* one bit more than attempted: the record that may have been in flight */
        p->seen[t] = calloc(p->attempted[t] / 8 + 1, 1);
        cr_assert(p->seen[t]);
    }
}

static void cm_kill(struct cm_run *run, struct cm_prod *p)
{
    cr_assert_eq(kill((pid_t)p->pid, SIGKILL), 0);
    cm_reap(run, p);
}

/* Producers that finished by themselves since the last look. */
static void cm_reap_finished(struct cm_run *run)
{
    for (size_t k = 0; k < run->nprods; k++) {
        struct cm_prod *p = run->prods[k];
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        if (p->running && waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            cm_reap(run, p);
    }
}

static size_t cm_running(const struct cm_run *run)
{
    size_t n = 0;
    for (size_t k = 0; k < run->nprods; k++)
        n += run->prods[k]->running;
    return n;
}

/* A busy producer if one runs (it must not log for long), else any. */
static struct cm_prod *cm_victim(const struct cm_run *run)
{
    for (size_t k = 0; k < run->nprods; k++)
        if (run->prods[k]->running && run->prods[k]->busy)
            return run->prods[k];
    size_t n = cm_running(run);
    if (!n)
        return NULL;
    size_t pick = rnd_below(n);
    for (size_t k = 0; k < run->nprods; k++)
        if (run->prods[k]->running && pick-- == 0)
            return run->prods[k];
    return NULL;
}

static const char *const collector_args[] = {"--rotate-size", "256k", NULL};

static void cm_kill_collector(struct cm_run *run)
{
    cr_assert_eq(kill(run->col.pid, SIGKILL), 0);
    int st = tu_wait_exit(&run->col);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the collector ended on its own: %#x", st);
    cr_assert_lt(run->nkilled_collectors, sizeof(run->killed_collectors) / sizeof(run->killed_collectors[0]));
    run->killed_collectors[run->nkilled_collectors++] = (uint32_t)run->col.pid;
    run->collector_kills++;
}

static void cm_start_collector(struct cm_run *run)
{
    run->col = tu_collector(&env, collector_args);
}

/* ==== Reading the files back ==== */

struct cm_totals {
    uint64_t files, records, duplicates, errors, lost[8];
};

static int cm_killed_collector(const struct cm_run *run, uint32_t pid)
{
    for (size_t k = 0; k < run->nkilled_collectors; k++)
        if (run->killed_collectors[k] == pid)
            return 1;
    return 0;
}

static struct cm_prod *cm_find(struct cm_run *run, const struct shlog_proc *proc)
{
    struct cm_prod *last = run->last_found;
    if (last && last->pid == proc->info.pid && last->proc_start == proc->info.proc_start)
        return last;
    for (size_t k = 0; k < run->nprods; k++)
        if (run->prods[k]->pid == proc->info.pid && run->prods[k]->proc_start == proc->info.proc_start)
            return run->last_found = run->prods[k];
    cr_assert_fail("a process in the files the harness never started: pid %u", proc->info.pid);
    return NULL;
}

/* Record i of thread t may be in the files: a returned call, or the one in flight at a kill. */
static int cm_may_exist(const struct cm_prod *p, unsigned t, uint64_t i)
{
    if (i < p->attempted[t])
        return 1;
    return i == p->attempted[t] && p->killed && (p->count == 0 || p->attempted[t] < p->count);
}

static void cm_on_record(struct cm_run *run, const struct shlog_event *ev)
{
    struct cm_prod *p = cm_find(run, ev->proc);
    struct tu_rec r = tu_decode(ev->rec);
    cr_assert_lt(r.t, p->threads, "pid %u: thread %u", p->pid, r.t);
    cr_assert(cm_may_exist(p, r.t, r.i), "pid %u thread %u: record %lu, but only %lu calls returned", p->pid, r.t,
              r.i, p->attempted[r.t]);
    uint8_t *bit = &p->seen[r.t][r.i / 8];
    cr_assert_eq(*bit & (1u << (r.i % 8)), 0, "pid %u thread %u: record %lu twice after dedup", p->pid, r.t, r.i);
    *bit |= (uint8_t)(1u << (r.i % 8));
    if (p->norder == p->order_cap) {
        p->order_cap = p->order_cap ? p->order_cap * 2 : 4096;
        p->order = realloc(p->order, p->order_cap * sizeof(*p->order));
        cr_assert(p->order);
    }
    p->order[p->norder++] = (struct cm_pos){ev->rec->pos, (uint32_t)r.i, (uint16_t)ev->cpu, (uint8_t)r.t};
}

static size_t cm_read_files(struct cm_run *run, struct cm_totals *tot)
{
    DIR *d = opendir(env.out);
    cr_assert(d);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        cr_assert(l < 6 || strcmp(de->d_name + l - 5, ".part") != 0, "%s left behind", de->d_name);
        if (l <= 6 || strcmp(de->d_name + l - 6, SHLOG_FILE_SUFFIX) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            cr_assert(names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), tu_name_cmp);
    struct shlog_dedup *dd;
    cr_assert_eq(shlog_dedup_new(&dd), 0);
    for (size_t k = 0; k < n; k++) {
        char path[800], err[512];
        snprintf(path, sizeof(path), "%s/%s", env.out, names[k]);
        struct shlog_reader *r;
        cr_assert_eq(shlog_reader_open(&r, path, 0, dd, err, sizeof(err)), 0, "%s", err);
        uint32_t writer = shlog_reader_header(r)->collector_pid;
        struct shlog_event ev;
        int rc;
        while ((rc = shlog_reader_next(r, &ev)) > 0) {
            switch (ev.kind) {
            case SHLOG_EV_RECORD: cm_on_record(run, &ev); break;
            case SHLOG_EV_LOSS:
                cr_assert_lt(ev.loss.reason, 8);
                cm_find(run, ev.proc)->lost[ev.loss.reason] += ev.loss.records;
                tot->lost[ev.loss.reason] += ev.loss.records;
                break;
            case SHLOG_EV_EXIT: cm_find(run, ev.proc)->exit_seen = 1; break;
            case SHLOG_EV_ERROR:
                /* Only a collector killed mid-write leaves damage; its records
                 * were not released and a later run wrote them again. */
                cr_assert(cm_killed_collector(run, writer), "damage in a file of collector %u, which was not killed: %s",
                          writer, ev.error);
                tot->errors++;
                break;
            default: break;
            }
        }
        cr_assert_eq(rc, 0, "%s: %s", path, strerror(-rc));
        const struct shlog_reader_stats *st = shlog_reader_stats(r);
        tot->records += st->records;
        tot->duplicates += st->duplicates;
        shlog_reader_close(r);
        free(names[k]);
    }
    free(names);
    shlog_dedup_free(dd);
    tot->files = n;
    return n;
}

static int cm_pos_cmp(const void *a, const void *b)
{
    const struct cm_pos *x = a, *y = b;
    if (x->cpu != y->cpu)
        return x->cpu < y->cpu ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The invariants, per producer. */
static void cm_check(struct cm_prod *p)
{
    uint64_t missing = 0, in_flight_missing = 0;
    for (unsigned t = 0; t < p->threads; t++) {
        for (uint64_t i = 0; i < p->attempted[t]; i++)
            missing += !(p->seen[t][i / 8] & (1u << (i % 8)));
        uint64_t i = p->attempted[t];
        if (cm_may_exist(p, t, i) && !(p->seen[t][i / 8] & (1u << (i % 8))))
            in_flight_missing++;
    }
    uint64_t dropped = p->lost[SHM_LOSS_DROPPED], dead = p->lost[SHM_LOSS_DEAD_WRITER];
    cr_assert_geq(dropped + dead, missing,
                  "pid %u (%s): %lu records whose call returned are missing, only %lu dropped + %lu dead-writer counted",
                  p->pid, p->killed ? "killed" : "exited", missing, dropped, dead);
    cr_assert_leq(dropped + dead, missing + in_flight_missing,
                  "pid %u: %lu dropped + %lu dead-writer counted, but only %lu + %lu in flight missing", p->pid,
                  dropped, dead, missing, in_flight_missing);
    cr_assert_eq(p->lost[SHM_LOSS_CORRUPT] + p->lost[SHM_LOSS_OVERWRITTEN], 0, "pid %u", p->pid);
    if (!p->killed) {
        cr_assert_eq(dead, 0, "pid %u exited normally", p->pid);
        cr_assert_eq(dropped, p->done_dropped, "pid %u: files count %lu drops, the producer %lu", p->pid, dropped,
                     p->done_dropped);
    }
    /* Every published meta segment gets an EXIT before the collector removes
     * it; one killed before publishing it holds no record and is just removed. */
    cr_assert(p->exit_seen || (p->killed_in_init && p->norder == 0 && dropped + dead == 0),
              "pid %u: no EXIT marker, yet its segments are gone", p->pid);
    /* Per thread, ring order is program order (within each cpu's ring). */
    if (p->norder)
        qsort(p->order, p->norder, sizeof(*p->order), cm_pos_cmp);
    int64_t last[CM_MAX_THREADS];
    for (size_t k = 0; k < p->norder; k++) {
        if (k == 0 || p->order[k].cpu != p->order[k - 1].cpu)
            for (unsigned t = 0; t < CM_MAX_THREADS; t++)
                last[t] = -1;
        const struct cm_pos *o = &p->order[k];
        cr_assert_gt((int64_t)o->i, last[o->t], "pid %u thread %u cpu %u: record %u at position %lu after record %ld",
                     p->pid, o->t, o->cpu, o->i, o->pos, last[o->t]);
        last[o->t] = o->i;
    }
}

/* ==== The scenarios ==== */

static void cm_scenario(const char *name, int kill_producers, int kill_collector, unsigned scenario_id)
{
    char test[64];
    snprintf(test, sizeof(test), "crash_matrix %s", name);
    uint64_t seed = tu_seed("SHMLOG_CRASH_SEED", test);
    rng = seed ^ (0x9E3779B97F4A7C15ull * (scenario_id + 1));
    if (!rng)
        rng = 1;
    uint64_t rounds = tu_env_u64("SHMLOG_CRASH_ROUNDS", CM_DEFAULT_ROUNDS);
    fprintf(stderr, "%s: %lu rounds (SHMLOG_CRASH_ROUNDS)\n", test, (unsigned long)rounds);
    static struct cm_run run;
    memset(&run, 0, sizeof(run));
    run.name = name;
    run.kill_producers = kill_producers;
    run.kill_collector = kill_collector;
    uint64_t t0 = tu_now_ms();
    cm_start_collector(&run);
    for (uint64_t round = 0; round < rounds; round++) {
        cm_reap_finished(&run);
        while (cm_running(&run) < CM_LIVE)
            cm_spawn(&run);
        tu_sleep_ms(20 + (unsigned)rnd_below(200));
        /* both: a producer, then the collector, then both at once */
        int kill_p = kill_producers && (!kill_collector || round % 3 != 1);
        int kill_c = kill_collector && (!kill_producers || round % 3 != 0);
        if (kill_c)
            cm_kill_collector(&run);
        if (kill_p) {
            struct cm_prod *p = cm_victim(&run);
            if (p)
                cm_kill(&run, p);
        }
        if (kill_c) {
            tu_sleep_ms((unsigned)rnd_below(150));
            cm_start_collector(&run);
        }
    }
    /* The end: producers that log forever are killed, the others finish. */
    for (size_t k = 0; k < run.nprods; k++) {
        struct cm_prod *p = run.prods[k];
        if (p->running && p->count == 0)
            cm_kill(&run, p);
        else if (p->running)
            cm_reap(&run, p);
    }
    tu_assert_segments_gone(&env, 60000);
    tu_stop_collector(&env, &run.col);
    uint64_t t_run = tu_now_ms() - t0;

    struct cm_totals tot = {0};
    cm_read_files(&run, &tot);
    uint64_t returned = 0;
    for (size_t k = 0; k < run.nprods; k++) {
        struct cm_prod *p = run.prods[k];
        cm_check(p);
        for (unsigned t = 0; t < p->threads; t++)
            returned += p->attempted[t];
    }
    cr_assert_eq(tot.lost[SHM_LOSS_CORRUPT] + tot.lost[SHM_LOSS_OVERWRITTEN], 0);
    fprintf(stderr,
            "crash_matrix %s: %lu ms; producers %zu (SIGKILLed %lu, %lu of them while starting; exited normally %lu); "
            "collector SIGKILLs %lu; files %lu; log calls returned %lu; records read %lu (+%lu duplicates dropped by "
            "the reader); losses: dropped %lu, dead writer %lu, corrupt %lu, overwritten %lu; damaged frames in "
            "killed collectors' files %lu\n",
            name, (unsigned long)t_run, run.nprods, (unsigned long)run.producer_kills,
            (unsigned long)run.producer_kills_in_init, (unsigned long)run.normal_exits, (unsigned long)run.collector_kills,
            (unsigned long)tot.files, (unsigned long)returned, (unsigned long)tot.records,
            (unsigned long)tot.duplicates, (unsigned long)tot.lost[SHM_LOSS_DROPPED],
            (unsigned long)tot.lost[SHM_LOSS_DEAD_WRITER], (unsigned long)tot.lost[SHM_LOSS_CORRUPT],
            (unsigned long)tot.lost[SHM_LOSS_OVERWRITTEN], (unsigned long)tot.errors);
    cr_assert_geq(tot.records, 1000, "the producers hardly logged");
    if (kill_collector)
        cr_assert_eq(run.collector_kills, kill_producers ? rounds - (rounds + 2) / 3 : rounds);
    for (size_t k = 0; k < run.nprods; k++) {
        struct cm_prod *p = run.prods[k];
        for (unsigned t = 0; t < p->threads; t++)
            free(p->seen[t]);
        free(p->order);
        free(p);
    }
    free(run.prods);
}

Test(crash_matrix, producers_sigkilled)
{
    cm_scenario("producers", 1, 0, 0);
}

Test(crash_matrix, collector_sigkilled_and_restarted)
{
    cm_scenario("collector", 0, 1, 1);
}

Test(crash_matrix, producers_and_collector_sigkilled)
{
    cm_scenario("both", 1, 1, 2);
}
