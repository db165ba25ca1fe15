/*
 * shlog_decode_damage.c - the file format's decoder reports damage: an error
 * event; damage inside a frame, after which the rest of the frame is
 * skipped; damage to one record, after which reading goes on. The decoder's
 * other files call these; these call none of them.
 */
#include "shlog_decode_state.h"

#include <stdarg.h>
#include <stdio.h>

__attribute__((format(printf, 4, 5)))
int shlog__ev_error(struct shlog_reader *r, struct shlog_event *ev, uint64_t offset, const char *fmt, ...)
{
    ev_begin(r, ev, SHLOG_EV_ERROR);
    ev->offset = offset;
    int n = snprintf(ev->error, sizeof(ev->error), "%s: offset %llu: ", r->name, (unsigned long long)offset);
    if (n < 0 || (size_t)n >= sizeof(ev->error))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->error + n, sizeof(ev->error) - (size_t)n, fmt, ap);
    va_end(ap);
    memset(&ev->loss, 0, sizeof(ev->loss));
    ev->loss.reason = SHM_LOSS_UNREADABLE;
    return 1;
}

/* Damage in the frame being returned: "<kind> damaged: <what>; <then>". */
static int damaged(struct shlog_reader *r, struct shlog_event *ev, const char *kind, const char *then,
                   const char *fmt, va_list ap)
{
    char what[200];
    vsnprintf(what, sizeof(what), fmt, ap);
    return shlog__ev_error(r, ev, r->frame_off, "%s damaged: %s; %s", kind, what, then);
}

int shlog__frame_damaged(struct shlog_reader *r, struct shlog_event *ev, const char *fmt, ...)
{
    r->b.open = 0;
    r->sec.p = r->sec.end;
    r->st.bad_frames++;
    va_list ap;
    va_start(ap, fmt);
    int rc = damaged(r, ev, "frame", "rest of the frame skipped", fmt, ap);
    va_end(ap);
    return rc;
}

int shlog__record_damaged(struct shlog_reader *r, struct shlog_event *ev, const char *fmt, ...)
{
    r->st.bad_records++;
    va_list ap;
    va_start(ap, fmt);
    int rc = damaged(r, ev, "record", "counted as lost (undecodable), reading goes on", fmt, ap);
    va_end(ap);
    return rc;
}
