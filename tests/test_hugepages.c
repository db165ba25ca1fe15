/* Description: where segments live: hugetlbfs (flag, 2 MiB sizes, NUMA binding), the 4 KiB fallback and its single warning, at init, in a forked child (and, where it can make no segment, its calls counted into the files once it can) and for a ring made when hugetlbfs is full (drained by the collector all the same), require_hugepages failing cleanly, file modes, groups and planted symlinks. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reader.h"
#include "shmlog.h"
#include "test_util_file.h"

#define HUGE_PAGE (2u << 20)
#define PAGES_NEEDED 8 /* meta + a ring per cpu, with room */

static char dir[TU_DIR_MAX];  /* a fresh directory on /dev/shm */
static char mnt[TU_DIR_MAX];  /* a private hugetlbfs, when the test mounts one */
static long pages_added;      /* what we raised nr_hugepages by, to give back */
static int mount_error;       /* why mounting hugetlbfs failed, for the skip message */

static long meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            v = strtol(line + klen + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static void dir_up(void) { cr_assert_eq(tu_mkdtemp(dir, sizeof dir, "huge"), 0); }

static void dir_down(void)
{
    shmlog_shutdown();
    tu_rmtree(dir);
}

/* Mounts hugetlbfs (2 MiB pages) with extra options on mnt. 0 or -errno. */
static int mount_hugetlbfs(const char *options)
{
    snprintf(mnt, sizeof mnt, "/tmp/shmlog-test-hugetlbfs-XXXXXX");
    if (!mkdtemp(mnt))
        return -errno;
    char opts[128];
    snprintf(opts, sizeof opts, "pagesize=2M,mode=0700%s%s", options ? "," : "", options ? options : "");
    if (mount("none", mnt, "hugetlbfs", 0, opts) != 0) {
        int e = errno;
        rmdir(mnt);
        mnt[0] = 0;
        return -e;
    }
    return 0;
}

/* Needs root: a free-page reserve and a private hugetlbfs mount. Skips with a
 * reason otherwise. */
static void huge_up(void)
{
    dir_up();
    if (geteuid() != 0)
        return; /* the test skips itself */
    long free_pages = meminfo("HugePages_Free");
    if (free_pages >= 0 && free_pages < PAGES_NEEDED) {
        long before = tu_read_nr_hugepages();
        if (before >= 0 && tu_write_nr_hugepages(before + PAGES_NEEDED - free_pages) == 0)
            pages_added = tu_read_nr_hugepages() - before;
    }
    mount_error = -mount_hugetlbfs(NULL);
}

static void huge_down(void)
{
    shmlog_shutdown();
    if (mnt[0]) {
        char sub[TU_PATH_MAX];
        snprintf(sub, sizeof sub, "%s/shmlog", mnt);
        tu_rmtree(sub);
        tu_rmtree(mnt); /* unlinks the segments: their pages go back to the pool */
        umount2(mnt, MNT_DETACH);
        rmdir(mnt);
        mnt[0] = 0;
    }
    if (pages_added > 0) /* give back what we took, leaving others' changes alone */
        tu_write_nr_hugepages(tu_read_nr_hugepages() - pages_added);
    pages_added = 0;
    dir_down();
}

/* Criterion does not run .fini after cr_skip_test: clean up first. */
#define SKIP_AFTER(cleanup, ...) \
    do {                         \
        cleanup();               \
        cr_skip_test(__VA_ARGS__); \
    } while (0)

static void need_hugetlbfs(void)
{
    if (geteuid() != 0)
        SKIP_AFTER(huge_down, "needs root: mounts a private hugetlbfs and reserves hugepages");
    if (!mnt[0])
        SKIP_AFTER(huge_down, "could not mount hugetlbfs (pagesize=2M): %s", strerror(mount_error));
    if (meminfo("HugePages_Free") < PAGES_NEEDED)
        SKIP_AFTER(huge_down, "fewer than %d free 2 MiB hugepages, and nr_hugepages could not be raised",
                   PAGES_NEEDED);
}

static int producer_init(const char *where, int all_cpus, int require_huge, int quiet)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "huge";
    cfg.dir = where;
    cfg.ring_bytes = 1u << 20;
    cfg.all_cpus = all_cpus;
    cfg.require_hugepages = require_huge;
    cfg.quiet = quiet;
    return shmlog_init(&cfg);
}

/* Checks the policy of the mapping at addr: MPOL_BIND to exactly node. */
static void expect_bound(void *addr, int node, const char *what)
{
    int mode = -1;
    unsigned long mask[16] = {0};
    cr_assert_eq(get_mempolicy(&mode, mask, sizeof mask * 8, addr, MPOL_F_ADDR), 0, "get_mempolicy: %s",
                 strerror(errno));
    cr_expect_eq(mode, MPOL_BIND, "%s: policy %d, expected MPOL_BIND", what, mode);
    for (int n = 0; n < (int)(sizeof mask * 8); n++)
        cr_expect_eq((mask[n / 64] >> (n % 64)) & 1, (unsigned long)(n == node), "%s: node %d in the mask", what, n);
}

/* The node the page at addr is on. */
static int page_node(void *addr)
{
    int node = -1;
    cr_assert_eq(get_mempolicy(&node, NULL, 0, addr, MPOL_F_ADDR | MPOL_F_NODE), 0, "get_mempolicy: %s",
                 strerror(errno));
    return node;
}

/* ==== hugetlbfs ==== */

Test(hugepages, segments_on_hugetlbfs_are_flagged_sized_and_bound, .init = huge_up, .fini = huge_down, .timeout = 30)
{
    need_hugetlbfs();
    long free_before = meminfo("HugePages_Free");
    int rc = producer_init(mnt, 1, 1, 0);
    cr_assert_eq(rc, 0, "shmlog_init on hugetlbfs: %s", strerror(-rc));
    cr_assert_str_eq(shmlog_dir(), mnt);

    struct tu_proc proc;
    char err[512] = "";
    cr_assert_eq(tu_proc_open(&proc, mnt, "huge", (uint32_t)getpid(), 0, err, sizeof err), 0, "%s", err);
    cr_assert_eq(proc.nrings, tu_allowed_cpus());
    uint64_t bytes = proc.meta.bytes;
    cr_expect(proc.meta.hdr.flags & SHMLOG_SEG_HUGEPAGES, "meta flagged as hugepage-backed");
    cr_expect_eq(proc.meta.bytes % HUGE_PAGE, 0, "meta size %zu is whole 2 MiB pages", proc.meta.bytes);
    for (int i = 0; i < proc.nrings; i++) {
        const struct shm_seg *s = &proc.ring_seg[i];
        const struct shm_ring_view *v = &proc.ring[i];
        bytes += s->bytes;
        cr_expect(s->hdr.flags & SHMLOG_SEG_HUGEPAGES, "ring cpu%u flagged", v->cpu);
        cr_expect_eq(s->bytes % HUGE_PAGE, 0, "ring cpu%u: %zu bytes", v->cpu, s->bytes);
        cr_expect_eq(v->cap, (1u << 20) / SHMLOG_RECORD_BYTES);
        if (numa_available() < 0) {
            cr_log_warn("no NUMA support in this kernel: binding not checked");
            continue;
        }
        int node = numa_node_of_cpu((int)v->cpu);
        cr_expect_geq(v->numa_node, 0, "ring cpu%u: the producer bound it", v->cpu);
        cr_expect_eq(v->numa_node, node, "ring cpu%u: bound to node %d of its cpu", v->cpu, node);
        /* hugetlbfs keeps no shared policy: the binding is on the producer's
         * own mapping; the pages themselves must sit on that node. */
        void *own = tu_writable_mapping(s->path, NULL);
        cr_assert_not_null(own, "the producer's mapping of %s", s->path);
        expect_bound(own, node, s->path);
        cr_expect_eq(page_node((void *)v->slots), node, "ring cpu%u: slot pages on node %d", v->cpu, node);
    }
    long used = free_before - meminfo("HugePages_Free");
    cr_expect_eq((uint64_t)used * HUGE_PAGE, bytes, "%ld hugepages taken for %llu bytes of segments", used,
                 (unsigned long long)bytes);

    /* and records go through */
    cr_assert_eq(tu_pin_self(0), 0);
    for (uint32_t i = 0; i < 100; i++)
        SHMLOG_INFO("on hugepages i=%u", i);
    struct tu_drain_stats st = {0};
    for (int i = 0; i < proc.nrings; i++) {
        uint64_t pos = 0;
        tu_drain(&proc.ring[i], &pos, 0, NULL, NULL, &st);
    }
    cr_expect_eq(st.records, 100);
    tu_proc_close(&proc);
}

Test(hugepages, require_hugepages_with_no_free_pages_fails_and_leaves_nothing, .init = huge_up,
     .fini = huge_down, .timeout = 30)
{
    need_hugetlbfs();
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    /* size=0: a hugetlbfs that can hand out no page at all */
    cr_assert_eq(mount_hugetlbfs("size=0"), 0);
    int rc = producer_init(mnt, 1, 1, 1);
    cr_assert_lt(rc, 0, "no page to be had: shmlog_init must fail");
    cr_expect_eq(rc, -ENOMEM, "%s", strerror(-rc));
    cr_expect_eq(tu_count_files(mnt, NULL), 0, "no segment left behind");
    cr_expect_null(shmlog_dir());
    SHMLOG_INFO("not initialised: a no-op, not a crash");

    /* An explicit directory is never silently replaced, hugepages required or not. */
    rc = producer_init(mnt, 1, 0, 1);
    cr_expect_eq(rc, -ENOMEM, "%s", strerror(-rc));
    cr_expect_eq(tu_count_files(mnt, NULL), 0);

    /* size=2M: the meta segment fits, the rings do not; the meta goes too */
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    cr_assert_eq(mount_hugetlbfs("size=2M"), 0);
    rc = producer_init(mnt, 1, 1, 1);
    cr_expect_eq(rc, -ENOMEM, "%s", strerror(-rc));
    cr_expect_eq(tu_count_files(mnt, NULL), 0, "a half-made set of segments is removed");
}

Test(hugepages, ring_that_cannot_be_made_later_drops_and_counts, .init = huge_up, .fini = huge_down, .timeout = 30)
{
    need_hugetlbfs();
    umount2(mnt, MNT_DETACH);
    rmdir(mnt);
    cr_assert_eq(mount_hugetlbfs("size=2M"), 0); /* room for the meta segment only */
    int rc = producer_init(mnt, 0, 1, 1);
    cr_assert_eq(rc, 0, "init makes only the meta segment: %s", strerror(-rc));
    char log[TU_PATH_MAX];
    snprintf(log, sizeof log, "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    cr_assert_eq(tu_pin_self(0), 0);
    for (int i = 0; i < 10; i++)
        SHMLOG_INFO("no ring for this cpu i=%d", i);
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    close(saved);
    cr_expect_eq(shmlog_dropped(), 10, "records without a ring are dropped and counted");
    char text[4096];
    cr_assert_geq(tu_read_file(log, text, sizeof text), 0);
    cr_expect_eq(tu_count_substr(text, "cannot create the ring of cpu 0"), 1, "said once: %s", text);
    cr_expect_eq(tu_count_files(mnt, ".ring"), 0);
}

/* In a mount namespace of its own, stderr to log, every hugetlbfs out of
 * sight but one of two pages where the default directory is looked for, and
 * a tmpfs of its own on /dev/shm. 0, or the step that failed. */
static int hidden_hugetlbfs(const char *log)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || dup2(fd, 2) < 0)
        return 10;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return 11;
    char mounts[1 << 16];
    FILE *f = fopen("/proc/mounts", "re");
    size_t n = f ? fread(mounts, 1, sizeof mounts - 1, f) : 0;
    if (f)
        fclose(f);
    mounts[n] = 0;
    /* every hugetlbfs out of sight, then ours where the default is looked for */
    for (char *line = strtok(mounts, "\n"); line; line = strtok(NULL, "\n")) {
        char src[256], where[TU_PATH_MAX], type[64];
        if (sscanf(line, "%255s %4095s %63s", src, where, type) == 3 && strcmp(type, "hugetlbfs") == 0)
            umount2(where, MNT_DETACH);
    }
    mkdir("/dev/hugepages", 0755);
    if (mount("none", "/dev/hugepages", "hugetlbfs", 0, "pagesize=2M,size=4M") != 0 ||
        mount("none", "/dev/shm", "tmpfs", 0, "size=64M") != 0)
        return 12;
    unsetenv("SHMLOG_DIR");
    return 0;
}

/* shmlog_init where the default directory is looked for, 1 MiB rings. */
static int init_in_default_dir(void)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "huge";
    cfg.ring_bytes = 1u << 20;
    return shmlog_init(&cfg);
}

/* shmlog-collector --once over the default directories into out: 0 if it exited 0. */
static int collect_once(const char *out)
{
    pid_t c = fork();
    if (c == 0) {
        execl(tu_exe("COLLECTOR"), "shmlog-collector", "--once", "--out", out, (char *)NULL);
        _exit(127);
    }
    int st;
    return c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* This process's segments closed, then collected into out: 0 if the collector exited 0. */
static int shut_down_and_collect(const char *out)
{
    shmlog_shutdown();
    return collect_once(out);
}

/* Runs body in a child, its output directory a new out and its stderr log
 * beside it, and asserts it exited 0; what it said goes to text. */
static void run_namespaced(int (*body)(const char *out, const char *log, const int *cpus), const int *cpus,
                           char out[TU_DIR_MAX], char log[TU_DIR_MAX + 8], char *text, size_t cap)
{
    cr_assert_eq(tu_mkdtemp_in(out, TU_DIR_MAX, "/tmp", "huge-out"), 0);
    snprintf(log, TU_DIR_MAX + 8, "%s.stderr", out);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(body(out, log, cpus));
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    tu_read_file(log, text, cap);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the producer in its namespace: status %#x: %s", st, text);
}

/* The lines of `shmlog-dump read out` that match the grep pattern. */
static int records_matching(const char *out, const char *pattern)
{
    char cmd[3 * TU_PATH_MAX + 200];
    snprintf(cmd, sizeof cmd, "%s read %s | grep -c '%s'", tu_exe("SHMLOG_DUMP"), out, pattern);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    int records = -1;
    cr_assert_eq(fscanf(f, "%d", &records), 1);
    pclose(f);
    return records;
}

/* In hidden_hugetlbfs's namespace: the meta and the first cpu's ring take
 * the two pages, the second cpu's ring falls back to /dev/shm/shmlog on 4 KiB
 * pages (said once), and the collector, watching the default directories,
 * drains both into out. Exits 0, or the step that failed. */
static int fallback_child(const char *out, const char *log, const int *cpus)
{
    int cpu_a = cpus[0], cpu_b = cpus[1];
    int rc = hidden_hugetlbfs(log);
    if (rc)
        return rc;
    if (init_in_default_dir() != 0)
        return 13;
    for (int cpu = cpu_a; cpu >= 0; cpu = cpu == cpu_a ? cpu_b : -1) {
        if (tu_pin_self(cpu) != 0)
            return 14;
        for (int i = 0; i < 10; i++)
            SHMLOG_INFO("cpu=%d i=%d", cpu, i);
    }
    if (shmlog_dropped() != 0)
        return 15;
    return shut_down_and_collect(out) == 0 ? 0 : 16;
}

Test(hugepages, a_ring_that_finds_no_free_hugepage_after_init_falls_back_to_4k_pages, .init = huge_up,
     .fini = huge_down, .timeout = 60)
{
    need_hugetlbfs();
    int cpus[2], k = 0;
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
        if (CPU_ISSET(c, &set))
            cpus[k++] = c;
    if (k < 2)
        SKIP_AFTER(huge_down, "needs two cpus");
    char out[TU_DIR_MAX], log[TU_DIR_MAX + 8], text[8192] = "";
    run_namespaced(fallback_child, cpus, out, log, text, sizeof text);
    cr_expect_eq(tu_count_substr(text, "no free hugepages for the ring of cpu"), 1, "said once: %s", text);
    cr_expect_eq(tu_count_substr(text, "uses 4 KiB pages in /dev/shm/shmlog"), 1, "%s", text);
    int records = records_matching(out, "huge.*cpu=[0-9]* i=");
    char cmd[3 * TU_PATH_MAX + 200];
    cr_expect_eq(records, 20, "the records of both cpus, the ring on 4 KiB pages too: %d", records);
    snprintf(cmd, sizeof cmd, "%s verify %s >/dev/null && %s read --format json %s | grep -q '\"loss\"'",
             tu_exe("SHMLOG_DUMP"), out, tu_exe("SHMLOG_DUMP"), out);
    cr_expect_eq(WEXITSTATUS(system(cmd)), 1, "the files are whole and hold no loss");
    tu_rmtree(out);
    unlink(log);
}

#define FORK_CHILDREN 10

/* Forks child k, which logs 100 records, removes then (if not NULL) and
 * shuts down; 0 once it exited 0. */
static int fork_logging_child(int k, const char *then_remove)
{
    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < 100; i++)
            SHMLOG_INFO("child=%d i=%d", k, i);
        if (then_remove)
            unlink(then_remove);
        shmlog_shutdown();
        _exit(0);
    }
    int st;
    return c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* run_namespaced, with hugetlbfs to be had, on the first cpu this process may run on. */
static void run_namespaced_on_first_cpu(int (*body)(const char *out, const char *log, const int *cpus),
                                        char out[TU_DIR_MAX], char log[TU_DIR_MAX + 8], char *text, size_t cap)
{
    need_hugetlbfs();
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int cpus[2] = {0, 0};
    while (!CPU_ISSET(cpus[0], &set))
        cpus[0]++;
    run_namespaced(body, cpus, out, log, text, cap);
}

/* The namespace of fallback_child with its two hugepages taken by this
 * process's meta and its ring on cpu: forks children that each log 100
 * records and shut down, then drains them all with the collector into out.
 * A child finds the shared hugetlbfs full (as any local user can make it):
 * it must fall back as init does, not stop logging. Exits 0, or the step
 * that failed. */
static int fork_fallback_child(const char *out, const char *log, const int *cpus)
{
    int cpu = cpus[0], children = FORK_CHILDREN;
    int rc = hidden_hugetlbfs(log);
    if (rc)
        return rc;
    if (init_in_default_dir() != 0 || tu_pin_self(cpu) != 0)
        return 13;
    SHMLOG_INFO("parent before the forks"); /* its ring takes the second page */
    if (!shmlog_dir() || strcmp(shmlog_dir(), "/dev/hugepages/shmlog") != 0)
        return 14;
    for (int k = 0; k < children; k++)
        if (fork_logging_child(k, NULL) != 0)
            return 16;
    return shut_down_and_collect(out) == 0 ? 0 : 17;
}

Test(hugepages, a_child_forked_when_hugepages_are_exhausted_falls_back_as_init_does, .init = huge_up,
     .fini = huge_down, .timeout = 60)
{
    enum { CHILDREN = FORK_CHILDREN };
    char out[TU_DIR_MAX], log[TU_DIR_MAX + 8], text[1 << 16] = "";
    run_namespaced_on_first_cpu(fork_fallback_child, out, log, text, sizeof text);
    cr_expect_eq(tu_count_substr(text, "logging off in child"), 0, "%s", text);
    cr_expect_eq(tu_count_substr(text, "no free hugepages in /dev/hugepages/shmlog, so rings use 4 KiB pages in "
                                       "/dev/shm/shmlog"), CHILDREN, "init's warning, once a child: %s", text);
    int records = records_matching(out, "huge.*child=[0-9]* i=");
    cr_expect_eq(records, CHILDREN * 100, "every child's records, on 4 KiB pages: %d of %d", records, CHILDREN * 100);
    struct tu_read got = {0};
    tu_read_all(out, &got);
    cr_expect_eq(got.errors, 0, "%s", got.first_error);
    cr_expect_eq(got.exits, CHILDREN + 1, "an EXIT for the parent and each child");
    for (int r = 0; r <= SHM_LOSS_REASON_MAX; r++)
        cr_expect_eq(got.lost[r], 0, "no loss (reason %d): %lu", r, (unsigned long)got.lost[r]);
    tu_read_free(&got);
    tu_rmtree(out);
    unlink(log);
}

/* As fork_fallback_child, with /dev/shm full too: the child can make no
 * segment at all. It logs 100 records, then room is made and it shuts down:
 * its segments are made then, and the calls it could not write reach the
 * files as a counted loss. Exits 0, or the step that failed. */
static int fork_no_room_child(const char *out, const char *log, const int *cpus)
{
    int rc = hidden_hugetlbfs(log);
    if (rc)
        return rc;
    if (init_in_default_dir() != 0 || tu_pin_self(cpus[0]) != 0)
        return 13;
    SHMLOG_INFO("parent before the fork"); /* its ring takes the second page */
    int fd = open("/dev/shm/filler", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    static char block[1 << 16];
    while (fd >= 0 && write(fd, block, sizeof block) > 0)
        ;
    if (fd < 0 || errno != ENOSPC)
        return 14;
    close(fd);
    if (fork_logging_child(0, "/dev/shm/filler") != 0)
        return 16;
    return shut_down_and_collect(out) == 0 ? 0 : 17;
}

Test(hugepages, a_child_that_can_make_no_segment_counts_its_calls_into_the_files, .init = huge_up,
     .fini = huge_down, .timeout = 60)
{
    char out[TU_DIR_MAX], log[TU_DIR_MAX + 8], text[1 << 16] = "";
    run_namespaced_on_first_cpu(fork_no_room_child, out, log, text, sizeof text);
    cr_expect_eq(tu_count_substr(text, "no segments for child"), 1, "%s", text);
    cr_expect_eq(tu_count_substr(text, "logs again"), 1, "%s", text);
    struct tu_read got = {0};
    tu_read_all(out, &got);
    cr_expect_eq(got.errors, 0, "%s", got.first_error);
    cr_expect_eq(got.n, 1, "the parent's record only");
    cr_expect_eq(got.lost[SHM_LOSS_BEFORE_INIT], 100, "the child's 100 calls, counted: %lu",
                 (unsigned long)got.lost[SHM_LOSS_BEFORE_INIT]);
    cr_expect_eq(got.exits, 2, "an EXIT for the parent and the child");
    tu_read_free(&got);
    tu_rmtree(out);
    unlink(log);
}

/* ==== The 4 KiB fallback ==== */

Test(fallback, plain_directory_works_on_4k_pages_and_warns_once, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    char log[TU_PATH_MAX];
    snprintf(log, sizeof log, "%s/stderr", dir);
    char seg_dir[TU_PATH_MAX];
    snprintf(seg_dir, sizeof seg_dir, "%s/segs", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    int rc = producer_init(seg_dir, 1, 0, 0);
    for (int i = 0; i < 10; i++)
        SHMLOG_INFO("i=%d", i);
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    close(saved);
    cr_assert_eq(rc, 0, "%s", strerror(-rc));
    char text[8192];
    cr_assert_geq(tu_read_file(log, text, sizeof text), 0);
    cr_expect_eq(tu_count_substr(text, "not on hugetlbfs"), 1, "one warning for %d segments: '%s'",
                 1 + tu_allowed_cpus(), text);

    struct tu_proc proc;
    char err[512] = "";
    cr_assert_eq(tu_proc_open(&proc, seg_dir, "huge", (uint32_t)getpid(), 0, err, sizeof err), 0, "%s", err);
    cr_expect_eq(proc.meta.hdr.flags & SHMLOG_SEG_HUGEPAGES, 0);
    for (int i = 0; i < proc.nrings; i++) {
        cr_expect_eq(proc.ring_seg[i].hdr.flags & SHMLOG_SEG_HUGEPAGES, 0);
        cr_expect_eq(proc.ring_seg[i].bytes, SHMLOG_RING_HEADER_BYTES + (1u << 20), "4 KiB pages: no rounding");
        if (numa_available() < 0)
            continue;
        /* tmpfs keeps the policy with the file: a second mapping shows it */
        int node = numa_node_of_cpu((int)proc.ring[i].cpu);
        cr_expect_eq(proc.ring[i].numa_node, node);
        expect_bound(proc.ring_seg[i].addr, node, proc.ring_seg[i].path);
        cr_expect_eq(page_node((void *)proc.ring[i].slots), node);
    }
    tu_proc_close(&proc);
}

Test(fallback, quiet_config_prints_nothing, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    char log[TU_PATH_MAX];
    snprintf(log, sizeof log, "%s/stderr", dir);
    char seg_dir[TU_PATH_MAX];
    snprintf(seg_dir, sizeof seg_dir, "%s/segs", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    int rc = producer_init(seg_dir, 1, 0, 1);
    fflush(stderr);
    dup2(saved, 2);
    close(fd);
    close(saved);
    cr_assert_eq(rc, 0);
    char text[4096];
    cr_assert_eq(tu_read_file(log, text, sizeof text), 0, "quiet: '%s'", text);
}

Test(fallback, require_hugepages_refuses_a_plain_directory, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    int rc = producer_init(dir, 1, 1, 1);
    cr_assert_eq(rc, -ENOTSUP, "got %d (%s)", rc, strerror(-rc));
    cr_expect_eq(tu_count_files(dir, NULL), 0, "no file left");
    cr_expect_null(shmlog_dir());
}

/* ==== Modes, groups, symlinks ==== */

static void expect_mode(const char *path, mode_t mode, gid_t gid)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    cr_expect_eq(st.st_mode & 07777, mode, "%s: mode %o, expected %o", path, st.st_mode & 07777, mode);
    cr_expect_eq(st.st_uid, getuid(), "%s: owner", path);
    if (gid != (gid_t)-1)
        cr_expect_eq(st.st_gid, gid, "%s: group %u, expected %u", path, st.st_gid, gid);
}

static void expect_segment_modes(const char *where, mode_t mode, gid_t gid)
{
    char path[TU_PATH_MAX];
    snprintf(path, sizeof path, "%s/huge-%d.meta", where, (int)getpid());
    expect_mode(path, mode, gid);
    int rings = 0;
    for (int cpu = 0; cpu < 1024 && rings < tu_allowed_cpus(); cpu++) {
        snprintf(path, sizeof path, "%s/huge-%d-cpu%d.ring", where, (int)getpid(), cpu);
        if (access(path, F_OK) == 0) {
            expect_mode(path, mode, gid);
            rings++;
        }
    }
    cr_expect_eq(rings, tu_allowed_cpus());
}

Test(modes, segments_are_0600_even_with_umask_0, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    mode_t old = umask(0);
    char where[TU_DIR_MAX + 32];
    snprintf(where, sizeof where, "%s/made-by-shmlog", dir);
    int rc = producer_init(where, 1, 0, 1);
    umask(old);
    cr_assert_eq(rc, 0, "%s", strerror(-rc));
    expect_mode(where, 0700, (gid_t)-1);
    expect_segment_modes(where, 0600, getgid());
}

Test(modes, group_config_gives_0660_and_the_group, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    if (geteuid() != 0)
        SKIP_AFTER(dir_down, "needs root to give files a group it is not in (gid 65534)");
    const gid_t group = 65534;
    char where[TU_DIR_MAX + 32];
    snprintf(where, sizeof where, "%s/made-by-shmlog", dir);
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "huge";
    cfg.dir = where;
    cfg.ring_bytes = 1u << 20;
    cfg.all_cpus = 1;
    cfg.quiet = 1;
    cfg.group = (int)group;
    mode_t old = umask(077); /* a strict umask must not strip the group bits */
    int rc = shmlog_init(&cfg);
    umask(old);
    cr_assert_eq(rc, 0, "%s", strerror(-rc));
    expect_mode(where, 02770, group);
    expect_segment_modes(where, 0660, group);
}

Test(modes, planted_symlinks_are_not_followed, .init = dir_up, .fini = dir_down, .timeout = 30)
{
    char target[TU_PATH_MAX], link[TU_PATH_MAX], victim[TU_PATH_MAX];
    /* the segment directory itself is a symlink to somewhere else */
    snprintf(target, sizeof target, "%s/elsewhere", dir);
    snprintf(link, sizeof link, "%s/segs", dir);
    cr_assert_eq(mkdir(target, 0700), 0);
    cr_assert_eq(symlink(target, link), 0);
    int rc = producer_init(link, 1, 0, 1);
    cr_expect_eq(rc, -ENOTDIR, "a symlinked segment directory: %d (%s)", rc, strerror(-rc));
    cr_expect_eq(tu_count_files(target, NULL), 0, "nothing written through the link");
    if (rc == 0)
        shmlog_shutdown();

    /* a symlink where our meta segment will be created, pointing at a file
     * the attacker wants clobbered */
    char where[TU_DIR_MAX + 32];
    snprintf(where, sizeof where, "%s/real", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    cr_assert_eq(mkdir(where, 0700), 0);
    FILE *f = fopen(victim, "w");
    cr_assert_not_null(f);
    fputs("precious", f);
    fclose(f);
    snprintf(link, sizeof link, "%s/huge-%d.meta", where, (int)getpid());
    cr_assert_eq(symlink(victim, link), 0);
    rc = producer_init(where, 1, 0, 1);
    cr_expect_eq(rc, 0, "a planted name does not stop the producer: %d (%s)", rc, strerror(-rc));
    char text[64];
    cr_expect_eq(tu_read_file(victim, text, sizeof text), 8);
    cr_expect_str_eq(text, "precious", "the link target is untouched");
    struct stat st;
    cr_expect_eq(lstat(link, &st), 0);
    cr_expect(S_ISLNK(st.st_mode), "the planted link is left as it was");
    /* the meta segment went under <app>-<pid>.<16 hex digits>.meta instead */
    char tagged_prefix[64];
    snprintf(tagged_prefix, sizeof tagged_prefix, "huge-%d.", (int)getpid());
    DIR *d = opendir(where);
    cr_assert_not_null(d);
    int tagged = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strncmp(de->d_name, tagged_prefix, strlen(tagged_prefix)) == 0 &&
            strlen(de->d_name) == strlen(tagged_prefix) + 16 + strlen(".meta"))
            tagged++;
    closedir(d);
    cr_expect_eq(tagged, 1, "one meta segment under a tagged name");
    cr_expect_geq(tu_count_files(where, ".ring"), 1, "its rings were made");
    if (rc == 0)
        shmlog_shutdown();
}
