/* Description: metrics_format's clock families: a snapshot staged before the collector read the clocks (all zeros) has every clock family's HELP and TYPE lines and no clock sample; a filled one has every series with its value; values the kernel did not report (-1, "", a rate of 0) have no sample; the clocksource label is escaped like the others. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const char *const families[][2] = {
    {"shmlog_clock_tsc_invariant", "gauge"},
    {"shmlog_clock_info", "gauge"},
    {"shmlog_clock_synchronized", "gauge"},
    {"shmlog_clock_estimated_error_seconds", "gauge"},
    {"shmlog_clock_max_error_seconds", "gauge"},
    {"shmlog_clock_tsc_hz", "gauge"},
    {"shmlog_clock_anchor_error_seconds", "gauge"},
    {"shmlog_clock_anchors_total", "counter"},
    {"shmlog_clock_steps_total", "counter"},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static char *format(struct metrics_snapshot *s)
{
    size_t len = 0;
    char *text = metrics_format(s, &len);
    cr_assert(text);
    cr_assert_eq(strlen(text), len);
    return text;
}

/* Lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t plen = strlen(prefix);
    for (const char *line = text; *line;) {
        if (strncmp(line, prefix, plen) == 0)
            n++;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return n;
}

/* The whole line "want" is in text. */
static int has_line(const char *text, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = strstr(text, want); p; p = strstr(p + 1, want))
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void assert_families(const char *text)
{
    for (size_t i = 0; i < NFAMILIES; i++) {
        char want[160];
        snprintf(want, sizeof(want), "# TYPE %s %s", families[i][0], families[i][1]);
        cr_assert(has_line(text, want), "no '%s' in:\n%s", want, text);
        snprintf(want, sizeof(want), "# HELP %s ", families[i][0]);
        cr_assert_eq(count_lines(text, want), 1, "not one '%s' in:\n%s", want, text);
    }
}

Test(metrics_format, unfilled_clock_has_families_and_no_samples)
{
    struct metrics_snapshot s;
    memset(&s, 0, sizeof(s));
    char *text = format(&s);
    assert_families(text);
    cr_assert_eq(count_lines(text, "shmlog_clock_"), 0, "a clock sample in an unfilled snapshot:\n%s", text);
    /* The rest is there as always. */
    cr_assert(has_line(text, "shmlog_collector_records_total 0"));
    free(text);
}

Test(metrics_format, filled_clock_has_every_series)
{
    struct metrics_snapshot s;
    memset(&s, 0, sizeof(s));
    s.clock = (struct metrics_clock){
        .tsc_invariant = 1,
        .synchronized = 0,
        .esterror_ns = 16000000000ull,
        .maxerror_ns = 16000000000ull,
        .clocksource = "kvm-clock",
        .anchors = 42,
        .steps = 1,
        .last_err_ns = 25,
        .tsc_hz = 2999999000.5,
    };
    char *text = format(&s);
    assert_families(text);
    cr_assert(has_line(text, "shmlog_clock_tsc_invariant 1"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_info{clocksource=\"kvm-clock\"} 1"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_synchronized 0"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_estimated_error_seconds 16"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_max_error_seconds 16"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_tsc_hz 2.999999e+09"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_anchor_error_seconds 2.5e-08"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_anchors_total 42"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_steps_total 1"), "%s", text);
    cr_assert_eq(count_lines(text, "shmlog_clock_"), (int)NFAMILIES, "%s", text);
    free(text);
}

Test(metrics_format, unknown_values_have_no_sample)
{
    struct metrics_snapshot s;
    memset(&s, 0, sizeof(s));
    /* Not x86, no sysfs, adjtimex refused; one anchor taken but no rate yet. */
    s.clock = (struct metrics_clock){.tsc_invariant = -1, .synchronized = -1, .anchors = 1, .last_err_ns = 1000};
    char *text = format(&s);
    assert_families(text);
    cr_assert_eq(count_lines(text, "shmlog_clock_tsc_invariant "), 0, "%s", text);
    cr_assert_eq(count_lines(text, "shmlog_clock_info{"), 0, "%s", text);
    cr_assert_eq(count_lines(text, "shmlog_clock_synchronized "), 0, "%s", text);
    cr_assert_eq(count_lines(text, "shmlog_clock_estimated_error_seconds "), 0, "%s", text);
    cr_assert_eq(count_lines(text, "shmlog_clock_max_error_seconds "), 0, "%s", text);
    cr_assert_eq(count_lines(text, "shmlog_clock_tsc_hz "), 0, "%s", text);
    cr_assert(has_line(text, "shmlog_clock_anchor_error_seconds 1e-06"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_anchors_total 1"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_steps_total 0"), "%s", text);
    free(text);
}

Test(metrics_format, clocksource_label_is_escaped)
{
    struct metrics_snapshot s;
    memset(&s, 0, sizeof(s));
    s.clock.tsc_invariant = 0;
    s.clock.synchronized = 1;
    /* All 32 bytes used, no terminating NUL: the label stops at the array's end. */
    memcpy(s.clock.clocksource, "a\"b\\c\nd\xff" "0123456789012345678901ZZ", sizeof(s.clock.clocksource));
    char *text = format(&s);
    cr_assert(has_line(text, "shmlog_clock_tsc_invariant 0"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_synchronized 1"), "%s", text);
    cr_assert(has_line(text, "shmlog_clock_info{clocksource=\"a\\\"b\\\\c\\nd\xEF\xBF\xBD"
                             "0123456789012345678901ZZ\"} 1"),
              "%s", text);
    free(text);
}
