/*
 * reader_guard.c - the SIGBUS guard: a writer that truncates its segment
 * under a reader's mapping makes the next access fault; a guarded reader
 * jumps back to its own sigjmp_buf instead of dying (reader.h says how to
 * use it).
 */
#include "reader.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

sigjmp_buf *volatile shm_bus_guard;

static void on_sigbus(int sig)
{
    if (shm_bus_guard)
        siglongjmp(*shm_bus_guard, 1);
    signal(sig, SIG_DFL); /* a fault outside any guard: die of it, as without us */
    raise(sig);
}

int shm_guarded(void (*fn)(void *ctx), void *ctx)
{
    sigjmp_buf jb;
    sigjmp_buf *outer = shm_bus_guard;
    if (sigsetjmp(jb, 0) != 0) {
        shm_bus_guard = outer;
        return -EFAULT;
    }
    shm_bus_guard = &jb;
    fn(ctx);
    shm_bus_guard = outer;
    return 0;
}

int shm_bus_guard_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sa.sa_flags = SA_NODEFER;
    return sigaction(SIGBUS, &sa, NULL) == 0 ? 0 : -errno;
}
