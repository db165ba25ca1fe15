/* Description: shmlog-dump reads within a fixed memory budget whatever the number of files, hosts or frames, or of call sites over the files (24 files, each of a process of its own with 4000 long sites, read in under 150 MB on one thread and 190 MB on two): 100 crafted files of 2.4 KB, each of another host and with a frame that expands to 64 MiB, are read in under 200 MB and 3 s of CPU with every such frame reported (the dump before this kept one decoded frame per host: 6.8 GB and 35 s); 100 such frames in one file cost no more; a 7 KB frame of ten million records is merged in the same bound (720 MB before); frames larger than any writer makes are refused from their headers, unread, and counted; two readers taking turns in one frame memory, one stopped mid-frame, each read their own file exactly; files the real collector wrote, merged over several hosts, read exactly as each host's alone; a ring read a frame late (as after --max-delay-ms) keeps its place in time while another host's input is 10 s ahead; a ring whose one record the full buffer sends at once, while the merge takes its batch, leaves the merge whole; stats on threads shows a call site that a later file defines again with other text as one thread does. */
#include <errno.h>
#include <sys/resource.h>
#include <zstd.h>

#include "test_util_file.h"

#define INFLATED_RAW (64u << 20) /* what a crafted frame expands to: SHLOG_MAX_FRAME_RAW, the most allowed */
#define HOSTS 100
#define RSS_MAX_KB (200u << 10)  /* the bound the dump must stay under, with room over what it takes */
#define CPU_MAX_S 3.0

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "dumpmem"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(dump_memory, .init = setup, .fini = teardown, .timeout = 180);

/* ==== Crafted files ==== */

static void put_prefix(uint8_t *p, uint32_t zbytes, uint32_t raw_bytes)
{
    uint32_t w[3] = {SHLOG_FRAME_MAGIC, zbytes, raw_bytes};
    memcpy(p, w, 12);
    uint32_t c = tu_fnv(p, 12);
    memcpy(p + 12, &c, 4);
}

/* A frame the encoder makes: a process, a site, one record at ring position
 * pos. Its sections (decompressed) go to sections, when not NULL. */
/* Room for a one-record frame by the encoder's worst-case bound, which reserves a whole index
 * entry (a plain frame's anchors up to 4 KiB among them). */
#define SMALL_FRAME_CAP 16384

static size_t small_frame(uint8_t *out, size_t cap, uint64_t pos, uint8_t *sections, size_t *sections_len)
{
    struct shlog_enc *e;
    cr_assert_eq(shlog_enc_new(&e, 1), 0);
    struct shm_proc_info p;
    tu_proc_info(&p, 4242, 1);
    cr_assert_eq(shlog_enc_process(e, 1, &p), 0);
    struct shm_site s;
    tu_site(&s, 1, "tick %lu", SHMLOG_ARG_U64, 0);
    cr_assert_eq(shlog_enc_site(e, 1, &s), 0);
    cr_assert_eq(shlog_enc_batch_begin(e, 1, 0), 0);
    struct shm_copied_record r;
    memset(&r, 0, sizeof(r));
    r.pos = pos;
    r.tsc = p.anchor_tsc + pos;
    r.site = 1;
    r.level = SHMLOG_LEVEL_INFO;
    uint64_t v = pos;
    tu_slots(&r, tu_payload(&r, &s, &v, NULL));
    cr_assert_eq(shlog_enc_record(e, &r), 0);
    cr_assert_eq(shlog_enc_batch_end(e), 0);
    long n = shlog_enc_frame(e, out, cap);
    cr_assert(n > 0);
    shlog_enc_free(e);
    if (sections) {
        size_t got = ZSTD_decompress(sections, *sections_len, out + SHLOG_FRAME_PREFIX_BYTES,
                                     (size_t)n - SHLOG_FRAME_PREFIX_BYTES);
        cr_assert(!ZSTD_isError(got));
        *sections_len = got;
    }
    return (size_t)n;
}

/* A frame whose content is head then zeros, content_bytes in all, compressed
 * a megabyte at a time (the test itself stays small); its prefix says
 * prefix_raw. Returns the frame, *len its bytes. */
static uint8_t *inflated_frame(const uint8_t *head, size_t head_len, uint64_t content_bytes, uint32_t prefix_raw,
                               size_t *len)
{
    static const uint8_t zeros[1u << 20];
    ZSTD_CCtx *c = ZSTD_createCCtx();
    cr_assert(c != NULL);
    cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1)));
    cr_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
    cr_assert(!ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, content_bytes)));
    size_t cap = 1u << 20;
    uint8_t *buf = malloc(cap);
    cr_assert(buf != NULL);
    ZSTD_outBuffer out = {buf + SHLOG_FRAME_PREFIX_BYTES, cap - SHLOG_FRAME_PREFIX_BYTES, 0};
    uint64_t fed = 0;
    while (fed < content_bytes) {
        ZSTD_inBuffer in;
        if (fed < head_len)
            in = (ZSTD_inBuffer){head, head_len, 0};
        else
            in = (ZSTD_inBuffer){zeros, content_bytes - fed < sizeof(zeros) ? content_bytes - fed : sizeof(zeros), 0};
        while (in.pos < in.size)
            cr_assert(!ZSTD_isError(ZSTD_compressStream2(c, &out, &in, ZSTD_e_continue)));
        fed += in.size;
    }
    ZSTD_inBuffer none = {NULL, 0, 0};
    size_t left;
    do {
        left = ZSTD_compressStream2(c, &out, &none, ZSTD_e_end);
        cr_assert(!ZSTD_isError(left));
    } while (left);
    ZSTD_freeCCtx(c);
    put_prefix(buf, (uint32_t)out.pos, prefix_raw);
    *len = SHLOG_FRAME_PREFIX_BYTES + out.pos;
    return buf;
}

/* A file of host with the given frames after its header. */
static void write_file(const char *path, const char *host, const uint8_t *const frames[], const size_t lens[],
                       size_t nframes)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "%s", path);
    struct shlog_file_header h = {.file_seq = 1, .created_ns = 1700000000000000000ull, .collector_pid = 1};
    snprintf(h.host, sizeof(h.host), "%s", host);
    uint8_t hb[SHLOG_FILE_HEADER_BYTES];
    shlog_file_header_encode(hb, &h);
    cr_assert_eq(write(fd, hb, sizeof(hb)), (ssize_t)sizeof(hb));
    for (size_t i = 0; i < nframes; i++)
        cr_assert_eq(write(fd, frames[i], lens[i]), (ssize_t)lens[i]);
    close(fd);
}

/* ==== Running the dump ==== */

struct run {
    int status;     /* exit status, or -1 when it did not exit */
    long maxrss_kb; /* peak resident memory */
    double cpu_s;   /* user + system */
};

/* shmlog-dump args..., stdout to out_path and stderr to err_path. */
static struct run run_dump(const char *out_path, const char *err_path, const char *const args[])
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)tu_exe("SHMLOG_DUMP");
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600), e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    /* wait4: the rusage of this child alone, not the peak of every child so
     * far. Linux keeps the larger of the peaks before and after exec, so it
     * counts this process's size at the fork too: an upper bound. */
    cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
    struct run r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, ru.ru_maxrss,
                    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                        ru.ru_stime.tv_usec / 1e6};
    char what[1024] = "";
    for (int i = 0; args[i]; i++)
        snprintf(what + strlen(what), sizeof(what) - strlen(what), " %s", args[i]);
    fprintf(stderr, "shmlog-dump%s: exit %d, peak RSS %ld KB, %.2f s CPU\n", what, r.status, r.maxrss_kb, r.cpu_s);
    return r;
}

/* Lines of path that contain what. */
static size_t count_lines(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s", path);
    static char line[1 << 16];
    size_t n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, what) != NULL;
    fclose(f);
    return n;
}

static void assert_contains(const char *path, const char *what)
{
    cr_assert_gt(count_lines(path, what), 0, "%s has no '%s'", path, what);
}

/* ==== Inflated frames ==== */

Test(dump_memory, a_hundred_hosts_with_inflated_frames)
{
    /* Each file: a small good frame, then one whose sections define the
     * process again and are followed by zeros up to 64 MiB. The dump used to
     * keep the second frame decoded while it merged the other hosts (it
     * stopped after the first event of a new frame), so each host held 64
     * MiB; a file of zeros alone was read to its end and let go at once. */
    uint8_t good[SMALL_FRAME_CAP], sections[SMALL_FRAME_CAP];
    size_t sections_len = sizeof(sections);
    size_t good_len = small_frame(good, sizeof(good), 0, sections, &sections_len);
    size_t bad_len;
    uint8_t *bad = inflated_frame(sections, sections_len, INFLATED_RAW, INFLATED_RAW, &bad_len);
    char dir[400], path[600], host[32];
    snprintf(dir, sizeof(dir), "%s/hosts", env.root);
    cr_assert_eq(mkdir(dir, 0700), 0);
    for (int i = 0; i < HOSTS; i++) {
        snprintf(host, sizeof(host), "host%03d", i);
        snprintf(path, sizeof(path), "%s/%s-20250101-000000-000001.shlog", dir, host);
        const uint8_t *frames[] = {good, bad};
        size_t lens[] = {good_len, bad_len};
        write_file(path, host, frames, lens, 2);
    }
    free(bad);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_lt(st.st_size, 4096, "a crafted file takes %lld bytes", (long long)st.st_size);

    char out[400], err[400];
    snprintf(out, sizeof(out), "%s/read.out", env.root);
    snprintf(err, sizeof(err), "%s/read.err", env.root);
    const char *read_args[] = {"read", dir, NULL};
    struct run r = run_dump(out, err, read_args);
    cr_assert_eq(r.status, 1, "damage makes the exit status 1");
    cr_assert_lt(r.maxrss_kb, RSS_MAX_KB, "read of %d hosts: peak RSS %ld KB", HOSTS, r.maxrss_kb);
    cr_assert_lt(r.cpu_s, CPU_MAX_S, "read of %d hosts: %.2f s CPU", HOSTS, r.cpu_s);
    cr_assert_eq(count_lines(err, "frame damaged: a section of type 0"), HOSTS, "every inflated frame is reported");
    cr_assert_eq(count_lines(out, "tick 0"), HOSTS, "the good frame of every host is read");

    const char *stats_args[] = {"stats", "--format", "json", dir, NULL};
    r = run_dump(out, err, stats_args);
    cr_assert_lt(r.maxrss_kb, RSS_MAX_KB);
    cr_assert_lt(r.cpu_s, CPU_MAX_S);
    assert_contains(out, "\"bad_frames\":100,");
    assert_contains(out, "\"records\":100,");
}

Test(dump_memory, a_hundred_inflated_frames_in_one_file)
{
    /* Zeros alone: every frame decompresses, and is damage from its first byte. */
    size_t bad_len;
    uint8_t *bad = inflated_frame(NULL, 0, INFLATED_RAW, INFLATED_RAW, &bad_len);
    const uint8_t *frames[HOSTS];
    size_t lens[HOSTS];
    for (int i = 0; i < HOSTS; i++) {
        frames[i] = bad;
        lens[i] = bad_len;
    }
    char path[600], out[400], err[400];
    snprintf(path, sizeof(path), "%s/one-20250101-000000-000001.shlog", env.root);
    write_file(path, "one", frames, lens, HOSTS);
    free(bad);
    snprintf(out, sizeof(out), "%s/stats.out", env.root);
    snprintf(err, sizeof(err), "%s/stats.err", env.root);
    for (int jobs = 1; jobs <= 8; jobs *= 2) {
        char n[8];
        snprintf(n, sizeof(n), "%d", jobs);
        const char *args[] = {"stats", "--format", "json", "--jobs", n, path, NULL};
        struct run r = run_dump(out, err, args);
        cr_assert_eq(r.status, 1);
        cr_assert_lt(r.maxrss_kb, RSS_MAX_KB, "stats --jobs %d: peak RSS %ld KB", jobs, r.maxrss_kb);
        cr_assert_lt(r.cpu_s, CPU_MAX_S, "stats --jobs %d: %.2f s CPU (6.5 s when each was read to its end)", jobs,
                     r.cpu_s);
        assert_contains(out, "\"bad_frames\":100,");
        cr_assert_eq(count_lines(err, "frame damaged: a section of type 0"), HOSTS);
    }
}

Test(dump_memory, frames_over_the_limit_are_refused_unread)
{
    /* Frames that expand past SHLOG_MAX_FRAME_RAW: two in a row that say so
     * in their prefixes (each counted), one in its zstd header only (its
     * prefix claims 1 MiB). Good frames before and after them are read. */
    uint64_t over = (uint64_t)SHLOG_MAX_FRAME_RAW + (64u << 10);
    uint8_t good1[SMALL_FRAME_CAP], good2[SMALL_FRAME_CAP];
    size_t good1_len = small_frame(good1, sizeof(good1), 0, NULL, NULL);
    size_t good2_len = small_frame(good2, sizeof(good2), 1, NULL, NULL);
    size_t big1_len, big2_len;
    uint8_t *big1 = inflated_frame(NULL, 0, over, (uint32_t)over, &big1_len);
    uint8_t *big2 = inflated_frame(NULL, 0, over, 1u << 20, &big2_len);
    char path[600];
    snprintf(path, sizeof(path), "%s/big-20250101-000000-000001.shlog", env.root);
    const uint8_t *frames[] = {good1, big1, big1, big2, good2};
    size_t lens[] = {good1_len, big1_len, big1_len, big2_len, good2_len};
    write_file(path, "big", frames, lens, 5);
    free(big1);
    free(big2);

    struct rusage before, after;
    cr_assert_eq(getrusage(RUSAGE_SELF, &before), 0);
    struct shlog_reader *rd;
    char why[512];
    cr_assert_eq(shlog_reader_open(&rd, path, 0, NULL, why, sizeof(why)), 0, "%s", why);
    struct tu_read got = {0};
    struct shlog_event ev;
    int rc;
    while ((rc = shlog_reader_next(rd, &ev)) > 0) {
        tu_read_event(&got, &ev);
        if (ev.kind == SHLOG_EV_ERROR)
            cr_assert(strstr(ev.error, "frame unreadable: ") && strstr(ev.error, "no writer exceeds; skipped unread"),
                      "%s", ev.error);
    }
    cr_assert_eq(rc, 0);
    const struct shlog_reader_stats *st = shlog_reader_stats(rd);
    cr_assert_eq(got.errors, 3, "errors: %zu (%s)", got.errors, got.first_error);
    cr_assert_eq(st->lost_records[SHM_LOSS_UNREADABLE], 3, "each counted as an unreadable frame");
    cr_assert_eq(st->bad_frames, 3);
    cr_assert_eq(st->frames, 2);
    cr_assert_eq(got.n, 2, "the good frames around them are read");
    shlog_reader_close(rd);
    cr_assert_eq(getrusage(RUSAGE_SELF, &after), 0);
    /* Decompressing either would have touched 64 MiB. */
    cr_assert_lt(after.ru_maxrss - before.ru_maxrss, 16 << 10, "peak RSS grew by %ld KB while reading",
                 after.ru_maxrss - before.ru_maxrss);
    tu_read_free(&got);

    char out[400], err[400];
    snprintf(out, sizeof(out), "%s/read.out", env.root);
    snprintf(err, sizeof(err), "%s/read.err", env.root);
    const char *args[] = {"read", path, NULL};
    struct run r = run_dump(out, err, args);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(count_lines(err, "no writer exceeds; skipped unread"), 3);
    cr_assert_eq(count_lines(out, " tick "), 2);
    cr_assert_lt(r.cpu_s, 1.0);
}

Test(dump_memory, a_frame_of_ten_million_records)
{
    /* 60 MiB of records of 6 bytes each, in a 7 KB file: the merge used to
     * queue all of them before writing one (720 MB). */
    struct shlog_enc *e;
    cr_assert_eq(shlog_enc_new(&e, 1), 0);
    struct shm_proc_info p;
    tu_proc_info(&p, 4242, 1);
    cr_assert_eq(shlog_enc_process(e, 1, &p), 0);
    struct shm_site s;
    tu_site(&s, 1, "nothing", 0);
    cr_assert_eq(shlog_enc_site(e, 1, &s), 0);
    uint64_t pos = 0;
    struct shm_copied_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.site = 1;
    rec.level = SHMLOG_LEVEL_INFO;
    rec.nslots = 1;
    while (shlog_enc_raw_bytes(e) < (60u << 20)) {
        cr_assert_eq(shlog_enc_batch_begin(e, 1, 0), 0);
        for (unsigned i = 0; i < SHLOG_MAX_BATCH_RECORDS; i++, pos++) {
            rec.pos = pos;
            rec.tsc = p.anchor_tsc + pos;
            if (shlog_enc_record(e, &rec) != 0)
                cr_assert_fail("record %llu", (unsigned long long)pos);
        }
        cr_assert_eq(shlog_enc_batch_end(e), 0);
    }
    size_t cap = shlog_enc_frame_bound(e);
    uint8_t *frame = malloc(cap);
    long n = shlog_enc_frame(e, frame, cap);
    cr_assert(n > 0);
    shlog_enc_free(e);
    char path[600], err[400], out[400];
    snprintf(path, sizeof(path), "%s/many-20250101-000000-000001.shlog", env.root);
    const uint8_t *frames[] = {frame};
    size_t lens[] = {(size_t)n};
    write_file(path, "many", frames, lens, 1);
    free(frame);

    snprintf(err, sizeof(err), "%s/read.err", env.root);
    const char *read_args[] = {"read", path, NULL};
    struct run r = run_dump("/dev/null", err, read_args);
    cr_assert_eq(r.status, 0);
    cr_assert_lt(r.maxrss_kb, RSS_MAX_KB, "peak RSS %ld KB", r.maxrss_kb);
    snprintf(out, sizeof(out), "%s/stats.out", env.root);
    char want[64];
    snprintf(want, sizeof(want), "\"records\":%llu,", (unsigned long long)pos);
    /* On threads each decodes the frame too (its definitions are every thread's): past their share of
     * memory, they leave it to one. */
    for (int jobs = 1; jobs <= 8; jobs *= 2) {
        char n[8];
        snprintf(n, sizeof(n), "%d", jobs);
        const char *stats_args[] = {"stats", "--format", "json", "--jobs", n, path, NULL};
        r = run_dump(out, err, stats_args);
        cr_assert_eq(r.status, 0);
        cr_assert_lt(r.maxrss_kb, RSS_MAX_KB, "stats --jobs %d: peak RSS %ld KB", jobs, r.maxrss_kb);
        assert_contains(out, want);
    }
}

/* ==== A call site defined again ==== */

/* n records of site s of process p (ring cpu 0) from position *pos, in a frame of their own. */
static void site_frame(struct tu_file *f, const struct shm_proc_info *p, const struct shm_site *s, uint64_t *pos,
                       unsigned n)
{
    cr_assert_eq(shlog_enc_batch_begin(f->enc, p->pid, 0), 0);
    for (unsigned i = 0; i < n; i++, (*pos)++) {
        struct shm_copied_record r = {0};
        uint64_t v = *pos;
        tu_slots(&r, tu_payload(&r, s, &v, NULL));
        r.pos = *pos;
        r.tsc = p->anchor_tsc + *pos * 3000;
        r.site = s->id;
        r.level = SHMLOG_LEVEL_INFO;
        r.tid = 1;
        cr_assert_eq(shlog_enc_record(f->enc, &r), 0);
    }
    cr_assert_eq(shlog_enc_batch_end(f->enc), 0);
    tu_file_flush(f);
}

/* A file can say anything: here a later file defines a process's call site
 * again with other text. stats on threads shows it as one thread does, though
 * the site's first record is counted by another thread than the first, and
 * the first thread meets the site only in its second text. */
Test(dump_memory, a_site_defined_again_with_other_text_is_shown_as_one_thread_shows_it)
{
    char dir[400], path[500], out[500], err[500], want_out[500], want_err[500];
    snprintf(dir, sizeof(dir), "%s/redefined", env.root);
    cr_assert_eq(mkdir(dir, 0700), 0);
    struct shm_proc_info p;
    tu_proc_info(&p, 7, 1);
    struct shm_site other, first, second;
    tu_site(&other, 2, "other v=%lu", SHMLOG_ARG_U64, 0);
    tu_site(&first, 1, "first v=%lu", SHMLOG_ARG_U64, 0);
    tu_site(&second, 1, "second text v=%lu", SHMLOG_ARG_U64, 0);
    snprintf(second.file, sizeof(second.file), "src/moved.c");
    second.file_len = (uint32_t)strlen(second.file);
    second.line = 7;
    uint64_t pos = 0;
    /* Frames, in order, on 2 threads: 0 1 0 1; on 3: 0 1 2 0. */
    for (int k = 1; k <= 2; k++) {
        struct tu_file f;
        snprintf(path, sizeof(path), "%s/testhost-20250101-000000-%06d.shlog", dir, k);
        tu_file_open(&f, path, (uint64_t)k);
        cr_assert_eq(shlog_enc_process(f.enc, p.pid, &p), 0);
        cr_assert_eq(shlog_enc_site(f.enc, p.pid, &other), 0);
        cr_assert_eq(shlog_enc_site(f.enc, p.pid, k == 1 ? &first : &second), 0);
        site_frame(&f, &p, k == 1 ? &other : &second, &pos, 5);
        site_frame(&f, &p, k == 1 ? &first : &other, &pos, 5);
        tu_file_close(&f);
    }
    const char *formats[] = {"text", "json"};
    for (int fm = 0; fm < 2; fm++) {
        snprintf(want_out, sizeof(want_out), "%s/stats1.out", env.root);
        snprintf(want_err, sizeof(want_err), "%s/stats1.err", env.root);
        const char *one[] = {"stats", "--format", formats[fm], "--jobs", "1", dir, NULL};
        struct run r1 = run_dump(want_out, want_err, one);
        cr_assert_eq(r1.status, 0);
        assert_contains(want_out, "first v=%lu");
        for (int jobs = 2; jobs <= 3; jobs++) {
            char n[8], cmd[2200];
            snprintf(n, sizeof(n), "%d", jobs);
            snprintf(out, sizeof(out), "%s/stats%d.out", env.root, jobs);
            snprintf(err, sizeof(err), "%s/stats%d.err", env.root, jobs);
            const char *many[] = {"stats", "--format", formats[fm], "--jobs", n, dir, NULL};
            struct run r = run_dump(out, err, many);
            cr_assert_eq(r.status, r1.status);
            snprintf(cmd, sizeof(cmd), "diff '%s' '%s' >&2 && cmp -s '%s' '%s'", want_out, out, want_err, err);
            cr_assert_eq(system(cmd), 0, "stats --format %s: --jobs %d differs from --jobs 1 (above)", formats[fm], jobs);
        }
    }
}

/* ==== Readers taking turns in one frame memory ==== */

/* A file of frames of records of one process, values base, base + stride, ... */
static void write_records_file(const char *path, uint32_t pid, uint64_t base, uint64_t stride)
{
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info p;
    tu_proc_info(&p, pid, 1);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &p), 0);
    struct shm_site s;
    tu_site(&s, 1, "v=%lu", SHMLOG_ARG_U64, 0);
    cr_assert_eq(shlog_enc_site(f.enc, 1, &s), 0);
    uint64_t pos = 0;
    for (int frame = 0; frame < 4; frame++) {
        cr_assert_eq(shlog_enc_batch_begin(f.enc, 1, 0), 0);
        for (int i = 0; i < 100; i++, pos++) {
            struct shm_copied_record r;
            memset(&r, 0, sizeof(r));
            r.pos = pos;
            r.tsc = p.anchor_tsc + pos;
            r.site = 1;
            uint64_t v = base + stride * pos;
            tu_slots(&r, tu_payload(&r, &s, &v, NULL));
            cr_assert_eq(shlog_enc_record(f.enc, &r), 0);
        }
        cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
        tu_file_flush(&f);
    }
    tu_file_close(&f);
}

/* The value of a record of write_records_file. */
static uint64_t record_value(const struct shlog_event *ev)
{
    uint64_t v;
    memcpy(&v, ev->rec->payload, sizeof(v));
    return v;
}

/* Reads one event of r; 0 at the end. Checks that a record is the next of
 * its file. */
static int step(struct shlog_reader *r, uint64_t *next_value, uint64_t stride, int *frame_end)
{
    struct shlog_event ev;
    int rc = shlog_reader_next(r, &ev);
    cr_assert_geq(rc, 0);
    *frame_end = rc && ev.kind == SHLOG_EV_FRAME_END;
    if (rc && ev.kind == SHLOG_EV_RECORD)
        cr_assert_eq(record_value(&ev), *next_value);
    if (rc && ev.kind == SHLOG_EV_RECORD)
        *next_value += stride;
    cr_assert(!rc || ev.kind != SHLOG_EV_ERROR, "%s", ev.error);
    return rc;
}

Test(dump_memory, readers_take_turns_in_one_frame_memory)
{
    char a[600], b[600], why[512];
    snprintf(a, sizeof(a), "%s/a.shlog", env.root);
    snprintf(b, sizeof(b), "%s/b.shlog", env.root);
    /* Other values, other deltas: a reader given the other's bytes shows. */
    write_records_file(a, 11, 0, 1);
    write_records_file(b, 12, 1000000, 3);
    struct shlog_frame_mem *m;
    cr_assert_eq(shlog_frame_mem_new(&m), 0);
    struct shlog_reader *ra, *rb;
    cr_assert_eq(shlog_reader_open(&ra, a, 0, NULL, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(shlog_reader_open(&rb, b, 0, NULL, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(shlog_reader_share_frame_mem(ra, m), 0);
    cr_assert_eq(shlog_reader_share_frame_mem(rb, m), 0);
    shlog_reader_report_frame_ends(ra, 1);
    shlog_reader_report_frame_ends(rb, 1);
    uint64_t va = 0, vb = 1000000;
    int end;
    /* a stops mid-frame: b cannot take the memory a reads in, and a trim
     * of a reader mid-frame frees nothing it reads. */
    for (int i = 0; i < 10; i++)
        cr_assert_eq(step(ra, &va, 1, &end), 1);
    while (step(rb, &vb, 3, &end) && !end)
        ;
    shlog_reader_trim(ra, 0);
    cr_assert_eq(shlog_reader_share_frame_mem(ra, NULL), -EBUSY, "only before the first frame");
    /* Then turns between frames, each trimmed to nothing of its own. */
    int more_a = 1, more_b = 1;
    while (more_a || more_b) {
        while (more_a && (more_a = step(ra, &va, 1, &end)) && !end)
            ;
        cr_assert_eq(shlog_reader_trim(ra, 0), 0);
        while (more_b && (more_b = step(rb, &vb, 3, &end)) && !end)
            ;
        cr_assert_eq(shlog_reader_trim(rb, 0), 0);
    }
    cr_assert_eq(va, 400, "every record of a, in order");
    cr_assert_eq(vb, 1001200, "every record of b, in order");
    shlog_reader_close(ra);
    shlog_reader_close(rb);
    shlog_frame_mem_free(m);
}

/* ==== Files of the real collector ==== */

/* A copy of every .shlog file of from in to, its header naming host. */
static void copy_as_host(const char *from, const char *to, const char *host)
{
    cr_assert_eq(mkdir(to, 0700), 0);
    DIR *d = opendir(from);
    cr_assert(d != NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 7 || strcmp(de->d_name + l - 6, ".shlog") != 0)
            continue;
        char src[1400], dst[1400];
        snprintf(src, sizeof(src), "%s/%s", from, de->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
        int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        cr_assert(in >= 0 && out >= 0);
        static uint8_t buf[1 << 16];
        ssize_t n;
        for (off_t off = 0; (n = read(in, buf, sizeof(buf))) > 0; off += n) {
            if (off == 0) {
                struct shlog_file_header h;
                cr_assert(n >= (ssize_t)SHLOG_FILE_HEADER_BYTES);
                cr_assert(shlog_file_header_decode(buf, (size_t)n, &h) == NULL);
                snprintf(h.host, sizeof(h.host), "%s", host);
                shlog_file_header_encode(buf, &h);
            }
            cr_assert_eq(write(out, buf, (size_t)n), n);
        }
        close(in);
        close(out);
    }
    closedir(d);
}

struct lines {
    char **v;
    size_t n, cap;
};

static void lines_add(struct lines *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        cr_assert(l->v != NULL);
    }
    l->v[l->n++] = strdup(s);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* The unsigned number after "key": in a JSON line, or -1 without the key. */
static long long json_u64(const char *line, const char *key)
{
    char k[32];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(line, k);
    return p ? (long long)strtoull(p + strlen(k), NULL, 10) : -1;
}

/* The string after "key":" in a JSON line (no escapes in what the tests log). */
static void json_str(const char *line, const char *key, char *out, size_t cap)
{
    char k[32];
    snprintf(k, sizeof(k), "\"%s\":\"", key);
    const char *p = strstr(line, k);
    cr_assert(p != NULL, "no %s in %s", key, line);
    p += strlen(k);
    size_t n = strcspn(p, "\"");
    cr_assert_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void read_lines(const char *path, struct lines *l)
{
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL);
    static char line[1 << 16];
    while (fgets(line, sizeof(line), f))
        lines_add(l, line);
    fclose(f);
}

/* lines are in time order, each ring in ring order: the running latest time
 * of each ring never goes back (tests/test_dump_files.sh says why). */
static void assert_time_order(const struct lines *l)
{
    struct ring_time {
        long long pid, cpu, ts;
    } rings[64];
    size_t nrings = 0;
    long long last = 0;
    for (size_t i = 0; i < l->n; i++) {
        const char *line = l->v[i];
        long long pid = json_u64(line, "pid"), cpu = json_u64(line, "cpu"), ts = json_u64(line, "ts_ns");
        size_t j = 0;
        while (j < nrings && !(rings[j].pid == pid && rings[j].cpu == cpu))
            j++;
        if (j == nrings) {
            cr_assert_lt(nrings, 64);
            rings[nrings++] = (struct ring_time){pid, cpu, 0};
        }
        if (ts > rings[j].ts)
            rings[j].ts = ts;
        cr_assert_geq(rings[j].ts, last, "line %zu goes back in time: %s", i + 1, line);
        last = rings[j].ts;
    }
}

Test(dump_memory, collector_files_merged_over_hosts_read_exactly)
{
    enum { COUNT = 20000, THREADS = 2, NHOSTS = 3 };
    /* Three collector runs, one producer app each; the files of run k
     * then named as of host k: a merge of three sources that take turns in
     * one frame memory, each with records of its own. */
    char dirs[NHOSTS][400], app[NHOSTS][16];
    size_t records[NHOSTS];
    for (int k = 0; k < NHOSTS; k++) {
        snprintf(app[k], sizeof(app[k]), "app%d", k);
        snprintf(env.out, sizeof(env.out), "%s/out%d", env.root, k);
        /* Bursts a frame apart and small files: several frames and files. */
        const char *cargs[] = {"--rotate-size", "2k", NULL};
        struct tu_child col = tu_collector_ready(&env, cargs);
        const char *pargs[] = {"--app", app[k], "--threads", "2", "--count", "20000", "--long-every", "97",
                               "--burst", "1000", "--pause-us", "10000", NULL};
        struct tu_child p = tu_producer(pargs);
        unsigned long long dropped = tu_wait_line(&p, "done ");
        cr_assert_eq(tu_wait_exit(&p), 0);
        cr_assert(tu_wait_segments_gone(env.seg, 10000));
        tu_stop_collector(&env, &col);

        struct tu_read got = {0};
        cr_assert_geq(tu_read_all(env.out, &got), 2, "several files");
        cr_assert_eq(got.errors, 0, "%s", got.first_error);
        records[k] = tu_check_producer(&got, (uint32_t)p.pid, THREADS, COUNT);
        cr_assert_eq(records[k] + dropped, (size_t)THREADS * COUNT);
        tu_read_free(&got);
        char host[16];
        snprintf(host, sizeof(host), "host%d", k);
        snprintf(dirs[k], sizeof(dirs[k]), "%s/%s", env.root, host);
        copy_as_host(env.out, dirs[k], host);
    }

    char out[400], err[400];
    snprintf(err, sizeof(err), "%s/read.err", env.root);
    struct lines alone[NHOSTS] = {{0}}, merged = {0};
    for (int k = 0; k < NHOSTS; k++) {
        snprintf(out, sizeof(out), "%s/alone%d.json", env.root, k);
        const char *args[] = {"read", "--format", "json", dirs[k], NULL};
        struct run r = run_dump(out, err, args);
        cr_assert_eq(r.status, 0);
        cr_assert_eq(count_lines(err, ""), 0, "nothing on stderr");
        read_lines(out, &alone[k]);
        size_t recs = 0;
        for (size_t i = 0; i < alone[k].n; i++)
            recs += json_u64(alone[k].v[i], "seq") >= 0;
        cr_assert_eq(recs, records[k], "%s: %zu records, the library read %zu", app[k], recs, records[k]);
    }
    snprintf(out, sizeof(out), "%s/merged.json", env.root);
    const char *args[] = {"read", "--format", "json", dirs[0], dirs[1], dirs[2], NULL};
    struct run r = run_dump(out, err, args);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(count_lines(err, ""), 0, "nothing on stderr");
    read_lines(out, &merged);

    /* Each host's lines are exactly its lines read alone ... */
    for (int k = 0; k < NHOSTS; k++) {
        struct lines mine = {0};
        char a[64];
        for (size_t i = 0; i < merged.n; i++) {
            json_str(merged.v[i], "app", a, sizeof(a));
            if (!strcmp(a, app[k]))
                lines_add(&mine, merged.v[i]);
        }
        cr_assert_eq(mine.n, alone[k].n, "%s: %zu lines merged, %zu alone", app[k], mine.n, alone[k].n);
        qsort(mine.v, mine.n, sizeof(*mine.v), str_cmp);
        qsort(alone[k].v, alone[k].n, sizeof(*alone[k].v), str_cmp);
        for (size_t i = 0; i < mine.n; i++)
            cr_assert_str_eq(mine.v[i], alone[k].v[i]);
        lines_free(&mine);
        lines_free(&alone[k]);
    }
    /* ... in time order, each ring in ring order. */
    assert_time_order(&merged);
    lines_free(&merged);
}

/* n records of ring cpu of process pid, from_ns after the process's anchor
 * and step_ns apart, in batches of at most batch records, a frame each;
 * each record's value is its time from the anchor. */
static void ring_records(struct tu_file *f, uint32_t pid, uint32_t cpu, uint64_t from_ns, uint64_t step_ns,
                         uint64_t n, unsigned batch)
{
    struct shm_proc_info pi;
    tu_proc_info(&pi, pid, 5);
    struct shm_site s;
    tu_site(&s, 1, "ns=%lu", SHMLOG_ARG_U64, 0);
    if (!shlog_enc_has_process(f->enc, pid))
        cr_assert_eq(shlog_enc_process(f->enc, pid, &pi), 0);
    if (!shlog_enc_has_site(f->enc, pid, s.id))
        cr_assert_eq(shlog_enc_site(f->enc, pid, &s), 0);
    const double tsc_per_ns = (double)pi.tsc_hz / 1e9;
    for (uint64_t i = 0; i < n;) {
        cr_assert_eq(shlog_enc_batch_begin(f->enc, pid, cpu), 0);
        for (unsigned k = 0; k < batch && i < n; k++, i++) {
            struct shm_copied_record r = {0};
            uint64_t ns = from_ns + i * step_ns;
            tu_slots(&r, tu_payload(&r, &s, &ns, NULL));
            r.pos = i;
            r.tsc = pi.anchor_tsc + (uint64_t)((double)ns * tsc_per_ns);
            r.site = s.id;
            r.tid = cpu + 1;
            r.level = SHMLOG_LEVEL_INFO;
            cr_assert_eq(shlog_enc_record(f->enc, &r), 0);
        }
        cr_assert_eq(shlog_enc_batch_end(f->enc), 0);
        tu_file_flush(f);
    }
}

Test(dump_memory, a_ring_read_late_keeps_its_place_behind_a_later_host)
{
    /* Host early: ring 0 logs from 0 to 100 ms and is read first; ring 1
     * logs from 50.5 ms but is read a frame later (as after --max-delay-ms
     * or a rescan). Host late logs 10 s on. The merge decodes late's first
     * frame at once; ring 1's records must still go between ring 0's, not
     * after them: a record waits for the input furthest behind. */
    char tmp[400], dirs[2][400];
    snprintf(tmp, sizeof(tmp), "%s/crafted", env.root);
    cr_assert_eq(mkdir(tmp, 0700), 0);
    const char *host[2] = {"early", "late"};
    for (int k = 0; k < 2; k++) {
        char path[500];
        snprintf(path, sizeof(path), "%s/%s-20250101-000000-000001.shlog", tmp, host[k]);
        struct tu_file f;
        tu_file_open(&f, path, 1);
        if (k == 0) {
            ring_records(&f, 10, 0, 0, 1000000, 100, 100);
            ring_records(&f, 10, 1, 50500000, 1000000, 10, 10);
        } else {
            ring_records(&f, 20, 0, 10000000000ull, 1000000, 100, 100);
        }
        tu_file_close(&f);
        snprintf(dirs[k], sizeof(dirs[k]), "%s/%s", env.root, host[k]);
        copy_as_host(tmp, dirs[k], host[k]);
        cr_assert_eq(unlink(path), 0);
    }
    char out[400], err[400];
    snprintf(out, sizeof(out), "%s/merged.json", env.root);
    snprintf(err, sizeof(err), "%s/read.err", env.root);
    const char *args[] = {"read", "--format", "json", dirs[0], dirs[1], NULL};
    struct run r = run_dump(out, err, args);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(count_lines(err, ""), 0, "nothing on stderr");
    struct lines merged = {0};
    read_lines(out, &merged);
    cr_assert_eq(merged.n, 210);
    assert_time_order(&merged);
    /* Ring 1's first record (50.5 ms) comes right after ring 0's of 50 ms. */
    cr_assert_eq(json_u64(merged.v[51], "cpu"), 1, "line 52: %s", merged.v[51]);
    lines_free(&merged);
}

Test(dump_memory, a_ring_sent_whole_by_a_full_merge_buffer)
{
    /* Ring 0 logs 1.2 M records in 60 ms: more than the merge's buffer holds
     * within the order window, so the merge runs at its bound (its FIFO in
     * 2 MiB chunks, 2 MiB below it). Ring 2's 20,000 records of the same
     * 60 ms take its FIFO to just below the bound (chunks of 16 KiB to
     * 1 MiB). Ring 1 is read last (as after --max-delay-ms), with one record
     * older than all of them: its first chunk passes the bound, and the drain
     * sends that record at once, emptying its stream while it takes its
     * batch. The merge used to put the emptied stream back into its heap and
     * read a first entry it did not have (SIGSEGV). */
    char path[500];
    snprintf(path, sizeof(path), "%s/late-20250101-000000-000001.shlog", env.root);
    struct tu_file f;
    tu_file_open(&f, path, 1);
    const uint64_t ring0 = 1200000, ring2 = 20000;
    ring_records(&f, 30, 0, 3000000000ull, 50, ring0, SHLOG_MAX_BATCH_RECORDS);
    ring_records(&f, 30, 2, 3000000025ull, 50, ring2, SHLOG_MAX_BATCH_RECORDS);
    ring_records(&f, 30, 1, 2900000000ull, 50, 1, 1);
    tu_file_close(&f);

    char out[400], err[400];
    snprintf(out, sizeof(out), "%s/read.out", env.root);
    snprintf(err, sizeof(err), "%s/read.err", env.root);
    const char *args[] = {"read", path, NULL};
    struct run r = run_dump(out, err, args);
    char said[300] = "";
    FILE *ef = fopen(err, "r");
    if (ef) {
        if (!fgets(said, sizeof(said), ef))
            said[0] = '\0';
        fclose(ef);
    }
    cr_assert_eq(r.status, 0, "read exited %d: %s", r.status, said);
    cr_assert_eq(said[0], '\0', "nothing on stderr: %s", said);
    cr_assert_eq(count_lines(out, " ns="), ring0 + ring2 + 1);
    cr_assert_lt(r.maxrss_kb, RSS_MAX_KB, "peak RSS %ld KB", r.maxrss_kb);
}

/* ==== The call sites of many files ==== */

#define SITE_FILES 24
#define SITES_A_FILE 4000

Test(dump_memory, the_sites_of_files_read_are_let_go, .timeout = 300)
{
    /* 24 files, each of a process of its own with 4000 sites of 4000-byte
     * formats (16 MB of strings a file, more once a reader has prepared
     * them): what the files define grows with the files, what the reader
     * holds must not. */
    struct tu_child col = tu_collector_ready(&env, NULL);
    char sites[16];
    snprintf(sites, sizeof(sites), "%u", SITES_A_FILE);
    char *argv[] = {(char *)tu_exe("SITE_FLOOD"), sites, "4000", NULL};
    unsigned long long records = 0;
    for (int k = 0; k < SITE_FILES; k++) {
        struct tu_child f = tu_spawn(argv, NULL);
        records += tu_wait_line(&f, "done ");
        tu_close_stdin(&f);
        cr_assert_eq(tu_wait_exit_within(&f, 60000, "a flood"), 0);
        tu_assert_segments_gone(&env, 60000); /* its records and EXIT are in the file */
        /* Closed files by their suffix: the directory also holds the collector's note of EXITs in flight. */
        size_t closed = tu_count_files(env.out, SHLOG_FILE_SUFFIX);
        kill(col.pid, SIGHUP); /* the next process in a file of its own */
        uint64_t until = tu_now_ms() + 20000;
        while (tu_count_files(env.out, SHLOG_FILE_SUFFIX) == closed && tu_now_ms() < until)
            tu_sleep_ms(20);
    }
    tu_stop_collector(&env, &col);
    size_t files = tu_count_files(env.out, SHLOG_FILE_SUFFIX);
    cr_assert_geq(files, SITE_FILES, "%zu files", files);

    char out[600], err[600];
    snprintf(out, sizeof(out), "%s/sites.json", env.root);
    snprintf(err, sizeof(err), "%s/sites.err", env.root);
    /* glibc's MALLOC_PERTURB_ (meson sets it) writes every allocation whole,
     * so the peak would count pages the dump never touches. */
    unsetenv("MALLOC_PERTURB_");
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer keeps freed memory (256 MiB by default): what the dump lets go would count. */
    setenv("ASAN_OPTIONS", "handle_sigbus=0:quarantine_size_mb=16", 1);
#endif
    /* The open file's sites (its reader's and the engine's copies), about one closed file's, and their
     * frame: 105 to 108 MB measured (bench/RESULTS.md, session 19); 182 to 253 MB when every closed
     * file within the order window kept its sites. */
    long bound_kb = 150l << 10;
#if defined(__SANITIZE_ADDRESS__)
    bound_kb += (16 + 128) << 10; /* its quarantine above, and its redzones and shadow: 205 MB measured */
#endif
    for (int jobs = 1; jobs <= 2; jobs++) {
        const char *args[] = {"read", "--format", "json", "--jobs", jobs == 1 ? "1" : "2", env.out, NULL};
        struct run r = run_dump(out, err, args);
        cr_assert_eq(r.status, 0);
        /* Every record with its own site: none was let go while a record needed it. */
        cr_assert_eq(count_lines(out, "unknown site"), 0);
        cr_assert_eq(count_lines(out, "\"msg\":\"site "), records, "%zu of %llu records",
                     count_lines(out, "\"msg\":\"site "), records);
        /* On two threads the merge runs a few jobs ahead of the lines: it reads the next file's call sites
         * while the renderers of the last one wait for the jobs that use them, and the jobs keep their
         * lines (8 MiB): 154 MB measured, 30 more than one thread (bench/RESULTS.md, session 37). */
        long jobs_kb = jobs == 1 ? 0 : 40l << 10;
        cr_assert_lt(r.maxrss_kb, bound_kb + jobs_kb, "%zu files of long sites, --jobs %d: peak RSS %ld KB", files,
                     jobs, r.maxrss_kb);
    }
}
