/* refused: SHMLOG_STRUCT or shmlog_codec */
/* fmt refuses it too (no fmt::formatter): the compile error must say what to write. */
struct ProbeUndescribed {
    int qty;
};
static void PROBE_FN() { SHMLOG_INFO("u={}", ProbeUndescribed{1}); }
