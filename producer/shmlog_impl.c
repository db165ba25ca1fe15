/* The producer implementation as a library, for the programs of this project
 * that log (the sample producer, test programs, the benchmark): what an
 * application gets by defining SHMLOG_IMPLEMENTATION in one of its files. */
#define SHMLOG_IMPLEMENTATION
#include "shmlog.h"
