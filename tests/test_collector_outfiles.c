/* Description: issue 17: no output file is ever overwritten or its name reused, whatever the output directory holds: a dead collector's .part recovered next to a closed file of its name, a closed name taken while the file is written, sequence numbers of 19 and 20 digits; --keep and --max-bytes count every file the collector could have written and delete nothing else; the last number (UINT64_MAX) leaves none, so the collector refuses to start; issue 47: a .part deleted while open has what it held counted as lost (file_removed) in the next file, its EXITs written again there, and the exit line claims only what the files hold. */
#include "test_util_file.h"

#include <errno.h>

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "outfiles"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(collector_outfiles, .init = setup, .fini = teardown, .timeout = 30);

#define BIG19 "1000000000000000000"   /* 10^18: one digit past what the numbering used to read */
#define BIG19_U 1000000000000000000ull
#define PAST_U64 "99999999999999999999" /* 20 digits, more than UINT64_MAX */

/* The host part of the collector's file names. */
static void host_name(char *out, size_t cap)
{
    cr_assert_eq(gethostname(out, cap - 1), 0);
    out[cap - 1] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '/' || *c == ' ' || *c == '\t')
            *c = '_';
}

/* env.out/<host>-<date of t>-<seq>.shlog */
static void name_at(char *out, size_t cap, const char *host, time_t t, const char *seq)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y%m%d-%H%M%S", &tm);
    snprintf(out, cap, "%s/%s-%s-%s%s", env.out, host, date, seq, SHLOG_FILE_SUFFIX);
}

static void write_bytes(const char *path, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

/* The whole file; its length in *n. */
static char *slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "%s is gone: %s", path, strerror(errno));
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    char *buf = malloc((size_t)st.st_size + 1);
    cr_assert(buf);
    cr_assert_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return buf;
}

static void assert_content(const char *path, const void *want, size_t n)
{
    size_t got_n;
    char *got = slurp(path, &got_n);
    cr_assert(got_n == n && memcmp(got, want, n) == 0, "%s was changed (%zu bytes, expected %zu)", path, got_n, n);
    free(got);
}

static const char precious[] = "precious, not the collector's\n";

static void plant(const char *path) { write_bytes(path, precious, sizeof(precious) - 1); }
static void assert_planted(const char *path) { assert_content(path, precious, sizeof(precious) - 1); }

/* A real closed file: header naming collector pid 1 (not a collector, so
 * the writer is gone), then `records` records of process pid. */
static void write_shlog(const char *path, uint32_t pid, uint64_t records)
{
    struct tu_file f;
    tu_file_open(&f, path, 7);
    struct shm_site s;
    tu_site(&s, 0, "v=%lu", SHMLOG_ARG_U64, 0);
    struct shm_proc_info pi;
    tu_proc_info(&pi, pid, 5);
    cr_assert_eq(shlog_enc_process(f.enc, pid, &pi), 0);
    cr_assert_eq(shlog_enc_site(f.enc, pid, &s), 0);
    cr_assert_eq(shlog_enc_batch_begin(f.enc, pid, 0), 0);
    for (uint64_t p = 0; p < records; p++) {
        struct shm_copied_record r = {0};
        uint64_t v[1] = {p * 3};
        tu_slots(&r, tu_payload(&r, &s, v, NULL));
        r.pos = p;
        r.tsc = 1000 + p;
        r.site = s.id;
        r.tid = 1;
        cr_assert_eq(shlog_enc_record(f.enc, &r), 0);
    }
    cr_assert_eq(shlog_enc_batch_end(f.enc), 0);
    tu_file_flush(&f);
    tu_file_close(&f);
}

/* Records of process pid in path, read alone. */
static size_t records_of(const char *path, uint32_t pid)
{
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path, NULL, &got), 0, "%s", path);
    cr_assert_eq(got.errors, 0, "%s: %s", path, got.first_error);
    size_t n = 0;
    for (size_t k = 0; k < got.n; k++)
        n += got.rec_pid[k] == pid;
    cr_assert_eq(n, got.n, "%s holds records of another process", path);
    tu_read_free(&got);
    return n;
}

/* The names in dir (not . and ..), sorted. */
struct listing {
    char *name[256];
    size_t n;
};

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list_dir(const char *dir, struct listing *l)
{
    l->n = 0;
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            cr_assert_lt(l->n, 256);
            l->name[l->n++] = strdup(de->d_name);
        }
    closedir(d);
    qsort(l->name, l->n, sizeof(l->name[0]), str_cmp);
}

static void free_listing(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->name[i]);
    l->n = 0;
}

static void show_dir(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "ls -la '%s' >&2; cat '%s' >&2", env.out, env.log);
    cr_assert(system(cmd) >= 0);
}

/* A name the collector writes, "<host>-<YYYYmmdd>-<HHMMSS>-<seq>.shlog" of
 * this host: 1 with its number in *seq. */
static int collector_name(const char *name, const char *host, uint64_t *seq)
{
    size_t hl = strlen(host), n = strlen(name), sl = strlen(SHLOG_FILE_SUFFIX);
    if (strncmp(name, host, hl) != 0 || n < hl + 18 + sl || strcmp(name + n - sl, SHLOG_FILE_SUFFIX) != 0)
        return 0;
    unsigned ymd, hms;
    char digits[64];
    int used = 0;
    if (sscanf(name + hl, "-%8u-%6u-%40[0-9]%n", &ymd, &hms, digits, &used) != 3 || (size_t)(hl + used) != n - sl)
        return 0;
    /* printed "%06" PRIu64: the date's fields whole, no leading zero past six digits */
    size_t dl = strlen(digits);
    if ((size_t)used != 17 + dl || dl < 6 || (dl > 6 && digits[0] == '0'))
        return 0;
    errno = 0;
    *seq = strtoull(digits, NULL, 10);
    return errno == 0;
}

/* The numbers of this host's collector files in env.out, sorted; the other
 * names are left for the caller to check. */
static size_t collector_files(const char *host, uint64_t *seq, char names[][300], size_t cap)
{
    struct listing l;
    list_dir(env.out, &l);
    size_t n = 0;
    for (size_t i = 0; i < l.n; i++) {
        uint64_t s;
        if (!collector_name(l.name[i], host, &s))
            continue;
        cr_assert_lt(n, cap);
        size_t j = n++;
        for (; j > 0 && seq[j - 1] > s; j--) {
            seq[j] = seq[j - 1];
            memcpy(names[j], names[j - 1], sizeof(names[j]));
        }
        seq[j] = s;
        snprintf(names[j], sizeof(names[j]), "%s", l.name[i]);
    }
    free_listing(&l);
    return n;
}

/* Runs a 1-thread producer of count records to the end, with the collector
 * col draining it, then stops col. Returns the producer's pid and drops. */
static pid_t produce_and_stop(struct tu_child *col, unsigned long count, unsigned long long *dropped)
{
    char cnt[32];
    snprintf(cnt, sizeof(cnt), "%lu", count);
    const char *pargs[] = {"--threads", "1", "--count", cnt, "--burst", "200", "--pause-us", "2000", NULL};
    struct tu_child p = tu_producer(pargs);
    *dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, col);
    return p.pid;
}

/* Reads the named files of env.out in order with one dedup state and checks
 * the producer's records are all there once. */
static void assert_records(char names[][300], size_t n, pid_t pid, unsigned long count, unsigned long long dropped)
{
    struct shlog_dedup *dd;
    cr_assert_eq(shlog_dedup_new(&dd), 0);
    struct tu_read got = {0};
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        cr_assert_lt((size_t)snprintf(path, sizeof(path), "%s/%.299s", env.out, names[i]), sizeof(path));
        cr_assert_eq(tu_read_shlog(path, dd, &got), 0, "%s", path);
    }
    shlog_dedup_free(dd);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_eq(tu_check_producer(&got, (uint32_t)pid, 1, count) + dropped, count);
    tu_read_free(&got);
}

Test(collector_outfiles, a_recovered_part_never_replaces_a_closed_file_of_its_name)
{
    cr_assert_eq(mkdir(env.out, 0700), 0);
    const char *stem = "oldhost-20200101-000000-";
    char closed[1024], part[1024], lone[1024];
    snprintf(closed, sizeof(closed), "%s/%s000007%s", env.out, stem, SHLOG_FILE_SUFFIX);
    snprintf(part, sizeof(part), "%s/%s000007%s%s", env.out, stem, SHLOG_FILE_SUFFIX, SHLOG_PART_SUFFIX);
    snprintf(lone, sizeof(lone), "%s/%s000003%s%s", env.out, stem, SHLOG_FILE_SUFFIX, SHLOG_PART_SUFFIX);
    write_shlog(closed, 101, 100);
    write_shlog(part, 102, 50);
    write_shlog(lone, 103, 30); /* a dead collector's part whose name is free: renamed in place */
    size_t closed_n, part_n, lone_n;
    char *closed_b = slurp(closed, &closed_n), *part_b = slurp(part, &part_n), *lone_b = slurp(lone, &lone_n);

    struct tu_child col = tu_collector(&env, (const char *const[]){"--once", NULL});
    int st = tu_wait_exit_within(&col, 15000, "collector --once");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "collector status %#x", st);

    /* Exactly: the closed file as it was, the free-named part under its own
     * name, the other part under the next number after the highest (7). */
    struct listing l;
    list_dir(env.out, &l);
    char want[3][80];
    snprintf(want[0], sizeof(want[0]), "%s000003%s", stem, SHLOG_FILE_SUFFIX);
    snprintf(want[1], sizeof(want[1]), "%s000007%s", stem, SHLOG_FILE_SUFFIX);
    snprintf(want[2], sizeof(want[2]), "%s000008%s", stem, SHLOG_FILE_SUFFIX);
    if (l.n != 3)
        show_dir();
    cr_assert_eq(l.n, 3, "%zu files in the output directory", l.n);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(l.name[i], want[i]);
    free_listing(&l);
    assert_content(closed, closed_b, closed_n);
    char renamed[1024], lone_final[1024];
    snprintf(renamed, sizeof(renamed), "%s/%s", env.out, want[2]);
    snprintf(lone_final, sizeof(lone_final), "%s/%s", env.out, want[0]);
    assert_content(renamed, part_b, part_n);
    assert_content(lone_final, lone_b, lone_n);
    cr_assert_eq(records_of(closed, 101), 100);
    cr_assert_eq(records_of(renamed, 102), 50);
    cr_assert_eq(records_of(lone_final, 103), 30);
    cr_assert_geq(tu_log_lines(&env, "000008"), 1, "the collector did not say where the part went");
    free(closed_b);
    free(part_b);
    free(lone_b);
}

Test(collector_outfiles, a_closed_name_taken_while_the_file_is_written_is_not_replaced)
{
    char host[256];
    host_name(host, sizeof(host));
    const char *pargs[] = {"--threads", "1", "--count", "20000", "--gate-at", "10000", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "ready");
    struct tu_child col = tu_collector(&env, NULL);
    uint64_t until = tu_now_ms() + 10000;
    while (tu_count_files(env.out, SHLOG_PART_SUFFIX) == 0 && tu_now_ms() < until)
        tu_sleep_ms(5);
    struct listing l;
    list_dir(env.out, &l);
    cr_assert_eq(l.n, 1, "the collector did not start its file");
    /* Whatever appears under the open file's closed name is someone else's. */
    char taken[1024];
    snprintf(taken, sizeof(taken), "%s/%s", env.out, l.name[0]);
    char *dot = strstr(taken, SHLOG_PART_SUFFIX);
    cr_assert(dot);
    *dot = '\0';
    free_listing(&l);
    plant(taken);
    tu_close_stdin(&p);
    unsigned long long dropped = tu_wait_line(&p, "done ");
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);

    assert_planted(taken);
    uint64_t seq[8];
    char names[8][300];
    size_t n = collector_files(host, seq, names, 8);
    if (n != 2 || tu_count_files(env.out, "") != 2)
        show_dir();
    cr_assert_eq(tu_count_files(env.out, ""), 2, "expected the planted file and the collector's");
    cr_assert_eq(n, 2);
    cr_assert_eq(seq[1], seq[0] + 1, "the closed file took %lu, after %lu", seq[1], seq[0]);
    cr_assert_str_eq(names[0], strrchr(taken, '/') + 1);
    /* Same stem (it opened at that time), the next number. */
    cr_assert_eq(strncmp(names[0], names[1], strrchr(names[0], '-') - names[0]), 0);
    assert_records(names + 1, 1, p.pid, 20000, dropped);
}

Test(collector_outfiles, numbers_of_19_digits_count_and_their_names_are_never_reused)
{
    char host[256];
    host_name(host, sizeof(host));
    cr_assert_eq(mkdir(env.out, 0700), 0);
    /* A run that numbered up to 10^18: the 18-digit file and, under every
     * name the next file could get in the next 20 s, the 19-digit one. */
    char old18[1024];
    snprintf(old18, sizeof(old18), "%s/%s-20200101-000000-999999999999999999%s", env.out, host, SHLOG_FILE_SUFFIX);
    plant(old18);
    time_t now = time(NULL);
    char planted[24][1024];
    int np = 0;
    for (time_t t = now - 1; t <= now + 20; t++)
        name_at(planted[np++], sizeof(planted[0]), host, t, BIG19);

    for (int i = 0; i < np; i++)
        plant(planted[i]);
    struct tu_child col = tu_collector(&env, NULL);
    unsigned long long dropped;
    pid_t pid = produce_and_stop(&col, 20000, &dropped);

    assert_planted(old18);
    for (int i = 0; i < np; i++)
        assert_planted(planted[i]);
    uint64_t seq[64];
    char names[64][300];
    size_t n = collector_files(host, seq, names, 64);
    if (n != (size_t)np + 2 || tu_count_files(env.out, "") != n)
        show_dir();
    cr_assert_eq(tu_count_files(env.out, ""), n, "a file not in the collector's pattern appeared");
    cr_assert_eq(n, (size_t)np + 2, "expected the planted files and one new file");
    /* Sorted: the 18-digit one, the 19-digit planted ones, then the new one. */
    cr_assert_eq(seq[n - 1], BIG19_U + 1, "the new file is numbered %lu", seq[n - 1]);
    assert_records(names + n - 1, 1, pid, 20000, dropped);
}

Test(collector_outfiles, keep_counts_19_digit_files_and_deletes_only_its_own_names)
{
    char host[256];
    host_name(host, sizeof(host));
    cr_assert_eq(mkdir(env.out, 0700), 0);
    char big[1024], past[1024], spelled[1024], notes[1024], other[1024];
    snprintf(big, sizeof(big), "%s/%s-20200101-000000-" BIG19 "%s", env.out, host, SHLOG_FILE_SUFFIX);
    /* None of these is a name the collector writes: never deleted. */
    snprintf(past, sizeof(past), "%s/%s-20200101-000000-" PAST_U64 "%s", env.out, host, SHLOG_FILE_SUFFIX);
    snprintf(spelled, sizeof(spelled), "%s/%s-20200101-000000-0000012%s", env.out, host, SHLOG_FILE_SUFFIX);
    snprintf(notes, sizeof(notes), "%s/notes-000001%s", env.out, SHLOG_FILE_SUFFIX);
    snprintf(other, sizeof(other), "%s/%s-2020-01-01-000002%s", env.out, host, SHLOG_FILE_SUFFIX);
    write_shlog(big, 301, 10);
    plant(past);
    plant(spelled);
    plant(notes);
    plant(other);

    struct tu_child col = tu_collector(&env, (const char *const[]){"--rotate-size", "512", "--keep", "2", NULL});
    unsigned long long dropped;
    produce_and_stop(&col, 40000, &dropped);

    assert_planted(past);
    assert_planted(spelled);
    assert_planted(notes);
    assert_planted(other);
    struct stat st;
    cr_assert_neq(lstat(big, &st), 0, "the oldest file (19-digit number) escaped --keep");
    uint64_t seq[64];
    char names[64][300];
    size_t n = collector_files(host, seq, names, 64);
    if (n != 2 || tu_count_files(env.out, "") != 6)
        show_dir();
    cr_assert_eq(n, 2, "--keep 2 left %zu files", n);
    cr_assert_eq(tu_count_files(env.out, ""), 6);
    cr_assert_gt(seq[0], BIG19_U, "numbered %lu, below the 19-digit file", seq[0]);
    cr_assert_eq(seq[1], seq[0] + 1);
}

Test(collector_outfiles, max_bytes_counts_19_digit_files_and_deletes_only_its_own_names)
{
    char host[256];
    host_name(host, sizeof(host));
    cr_assert_eq(mkdir(env.out, 0700), 0);
    char big[1024], past[1024];
    snprintf(big, sizeof(big), "%s/%s-20200101-000000-" BIG19 "%s", env.out, host, SHLOG_FILE_SUFFIX);
    snprintf(past, sizeof(past), "%s/%s-20200101-000000-" PAST_U64 "%s", env.out, host, SHLOG_FILE_SUFFIX);
    /* 1 MiB under the collector's oldest name: over --max-bytes by itself. */
    static char mib[1 << 20];
    memset(mib, 'x', sizeof(mib));
    write_bytes(big, mib, sizeof(mib));
    write_bytes(past, mib, sizeof(mib));

    struct tu_child col =
        tu_collector(&env, (const char *const[]){"--rotate-size", "512", "--max-bytes", "262144", NULL});
    unsigned long long dropped;
    pid_t pid = produce_and_stop(&col, 20000, &dropped);

    struct stat st;
    cr_assert_neq(lstat(big, &st), 0, "the oldest file (19-digit number) escaped --max-bytes");
    assert_content(past, mib, sizeof(mib));
    uint64_t seq[256];
    char names[256][300];
    size_t n = collector_files(host, seq, names, 256);
    if (n < 1 || tu_count_files(env.out, "") != n + 1)
        show_dir();
    cr_assert_eq(tu_count_files(env.out, ""), n + 1);
    cr_assert_geq(n, 1);
    /* Everything written stays: the new files are far under the limit. */
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(seq[i], BIG19_U + 1 + i, "file %zu is numbered %lu", i, seq[i]);
    assert_records(names, n, pid, 20000, dropped);
}

Test(collector_outfiles, twenty_digit_numbers_count_up_to_the_last_then_the_collector_refuses_to_start)
{
    char host[256];
    host_name(host, sizeof(host));
    cr_assert_eq(mkdir(env.out, 0700), 0);
    char near[1024], dead[1024];
    snprintf(near, sizeof(near), "%s/%s-20200101-000000-18446744073709551614%s", env.out, host, SHLOG_FILE_SUFFIX);
    plant(near);
    struct tu_child col = tu_collector(&env, NULL);
    unsigned long long dropped;
    pid_t pid = produce_and_stop(&col, 20000, &dropped);
    assert_planted(near);
    uint64_t seq[8];
    char names[8][300];
    size_t n = collector_files(host, seq, names, 8);
    if (n != 2)
        show_dir();
    cr_assert_eq(n, 2, "expected the planted file and one new one");
    cr_assert_eq(seq[1], UINT64_MAX, "the highest number is %lu, not the one after the planted file", seq[1]);
    assert_records(names + 1, 1, pid, 20000, dropped);

    /* UINT64_MAX is taken: no number is left, and wrapping around would
     * reuse names. The collector says so and changes nothing, not even a
     * dead collector's part. */
    snprintf(dead, sizeof(dead), "%s/%s-20200101-000000-000004%s%s", env.out, host, SHLOG_FILE_SUFFIX,
             SHLOG_PART_SUFFIX);
    write_shlog(dead, 401, 10);
    struct listing before, after;
    list_dir(env.out, &before);
    col = tu_collector(&env, (const char *const[]){"--once", NULL});
    int st = tu_wait_exit_within(&col, 15000, "collector --once");
    list_dir(env.out, &after);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
        show_dir();
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "collector status %#x, expected exit 2", st);
    cr_assert_geq(tu_log_lines(&env, "18446744073709551615"), 1, "the collector did not name the last number");
    cr_assert_eq(after.n, before.n);
    for (size_t i = 0; i < after.n; i++)
        cr_assert_str_eq(after.name[i], before.name[i]);
    free_listing(&before);
    free_listing(&after);
    assert_planted(near);
}

/* ==== Issue 47: an open file deleted ==== */

/* Deletes the .part files of dir: how many. */
static int remove_parts(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".part") == 0) {
            cr_assert_eq(unlinkat(dirfd(d), de->d_name, 0), 0);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Waits until a .part file of dir holds a frame (more than its header). */
static void wait_part_with_frame(const char *dir)
{
    for (int waited_ms = 0; waited_ms < 20000; waited_ms += 10) {
        DIR *d = opendir(dir);
        struct dirent *de;
        off_t size = 0;
        while (d && (de = readdir(d))) {
            struct stat st;
            size_t len = strlen(de->d_name);
            if (len > 5 && strcmp(de->d_name + len - 5, ".part") == 0 &&
                fstatat(dirfd(d), de->d_name, &st, 0) == 0 && st.st_size > size)
                size = st.st_size;
        }
        if (d)
            closedir(d);
        if (size > SHLOG_FILE_HEADER_BYTES)
            return;
        tu_sleep_ms(10);
    }
    cr_assert_fail("no frame reached a .part file in %s", dir);
}

/* Waits for producer p to log all it logs, exit 0 and have its segments
 * removed (its EXIT written): what it dropped. */
static unsigned long long producer_finished(struct tu_child *p)
{
    unsigned long long dropped = tu_wait_line(p, "done ");
    cr_assert_eq(tu_wait_exit(p), 0);
    tu_assert_segments_gone(&env, 10000);
    return dropped;
}

/* The records the collector's exit line claims. */
static unsigned long long exit_line_records(void)
{
    char text[1 << 16];
    cr_assert_geq(tu_read_file(env.log, text, sizeof(text)), 0);
    const char *at = strstr(text, "exiting: ");
    cr_assert_not_null(at, "no exit line: %s", text);
    return strtoull(at + strlen("exiting: "), NULL, 10);
}

Test(collector_outfiles, records_in_a_part_deleted_while_open_are_counted_lost_and_not_claimed, .timeout = 120)
{
    enum { COUNT = 80000 };
    struct tu_child col = tu_collector_ready(&env, NULL);
    /* Held before record 30000 until the file is gone: some records are in
     * it, the rest come after. */
    const char *pargs[] = {"--threads", "1", "--count", "80000", "--gate-at", "30000", NULL};
    struct tu_child p = tu_producer(pargs);
    tu_wait_line(&p, "ready");
    wait_part_with_frame(env.out);
    cr_assert_eq(remove_parts(env.out), 1);
    tu_close_stdin(&p);
    unsigned long long dropped = producer_finished(&p);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    size_t n = tu_check_producer(&got, (uint32_t)p.pid, 1, COUNT);
    uint64_t removed = got.lost[SHM_LOSS_FILE_REMOVED];
    cr_expect_gt(removed, 0, "the records of the deleted file are not counted");
    cr_expect_eq(n + removed + dropped, COUNT, "read %zu + lost with the file %lu + dropped %llu", n,
                 (unsigned long)removed, dropped);
    cr_expect_eq(got.exits, 1);
    cr_expect_eq(exit_line_records(), n, "the exit line claims what the files do not hold");
    cr_expect_eq(tu_log_lines(&env, "was deleted while open"), 1);
    cr_expect_eq(tu_log_lines(&env, "the next start recovers it"), 0);
    tu_read_free(&got);
}

Test(collector_outfiles, an_exit_in_a_part_deleted_while_open_is_written_again, .timeout = 120)
{
    struct tu_child col = tu_collector_ready(&env, NULL);
    const char *first[] = {"--threads", "1", "--count", "10000", NULL};
    struct tu_child a = tu_producer(first);
    unsigned long long dropped_a = producer_finished(&a); /* its EXIT is in the file */
    cr_assert_eq(remove_parts(env.out), 1);
    /* A later frame finds the file gone. */
    const char *second[] = {"--threads", "1", "--count", "100", NULL};
    struct tu_child b = tu_producer(second);
    unsigned long long dropped_b = producer_finished(&b);
    tu_stop_collector(&env, &col);

    struct tu_read got = {0};
    tu_read_all(env.out, &got);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    /* The frame that found the file gone went into it too: b's records may be lost with it. */
    uint64_t removed = got.lost[SHM_LOSS_FILE_REMOVED];
    cr_expect_geq(removed + dropped_a, 10000, "all of a's records went with the file: %lu", (unsigned long)removed);
    cr_expect_eq(tu_check_producer(&got, (uint32_t)b.pid, 1, 100) + removed + dropped_a + dropped_b, 10100);
    cr_expect_eq(got.exits, 2, "the first producer's EXIT went with the file: written again");
    tu_read_free(&got);
}
