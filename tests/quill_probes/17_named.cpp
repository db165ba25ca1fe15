static void PROBE_FN()
{
    SHMLOG_INFO("px={px} qty={qty}", shmlog::arg("px", 101.25), shmlog::arg("qty", 10));
    WANT(fmt::format("px={px} qty={qty}", fmt::arg("px", 101.25), fmt::arg("qty", 10)));
}
