/* Description: a file never defines more than readers keep: 67,000 short-lived processes of one user (each shmlog_init, shmlog_shutdown and exit, 16 at a time), the last 1,000 logging a record each, against a real collector, give files that every reader reads whole, with each of the 1,000 records and every process's EXIT (more than 65,536 processes in one file made every frame after the 65,536th unreadable). */
#include "test_util_file.h"

static struct tu_env env;

static void setup(void) { tu_env_setup(&env, "file-bounds"); }
static void teardown(void)
{
    tu_kill_children();
    tu_rmtree(env.root);
}

TestSuite(file_bounds, .init = setup, .fini = teardown, .timeout = 1200);

#define FLOOD_PROCS 67000u /* past SHLOG_FILE_MAX_PROCS, as the issue's */
#define FLOOD_LOGGING 1000u

struct flood_read {
    size_t files, records, exits, errors, losses;
    uint8_t seen[FLOOD_PROCS];
    char first_error[256];
};

static void count_event(const struct shlog_event *ev, void *ctx)
{
    struct flood_read *g = ctx;
    unsigned id;
    switch (ev->kind) {
    case SHLOG_EV_RECORD:
        g->records++;
        cr_assert(ev->site && strcmp(ev->site->fmt, "flood child %u") == 0, "a record without its site");
        cr_assert_eq(tu_arg_u32(ev->rec, 0, &id), 0);
        cr_assert_lt(id, FLOOD_PROCS);
        cr_assert_eq(g->seen[id]++, 0, "child %u's record twice", id);
        break;
    case SHLOG_EV_EXIT: g->exits++; break;
    case SHLOG_EV_LOSS: g->losses++; break;
    case SHLOG_EV_ERROR:
        if (!g->errors++)
            snprintf(g->first_error, sizeof(g->first_error), "%s", ev->error);
        break;
    }
}

Test(file_bounds, more_processes_than_a_file_keeps_begin_a_new_file)
{
    struct tu_child col = tu_collector_ready(&env, NULL);
    char procs[16], logging[16];
    snprintf(procs, sizeof(procs), "%u", FLOOD_PROCS);
    snprintf(logging, sizeof(logging), "%u", FLOOD_LOGGING);
    char *argv[] = {(char *)tu_exe("PROC_FLOOD"), procs, "16", logging, NULL};
    struct tu_child flood = tu_spawn(argv, NULL);
    cr_assert_eq(tu_wait_line(&flood, "done "), FLOOD_LOGGING);
    cr_assert_eq(tu_wait_exit(&flood), 0);
    tu_assert_segments_gone(&env, 300000);
    tu_stop_collector(&env, &col);

    static struct flood_read got;
    got.files = tu_each_event(env.out, count_event, &got);
    cr_assert_eq(got.errors, 0, "readers found damage: %s", got.first_error);
    cr_assert_gt(got.files, 1, "%u processes in one file", FLOOD_PROCS);
    cr_assert_eq(got.records, FLOOD_LOGGING, "%zu of %u records read", got.records, FLOOD_LOGGING);
    cr_assert_eq(got.exits, FLOOD_PROCS, "%zu of %u processes' EXIT read", got.exits, FLOOD_PROCS);
    cr_assert_eq(got.losses, 0);

    /* and the tool says so */
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "'%s' verify '%s' >'%s/verify.out' 2>&1", tu_exe("SHMLOG_DUMP"), env.out, env.root);
    int st = system(cmd);
    char out[4096], path[400];
    snprintf(path, sizeof(path), "%s/verify.out", env.root);
    tu_read_file(path, out, sizeof(out));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "shmlog-dump verify: %s", out);
}
