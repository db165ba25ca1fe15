/* dump_verify.c - shmlog-dump verify: a consumer of the reader's engine that checks that ring positions follow each other, and a summary line per file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dump.h"
#include "read_engine.h"

/* What verify keeps of a ring (dring.user). */
struct ring_check {
    uint64_t expected; /* the next ring position */
};

/* What verify counts of a file, for its summary line. */
struct file_check {
    uint64_t records, gaps, gap_positions, errors, frames;
    int torn;
};

/* The consumer's state: a file_check per input, as the sources' files point into the list. */
struct verify {
    const struct in_list *inputs;
    struct file_check *files;
};

static struct file_check *file_check_of(struct verify *v, const struct source *s)
{
    return &v->files[s->cur_file - v->inputs->v];
}

/* Ring positions follow each other, but for PAD slots at the end of the
 * ring, losses, and positions the batch says it passed over (from
 * covered_from). */
static int verify_position(struct verify *v, struct source *s, struct dring *r, uint64_t covered_from, uint64_t pos,
                           uint64_t next)
{
    struct ring_check *c = r->user;
    if (c && covered_from <= c->expected && pos >= c->expected)
        pos = c->expected; /* what lies between, its batch passed over on purpose */
    /* A PAD at the end of the ring: the next record then starts the ring over. */
    if (c && pos != c->expected) {
        int pad = pos > c->expected && pos - c->expected < SHMLOG_MAX_SLOTS && pos % SHMLOG_RING_MIN_RECORDS == 0;
        if (!pad) {
            const struct in_file *f = s->cur_file;
            struct file_check *fc = file_check_of(v, s);
            fc->gaps++;
            fc->gap_positions += pos > c->expected ? pos - c->expected : 0;
            char msg[4096 + 300];
            snprintf(msg, sizeof msg,
                     "%s: %s[%u] cpu%u: ring positions %llu..%llu are missing and no loss marker explains them",
                     f->path, r->proc->info.app, r->proc->info.pid, r->cpu, (unsigned long long)c->expected,
                     (unsigned long long)pos - 1);
            if (pos < c->expected)
                snprintf(msg, sizeof msg, "%s: %s[%u] cpu%u: ring position %llu after %llu (out of order)",
                         f->path, r->proc->info.app, r->proc->info.pid, r->cpu, (unsigned long long)pos,
                         (unsigned long long)c->expected);
            dump_say(msg, 0);
        }
    }
    if (!c && !(c = r->user = malloc(sizeof *c)))
        return -ENOMEM;
    c->expected = next;
    return 0;
}

/* Every record and loss as decoded, before the filters. */
static int verify_decoded(void *clientd, struct source *s, struct dring *r, const struct shlog_event *ev)
{
    struct verify *v = clientd;
    if (ev->kind == SHLOG_EV_LOSS)
        /* a backtrace's positions are its ring's, passed over before */
        return ev->loss.positions && !ev->backtrace
                   ? verify_position(v, s, r, ev->loss.first_pos, ev->loss.first_pos,
                                     ev->loss.first_pos + ev->loss.positions)
                   : 0;
    file_check_of(v, s)->records++;
    if (ev->backtrace)
        return 0;
    return verify_position(v, s, r, ev->covered_from, ev->rec->pos, ev->rec->pos + ev->rec->nslots);
}

static void verify_damage(void *clientd, struct source *s, int torn)
{
    struct file_check *fc = file_check_of(clientd, s);
    fc->errors++;
    fc->torn |= torn;
}

static void verify_file_closed(void *clientd, struct source *s, const struct shlog_reader_stats *st)
{
    file_check_of(clientd, s)->frames = st->frames;
}

static void verify_message(void *clientd, const char *msg, int note)
{
    (void)clientd;
    dump_say(msg, note);
}

/* The summary line of a file read to its end. Returns whether it was whole. */
static int summary(const struct in_file *f, const struct file_check *fc)
{
    int whole = !fc->errors && !fc->gaps && !f->bad_header;
    struct render_buf b = out_begin();
    put_text_safe(&b, f->path);
    char line[512];
    if (f->bad_header)
        snprintf(line, sizeof line, ": BAD: %s\n", f->error);
    else if (whole)
        snprintf(line, sizeof line, ": ok: %llu frames, %llu records, %llu bytes\n", (unsigned long long)fc->frames,
                 (unsigned long long)fc->records, (unsigned long long)f->bytes);
    else
        snprintf(line, sizeof line,
                 ": DAMAGED: %llu frame errors%s, %llu unexplained position gaps (%llu positions); "
                 "%llu good frames, %llu records%s\n",
                 (unsigned long long)(fc->errors - (uint64_t)fc->torn), fc->torn ? ", torn tail" : "",
                 (unsigned long long)fc->gaps, (unsigned long long)fc->gap_positions, (unsigned long long)fc->frames,
                 (unsigned long long)fc->records,
                 f->part && f->writer_alive ? " (still being written)" : "");
    render_buf_puts(&b, line);
    out_end(&b);
    out_push();
    return whole;
}

int cmd_verify(struct cli *cli)
{
    struct in_list l = {0};
    struct verify v = {.inputs = &l};
    const struct read_consumer c = {.clientd = &v,
                                    .decoded = verify_decoded,
                                    .damage = verify_damage,
                                    .file_closed = verify_file_closed,
                                    .message = verify_message};
    struct read_engine e;
    if (read_engine_init(&e, NULL, &c) != 0)
        dump_oom();
    e.strict = 1;
    if (collect_inputs(&e, cli, &l, NULL) != 0 || !(v.files = calloc(l.n ? l.n : 1, sizeof *v.files)))
        dump_oom();
    size_t nsrc;
    struct source *srcs;
    if (read_make_sources(&e, &l, &srcs, &nsrc) != 0)
        dump_oom();
    int whole_all = e.status == 0;
    for (size_t i = 0; i < nsrc; i++) {
        struct source *s = &srcs[i];
        size_t reported = 0;
        while (!s->done || reported < s->next) {
            if (!s->done && read_source_step(&e, s) < 0)
                dump_oom();
            /* Files before the open one are finished: their summaries. */
            size_t finished = s->rd ? s->next - 1 : s->next;
            for (; reported < finished; reported++)
                whole_all &= summary(&s->files[reported], &v.files[&s->files[reported] - l.v]);
        }
    }
    read_free_sources(&e, srcs, nsrc);
    read_engine_free(&e);
    free(v.files);
    free(l.v);
    return whole_all && e.status == 0 ? 0 : 1;
}
