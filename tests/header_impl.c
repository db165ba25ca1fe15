/* Description: the one translation unit of a user program that holds the shmlog implementation (built by tests/test_header.sh as C11 and as C++17). */
#define SHMLOG_IMPLEMENTATION
#include <shmlog.h>
