/* Description: the C++ API through a real collector and shmlog-dump read --format json (tests/api_cxx_producer.cpp
 * logs): categories a program names (an enum class of ids, one defined after init) with levels per category from
 * the config and from outside (shmlog-dump set-level --category) reach the files by name, read --category, stats,
 * segments, the metrics and an alert rule; a call before init and one with an undefined category are counted; a return from main without shmlog_shutdown() is a clean exit and a static destructor's record lands;
 * std::string, const std::string&, a temporary std::string, std::string_view (one that ends where an unreadable
 * page begins, one with more bytes after its size, an empty one), enum class and plain enum values, and %.*s on C
 * strings, string objects and a buffer without a NUL come back with exactly the message and the JSON fields the call
 * meant, no byte past a view or a precision read or stored (a record's ring positions show its size); a rate-limited
 * site called from two threads in a tight loop writes at most one record per interval, and its written records plus
 * the suppressed counts they carry are exactly the calls made. */
#include "test_util_file.h"

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "api-cxx"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(api_cxx, .init = setup, .fini = teardown, .timeout = 120);

/* Runs api_cxx_producer with args under a collector until both are done;
 * returns the value of its "calls " line (0 if it prints none). */
static unsigned long long run_producer(char *const argv_tail[])
{
    struct tu_child col = tu_collector(&env, NULL);
    char *argv[8];
    int n = 0;
    argv[n++] = (char *)tu_exe("CXX_PRODUCER");
    for (int i = 0; argv_tail[i] && n < 7; i++)
        argv[n++] = argv_tail[i];
    argv[n] = NULL;
    struct tu_child p = tu_spawn(argv, NULL);
    unsigned long long calls = 0;
    char line[256];
    unsigned long long dropped = ~0ull;
    while (fgets(line, sizeof line, p.out)) {
        if (strncmp(line, "calls ", 6) == 0)
            calls = strtoull(line + 6, NULL, 10);
        if (strncmp(line, "done ", 5) == 0)
            dropped = strtoull(line + 5, NULL, 10);
    }
    int st = tu_wait_exit(&p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "api_cxx_producer status %#x", st);
    cr_assert_eq(dropped, 0, "the producer dropped %llu records", dropped);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);
    return calls;
}

/* What shmlog-dump args prints, one line per entry; it must exit 0. */
static size_t dump_lines(const char *args, char ***lines_out)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s %s", tu_exe("SHMLOG_DUMP"), args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char **lines = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            lines = realloc(lines, cap * sizeof *lines);
            cr_assert_not_null(lines);
        }
        lines[n++] = strdup(line);
    }
    free(line);
    int st = pclose(f);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x", cmd, st);
    *lines_out = lines;
    return n;
}

/* shmlog-dump read --format json of the output directory, one line per entry. */
static size_t dump_json(char ***lines_out)
{
    char args[400];
    snprintf(args, sizeof args, "read --format json %s", env.out);
    return dump_lines(args, lines_out);
}

/* The lines of lines that contain s. */
static size_t count_lines(char **lines, size_t n, const char *s)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += strstr(lines[i], s) != NULL;
    return k;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* The one line with this message: it must have exactly these fields. */
static void expect_record(char **lines, size_t n, const char *msg, const char *fields)
{
    char want_msg[512], want[1024];
    snprintf(want_msg, sizeof want_msg, "\"msg\":\"%s\",", msg);
    snprintf(want, sizeof want, "\"msg\":\"%s\",\"fields\":{%s}}", msg, fields);
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strstr(lines[i], want_msg))
            continue;
        found++;
        cr_assert(strstr(lines[i], want), "record of \"%s\": %s\nwanted ...%s", msg, lines[i], want);
    }
    cr_assert_eq(found, 1, "%zu records with the message \"%s\"", found, msg);
}

/* The number after "key": in line, or -1. */
static long long json_number(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* The ring position of the one record with this message. */
static long long record_seq(char **lines, size_t n, const char *msg)
{
    char want[512];
    snprintf(want, sizeof want, "\"msg\":\"%s\",", msg);
    for (size_t i = 0; i < n; i++)
        if (strstr(lines[i], want))
            return json_number(lines[i], "seq");
    return -1;
}

Test(api_cxx, strings_views_enums_and_star_precision_come_back_exactly)
{
    char *args[] = {"values", NULL};
    run_producer(args);
    char **lines;
    size_t n = dump_json(&lines);
    size_t records = 0;
    for (size_t i = 0; i < n; i++)
        records += strstr(lines[i], "\"msg\":") != NULL;
    cr_assert_eq(records, 9, "%zu records", records);
    expect_record(lines, n, "venue=XNAS ref=XNAS tmp=tmp-value",
                  "\"venue\":\"XNAS\",\"ref\":\"XNAS\",\"tmp\":\"tmp-value\"");
    expect_record(lines, n, "tail=NQZ6 head=ESZ6 empty=", "\"tail\":\"NQZ6\",\"head\":\"ESZ6\",\"empty\":\"\"");
    expect_record(lines, n, "side=2 venue=7 delta=-5 plain=7", "\"side\":2,\"venue\":7,\"delta\":-5,\"plain\":7");
    expect_record(lines, n, "leg=ESZ6 next=NQZ6", "\"leg\":\"ESZ6\",\"next\":\"NQZ6\"");
    expect_record(lines, n, "pfx=XN all=whole sv=NQZ", "\"pfx\":\"XN\",\"all\":\"whole\",\"sv\":\"NQZ\"");
    /* a 300-byte string object and C string under %.3s: one slot each, not six */
    expect_record(lines, n, "cut=xxx", "\"cut\":\"xxx\"");
    expect_record(lines, n, "cutc=yyy", "\"cutc\":\"yyy\"");
    /* evaluated and copied within the call: not freed memory */
    expect_record(lines, n, "cstr=kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk-end max=2",
                  "\"cstr\":\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk-end\",\"max\":2");
    long long cut = record_seq(lines, n, "cut=xxx"), cutc = record_seq(lines, n, "cutc=yyy"),
              end = record_seq(lines, n, "cut end");
    cr_assert(cutc == cut + 1 && end == cutc + 1, "ring positions %lld %lld %lld: a %%.*s string stored past its precision",
              cut, cutc, end);
    for (size_t i = 0; i < n; i++)
        if (strstr(lines[i], "\"msg\":\"leg="))
            cr_assert(strstr(lines[i], "\"level\":\"WARN\",\"category\":\"order\""), "%s", lines[i]);
        else if (strstr(lines[i], "\"msg\":"))
            cr_assert(strstr(lines[i], "\"level\":\"INFO\",\"category\":\"none\""), "%s", lines[i]);
    /* no record was cut: every string fitted */
    for (size_t i = 0; i < n; i++)
        cr_assert_null(strstr(lines[i], "\"truncated\""), "%s", lines[i]);
    free_lines(lines, n);
}

/* A record's time is read when its call writes it, after its arguments: a
 * record that an argument logs is earlier, and the argument's 50 us are
 * inside its caller's time. */
Test(api_cxx, a_record_is_timed_after_its_arguments)
{
    char *args[] = {"nested", NULL};
    run_producer(args);
    char **lines;
    size_t n = dump_json(&lines);
    long long inner = -1, outer = -1;
    for (size_t i = 0; i < n; i++)
        if (strstr(lines[i], "\"msg\":\"inner\","))
            inner = json_number(lines[i], "ts_ns");
        else if (strstr(lines[i], "\"msg\":\"outer inner=1\","))
            outer = json_number(lines[i], "ts_ns");
    cr_assert(inner > 0 && outer > 0, "inner at %lld, outer at %lld", inner, outer);
    cr_assert_geq(outer - inner, 50000, "outer %lld ns after inner: its time was read before its argument", outer - inner);
    free_lines(lines, n);
}

/* The line with this message has (or, want NULL, has no) this trace_id and span. */
static void expect_trace(char **lines, size_t n, const char *msg, const char *want)
{
    char key[256];
    snprintf(key, sizeof key, "\"msg\":\"%s\"", msg);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(lines[i], key))
            continue;
        if (want)
            cr_assert(strstr(lines[i], want), "record of \"%s\": %s\nwanted ...%s", msg, lines[i], want);
        else
            cr_assert_null(strstr(lines[i], "\"trace_id\""), "record of \"%s\": %s", msg, lines[i]);
        return;
    }
    cr_assert_fail("no record \"%s\"", msg);
}

/* shmlog_trace_scope sets a context for its scope and puts the one before
 * back; a traceparent is continued, formatted back, and bad ones refused (the
 * producer exits non-zero otherwise). */
Test(api_cxx, trace_scopes_nest_and_traceparent_continues)
{
    char *args[] = {"trace", NULL};
    run_producer(args);
    char **lines;
    size_t n = dump_json(&lines);
    expect_trace(lines, n, "no trace yet", NULL);
    expect_trace(lines, n, "in outer", "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span\":\"outer\"}");
    expect_trace(lines, n, "in inner", "\"trace_id\":\"0000000000000000000000000000002a\",\"span\":\"inner\"}");
    expect_trace(lines, n, "outer again", "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\",\"span\":\"outer\"}");
    expect_trace(lines, n, "no trace again", NULL);
    expect_trace(lines, n, "continued", "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span\":\"gw\"}");
    free_lines(lines, n);
}

/* A return from main without shmlog_shutdown() is a clean exit, and what a
 * static object's destructor logs after it lands. */
Test(api_cxx, returning_from_main_is_a_clean_exit_and_static_destructors_still_log)
{
    char *args[] = {"exit", NULL};
    run_producer(args);
    char **lines;
    size_t n = dump_json(&lines);
    cr_assert_eq(count_lines(lines, n, "\"msg\":\"main n=1\""), 1);
    cr_assert_eq(count_lines(lines, n, "\"msg\":\"farewell n=3\""), 1, "the destructor's record");
    cr_assert_eq(count_lines(lines, n, "\"exit\":{\"records\":2,\"lost\":0,\"how\":\"shutdown\"}"), 1,
                 "a clean exit of two records");
    free_lines(lines, n);
}

Test(api_cxx, a_rate_limited_site_writes_once_per_interval_and_counts_every_call)
{
    enum { INTERVAL_MS = 50, RUN_MS = 300 };
    char interval[16], run[16];
    snprintf(interval, sizeof interval, "%d", INTERVAL_MS);
    snprintf(run, sizeof run, "%d", RUN_MS);
    char *args[] = {"every", interval, run, NULL};
    unsigned long long calls = run_producer(args);
    cr_assert_gt(calls, 1000, "only %llu calls in %d ms", calls, RUN_MS);
    char **lines;
    size_t n = dump_json(&lines);
    unsigned long long written = 0, suppressed = 0;
    long long prev_ts = -1;
    for (size_t i = 0; i < n; i++) {
        if (!strstr(lines[i], "\"msg\":\"tick t="))
            continue;
        long long s = json_number(lines[i], "suppressed"), ts = json_number(lines[i], "ts_ns");
        cr_assert_geq(s, 0, "no suppressed field: %s", lines[i]);
        cr_assert_gt(ts, 0, "%s", lines[i]);
        /* the message shows the count too */
        char shown[64];
        snprintf(shown, sizeof shown, " suppressed=%lld\",", s);
        cr_assert(strstr(lines[i], shown), "%s", lines[i]);
        /* records come in time order: one per interval at most (the producer's
         * TSC rate against the collector's clock: a margin of 10 %) */
        if (prev_ts >= 0)
            cr_assert_geq(ts - prev_ts, (long long)INTERVAL_MS * 900000, "records %lld ns apart:\n%s", ts - prev_ts,
                          lines[i]);
        prev_ts = ts;
        written++;
        suppressed += (unsigned long long)s;
    }
    cr_log_info("%llu calls: %llu written, %llu suppressed", calls, written, suppressed);
    cr_assert_eq(written + suppressed, calls, "%llu written + %llu suppressed of %llu calls", written, suppressed,
                 calls);
    /* the first call, the last (after a pause), and some in between; never more
     * than one per interval */
    cr_assert_geq(written, 3);
    cr_assert_leq(written, RUN_MS / INTERVAL_MS + 3);
    free_lines(lines, n);
}

/* api_cxx_producer with its own categories, once it logged its first records. */
static struct tu_child categories_producer(void)
{
    char *argv[] = {(char *)tu_exe("CXX_PRODUCER"), "categories", NULL};
    struct tu_child p = tu_spawn(argv, NULL);
    tu_wait_line(&p, "ready");
    return p;
}

Test(api_cxx, set_level_for_every_category_prints_each_category_it_changed)
{
    struct tu_child col = tu_collector(&env, NULL);
    struct tu_child p = categories_producer();
    char args[1200], **lines, want[2][200];
    snprintf(args, sizeof args, "set-level --app api-cxx --category order warn --dir %s", env.seg);
    size_t n = dump_lines(args, &lines);
    cr_assert(n == 1 && strstr(lines[0], "order: INFO -> WARN"), "set-level printed: %s", n ? lines[0] : "");
    free_lines(lines, n);
    /* order WARN, venue DEBUG (the config), the others INFO: two lines, one per change */
    snprintf(args, sizeof args, "set-level --app api-cxx INFO --dir %s", env.seg);
    n = dump_lines(args, &lines);
    snprintf(want[0], sizeof want[0], "api-cxx[%d]: order: WARN -> INFO\n", (int)p.pid);
    snprintf(want[1], sizeof want[1], "api-cxx[%d]: venue: DEBUG -> INFO\n", (int)p.pid);
    cr_assert(n == 2 && strcmp(lines[0], want[0]) == 0 && strcmp(lines[1], want[1]) == 0,
              "set-level printed %zu lines: %s | %s", n, n ? lines[0] : "", n > 1 ? lines[1] : "");
    free_lines(lines, n);
    /* every category the same: one line */
    snprintf(args, sizeof args, "set-level --app api-cxx WARN --dir %s", env.seg);
    n = dump_lines(args, &lines);
    snprintf(want[0], sizeof want[0], "api-cxx[%d]: INFO -> WARN\n", (int)p.pid);
    cr_assert(n == 1 && strcmp(lines[0], want[0]) == 0, "set-level printed: %s", n ? lines[0] : "");
    free_lines(lines, n);
    cr_assert_eq(write(p.in_fd, "go\n", 3), 3);
    cr_assert_eq(tu_wait_line(&p, "done "), 0, "dropped");
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);
}

Test(api_cxx, its_own_categories_and_their_levels_reach_files_filters_stats_metrics_and_alerts)
{
    char script[400], fired[400], metrics[400], rule[1000];
    snprintf(fired, sizeof fired, "%s/fired", env.root);
    snprintf(script, sizeof script, "%s/alert.sh", env.root);
    snprintf(metrics, sizeof metrics, "%s/metrics.prom", env.root);
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fprintf(f, "#!/bin/sh\necho \"$SHMLOG_ALERT_COUNT $SHMLOG_ALERT_APP\" >> %s\n", fired);
    fclose(f);
    cr_assert_eq(chmod(script, 0755), 0);
    /* two venue ERRORs: the none ERRORs between them do not count */
    snprintf(rule, sizeof rule, "level>=ERROR count>=2 window=60s category=venue exec=%s", script);
    const char *extra[] = {"--alert", rule, "--metrics-file", metrics, "--metrics-interval", "1", NULL};
    struct tu_child col = tu_collector(&env, extra);
    struct tu_child p = categories_producer();

    char args[1200], **lines;
    snprintf(args, sizeof args, "set-level --app api-cxx --category strategy debug --dir %s", env.seg);
    size_t n = dump_lines(args, &lines);
    cr_assert(n == 1 && strstr(lines[0], "strategy: INFO -> DEBUG"), "set-level printed: %s", n ? lines[0] : "");
    free_lines(lines, n);
    snprintf(args, sizeof args, "segments --dir %s", env.seg);
    n = dump_lines(args, &lines);
    cr_assert_eq(count_lines(lines, n, " levels=venue:DEBUG,strategy:DEBUG "), 1, "%s", n ? lines[0] : "");
    cr_assert_eq(count_lines(lines, n, " before_init=1 out_of_range=1 "), 1, "%s", n ? lines[0] : "");
    free_lines(lines, n);

    /* the metrics, while the process runs: records and levels per category by name */
    char want_venue[200], want_level[200];
    snprintf(want_venue, sizeof want_venue,
             "shmlog_category_records_total{app=\"api-cxx\",pid=\"%d\",category=\"venue\"} 2\n", (int)p.pid);
    snprintf(want_level, sizeof want_level,
             "shmlog_category_level{app=\"api-cxx\",pid=\"%d\",category=\"strategy\"} 1\n", (int)p.pid);
    int seen = 0;
    for (int tries = 0; tries < 100 && !seen; tries++) {
        static char text[1 << 16];
        ssize_t got = tu_read_file(metrics, text, sizeof text - 1);
        text[got > 0 ? got : 0] = 0;
        seen = strstr(text, want_venue) && strstr(text, want_level);
        if (!seen)
            tu_sleep_ms(100);
    }
    cr_assert(seen, "%s has no line %s or %s", metrics, want_venue, want_level);

    cr_assert_eq(write(p.in_fd, "go\n", 3), 3);
    cr_assert_eq(tu_wait_line(&p, "done "), 0, "dropped");
    cr_assert_eq(tu_wait_exit(&p), 0);
    tu_assert_segments_gone(&env, 10000);
    tu_stop_collector(&env, &col);

    n = dump_json(&lines);
    const char *want[][2] = {
        {"venue debug sym=ESZ6", "\"level\":\"DEBUG\",\"category\":\"venue\""},
        {"strategy info side=1", "\"level\":\"INFO\",\"category\":\"strategy\""},
        {"pricing info px=101.25", "\"level\":\"INFO\",\"category\":\"pricing\""},
        {"unknown category", "\"level\":\"INFO\",\"category\":\"none\""},
        {"none error 1", "\"level\":\"ERROR\",\"category\":\"none\""},
        {"venue error 1", "\"level\":\"ERROR\",\"category\":\"venue\""},
        {"strategy debug 2", "\"level\":\"DEBUG\",\"category\":\"strategy\""},
        {"venue error 2", "\"level\":\"ERROR\",\"category\":\"venue\""},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char msg[200];
        snprintf(msg, sizeof msg, "\"msg\":\"%s\"", want[i][0]);
        cr_assert_eq(count_lines(lines, n, msg), 1, "%s: not once in the files", want[i][0]);
        for (size_t k = 0; k < n; k++)
            if (strstr(lines[k], msg))
                cr_assert(strstr(lines[k], want[i][1]), "%s", lines[k]);
    }
    cr_assert_eq(count_lines(lines, n, "\"msg\":\"strategy debug 1\""), 0, "below strategy's level then");
    cr_assert_eq(count_lines(lines, n, "\"msg\":\"md debug"), 0, "below market_data's level");
    cr_assert_eq(count_lines(lines, n, "\"clamped\":true"), 1, "the undefined category's record is flagged");
    cr_assert_eq(count_lines(lines, n, "\"msg\":"), 9, "nothing else");
    free_lines(lines, n);

    snprintf(args, sizeof args, "read --format json --category venue %s", env.out);
    n = dump_lines(args, &lines);
    cr_assert_eq(count_lines(lines, n, "\"msg\":"), 3, "read --category venue");
    cr_assert_eq(count_lines(lines, n, "\"category\":\"venue\""), 3);
    free_lines(lines, n);
    snprintf(args, sizeof args, "read --category MD %s", env.out);
    n = dump_lines(args, &lines);
    cr_assert_eq(count_lines(lines, n, "md debug"), 0, "md as the macro spells it is a filter that matches nothing here");
    free_lines(lines, n);

    snprintf(args, sizeof args, "stats --format json %s", env.out);
    n = dump_lines(args, &lines);
    cr_assert_eq(count_lines(lines, n,
                             "\"categories\":{\"none\":3,\"venue\":3,\"strategy\":2,\"pricing\":1},\"clamped\":1"),
                 1, "stats: %s", n ? lines[0] : "");
    cr_assert_eq(count_lines(lines, n, "\"losses\":{\"total\":1,"), 1, "the call before init is a loss in the files");
    cr_assert_eq(count_lines(lines, n, "\"before_init\":1"), 1, "and its reason");
    free_lines(lines, n);

    char runs[256];
    ssize_t got = tu_read_file(fired, runs, sizeof runs - 1);
    runs[got > 0 ? got : 0] = 0;
    cr_assert_str_eq(runs, "2 api-cxx\n", "the category=venue rule ran once, on the second venue ERROR");
}
