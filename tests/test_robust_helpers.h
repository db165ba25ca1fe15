/* Description: helpers shared by the robustness tests (crash matrix, full disk, hostile producers,
 * security): seeds and counts from the environment, the collector log, bounded waits for a child. */
#ifndef TEST_ROBUST_HELPERS_H
#define TEST_ROBUST_HELPERS_H

#include "test_collector_helpers.h"

static inline uint64_t rb_env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* The seed of a randomised test: $var if set, else a fresh one. Printed, so
 * that a failure can be replayed. */
static inline uint64_t rb_seed(const char *var, const char *test)
{
    uint64_t seed = rb_env_u64(var, 0);
    if (!seed)
        seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    fprintf(stderr, "%s: seed %lu (replay: %s=%lu)\n", test, (unsigned long)seed, var, (unsigned long)seed);
    return seed;
}

/* Lines of the collector log (e->log) that contain needle. */
static inline int rb_log_lines(const struct tc_env *e, const char *needle)
{
    FILE *f = fopen(e->log, "re");
    if (!f)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Waits until the collector log has a line with needle. 1 if it came. */
static inline int rb_wait_log(const struct tc_env *e, const char *needle, unsigned timeout_ms)
{
    uint64_t end = tc_now_ms() + timeout_ms;
    while (tc_now_ms() < end) {
        if (rb_log_lines(e, needle))
            return 1;
        tc_sleep_ms(20);
    }
    return 0;
}

/* tc_wait_exit, but a child that does not end within timeout_ms fails the
 * test (a hang) and is killed. */
static inline int rb_wait_exit_within(struct tc_child *c, unsigned timeout_ms, const char *what)
{
    uint64_t end = tc_now_ms() + timeout_ms;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        cr_assert_eq(waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
        if (si.si_pid)
            return tc_wait_exit(c);
        if (tc_now_ms() > end) {
            kill(c->pid, SIGKILL);
            cr_assert_fail("%s hangs: still running after %u ms", what, timeout_ms);
        }
        tc_sleep_ms(2);
    }
}

/* tc_wait_segments_gone, and on failure what is left and the end of the
 * collector log, for the report. */
static inline void rb_assert_segments_gone(const struct tc_env *e, unsigned timeout_ms)
{
    if (tc_wait_segments_gone(e->seg, timeout_ms))
        return;
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "ls -la --time-style=full-iso '%s' >&2; tail -n 40 '%s' >&2", e->seg, e->log);
    cr_assert(system(cmd) >= 0);
    cr_assert_fail("segments are left %u ms after their producers ended (listed above)", timeout_ms);
}

/* The first ring segment of process pid in dir, or "". */
static inline void rb_find_ring(const char *dir, pid_t pid, char *out, size_t cap)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    char tag[64];
    snprintf(tag, sizeof(tag), "-%d-cpu", (int)pid);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, tag) && strstr(de->d_name, ".ring"))
            snprintf(out, cap, "%s/%s", dir, de->d_name);
    closedir(d);
}

#endif
