/* fmt::format of char cannot take a wide string: its UTF-8 */
static void PROBE_FN()
{
    SHMLOG_INFO("name={}", std::wstring(L"caf\u00e9 \u20ac"));
    WANT("name=caf\u00e9 \u20ac");
}
