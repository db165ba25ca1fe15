/* dump_verify.c - shmlog-dump verify: ring positions that follow each other, and a summary line per file. */
#include <stdio.h>
#include <stdlib.h>

#include "dump_files.h"

/* A PAD at the end of the ring: the next record then starts the ring over. */
void verify_position(struct source *s, struct dring *r, uint64_t covered_from, uint64_t pos, uint64_t next)
{
    if (r->has_expected && covered_from <= r->expected && pos >= r->expected)
        pos = r->expected; /* what lies between, its batch passed over on purpose */
    if (r->has_expected && pos != r->expected) {
        int pad = pos > r->expected && pos - r->expected < SHMLOG_MAX_SLOTS && pos % SHMLOG_RING_MIN_RECORDS == 0;
        if (!pad) {
            struct in_file *f = s->cur_file;
            f->gaps++;
            f->gap_positions += pos > r->expected ? pos - r->expected : 0;
            char msg[4096 + 300];
            snprintf(msg, sizeof msg,
                     "%s: %s[%u] cpu%u: ring positions %llu..%llu are missing and no loss marker explains them",
                     f->path, r->proc->info.app, r->proc->info.pid, r->cpu, (unsigned long long)r->expected,
                     (unsigned long long)pos - 1);
            if (pos < r->expected)
                snprintf(msg, sizeof msg, "%s: %s[%u] cpu%u: ring position %llu after %llu (out of order)",
                         f->path, r->proc->info.app, r->proc->info.pid, r->cpu, (unsigned long long)pos,
                         (unsigned long long)r->expected);
            note_error(msg);
        }
    }
    r->expected = next;
    r->has_expected = 1;
}

int cmd_verify(struct cli *cli)
{
    begin(cli, MODE_VERIFY);
    struct in_list l = {0};
    if (collect_inputs(cli, &l) != 0)
        oom();
    size_t nsrc;
    struct source *srcs = make_sources(&l, &nsrc);
    int whole_all = running->status == 0;
    for (size_t i = 0; i < nsrc; i++) {
        struct source *s = &srcs[i];
        size_t reported = 0;
        while (!s->done || reported < s->next) {
            if (!s->done)
                source_step(s);
            /* Files before the open one are finished: their summaries. */
            size_t finished = s->rd ? s->next - 1 : s->next;
            for (; reported < finished; reported++) {
                const struct in_file *f = &s->files[reported];
                int whole = !f->errors && !f->gaps && !f->bad_header;
                whole_all &= whole;
                struct render_buf b = out_begin();
                put_text_safe(&b, f->path);
                char line[512];
                if (f->bad_header)
                    snprintf(line, sizeof line, ": BAD: %s\n", f->error);
                else if (whole)
                    snprintf(line, sizeof line, ": ok: %llu frames, %llu records, %llu bytes\n",
                             (unsigned long long)f->frames, (unsigned long long)f->records,
                             (unsigned long long)f->bytes);
                else
                    snprintf(line, sizeof line,
                             ": DAMAGED: %llu frame errors%s, %llu unexplained position gaps (%llu positions); "
                             "%llu good frames, %llu records%s\n",
                             (unsigned long long)(f->errors - f->torn), f->torn ? ", torn tail" : "",
                             (unsigned long long)f->gaps, (unsigned long long)f->gap_positions,
                             (unsigned long long)f->frames, (unsigned long long)f->records,
                             f->part && f->writer_alive ? " (still being written)" : "");
                render_buf_puts(&b, line);
                out_end(&b);
                out_push();
            }
        }
    }
    free_sources(srcs, nsrc);
    free(l.v);
    return whole_all && running->status == 0 ? 0 : 1;
}
