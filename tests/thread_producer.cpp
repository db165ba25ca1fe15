/* Description: threads named each way shmlog offers, each logging "hello from <label>": pthread_setname_np then
 * shmlog_thread_init(), the C++ shmlog_thread_init("name"), shmlog_thread_name() with a name past the bound and
 * one with a control character, a thread renamed between two records, and the main thread never named. Prints
 * "tid <label> <tid>" per thread and "done <dropped>" after shmlog_shutdown (tests/test_threads.sh reads them). */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

static void say_tid(const char *label)
{
    std::printf("tid %s %ld\n", label, static_cast<long>(syscall(SYS_gettid)));
    std::fflush(stdout);
}

static int failed;

static void expect(int rc, const char *what)
{
    if (rc != 0) {
        std::fprintf(stderr, "thread_producer: %s: %d\n", what, rc);
        failed = 1;
    }
}

int main()
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "threads";
    cfg.quiet = 1;
    if (shmlog_init(&cfg) < 0)
        return 1;
    std::thread([] {
        pthread_setname_np(pthread_self(), "md-0");
        expect(shmlog_thread_init(), "shmlog_thread_init()");
        say_tid("pthread");
        SHMLOG_INFO("hello from %s", "pthread");
    }).join();
    std::thread([] {
        expect(shmlog_thread_init("order-gw"), "shmlog_thread_init(name)");
        say_tid("cxx");
        SHMLOG_INFO("hello from %s", "cxx");
    }).join();
    std::thread([] {
        expect(shmlog_thread_name("risk-calculator-for-every-venue-and-desk"), "a long name");
        say_tid("long");
        SHMLOG_INFO("hello from %s", "long");
    }).join();
    std::thread([] {
        expect(shmlog_thread_name("bad\x01name\xff"), "a name with a control character");
        say_tid("control");
        SHMLOG_INFO("hello from %s", "control");
    }).join();
    std::thread([] {
        expect(shmlog_thread_name("fx-a"), "fx-a");
        say_tid("renamed");
        SHMLOG_INFO("hello from %s", "before-rename");
        usleep(500 * 1000); /* read by the collector (--max-delay-ms 20) before the rename */
        expect(shmlog_thread_name("fx-b"), "fx-b");
        usleep(100 * 1000);
        SHMLOG_INFO("hello from %s", "after-rename");
    }).join();
    if (shmlog_thread_name("") != -EINVAL) {
        std::fprintf(stderr, "thread_producer: an empty name was taken\n");
        failed = 1;
    }
    say_tid("main");
    SHMLOG_INFO("hello from %s", "main");
    uint64_t dropped = shmlog_dropped();
    shmlog_shutdown();
    std::printf("done %llu\n", static_cast<unsigned long long>(dropped));
    return failed;
}
