#include <filesystem>
static void PROBE_FN() { BOTH("file={}", std::filesystem::path("/var/log/fix gw.log")); }
