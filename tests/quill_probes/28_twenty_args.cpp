/* refused: split the call */
/* fmt takes 20: a site's argument types are part of its layout in shared memory and in the files
 * (SHMLOG_MAX_ARGS, ring ABI 6), so the error must say the bound and that the call is split. */
static void PROBE_FN()
{
    BOTH("{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
         13, 14, 15, 16, 17, 18, 19, 20);
}
