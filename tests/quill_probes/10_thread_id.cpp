#include <thread>
static void PROBE_FN() { BOTH("thread={}", std::this_thread::get_id()); }
