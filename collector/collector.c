/*
 * collector.c - shmlog-collector's main: the setup (signals, metrics threads,
 * cpus, output directory, io_uring, clock anchors, memory) and the loop, which
 * finds segments, drains every ring, writes frames and paces its passes.
 * collector.h says how the other files of the program share the work.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backtrace.h"
#include "bells.h"
#include "drain.h"
#include "frame.h"
#include "losses.h"
#include "metrics.h"
#include "observe.h"
#include "options.h"
#include "output.h"
#include "procs.h"
#include "scan.h"
#include "writer.h"

#define WARM_HEAP_BYTES (16u << 20) /* heap faulted in at start: see prepare_memory */
#define WARM_UP_RECORDS 32768u      /* a frame's worth: see prepare_memory */
/* The order the files promise readers (FORMAT.md, Order). */
_Static_assert(RESCAN_NS + FRAME_MAX_AGE_NS < SHLOG_ORDER_WINDOW_NS, "a new ring's first records must not come too late");
_Static_assert(MAX_DELAY_MS_MAX * 1000000ull + FRAME_MAX_AGE_NS < SHLOG_ORDER_WINDOW_NS,
               "a ring held for --max-delay-ms must not come too late");
#define LIVENESS_NS 10000000ull
#define ALIVE_CHECK_NS 100000000ull /* how often a process's lock is asked */
#define NOTIFY_NS 2000000ull

/* The program's state: only this file names it; the others get it as an argument. */
static struct collector_state col;
static struct options options; /* col.opt: the shm_accept in it points into it */

/* ==== Signals ==== */

volatile sig_atomic_t got_term, got_hup;

static void on_term(int sig) { (void)sig; got_term = 1; }
static void on_hup(int sig) { (void)sig; got_hup = 1; }

/* ==== Setup ==== */

/* The drain loop must not fault: a page fault takes microseconds, in which a
 * producer at full rate fills a good part of its ring (bench/compare.sh
 * --workloads args3_str40 loses records to the first frames' faults without
 * this). glibc
 * would hand frame buffers and compression workspaces back to the kernel
 * when freed (mmap above 128 KiB, heap trimming) and fault them in again on
 * the next frame or file; kept, they are reused. Buffers still grow past
 * what they had (the columns and frames of longer records, more frames in
 * flight), so the heap is faulted in first, WARM_HEAP_BYTES of it (more than
 * the collector's peak under the benchmarks), and freed:
 * growth is carved from pages already there. Then one throwaway frame of the
 * size real frames have makes zstd allocate and touch its workspace now,
 * before the first producer, instead of at its first frame (and the freed
 * memory serves every encoder after: rotations too). */
static void prepare_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    void *heap = malloc(WARM_HEAP_BYTES);
    if (heap) {
        shm_prefault(heap, WARM_HEAP_BYTES, 1);
        free(heap);
    }
    struct shlog_enc *enc;
    if (shlog_enc_new(&enc, col.opt->zstd_level) != 0)
        return;
    struct shm_proc_info pi = {.app = "warm-up", .tsc_hz = 1000000000};
    static struct shm_copied_record rec;
    int rc = shlog_enc_process(enc, 0, &pi);
    rc = rc ? rc : shlog_enc_batch_begin(enc, 0, 0);
    for (uint64_t i = 0; !rc && i < WARM_UP_RECORDS; i++) {
        rec = (struct shm_copied_record){.pos = i, .tsc = i * 37, .nslots = 1, .payload_len = SHMLOG_HEAD_PAYLOAD};
        memcpy(rec.payload, &rec.tsc, sizeof rec.tsc); /* something to compress, not all zeros */
        rc = shlog_enc_record(enc, &rec);
        if (rc == -ENOSPC) { /* a full batch: the next one */
            rc = shlog_enc_batch_end(enc);
            rc = rc ? rc : shlog_enc_batch_begin(enc, 0, 0);
            rc = rc ? rc : shlog_enc_record(enc, &rec);
        }
    }
    rc = rc ? rc : shlog_enc_batch_end(enc);
    size_t cap = shlog_enc_frame_bound(enc);
    void *buf = rc ? NULL : malloc(cap);
    if (buf)
        shlog_enc_frame(enc, buf, cap);
    free(buf);
    shlog_enc_free(enc);
}

/* ==== Pacing ==== */

/* When a pass last moved, and how long a sixteenth of the smallest ring took
 * to fill at the rate seen then (0: not known): a ring read up to its
 * published point moves a sixteenth at a time, so the pass after one that
 * caught up finds nothing new until the next sixteenth is due. */
static struct {
    uint64_t moved_ns, sixteenth_ns;
} pace;

/* How long the next pass waits after one that moved `moved` positions in
 * `elapsed` ns, at `now`: about a sixteenth of the smallest ring each pass, up
 * to longest_wait_ns. A pass that found nothing waits for the next sixteenth
 * at the rate last seen, not the longest wait, or a stream could fill a ring
 * further between passes than a ring read by its head would be filled
 * (bench/compare.sh's zero-loss search shows it). A pass reads a ring's
 * progress line, which costs its producer nothing, but a version 2 ring's
 * producer line, which costs its producer a cross-core transfer per pass
 * (pass_bound in drain.c); the spacing also keeps an idle collector off its
 * cpu. */
static uint64_t pass_wait_ns(uint64_t moved, uint64_t elapsed, uint64_t smallest, uint64_t now)
{
    uint64_t longest = col.opt->have_cpus || col.opt->busy_poll ? longest_wait_ns(smallest) : SHARED_NAP_MAX_NS;
    uint64_t target = smallest / 16;
    if (!moved) { /* also when there is no ring */
        if (!pace.sixteenth_ns || now - pace.moved_ns >= longest)
            return longest;
        uint64_t due = pace.moved_ns + pace.sixteenth_ns;
        uint64_t wait = due > now ? due - now : longest / 64; /* overdue: look again soon */
        return wait < longest ? wait : longest;
    }
    uint64_t window = pace.moved_ns && now - pace.moved_ns < longest ? now - pace.moved_ns : elapsed;
    pace.moved_ns = now;
    pace.sixteenth_ns = (uint64_t)((unsigned __int128)target * window / moved);
    if (moved >= target)
        return 0;
    /* At the rate just seen, target records take target * elapsed / moved. */
    uint64_t wait = (uint64_t)((unsigned __int128)target * elapsed / moved);
    wait = wait > elapsed ? wait - elapsed : 0;
    return wait < longest ? wait : longest;
}

/* ==== What the writer finished: the one point it takes effect ==== */

/* A file no longer written closes. If it was deleted meanwhile, what it held
 * is lost: counted in the file written now (there is one but at the very end
 * of the shutdown, which looks before its last close). */
static void file_close_end(struct outfile *f)
{
    if (!f->removed)
        f->removed = outfile_removed(f);
    if (f->removed && col.cur)
        lose_removed_file(&col, f);
    else if (f->removed)
        shm_warn(PROG, "%s was deleted as it closed: the records written into it are lost (no later file counts them)",
              f->part_path);
    outfile_close(col.output, f);
}

/* A closing file's last frame and its footer are done: with --fsync rotate
 * or batch it is synced by the writer (off this thread: a file of up to
 * --rotate-size) and closed once that completes; else closed now. */
static void file_close_begin(struct outfile *f)
{
    if (f->fd >= 0 && col.opt->fsync != FSYNC_NEVER && writer_sync_file(col.writer, f) == 0)
        return;
    if (f->fd >= 0 && col.opt->fsync != FSYNC_NEVER && fsync(f->fd) != 0)
        f->sync_err = errno;
    file_close_end(f);
}

/* Applies, in submission order, what the frames the writer finished made
 * durable: ring space released, processes whose EXIT is on disk ended, files
 * whose last frame is done closed. Only here, between passes, so no walk of
 * the processes or files ever sees one freed under it. */
static void apply_completed(void)
{
    struct frame *f;
    while ((f = writer_take_done(col.writer))) {
        for (size_t i = 0; i < f->nrel; i++)
            ring_release(f->rel[i].ring, f->rel[i].pos);
        for (size_t i = 0; i < f->nexits; i++) {
            for (struct ring *r = f->exits[i]->rings; r; r = r->next)
                backtrace_free(&col, r);
            proc_finalize(&col, f->exits[i]);
        }
        if (f->nexits && f->len)
            exits_note_done(col.output);
        struct outfile *file = f->file;
        if (file && --file->inflight == 0 && file->closing)
            file_close_begin(file);
        free(f->buf);
        free(f->rel);
        free(f->exits);
        free(f);
    }
    struct outfile *file;
    while ((file = writer_take_synced(col.writer)))
        file_close_end(file);
}

/* Flushes the frame being built, waiting for the output (the shutdown). */
static void flush_wait(void)
{
    while (!flush_frame(&col)) {
        wait_output(col.writer, got_term);
        apply_completed();
    }
}

/* Everything given to the writer taken back and applied (the shutdown). */
static void writer_drain(void)
{
    while (writer_busy(col.writer)) {
        wait_output(col.writer, got_term);
        apply_completed();
    }
}

/* ==== Processes: liveness, backtrace requests, exits ==== */

/* A backtrace request of p's is answered in order: what the process logged
 * before it asked is kept first, its rings read to their heads, not to the
 * points they published. */
static void answer_backtrace(struct proc *p)
{
    uint64_t order_tsc;
    if (!backtrace_requested(&col, p, !frame_full(&col) && !col.rotate_soon, &order_tsc))
        return;
    for (struct ring *r = p->rings; r; r = r->next)
        drain_ring(&col, r, DRAIN_BUDGET, 0);
    backtrace_flush(&col, p, order_tsc);
}

/* Marks producers that exited or shut down: their meta's lock is free. Each
 * process is looked at every ALIVE_CHECK_NS (all: now), each at its own
 * moment, so that hundreds of them cost an idle collector little: its lock,
 * its loss counters and its backtrace requests. */
static void check_liveness(int all)
{
    uint64_t now = shm_mono_ns();
    for (struct proc *p = col.procs; p; p = p->next) {
        if (!proc_liveness_due(p, now, all ? 0 : ALIVE_CHECK_NS))
            continue;
        proc_losses(&col, p);
        answer_backtrace(p);
        if (!shm_meta_alive(&p->meta))
            proc_mark_gone(&col, p);
    }
}

/* Whether gone process p may get its EXIT: a listing of its directory begun
 * after it was seen gone has completed, and found no ring naming it that
 * could not be opened for now. Before, a ring it made after the last listing
 * could be left behind, unread, its records never counted. */
static int rings_settled(const struct proc *p)
{
    uint64_t done = listings_done(col.scan, p->dir);
    return done > p->gone_listing && p->ring_unsettled != done;
}

/* Drains gone p's rings to their ends into the frame being built: 1, 0
 * when the frame filled (the loop writes it, and the rest waits for a later
 * call), or -1 when its owner's sites took what a pass gives one owner (the
 * rest waits for a later pass). Processes end only where the loop takes the
 * writer's completions, so nothing here frees one. */
static int drain_to_end(struct proc *p)
{
    if (!file_takes_process(&col, p)) {
        frame_flush_soon(&col);
        return 0;
    }
    for (struct ring *r = p->rings; r; r = r->next) {
        for (;;) {
            if (frame_full(&col) || col.rotate_soon) {
                frame_flush_soon(&col);
                return 0;
            }
            if (owner_pass_spent(p))
                return -1;
            if (drain_ring(&col, r, DRAIN_BUDGET, 0) == 0) /* a broken ring: at once */
                break;
        }
        if (r->quarantined) /* what its writers added after it was abandoned */
            lose_abandoned(&col, r);
    }
    return 1;
}

/* A gone producer: its rings drained to the end (uncommitted slots become
 * losses), then an EXIT section; the segments go once that frame is on disk
 * (apply_completed). */
static void finish_gone(void)
{
    for (struct proc *p = col.procs; p; p = p->next)
        if (p->gone && !p->exit_queued && !rings_settled(p))
            scan_soon(col.scan, p->dir); /* a listing after the deaths seen so far */
    for (struct proc *p = col.procs; p; p = p->next) {
        if (!p->gone || p->exit_queued || !rings_settled(p))
            continue;
        int drained = drain_to_end(p);
        if (drained < 0)
            continue;
        if (!drained)
            break;
        proc_losses(&col, p);
        check_enc(end_batch(&col), "a batch");
        if (!exit_written_before(col.output, &p->info)) /* else the segments only go */
            check_enc(write_exit(&col, p, proc_exit_how(p)), "an exit");
        note_exit(p);
        p->exit_queued = 1;
        mark_content(&col);
        frame_flush_soon(&col);
    }
}

/* ==== Rotation ==== */

/* Closes the current file (once its frames are done) and starts a new one.
 * 0 when the frame being built could not go to the old file yet: nothing
 * changed, the caller tries again. */
static int rotate(void)
{
    if (!flush_frame(&col))
        return 0;
    struct outfile *old = col.cur;
    if (old->fd < 0)
        return 1; /* nothing written yet: keep it */
    struct outfile *nf = outfile_new(col.output);
    if (!nf) {
        shm_warn(PROG, "out of memory");
        exit(1);
    }
    col.cur = nf;
    col.rotations++;
    note_rotated(&col);
    footer_enqueue(&col, old);
    old->closing = 1;
    if (old->inflight == 0)
        file_close_begin(old);
    return 1;
}

static void maybe_rotate(int hup)
{
    static int pending; /* a SIGHUP that found the output busy, or no file made yet */
    struct outfile *f = col.cur;
    pending |= hup;
    if (f->fd < 0) {
        /* No file yet: a SIGHUP has nothing to close, unless records wait
         * for a file that cannot be made now; that file is closed once
         * they are in it. */
        if (!col.build_first_ns)
            pending = 0;
        return;
    }
    if ((pending || col.rotate_soon || f->removed || (col.opt->rotate_bytes && f->size >= col.opt->rotate_bytes) ||
         (col.opt->rotate_ns && shm_mono_ns() - f->opened_ns >= col.opt->rotate_ns)) && rotate())
        pending = 0;
}

/* ==== Shutdown ==== */

/* Drains every ring to what is committed now, writes it all, closes the file. */
static void shutdown_all(void)
{
    check_liveness(1);
    scan_all(col.scan); /* every ring of the processes gone so far */
    finish_gone();
    /* Up to the heads seen now: producers that keep logging do not keep us. */
    for (struct proc *p = col.procs; p; p = p->next)
        for (struct ring *r = p->rings; r; r = r->next)
            r->stop_at = ring_head_now(r);
    for (;;) {
        uint64_t moved = 0;
        charges_new_pass(); /* the last drain: no one waits for others now */
        for (struct proc *p = col.procs; p; p = p->next)
            for (struct ring *r = p->rings; r; r = r->next)
                if (r->read_pos < r->stop_at)
                    moved += drain_ring(&col, r, DRAIN_BUDGET, 0);
        if (col.flush_soon)
            flush_wait();
        /* A file's definitions near what readers keep: the rings its
         * processes could not enter wait for this new file. */
        int rotated = col.rotate_soon;
        if (rotated) {
            flush_wait();
            rotate();
            finish_gone();
        }
        reap(col.writer, 0, 0);
        apply_completed();
        if (!moved && !rotated)
            break;
    }
    flush_wait();
    writer_drain();
    if (outfile_removed(col.cur)) { /* its loss counted in a file that is there */
        col.cur->removed = 1;
        rotate();
        writer_drain(); /* the deleted file closes: its loss goes into the frame being built */
        flush_wait();
        writer_drain();
    }
    struct outfile *f = col.cur;
    col.cur = NULL;
    footer_enqueue(&col, f);
    f->closing = 1;
    if (f->inflight == 0)
        file_close_begin(f);
    writer_drain();
    for (struct proc *p = col.procs; p; p = p->next)
        for (struct ring *r = p->rings; r; r = r->next)
            ring_unclaim(r);
}

/* ==== Descriptors ==== */

/* One descriptor per process (its meta's): the soft limit a service gets
 * (1024) would hold the collector to a thousand processes, so it takes the
 * hard one; processes past it wait (procs.c keeps FD_HEADROOM free). */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            shm_warn(PROG, "cannot raise the descriptor limit to %llu: %s", (unsigned long long)rl.rlim_max, strerror(errno));
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    col.nofile = rl.rlim_cur;
}

/* ==== CPU pinning ==== */

static int isolated_cpu(int cpu)
{
    FILE *f = fopen("/sys/devices/system/cpu/isolated", "re");
    if (!f)
        return 0;
    char line[4096] = "";
    int found = 0;
    if (fgets(line, sizeof(line), f))
        for (char *save = NULL, *t = strtok_r(line, ",\n", &save); t; t = strtok_r(NULL, ",\n", &save)) {
            int lo, hi;
            int k = sscanf(t, "%d-%d", &lo, &hi);
            if (k == 1)
                hi = lo;
            if (k >= 1 && cpu >= lo && cpu <= hi)
                found = 1;
        }
    fclose(f);
    return found;
}

static void pin_cpus(void)
{
    if (!col.opt->have_cpus)
        return;
    if (sched_setaffinity(0, sizeof(col.opt->cpus), &col.opt->cpus) != 0) {
        fprintf(stderr, PROG ": --cpu: sched_setaffinity: %s\n", strerror(errno));
        exit(2);
    }
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &col.opt->cpus) && !isolated_cpu(c))
            shm_warn(PROG, "warning: cpu %d is not in /sys/devices/system/cpu/isolated; other tasks may share it", c);
}

/* ==== The service manager ==== */

/* One state line to systemd (Type=notify), when it set $NOTIFY_SOCKET: a
 * datagram, without libsystemd. "@" names an abstract socket. */
static void notify_service_manager(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if (n >= sizeof(sa.sun_path)) {
        shm_warn(PROG, "NOTIFY_SOCKET is too long for a socket address; the service manager is not told %s", state);
        return;
    }
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        shm_warn(PROG, "NOTIFY_SOCKET %s: %s; the service manager is not told %s", path, strerror(errno), state);
    if (fd >= 0)
        close(fd);
}

/* ==== main: the setup and the loop ==== */

/* The signals: first, so that a service manager's stop that comes while the
 * metrics threads start or the output directory is made ends in the orderly
 * exit 0, not in death by signal. */
static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    shm_bus_guard_install(); /* a producer may shrink a segment under our mapping */
    signal(SIGPIPE, SIG_IGN);
}

/* --out made, ours alone, in --group, and the host name its files carry: 0,
 * or the exit status after the reason was said. */
static int setup_output(const struct options *o)
{
    int rc = ensure_dir(o->out);
    if (rc) {
        fprintf(stderr, PROG ": --out %s: %s\n", o->out, strerror(-rc));
        return 2;
    }
    rc = share_out_dir(col.output);
    if (rc) {
        fprintf(stderr, PROG ": --group: cannot give %s group %u: %s (as root: chgrp %u %s; chmod 2750 %s)\n",
                o->out, (unsigned)o->out_gid, strerror(-rc), (unsigned)o->out_gid, o->out, o->out);
        return 2;
    }
    char why[8192];
    if (out_dir_unsafe(col.output, why, sizeof(why)) != 0) {
        fprintf(stderr, PROG ": --out %s: %s\n", o->out, why);
        return 2;
    }
    char host[SHMLOG_HOST_BYTES] = "";
    if (o->host[0])
        snprintf(host, sizeof(host), "%s", o->host);
    else if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    for (char *c = host; *c; c++) /* the host name goes into file names */
        if (*c == '/' || isspace((unsigned char)*c))
            *c = '_';
    output_set_host(col.output, host);
    return 0;
}

/* Everything before the first pass: 0, or the exit status. */
static int setup(int argc, char **argv)
{
    alert_set_init(&col.alerts);
    parse_options(argc, argv, &options, &col.alerts);
    col.opt = &options;
    col.output = output_new(&options);
    if (!col.output) {
        shm_warn(PROG, "out of memory");
        return 1;
    }
    raise_nofile();
    install_signals();
    /* Before pin_cpus: the metrics threads take the cpus the drain loop leaves. */
    struct metrics_config mc = {.listen = options.metrics_listen, .allow_remote = options.metrics_allow_remote,
                                .file = options.metrics_file, .interval_s = options.metrics_interval_s,
                                .drain_cpus = options.have_cpus ? &options.cpus : NULL};
    char merr[8192];
    if (metrics_start(&mc, merr, sizeof(merr)) != 0) {
        fprintf(stderr, PROG ": %s\n", merr);
        return 2;
    }
    pin_cpus();
    int rc = setup_output(&options);
    if (rc)
        return rc;
    col.writer = writer_new(options.sqpoll_cpu, col.output);
    if (!col.writer)
        return 1;
    const char *clock_warning = anchors_init(&col.clock);
    if (clock_warning)
        shm_warn(PROG, "%s", clock_warning);
    col.scan = scan_new(segment_found, &col);
    if (!col.scan) {
        shm_warn(PROG, "out of memory");
        return 1;
    }
    recover_out_dir(col.output);
    exits_note_open(col.output);
    prepare_memory();
    col.cur = outfile_new(col.output);
    if (!col.cur) {
        shm_warn(PROG, "out of memory");
        return 1;
    }
    scan_all(col.scan);
    observe(&col, shm_mono_ns()); /* the alert clock must be set before the first drain counts */
    return 0;
}

/* When the loop last did what it does now and then, and how long it found nothing. */
struct loop_times {
    uint64_t tick, live, notify, pass, idle;
};

/* Waits for what the next pass may find, as pass_wait_ns chose (wait) and
 * without spinning while a write is out. */
static void pass_wait(struct loop_times *t, uint64_t wait, uint64_t moved)
{
    if (writer_busy(col.writer) && !wait) {
        /* A write io_uring could not finish inline runs in a worker
         * thread on our cpu, which would wait for our time slice while a
         * backlog keeps us busy, and hold its frame's ring space that
         * long, until frames pile up and the ring fills (bench/compare.sh's
         * zero-loss search shows it). It gets the cpu now. */
        sched_yield();
    }
    if (!wait || got_term)
        return;
    if (writer_busy(col.writer)) {
        /* Never spin while a write is out: buffered writes to most
         * filesystems complete in an io_uring worker thread, which shares
         * our cpu and would wait for our time slice, and the ring space
         * those records hold comes back only when it has run. */
        reap(col.writer, 1, wait);
        return;
    }
    if (col.opt->busy_poll || (moved && col.opt->have_cpus)) {
        /* Spin: no sleep's wake-up delay. */
        uint64_t until = shm_mono_ns() + wait;
        while (shm_mono_ns() < until && !got_term && !got_hup) {
            if (reap(col.writer, 0, 0)) /* the next pass applies it now */
                break;
            for (int i = 0; i < 64; i++)
                __asm__ __volatile__("pause");
        }
        return;
    }
    /* Adaptive and idle: sleep longer the longer nothing came, at most
     * 1 ms so a record still reaches the file well within 100 ms, and
     * never longer than the wait pass_wait_ns chose; on a shared cpu up to
     * SHARED_NAP_MAX_NS, and never past what comes due. */
    uint64_t most = col.opt->have_cpus ? MAX_PASS_WAIT_NS : SHARED_NAP_MAX_NS;
    uint64_t nap = moved ? wait : t->idle < 10 && (16000ull << t->idle) < most ? 16000ull << t->idle : most;
    if (nap > wait)
        nap = wait;
    if (!col.opt->have_cpus) {
        uint64_t now = shm_mono_ns(), due = drain_head_due_ns();
        if (col.build_first_ns && col.build_first_ns + FRAME_MAX_AGE_NS < due)
            due = col.build_first_ns + FRAME_MAX_AGE_NS;
        if (due > now && due - now < nap)
            nap = due - now;
    }
    t->idle++;
    if (writer_busy(col.writer)) {
        reap(col.writer, 1, nap);
    } else {
        struct timespec ts = {0, (long)nap};
        nanosleep(&ts, NULL);
    }
}

/* One pass of the loop: what the writer finished applied, the directories,
 * liveness, every ring drained, the frame flushed when due, the file
 * rotated when due, then the wait for the next. */
static void pass(struct loop_times *t)
{
    /* The pass begins where what the writer finished takes effect. */
    reap(col.writer, 0, 0);
    retry_frames(col.writer);
    apply_completed();
    uint64_t now = shm_mono_ns();
    if (now - t->notify >= NOTIFY_NS) { /* a read() per loop would cost more than the drain */
        t->notify = now;
        anchors_poll(&col.clock);
    }
    scan_step(col.scan, now);
    int tick = now - t->tick >= RESCAN_NS;
    if (tick) {
        t->tick = now;
        anchors_tick(&col.clock);
    }
    if (tick || now - t->live >= LIVENESS_NS) {
        check_liveness(tick);
        finish_gone();
        t->live = now;
    }
    uint64_t smallest;
    uint64_t moved = drain_all(&col, &smallest);
    uint64_t wait = col.backlog ? 0 : pass_wait_ns(moved, now - t->pass, smallest, now);
    t->pass = now;
    observe(&col, now);
    /* An output that cannot take the frame (its file cannot be made, its
     * writes are out) holds it: the loop goes on, without spinning. */
    int held = 0;
    if (col.flush_soon || (col.build_first_ns && shm_mono_ns() - col.build_first_ns >= FRAME_MAX_AGE_NS))
        held = !flush_frame(&col);
    if (held && wait < MAX_PASS_WAIT_NS)
        wait = MAX_PASS_WAIT_NS;
    int hup = got_hup;
    if (hup)
        got_hup = 0;
    maybe_rotate(hup);
    if (moved)
        t->idle = 0;
    pass_wait(t, wait, moved);
}

/* After the last pass: every ring drained to its end, every file closed. */
static void teardown(void)
{
    shutdown_all();
    observe_last(&col);
}

int main(int argc, char **argv)
{
    int rc = setup(argc, argv);
    if (rc)
        return rc;
    if (options.once) {
        teardown();
        return 0;
    }
    /* Draining from here: units ordered after ours may start their producers. */
    notify_service_manager("READY=1");
    uint64_t now = shm_mono_ns();
    struct loop_times t = {.tick = now, .pass = now};
    while (!got_term)
        pass(&t);
    notify_service_manager("STOPPING=1");
    teardown();
    fprintf(stderr, PROG ": exiting: %" PRIu64 " records in %" PRIu64 " frames (%" PRIu64 " at the fast level), %" PRIu64
            " bytes\n", col.records, col.frames, col.fast_frames, col.bytes);
    return 0;
}
