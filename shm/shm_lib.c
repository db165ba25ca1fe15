/* The one translation unit of the project that holds the producer implementation. */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"
