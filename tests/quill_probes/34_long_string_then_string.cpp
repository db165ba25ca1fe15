static void PROBE_FN()
{
    std::string payload;
    for (int i = 0; payload.size() < 500; i++)
        payload += fmt::format("{{\"px\":{},\"qty\":{}}},", i, i * 10);
    BOTH("json={} next={}", payload, "XNAS");
}
