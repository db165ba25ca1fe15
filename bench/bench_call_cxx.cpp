// shmlog-bench-call-cxx: bench_call.c through the header's C++ path, with
// the {} format cases beside their printf twins (bench/call.sh --cxx).
#include "bench_call.c"
