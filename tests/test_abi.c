/* Description: the segment ABI: layout, what shm_seg_open refuses, ring position math at wrap-around, segment names. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"
#include "shmlog.h"
#include "test_util.h"

/* ==== Layout: the offsets other processes (and other builds) rely on ==== */

_Static_assert(sizeof(struct shmlog_seg_header) == 128, "segment header");
_Static_assert(sizeof(struct shmlog_meta) == 4096, "meta header");
_Static_assert(sizeof(struct shmlog_ring) == 4096, "ring header");
_Static_assert(sizeof(struct shmlog_site) == 64, "site");
_Static_assert(sizeof(struct shmlog_record) == 64 && sizeof(struct shmlog_cont) == 64, "slots");
_Static_assert(SHMLOG_MAX_PAYLOAD == 14260, "36 + 254 * 56");

#define EXPECT_OFFSET(type, field, off) \
    cr_expect_eq(offsetof(type, field), (size_t)(off), #type "." #field " at %zu, expected %d", offsetof(type, field), off)

Test(layout, segment_header, .timeout = 10)
{
    EXPECT_OFFSET(struct shmlog_seg_header, magic, 0);
    EXPECT_OFFSET(struct shmlog_seg_header, abi_version, 8);
    EXPECT_OFFSET(struct shmlog_seg_header, header_bytes, 12);
    EXPECT_OFFSET(struct shmlog_seg_header, kind, 16);
    EXPECT_OFFSET(struct shmlog_seg_header, flags, 20);
    EXPECT_OFFSET(struct shmlog_seg_header, segment_bytes, 24);
    EXPECT_OFFSET(struct shmlog_seg_header, format_word, 32);
    EXPECT_OFFSET(struct shmlog_seg_header, pid, 40);
    EXPECT_OFFSET(struct shmlog_seg_header, uid, 44);
    EXPECT_OFFSET(struct shmlog_seg_header, proc_start, 48);
    EXPECT_OFFSET(struct shmlog_seg_header, created_ns, 56);
    EXPECT_OFFSET(struct shmlog_seg_header, instance, 64);
    EXPECT_OFFSET(struct shmlog_seg_header, reserved, 80);
    /* The magic reads as ASCII in a hex dump, kind letter then version byte. */
    uint64_t m = SHMLOG_MAGIC_META, r = SHMLOG_MAGIC_RING;
    cr_expect_eq(memcmp(&m, "SHMLOGM\x01", 8), 0);
    cr_expect_eq(memcmp(&r, "SHMLOGR\x01", 8), 0);
}

Test(layout, meta_ring_site_record, .timeout = 10)
{
    EXPECT_OFFSET(struct shmlog_meta, app, 128);
    EXPECT_OFFSET(struct shmlog_meta, host, 192);
    EXPECT_OFFSET(struct shmlog_meta, tsc_hz, 256);
    EXPECT_OFFSET(struct shmlog_meta, anchor_tsc, 264);
    EXPECT_OFFSET(struct shmlog_meta, anchor_ns, 272);
    EXPECT_OFFSET(struct shmlog_meta, site_capacity, 280);
    EXPECT_OFFSET(struct shmlog_meta, site_count, 284);
    EXPECT_OFFSET(struct shmlog_meta, sites_offset, 288);
    EXPECT_OFFSET(struct shmlog_meta, strings_offset, 292);
    EXPECT_OFFSET(struct shmlog_meta, level, 304);
    EXPECT_OFFSET(struct shmlog_meta, ring_records, 316);
    EXPECT_OFFSET(struct shmlog_meta, unregistered, 320);
    EXPECT_OFFSET(struct shmlog_meta, no_ring, 328);

    EXPECT_OFFSET(struct shmlog_ring, cpu, 128);
    EXPECT_OFFSET(struct shmlog_ring, numa_node, 132);
    EXPECT_OFFSET(struct shmlog_ring, capacity, 136);
    EXPECT_OFFSET(struct shmlog_ring, policy, 144);
    EXPECT_OFFSET(struct shmlog_ring, head, 256);
    EXPECT_OFFSET(struct shmlog_ring, tail_cache, 264);
    EXPECT_OFFSET(struct shmlog_ring, dropped, 272);
    EXPECT_OFFSET(struct shmlog_ring, tail, 384);
    EXPECT_OFFSET(struct shmlog_ring, collector_pid, 392);
    EXPECT_OFFSET(struct shmlog_ring, lost, 400);
    /* producer and consumer lines are two cache lines apart */
    cr_expect_geq(offsetof(struct shmlog_ring, tail) - offsetof(struct shmlog_ring, head), 2 * SHMLOG_CACHELINE);

    EXPECT_OFFSET(struct shmlog_site, fmt_offset, 0);
    EXPECT_OFFSET(struct shmlog_site, file_offset, 8);
    EXPECT_OFFSET(struct shmlog_site, line, 16);
    EXPECT_OFFSET(struct shmlog_site, level, 20);
    EXPECT_OFFSET(struct shmlog_site, nargs, 22);
    EXPECT_OFFSET(struct shmlog_site, arg_types, 24);
    EXPECT_OFFSET(struct shmlog_site, func_offset, 40);
    EXPECT_OFFSET(struct shmlog_site, func_len, 44);
    EXPECT_OFFSET(struct shmlog_site, desc_offset, 48);
    EXPECT_OFFSET(struct shmlog_site, desc_len, 52);
    EXPECT_OFFSET(struct shmlog_site, more_types_offset, 56);
    EXPECT_OFFSET(struct shmlog_site, reserved, 60);

    EXPECT_OFFSET(struct shmlog_record, commit, 0);
    EXPECT_OFFSET(struct shmlog_record, tsc, 8);
    EXPECT_OFFSET(struct shmlog_record, site, 16);
    EXPECT_OFFSET(struct shmlog_record, tid, 20);
    EXPECT_OFFSET(struct shmlog_record, nslots, 24);
    EXPECT_OFFSET(struct shmlog_record, flags, 27);
    EXPECT_OFFSET(struct shmlog_record, payload, 28);
    EXPECT_OFFSET(struct shmlog_cont, payload, 8);
}

Test(layout, payload_math, .timeout = 10)
{
    /* The payload stream: 36 bytes in the head slot, then 56 per continuation
     * slot after its commit word. */
    cr_expect_eq(shmlog_payload_offset(0), 28);
    cr_expect_eq(shmlog_payload_offset(35), 63);
    cr_expect_eq(shmlog_payload_offset(36), 64 + 8);
    cr_expect_eq(shmlog_payload_offset(36 + 55), 127);
    cr_expect_eq(shmlog_payload_offset(36 + 56), 128 + 8);
    cr_expect_eq(shmlog_payload_offset(SHMLOG_MAX_PAYLOAD - 1), 254 * 64 + 63);
    for (size_t n = 0; n <= SHMLOG_MAX_PAYLOAD; n++) {
        unsigned s = shmlog_slots_for_payload(n);
        cr_assert_eq(shmlog_slots_for_record_payload(n), s, "payload %zu: the log call's slot count", n);
        cr_assert(s >= 1 && s <= SHMLOG_MAX_SLOTS, "payload %zu -> %u slots", n, s);
        cr_assert_geq(SHMLOG_HEAD_PAYLOAD + (s - 1) * SHMLOG_CONT_PAYLOAD, n, "%zu bytes fit %u slots", n, s);
        if (s > 1)
            cr_assert_lt(SHMLOG_HEAD_PAYLOAD + (s - 2) * SHMLOG_CONT_PAYLOAD, n, "%u slots is the least for %zu", s, n);
    }
    cr_expect_eq(shmlog_arg_width(SHMLOG_ARG_STR), 0);
    cr_expect_eq(shmlog_arg_width(SHMLOG_ARG_F32), 4);
    cr_expect_eq(shmlog_arg_width(SHMLOG_ARG_PTR), 8);
    cr_expect_eq(shmlog_arg_width(SHMLOG_ARG_TYPE_COUNT), 0);
}

/* ==== Real segments: a producer in this process, copies to tamper with ==== */

static char dir[TU_DIR_MAX];
static char evil[TU_DIR_MAX];
static char meta_path[TU_PATH_MAX];
static char ring_path[TU_PATH_MAX];

static void producer_up(void)
{
    cr_assert_eq(tu_mkdtemp(dir, sizeof dir, "abi"), 0);
    cr_assert_eq(tu_mkdtemp(evil, sizeof evil, "abi-evil"), 0);
    cr_assert_eq(tu_pin_self(0), 0);
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "abi";
    cfg.dir = dir;
    cfg.ring_bytes = 64 * 1024; /* 1024 records, the minimum */
    cfg.quiet = 1;
    int rc = shmlog_init(&cfg);
    cr_assert_eq(rc, 0, "shmlog_init: %s", strerror(-rc));
    cr_assert_eq(shmlog_thread_init(), 0);
    snprintf(meta_path, sizeof meta_path, "%s/abi-%d.meta", dir, (int)getpid());
    snprintf(ring_path, sizeof ring_path, "%s/abi-%d-cpu0.ring", dir, (int)getpid());
}

static void producer_down(void)
{
    shmlog_shutdown();
    tu_rmtree(dir);
    tu_rmtree(evil);
}

/* Copies src to <evil>/<name> and returns that path. */
static const char *copy_seg(const char *src, const char *name)
{
    static char dst[TU_PATH_MAX];
    snprintf(dst, sizeof dst, "%s/%s", evil, name);
    unlink(dst);
    int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(in >= 0 && out >= 0, "copy %s -> %s: %s", src, dst, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        cr_assert_eq(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    return dst;
}

static void patch(const char *path, size_t off, const void *bytes, size_t len)
{
    int fd = open(path, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void patch_u32(const char *path, size_t off, uint32_t v) { patch(path, off, &v, 4); }
static void patch_u64(const char *path, size_t off, uint64_t v) { patch(path, off, &v, 8); }

static const char *meta_name(int pid_delta)
{
    static char name[64];
    snprintf(name, sizeof name, "abi-%d.meta", (int)getpid() + pid_delta);
    return name;
}

/* Opens path and expects refusal with code and a reason containing why. */
static void expect_refused(const char *path, int code, const char *why, const uid_t *uids, size_t n_uids)
{
    struct shm_seg seg;
    char err[512] = "";
    struct shm_accept acc = {.uids = uids, .n_uids = n_uids};
    int rc = shm_seg_open(&seg, path, 0, uids ? &acc : NULL, err, sizeof err);
    if (rc == 0)
        shm_seg_close(&seg);
    cr_assert_eq(rc, code, "%s: got %d (%s), expected %d (%s)", path, rc, err, code, why);
    cr_assert(strstr(err, why) != NULL, "reason '%s' should mention '%s'", err, why);
    cr_assert(strstr(err, path) != NULL, "reason '%s' should name the file", err);
    cr_assert_null(seg.addr, "nothing stays mapped after a refusal");
}

Test(seg_open, accepts_the_real_segments_and_copies_the_header, .init = producer_up, .fini = producer_down,
     .timeout = 20)
{
    struct shm_seg seg;
    char err[512] = "";
    struct stat st;
    cr_assert_eq(shm_seg_open(&seg, meta_path, 0, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(stat(meta_path, &st), 0);
    cr_expect_eq(seg.bytes, (size_t)st.st_size);
    cr_expect_eq(seg.hdr.magic, SHMLOG_MAGIC_META);
    cr_expect_eq(seg.hdr.abi_version, SHMLOG_ABI_VERSION);
    cr_expect_eq(seg.hdr.kind, SHMLOG_SEG_META);
    cr_expect_eq(seg.hdr.header_bytes, SHMLOG_META_HEADER_BYTES);
    cr_expect_eq(seg.hdr.format_word, SHMLOG_FORMAT_WORD);
    cr_expect_eq(seg.hdr.segment_bytes, (uint64_t)st.st_size);
    cr_expect_eq(seg.hdr.pid, (uint32_t)getpid());
    cr_expect_eq(seg.hdr.uid, (uint32_t)getuid());
    cr_expect_eq(shm_proc_alive(seg.hdr.pid, seg.hdr.proc_start), 1, "proc_start names this process");
    cr_expect_eq(shm_proc_alive(seg.hdr.pid, seg.hdr.proc_start + 1), 0, "another start time: pid reuse");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    cr_expect(seg.hdr.created_ns <= now && now - seg.hdr.created_ns < 60ull * 1000000000ull);
    static const uint8_t zero[sizeof seg.hdr.reserved];
    cr_expect_eq(memcmp(seg.hdr.reserved, zero, sizeof zero), 0, "reserved bytes are zero");
    cr_expect_neq(memcmp(seg.hdr.instance, zero, sizeof seg.hdr.instance), 0, "the instance is random, not zero");
    /* Its own lock never conflicts with the process itself: ask from a child. */
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        struct shm_seg again;
        _exit(shm_seg_open(&again, meta_path, 0, NULL, err, sizeof err) == 0 &&
                      shm_meta_holder(&again) == (long)getppid() ? 0 : 1);
    }
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the producer holds its meta segment's lock");

    struct shm_proc_info info;
    cr_assert_eq(shm_meta_info(&seg, &info, err, sizeof err), 0, "%s", err);
    const struct shmlog_meta *m = (const struct shmlog_meta *)seg.addr;
    cr_expect_str_eq(info.app, "abi");
    cr_expect_eq(m->sites_offset, SHMLOG_META_HEADER_BYTES);
    cr_expect_eq(m->strings_offset, SHMLOG_META_HEADER_BYTES + m->site_capacity * SHMLOG_SITE_BYTES);
    cr_expect_eq((uint64_t)m->strings_offset + m->strings_bytes, seg.bytes);
    cr_expect_eq(m->level, SHMLOG_LEVEL_INFO);
    cr_expect_eq(m->ring_records, 1024);
    cr_expect_eq(m->default_policy, SHMLOG_DROP);
    shm_seg_close(&seg);

    cr_assert_eq(shm_seg_open(&seg, ring_path, 0, NULL, err, sizeof err), 0, "%s", err);
    struct shm_ring_view v;
    cr_assert_eq(shm_ring_view_init(&v, &seg, err, sizeof err), 0, "%s", err);
    cr_expect_eq(seg.hdr.magic, SHMLOG_MAGIC_RING);
    cr_expect_eq(seg.hdr.header_bytes, SHMLOG_RING_HEADER_BYTES);
    cr_expect_eq(v.cap, 1024);
    cr_expect_eq(v.cpu, 0);
    cr_expect_eq(seg.bytes, SHMLOG_RING_HEADER_BYTES + 1024 * 64, "4 KiB pages: header + slots exactly");
    cr_expect_eq(shm_ring_head(&v), 0);
    cr_expect_eq(shm_ring_tail(&v), 0);
    shm_seg_close(&seg);
}

Test(seg_open, refuses_tampered_headers, .init = producer_up, .fini = producer_down, .timeout = 20)
{
    const char *p;
    p = copy_seg(meta_path, meta_name(0));
    patch_u64(p, offsetof(struct shmlog_seg_header, magic), SHMLOG_MAGIC_META ^ 0x0100);
    expect_refused(p, -EINVAL, "bad magic", NULL, 0);

    /* the same magic byte-swapped, as a host of the other byte order writes it */
    p = copy_seg(meta_path, meta_name(0));
    patch_u64(p, 0, __builtin_bswap64(SHMLOG_MAGIC_META));
    expect_refused(p, -EINVAL, "bad magic", NULL, 0);

    p = copy_seg(meta_path, meta_name(0));
    patch_u64(p, 0, 0);
    expect_refused(p, -EAGAIN, "not initialised", NULL, 0);

    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, offsetof(struct shmlog_seg_header, abi_version), SHMLOG_ABI_VERSION + 1);
    expect_refused(p, -EINVAL, "ABI version", NULL, 0);

    p = copy_seg(meta_path, meta_name(0));
    patch_u64(p, offsetof(struct shmlog_seg_header, format_word), SHMLOG_FORMAT_WORD ^ (64ull << 8));
    expect_refused(p, -EINVAL, "format word", NULL, 0);

    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, offsetof(struct shmlog_seg_header, kind), SHMLOG_SEG_RING);
    expect_refused(p, -EINVAL, "wrong segment kind", NULL, 0);

    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, offsetof(struct shmlog_seg_header, header_bytes), 8192);
    expect_refused(p, -EINVAL, "header size", NULL, 0);

    p = copy_seg(meta_path, meta_name(0));
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    patch_u64(p, offsetof(struct shmlog_seg_header, segment_bytes), (uint64_t)st.st_size + 4096);
    expect_refused(p, -EINVAL, "declared size", NULL, 0);

    /* a ring renamed to look like a meta segment */
    p = copy_seg(ring_path, meta_name(0));
    expect_refused(p, -EINVAL, "bad magic", NULL, 0);

    /* a meta segment whose name claims another pid */
    p = copy_seg(meta_path, meta_name(1));
    expect_refused(p, -EINVAL, "pid in the header", NULL, 0);

    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, offsetof(struct shmlog_seg_header, pid), 0);
    expect_refused(p, -EINVAL, "pid", NULL, 0);
}

Test(seg_open, refuses_bad_files, .init = producer_up, .fini = producer_down, .timeout = 20)
{
    char path[TU_PATH_MAX];
    const char *p;
    struct stat st;

    /* grown and cut files: the declared size must be the file size */
    p = copy_seg(meta_path, meta_name(0));
    cr_assert_eq(stat(p, &st), 0);
    cr_assert_eq(truncate(p, st.st_size + 4096), 0);
    expect_refused(p, -EINVAL, "declared size", NULL, 0);
    p = copy_seg(meta_path, meta_name(0));
    cr_assert_eq(truncate(p, 8192), 0);
    expect_refused(p, -EINVAL, "declared size", NULL, 0);
    p = copy_seg(meta_path, meta_name(0));
    cr_assert_eq(truncate(p, 100), 0);
    expect_refused(p, -EPERM, "implausible size", NULL, 0);
    p = copy_seg(meta_path, meta_name(0));
    cr_assert_eq(truncate(p, 0), 0);
    expect_refused(p, -EPERM, "implausible size", NULL, 0);

    /* garbage of a plausible size */
    snprintf(path, sizeof path, "%s/%s", evil, meta_name(0));
    unlink(path);
    FILE *f = fopen(path, "wx");
    cr_assert_not_null(f);
    srand(7);
    for (int i = 0; i < 256 * 1024; i++)
        fputc(rand() & 0xff, f);
    fclose(f);
    expect_refused(path, -EINVAL, "bad magic", NULL, 0);

    /* a symlink to the real segment is not followed */
    unlink(path);
    cr_assert_eq(symlink(meta_path, path), 0);
    expect_refused(path, -ELOOP, "", NULL, 0);
    unlink(path);

    /* not regular files: a directory and a FIFO (which must not block the open) */
    cr_assert_eq(mkdir(path, 0700), 0);
    expect_refused(path, -EPERM, "not a regular file", NULL, 0);
    rmdir(path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    expect_refused(path, -EPERM, "not a regular file", NULL, 0);
    unlink(path);

    /* not a segment name at all */
    snprintf(path, sizeof path, "%s/notes.txt", evil);
    expect_refused(path, -EINVAL, "not a segment name", NULL, 0);
}

static void log_from_a_named_function(void)
{
    SHMLOG_INFO("abi site n=%d", 1);
}

/* Site site_id of the meta segment at path, as a reader copies it: 0 or -errno. */
static uint32_t site_id;
static int site_of_copy(const char *path, struct shm_site *si)
{
    struct shm_seg seg;
    char err[512] = "";
    int rc = shm_seg_open(&seg, path, 0, NULL, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    rc = shm_meta_site(&seg, site_id, si);
    shm_seg_close(&seg);
    return rc;
}

/* Sets site_id to the site whose format starts with fmt, copied into si (the
 * thread's name took an entry of the table before the call site). */
static void find_site(const char *fmt, struct shm_site *si)
{
    for (site_id = 0; site_id < 8; site_id++)
        if (site_of_copy(meta_path, si) == 0 && strncmp(si->fmt, fmt, strlen(fmt)) == 0)
            return;
    cr_assert_fail("the call site \"%s\" is in the table", fmt);
}

/* Entry site_id of the table as the producer wrote it: its offset in the segment. */
static size_t raw_site(struct shmlog_site *raw)
{
    const size_t site = SHMLOG_META_HEADER_BYTES + (size_t)site_id * SHMLOG_SITE_BYTES;
    int fd = open(meta_path, O_RDONLY);
    cr_assert(fd >= 0 && pread(fd, raw, sizeof *raw, (off_t)site) == (ssize_t)sizeof *raw);
    close(fd);
    return site;
}

/* The site is refused when the offset at off of its entry points before the
 * string arena or past the segment: what a hostile writer may put there. */
static void expect_offset_bounded(size_t off, const char *what)
{
    static struct shm_site si;
    const char *p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, off, 16);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "%s before the string arena", what);
    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, off, UINT32_MAX - 2);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "%s past the segment", what);
}

Test(meta_site, names_the_call_sites_function_and_checks_its_strings_as_the_formats,
     .init = producer_up, .fini = producer_down, .timeout = 20)
{
    log_from_a_named_function();
    static struct shm_site si;
    find_site("abi site n=%d", &si);
    cr_expect_str_eq(si.func, "log_from_a_named_function");
    cr_expect_eq(si.func_len, strlen("log_from_a_named_function"));
    cr_expect_eq(si.desc_len, 0, "a C site has no descriptor");

    struct shmlog_site raw;
    const size_t site = raw_site(&raw);
    cr_assert_eq(raw.flags, 0);
    const char *p;
    /* What a hostile writer may put there: refused like a bad format. */
    expect_offset_bounded(site + offsetof(struct shmlog_site, func_offset), "a function");
    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, site + offsetof(struct shmlog_site, func_len), SHMLOG_MAX_FUNC_BYTES + 1);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "a function longer than SHMLOG_MAX_FUNC_BYTES");
    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, site + offsetof(struct shmlog_site, func_len), raw.func_len + 1);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "a function whose length takes its NUL in");
    p = copy_seg(meta_path, meta_name(0));
    patch(p, site + offsetof(struct shmlog_site, flags), &(uint8_t){SHMLOG_SITE_DESC}, 1);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "a descriptor flagged, its offset 0");
    /* A descriptor where the flag says, bounded as the format is. */
    patch_u32(p, site + offsetof(struct shmlog_site, desc_offset), raw.fmt_offset);
    patch_u32(p, site + offsetof(struct shmlog_site, desc_len), raw.fmt_len);
    cr_expect_eq(site_of_copy(p, &si), 0);
    cr_expect_str_eq(si.desc, "abi site n=%d");
    cr_expect_eq(si.desc_len, raw.fmt_len);
    patch_u32(p, site + offsetof(struct shmlog_site, desc_len), SHMLOG_MAX_DESC_BYTES + 1);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "a descriptor longer than SHMLOG_MAX_DESC_BYTES");
    /* Version 4 segments had these words reserved: read as no function, no descriptor. */
    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, offsetof(struct shmlog_seg_header, abi_version), 4);
    patch_u64(p, offsetof(struct shmlog_seg_header, format_word), SHMLOG_FORMAT_WORD_OF(4));
    patch_u32(p, site + offsetof(struct shmlog_site, func_offset), UINT32_MAX - 2);
    patch(p, site + offsetof(struct shmlog_site, flags), &(uint8_t){SHMLOG_SITE_DESC}, 1);
    cr_expect_eq(site_of_copy(p, &si), 0);
    cr_expect_eq(si.func_len, 0);
    cr_expect_str_eq(si.func, "");
    cr_expect_eq(si.desc_len, 0);
    cr_expect_str_eq(si.fmt, "abi site n=%d");
}

static void log_thirty_two(void)
{
    int8_t i8 = -8;
    uint16_t u16 = 16;
    SHMLOG_INFO("abi 32 %d %s %hhd %hu %f %lld %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d "
                "%s %f",
                1, "two", i8, u16, 5.0, 6LL, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
                26, 27, 28, 29, 30, "thirty-one", 32.0);
}

Test(meta_site, keeps_the_types_of_a_site_of_32_arguments_past_the_entry_and_checks_them_as_a_string,
     .init = producer_up, .fini = producer_down, .timeout = 20)
{
    log_thirty_two();
    static struct shm_site si;
    find_site("abi 32 ", &si);
    cr_assert_eq(si.nargs, 32);
    const uint8_t head[] = {SHMLOG_ARG_I32, SHMLOG_ARG_STR, SHMLOG_ARG_I8, SHMLOG_ARG_U16, SHMLOG_ARG_F64,
                            SHMLOG_ARG_I64};
    cr_expect_eq(memcmp(si.arg_types, head, sizeof head), 0);
    for (unsigned i = 6; i < 30; i++)
        cr_expect_eq(si.arg_types[i], SHMLOG_ARG_I32, "argument %u", i + 1);
    cr_expect_eq(si.arg_types[30], SHMLOG_ARG_STR);
    cr_expect_eq(si.arg_types[31], SHMLOG_ARG_F64);

    struct shmlog_site raw;
    const size_t site = raw_site(&raw);
    cr_assert_neq(raw.more_types_offset, 0);
    expect_offset_bounded(site + offsetof(struct shmlog_site, more_types_offset), "the types past the entry");
    const char *p = copy_seg(meta_path, meta_name(0));
    patch(p, raw.more_types_offset + 3u, &(uint8_t){SHMLOG_ARG_TYPE_COUNT}, 1);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "an unknown type past the entry");
    p = copy_seg(meta_path, meta_name(0));
    patch(p, site + offsetof(struct shmlog_site, nargs), &(uint8_t){SHMLOG_MAX_ARGS + 1}, 1);
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "more than SHMLOG_MAX_ARGS");
    /* A version 6 segment never had a site of more than 16. */
    p = copy_seg(meta_path, meta_name(0));
    patch_u32(p, offsetof(struct shmlog_seg_header, abi_version), 6);
    patch_u64(p, offsetof(struct shmlog_seg_header, format_word), SHMLOG_FORMAT_WORD_OF(6));
    cr_expect_eq(site_of_copy(p, &si), -EINVAL, "a version 6 site of 32 arguments");
    patch(p, site + offsetof(struct shmlog_site, nargs), &(uint8_t){16}, 1);
    cr_expect_eq(site_of_copy(p, &si), 0, "a version 6 site of 16: its entry's types alone");
    cr_expect_eq(si.nargs, 16);
}

Test(seg_open, refuses_other_owners, .init = producer_up, .fini = producer_down, .timeout = 20)
{
    if (geteuid() != 0) {
        producer_down(); /* Criterion does not run .fini after cr_skip_test */
        cr_skip_test("needs root to chown a segment to uid 65534");
    }
    const char *p = copy_seg(meta_path, meta_name(0));
    cr_assert_eq(chown(p, 65534, 65534), 0);
    /* default: only our own uid */
    expect_refused(p, -EACCES, "owned by uid 65534 (nobody), whose segments are not accepted", NULL, 0);
    uid_t ours = getuid();
    expect_refused(p, -EACCES, "owned by uid 65534", &ours, 1);
    /* allowed owner, but the header says the file was made by someone else */
    uid_t nobody = 65534;
    expect_refused(p, -EINVAL, "uid in the header", &nobody, 1);
    /* allowed owner and a consistent header: accepted */
    patch_u32(p, offsetof(struct shmlog_seg_header, uid), 65534);
    struct shm_seg seg;
    char err[512] = "";
    uid_t both[2] = {ours, nobody};
    struct shm_accept acc = {.uids = both, .n_uids = 2};
    cr_assert_eq(shm_seg_open(&seg, p, 0, &acc, err, sizeof err), 0, "%s", err);
    cr_expect_eq(seg.hdr.uid, 65534);
    shm_seg_close(&seg);
}

/* ==== Ring positions: padding at the ring end, laps, 64-bit wrap ==== */

/* String length that makes a "seq=%u s=%s" record exactly nslots long; the
 * variant picks a length inside the range, so each slot count is hit at
 * several lengths. */
static size_t len_for_slots(unsigned nslots, unsigned variant)
{
    const size_t fixed = 4 + 2;
    size_t max = SHMLOG_HEAD_PAYLOAD + (nslots - 1) * SHMLOG_CONT_PAYLOAD - fixed;
    size_t min = nslots == 1 ? 0 : SHMLOG_HEAD_PAYLOAD + (nslots - 2) * SHMLOG_CONT_PAYLOAD - fixed + 1;
    return min + variant % (max - min + 1);
}

struct lap_check {
    uint64_t cap;
    uint64_t expect_pos;  /* where the next record must be */
    uint32_t expect_seq;
    uint32_t pads;        /* records that had to skip to the next lap */
    char want[SHMLOG_MAX_PAYLOAD];
    unsigned fail;
    char why[256];
};

static void fill_string(char *s, size_t len, uint32_t seq)
{
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + (seq + i) % 26);
    s[len] = 0;
}

/* 1 slot up to the most a record of the default argument bound takes */
static unsigned slots_of_seq(uint32_t seq)
{
    return 1 + (seq * 5 + seq / 8) % shmlog_slots_for_payload(SHMLOG_DEFAULT_ARG_BYTES);
}

static int check_lap_record(const struct shm_copied_record *rec, const struct shm_ring_view *v, void *ctx)
{
    struct lap_check *c = ctx;
    uint32_t seq = c->expect_seq++;
    unsigned n = slots_of_seq(seq);
    uint64_t idx = c->expect_pos & v->mask;
    if (idx + n > c->cap) { /* the producer must have padded to the ring end */
        const struct shmlog_record *pad = (const struct shmlog_record *)(v->slots + (idx << 6));
        if (!(pad->flags & SHMLOG_REC_PAD) || pad->nslots != c->cap - idx || pad->commit != c->expect_pos + 1) {
            snprintf(c->why, sizeof c->why, "no pad of %llu slots at %llu", (unsigned long long)(c->cap - idx),
                     (unsigned long long)c->expect_pos);
            return -1;
        }
        c->expect_pos += c->cap - idx;
        c->pads++;
    }
    size_t len = len_for_slots(n, seq);
    uint32_t got_seq = 0;
    const uint8_t *s = NULL;
    size_t slen = 0;
    int cut = 0;
    if (rec->pos != c->expect_pos || rec->nslots != n || tu_arg_u32(rec, 0, &got_seq) || got_seq != seq ||
        tu_arg_str(rec, 4, &s, &slen, &cut) < 0 || slen != len || cut || (rec->pos & v->mask) + n > c->cap) {
        snprintf(c->why, sizeof c->why, "seq %u: at %llu (expected %llu), %u slots (expected %u), seq %u, len %zu",
                 seq, (unsigned long long)rec->pos, (unsigned long long)c->expect_pos, rec->nslots, n, got_seq,
                 slen);
        return -1;
    }
    fill_string(c->want, len, seq);
    if (memcmp(s, c->want, len) != 0) {
        snprintf(c->why, sizeof c->why, "seq %u: string bytes differ", seq);
        return -1;
    }
    c->expect_pos += n;
    return 0;
}

/* Writes `records` records of 1..76 slots on cpu 0, draining every 8 records,
 * starting from ring position `start`, and checks each decodes where the
 * padding rule says it must. */
static void run_laps(uint64_t start, uint32_t records)
{
    struct tu_proc p;
    char err[512] = "";
    cr_assert_eq(tu_proc_open(&p, dir, "abi", (uint32_t)getpid(), 1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(p.nrings, 1);
    struct shm_ring_view *v = &p.ring[0];
    /* Nothing was written yet: move every cursor to start, as if the ring had
     * already carried that many positions. */
    v->hdr->head = start;
    v->hdr->tail = start;
    v->hdr->tail_cache = start;

    static struct lap_check c;
    memset(&c, 0, sizeof c);
    c.cap = v->cap;
    c.expect_pos = start;
    uint64_t pos = start;
    char s[SHMLOG_MAX_PAYLOAD];
    struct tu_drain_stats stats = {0};
    for (uint32_t seq = 0; seq < records; seq++) {
        fill_string(s, len_for_slots(slots_of_seq(seq), seq), seq);
        SHMLOG_INFO("seq=%u s=%s", seq, s);
        if (seq % 8 == 7 || seq + 1 == records) { /* 8 records of at most 76 slots fit the 1024-slot ring */
            int st = tu_drain(v, &pos, 0, check_lap_record, &c, &stats);
            cr_assert_eq(st, SHM_READ_EMPTY, "after seq %u: %s (status %d)", seq, c.why, st);
            shm_ring_release(v, pos);
        }
    }
    cr_expect_eq(stats.records, records, "every record decoded once: %llu records, head %llu, tail %llu, read to %llu, dropped %llu",
                 (unsigned long long)stats.records, (unsigned long long)shm_ring_head(v),
                 (unsigned long long)shm_ring_tail(v), (unsigned long long)pos,
                 (unsigned long long)shm_ring_dropped(v));
    cr_expect_eq(stats.loss_events, 0);
    cr_expect_eq(c.expect_seq, records);
    cr_expect_eq(pos, c.expect_pos);
    cr_expect_eq(shm_ring_head(v), c.expect_pos, "head is right after the last record");
    cr_expect_eq(shm_ring_dropped(v), 0);
    uint64_t laps = (c.expect_pos - start) / c.cap;
    cr_expect_geq(c.pads, laps / 2, "%u pads in %llu laps: most records do not end at the ring end", c.pads,
                  (unsigned long long)laps);
    tu_proc_close(&p);
}

Test(ring_math, records_of_1_to_76_slots_over_many_laps, .init = producer_up, .fini = producer_down, .timeout = 20)
{
    run_laps(0, 20000); /* ~90 laps of a 1024-slot ring */
}

Test(ring_math, positions_across_2_pow_64, .init = producer_up, .fini = producer_down, .timeout = 20)
{
    /* Start a few laps below 2^64 at an odd offset: head wraps through 0 in the middle. */
    run_laps(UINT64_MAX - 5 * 1024 - 300, 4000);
}

/* ==== Segment names ==== */

struct name_case {
    const char *name;
    int ok;
    unsigned kind;
    const char *app;
    uint32_t pid;
    uint32_t cpu;
};

Test(names, parse_seg_name, .timeout = 10)
{
    static const struct name_case cases[] = {
        {"md-gw-1234.meta", 1, SHMLOG_SEG_META, "md-gw", 1234, 0},
        {"md-gw-1234-cpu17.ring", 1, SHMLOG_SEG_RING, "md-gw", 1234, 17},
        {"x-1.meta", 1, SHMLOG_SEG_META, "x", 1, 0},
        {"a.b_c-2147483647-cpu0.ring", 1, SHMLOG_SEG_RING, "a.b_c", 2147483647u, 0},
        {"app-42-cpu99999.ring", 1, SHMLOG_SEG_RING, "app", 42, 99999},
        {"a-1-2.meta", 1, SHMLOG_SEG_META, "a-1", 2, 0},
        {"-1.meta", 0, 0, NULL, 0, 0},                 /* empty app */
        {"app-0.meta", 0, 0, NULL, 0, 0},              /* pid 0 */
        {"app-2147483648.meta", 0, 0, NULL, 0, 0},     /* pid beyond pid_t */
        {"app-12345678901.meta", 0, 0, NULL, 0, 0},    /* 11 digits */
        {"app.meta", 0, 0, NULL, 0, 0},                /* no pid */
        {"app-.meta", 0, 0, NULL, 0, 0},
        {"app-12.ring", 0, 0, NULL, 0, 0},             /* ring without cpu */
        {"app-12-cpu.ring", 0, 0, NULL, 0, 0},
        {"app-12-cpu123456.ring", 0, 0, NULL, 0, 0},   /* cpu with 6 digits */
        {"app-12-cpux.ring", 0, 0, NULL, 0, 0},
        {"app-12-cpu3.meta", 0, 0, NULL, 0, 0},        /* cpu on a meta name */
        {"app-12.meta.part", 0, 0, NULL, 0, 0},
        {"app-12.Meta", 0, 0, NULL, 0, 0},
        {".meta", 0, 0, NULL, 0, 0},
        {"", 0, 0, NULL, 0, 0},
        {"app12.meta", 0, 0, NULL, 0, 0},              /* no dash before the pid */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct name_case *c = &cases[i];
        unsigned kind = 99;
        char app[SHMLOG_APP_BYTES] = "untouched";
        uint32_t pid = 0, cpu = 0;
        int rc = shm_parse_seg_name(c->name, &kind, app, sizeof app, &pid, &cpu);
        cr_expect_eq(rc == 0, c->ok, "'%s': rc %d", c->name, rc);
        if (rc == 0 && c->ok) {
            cr_expect_eq(kind, c->kind, "'%s' kind", c->name);
            cr_expect_str_eq(app, c->app, "'%s' app", c->name);
            cr_expect_eq(pid, c->pid, "'%s' pid", c->name);
            cr_expect_eq(cpu, c->cpu, "'%s' cpu", c->name);
        }
    }
    /* the app must fit the caller's buffer, NUL included */
    unsigned kind;
    char small[6];
    uint32_t pid, cpu;
    cr_expect_eq(shm_parse_seg_name("abcde-7.meta", &kind, small, sizeof small, &pid, &cpu), 0);
    cr_expect_str_eq(small, "abcde");
    cr_expect_neq(shm_parse_seg_name("abcdef-7.meta", &kind, small, sizeof small, &pid, &cpu), 0);
}
