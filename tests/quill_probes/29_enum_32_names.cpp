enum class ProbeVenue {
    V00, V01, V02, V03, V04, V05, V06, V07, V08, V09, V10, V11, V12, V13, V14, V15,
    V16, V17, V18, V19, V20, V21, V22, V23, V24, V25, V26, V27, V28, V29, V30, V31
};
SHMLOG_ENUM(ProbeVenue, V00, V01, V02, V03, V04, V05, V06, V07, V08, V09, V10, V11, V12, V13, V14, V15,
            V16, V17, V18, V19, V20, V21, V22, V23, V24, V25, V26, V27, V28, V29, V30, V31);
/* fmt has no names of an enum's values: the name Quill's users give it */
static void PROBE_FN()
{
    SHMLOG_INFO("venue={} first={}", ProbeVenue::V31, ProbeVenue::V00);
    WANT("venue=V31 first=V00");
}
