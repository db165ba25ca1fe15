/*
 * shlog_decode_sections.c - the file format's sections but BATCH, decoded
 * into events: PROCESS and SITE (the file's process and site tables), LOSS
 * (deduplicated), EXIT, and CLOCK, whose anchors go out before the frame's
 * other events (format/FORMAT.md).
 */
#include "shlog_decode_state.h"
#include "names.h"

#include <stdio.h>

static int sec_category(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t key = get_varint(c), id = get_varint(c), len = get_varint(c);
    const uint8_t *name = len > 0 && len < SHMLOG_CATEGORY_NAME_BYTES ? get_bytes(c, len) : NULL;
    const struct shlog_proc *p = need_proc(r, key);
    if (c->bad || !name || !p || id < SHMLOG_CAT_USER || id >= SHMLOG_MAX_CATEGORIES)
        return shlog__frame_damaged(r, ev, "bad CATEGORY section");
    if (shm_category_name_len((const char *)name, len) != len)
        return shlog__frame_damaged(r, ev, "CATEGORY name is not [a-z0-9_]");
    ev_begin(r, ev, SHLOG_EV_CATEGORY);
    ev->proc = p;
    ev->category_id = (uint32_t)id;
    memcpy(ev->category_name, name, len);
    ev->category_name[len] = 0;
    return 1;
}

/* A name that breaks the rule (a writer other than ours) is shown with its
 * bad bytes as '?', as the collector shows a segment's: the frame's records stay. */
static int sec_thread(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t key = get_varint(c), tid = get_varint(c), len = get_varint(c);
    const uint8_t *name = len > 0 && len <= SHMLOG_THREAD_NAME_BYTES ? get_bytes(c, len) : NULL;
    const struct shlog_proc *p = need_proc(r, key);
    if (c->bad || !name || !p || tid == 0 || tid > UINT32_MAX)
        return shlog__frame_damaged(r, ev, "bad THREAD section");
    ev_begin(r, ev, SHLOG_EV_THREAD);
    ev->proc = p;
    ev->thread_tid = (uint32_t)tid;
    shmlog_thread_name_clean((const char *)name, len, ev->thread_name);
    return 1;
}

static int sec_process(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    struct shm_proc_info pi;
    memset(&pi, 0, sizeof(pi));
    uint64_t key = get_varint(c);
    uint64_t pid = get_varint(c), uid = get_varint(c);
    pi.proc_start = get_varint(c);
    pi.created_ns = get_varint(c);
    pi.tsc_hz = get_varint(c);
    pi.anchor_tsc = get_varint(c);
    pi.anchor_ns = get_varint(c);
    uint64_t app_len = get_varint(c);
    const uint8_t *app = app_len < SHMLOG_APP_BYTES ? get_bytes(c, app_len) : NULL;
    uint64_t host_len = get_varint(c);
    const uint8_t *host = host_len < SHMLOG_HOST_BYTES ? get_bytes(c, host_len) : NULL;
    /* Added to version 2: the process instance. Before it, the section
     * ends here (zeros: no instance); readers before it ignore it. */
    const uint8_t *instance = c->end - c->p >= (ptrdiff_t)sizeof(pi.instance) ? get_bytes(c, sizeof(pi.instance)) : NULL;
    if (instance)
        memcpy(pi.instance, instance, sizeof(pi.instance));
    if (c->bad || !app || !host || key > UINT32_MAX || pid > UINT32_MAX || uid > UINT32_MAX)
        return shlog__frame_damaged(r, ev, "bad PROCESS section");
    pi.pid = (uint32_t)pid;
    pi.uid = (uint32_t)uid;
    memcpy(pi.app, app, app_len);
    memcpy(pi.host, host, host_len);
    struct shlog_proc *p = need_proc(r, key);
    if (!p) {
        if (r->nprocs >= SHLOG_FILE_MAX_PROCS)
            return shlog__frame_damaged(r, ev, "more than %u processes", SHLOG_FILE_MAX_PROCS);
        p = calloc(1, sizeof(*p));
        if (!p || shlog__grow_array(&r->proc_v, &r->procs_cap, r->nprocs, sizeof(*r->proc_v)) ||
            shlog__map_insert(&r->procs, key, 0, (uint32_t)r->nprocs)) {
            free(p);
            return -ENOMEM;
        }
        r->proc_v[r->nprocs++] = p;
    }
    p->key = (uint32_t)key;
    p->info = pi;
    r->st.processes++;
    ev_begin(r, ev, SHLOG_EV_PROCESS);
    ev->proc = p;
    return 1;
}

/* The encoder counts a site as shlog_site_file_bytes: never less than this
 * reader does, so a file it writes is one this reader keeps. */
_Static_assert(sizeof(struct dec_site) + SHMLOG_MAX_ARGS_V6 * sizeof(struct num_ctx) + 4 <= SHLOG_FILE_SITE_HEAD_BYTES,
               "a site's head outgrew the encoder's count");
_Static_assert(sizeof(struct dec_site) + SHMLOG_MAX_ARGS * sizeof(struct num_ctx) + 4 <= 2 * SHLOG_FILE_SITE_HEAD_BYTES,
               "a site's head outgrew the encoder's count");

static int sec_site(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t proc = get_varint(c), id = get_varint(c), line = get_varint(c);
    uint8_t level = get_u8(c), category = get_u8(c), nargs = get_u8(c);
    const uint8_t *types = nargs <= SHMLOG_MAX_ARGS ? get_bytes(c, nargs) : NULL;
    uint64_t fmt_len = get_varint(c);
    const uint8_t *fmt = fmt_len <= SHMLOG_MAX_FMT_BYTES ? get_bytes(c, fmt_len) : NULL;
    uint64_t file_len = get_varint(c);
    const uint8_t *file = file_len <= SHMLOG_MAX_FILE_BYTES ? get_bytes(c, file_len) : NULL;
    /* Added to version 2: the function and the arguments' descriptor. A
     * section that ends before them has neither; readers before them ignore
     * them (the arguments render by their types). */
    uint64_t func_len = 0, desc_len = 0;
    const uint8_t *func = NULL, *desc = NULL;
    if (!c->bad && c->p < c->end) {
        func_len = get_varint(c);
        func = func_len <= SHMLOG_MAX_FUNC_BYTES ? get_bytes(c, func_len) : NULL;
        desc_len = get_varint(c);
        desc = desc_len <= SHMLOG_MAX_DESC_BYTES ? get_bytes(c, desc_len) : NULL;
        if (!func || !desc)
            c->bad = 1;
    }
    if (c->bad || !types || !fmt || !file || id > UINT32_MAX || line > UINT32_MAX)
        return shlog__frame_damaged(r, ev, "bad SITE section");
    for (unsigned i = 0; i < nargs; i++)
        if (!arg_type_valid(types[i]))
            return shlog__frame_damaged(r, ev, "SITE %llu has an unknown argument type %u",
                                 (unsigned long long)id, types[i]);
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return shlog__frame_damaged(r, ev, "SITE of an undefined process %llu", (unsigned long long)proc);
    uint32_t *idx = map_find(&r->sites, proc, id);
    size_t bytes = sizeof(struct dec_site) + nargs * sizeof(struct num_ctx) + fmt_len + file_len + func_len + desc_len + 4;
    if ((!idx && r->nsites >= SHLOG_FILE_MAX_SITES) || r->site_bytes + bytes > SHLOG_FILE_MAX_SITE_BYTES)
        return shlog__frame_damaged(r, ev, "site table over its bound");
    struct arg_plan plan;
    shlog__plan_site(&plan, nargs, types); /* nargs <= SHMLOG_MAX_ARGS, types valid: checked above */
    size_t units = plan_tables_within(&plan, r->table_units);
    size_t tables = site_tables_bytes(&plan);
    struct dec_site *s = calloc(1, bytes);
    void *mem = tables ? malloc(tables) : NULL;
    if (!s || (tables && !mem)) {
        free(s);
        free(mem);
        return -ENOMEM;
    }
    if (idx) {
        /* The old definition stays allocated until close: shlog_site
         * pointers returned before stay valid, as shlog_file.h promises.
         * Its tables go: no record is decoded against it again. */
        if (shlog__grow_array(&r->retired, &r->retired_cap, r->nretired, sizeof(*r->retired))) {
            free(s);
            free(mem);
            return -ENOMEM;
        }
        struct dec_site *old = r->site_v[*idx];
        if (old->keyed)
            r->table_units -= site_table_units(&old->plan);
        free(old->keyed);
        old->keyed = NULL;
        old->str = NULL;
        r->retired[r->nretired++] = old;
        r->site_v[*idx] = s;
        r->site_bytes += bytes;
    } else {
        if (shlog__grow_array(&r->site_v, &r->sites_cap, r->nsites, sizeof(*r->site_v)) ||
            shlog__map_insert(&r->sites, proc, id, (uint32_t)r->nsites)) {
            free(s);
            free(mem);
            return -ENOMEM;
        }
        r->site_v[r->nsites++] = s;
        r->site_bytes += bytes;
    }
    r->table_units += units;
    s->plan = plan;
    s->ctx = (struct num_ctx *)(s + 1);
    shlog__site_tables_init(&plan, mem, r->batch_gen - 1, s->ctx, &s->ctx_gen, &s->keyed, &s->str);
    char *strings = (char *)(s->ctx + nargs);
    s->pub.proc = (uint32_t)proc;
    s->pub.id = (uint32_t)id;
    s->pub.line = (uint32_t)line;
    s->pub.level = level;
    s->pub.category = category;
    s->pub.nargs = nargs;
    memcpy(s->pub.arg_types, types, nargs);
    s->pub.fmt_len = (uint32_t)fmt_len;
    s->pub.file_len = (uint32_t)file_len;
    s->pub.func_len = (uint32_t)func_len;
    s->pub.desc_len = (uint32_t)desc_len;
    s->pub.fmt = strings;
    s->pub.file = strings + fmt_len + 1;
    s->pub.func = s->pub.file + file_len + 1;
    s->pub.desc = s->pub.func + func_len + 1;
    memcpy(strings, fmt, fmt_len);
    memcpy(strings + fmt_len + 1, file, file_len);
    if (func_len)
        memcpy(strings + fmt_len + file_len + 2, func, func_len);
    if (desc_len)
        memcpy(strings + fmt_len + file_len + func_len + 3, desc, desc_len);
    r->b.cached = NULL;
    r->st.sites++;
    ev_begin(r, ev, SHLOG_EV_SITE);
    ev->proc = p;
    ev->site = &s->pub;
    ev->site_info = shlog__site_info(r, s);
    return 1;
}

/* Returns 1 with an event, 0 when the loss was seen before. */
static int sec_loss(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t proc = get_varint(c), cpu = get_varint(c);
    struct shm_loss l;
    l.first_pos = get_varint(c);
    l.positions = get_varint(c);
    l.records = get_varint(c);
    l.reason = get_u8(c);
    uint64_t total = get_varint(c);
    if (c->bad || cpu > UINT32_MAX || l.reason < SHM_LOSS_DROPPED || l.reason > SHM_LOSS_REASON_MAX ||
        l.reason == SHM_LOSS_UNREADABLE || l.reason == SHM_LOSS_UNDECODABLE) /* a reader's, never a writer's */
        return shlog__frame_damaged(r, ev, "bad LOSS section");
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return shlog__frame_damaged(r, ev, "LOSS of an undefined process %llu", (unsigned long long)proc);
    /* Counted by the producer: each counter has its own running total, the
     * process's (NO_RING, UNREGISTERED) under a key no cpu has. */
    int counted = l.reason == SHM_LOSS_DROPPED || l.reason == SHM_LOSS_NO_RING ||
                  l.reason == SHM_LOSS_UNREGISTERED;
    uint32_t key = l.reason == SHM_LOSS_DROPPED || !counted ? (uint32_t)cpu : UINT32_MAX - l.reason;
    struct dedup_ring *dd = shlog__dedup_ring(r->dedup, &p->info, key);
    if (counted) {
        if (dd) {
            l.records = total > dd->dropped_total ? total - dd->dropped_total : 0;
            if (total > dd->dropped_total)
                dd->dropped_total = total;
        }
        if (!l.records) {
            r->st.duplicates++;
            return 0;
        }
    } else if (l.positions && !dedup_claim(dd, l.first_pos, l.first_pos + l.positions)) {
        r->st.duplicates++;
        return 0;
    }
    r->st.lost_records[l.reason] += l.records;
    ev_begin(r, ev, SHLOG_EV_LOSS);
    ev->proc = p;
    ev->cpu = (uint32_t)cpu;
    ev->loss = l;
    ev->counter_total = total;
    return 1;
}

static int sec_exit(struct shlog_reader *r, struct cur *c, struct shlog_event *ev)
{
    uint64_t proc = get_varint(c);
    uint64_t exit_ns = get_varint(c), records = get_varint(c), lost = get_varint(c);
    /* Files before the field end the section here; a value from a later
     * version that this one does not know says nothing either. */
    uint64_t how = c->p < c->end ? get_varint(c) : SHLOG_EXIT_UNSAID;
    if (c->bad)
        return shlog__frame_damaged(r, ev, "bad EXIT section");
    const struct shlog_proc *p = need_proc(r, proc);
    if (!p)
        return shlog__frame_damaged(r, ev, "EXIT of an undefined process %llu", (unsigned long long)proc);
    r->st.exits++;
    ev_begin(r, ev, SHLOG_EV_EXIT);
    ev->proc = p;
    ev->exit_ns = exit_ns;
    ev->exit_records = records;
    ev->exit_lost = lost;
    ev->exit_how = how <= SHLOG_EXIT_DIED ? (enum shlog_exit_how)how : SHLOG_EXIT_UNSAID;
    return 1;
}

static enum shlog_tristate tristate_of(unsigned bits)
{
    return bits == 1 ? SHLOG_YES : bits == 2 ? SHLOG_NO : SHLOG_UNKNOWN;
}

/* Decodes the anchors of a CLOCK section's body at c (n of them) into
 * r->clock_anchors: how many are whole; a bad one ends them. */
static uint64_t clock_anchors(struct shlog_reader *r, struct cur *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        struct shm_clock_anchor *a = &r->clock_anchors[i];
        a->tsc = get_varint(c);
        a->ns = get_varint(c);
        uint64_t err = get_varint(c), flags = get_varint(c);
        if (c->bad || err > UINT32_MAX)
            return i;
        a->err_ns = (uint32_t)err;
        a->flags = (uint32_t)(flags & SHM_ANCHOR_STEPPED);
        a->offset_ns = 0;
    }
    /* Added to version 2 after BACKTRACE: the anchors' offsets of the wall
     * clock from CLOCK_MONOTONIC, when the section goes on. */
    if (c->p < c->end) {
        int64_t off[SHLOG_CLOCK_MAX_ANCHORS];
        for (uint64_t i = 0; i < n; i++)
            off[i] = unzigzag(get_varint(c));
        for (uint64_t i = 0; !c->bad && i < n; i++) {
            r->clock_anchors[i].offset_ns = off[i];
            r->clock_anchors[i].flags |= SHM_ANCHOR_OFFSET;
        }
    }
    return n;
}

/* A frame's anchors go out before its other events, so that a reader maps
 * every record of the frame between anchors taken around it. 1 with an
 * event, 0 when the frame has no anchor left. */
int shlog__clock_next(struct shlog_reader *r, struct shlog_event *ev)
{
    while (!r->clock_left) {
        if (r->clock_damaged) { /* after the whole anchors before it */
            r->clock_damaged = 0;
            r->clock_scan.p = r->clock_scan.end;
            return shlog__frame_damaged(r, ev, "bad CLOCK section");
        }
        if (r->clock_scan.p >= r->clock_scan.end)
            return 0;
        uint8_t type = get_u8(&r->clock_scan);
        uint64_t len = get_varint(&r->clock_scan);
        const uint8_t *body = get_bytes(&r->clock_scan, len);
        if (!body || r->clock_scan.bad || type == 0) {
            r->clock_scan.p = r->clock_scan.end; /* damage: the section pass reports it */
            return 0;
        }
        if (type != SHLOG_SEC_CLOCK)
            continue;
        struct cur c = {body, body + len, 0};
        struct shlog_clock_info ci;
        memset(&ci, 0, sizeof(ci));
        ci.hz_q16 = get_varint(&c);
        uint64_t state = get_varint(&c);
        ci.tsc_invariant = tristate_of(state & 3u);
        ci.synchronized = tristate_of(state >> 2 & 3u);
        ci.esterror_ns = get_varint(&c);
        uint64_t cs = get_varint(&c);
        const uint8_t *name = cs < sizeof(ci.clocksource) ? get_bytes(&c, cs) : NULL;
        uint64_t n = get_varint(&c);
        if (!name || c.bad || !n || n > SHLOG_CLOCK_MAX_ANCHORS) {
            r->clock_scan.p = r->clock_scan.end;
            return shlog__frame_damaged(r, ev, "bad CLOCK section");
        }
        for (uint64_t i = 0; i < cs; i++) /* a label and a line: printable only */
            ci.clocksource[i] = name[i] >= 0x21 && name[i] < 0x7f ? (char)name[i] : '_';
        uint64_t whole = clock_anchors(r, &c, n);
        r->clock = ci;
        r->clock_left = whole;
        r->clock_next = 0;
        r->clock_damaged = whole < n;
    }
    r->clock_left--;
    r->st.anchors++;
    ev_begin(r, ev, SHLOG_EV_CLOCK);
    ev->anchor = r->clock_anchors[r->clock_next++];
    ev->clock = r->clock;
    return 1;
}

int shlog__section_next(struct shlog_reader *r, struct shlog_event *ev)
{
    uint8_t type = get_u8(&r->sec);
    uint64_t len = get_varint(&r->sec);
    const uint8_t *body = get_bytes(&r->sec, len);
    if (!body)
        return shlog__frame_damaged(r, ev, "section runs past the end of the frame");
    struct cur c = {body, body + len, 0};
    if (r->skip_records && (type == SHLOG_SEC_BATCH || type == SHLOG_SEC_BACKTRACE))
        return 0;
    if (r->frame_light && (type == SHLOG_SEC_BATCH || type == SHLOG_SEC_BACKTRACE))
        return shlog__sec_times(r, &c, ev, type == SHLOG_SEC_BACKTRACE);
    switch (type) {
    case SHLOG_SEC_PROCESS: return sec_process(r, &c, ev);
    case SHLOG_SEC_SITE: return sec_site(r, &c, ev);
    case SHLOG_SEC_BATCH: return shlog__sec_batch(r, &c, ev);
    case SHLOG_SEC_BACKTRACE: return shlog__sec_backtrace(r, &c, ev);
    case SHLOG_SEC_LOSS: return sec_loss(r, &c, ev);
    case SHLOG_SEC_EXIT: return sec_exit(r, &c, ev);
    case SHLOG_SEC_CLOCK: return 0; /* returned before the frame's other sections */
    case SHLOG_SEC_CATEGORY: return sec_category(r, &c, ev);
    case SHLOG_SEC_THREAD: return sec_thread(r, &c, ev);
    /* No version writes it: zeros where sections should be, as in a frame
     * made only to cost a reader its decompression. */
    case 0: return shlog__frame_damaged(r, ev, "a section of type 0");
    default: return 0; /* a section of a later version: skipped */
    }
}
