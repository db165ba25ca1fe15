/* Description: the readers' dedup state (format/shlog_dedup.c) says exactly what a plain model of seen positions says, whatever the order of the claims; a file that makes a ring's spans reach the bound in the worst order is read in O(log n) a claim (within a CPU limit that an array's memmove per claim exceeds); and the spans of all rings stay within the documented bound (FORMAT.md, Duplicates). */
#include "test_util_file.h"
#include "shlog_decode_state.h"

#include <malloc.h>
#include <sys/resource.h>

TestSuite(dedup, .timeout = 120);

/* ==== Against a model ==== */

#define SPACE 4096u /* positions the random claims fall in */

/* The model: a flag per position. A claim of [lo, hi) is new if lo was not
 * seen, and then marks [lo, hi) (dedup_claim's contract). */
static int model_claim(uint8_t *seen, uint64_t lo, uint64_t hi)
{
    if (seen[lo])
        return 0;
    for (uint64_t i = lo; i < hi && i < SPACE; i++)
        seen[i] = 1;
    return 1;
}

Test(dedup, says_what_a_model_of_seen_positions_says_in_any_order)
{
    uint64_t seed = tu_seed("SHMLOG_DEDUP_SEED", "dedup says_what_a_model_of_seen_positions_says_in_any_order");
    for (int round = 0; round < 40; round++) {
        struct shlog_dedup *d;
        cr_assert_eq(shlog_dedup_new(&d), 0);
        struct shm_proc_info pi;
        tu_proc_info(&pi, 1, 1);
        struct dedup_ring *r = shlog__dedup_ring(d, &pi, 0);
        cr_assert(r);
        static uint8_t seen[SPACE];
        memset(seen, 0, sizeof(seen));
        for (int k = 0; k < 3000; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t lo = (seed >> 33) % (SPACE - 64), len = 1 + (seed >> 20) % (round % 2 ? 40 : 3);
            int got = (seed >> 60) & 1 ? dedup_claim(r, lo, lo + len) : shlog__dedup_claim_slow(r, lo, lo + len);
            cr_assert_eq(got, model_claim(seen, lo, lo + len), "round %d claim %d: [%lu, %lu)", round, k,
                         (unsigned long)lo, (unsigned long)(lo + len));
        }
        /* And every position now says what the model says. */
        for (uint64_t x = 0; x < SPACE - 64; x++) {
            int was = seen[x];
            cr_assert_eq(dedup_claim(r, x, x + 1), !was, "round %d: position %lu", round, (unsigned long)x);
            seen[x] = 1;
        }
        shlog_dedup_free(d);
    }
}

/* ==== A file made to cost a reader ==== */

#define WORST_SPANS 1000000u /* past the bound of spans a ring keeps */

/* A file of one process with WORST_SPANS position losses of one slot each,
 * every second position, highest first: each claim lands below every span. */
static void write_worst(const char *path)
{
    struct tu_file f;
    tu_file_open(&f, path, 1);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 7, 7);
    cr_assert_eq(shlog_enc_process(f.enc, 1, &pi), 0);
    for (uint32_t i = 0; i < WORST_SPANS; i++) {
        struct shm_loss l = {.first_pos = 2ull * (WORST_SPANS - i), .positions = 1, .records = 1,
                             .reason = SHM_LOSS_CORRUPT};
        cr_assert_eq(shlog_enc_loss(f.enc, 1, 0, &l, 0), 0);
    }
    tu_file_flush(&f);
    tu_file_close(&f);
}

Test(dedup, a_file_of_claims_in_the_worst_order_is_read_in_log_time)
{
    char dir[TU_DIR_MAX], path[TU_DIR_MAX + 32];
    tu_tmpdir(dir, sizeof(dir), "dedup");
    snprintf(path, sizeof(path), "%s/worst.shlog", dir);
    write_worst(path);
    /* Read in a child with 10 s of CPU: claims that each move the whole
     * array of spans (1 MiB at the bound) take far longer. */
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct rlimit cpu = {10, 10};
        setrlimit(RLIMIT_CPU, &cpu);
        struct tu_read got = {0};
        int rc = tu_read_shlog(path, NULL, &got);
        _exit(rc == 0 && got.losses == WORST_SPANS ? 0 : 1);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    tu_rmtree(dir);
    cr_assert(!WIFSIGNALED(st), "the reader was killed by signal %d (SIGXCPU: over its CPU limit)",
              WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the reader did not return every loss");
}

/* ==== The bound ==== */

Test(dedup, the_spans_of_all_rings_stay_within_the_bound)
{
    /* 128 rings, 40000 separate spans each: 5 M spans claimed, five times
     * the bound (1 Mi spans of 32 bytes; arrays grow by doubling). */
    struct shlog_dedup *d;
    cr_assert_eq(shlog_dedup_new(&d), 0);
    struct mallinfo2 m0 = mallinfo2(); /* large arrays are mapped apart: hblkhd */
    size_t before = m0.uordblks + m0.hblkhd;
    for (uint32_t ring = 0; ring < 128; ring++) {
        struct shm_proc_info pi;
        tu_proc_info(&pi, 100 + ring, 1);
        struct dedup_ring *r = shlog__dedup_ring(d, &pi, 0);
        cr_assert(r);
        for (uint64_t i = 0; i < 40000; i++)
            dedup_claim(r, 4 * i, 4 * i + 1);
        cr_assert_eq(dedup_claim(r, 4 * 39999, 4 * 39999 + 1), 0);
        /* Within the bound every gap is told apart; past it, old ones go. */
        if (ring == 0)
            cr_assert_eq(dedup_claim(r, 2, 3), 1);
    }
    struct mallinfo2 m1 = mallinfo2();
    size_t grown = m1.uordblks + m1.hblkhd - before;
    shlog_dedup_free(d);
    cr_assert_lt(grown, (size_t)72 << 20, "the dedup state holds %zu bytes", grown);
}
