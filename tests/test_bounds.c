/* Description: the memory a producer of an accepted uid can make the collector and the dump spend stays within the documented bounds: tens of thousands of call sites with long formats are kept compact and within the uid's budget (and still written, each with its format), and a segment with holes is refused before anything is read, so that no reader allocates the tmpfs pages its size promises. */
#include "test_util_file.h"

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "bounds"); }
static void teardown(void)
{
    tu_kill_children();
    if (strncmp(env.seg, env.root, strlen(env.root)) != 0) /* a directory of its own on /dev/shm */
        tu_rmtree(env.seg);
    tu_rmtree(env.root);
}

TestSuite(bounds, .init = setup, .fini = teardown, .timeout = 180);

/* Records, and records read with their own format (site_flood's "site <id> ..."
 * on line id), of a file set. */
struct flood_count {
    size_t records, sited, errors;
};

static void count_flood(const struct shlog_event *ev, void *ctx)
{
    struct flood_count *c = ctx;
    c->errors += ev->kind == SHLOG_EV_ERROR;
    if (ev->kind != SHLOG_EV_RECORD)
        return;
    c->records++;
    unsigned id;
    c->sited += ev->site_info && sscanf(ev->site_info->fmt, "site %u ", &id) == 1 && id == (unsigned)ev->site_info->line;
}

#define FLOODS 3
#define FLOOD_SITES 65536
#define FLOOD_FMT 1000

Test(bounds, call_sites_cost_their_uid_a_bounded_amount_and_are_all_written)
{
    /* Three processes of one uid, 65536 sites each with a format of 1000
     * bytes: 192 MiB of strings, three times the budget of one uid. */
    struct tu_child col = tu_collector_ready(&env, NULL);
    /* Its own memory: the segments it maps (2 x 64 MiB metas) are shared. */
    long before = tu_status_kb(col.pid, "RssAnon:");
    struct tu_child f[FLOODS];
    unsigned long long made[FLOODS];
    for (int k = 0; k < FLOODS; k++) {
        char sites[16], fmt[16];
        snprintf(sites, sizeof(sites), "%u", FLOOD_SITES);
        snprintf(fmt, sizeof(fmt), "%u", FLOOD_FMT);
        char *argv[] = {(char *)tu_exe("SITE_FLOOD"), sites, fmt, NULL};
        f[k] = tu_spawn(argv, NULL);
        made[k] = tu_wait_line(&f[k], "done ");
        cr_assert_gt(made[k], 60000, "%llu sites registered", made[k]);
    }
    long hwm = 0;
    for (int i = 0; i < 30; i++) { /* drained, the peak in between */
        tu_sleep_ms(50);
        long now = tu_status_kb(col.pid, "RssAnon:");
        hwm = now > hwm ? now : hwm;
    }
    for (int k = 0; k < FLOODS; k++) {
        tu_close_stdin(&f[k]);
        cr_assert_eq(tu_wait_exit_within(&f[k], 20000, "a flood"), 0);
    }
    tu_assert_segments_gone(&env, 20000);
    tu_stop_collector(&env, &col);
    /* The man page's bounds: the uid's budget (64 MiB), a file's sites
     * (48 MiB, shlog_enc_file_full) and the frames (48 MiB); under
     * AddressSanitizer also its quarantine of freed memory (256 MiB). */
    long bound_kb = (64 + 48 + 48) * 1024;
#if defined(__SANITIZE_ADDRESS__)
    bound_kb += 256 * 1024;
#endif
    cr_assert_lt(hwm - before, bound_kb, "the collector's own memory grew by %ld kB", hwm - before);
    cr_assert_eq(tu_log_lines(&env, "the call sites of uid"), 1, "the budget is said to be spent, once");

    /* Every record is written with its own site (its format names it), in
     * files whose sites readers keep whole (a file near their bound is
     * closed, and the next one defines what its records need). */
    struct flood_count got = {0};
    size_t nf = tu_each_event(env.out, count_flood, &got);
    cr_assert_gt(nf, 1, "the sites did not need a new file");
    cr_assert_eq(got.errors, 0, "readers found damage");
    cr_assert_eq(got.records, made[0] + made[1] + made[2]);
    cr_assert_eq(got.sited, got.records, "%zu of %zu records read with their own format", got.sited, got.records);
}

/* 512 bytes a block. */
static long blocks_kb(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return (long)st.st_blocks / 2;
}

Test(bounds, a_segment_with_holes_is_refused_before_it_is_read)
{
    /* On tmpfs, where reading a hole allocates a page. */
    char shm_dir[TU_DIR_MAX];
    cr_assert_eq(tu_mkdtemp(shm_dir, sizeof(shm_dir), "bounds"), 0);
    snprintf(env.seg, sizeof(env.seg), "%s", shm_dir);
    setenv("SHMLOG_DIR", env.seg, 1);
    /* A producer's own ring, copied under the name of a cpu it has no ring
     * of, with its header claiming 2^22 slots (256 MiB) that the file only
     * has as holes: its process's identity, so it passes for its ring. */
    const char *args[] = {"--threads", "1", "--count", "1000", "--hold", NULL};
    struct tu_child p = tu_producer_one_cpu(args);
    tu_wait_line(&p, "done ");
    char ring[700], sparse[700];
    tu_find_ring(env.seg, p.pid, ring, sizeof(ring));
    cr_assert(ring[0]);
    snprintf(sparse, sizeof(sparse), "%s/tprod-%d-cpu999.ring", env.seg, (int)p.pid);
    uint8_t hdr[SHMLOG_RING_HEADER_BYTES];
    int fd = open(ring, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
    close(fd);
    struct shmlog_ring *h = (struct shmlog_ring *)hdr;
    uint64_t slots = 1u << 22, bytes = SHMLOG_RING_HEADER_BYTES + slots * SHMLOG_RECORD_BYTES;
    h->capacity = slots;
    h->cpu = 999;
    h->hdr.segment_bytes = bytes;
    h->head = h->tail + slots - 1; /* a lap of records to read */
    fd = open(sparse, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
    cr_assert_eq(ftruncate(fd, (off_t)bytes), 0);
    close(fd);
    long planted = blocks_kb(sparse);

    struct tu_child col = tu_collector(&env, NULL);
    cr_assert(tu_wait_log(&env, "has holes", 10000), "the sparse ring was not refused");
    /* shmlog-dump status, root's health check, reads rings too. */
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "'%s' status --dir '%s' --out '%s' --watch 0.1 >/dev/null 2>&1", tu_exe("SHMLOG_DUMP"),
             env.seg, env.out);
    cr_assert(system(cmd) >= 0);
    cr_assert_lt(blocks_kb(sparse) - planted, 1024, "readers allocated %ld kB of the sparse ring",
                 blocks_kb(sparse) - planted);
    tu_close_stdin(&p);
    cr_assert_eq(tu_wait_exit_within(&p, 10000, "the producer"), 0);
    tu_wait_log(&env, "exiting", 100); /* nothing: the collector runs on */
    uint64_t until = tu_now_ms() + 10000;
    while (tu_count_files(env.seg, "") > 1 && tu_now_ms() < until)
        tu_sleep_ms(20);
    tu_stop_collector(&env, &col);
    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)p.pid, 1, 1000), 1000, "the producer's own ring is drained");
    tu_read_free(&got);
}
