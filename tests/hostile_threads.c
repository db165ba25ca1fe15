/* Description: a producer that writes THREAD entries into its own site table the way no shmlog does, past
 * shmlog_thread_name's checks, each followed by a record of its thread: a name with an escape sequence, a
 * newline and a byte that is not UTF-8 ("hostile-bytes"), a name whose offset lies outside the segment
 * ("hostile-offset"), a name of 100000 bytes ("hostile-long"), and an entry of tid 0 ("hostile-tid0"); then a
 * call site registered after them ("after"). Prints "tid <tid>" and "done <dropped>" (tests/test_threads.sh). */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A THREAD entry as a hostile writer makes it: name bytes in the arena unless off (from the arena's start)
 * is given. */
static void hostile_entry(uint32_t tid, const char *name, uint32_t len, uint32_t off)
{
    usleep(500 * 1000); /* the record before it read by the collector (--max-delay-ms 20) first */
    shmlog__lock_take();
    struct shmlog_site s;
    memset(&s, 0, sizeof s);
    s.fmt_offset = name ? shmlog__append_string(name, len) : off;
    s.fmt_len = len;
    s.file_offset = s.fmt_offset;
    s.line = tid;
    s.flags = SHMLOG_SITE_THREAD;
    shmlog__site_publish(&s);
    shmlog__lock_give();
}

int main(void)
{
    struct shmlog_config cfg;
    shmlog_config_init(&cfg);
    cfg.app = "hostile-threads";
    cfg.quiet = 1;
    if (shmlog_init(&cfg) < 0)
        return 1;
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    printf("tid %u\n", tid);
    const char bad[] = "\x1b[31mevil\n\xc0";
    hostile_entry(tid, bad, sizeof bad - 1, 0);
    SHMLOG_INFO("hello from %s", "hostile-bytes");
    hostile_entry(tid, NULL, 8, (uint32_t)shmlog__g.meta_bytes); /* past the segment's end */
    SHMLOG_INFO("hello from %s", "hostile-offset");
    hostile_entry(tid, NULL, 100000, 0); /* the arena's strings, NULs between them */
    SHMLOG_INFO("hello from %s", "hostile-long");
    hostile_entry(0, "zero", 4, 0);
    SHMLOG_INFO("hello from %s", "hostile-tid0");
    SHMLOG_INFO("hello from %s", "after");
    uint64_t dropped = shmlog_dropped();
    shmlog_shutdown();
    printf("done %llu\n", (unsigned long long)dropped);
    return 0;
}
