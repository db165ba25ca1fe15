/*
 * read_lines.c - shmlog_read_lines(): the next events' lines, many a call.
 *
 * On several threads (shmlog_read_options.threads) the reader's thread
 * merges, and hands each run of entries the merge gave to a job (the
 * reader's ready buffer, taken whole); helper threads render the jobs'
 * lines; the reader's thread copies them out in the order of the entries.
 * The lines are those one thread writes, byte for byte: a job's zone and
 * repeats memo is its own.
 *
 * What a job's entries point to stays while it is in flight: processes and
 * thread names until the reader closes, and the sites' renderers, which the
 * engine keeps (retire_renderers) instead of freeing while jobs may render
 * with them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "read_jobs.h"
#include "read_lib.h"

/* A job's lines per round, at most: a job whose lines do not fit is rendered
 * in rounds, each copied out before the next, so that lines of up to
 * RENDER_LINE_MAX keep the memory bound. A run of ready entries (READY_MAX)
 * renders to less in the trading mix. */
#define LINES_OUT_CAP (2u << 20)
/* The renderers dropped that jobs in flight may use, at most, before those
 * jobs are taken back and the next are filled: files with many long call
 * sites keep the memory bound of one thread. */
#define LINES_RETIRED_MAX (16u << 20)
/* read_lines_view()'s lines on one thread: as many a call as shmlog-dump writes at once. */
#define LINES_TEXT_CAP (4u << 20)

struct lines_job {
    unsigned char *entries;    /* its entries at [from, to): the reader's ready buffer when taken whole */
    size_t entries_cap, from, to;
    size_t next;               /* the first entry not rendered yet */
    const struct render_site **sr; /* per entry: its renderer (records) */
    size_t entries_max, sr_next;   /* the room of sr and line_end; the next entry's renderer */
    char *out;                 /* this round's lines, LINES_OUT_CAP bytes */
    size_t out_len;
    uint32_t *line_end;        /* where each of this round's lines ends in out */
    size_t nlines, copied;     /* lines of this round, and those copied out */
    struct render_memo memo;
    int json;
    uint64_t serial;
};

struct read_lines {
    struct read_jobs q;
    struct lines_job *jobs;
    int json;                  /* the lines in flight are JSON */
    uint64_t serial;           /* jobs filled */
    /* The engine's retired renderers, in the order dropped: those before
     * upto may be used by jobs up to serial, and are freed once it is taken
     * back. A mark a fill at most: no more than the jobs in flight and one. */
    struct retire_mark {
        size_t upto;
        uint64_t serial;
    } *marks;
    size_t nmarks;
    int head_built;            /* the oldest job in flight was waited for: its lines are there */
};

/* Renders job slot's entries from where it stopped, as many as this round's out holds. */
static int lines_build(void *ctx, size_t slot)
{
    struct lines_job *j = &((struct read_lines *)ctx)->jobs[slot];
    j->out_len = 0;
    j->nlines = 0;
    j->copied = 0;
    while (j->next < j->to && LINES_OUT_CAP - j->out_len >= RENDER_LINE_MAX + 1) {
        const struct entry *e = (const struct entry *)(const void *)(j->entries + j->next);
        struct render_buf b;
        render_buf_init(&b, j->out + j->out_len, LINES_OUT_CAP - j->out_len - 1);
        b.memo = &j->memo;
        read_entry_render(j->sr[j->sr_next++], e, j->json, &b);
        j->out_len += b.len;
        j->line_end[j->nlines++] = (uint32_t)j->out_len;
        j->next += e->bytes;
    }
    return 0;
}

/* Room for n entries' renderers and line ends in j. 0, or -ENOMEM. */
static int job_room(struct lines_job *j, size_t n)
{
    if (n <= j->entries_max)
        return 0;
    size_t cap = j->entries_max ? 2 * j->entries_max : 4096;
    while (cap < n)
        cap *= 2;
    const struct render_site **sr = realloc(j->sr, cap * sizeof *sr);
    if (sr)
        j->sr = sr;
    uint32_t *ends = realloc(j->line_end, cap * sizeof *ends);
    if (ends)
        j->line_end = ends;
    if (!sr || !ends)
        return -ENOMEM;
    j->entries_max = cap;
    return 0;
}

#define FILL_LATER 2

/* Fills j with the entries ready now, up to the first error or note: 1,
 * or 0 when there is none (an error or note is next, or the end, or nothing
 * for now), FILL_LATER when the renderers the merge dropped are to be freed
 * first (the jobs in flight taken back), or -errno. */
static int lines_fill(struct shmlog_read *r, struct read_lines *l, struct lines_job *j)
{
    if (!read_peek(r))
        return r->failed;
    /* Before the next file's renderers are made for these entries: one file's at a time, as on one thread. */
    if (r->engine.retired_bytes > LINES_RETIRED_MAX && l->q.nflight)
        return FILL_LATER;
    size_t end = r->ready_off, n = 0;
    while (end < r->ready_len) {
        const struct entry *e = (const struct entry *)(const void *)(r->ready + end);
        if (e->kind == ENTRY_NOTE || e->kind == ENTRY_ERROR)
            break;
        const struct render_site *sr = NULL;
        if ((e->kind == ENTRY_RECORD || e->kind == ENTRY_BACKTRACE) && !(sr = prepared(&r->engine, e->site, e->proc)))
            return -ENOMEM;
        if (job_room(j, n + 1) != 0)
            return -ENOMEM;
        j->sr[n++] = sr;
        end += e->bytes;
    }
    if (n == 0)
        return 0;
    if (end == r->ready_len) {
        /* Every entry ready: the job takes the buffer, the reader the job's last one. */
        unsigned char *mem = j->entries;
        size_t cap = j->entries_cap;
        j->entries = r->ready;
        j->entries_cap = r->ready_cap;
        j->from = r->ready_off;
        r->ready = mem;
        r->ready_cap = cap;
        r->ready_off = r->ready_len = 0;
    } else {
        size_t bytes = end - r->ready_off;
        if (bytes > j->entries_cap) {
            unsigned char *mem = realloc(j->entries, bytes);
            if (!mem)
                return -ENOMEM;
            j->entries = mem;
            j->entries_cap = bytes;
        }
        memcpy(j->entries, r->ready + r->ready_off, bytes);
        j->from = 0;
        r->ready_off = end;
        end = bytes;
    }
    j->to = end;
    j->next = j->from;
    j->sr_next = 0;
    j->json = l->json;
    j->serial = ++l->serial;
    return 1;
}

/* The pipeline of r's lines: made on first use. NULL when out of memory. */
static void lines_free(struct shmlog_read *r);

static struct read_lines *lines_of(struct shmlog_read *r)
{
    if (r->lines)
        return r->lines;
    struct read_lines *l = calloc(1, sizeof *l);
    size_t njobs = r->threads + 2u; /* each thread's, the one being filled and one ready to copy */
    if (!l || !(l->jobs = calloc(njobs, sizeof *l->jobs)) || !(l->marks = calloc(njobs + 1, sizeof *l->marks)) ||
        read_jobs_init(&l->q, njobs, lines_build, l) != 0) {
        if (l) {
            free(l->jobs);
            free(l->marks);
        }
        free(l);
        return NULL;
    }
    for (size_t i = 0; i < njobs; i++) {
        l->jobs[i].memo = r->memo;
        if (!(l->jobs[i].out = malloc(LINES_OUT_CAP))) {
            r->lines = l;
            lines_free(r);
            return NULL;
        }
    }
    r->lines_free = lines_free;
    read_jobs_start(&l->q, r->threads - 1u); /* fewer: the reader's thread renders the rest */
    return r->lines = l;
}

/* Copies the lines of job j that fit cap - 1 - *used bytes of buf. The lines copied. */
static long copy_lines(struct lines_job *j, char *buf, size_t cap, size_t *used)
{
    size_t from = j->copied ? j->line_end[j->copied - 1] : 0;
    size_t k = j->copied;
    while (k < j->nlines && j->line_end[k] - from <= cap - 1 - *used)
        k++;
    size_t n = (k ? j->line_end[k - 1] : 0) - from;
    memcpy(buf + *used, j->out + from, n);
    *used += n;
    long lines = (long)(k - j->copied);
    j->copied = k;
    return lines;
}

/* Notes the renderers the engine dropped since the last note: any job filled so far may use them. */
static void retire_note(struct shmlog_read *r, struct read_lines *l)
{
    size_t noted = l->nmarks ? l->marks[l->nmarks - 1].upto : 0;
    if (r->engine.nretired == noted)
        return;
    if (l->nmarks && l->marks[l->nmarks - 1].serial == l->serial)
        l->marks[l->nmarks - 1].upto = r->engine.nretired;
    else
        l->marks[l->nmarks++] = (struct retire_mark){r->engine.nretired, l->serial};
}

/* Frees every renderer dropped: no job is in flight. */
static void retire_all(struct shmlog_read *r, struct read_lines *l)
{
    read_retired_free(&r->engine);
    l->nmarks = 0;
}

/* Frees the renderers that no job in flight may use: those dropped before job serial was filled or with it. */
static void retire_after(struct shmlog_read *r, struct read_lines *l, uint64_t serial)
{
    size_t done = 0;
    while (done < l->nmarks && l->marks[done].serial <= serial)
        done++;
    if (!done)
        return;
    size_t n = l->marks[done - 1].upto;
    read_retired_free_first(&r->engine, n);
    l->nmarks -= done;
    memmove(l->marks, l->marks + done, l->nmarks * sizeof *l->marks);
    for (size_t i = 0; i < l->nmarks; i++)
        l->marks[i].upto -= n;
}

/* The oldest job in flight, built, with lines of its round not yet taken, once the free slots are filled (until
 * the next entry is an error or a note, or the end: *more 0 from then on); a job whose lines were all taken is
 * built again for its next round, or let go. NULL when no job is in flight, or with -errno in *rc. */
static struct lines_job *lines_head(struct shmlog_read *r, struct read_lines *l, int *more, int *rc)
{
    for (;;) {
        if (l->q.nflight == 0)
            retire_all(r, l);
        size_t slot;
        while (*more && (slot = read_jobs_free_slot(&l->q)) < l->q.njobs) {
            int f = lines_fill(r, l, &l->jobs[slot]);
            retire_note(r, l); /* its merge steps and its entries' renderers may drop some */
            if (f == FILL_LATER)
                break;
            if (f <= 0) {
                *rc = f;
                *more = 0;
                break;
            }
            read_jobs_push(&l->q);
        }
        if (*rc || l->q.nflight == 0)
            return NULL;
        size_t head = l->q.head;
        struct lines_job *j = &l->jobs[head];
        if (!l->head_built) {
            read_jobs_wait(&l->q, head);
            l->head_built = 1;
        }
        if (j->copied < j->nlines)
            return j;
        l->head_built = 0;
        if (j->next < j->to) {
            read_jobs_requeue(&l->q, head);
            continue;
        }
        read_jobs_pop(&l->q);
        retire_after(r, l, j->serial);
    }
}

/* The lines' pipeline for a call of json lines; NULL with the call's return value in *rc. */
static struct read_lines *lines_begin(struct shmlog_read *r, int json, long *rc)
{
    struct read_lines *l = lines_of(r);
    *rc = l ? 0 : read_fail(r, -ENOMEM);
    if (l && l->q.nflight && json != l->json) {
        *rc = -EINVAL;
        return NULL;
    }
    if (l) {
        l->json = json;
        r->engine.retire_renderers = 1;
    }
    return l;
}

/* After a call: what waits for the next, and the renderers no job holds let go. The call's return value. */
static long lines_end(struct shmlog_read *r, struct read_lines *l, int rc, long lines)
{
    r->lines_ahead = l->q.nflight;
    if (l->q.nflight == 0) {
        retire_all(r, l);
        r->engine.retire_renderers = 0;
    }
    if (rc)
        read_fail(r, rc);
    return r->failed ? r->failed : lines;
}

static long lines_threaded(struct shmlog_read *r, int json, char *buf, size_t cap, size_t *len)
{
    long lines;
    struct read_lines *l = lines_begin(r, json, &lines);
    if (!l)
        return lines;
    size_t used = 0;
    int more = 1, rc = 0;
    struct lines_job *j;
    while ((j = lines_head(r, l, &more, &rc)) != NULL) {
        lines += copy_lines(j, buf, cap, &used);
        if (j->copied < j->nlines)
            break; /* buf is full */
    }
    buf[used] = '\0';
    *len = used;
    return lines_end(r, l, rc, lines);
}

long read_lines_view(struct shmlog_read *r, int json, const char **text, size_t *len)
{
    *text = "";
    *len = 0;
    if (r->threads <= 1) {
        if (!r->lines_text && !(r->lines_text = malloc(LINES_TEXT_CAP)))
            return read_fail(r, -ENOMEM);
        *text = r->lines_text;
        return shmlog_read_lines(r, json, r->lines_text, LINES_TEXT_CAP, len);
    }
    if (r->streaming)
        return -EBUSY;
    r->cur = NULL;
    long lines;
    struct read_lines *l = lines_begin(r, json, &lines);
    if (!l)
        return lines;
    int more = 1, rc = 0;
    struct lines_job *j = lines_head(r, l, &more, &rc);
    if (j) {
        size_t from = j->copied ? j->line_end[j->copied - 1] : 0;
        *text = j->out + from;
        *len = j->line_end[j->nlines - 1] - from;
        lines = (long)(j->nlines - j->copied);
        j->copied = j->nlines;
    }
    return lines_end(r, l, rc, lines);
}

static void lines_free(struct shmlog_read *r)
{
    struct read_lines *l = r->lines;
    if (!l)
        return;
    size_t njobs = l->q.njobs; /* read_jobs_free() clears it */
    read_jobs_free(&l->q);
    for (size_t i = 0; i < njobs; i++) {
        free(l->jobs[i].entries);
        free(l->jobs[i].sr);
        free(l->jobs[i].out);
        free(l->jobs[i].line_end);
    }
    free(l->jobs);
    free(l->marks);
    free(l);
    r->lines = NULL;
    r->lines_ahead = 0;
    r->engine.retire_renderers = 0;
    read_retired_free(&r->engine);
}

long shmlog_read_lines(struct shmlog_read *r, int json, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    if (cap < RENDER_LINE_MAX + 1)
        return -EINVAL;
    if (r->streaming)
        return -EBUSY;
    r->cur = NULL;
    if (r->threads > 1)
        return lines_threaded(r, json, buf, cap, len);
    size_t used = 0;
    long lines = 0;
    while (cap - used >= RENDER_LINE_MAX + 1) {
        const struct entry *e = read_peek(r);
        if (!e || e->kind == ENTRY_NOTE || e->kind == ENTRY_ERROR)
            break;
        struct render_buf b;
        render_buf_init(&b, buf + used, cap - used - 1);
        b.memo = &r->memo;
        if (read_entry_line(&r->engine, e, json, &b) != 0) {
            read_fail(r, -ENOMEM);
            break;
        }
        used += b.len;
        r->ready_off += e->bytes;
        lines++;
    }
    buf[used] = '\0';
    *len = used;
    return r->failed ? r->failed : lines;
}
