/* Description: the C++ program test_api_cxx.c runs under a real collector: it logs std::string,
 * std::string_view (one that ends where an unreadable page begins), enum class values, %.*s
 * arguments and .c_str() of a temporary as a C++ shop writes them, or calls one rate-limited site from two threads in a
 * tight loop.
 *
 *   api_cxx_producer values
 *   api_cxx_producer every INTERVAL_MS RUN_MS
 *   api_cxx_producer categories
 *   api_cxx_producer exit
 *
 * values: on one cpu; prints "done <dropped>" after shmlog_shutdown.
 * every: both threads call the site until RUN_MS passed; then, after a pause longer than the
 * interval, main calls it once more, which writes the record that carries the last suppressed
 * calls. Prints "calls <N>" (every call of the site) and "done <dropped>".
 * categories: one call before init, then records of its own categories (an enum class of ids in the
 * config's order, and one defined by name after init) at levels set per category in the config; prints
 * "ready", waits for a line on stdin (the test sets a level from outside), logs again, then "done".
 * exit: one record, "done 0", and a return from main without shmlog_shutdown(); a static object's
 * destructor logs one more. */
#include <shmlog.h>

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

namespace {

enum class side : int { buy = 1, sell = 2 };
enum class venue : uint8_t { xnas = 3, xnys = 7 };
enum class delta : int64_t { down = -5 };
enum plain { plain_seven = 7 };

/* the program's own categories: ids in the order the config names them */
enum class cat : int { venue = SHMLOG_CAT_USER, strategy };
const char *const cat_names[] = {"venue", "strategy", nullptr};

/* bytes at the very end of a readable page, followed by an unreadable one:
 * a read past them kills the process */
const char *at_page_end(const char *bytes, size_t n)
{
    long page = sysconf(_SC_PAGESIZE);
    void *m = mmap(nullptr, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect((char *)m + page, (size_t)page, PROT_NONE) != 0) {
        perror("api_cxx_producer: guard page");
        exit(3);
    }
    char *end = (char *)m + page;
    memcpy(end - n, bytes, n);
    return end - n;
}

void log_values()
{
    const char *guarded = at_page_end("ESZ6NQZ6", 8); /* no NUL anywhere */
    std::string venue_name = "XNAS";
    const std::string &ref = venue_name;
    std::string_view middle(guarded + 4, 4); /* "NQZ6", up to the guard page */
    std::string_view head(guarded, 4);       /* "ESZ6", more bytes after its size */
    std::string_view empty;

    SHMLOG_INFO("venue=%s ref=%s tmp=%s", venue_name, ref, std::string("tmp-") + "value");
    SHMLOG_INFO("tail=%s head=%s empty=%s", middle, head, empty);
    SHMLOG_INFO("side=%d venue=%d delta=%ld plain=%d", side::sell, venue::xnys, delta::down, plain_seven);
    SHMLOG_ORDER(WARN, "leg=%.*s next=%.*s", 4, "ESZ6NQZ6", 4, guarded + 4);
    SHMLOG_INFO("pfx=%.*s all=%.*s sv=%.*s", 2, venue_name, -1, "whole", 3, middle);

    /* %.*s stores only the precision's bytes: each of these records takes one
     * slot, so on one cpu their ring positions follow each other */
    std::string long_name(300, 'x');
    static char long_text[301];
    memset(long_text, 'y', 300);
    SHMLOG_INFO("cut=%.*s", 3, long_name);
    SHMLOG_INFO("cutc=%.*s", 3, long_text);
    SHMLOG_INFO("cut end");
    /* the pointer of a temporary (on the heap: longer than the small-string
     * buffer) and a reference into one: alive until the record is written */
    SHMLOG_INFO("cstr=%s max=%d", (std::string(40, 'k') + "-end").c_str(), std::max(1, 2));
}

/* An argument of the "outer" call: logs "inner", then takes 50 us. */
static int log_inner_then_wait()
{
    SHMLOG_INFO("inner");
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    while (std::chrono::steady_clock::now() < until) {
    }
    return 1;
}

void log_categories()
{
    int pricing = shmlog_category("pricing");
    volatile int unknown = 60; /* a category nobody defined: counted, written as none */
    std::string_view sym = "ESZ6";
    SHMLOG_LOG(cat::venue, SHMLOG_LEVEL_DEBUG, "venue debug sym=%s", sym);
    SHMLOG_LOG(cat::strategy, SHMLOG_LEVEL_DEBUG, "strategy debug 1");
    SHMLOG_LOG(cat::strategy, SHMLOG_LEVEL_INFO, "strategy info side=%d", side::buy);
    SHMLOG_CAT(pricing, INFO, "pricing info px=%.2f", 101.25);
    SHMLOG_MD(DEBUG, "md debug 1");
    SHMLOG_LOG(unknown, SHMLOG_LEVEL_INFO, "unknown category");
    SHMLOG_ERROR("none error 1");
    SHMLOG_ERROR("none error 2");
    SHMLOG_LOG(cat::venue, SHMLOG_LEVEL_ERROR, "venue error 1");
    printf("ready\n");
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return;
    SHMLOG_LOG(cat::strategy, SHMLOG_LEVEL_DEBUG, "strategy debug 2");
    SHMLOG_MD(DEBUG, "md debug 2");
    SHMLOG_LOG(cat::venue, SHMLOG_LEVEL_ERROR, "venue error 2");
}

/* one call site for every thread */
void tick(unsigned t, uint64_t interval_ms)
{
    SHMLOG_INFO_EVERY(interval_ms, "tick t=%u", t);
}

unsigned long run_every(uint64_t interval_ms, uint64_t run_ms)
{
    std::atomic<unsigned long> calls{0};
    auto body = [&](unsigned t) {
        shmlog_thread_init();
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms);
        unsigned long n = 0;
        while (std::chrono::steady_clock::now() < end) {
            for (int k = 0; k < 64; k++)
                tick(t, interval_ms);
            n += 64;
        }
        calls += n;
    };
    std::thread a(body, 1u), b(body, 2u);
    a.join();
    b.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms + 20));
    tick(0, interval_ms);
    return calls + 1;
}

/* exit: destroyed after main returned without shmlog_shutdown(), after the
 * atexit handlers registered later (shmlog_init's among them) */
struct farewell {
    bool armed = false;
    ~farewell()
    {
        if (armed)
            SHMLOG_INFO("farewell n=%d", 3);
    }
} bye;

} // namespace

/* Trace contexts: scopes nested and left, a traceparent continued and formatted back, bad ones
 * refused (a non-zero return says which was not). */
static int log_traces()
{
    SHMLOG_INFO("no trace yet");
    {
        shmlog_trace_scope outer(0x0af7651916cd43ddu, 0x8448eb211c80319cu, "outer");
        SHMLOG_INFO("in outer");
        {
            shmlog_trace_scope inner(42, "inner"); /* a 64-bit id */
            SHMLOG_INFO("in inner");
        }
        SHMLOG_INFO("outer again");
    }
    SHMLOG_INFO("no trace again");
    const char *header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    if (shmlog_trace_set_traceparent(header, "gw") != 0)
        return 1;
    SHMLOG_INFO("continued");
    struct shmlog_traceparent tp;
    char again[SHMLOG_TRACEPARENT_BYTES + 1];
    if (shmlog_traceparent_parse(header, &tp) != 0)
        return 1;
    shmlog_traceparent_format(&tp, again);
    if (strcmp(again, header) != 0) {
        fprintf(stderr, "api_cxx_producer: traceparent formatted back as %s\n", again);
        return 1;
    }
    int bad = shmlog_traceparent_parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &tp) == 0 ||
              shmlog_traceparent_parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &tp) == 0 ||
              shmlog_traceparent_parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", &tp) == 0 ||
              shmlog_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", &tp) == 0 ||
              shmlog_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later", &tp) != 0 ||
              shmlog_trace_set(0, 0, "zero") != -EINVAL;
    if (bad)
        fprintf(stderr, "api_cxx_producer: a bad traceparent or trace id was taken, or a good one refused\n");
    shmlog_trace_clear();
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: api_cxx_producer values | nested | every INTERVAL_MS RUN_MS\n");
        return 2;
    }
    int categories = strcmp(argv[1], "categories") == 0;
    if (categories)
        SHMLOG_INFO("before init");
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "api-cxx";
    cfg.quiet = 1;
    cfg.level = SHMLOG_LEVEL_TRACE;
    if (categories) {
        cfg.categories = cat_names;
        cfg.levels = "INFO,venue=DEBUG";
    }
    int rc = shmlog_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "api_cxx_producer: shmlog_init: %d\n", rc);
        return 1;
    }
    shmlog_thread_init();
    if (strcmp(argv[1], "values") == 0) {
        cpu_set_t here; /* one ring: records in call order, positions without gaps */
        CPU_ZERO(&here);
        CPU_SET(sched_getcpu(), &here);
        if (sched_setaffinity(0, sizeof here, &here) != 0) {
            perror("api_cxx_producer: sched_setaffinity");
            return 3;
        }
        log_values();
    } else if (categories) {
        log_categories();
    } else if (strcmp(argv[1], "exit") == 0) {
        SHMLOG_INFO("main n=%d", 1);
        bye.armed = true;
        printf("done %llu\n", (unsigned long long)shmlog_dropped());
        return 0; /* without shmlog_shutdown(): a clean exit all the same */
    } else if (strcmp(argv[1], "trace") == 0) {
        if (log_traces() != 0)
            return 4;
    } else if (strcmp(argv[1], "nested") == 0) {
        SHMLOG_INFO("outer inner=%d", log_inner_then_wait());
    } else if (strcmp(argv[1], "every") == 0 && argc == 4) {
        unsigned long calls = run_every(strtoull(argv[2], nullptr, 10), strtoull(argv[3], nullptr, 10));
        printf("calls %lu\n", calls);
    } else {
        fprintf(stderr, "api_cxx_producer: unknown mode %s\n", argv[1]);
        return 2;
    }
    uint64_t dropped = shmlog_dropped();
    shmlog_shutdown();
    printf("done %llu\n", (unsigned long long)dropped);
    return 0;
}
