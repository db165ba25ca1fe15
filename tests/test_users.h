/* Description: the test users and their processes, for the tests that need
 * real second uids (in the host suite: they create users): an attacker
 * (shmlog-atk) and an accepted user (shmlog-grp, member of shmlog-ops), made
 * once and reused; processes run as them with setpriv; files made as them.
 * Inline, on test_util_file.h; every helper is tu_. */
#ifndef SHMLOG_TEST_USERS_H
#define SHMLOG_TEST_USERS_H

#include <grp.h>
#include <pwd.h>

#include "test_util_file.h"

/* A test user: made once, reused by later runs. */
struct tu_user {
    const char *name;
    uid_t uid;
    gid_t gid;
};
static struct tu_user tu_atk = {"shmlog-atk", 0, 0}, tu_grp = {"shmlog-grp", 0, 0};
static const char *tu_ops_group = "shmlog-ops"; /* tu_grp is a member: --allow-group */
static gid_t tu_ops_gid;

static inline int tu_run_cmd(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int tu_in_group(const char *name, gid_t primary, gid_t gid)
{
    gid_t groups[256];
    int n = 256;
    if (getgrouplist(name, primary, groups, &n) < 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return 1;
    return 0;
}

static inline int tu_find_user(struct tu_user *u)
{
    struct passwd *pw = getpwnam(u->name);
    if (!pw)
        return -1;
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    return 0;
}

/* Makes (or finds) the two test users and the group only tu_grp is in: NULL,
 * or why not (the test is then skipped: TU_NEED_USERS). */
static inline const char *tu_need_users(void)
{
    if (geteuid() != 0)
        return "needs root: creates test users and runs producers as them";
    if (access("/usr/sbin/useradd", X_OK) != 0 || access("/usr/sbin/groupadd", X_OK) != 0)
        return "needs useradd and groupadd (passwd) to create test users";
    if (access("/usr/bin/setpriv", X_OK) != 0)
        return "needs setpriv (util-linux) to run producers as test users";
    char cmd[300];
    if (!getgrnam(tu_ops_group)) {
        snprintf(cmd, sizeof(cmd), "groupadd --system %s", tu_ops_group);
        tu_run_cmd(cmd);
    }
    struct group *g = getgrnam(tu_ops_group);
    if (!g)
        return "could not create the test group shmlog-ops";
    tu_ops_gid = g->gr_gid;
    if (tu_find_user(&tu_atk) != 0) {
        snprintf(cmd, sizeof(cmd), "useradd --system --no-create-home --shell /usr/sbin/nologin %s", tu_atk.name);
        tu_run_cmd(cmd);
    }
    if (tu_find_user(&tu_grp) != 0) {
        snprintf(cmd, sizeof(cmd), "useradd --system --no-create-home --shell /usr/sbin/nologin -G %s %s",
                 tu_ops_group, tu_grp.name);
        tu_run_cmd(cmd);
    }
    if (tu_find_user(&tu_atk) != 0 || tu_find_user(&tu_grp) != 0)
        return "could not create the test users shmlog-atk and shmlog-grp";
    if (!tu_in_group(tu_grp.name, tu_grp.gid, tu_ops_gid)) {
        snprintf(cmd, sizeof(cmd), "usermod -a -G %s %s", tu_ops_group, tu_grp.name);
        tu_run_cmd(cmd);
    }
    cr_assert(tu_in_group(tu_grp.name, tu_grp.gid, tu_ops_gid), "%s is not in group %s", tu_grp.name, tu_ops_group);
    cr_assert(!tu_in_group(tu_atk.name, tu_atk.gid, tu_ops_gid), "%s must not be in group %s", tu_atk.name, tu_ops_group);
    return NULL;
}

/* tu_spawn, with stderr to err_path when given, and, when gate is given,
 * the exec held until the test writes to *gate: the test knows the pid of
 * the program before it runs. */
static inline struct tu_child tu_spawn_gated(char *const argv[], const char *err_path, int *gate)
{
    int out[2], in[2], g[2] = {-1, -1};
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
    if (gate)
        cr_assert_eq(pipe2(g, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (err_path) {
            int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0)
                dup2(fd, 2);
        }
        if (gate) {
            char c;
            close(g[1]);
            if (read(g[0], &c, 1) != 1)
                _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (gate) {
        close(g[0]);
        *gate = g[1];
    }
    if (tu_nchildren < sizeof(tu_children) / sizeof(tu_children[0]))
        tu_children[tu_nchildren++] = pid;
    return (struct tu_child){pid, fdopen(out[0], "r"), in[1]};
}

/* The test producer with args, as user u (NULL: as we are). */
static inline struct tu_child tu_producer_as(const struct tu_user *u, int init_groups, const char *const args[],
                                   const char *err_path, int *gate)
{
    static char ruid[32], rgid[32];
    char *argv[40];
    int n = 0;
    if (u) {
        snprintf(ruid, sizeof(ruid), "--reuid=%u", (unsigned)u->uid);
        snprintf(rgid, sizeof(rgid), "--regid=%u", (unsigned)u->gid);
        argv[n++] = "/usr/bin/setpriv";
        argv[n++] = ruid;
        argv[n++] = rgid;
        argv[n++] = init_groups ? "--init-groups" : "--clear-groups";
    }
    argv[n++] = (char *)tu_exe("TEST_PRODUCER");
    for (int i = 0; args && args[i] && n < 39; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    return tu_spawn_gated(argv, err_path, gate);
}

/* Runs argv as user u to its end (at most 10 s); its exit status. */
static inline int tu_run_as(const struct tu_user *u, const char *const args[])
{
    char ruid[32], rgid[32];
    snprintf(ruid, sizeof(ruid), "--reuid=%u", (unsigned)u->uid);
    snprintf(rgid, sizeof(rgid), "--regid=%u", (unsigned)u->gid);
    char *argv[40] = {"/usr/bin/setpriv", ruid, rgid, "--clear-groups"};
    int n = 4;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    struct tu_child c = tu_spawn_gated(argv, NULL, NULL);
    tu_close_stdin(&c);
    int st = tu_wait_exit_within(&c, 10000, args[0]);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A new file at path with these bytes, owned by u: what u could have made. */
static inline void tu_write_as(const char *path, const void *buf, size_t len, const struct tu_user *u)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "%s", path);
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    cr_assert_eq(fchown(fd, u->uid, u->gid), 0);
    close(fd);
}

/* Whether a file of this name exists with this owner. */
static inline int tu_exists_owned(const char *path, uid_t uid)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid;
}


/* Files of process pid in dir, by name: <app>-<pid>[.<tag>].meta and
 * <app>-<pid>-cpu<N>[.<tag>].ring. */
static inline size_t tu_pid_files(const char *dir, pid_t pid)
{
    char dot[32], cpu[32];
    snprintf(dot, sizeof(dot), "-%d.", (int)pid);
    snprintf(cpu, sizeof(cpu), "-%d-cpu", (int)pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, dot) || strstr(de->d_name, cpu);
    closedir(d);
    return n;
}

/* Waits until the collector removed the segments of pid from dir: `left`
 * files of its names stay (the ones others made). */
static inline void tu_wait_pid_files(const struct tu_env *env, const char *dir, pid_t pid, size_t left,
                                     unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    while (tu_pid_files(dir, pid) > left && tu_now_ms() < end)
        tu_sleep_ms(20);
    if (tu_pid_files(dir, pid) == left)
        return;
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "ls -la '%s' >&2; tail -n 40 '%s' >&2", dir, env->log);
    cr_assert(system(cmd) >= 0);
    cr_assert_fail("%zu files of %d in %s %u ms after it ended, expected %zu (listed above)", tu_pid_files(dir, pid),
                   (int)pid, dir, timeout_ms, left);
}

/* In a test: skips it, after the file's own clean-up (its SKIP), when the
 * users cannot be had. */
#define NEED_USERS()                       \
    do {                                   \
        const char *why_ = tu_need_users(); \
        if (why_)                          \
            SKIP("%s", why_);              \
    } while (0)

#endif /* SHMLOG_TEST_USERS_H */
