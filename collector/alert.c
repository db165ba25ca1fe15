/*
 * alert.c - alert rules: strict parsing, per-second window counting, and
 * running the command. See alert.h.
 */
#include "alert.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "names.h"

#define PROG "shmlog-collector"
#define ENV_PREFIX "SHMLOG_ALERT_"

extern char **environ;

void alert_set_init(struct alert_set *a)
{
    memset(a, 0, sizeof(*a));
    a->min_level = SHMLOG_LEVEL_OFF + 1; /* no record reaches it */
}

void alert_set_free(struct alert_set *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->rules[i].text);
        free(a->rules[i].argv_buf);
        free(a->rules[i].buckets);
    }
    a->n = 0;
    a->min_level = SHMLOG_LEVEL_OFF + 1;
}

/* ==== Parsing ==== */

__attribute__((format(printf, 4, 5)))
static int bad_rule(char *err, size_t errcap, const char *text, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(err, errcap, "--alert '%s': %s", text, why);
    return -EINVAL;
}

/* A decimal number in [lo, hi], digits only. 0 or -1. */
static int parse_u64(const char *s, size_t len, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Index of the name in 0..n-1 that names(i) matches (case-insensitive), or -1. */
static int parse_name(const char *s, size_t len, unsigned n, const char *(*names)(unsigned))
{
    for (unsigned i = 0; i < n; i++) {
        const char *name = names(i);
        if (name && strlen(name) == len && strncasecmp(s, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/* Splits the command after "exec=" into argv (whitespace-separated, no
 * quoting: it is not a shell) and checks the program can be run. */
static int parse_exec(struct alert_rule *r, const char *cmd, const char *text, char *err, size_t errcap)
{
    r->argv_buf = strdup(cmd);
    if (!r->argv_buf)
        return -ENOMEM;
    int argc = 0;
    char *save = NULL;
    for (char *t = strtok_r(r->argv_buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (argc == ALERT_MAX_ARGS)
            return bad_rule(err, errcap, text, "exec: at most %d words", ALERT_MAX_ARGS);
        r->argv[argc++] = t;
    }
    r->argv[argc] = NULL;
    if (argc == 0)
        return bad_rule(err, errcap, text, "exec= needs a command");
    if (r->argv[0][0] != '/')
        return bad_rule(err, errcap, text, "exec: '%s' is not an absolute path", r->argv[0]);
    struct stat st;
    if (stat(r->argv[0], &st) != 0)
        return bad_rule(err, errcap, text, "exec: %s: %s", r->argv[0], strerror(errno));
    if (!S_ISREG(st.st_mode) || access(r->argv[0], X_OK) != 0)
        return bad_rule(err, errcap, text, "exec: %s is not an executable file", r->argv[0]);
    return 0;
}

static int parse_rule(struct alert_rule *r, const char *text, char *err, size_t errcap)
{
    enum { HAVE_LEVEL = 1, HAVE_COUNT = 2, HAVE_WINDOW = 4, HAVE_CATEGORY = 8, HAVE_EXEC = 16 };
    unsigned have = 0;
    r->category[0] = 0;
    const char *p = text;
    for (;;) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        size_t len = strcspn(p, " \t");
        const char *tok = p;
        p += len;
        size_t klen = strcspn(tok, "=<>!");
        if (klen >= len)
            return bad_rule(err, errcap, text, "'%.*s' is not key=value", (int)len, tok);
        const char *op = tok + klen;
        size_t oplen = (op[0] == '>' || op[0] == '<' || op[0] == '!') && op[1] == '=' ? 2 : 1;
        const char *val = op + oplen;
        size_t vlen = len - klen - oplen;
        unsigned bit;
        const char *want_op;
        if (klen == 5 && strncmp(tok, "level", 5) == 0)
            bit = HAVE_LEVEL, want_op = ">=";
        else if (klen == 5 && strncmp(tok, "count", 5) == 0)
            bit = HAVE_COUNT, want_op = ">=";
        else if (klen == 6 && strncmp(tok, "window", 6) == 0)
            bit = HAVE_WINDOW, want_op = "=";
        else if (klen == 8 && strncmp(tok, "category", 8) == 0)
            bit = HAVE_CATEGORY, want_op = "=";
        else if (klen == 4 && strncmp(tok, "exec", 4) == 0)
            bit = HAVE_EXEC, want_op = "=";
        else
            return bad_rule(err, errcap, text,
                            "unknown key '%.*s' (expected level>=, count>=, window=, category=, exec=)",
                            (int)klen, tok);
        if (oplen != strlen(want_op) || strncmp(op, want_op, oplen) != 0)
            return bad_rule(err, errcap, text, "'%.*s' must be written %.*s%s...", (int)len, tok, (int)klen, tok,
                            want_op);
        if (have & bit)
            return bad_rule(err, errcap, text, "'%.*s' given twice", (int)klen, tok);
        have |= bit;
        if (bit == HAVE_EXEC) {
            /* The command is the rest of the rule, arguments included. */
            int rc = parse_exec(r, val, text, err, errcap);
            if (rc)
                return rc;
            break;
        }
        if (bit == HAVE_LEVEL) {
            int lv = parse_name(val, vlen, SHMLOG_LEVEL_FATAL + 1, shm_level_name);
            if (lv < 0)
                return bad_rule(err, errcap, text, "level: '%.*s' is not TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
                                (int)vlen, val);
            r->level = (unsigned)lv;
        } else if (bit == HAVE_COUNT) {
            if (parse_u64(val, vlen, 1, 1000000000, &r->count) != 0)
                return bad_rule(err, errcap, text, "count: '%.*s' is not a number in [1, 1000000000]", (int)vlen,
                                val);
        } else if (bit == HAVE_WINDOW) {
            uint64_t n, unit = 0;
            if (vlen >= 2)
                unit = val[vlen - 1] == 's' ? 1 : val[vlen - 1] == 'm' ? 60 : val[vlen - 1] == 'h' ? 3600 : 0;
            if (!unit || parse_u64(val, vlen - 1, 1, ALERT_MAX_WINDOW_S, &n) != 0 || n * unit > ALERT_MAX_WINDOW_S)
                return bad_rule(err, errcap, text,
                                "window: '%.*s' is not a duration like 60s, 5m or 1h (at most 24h)", (int)vlen, val);
            r->window_s = (uint32_t)(n * unit);
        } else {
            char typed[SHMLOG_CATEGORY_NAME_BYTES];
            snprintf(typed, sizeof typed, "%.*s", (int)(vlen < sizeof typed ? vlen : sizeof typed), val);
            if (vlen >= sizeof typed || shm_category_spelled(typed, r->category) != 0)
                return bad_rule(err, errcap, text,
                                "category: '%.*s' is not a category's name (none, trade, order, md, risk, "
                                "portfolio, or one a program defined: a-z, 0-9, _)", (int)vlen, val);
        }
    }
    static const struct { unsigned bit; const char *name; } required[] = {
        {HAVE_LEVEL, "level>="}, {HAVE_COUNT, "count>="}, {HAVE_WINDOW, "window="}, {HAVE_EXEC, "exec="}};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!(have & required[i].bit))
            return bad_rule(err, errcap, text, "%s is missing", required[i].name);
    return 0;
}

int alert_add(struct alert_set *a, const char *text, char *err, size_t errcap)
{
    if (a->n == ALERT_MAX_RULES) {
        snprintf(err, errcap, "--alert: at most %d rules", ALERT_MAX_RULES);
        return -EINVAL;
    }
    if (strlen(text) > ALERT_MAX_RULE_BYTES) {
        snprintf(err, errcap, "--alert: a rule is at most %d bytes", ALERT_MAX_RULE_BYTES);
        return -EINVAL;
    }
    struct alert_rule *r = &a->rules[a->n];
    memset(r, 0, sizeof(*r));
    int rc = parse_rule(r, text, err, errcap);
    if (!rc) {
        r->text = strdup(text);
        r->buckets = calloc(r->window_s, sizeof(*r->buckets));
        if (!r->text || !r->buckets) {
            snprintf(err, errcap, "--alert: out of memory");
            rc = -ENOMEM;
        }
    }
    if (rc) {
        free(r->text);
        free(r->argv_buf);
        free(r->buckets);
        memset(r, 0, sizeof(*r));
        return rc;
    }
    a->n++;
    if (r->level < a->min_level)
        a->min_level = r->level;
    return 0;
}

/* ==== Counting ==== */

/* Moves the window's newest bucket to second now_s, emptying the buckets of
 * the seconds that left the window: amortized O(1) per elapsed second. */
static void advance(struct alert_rule *r, uint64_t now_s)
{
    if (now_s <= r->bucket_s)
        return;
    uint64_t gap = now_s - r->bucket_s;
    if (gap >= r->window_s) {
        memset(r->buckets, 0, r->window_s * sizeof(*r->buckets));
        r->in_window = 0;
    } else {
        for (uint64_t s = r->bucket_s + 1; s <= now_s; s++) {
            uint32_t i = (uint32_t)(s % r->window_s);
            r->in_window -= r->buckets[i];
            r->buckets[i] = 0;
        }
    }
    r->bucket_s = now_s;
    r->cur_idx = (uint32_t)(now_s % r->window_s);
}

void alert_count(struct alert_set *a, unsigned level, const char *category, uint32_t site, uint32_t key, uint32_t pid,
                 const char *app)
{
    for (size_t i = 0; i < a->n; i++) {
        struct alert_rule *r = &a->rules[i];
        if (level < r->level || (r->category[0] && (!category || strcmp(category, r->category) != 0)))
            continue;
        advance(r, a->now_s);
        if (r->buckets[r->cur_idx] != UINT32_MAX) {
            r->buckets[r->cur_idx]++;
            r->in_window++;
        }
        if (r->last_key != key) {
            r->last_key = key;
            snprintf(r->last_app, sizeof(r->last_app), "%s", app);
        }
        r->last_pid = pid;
        r->last_site = site;
        r->last_level = level;
    }
}

/* ==== Running the command ==== */

/* The environment of the command: ours without SHMLOG_ALERT_*, then the
 * context. NULL when out of memory; free the array only (the strings are
 * environ's or vars'). */
static char **command_env(char *const vars[], size_t nvars)
{
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **env = malloc((n + nvars + 1) * sizeof(*env));
    if (!env)
        return NULL;
    size_t k = 0;
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0)
            env[k++] = *e;
    for (size_t i = 0; i < nvars; i++)
        env[k++] = vars[i];
    env[k] = NULL;
    return env;
}

/* in into out (cap bytes, NUL-terminated): a call site's file name is the
 * producer's, so a control character in it (a newline that would make a line
 * of its own, as an assignment) becomes \xNN and a backslash \\: what the
 * command reads cannot be forged. */
static void put_escaped(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t at = 0;
    for (const unsigned char *c = (const unsigned char *)in; *c && at + 5 < cap; c++) {
        if (*c < 0x20 || *c == 0x7f) {
            out[at++] = '\\';
            out[at++] = 'x';
            out[at++] = hex[*c >> 4];
            out[at++] = hex[*c & 15];
        } else {
            if (*c == '\\')
                out[at++] = '\\';
            out[at++] = (char)*c;
        }
    }
    out[at] = '\0';
}

static int start_command(struct alert_rule *r, const char *site)
{
    const char *level = shm_level_name(r->last_level);
    char count[64], pid[64], lvl[64], app[sizeof(ENV_PREFIX) + 4 + SHMLOG_APP_BYTES];
    char site_var[sizeof(ENV_PREFIX) + 9 + 4 * (SHMLOG_MAX_FILE_BYTES + 16)];
    char *rule = malloc(strlen(r->text) + sizeof(ENV_PREFIX "RULE="));
    if (!rule)
        return -ENOMEM;
    sprintf(rule, ENV_PREFIX "RULE=%s", r->text);
    snprintf(count, sizeof(count), ENV_PREFIX "COUNT=%" PRIu64, r->in_window);
    snprintf(lvl, sizeof(lvl), ENV_PREFIX "LEVEL=%s", level ? level : "unknown");
    snprintf(app, sizeof(app), ENV_PREFIX "APP=%s", r->last_app);
    snprintf(pid, sizeof(pid), ENV_PREFIX "PID=%" PRIu32, r->last_pid);
    size_t at = (size_t)snprintf(site_var, sizeof(site_var), ENV_PREFIX "MSG_SITE=");
    put_escaped(site_var + at, sizeof(site_var) - at, site);
    char *vars[] = {rule, count, lvl, app, pid, site_var};
    char **env = command_env(vars, sizeof(vars) / sizeof(vars[0]));
    if (!env) {
        free(rule);
        return -ENOMEM;
    }

    /* The command gets default signal dispositions (we ignore SIGPIPE), an
     * empty mask, its own process group (a terminal's ^C is for us), no
     * stdin, and none of our descriptors beyond stdout and stderr. */
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t child;
    int rc = posix_spawn(&child, r->argv[0], &fa, &attr, r->argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    free(rule);
    if (rc)
        return -rc;
    r->child = child;
    return 0;
}

/* Reaps the rule's command if it finished; never blocks. */
static void reap(struct alert_rule *r)
{
    int st;
    if (!r->child || waitpid(r->child, &st, WNOHANG) != r->child)
        return;
    r->child = 0;
    r->busy_reported = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
        fprintf(stderr, PROG ": alert '%s': %s exited with status %d\n", r->text, r->argv[0], WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        fprintf(stderr, PROG ": alert '%s': %s killed by signal %d\n", r->text, r->argv[0], WTERMSIG(st));
}

int alert_poll(struct alert_set *a, uint64_t now_ns, alert_site_fn site_text, void *ctx)
{
    a->now_s = now_ns / 1000000000ull;
    int started = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct alert_rule *r = &a->rules[i];
        reap(r);
        advance(r, a->now_s);
        if (r->in_window < r->count)
            continue;
        if (r->fired_once && now_ns - r->last_fired_ns < (uint64_t)r->window_s * 1000000000ull)
            continue;
        if (a->fired_once && now_ns - a->last_fired_ns < a->min_interval_ns)
            continue;
        if (r->child) { /* stays due: runs once the previous run ended */
            if (!r->busy_reported)
                fprintf(stderr, PROG ": alert '%s': due again while its previous command still runs\n", r->text);
            r->busy_reported = 1;
            continue;
        }
        char site[SHMLOG_MAX_FILE_BYTES + 16];
        site_text(ctx, r->last_key, r->last_site, site, sizeof(site));
        /* A failed start counts as the rule's run: retrying every pass would
         * flood the log. */
        r->fired_once = a->fired_once = 1;
        r->last_fired_ns = a->last_fired_ns = now_ns;
        int rc = start_command(r, site);
        if (rc) {
            fprintf(stderr, PROG ": alert '%s': cannot run %s: %s\n", r->text, r->argv[0], strerror(-rc));
            continue;
        }
        a->started++;
        started++;
    }
    return started;
}
