/* Description: records are attributed by what the kernel vouches for, not by names: a ring or meta segment another uid crafted from a victim's own bytes is refused and left in place, names another user took first do not stop a producer, an app name with a newline never reaches an alert's environment, records of cpus without a ring reach the files as no_ring losses, --allow-uid takes names, --allow-group members and the own uid always, and the default segment directories are made 01777 for every user while an unsafe one is refused with its chmod. */
#include "test_users.h"

#include <errno.h>
#include <sys/mount.h>

#define FMT "t=%u i=%lu px=%f s=%s"        /* the test producer's one format */
#define FORGED_FMT "T=%u I=%lu PX=%f S=%s" /* the same length and arguments */
#define FORGED_T 9                         /* the thread number forged records claim */

static struct tu_env env;
static char mnt[400];     /* a private hugetlbfs, when a test mounts one */
static long pages_added; /* what we raised vm.nr_hugepages by, to give back */

static long free_hugepages(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "HugePages_Free: %ld", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static void setup(void)
{
    tu_env_setup(&env, "attribution");
    /* the test users' producers must reach the segment directory */
    cr_assert_eq(chmod(env.root, 0711), 0);
}

static void teardown(void)
{
    tu_kill_children();
    if (mnt[0]) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'/* 2>/dev/null", mnt);
        if (system(cmd) != 0)
            fprintf(stderr, "could not empty %s\n", mnt);
        umount2(mnt, MNT_DETACH);
        rmdir(mnt);
        mnt[0] = '\0';
    }
    if (pages_added > 0) /* give back what we took, leaving others' changes alone */
        tu_write_nr_hugepages(tu_read_nr_hugepages() - pages_added);
    pages_added = 0;
    tu_rmtree(env.root);
}

TestSuite(attribution, .init = setup, .fini = teardown, .timeout = 60);

/* Criterion does not run .fini after cr_skip_test: clean up first. */
#define SKIP(...)                  \
    do {                           \
        teardown();                \
        cr_skip_test(__VA_ARGS__); \
    } while (0)

/* ==== Processes, files ==== */

static void read_whole(const char *path, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "%s", path);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    *buf = malloc(*len);
    cr_assert(*buf);
    cr_assert_eq(pread(fd, *buf, *len, 0), (ssize_t)*len);
    close(fd);
}

/* Per-pid counts the helpers' reader does not keep. */
struct pid_view {
    uint32_t pid;
    size_t records, exits, other_fmt;
    char fmt_seen[300];
};

struct pid_read {
    struct tu_read *got;
    struct pid_view *v;
};

static void view_event(const struct shlog_event *ev, void *ctx)
{
    struct pid_read *c = ctx;
    struct pid_view *v = c->v;
    tu_read_event(c->got, ev);
    if (!ev->proc || ev->proc->info.pid != v->pid) /* errors and clock anchors are no one's */
        return;
    if (ev->kind == SHLOG_EV_EXIT)
        v->exits++;
    if (ev->kind != SHLOG_EV_RECORD)
        return;
    v->records++;
    if ((!ev->site_info || strcmp(ev->site_info->fmt, FMT) != 0) && !v->other_fmt++)
        snprintf(v->fmt_seen, sizeof(v->fmt_seen), "%.200s", ev->site_info ? ev->site_info->fmt : "(none)");
}

/* tu_read_all, and for process v->pid: its records, EXIT sections and
 * records decoded with a format other than the test producer's. */
static void read_all_for(const char *dir, struct tu_read *got, struct pid_view *v)
{
    struct pid_read c = {got, v};
    tu_each_event(dir, view_event, &c);
}

/* The ring files of process pid in dir (plain names only: a fresh directory). */
static size_t victim_rings(const char *dir, pid_t pid, char paths[][600], size_t max, unsigned *cpus)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "tprod-%d-cpu", (int)pid);
    DIR *d = opendir(dir);
    cr_assert(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && strstr(de->d_name, ".ring")) {
            snprintf(paths[n], 600, "%s/%s", dir, de->d_name);
            cpus[n++] = (unsigned)strtoul(de->d_name + strlen(prefix), NULL, 10);
        }
    closedir(d);
    return n;
}

static int has_cpu(const unsigned *cpus, size_t n, unsigned cpu)
{
    for (size_t i = 0; i < n; i++)
        if (cpus[i] == cpu)
            return 1;
    return 0;
}

/* --allow-uid <u> --allow-uid 0: the attacker is accepted, and so is root,
 * which the collector accepts anyway (its own uid); said explicitly so that a
 * collector that accepts only the uids given drains the root victim too, and
 * the test shows what it does with the forgery, not that it skips root. */
static const char *const *allow_attacker_and_root(const char *more0, const char *more1)
{
    static const char *args[8];
    static char uid[32];
    snprintf(uid, sizeof(uid), "%u", (unsigned)tu_atk.uid);
    int n = 0;
    args[n++] = "--allow-uid";
    args[n++] = uid;
    args[n++] = "--allow-uid";
    args[n++] = "0";
    if (more0) {
        args[n++] = more0;
        args[n++] = more1;
    }
    args[n] = NULL;
    return args;
}

/* ==== Crafted segments of an accepted uid ==== */

Test(attribution, forged_ring_of_another_uid_is_not_attributed_to_the_victim, .timeout = 60)
{
    NEED_USERS();
    const unsigned count = 2000;
    const char *vargs[] = {"--threads", "1", "--count", "2000", "--ring-bytes", "262144", "--hold", NULL};
    struct tu_child victim = tu_producer_as(NULL, 0, vargs, NULL, NULL);
    unsigned long long dropped = tu_wait_line(&victim, "done ");
    cr_assert_eq(dropped, 0, "the ring holds all %u records", count);

    /* The attacker's ring: the victim's own bytes (its secret instance too:
     * more than a real attacker could read), for a cpu the victim has no ring
     * of, every record claiming thread FORGED_T, the header's uid the
     * attacker's as the owner of the file. */
    char rings[64][600];
    unsigned cpus[64];
    size_t nrings = victim_rings(env.seg, victim.pid, rings, 64, cpus);
    cr_assert_geq(nrings, 1);
    unsigned k = 0; /* the lowest cpu the victim has no ring of */
    while (has_cpu(cpus, nrings, k))
        k++;
    uint8_t *buf;
    size_t len;
    read_whole(rings[0], &buf, &len);
    struct shmlog_ring *hdr = (struct shmlog_ring *)buf;
    hdr->cpu = k;
    hdr->hdr.uid = tu_atk.uid; /* as the file's owner: readers check that much */
    uint8_t *slots = buf + SHMLOG_RING_HEADER_BYTES;
    size_t forged = 0;
    for (uint64_t pos = hdr->tail; pos < hdr->head;) {
        struct shmlog_record *rec = (struct shmlog_record *)(slots + (pos & (hdr->capacity - 1)) * SHMLOG_RECORD_BYTES);
        cr_assert_eq(rec->commit, pos + 1, "slot %lu not committed", (unsigned long)pos);
        cr_assert(rec->nslots >= 1);
        if (!(rec->flags & SHMLOG_REC_PAD)) {
            uint32_t t = FORGED_T;
            memcpy(rec->payload, &t, sizeof(t));
            forged++;
        }
        pos += rec->nslots;
    }
    cr_assert_geq(forged, 1, "no record to forge in %s", rings[0]);
    char forged_path[600];
    snprintf(forged_path, sizeof(forged_path), "%s/tprod-%d-cpu%u.ring", env.seg, (int)victim.pid, k);
    tu_write_as(forged_path, buf, len, &tu_atk);
    free(buf);

    struct tu_child col = tu_collector(&env, allow_attacker_and_root(NULL, NULL));
    tu_wait_log(&env, "has another owner than", 10000);
    tu_close_stdin(&victim);
    cr_assert_eq(tu_wait_exit_within(&victim, 10000, "the victim"), 0);
    char meta[600];
    snprintf(meta, sizeof(meta), "%s/tprod-%d.meta", env.seg, (int)victim.pid);
    uint64_t until = tu_now_ms() + 10000;
    while (tu_exists_owned(meta, 0) && tu_now_ms() < until)
        tu_sleep_ms(20);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    struct pid_view v = {.pid = (uint32_t)victim.pid};
    read_all_for(env.out, &got, &v);
    for (size_t i = 0; i < got.n; i++)
        cr_assert_neq(got.rec_cpu[i], k, "a record of the forged ring (cpu %u) was written", k);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)victim.pid, 1, count), count,
                 "exactly the victim's %u records", count);
    cr_assert_eq(v.records, count);
    cr_assert_eq(v.exits, 1);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    tu_read_free(&got);
    /* The victim's segments are drained and removed; the forged ring, not
     * the collector's to remove, is left, reported once. */
    cr_assert(!tu_exists_owned(meta, 0), "the victim's meta was not drained and removed");
    cr_assert(tu_exists_owned(forged_path, tu_atk.uid), "the collector removed a file of another owner");
    cr_assert_eq(tu_count_files(env.seg, ""), 1);
    cr_assert_eq(tu_log_lines(&env, forged_path), 1, "the forged ring must be reported exactly once");
    cr_assert_eq(tu_log_lines(&env, "has another owner than"), 1);
}

/* The meta segment at path with FMT replaced by FORGED_FMT, as user u's file at to. */
static void forge_meta(const char *path, const char *to, const struct tu_user *u)
{
    uint8_t *buf;
    size_t len;
    read_whole(path, &buf, &len);
    uint8_t *at = memmem(buf, len, FMT, strlen(FMT));
    cr_assert(at, "the format is not in %s", path);
    memcpy(at, FORGED_FMT, strlen(FORGED_FMT));
    ((struct shmlog_seg_header *)buf)->uid = u->uid; /* as the file's owner: readers check that much */
    tu_write_as(to, buf, len, u);
    free(buf);
}

Test(attribution, forged_meta_claiming_a_running_pid_is_refused_in_every_directory, .timeout = 60)
{
    NEED_USERS();
    const unsigned count = 2000;
    char dir_b[400];
    snprintf(dir_b, sizeof(dir_b), "%s/segB", env.root);
    cr_assert_eq(mkdir(dir_b, 0700), 0);
    const char *vargs[] = {"--threads", "1", "--count", "2000", "--ring-bytes", "262144", "--hold", NULL};
    struct tu_child victim = tu_producer_as(NULL, 0, vargs, NULL, NULL);
    unsigned long long dropped = tu_wait_line(&victim, "done ");

    /* Copies of the victim's meta with other formats, owned by the attacker:
     * under its very name in the other watched directory, and under a tagged
     * name (as a producer whose plain name was taken) next to it. */
    char meta[600], in_b[600], tagged[600];
    snprintf(meta, sizeof(meta), "%s/tprod-%d.meta", env.seg, (int)victim.pid);
    snprintf(in_b, sizeof(in_b), "%s/tprod-%d.meta", dir_b, (int)victim.pid);
    snprintf(tagged, sizeof(tagged), "%s/tprod-%d.0123456789abcdef.meta", env.seg, (int)victim.pid);
    forge_meta(meta, in_b, &tu_atk);
    forge_meta(meta, tagged, &tu_atk);

    struct tu_child col = tu_collector(&env, allow_attacker_and_root("--dir", dir_b));
    uint64_t until = tu_now_ms() + 10000;
    while (tu_log_lines(&env, "claims pid") < 2 && tu_now_ms() < until)
        tu_sleep_ms(20);
    tu_close_stdin(&victim);
    cr_assert_eq(tu_wait_exit_within(&victim, 10000, "the victim"), 0);
    /* its own meta and rings are removed; the two copies are left */
    tu_wait_pid_files(&env, env.seg, victim.pid, 1, 10000);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    struct pid_view v = {.pid = (uint32_t)victim.pid};
    read_all_for(env.out, &got, &v);
    cr_assert_eq(v.other_fmt, 0, "%zu of the victim's records decoded with another format: '%s'", v.other_fmt,
                 v.fmt_seen);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)victim.pid, 1, count) + dropped, count);
    cr_assert_eq(v.exits, 1, "one process has the victim's pid: %zu EXIT sections", v.exits);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    tu_read_free(&got);

    cr_assert_eq(tu_log_lines(&env, "claims pid"), 2, "each crafted meta is refused and reported once");
    cr_assert_eq(tu_log_lines(&env, in_b), 1);
    cr_assert_eq(tu_log_lines(&env, tagged), 1);
    cr_assert(!tu_exists_owned(meta, 0), "the victim's meta was not drained and removed");
    cr_assert(tu_exists_owned(in_b, tu_atk.uid), "the collector removed a file it refused");
    cr_assert(tu_exists_owned(tagged, tu_atk.uid), "the collector removed a file it refused");
}

/* ==== Names taken by someone else ==== */

Test(attribution, names_taken_by_another_user_do_not_stop_a_producer, .timeout = 60)
{
    NEED_USERS();
    /* A directory like the default ones, where every user may create files. */
    cr_assert_eq(chmod(env.seg, 01777), 0);
    const unsigned count = 5000;
    const char *pargs[] = {"--threads", "1", "--count", "5000", "--ring-bytes", "262144", NULL};
    int gate;
    struct tu_child p = tu_producer_as(NULL, 0, pargs, NULL, &gate);

    /* Before it runs, the attacker (a uid the collector does not accept)
     * takes every name it would use. */
    long ncpus = sysconf(_SC_NPROCESSORS_CONF);
    cr_assert(ncpus >= 1 && ncpus <= 256);
    char names[257][600];
    const char *touch[260] = {"/usr/bin/touch"};
    snprintf(names[0], sizeof(names[0]), "%s/tprod-%d.meta", env.seg, (int)p.pid);
    for (long c = 0; c < ncpus; c++)
        snprintf(names[c + 1], sizeof(names[c + 1]), "%s/tprod-%d-cpu%ld.ring", env.seg, (int)p.pid, c);
    for (long i = 0; i <= ncpus; i++)
        touch[i + 1] = names[i];
    touch[ncpus + 2] = NULL;
    cr_assert_eq(tu_run_as(&tu_atk, touch), 0, "touch as %s", tu_atk.name);
    for (long i = 0; i <= ncpus; i++)
        cr_assert(tu_exists_owned(names[i], tu_atk.uid), "%s", names[i]);

    struct tu_child col = tu_collector(&env, NULL);
    cr_assert_eq(write(gate, "x", 1), 1);
    close(gate);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit_within(&p, 10000, "the producer"), 0);
    /* its segments (under tagged names) are drained and removed; the
     * attacker's files stay */
    tu_wait_pid_files(&env, env.seg, p.pid, (size_t)ncpus + 1, 10000);
    tu_stop_collector(&env, &col);

    for (long i = 0; i <= ncpus; i++) {
        struct stat st;
        cr_assert(tu_exists_owned(names[i], tu_atk.uid), "the collector removed the attacker's %s", names[i]);
        cr_assert_eq(stat(names[i], &st), 0);
        cr_assert_eq(st.st_size, 0, "%s was written to", names[i]);
    }
    struct tu_read got = {0};
    struct pid_view v = {.pid = (uint32_t)p.pid};
    read_all_for(env.out, &got, &v);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, count) + dropped, count,
                 "every record is written or counted as dropped");
    uint64_t lost = 0;
    for (int r = 0; r < 8; r++)
        lost += got.lost[r];
    cr_assert_eq(lost, dropped, "losses in the files: %lu, counted by the producer: %llu", (unsigned long)lost,
                 dropped);
    cr_assert_eq(v.exits, 1);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    tu_read_free(&got);
}

/* ==== Control characters in a name ==== */

Test(attribution, app_name_with_control_characters_never_reaches_an_alert, .timeout = 60)
{
    const char *evil = "md\nSHMLOG_ALERT_LEVEL=INFO";
    char script[400], runs[400];
    snprintf(script, sizeof(script), "%s/alert.sh", env.root);
    snprintf(runs, sizeof(runs), "%s/runs", env.root);
    cr_assert_eq(mkdir(runs, 0700), 0);
    FILE *f = fopen(script, "w");
    cr_assert(f);
    fprintf(f, "#!/bin/sh\nenv > \"$1/env.$$.tmp\" && mv \"$1/env.$$.tmp\" \"$1/env.$$\"\n");
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(script, 0700), 0);

    /* A real process's segments, of our own uid, renamed to carry a newline
     * and a variable assignment in the app part of their names. */
    const char *vargs[] = {"--threads", "1", "--count", "200", "--ring-bytes", "262144", "--hold", NULL};
    struct tu_child victim = tu_producer_as(NULL, 0, vargs, NULL, NULL);
    tu_wait_line(&victim, "done ");
    char rings[64][600], from[600], to[700];
    unsigned cpus[64];
    size_t nrings = victim_rings(env.seg, victim.pid, rings, 64, cpus);
    cr_assert_geq(nrings, 1);
    for (size_t i = 0; i < nrings; i++) {
        snprintf(to, sizeof(to), "%s/%s-%d-cpu%u.ring", env.seg, evil, (int)victim.pid, cpus[i]);
        cr_assert_eq(rename(rings[i], to), 0);
    }
    snprintf(from, sizeof(from), "%s/tprod-%d.meta", env.seg, (int)victim.pid);
    snprintf(to, sizeof(to), "%s/%s-%d.meta", env.seg, evil, (int)victim.pid);
    cr_assert_eq(rename(from, to), 0);

    static char rule[1024];
    snprintf(rule, sizeof(rule), "level>=INFO count>=1 window=60s exec=%s %s", script, runs);
    const char *args[] = {"--alert", rule, NULL};
    struct tu_child col = tu_collector(&env, args);
    tu_wait_log(&env, "differs from the app", 5000);
    /* Then a process with an honest name logs: the rule must run for it. */
    const char *pargs[] = {"--threads", "1", "--count", "50", NULL};
    struct tu_child honest = tu_producer_as(NULL, 0, pargs, NULL, NULL);
    tu_wait_line(&honest, "done ");
    cr_assert_eq(tu_wait_exit_within(&honest, 10000, "the honest producer"), 0);
    uint64_t until = tu_now_ms() + 10000;
    while (tu_count_files_without(runs, ".tmp") == 0 && tu_now_ms() < until)
        tu_sleep_ms(10);
    tu_wait_pid_files(&env, env.seg, honest.pid, 0, 10000);
    tu_stop_collector(&env, &col);

    /* Every run saw one SHMLOG_ALERT_LEVEL and the honest app and pid. */
    DIR *d = opendir(runs);
    cr_assert(d);
    struct dirent *de;
    size_t nruns = 0;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "env.", 4) != 0 || strstr(de->d_name, ".tmp"))
            continue;
        char path[700], line[8192], want_pid[64];
        snprintf(path, sizeof(path), "%s/%s", runs, de->d_name);
        snprintf(want_pid, sizeof(want_pid), "SHMLOG_ALERT_PID=%d\n", (int)honest.pid);
        FILE *e = fopen(path, "r");
        cr_assert(e);
        int levels = 0, apps = 0, pids = 0;
        while (fgets(line, sizeof(line), e)) {
            levels += strncmp(line, "SHMLOG_ALERT_LEVEL=", 19) == 0;
            apps += strcmp(line, "SHMLOG_ALERT_APP=tprod\n") == 0;
            pids += strcmp(line, want_pid) == 0;
            cr_assert(strncmp(line, "SHMLOG_ALERT_APP=md", 19) != 0, "the crafted name reached an alert: %s", line);
        }
        fclose(e);
        cr_assert_eq(levels, 1, "%s: %d SHMLOG_ALERT_LEVEL lines: one was injected by a file name", path, levels);
        cr_assert_eq(apps, 1, "%s: SHMLOG_ALERT_APP is not the honest app", path);
        cr_assert_eq(pids, 1, "%s: SHMLOG_ALERT_PID is not the honest producer's", path);
        nruns++;
    }
    closedir(d);
    cr_assert_eq(nruns, 1, "the rule ran %zu times", nruns);
    cr_assert_eq(tu_log_lines(&env, "differs from the app 'tprod' inside"), 1,
                 "the renamed meta must be refused and reported once");
    char meta[700];
    snprintf(meta, sizeof(meta), "%s/%s-%d.meta", env.seg, evil, (int)victim.pid);
    cr_assert(tu_exists_owned(meta, getuid()), "the refused meta was removed");
    tu_close_stdin(&victim);
    cr_assert_eq(tu_wait_exit_within(&victim, 10000, "the renamed producer"), 0);
}

/* ==== Records without a ring ==== */

/* Raises vm.nr_hugepages so that at least n pages are free (given back in
 * teardown); skips if it cannot. */
static void need_free_hugepages(long n)
{
    if (geteuid() != 0)
        SKIP("needs root: mounts hugetlbfs and reserves hugepages");
    long have = free_hugepages();
    if (have >= 0 && have < n) {
        long before = tu_read_nr_hugepages();
        if (before >= 0 && tu_write_nr_hugepages(before + n - have) == 0)
            pages_added = tu_read_nr_hugepages() - before;
    }
    if (free_hugepages() < n)
        SKIP("fewer than %ld free 2 MiB hugepages, and vm.nr_hugepages could not be raised", n);
}

Test(attribution, records_of_cpus_without_a_ring_reach_the_files_as_losses, .timeout = 60)
{
    need_free_hugepages(1);
    /* One 2 MiB page: the meta segment fits, no ring does. */
    snprintf(mnt, sizeof(mnt), "%s/huge", env.root);
    cr_assert_eq(mkdir(mnt, 0700), 0);
    if (mount("none", mnt, "hugetlbfs", 0, "pagesize=2M,size=2M,mode=0700") != 0) {
        int e = errno;
        rmdir(mnt);
        mnt[0] = '\0';
        SKIP("cannot mount hugetlbfs (pagesize=2M): %s", strerror(e));
    }
    setenv("SHMLOG_DIR", mnt, 1);
    struct tu_env huge = env;
    snprintf(huge.seg, sizeof(huge.seg), "%.290s", mnt);
    struct tu_child col = tu_collector(&huge, NULL);

    const unsigned count = 1000;
    char errlog[400];
    snprintf(errlog, sizeof(errlog), "%s/producer.stderr", env.root);
    const char *pargs[] = {"--threads", "1", "--count", "1000", "--ring-bytes", "65536", NULL};
    struct tu_child p = tu_producer_as(NULL, 0, pargs, errlog, NULL);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit_within(&p, 10000, "the producer"), 0);
    cr_assert_eq(dropped, count, "every record had no ring: the producer counts them all");
    tu_wait_pid_files(&env, mnt, p.pid, 0, 10000);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    struct pid_view v = {.pid = (uint32_t)p.pid};
    read_all_for(env.out, &got, &v);
    cr_assert_eq(v.records, 0);
    cr_assert_eq(got.lost[SHM_LOSS_NO_RING], count, "no_ring losses in the files: %lu of %u",
                 (unsigned long)got.lost[SHM_LOSS_NO_RING], count);
    for (int r = 0; r < 8; r++)
        if (r != SHM_LOSS_NO_RING)
            cr_assert_eq(got.lost[r], 0, "%lu records lost for reason %d", (unsigned long)got.lost[r], r);
    cr_assert_eq(v.exits, 1);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    tu_read_free(&got);

    char text[4096] = "";
    FILE *f = fopen(errlog, "r");
    cr_assert(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert(strstr(text, "cannot create the ring of cpu") && strstr(text, "dropped and counted"),
              "the producer did not say its records are dropped and counted: '%s'", text);

    /* and shmlog-dump stats names the reason */
    char cmd[1200], out[400];
    snprintf(out, sizeof(out), "%s/stats.txt", env.root);
    snprintf(cmd, sizeof(cmd), "'%s' stats '%s' > '%s' 2>&1", tu_exe("SHMLOG_DUMP"), env.out, out);
    cr_assert_eq(tu_run_cmd(cmd), 0);
    f = fopen(out, "r");
    cr_assert(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    cr_assert(strstr(text, "no_ring 1000"), "shmlog-dump stats does not show the no_ring losses: '%s'", text);
}

/* ==== Operators' choices ==== */

Test(attribution, allow_uid_takes_a_name_and_allow_group_takes_its_members, .timeout = 60)
{
    NEED_USERS();
    cr_assert_eq(chmod(env.seg, 01777), 0);
    const unsigned count = 3000;
    const char *hold[] = {"--threads", "1", "--count", "3000", "--hold", NULL};
    const char *run[] = {"--threads", "1", "--count", "3000", NULL};
    /* tu_grp (a member of the group) and tu_atk (not a member) */
    struct tu_child pa = tu_producer_as(&tu_atk, 0, hold, NULL, NULL);
    struct tu_child pg = tu_producer_as(&tu_grp, 1, run, NULL, NULL);
    unsigned long long dropped_a = tu_wait_line(&pa, "done ");
    unsigned long long dropped_g = tu_wait_line(&pg, "done ");
    cr_assert_eq(tu_wait_exit_within(&pg, 10000, "the group member's producer"), 0);

    const char *by_group[] = {"--allow-group", tu_ops_group, NULL};
    struct tu_child col = tu_collector(&env, by_group);
    tu_wait_pid_files(&env, env.seg, pg.pid, 0, 10000);
    char report[700];
    snprintf(report, sizeof(report), "segments of uid %u (%s) in %s", (unsigned)tu_atk.uid, tu_atk.name, env.seg);
    cr_assert(tu_wait_log(&env, report, 10000), "no report of the segments of %s", tu_atk.name);
    tu_stop_collector(&env, &col);
    cr_assert_eq(tu_log_lines(&env, report), 1);
    snprintf(report, sizeof(report), "to drain them, add --allow-uid %u", (unsigned)tu_atk.uid);
    cr_assert_eq(tu_log_lines(&env, report), 1, "the report says what accepts them");
    cr_assert_geq(tu_pid_files(env.seg, pa.pid), 2, "the refused segments were removed");

    const char *by_name[] = {"--allow-uid", tu_atk.name, NULL};
    col = tu_collector(&env, by_name);
    tu_close_stdin(&pa);
    cr_assert_eq(tu_wait_exit_within(&pa, 10000, "the attacker's producer"), 0);
    tu_wait_pid_files(&env, env.seg, pa.pid, 0, 10000);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)pg.pid, 1, count) + dropped_g, count);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)pa.pid, 1, count) + dropped_a, count);
    cr_assert_eq(got.exits, 2);
    tu_read_free(&got);
}

Test(attribution, own_uid_is_always_accepted_and_an_unknown_user_exits_2, .timeout = 60)
{
    if (geteuid() != 0)
        SKIP("needs root: the collector's own uid must differ from 65534");
    const unsigned count = 3000;
    const char *only_nobody[] = {"--allow-uid", "65534", NULL};
    struct tu_child col = tu_collector(&env, only_nobody);
    const char *pargs[] = {"--threads", "1", "--count", "3000", NULL};
    struct tu_child p = tu_producer(pargs);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit_within(&p, 10000, "the producer"), 0);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, count) + dropped, count);
    cr_assert_eq(got.exits, 1);
    tu_read_free(&got);

    const char *bad[][2] = {{"--allow-uid", "no-such-user-xyz"}, {"--allow-group", "no-such-group-xyz"}};
    for (size_t i = 0; i < 2; i++) {
        char log[400];
        snprintf(log, sizeof(log), "%s/bad%zu.log", env.root, i);
        char *argv[] = {(char *)tu_exe("COLLECTOR"), "--dir", env.seg, "--out", env.out,
                        (char *)bad[i][0], (char *)bad[i][1], NULL};
        struct tu_child c = tu_spawn(argv, log);
        int st = tu_wait_exit_within(&c, 10000, "a collector with a bad name");
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s %s: status %#x", bad[i][0], bad[i][1], st);
        FILE *f = fopen(log, "r");
        cr_assert(f);
        char line[1024];
        int lines = 0, named = 0;
        while (fgets(line, sizeof(line), f)) {
            lines++;
            named += strstr(line, bad[i][1]) != NULL;
        }
        fclose(f);
        cr_assert_eq(lines, 1, "%s %s: %d lines on stderr", bad[i][0], bad[i][1], lines);
        cr_assert_eq(named, 1, "%s %s: the line does not name it", bad[i][0], bad[i][1]);
    }
}

/* ==== Segment directories ==== */

/* Run in a private mount namespace on a fresh hugetlbfs (/dev/hugepages) and
 * tmpfs (/dev/shm), SHMLOG_DIR unset: a root producer, then one as the test
 * user. Once with free hugepages (<hugetlbfs>/shmlog), once with a hugetlbfs
 * that has none (the /dev/shm/shmlog fallback). One result per line. */
static const char namespace_script[] =
    "#!/bin/sh\n"
    "P=$1 U=$2 G=$3\n"
    "unset SHMLOG_DIR\n"
    "huge=$(while read -r dev m type rest; do [ \"$type\" = hugetlbfs ] && echo \"$m\"; done < /proc/mounts)\n"
    "for m in $huge; do umount -l \"$m\" || exit 3; done\n"
    "mount -t tmpfs -o mode=1777,size=64m tmpfs /dev/shm || exit 3\n"
    "list() {\n"
    "  for d in /dev/hugepages/shmlog /dev/shm/shmlog; do\n"
    "    [ -d \"$d\" ] || continue\n"
    "    stat -c 'dir %a %u %n' \"$d\"\n"
    "    for f in \"$d\"/*; do [ -e \"$f\" ] && stat -c 'file %a %u %n' \"$f\"; done\n"
    "  done\n"
    "}\n"
    "for size in free none; do\n"
    "  opts=pagesize=2M,mode=0755\n"
    "  [ $size = none ] && opts=$opts,size=0\n"
    "  mount -t hugetlbfs -o $opts none /dev/hugepages || exit 3\n"
    "  rm -rf /dev/shm/shmlog\n"
    "  echo \"phase $size\"\n"
    "  \"$P\" --threads 1 --count 10 --ring-bytes 65536 > /dev/null; echo \"root-exit $?\"\n"
    "  setpriv --reuid=$U --regid=$G --clear-groups \"$P\" --threads 1 --count 10 --ring-bytes 65536 > /dev/null\n"
    "  echo \"user-exit $?\"\n"
    "  list\n"
    "  rm -rf /dev/hugepages/shmlog\n"
    "  umount /dev/hugepages || exit 3\n"
    "done\n";

/* What the script listed in one phase. */
struct phase {
    int root_exit, user_exit;
    int dir_found;
    unsigned dir_mode;
    unsigned dir_uid;
    size_t user_files, user_files_0600, root_files;
};

static void check_phase(const struct phase *ph, const char *name, const char *dir)
{
    cr_assert_eq(ph->root_exit, 0, "%s: the root producer failed", name);
    cr_assert_eq(ph->user_exit, 0, "%s: the producer of %s failed in %s", name, tu_atk.name, dir);
    cr_assert(ph->dir_found, "%s: %s was not made", name, dir);
    cr_assert_eq(ph->dir_mode, 01777, "%s: %s has mode %o, expected 1777", name, dir, ph->dir_mode);
    cr_assert_eq(ph->dir_uid, 0, "%s: %s is owned by uid %u", name, dir, ph->dir_uid);
    cr_assert_geq(ph->root_files, 2, "%s: the root producer's segments are not in %s", name, dir);
    cr_assert_geq(ph->user_files, 2, "%s: the segments of %s are not in %s", name, tu_atk.name, dir);
    cr_assert_eq(ph->user_files_0600, ph->user_files, "%s: segments of %s not 0600", name, tu_atk.name);
}

Test(attribution, default_directories_are_made_1777_and_shared, .timeout = 60)
{
    NEED_USERS();
    need_free_hugepages(8);
    if (access("/usr/bin/unshare", X_OK) != 0)
        SKIP("needs unshare (util-linux) for a private mount namespace");
    char script[400], results[400], uid[32], gid[32];
    snprintf(script, sizeof(script), "%s/namespace.sh", env.root);
    snprintf(results, sizeof(results), "%s/namespace.out", env.root);
    FILE *f = fopen(script, "w");
    cr_assert(f);
    fputs(namespace_script, f);
    cr_assert_eq(fclose(f), 0);
    snprintf(uid, sizeof(uid), "%u", (unsigned)tu_atk.uid);
    snprintf(gid, sizeof(gid), "%u", (unsigned)tu_atk.gid);
    char *argv[] = {"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", script,
                    (char *)tu_exe("TEST_PRODUCER"), uid, gid, NULL};
    struct tu_child c = tu_spawn(argv, results);
    int st = tu_wait_exit_within(&c, 30000, "the namespace script");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cat '%s' >&2", results);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        cr_assert(system(cmd) >= 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the namespace script: status %#x", st);

    struct phase ph[2];
    memset(ph, 0, sizeof(ph));
    for (int i = 0; i < 2; i++)
        ph[i].root_exit = ph[i].user_exit = -1;
    const char *dirs[2] = {"/dev/hugepages/shmlog", "/dev/shm/shmlog"};
    f = fopen(results, "r");
    cr_assert(f);
    char line[1200];
    int cur = -1;
    while (fgets(line, sizeof(line), f)) {
        char kind[16], path[1024];
        unsigned mode, owner;
        int rc;
        if (strcmp(line, "phase free\n") == 0)
            cur = 0;
        else if (strcmp(line, "phase none\n") == 0)
            cur = 1;
        else if (cur < 0)
            continue;
        else if (sscanf(line, "root-exit %d", &rc) == 1)
            ph[cur].root_exit = rc;
        else if (sscanf(line, "user-exit %d", &rc) == 1)
            ph[cur].user_exit = rc;
        else if (sscanf(line, "%15s %o %u %1023s", kind, &mode, &owner, path) == 4) {
            if (strcmp(kind, "dir") == 0 && strcmp(path, dirs[cur]) == 0) {
                ph[cur].dir_found = 1;
                ph[cur].dir_mode = mode;
                ph[cur].dir_uid = owner;
            } else if (strcmp(kind, "file") == 0 && strncmp(path, dirs[cur], strlen(dirs[cur])) == 0) {
                ph[cur].root_files += owner == 0;
                ph[cur].user_files += owner == tu_atk.uid;
                ph[cur].user_files_0600 += owner == tu_atk.uid && mode == 0600;
            }
        }
    }
    fclose(f);
    if (ph[0].root_exit != 0 || ph[0].user_exit != 0 || ph[1].root_exit != 0 || ph[1].user_exit != 0)
        cr_assert(system(cmd) >= 0);
    check_phase(&ph[0], "hugetlbfs with free pages", dirs[0]);
    check_phase(&ph[1], "hugetlbfs without free pages", dirs[1]);
}

Test(attribution, unsafe_directory_is_refused_with_a_chmod_hint, .timeout = 60)
{
    NEED_USERS();
    /* the user's own directory, but anyone may remove files in it */
    char dir[400], errlog[400];
    snprintf(dir, sizeof(dir), "%s/open", env.root);
    snprintf(errlog, sizeof(errlog), "%s/producer.stderr", env.root);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_eq(chown(dir, tu_atk.uid, tu_atk.gid), 0);
    cr_assert_eq(chmod(dir, 0777), 0);
    setenv("SHMLOG_DIR", dir, 1);
    const char *pargs[] = {"--threads", "1", "--count", "10", NULL};
    struct tu_child p = tu_producer_as(&tu_atk, 0, pargs, errlog, NULL);
    tu_close_stdin(&p);
    int st = tu_wait_exit_within(&p, 10000, "the producer");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "a producer in a 0777 directory: status %#x", st);
    cr_assert_eq(tu_count_files(dir, ""), 0, "a segment was made in the unsafe directory");
    FILE *f = fopen(errlog, "r");
    cr_assert(f);
    char line[2048], all[8192] = "";
    int hints = 0;
    while (fgets(line, sizeof(line), f)) {
        strncat(all, line, sizeof(all) - strlen(all) - 1);
        hints += strstr(line, dir) && strstr(line, "chmod");
    }
    fclose(f);
    cr_assert_eq(hints, 1, "expected one line naming %s and the chmod that fixes it: '%s'", dir, all);
}
