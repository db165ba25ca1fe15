/*
 * lttng_tp.h - the LTTng-UST tracepoint provider of the peer benchmark: the
 * same fields as shmlog's "order id=%lu px=%f qty=%d" (and with the note).
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "lttng_tp.h"

#if !defined(SHMLOG_BENCH_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define SHMLOG_BENCH_LTTNG_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

LTTNG_UST_TRACEPOINT_EVENT(bench, order,
    LTTNG_UST_TP_ARGS(uint64_t, id, double, px, int, qty),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, id, id)
        lttng_ust_field_float(double, px, px)
        lttng_ust_field_integer(int, qty, qty)))

LTTNG_UST_TRACEPOINT_EVENT(bench, order_note,
    LTTNG_UST_TP_ARGS(uint64_t, id, double, px, int, qty, const char *, note),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(uint64_t, id, id)
        lttng_ust_field_float(double, px, px)
        lttng_ust_field_integer(int, qty, qty)
        lttng_ust_field_string(note, note)))

#endif /* SHMLOG_BENCH_LTTNG_TP_H */

#include <lttng/tracepoint-event.h>
