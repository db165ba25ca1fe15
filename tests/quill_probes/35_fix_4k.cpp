/* A FIX-like message of 4 KiB: 8=FIX.4.4|9=...|35=W| then repeating groups, SOH as |. */
static void PROBE_FN()
{
    std::string fix = "8=FIX.4.4|9=4076|35=W|49=VENUE|56=FIRM|55=ESZ6|268=";
    for (int i = 0; fix.size() < 4090; i++)
        fix += fmt::format("269={}|270={}.{:02}|271={}|", i % 2, 5000 + i, i % 100, 10 * i + 1);
    fix.resize(4096);
    BOTH("fix={}", fix);
}
