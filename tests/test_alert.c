/* Description: collector alert rules: a burst of records at or above the level runs the command once with the rule, count, level, app, pid and call site in its environment; a second burst inside the window does not run it again; fewer records than the count, other levels and other categories do not run it; the window slides and rate-limits per second; bad rules are one line and exit 2. */
#include <sys/wait.h>

#include "alert.h"
#include "shmlog.h"
#include "test_util_file.h"

static struct tu_env env;
static char script[400], runs[400];

/* The alert command: one file per run holding its SHMLOG_ALERT_* variables,
 * renamed into place so a reader never sees it half written. */
static void write_script(void)
{
    snprintf(script, sizeof(script), "%s/alert.sh", env.root);
    snprintf(runs, sizeof(runs), "%s/runs", env.root);
    cr_assert_eq(mkdir(runs, 0700), 0);
    FILE *f = fopen(script, "w");
    cr_assert(f);
    fprintf(f, "#!/bin/sh\nenv | grep '^SHMLOG_ALERT_' > \"$1/run.$$.tmp\" && mv \"$1/run.$$.tmp\" \"$1/run.$$\"\n");
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(script, 0700), 0);
}

static void setup(void)
{
    tu_env_setup(&env, "alert");
    write_script();
}

static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(alert, .init = setup, .fini = teardown, .timeout = 60);

static size_t count_runs(void)
{
    return tu_count_files_without(runs, ".tmp");
}

/* Waits until at least n runs finished writing; returns how many there are. */
static size_t wait_runs(size_t n, unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    while (count_runs() < n && tu_now_ms() < end)
        tu_sleep_ms(10);
    return count_runs();
}

/* The value of SHMLOG_ALERT_<key> in the one run file there is. */
static void run_value(const char *key, char *out, size_t cap)
{
    DIR *d = opendir(runs);
    cr_assert(d);
    struct dirent *de;
    char path[700] = "";
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "run.", 4) == 0 && !strstr(de->d_name, ".tmp"))
            snprintf(path, sizeof(path), "%s/%s", runs, de->d_name);
    closedir(d);
    FILE *f = fopen(path, "r");
    cr_assert(f, "no run file in %s", runs);
    char line[8192], want[128];
    snprintf(want, sizeof(want), "SHMLOG_ALERT_%s=", key);
    out[0] = '\0';
    int found = 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, want, strlen(want)) == 0) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, cap, "%s", line + strlen(want));
            found = 1;
        }
    fclose(f);
    cr_assert(found, "%s is not in the command's environment", want);
}

/* ==== Producer processes ==== */

/* The line of the SHMLOG_ERROR call below: the alert names it. */
static const unsigned error_line = __LINE__ + 4;
static void log_records(unsigned n, int level, int category)
{
    for (unsigned i = 0; i < n; i++) {
        if (level == SHMLOG_LEVEL_ERROR && category == SHMLOG_CAT_NONE) SHMLOG_ERROR("order %u rejected", i);
        else if (level == SHMLOG_LEVEL_ERROR) SHMLOG_ORDER(ERROR, "order %u rejected", i);
        else SHMLOG_INFO("order %u accepted", i);
    }
}

/* A real producer process runs log(n, arg) and exits; returns its pid once
 * the collector removed its segments (so every record was drained). */
static pid_t producer_run(void (*log)(unsigned n, const void *arg), unsigned n, const void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        struct shmlog_config cfg;
        shmlog_config_init(&cfg);
        cfg.app = "alerter";
        cfg.ring_bytes = 64 << 10;
        cfg.quiet = 1;
        if (shmlog_init(&cfg) != 0)
            _exit(1);
        log(n, arg);
        shmlog_shutdown();
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer status %#x", st);
    cr_assert(tu_wait_segments_gone(env.seg, 10000), "the collector did not drain producer %d", (int)pid);
    return pid;
}

struct level_category {
    int level, category;
};

static void log_level_category(unsigned n, const void *arg)
{
    const struct level_category *lc = arg;
    log_records(n, lc->level, lc->category);
}

static pid_t burst(unsigned n, int level, int category)
{
    struct level_category lc = {level, category};
    return producer_run(log_level_category, n, &lc);
}

static struct tu_child collector_with_rule(const char *rule_fmt)
{
    static char rule[1024];
    snprintf(rule, sizeof(rule), rule_fmt, script, runs);
    const char *args[] = {"--alert", rule, NULL};
    return tu_collector_ready(&env, args);
}

/* ==== End to end: collector, producers, command ==== */

Test(alert, burst_runs_command_once_with_context)
{
    const char *rule_fmt = "level>=ERROR count>=10 window=60s exec=%s %s";
    struct tu_child col = collector_with_rule(rule_fmt);
    pid_t first = burst(15, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE);
    cr_assert_eq(wait_runs(1, 10000), 1, "the command did not run after 15 ERROR records");

    char v[4096], want[1024];
    snprintf(want, sizeof(want), rule_fmt, script, runs);
    run_value("RULE", v, sizeof(v));
    cr_assert_str_eq(v, want);
    run_value("COUNT", v, sizeof(v));
    unsigned long count = strtoul(v, NULL, 10);
    cr_assert(count >= 10 && count <= 15, "SHMLOG_ALERT_COUNT=%s", v);
    run_value("LEVEL", v, sizeof(v));
    cr_assert_str_eq(v, "ERROR");
    run_value("APP", v, sizeof(v));
    cr_assert_str_eq(v, "alerter");
    run_value("PID", v, sizeof(v));
    cr_assert_eq(strtol(v, NULL, 10), (long)first, "SHMLOG_ALERT_PID=%s, producer %d", v, (int)first);
    run_value("MSG_SITE", v, sizeof(v));
    char site[64];
    snprintf(site, sizeof(site), "test_alert.c:%u", error_line);
    cr_assert(strlen(v) >= strlen(site) && strcmp(v + strlen(v) - strlen(site), site) == 0,
              "SHMLOG_ALERT_MSG_SITE=%s, expected ...%s", v, site);

    /* A second burst inside the window: counted, but the rule already ran. */
    burst(15, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE);
    tu_sleep_ms(500);
    cr_assert_eq(count_runs(), 1, "the command ran again inside the window");
    tu_stop_collector(&env, &col);
    cr_assert_eq(count_runs(), 1);
}

Test(alert, below_count_and_lower_levels_do_not_run_it)
{
    struct tu_child col = collector_with_rule("level>=ERROR count>=10 window=60s exec=%s %s");
    burst(9, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE);
    burst(200, SHMLOG_LEVEL_INFO, SHMLOG_CAT_NONE);
    tu_sleep_ms(500);
    cr_assert_eq(count_runs(), 0, "9 ERROR and 200 INFO records ran a count>=10 ERROR rule");
    /* The tenth ERROR in the window, from another process, completes the count. */
    burst(1, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE);
    cr_assert_eq(wait_runs(1, 10000), 1, "the tenth ERROR record in the window did not run the command");
    char v[64];
    run_value("COUNT", v, sizeof(v));
    cr_assert_str_eq(v, "10");
    tu_stop_collector(&env, &col);
}

Test(alert, category_filter)
{
    struct tu_child col = collector_with_rule("level>=WARN count>=5 window=1m category=order exec=%s %s");
    burst(20, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE);
    tu_sleep_ms(500);
    cr_assert_eq(count_runs(), 0, "ERROR records without a category ran a category=order rule");
    burst(5, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_ORDER);
    cr_assert_eq(wait_runs(1, 10000), 1, "5 ORDER ERROR records did not run the category=order rule");
    char v[64];
    run_value("LEVEL", v, sizeof(v));
    cr_assert_str_eq(v, "ERROR");
    tu_stop_collector(&env, &col);
}

Test(alert, bad_rules_are_one_line_and_exit_2)
{
    const char *bad[] = {
        "level>=ERROR count>=10 window=60s",                       /* no exec */
        "level>=ERRORS count>=10 window=60s exec=/bin/true",       /* unknown level */
        "level=ERROR count>=10 window=60s exec=/bin/true",         /* wrong operator */
        "level>=ERROR count>=0 window=60s exec=/bin/true",         /* count 0 */
        "level>=ERROR count>=10x window=60s exec=/bin/true",       /* not a number */
        "level>=ERROR count>=10 window=60 exec=/bin/true",         /* no unit */
        "level>=ERROR count>=10 window=25h exec=/bin/true",        /* too long */
        "level>=ERROR count>=10 window=60s category=Order-Book exec=/bin/true",
        "level>=ERROR level>=WARN count>=10 window=60s exec=/bin/true",
        "level>=ERROR count>=10 window=60s severity=1 exec=/bin/true",
        "level>=ERROR count>=10 window=60s exec=true",             /* not absolute */
        "level>=ERROR count>=10 window=60s exec=/nonexistent/cmd",
        "level>=ERROR count>=10 window=60s exec=/tmp",             /* a directory */
        "level>=ERROR count>=10 window=60s exec=",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unlink(env.log);
        const char *args[] = {"--alert", bad[i], NULL};
        struct tu_child c = tu_collector(&env, args);
        int st = tu_wait_exit(&c);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "rule '%s': status %#x", bad[i], st);
        FILE *f = fopen(env.log, "r");
        cr_assert(f);
        char line[8192];
        int lines = 0, names_alert = 0;
        while (fgets(line, sizeof(line), f)) {
            lines++;
            names_alert |= strstr(line, "--alert") != NULL;
        }
        fclose(f);
        cr_assert_eq(lines, 1, "rule '%s': %d lines on stderr", bad[i], lines);
        cr_assert(names_alert, "rule '%s': the line does not name --alert", bad[i]);
    }
}

/* ==== The window, driven with a synthetic clock ==== */

#define SEC 1000000000ull

static void no_site(void *ctx, uint32_t key, uint32_t site, char *buf, size_t cap)
{
    (void)ctx, (void)key, (void)site;
    snprintf(buf, cap, "x.c:1");
}

static void add(struct alert_set *a, unsigned n, unsigned level)
{
    for (unsigned i = 0; i < n; i++)
        alert_count(a, level, "none", 0, 1, 4242, "unit");
}

Test(alert, window_slides_by_the_second_and_rate_limits)
{
    struct alert_set a;
    alert_set_init(&a);
    char rule[1024], err[1024];
    snprintf(rule, sizeof(rule), "level>=WARN count>=3 window=10s exec=%s %s", script, runs);
    cr_assert_eq(alert_add(&a, rule, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(a.min_level, SHMLOG_LEVEL_WARN);

    alert_poll(&a, 100 * SEC, no_site, NULL);
    add(&a, 2, SHMLOG_LEVEL_ERROR);
    add(&a, 50, SHMLOG_LEVEL_INFO); /* below the level: not counted */
    cr_assert_eq(alert_poll(&a, 105 * SEC, no_site, NULL), 0);
    /* Second 100 leaves the 10 s window at second 110. */
    cr_assert_eq(alert_poll(&a, 110 * SEC, no_site, NULL), 0);
    cr_assert_eq(a.rules[0].in_window, 0);
    add(&a, 2, SHMLOG_LEVEL_WARN);
    cr_assert_eq(alert_poll(&a, 110 * SEC + 1, no_site, NULL), 0);
    add(&a, 1, SHMLOG_LEVEL_FATAL);
    cr_assert_eq(alert_poll(&a, 110 * SEC + 2, no_site, NULL), 1, "3 records in the window did not fire");
    cr_assert_eq(wait_runs(1, 5000), 1);
    char v[64];
    run_value("LEVEL", v, sizeof(v));
    cr_assert_str_eq(v, "FATAL");
    run_value("APP", v, sizeof(v));
    cr_assert_str_eq(v, "unit");
    run_value("PID", v, sizeof(v));
    cr_assert_str_eq(v, "4242");

    /* Still 3 in the window at 115 s and 119 s (records count in the second
     * of the last poll), but it ran at 110 s: not again before 120 s. */
    tu_sleep_ms(200); /* the first command exits, so only the window holds it back */
    cr_assert_eq(alert_poll(&a, 115 * SEC, no_site, NULL), 0, "ran twice within one window");
    add(&a, 3, SHMLOG_LEVEL_ERROR);
    cr_assert_eq(alert_poll(&a, 119 * SEC, no_site, NULL), 0, "ran twice within one window");
    add(&a, 3, SHMLOG_LEVEL_ERROR);
    cr_assert_eq(a.rules[0].in_window, 9);
    cr_assert_eq(alert_poll(&a, 120 * SEC + 2, no_site, NULL), 1, "did not run again after the window");
    cr_assert_eq(wait_runs(2, 5000), 2);
    /* Records before 111 s left the window; the six of 115 s and 119 s are in it. */
    cr_assert_eq(a.rules[0].in_window, 6);
    alert_set_free(&a);
}

Test(alert, min_interval_spaces_commands_of_all_rules)
{
    struct alert_set a;
    alert_set_init(&a);
    a.min_interval_ns = 30 * SEC;
    char rule[1024], err[1024];
    snprintf(rule, sizeof(rule), "level>=ERROR count>=1 window=1h exec=%s %s", script, runs);
    cr_assert_eq(alert_add(&a, rule, err, sizeof(err)), 0, "%s", err);
    snprintf(rule, sizeof(rule), "level>=FATAL count>=1 window=1h exec=%s %s", script, runs);
    cr_assert_eq(alert_add(&a, rule, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(a.min_level, SHMLOG_LEVEL_ERROR);

    alert_poll(&a, 1000 * SEC, no_site, NULL);
    add(&a, 1, SHMLOG_LEVEL_FATAL); /* matches both rules */
    cr_assert_eq(alert_poll(&a, 1000 * SEC, no_site, NULL), 1, "two commands started at once");
    cr_assert_eq(alert_poll(&a, 1029 * SEC, no_site, NULL), 0, "a command within --alert-min-interval");
    cr_assert_eq(alert_poll(&a, 1030 * SEC, no_site, NULL), 1, "the second rule never ran");
    cr_assert_eq(wait_runs(2, 5000), 2);
    alert_set_free(&a);
}

/* n ERROR records of a call site whose file name is arg (a producer may
 * register one with a newline and an assignment in it). */
static void log_hostile_site(unsigned n, const void *arg)
{
    static uint64_t cache;
    static const uint8_t no_types[1];
    uint64_t word = shmlog__register_site(&cache, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE, arg, 7, NULL, "rejected", NULL, 0,
                                          no_types);
    for (unsigned i = 0; i < n; i++) {
        uint64_t pos;
        uint8_t *head = shmlog__begin(shmlog__rdtsc(), (uint32_t)word, SHMLOG_LEVEL_ERROR, SHMLOG_CAT_NONE, 0, 0, &pos);
        if (head)
            shmlog__commit(head, pos);
    }
}

Test(alert, a_site_file_name_with_control_characters_is_escaped_in_the_environment)
{
    struct tu_child col = collector_with_rule("level>=ERROR count>=3 window=60s exec=%s %s");
    pid_t pid = producer_run(log_hostile_site, 5, "evil.c\nSHMLOG_ALERT_PID=1\t\\x");
    cr_assert_eq(wait_runs(1, 10000), 1, "the command did not run");
    tu_stop_collector(&env, &col);
    char v[4096];
    /* One assignment each: the newline did not make another. */
    run_value("PID", v, sizeof(v));
    cr_assert_eq(strtol(v, NULL, 10), (long)pid, "SHMLOG_ALERT_PID=%s, producer %d", v, (int)pid);
    run_value("MSG_SITE", v, sizeof(v));
    cr_assert_str_eq(v, "evil.c\\x0aSHMLOG_ALERT_PID=1\\x09\\\\x:7");
}
