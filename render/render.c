/*
 * render.c - the renderer's entry points (render.h): a record, prepared or
 * not, an exit or a loss, handed to the text (render_text.c) or the JSON
 * formatter (render_json.c). render_private.h lists the renderer's files.
 */
#include "render_private.h"

#include <errno.h>

static int prepared_args(const struct render_site *sr, const struct shm_copied_record *rec,
                         struct render_arg args[SHMLOG_MAX_ARGS])
{
    if (!sr->known || !sr->shaped)
        return -1;
    if (rec->flags & SHM_REC_VALUES)
        return render_decode_args_values(sr, rec, args);
    size_t payload_len = rec->payload_len < sizeof rec->payload ? rec->payload_len : sizeof rec->payload;
    return render_decode_args_shaped(&sr->shape, sr->arg_types, rec->payload, payload_len, args);
}

int render_prepared(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu,
                           uint64_t ts_ns, int json, struct render_buf *out)
{
    return render_prepared_thread(sr, rec, cpu, ts_ns, NULL, NULL, json, out);
}

int render_prepared_thread(const struct render_site *sr, const struct shm_copied_record *rec, uint32_t cpu,
                           uint64_t ts_ns, const char *thread, const struct render_trace *trace, int json,
                           struct render_buf *out)
{
    struct render_arg args[SHMLOG_MAX_ARGS];
    int nargs = prepared_args(sr, rec, args);
    if (!json)
        return render_text_record(sr, rec, cpu, ts_ns, thread, trace, args, nargs, out);
    return render_json_record(sr, rec, cpu, ts_ns, thread, trace, args, nargs, out);
}


int render_prepared_msg_of(const struct render_site *sr, const struct shm_copied_record *rec,
                           const struct render_arg *args, int nargs, struct render_buf *out)
{
    render_put_prepared_msg(sr, rec, args, nargs, out, ESC_NONE, NULL); /* an unknown site's nargs is not looked at */
    return out->overflow ? -ENOBUFS : 0;
}

int render_prepared_msg(const struct render_site *sr, const struct shm_copied_record *rec,
                               struct render_buf *out)
{
    struct render_arg args[SHMLOG_MAX_ARGS];
    return render_prepared_msg_of(sr, rec, args, prepared_args(sr, rec, args), out);
}

int render_site_nargs(const struct render_site *sr)
{
    return sr->known ? sr->nargs : 0;
}

int render_prepared_args(const struct render_site *sr, const struct shm_copied_record *rec, struct render_buf *msg,
                         struct render_arg args[SHMLOG_MAX_ARGS])
{
    int nargs = prepared_args(sr, rec, args);
    if (msg)
        render_put_prepared_msg(sr, rec, args, nargs, msg, ESC_NONE, NULL);
    return sr->known ? nargs : 0;
}

const struct render_arg *render_field_value(const struct render_site *sr, const struct render_arg *args, int i,
                                            struct render_field_room *room)
{
    const struct prep_flat *fl = &sr->flat[i];
    const struct prep_field *f = &sr->fields[fl->field];
    if (fl->arg != f->arg)
        return render_shown_text(sr, fl->arg, 0, &args[fl->arg], room); /* a struct's member, whole */
    const struct render_arg *a = render_shown_text(sr, f->arg, f->conv, &args[f->arg], room);
    return a != &args[f->arg] ? a : render_field_arg(args, f->arg, f->prec, f->prec_arg, &room->arg);
}

int render_prepared_fields(const struct render_site *sr, const struct shm_copied_record *rec,
                           struct render_field fields[SHMLOG_MAX_ARGS])
{
    struct render_arg args[SHMLOG_MAX_ARGS];
    return render_prepared_fields_of(sr, args, render_prepared_args(sr, rec, NULL, args), fields);
}

int render_prepared_fields_of(const struct render_site *sr, const struct render_arg *args, int nargs,
                              struct render_field fields[SHMLOG_MAX_ARGS])
{
    if (nargs <= 0)
        return nargs;
    for (int i = 0; i < sr->nflat; i++) {
        /* names are [A-Za-z0-9_.] and need no escaping */
        fields[i].name = sr->flat[i].name;
        fields[i].name_len = sr->flat[i].name_len;
        fields[i].value = *render_field_value(sr, args, i, &fields[i].room);
        fields[i].tree = render_is_tree(sr, sr->flat[i].arg) && fields[i].value.type == SHMLOG_ARG_STR;
    }
    return sr->nflat;
}

int render_site_fields(const struct render_site *sr, struct render_field_info fields[SHMLOG_MAX_ARGS])
{
    if (!sr->known)
        return 0;
    for (int i = 0; i < sr->nflat; i++) {
        const struct prep_flat *fl = &sr->flat[i];
        const struct prep_field *f = &sr->fields[fl->field];
        fields[i].name = fl->name;
        fields[i].name_len = fl->name_len;
        fields[i].type = fl->arg < sr->nargs ? sr->arg_types[fl->arg] : 0;
        fields[i].arg = (uint8_t)fl->arg;
        fields[i].present = fl->arg >= 0 && fl->arg < sr->nargs ? sr->present_of[fl->arg] : 0;
        fields[i].tree = (uint8_t)render_is_tree(sr, fl->arg);
        fields[i].shape = fields[i].tree ? sr->shape_of[fl->arg] : NULL;
        fields[i].whole = !fields[i].tree &&
                          (fields[i].type != SHMLOG_ARG_STR || fl->arg != f->arg || (f->prec < 0 && f->prec_arg < 0));
        if (render_shown_as(sr, fl->arg, fl->arg == f->arg ? f->conv : 0, fields[i].type)) {
            fields[i].type = SHMLOG_ARG_STR; /* its text (render_shown_text()) */
            fields[i].whole = 0;
        }
    }
    return sr->nflat;
}

/* ==== Exit and loss markers ==== */

int render_exit(const struct render_input *in, uint64_t records, uint64_t lost, unsigned how, int json,
                       struct render_buf *out)
{
    how = how < 3 ? how : 0;
    if (!json)
        return render_text_exit(in, records, lost, how, out);
    return render_json_exit(in, records, lost, how, out);
}

int render_loss(const struct render_input *in, const struct shm_loss *loss, int json,
                       struct render_buf *out)
{
    if (!json)
        return render_text_loss(in, loss, out);
    return render_json_loss(in, loss, out);
}
