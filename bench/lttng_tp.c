/*
 * lttng_tp.c - instantiates the probes of lttng_tp.h, linked into the
 * benchmark so the provider registers at start-up, as in an application.
 */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "lttng_tp.h"
