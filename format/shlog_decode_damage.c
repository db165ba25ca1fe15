/*
 * shlog_decode_damage.c - the file format's decoder reports damage: an error
 * event, and damage inside a frame, after which the rest of the frame is
 * skipped. The decoder's other files call these; these call none of them.
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

__attribute__((format(printf, 3, 4)))
int shlog__frame_damaged(struct shlog_reader *r, struct shlog_event *ev, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    r->b.open = 0;
    r->sec.p = r->sec.end;
    r->st.bad_frames++;
    return shlog__ev_error(r, ev, r->frame_off, "frame damaged: %s; rest of the frame skipped", what);
}
