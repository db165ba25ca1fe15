/* fmt takes 20: a site takes up to 32 (SHMLOG_MAX_ARGS, ring ABI 7), so this compiles and reads back. */
static void PROBE_FN()
{
    BOTH("{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
         13, 14, 15, 16, 17, 18, 19, 20);
}
