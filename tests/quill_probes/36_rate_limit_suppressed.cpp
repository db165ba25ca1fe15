/* 100,000 calls of one rate-limited site within its interval (an hour, in ms): one record, then the 99,999 calls it
 * suppressed in the files (the record shmlog_shutdown writes for the site). */
static void PROBE_FN()
{
    for (int i = 0; i < 100000; i++)
        SHMLOG_INFO_EVERY(3600000, "tick={}", i);
    WANT("tick=0 suppressed=0");
    WANT("rate limit: suppressed=99999");
}
