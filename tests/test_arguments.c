/* Description: every argument type through the file format (format/FORMAT.md,
 * "Arguments") and through the renderer's fast paths.
 *
 * format_roundtrip: every argument comes back bit for bit whichever coding
 * the encoder chose (decimal doubles, raw doubles, NaNs, -0.0, infinities,
 * subnormals, floats; strings from the recent-string tables, evicted, long,
 * truncated; records that reserved more slots than their arguments need),
 * the decimal coding pays on prices, and a file of another version is
 * refused with one message.
 *
 * format_render: the prepared renderer (render/render_site.c) against the general
 * formatter and field writer: %c, %hu, %hhd, %#lx and other integer
 * conversions with flags and widths, and the JSON fields of doubles taken
 * from the digits the message already shows. The general formatter is itself
 * checked against glibc printf (test_render.c, fuzz format). */
#include <criterion/logging.h>
#include <errno.h>

#include "render.h"
#include "test_util_file.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static char dir[256];
static void setup(void) { tu_tmpdir(dir, sizeof(dir), "format"); }
static void teardown(void) { tu_rmtree(dir); }

TestSuite(format_roundtrip, .init = setup, .fini = teardown, .timeout = 120);

static uint64_t bits_of(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static uint64_t bits_of_float(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

/* A file of records that all go through one encoder, read back at the end. */
struct rt {
    char path[300];
    struct tu_file f;
    struct shm_copied_record *want;
    size_t *used;
    size_t n, cap;
    uint64_t pos, tsc;
    uint64_t tsc_step; /* 0: a random step */
    int batch_open;
    size_t came_raw; /* records that came back with all their slots' bytes (stored raw) */
    size_t lost;     /* records not encoded: loss markers in their place */
};

/* After records went to enc (batch cpu 3 of process 1): a record it could
 * not encode, the last it took, which ends at want_end, becomes its loss
 * marker as the collector writes it (the batch ended, the LOSS, a batch begun
 * again). 1 if there was one. */
static int write_taken_loss(struct shlog_enc *enc, uint64_t want_end)
{
    struct shm_loss l;
    const char *why = NULL;
    if (!shlog_enc_take_loss(enc, &l, &why))
        return 0;
    cr_assert_eq(l.reason, SHM_LOSS_UNENCODABLE);
    cr_assert_eq(l.first_pos + l.positions, want_end);
    cr_assert_eq(l.records, 1);
    cr_assert(why && *why);
    cr_assert_eq(shlog_enc_take_loss(enc, &l, &why), 0, "taken once");
    cr_assert_eq(shlog_enc_batch_end(enc), 0);
    cr_assert_eq(shlog_enc_loss(enc, 1, 3, &l, 0), 0);
    cr_assert_eq(shlog_enc_batch_begin(enc, 1, 3), 0);
    return 1;
}

static void rt_open(struct rt *t, const char *name, const struct shm_site *sites, unsigned nsites)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->path, sizeof(t->path), "%s/%s.shlog", dir, name);
    tu_file_open(&t->f, t->path, 1);
    struct shm_proc_info pi;
    tu_proc_info(&pi, 77, 1);
    cr_assert_eq(shlog_enc_process(t->f.enc, 1, &pi), 0);
    for (unsigned i = 0; i < nsites; i++)
        cr_assert_eq(shlog_enc_site(t->f.enc, 1, &sites[i]), 0);
    t->tsc = 1ull << 40;
}

/* Appends r (payload filled, used bytes of it meant) to the batch, opening
 * one when needed; batch_records > 0 ends the batch every that many. */
static void rt_add(struct rt *t, struct shm_copied_record *r, size_t used, size_t batch_records)
{
    if (!t->batch_open) {
        cr_assert_eq(shlog_enc_batch_begin(t->f.enc, 1, 3), 0);
        t->batch_open = 1;
    }
    if (!r->nslots)
        tu_slots(r, used);
    r->pos = t->pos;
    r->tsc = t->tsc += t->tsc_step ? t->tsc_step : 100 + rnd() % 900;
    r->tid = 4242;
    r->level = SHMLOG_LEVEL_INFO;
    t->pos += r->nslots;
    cr_assert_eq(shlog_enc_record(t->f.enc, r), 0);
    if (write_taken_loss(t->f.enc, r->pos + r->nslots)) {
        t->lost++;
        return;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->want = realloc(t->want, t->cap * sizeof(*t->want));
        t->used = realloc(t->used, t->cap * sizeof(*t->used));
        cr_assert(t->want && t->used);
    }
    t->want[t->n] = *r;
    t->used[t->n++] = used;
    if (batch_records && t->n % batch_records == 0) {
        cr_assert_eq(shlog_enc_batch_end(t->f.enc), 0);
        t->batch_open = 0;
    }
}

/* Ends the file and checks that every record came back as it went in:
 * header fields, slots, and the payload bytes, bit for bit. Returns the
 * file's size. */
static uint64_t rt_check(struct rt *t)
{
    if (t->batch_open)
        cr_assert_eq(shlog_enc_batch_end(t->f.enc), 0);
    tu_file_flush(&t->f);
    tu_file_close(&t->f);
    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(t->path, NULL, &got), 0);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_eq(got.n, t->n);
    cr_assert_eq(got.lost[SHM_LOSS_UNENCODABLE], t->lost, "%zu records not encoded, %llu loss markers", t->lost,
                 (unsigned long long)got.lost[SHM_LOSS_UNENCODABLE]);
    for (size_t i = 0; i < t->n; i++) {
        const struct shm_copied_record *g = got.recs[i], *w = &t->want[i];
        cr_assert_eq(g->pos, w->pos, "record %zu", i);
        cr_assert_eq(g->tsc, w->tsc, "record %zu", i);
        cr_assert_eq(g->site, w->site, "record %zu", i);
        cr_assert_eq(g->nslots, w->nslots, "record %zu", i);
        cr_assert_eq(g->flags, w->flags, "record %zu", i);
        /* The bytes the arguments use, or (stored raw) every byte of the slots. */
        size_t n = g->payload_len;
        cr_assert(n == t->used[i] || n == w->payload_len, "record %zu: %zu payload bytes", i, n);
        t->came_raw += n != t->used[i];
        if (memcmp(g->payload, w->payload, n) != 0)
            cr_assert_fail("record %zu (site %u): payload differs", i, w->site);
    }
    tu_read_free(&got);
    free(t->want);
    free(t->used);
    return t->f.off;
}

/* Doubles the decimal coding must leave alone or get exactly right. */
static double special_double(unsigned k)
{
    static const uint64_t bits[] = {
        0x0000000000000000ull, /* +0.0 */
        0x8000000000000000ull, /* -0.0 */
        0x7ff0000000000000ull, /* +inf */
        0xfff0000000000000ull, /* -inf */
        0x7ff8000000000000ull, /* quiet NaN */
        0xfff8000000000001ull, /* negative NaN with a payload */
        0x7ff0000000000001ull, /* signalling NaN */
        0x7ff4000000dead00ull, /* signalling NaN, another payload */
        0x0000000000000001ull, /* smallest subnormal */
        0x800fffffffffffffull, /* largest negative subnormal */
        0x0008000000000000ull, /* a subnormal */
        0x0010000000000000ull, /* smallest normal */
        0x7fefffffffffffffull, /* DBL_MAX */
        0x4330000000000000ull, /* 2^52 */
        0x4320000000000000ull, /* 2^51: the decimal limit */
        0x431fffffffffffffull, /* just below it */
        0x3fb999999999999aull, /* 0.1 */
        0x3fd3333333333334ull, /* 0.30000000000000004 */
    };
    uint64_t b = bits[k % (sizeof bits / sizeof bits[0])];
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* A price on a tick grid, made the way a feed handler makes it. */
static double grid_price(int64_t units, unsigned decimals)
{
    static const double scale[] = {1, 10, 100, 1000, 10000, 100000, 1e6, 1e7, 1e8};
    return (double)units / scale[decimals];
}

static double mixed_double(unsigned i)
{
    switch (rnd() % 6) {
    case 0: return special_double((unsigned)rnd());
    case 1: { /* any bits at all */
        double d;
        uint64_t b = rnd();
        memcpy(&d, &b, sizeof d);
        return d;
    }
    case 2: return grid_price((int64_t)(rnd() % 2000000) - 1000000, (unsigned)(rnd() % 9));
    case 3: return grid_price(1000000 + (int64_t)i, 4) + 1e-9; /* computed, not a short decimal */
    case 4: return (double)(int64_t)(rnd() >> (rnd() % 64)); /* integers, large ones too */
    default: return grid_price(500000 + (int64_t)(rnd() % 5), 2); /* the same few again */
    }
}

/* Every double and float coding, in contexts before and after a key string,
 * with the context's state changing under it (decimal, raw, scale up). */
Test(format_roundtrip, doubles_and_floats_come_back_bit_for_bit)
{
    struct shm_site s[3];
    tu_site(&s[0], 0, "a=%f b=%f", SHMLOG_ARG_F64, SHMLOG_ARG_F64, 0);
    tu_site(&s[1], 1, "sym=%s px=%f f=%f", SHMLOG_ARG_STR, SHMLOG_ARG_F64, SHMLOG_ARG_F32, 0);
    tu_site(&s[2], 2, "f=%f g=%f", SHMLOG_ARG_F32, SHMLOG_ARG_F32, 0);
    struct rt t;
    rt_open(&t, "doubles", s, 3);
    static const char *const syms[] = {"AAPL", "MSFT", "ES", "EURUSD"};
    for (unsigned i = 0; i < 60000; i++) {
        struct shm_copied_record r = {0};
        uint64_t v[3] = {0};
        const char *str[1] = {syms[rnd() % 4]};
        r.site = (uint32_t)(rnd() % 3);
        if (r.site == 0) {
            v[0] = bits_of(mixed_double(i));
            v[1] = bits_of(mixed_double(i));
        } else if (r.site == 1) {
            v[1] = bits_of(mixed_double(i));
            v[2] = bits_of_float((float)mixed_double(i));
        } else {
            double d = mixed_double(i);
            v[0] = bits_of_float((float)d);
            uint32_t any = (uint32_t)rnd(); /* float bits of any kind: NaNs, subnormals */
            v[1] = any;
        }
        size_t used = tu_payload(&r, &s[r.site], v, str);
        rt_add(&t, &r, used, 5000);
    }
    /* All specials in a row, in each context, twice (the second time the
     * context holds the value before). */
    for (unsigned k = 0; k < 2 * 18; k++) {
        struct shm_copied_record r = {0};
        uint64_t v[3] = {bits_of(special_double(k)), bits_of(special_double(k + 1)), 0};
        r.site = 0;
        rt_add(&t, &r, tu_payload(&r, &s[0], v, NULL), 0);
        struct shm_copied_record q = {0};
        uint64_t w[3] = {0, bits_of(special_double(k)), bits_of_float((float)special_double(k))};
        const char *str[1] = {"AAPL"};
        q.site = 1;
        rt_add(&t, &q, tu_payload(&q, &s[1], w, str), 0);
    }
    rt_check(&t);
}

/* Strings: more distinct ones than a table keeps (eviction), long ones,
 * empty ones, truncated ones, bytes of every value. */
Test(format_roundtrip, strings_come_back_from_tables_and_literals)
{
    struct shm_site s[2];
    tu_site(&s[0], 0, "k=%s v=%d w=%s", SHMLOG_ARG_STR, SHMLOG_ARG_I32, SHMLOG_ARG_STR, 0);
    tu_site(&s[1], 1, "x=%lu y=%s", SHMLOG_ARG_U64, SHMLOG_ARG_STR, 0);
    struct rt t;
    rt_open(&t, "strings", s, 2);
    char pool[20][80];
    for (unsigned k = 0; k < 20; k++) {
        size_t n = k == 0 ? 0 : k < 12 ? 1 + k : 31 + k; /* empty, short, at and past the kept length */
        for (size_t j = 0; j < n; j++)
            pool[k][j] = (char)(k % 5 == 4 ? 1 + rnd() % 255 : 'a' + (k + j) % 26);
        pool[k][n] = '\0';
    }
    for (unsigned i = 0; i < 40000; i++) {
        struct shm_copied_record r = {0};
        unsigned spread = i < 20000 ? 6 : 20; /* fits the table, then evicts */
        const char *str[2] = {pool[rnd() % spread], pool[rnd() % spread]};
        uint64_t v[3] = {0, (uint64_t)(uint32_t)(int32_t)(rnd() % 200 - 100), 0};
        r.site = (uint32_t)(rnd() % 2);
        if (r.site == 1) {
            v[0] = 1000000 + i;
            str[0] = str[1];
        }
        size_t used = tu_payload(&r, &s[r.site], v, str);
        if (rnd() % 50 == 0) { /* a producer cut this string: the flag rides in its length word */
            size_t at = r.site == 0 ? 0 : 8;
            r.payload[at + 1] |= SHMLOG_STR_TRUNCATED >> 8;
            r.flags = SHMLOG_REC_TRUNCATED;
        }
        rt_add(&t, &r, used, 3000);
    }
    rt_check(&t);
}

/* Records whose producer reserved more slots than the arguments need, and
 * records stored raw (payload that does not match the types), keep their
 * slot counts and bytes. */
Test(format_roundtrip, slot_counts_and_raw_payloads_survive)
{
    struct shm_site s[2];
    tu_site(&s[0], 0, "n=%d", SHMLOG_ARG_I32, 0);
    tu_site(&s[1], 1, "s=%s", SHMLOG_ARG_STR, 0);
    struct rt t;
    rt_open(&t, "slots", s, 2);
    for (unsigned i = 0; i < 5000; i++) {
        struct shm_copied_record r = {0};
        uint64_t v[1] = {i};
        r.site = 0;
        size_t used = tu_payload(&r, &s[0], v, NULL);
        if (i % 3 == 0) {
            r.nslots = (uint8_t)(1 + i % SHMLOG_MAX_SLOTS);
            r.payload_len = (uint16_t)(SHMLOG_HEAD_PAYLOAD + (r.nslots - 1) * SHMLOG_CONT_PAYLOAD);
        }
        if (i % 7 == 0) { /* a string longer than its slots: not encoded, a loss marker in its place */
            r.site = 1;
            r.payload[0] = 0xff;
            r.payload[1] = 0x0f;
            tu_slots(&r, SHMLOG_HEAD_PAYLOAD);
            used = r.payload_len;
        }
        rt_add(&t, &r, used, 1000);
    }
    rt_check(&t);
    cr_assert_eq(t.lost, 5000 / 7 + 1);
}

/* Ticks of prices that random-walk per symbol: as the doubles nearest to
 * short decimals (what a feed handler makes), or one ulp off them (what
 * arithmetic on prices can make). Returns bytes per record on disk. */
static double tick_file(const char *name, int off_grid)
{
    struct shm_site s[1];
    tu_site(&s[0], 0, "tick sym=%s bid=%.2f ask=%.2f id=%lu", SHMLOG_ARG_STR, SHMLOG_ARG_F64, SHMLOG_ARG_F64,
            SHMLOG_ARG_U64, 0);
    struct rt t;
    rt_open(&t, name, s, 1);
    t.tsc_step = 1000; /* the prices' cost, not the clock's */
    static const char *const syms[] = {"AAPL", "MSFT", "ESZ6", "NQZ6", "TSLA", "SPY"};
    int64_t bid[6] = {18950, 41234, 589025, 2104050, 24512, 58934};
    rng_state = 12345;
    enum { N = 100000 };
    for (unsigned i = 0; i < N; i++) {
        unsigned k = (unsigned)(rnd() % 6);
        bid[k] += (int64_t)(rnd() % 3) - 1;
        struct shm_copied_record r = {0};
        const char *str[1] = {syms[k]};
        uint64_t v[4] = {0, bits_of(grid_price(bid[k], 2)) + (uint64_t)off_grid,
                         bits_of(grid_price(bid[k] + 1, 2)) + (uint64_t)off_grid, 1000000 + i};
        rt_add(&t, &r, tu_payload(&r, &s[0], v, str), 16384);
    }
    return (double)rt_check(&t) / N;
}

/* The decimal coding pays on prices: the same ticks one ulp off the grid
 * (coded as raw doubles) take far more room. */
Test(format_roundtrip, decimal_prices_take_less_room_than_raw_doubles)
{
    double decimal = tick_file("ticks-decimal", 0), raw = tick_file("ticks-raw", 1);
    cr_log_info("ticks: %.2f bytes/record as decimals, %.2f one ulp off", decimal, raw);
    cr_assert_lt(decimal, raw * 0.6, "%.2f bytes per record, %.2f one ulp off", decimal, raw);
}

/* More sites than the tables of one file may take (a process with very many
 * call sites of many strings): the sites past the bound are stored raw, and
 * every record still comes back, before and after it. */
Test(format_roundtrip, sites_past_the_table_bound_come_back_raw)
{
    enum { NSITES = 9000 }; /* 16 strings each: 407 table units, the bound (2 Mi units) past 5152 sites */
    static struct shm_site s[NSITES];
    for (uint32_t k = 0; k < NSITES; k++) {
        tu_site(&s[k], k, "%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s%s", SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR,
                SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR,
                SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR, SHMLOG_ARG_STR,
                SHMLOG_ARG_STR, 0);
    }
    struct rt t;
    rt_open(&t, "many-sites", s, NSITES);
    static const char *const words[] = {"a", "bb", "ccc", "dddd"};
    for (unsigned pass = 0; pass < 2; pass++) {
        for (uint32_t k = 0; k < NSITES; k += 1 + pass * 7) {
            struct shm_copied_record r = {0};
            const char *str[16];
            for (int j = 0; j < 16; j++)
                str[j] = words[(k + (unsigned)j) % 4];
            r.site = k;
            rt_add(&t, &r, tu_payload(&r, &s[k], NULL, str), 4096);
        }
    }
    rt_check(&t);
    cr_assert(t.came_raw > 0 && t.came_raw < t.n, "%zu of %zu records stored raw", t.came_raw, t.n);
}

/* A record as shm_ring_take copies it, slot for slot into slots (returns
 * how many it takes), and the shm_copied_record of the same record for
 * shlog_enc_record. pool: short strings; long: a string of up to 300 bytes;
 * may_lose: now and then a payload that does not hold its arguments (*lost). */
static unsigned slots_and_rec(struct shmlog_record *slots, struct shm_copied_record *rec, const struct shm_site *sites,
                              unsigned nsites, char pool[][16], const char *long_str, uint64_t pos, uint64_t *tsc,
                              int may_lose, int *lost)
{
    *lost = 0;
    memset(rec, 0, sizeof(*rec));
    rec->site = (uint32_t)(rnd() % (nsites + 1)); /* nsites: a site the file never defined */
    size_t used = SHMLOG_HEAD_PAYLOAD;
    if (rec->site < nsites) {
        uint64_t v[SHMLOG_MAX_ARGS];
        for (unsigned i = 0; i < SHMLOG_MAX_ARGS; i++) {
            double d = mixed_double(i);
            memcpy(&v[i], &d, sizeof d);
            if (rnd() % 2)
                v[i] = 1000 + rnd() % 16;
        }
        const char *str[4] = {pool[rnd() % 12], pool[rnd() % 12], pool[rnd() % 12], pool[rnd() % 12]};
        if (rnd() % 4 == 0)
            str[rnd() % 2] = long_str + rnd() % 300; /* a tail of it: 0 to 300 bytes */
        used = tu_payload(rec, &sites[rec->site], v, str);
        if (may_lose && rnd() % 40 == 0) { /* a length past the slots: not encoded when it is a string's */
            rec->payload[1] = 0x0f;
            *lost = sites[rec->site].nargs && sites[rec->site].arg_types[0] == SHMLOG_ARG_STR;
        }
    } else {
        for (unsigned i = 0; i < 256; i++) /* what used below reaches */
            rec->payload[i] = (uint8_t)rnd();
        used = 1 + rnd() % 200;
    }
    tu_slots(rec, used);
    if (rnd() % 50 == 0 && rec->nslots < SHMLOG_MAX_SLOTS) { /* a producer reserved more than it used */
        rec->nslots++;
        rec->payload_len = (uint16_t)(rec->payload_len + SHMLOG_CONT_PAYLOAD);
    }
    rec->pos = pos;
    *tsc += rnd() % 8 == 0 ? (uint64_t)-(int64_t)(rnd() % 50) : rnd() % 3000; /* now and then a step back */
    rec->tsc = *tsc;
    rec->tid = 4000 + (uint32_t)(rnd() % 3);
    rec->level = (uint8_t)(rnd() % (SHMLOG_LEVEL_FATAL + 1));
    /* the built-in categories mostly; the attr column's escape for 7 and up too */
    rec->category = (uint8_t)(rnd() % 4 ? rnd() % SHMLOG_CAT_COUNT : rnd() % SHMLOG_MAX_CATEGORIES);
    static const uint8_t flags[] = {SHMLOG_REC_TRUNCATED, SHMLOG_REC_CLAMPED, SHMLOG_REC_BACKTRACE,
                                    SHMLOG_REC_CLAMPED | SHMLOG_REC_BACKTRACE | SHMLOG_REC_TRUNCATED};
    rec->flags = rnd() % 30 == 0 ? flags[rnd() % 4] : 0;
    memset(slots, 0, rec->nslots * sizeof(*slots));
    slots[0].commit = pos + 1;
    slots[0].tsc = rec->tsc;
    slots[0].site = rec->site;
    slots[0].tid = rec->tid;
    slots[0].nslots = rec->nslots;
    slots[0].level = rec->level;
    slots[0].category = rec->category;
    slots[0].flags = rec->flags;
    memcpy(slots[0].payload, rec->payload, SHMLOG_HEAD_PAYLOAD);
    for (unsigned j = 1; j < rec->nslots; j++) {
        struct shmlog_cont *c = (struct shmlog_cont *)&slots[j];
        c->commit = (pos + j + 1) | SHMLOG_COMMIT_CONT;
        memcpy(c->payload, rec->payload + SHMLOG_HEAD_PAYLOAD + (j - 1) * SHMLOG_CONT_PAYLOAD, SHMLOG_CONT_PAYLOAD);
    }
    return rec->nslots;
}

/* shlog_enc_slots writes the bytes shlog_enc_record writes for the same
 * records, of one slot and of several, in runs of any length, across batches
 * that fill up and end early, and the file reads back; both take a record
 * whose payload does not hold its arguments as the same loss marker. */
Test(format_roundtrip, slots_encode_byte_for_byte_as_records)
{
    /* RECORDS: its last nineteen twentieths more than a batch holds (65536); each kept whole, in 14 KiB
     * (SHMLOG_MAX_PAYLOAD) */
    enum { NSITES = 6, RECORDS = 70000, RUN_MAX = 700 };
    struct shm_site s[NSITES];
    tu_site(&s[0], 0, "a=%lu b=%f c=%d", SHMLOG_ARG_U64, SHMLOG_ARG_F64, SHMLOG_ARG_I32, 0);
    tu_site(&s[1], 1, "k=%s v=%f n=%u", SHMLOG_ARG_STR, SHMLOG_ARG_F64, SHMLOG_ARG_U32, 0); /* keyed contexts */
    tu_site(&s[2], 2, "s=%s t=%s", SHMLOG_ARG_STR, SHMLOG_ARG_STR, 0);
    tu_site(&s[3], 3, "f=%f h=%hd c=%hhu", SHMLOG_ARG_F32, SHMLOG_ARG_I16, SHMLOG_ARG_U8, 0);
    tu_site(&s[4], 4, "nothing", 0);
    tu_site(&s[5], 5, "id=%lu px=%f q=%d", SHMLOG_ARG_U64, SHMLOG_ARG_F64, SHMLOG_ARG_I32, 0);
    char pool[12][16];
    for (unsigned k = 0; k < 12; k++)
        snprintf(pool[k], sizeof pool[k], "%.*s", (int)(k % 9), &"SYMBOLXYZ"[k % 3]);
    static char long_str[301];
    for (unsigned i = 0; i < 300; i++)
        long_str[i] = (char)('a' + i % 26);
    char path[2][300];
    struct tu_file f[2]; /* 0: shlog_enc_record, 1: shlog_enc_slots */
    struct shm_proc_info pi;
    tu_proc_info(&pi, 77, 1);
    for (int k = 0; k < 2; k++) {
        snprintf(path[k], sizeof path[k], "%s/%s.shlog", dir, k ? "slots" : "records");
        tu_file_open(&f[k], path[k], 1);
        cr_assert_eq(shlog_enc_process(f[k].enc, 1, &pi), 0);
        for (unsigned i = 0; i < NSITES; i++)
            cr_assert_eq(shlog_enc_site(f[k].enc, 1, &s[i]), 0);
        cr_assert_eq(shlog_enc_batch_begin(f[k].enc, 1, 3), 0);
    }
    static struct shmlog_record slots[RUN_MAX * SHMLOG_MAX_SLOTS];
    static struct shm_copied_record want[RECORDS];
    static uint8_t lost[RECORDS]; /* its payload does not hold its site's arguments */
    uint64_t pos = 1ull << 33, tsc = 1ull << 40;
    size_t n = 0, full = 0, multi = 0, nlost = 0;
    while (n < RECORDS) {
        size_t run = 1 + rnd() % (rnd() % 4 ? 64 : RUN_MAX);
        if (run > RECORDS - n)
            run = RECORDS - n;
        pos += rnd() % 5 == 0 ? 1 + rnd() % 9 : 0; /* positions of records not taken: a gap */
        size_t nslots = 0;
        for (size_t i = 0; i < run; i++) {
            int bad;
            /* records not encoded end their batch: early only, so that later ones fill up */
            unsigned k = slots_and_rec(&slots[nslots], &want[n + i], s, NSITES, pool, long_str, pos + nslots, &tsc,
                                       n < RECORDS / 20, &bad);
            multi += k > 1;
            nslots += k;
            lost[n + i] = (uint8_t)bad;
            nlost += (size_t)bad;
        }
        for (size_t i = 0; i < run; i++) {
            int rc = shlog_enc_record(f[0].enc, &want[n + i]);
            if (rc == -ENOSPC) {
                cr_assert_eq(shlog_enc_batch_end(f[0].enc), 0);
                cr_assert_eq(shlog_enc_batch_begin(f[0].enc, 1, 3), 0);
                rc = shlog_enc_record(f[0].enc, &want[n + i]);
            }
            cr_assert_eq(rc, 0);
            cr_assert_eq(write_taken_loss(f[0].enc, want[n + i].pos + want[n + i].nslots), lost[n + i], "record %zu",
                         n + i);
        }
        for (size_t done = 0; done < nslots;) {
            long took = shlog_enc_slots(f[1].enc, slots + done, nslots - done, pos + done);
            cr_assert_geq(took, took == -ENOSPC ? -ENOSPC : 0, "shlog_enc_slots: %ld", took);
            if (took > 0 && write_taken_loss(f[1].enc, pos + done + (size_t)took)) {
                done += (size_t)took;
                continue;
            }
            if (took == -ENOSPC || (took >= 0 && (size_t)took < nslots - done)) {
                full++;
                cr_assert_eq(shlog_enc_batch_end(f[1].enc), 0);
                cr_assert_eq(shlog_enc_batch_begin(f[1].enc, 1, 3), 0);
            }
            done += took > 0 ? (size_t)took : 0;
        }
        n += run;
        pos += nslots;
        /* Early batches end anywhere; the last ones fill up. */
        int early = n < RECORDS / 20, end_batch = early && rnd() % 8 == 0, flush = early && rnd() % 40 == 0;
        for (int k = 0; k < 2; k++) {
            if (end_batch || flush) {
                cr_assert_eq(shlog_enc_batch_end(f[k].enc), 0);
                if (flush)
                    tu_file_flush(&f[k]);
                cr_assert_eq(shlog_enc_batch_begin(f[k].enc, 1, 3), 0);
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(shlog_enc_batch_end(f[k].enc), 0);
        tu_file_flush(&f[k]);
        cr_assert_eq(f[k].nframes, f[0].nframes);
        tu_file_close(&f[k]);
    }
    cr_assert_gt(full, 0, "a batch filled up in the middle of a run");
    cr_assert_gt(multi, RECORDS / 20, "records of several slots: %zu", multi);
    cr_assert_eq(f[1].off, f[0].off, "the same file size");
    uint8_t *bytes[2];
    for (int k = 0; k < 2; k++) {
        bytes[k] = malloc(f[k].off);
        cr_assert(bytes[k]);
        int fd = open(path[k], O_RDONLY);
        cr_assert_eq(pread(fd, bytes[k], f[k].off, 0), (ssize_t)f[k].off);
        close(fd);
    }
    cr_assert_eq(memcmp(bytes[0], bytes[1], f[0].off), 0, "the same bytes");
    free(bytes[0]);
    free(bytes[1]);

    struct tu_read got = {0};
    cr_assert_eq(tu_read_shlog(path[1], NULL, &got), 0);
    cr_assert_eq(got.errors, 0, "%s", got.first_error);
    cr_assert_gt(nlost, 0);
    cr_assert_eq(got.n, RECORDS - nlost);
    cr_assert_eq(got.lost[SHM_LOSS_UNENCODABLE], nlost);
    for (size_t i = 0, j = 0; i < RECORDS; i++) {
        if (lost[i])
            continue;
        const struct shm_copied_record *g = got.recs[j++], *w = &want[i];
        cr_assert(g->pos == w->pos && g->tsc == w->tsc && g->site == w->site && g->tid == w->tid &&
                      g->level == w->level && g->category == w->category && g->flags == w->flags &&
                      g->nslots == w->nslots,
                  "record %zu", i);
        cr_assert_eq(memcmp(g->payload, w->payload, g->payload_len), 0, "record %zu", i);
    }
    tu_read_free(&got);

    /* Slot counts that do not tile the slots given are refused. */
    struct tu_file bad;
    char bad_path[300];
    snprintf(bad_path, sizeof bad_path, "%s/bad.shlog", dir);
    tu_file_open(&bad, bad_path, 1);
    cr_assert_eq(shlog_enc_process(bad.enc, 1, &pi), 0);
    cr_assert_eq(shlog_enc_batch_begin(bad.enc, 1, 3), 0);
    int not_encoded;
    slots_and_rec(slots, &want[0], s, 0, pool, long_str, 0, &tsc, 0, &not_encoded);
    slots[0].nslots = 2;
    cr_assert_eq(shlog_enc_slots(bad.enc, slots, 1, 0), -EINVAL);
    slots[0].nslots = 0;
    cr_assert_eq(shlog_enc_slots(bad.enc, slots, 1, 0), -EINVAL);
    tu_file_close(&bad);
}

/* A version 1 file (valid header, valid check) is refused when opened, with
 * one message naming both versions; the same for a version from the future. */
Test(format_roundtrip, other_versions_are_refused_with_one_message)
{
    static const uint32_t versions[] = {1, SHLOG_FILE_VERSION + 1};
    for (unsigned k = 0; k < 2; k++) {
        uint8_t h[SHLOG_FILE_HEADER_BYTES];
        struct shlog_file_header fh = {.file_seq = 1, .created_ns = 1, .collector_pid = 1};
        shlog_file_header_encode(h, &fh);
        for (int i = 0; i < 4; i++)
            h[8 + i] = (uint8_t)(versions[k] >> (8 * i));
        uint32_t c = 2166136261u; /* FNV-1a 32 of bytes 0..123, as FORMAT.md defines the check */
        for (int i = 0; i < 124; i++)
            c = (c ^ h[i]) * 16777619u;
        for (int i = 0; i < 4; i++)
            h[124 + i] = (uint8_t)(c >> (8 * i));
        char path[300];
        snprintf(path, sizeof(path), "%s/v%u.shlog", dir, versions[k]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        cr_assert(fd >= 0);
        cr_assert_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
        close(fd);
        struct shlog_reader *r = NULL;
        char err[512] = "";
        cr_assert_eq(shlog_reader_open(&r, path, 0, NULL, err, sizeof(err)), -EINVAL);
        cr_assert_null(r);
        char want[64];
        snprintf(want, sizeof(want), "file format version %u is", versions[k]);
        cr_assert(strstr(err, want) != NULL, "%s", err);
        snprintf(want, sizeof(want), "reads version %u only", SHLOG_FILE_VERSION);
        cr_assert(strstr(err, want) != NULL, "%s", err);
        cr_assert(strstr(err, path) != NULL, "names the file: %s", err);
        cr_assert_null(strchr(err, '\n'), "one line: %s", err);
    }
}

/* ==== format_render ==== */

static char line[RENDER_LINE_MAX], msg[RENDER_LINE_MAX], want[RENDER_LINE_MAX];

static void make_site(struct shm_site *s, const char *fmt, unsigned nargs, const uint8_t *types)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->fmt, sizeof(s->fmt), "%s", fmt);
    s->fmt_len = (uint32_t)strlen(s->fmt);
    snprintf(s->file, sizeof(s->file), "src/x.c");
    s->file_len = 7;
    s->line = 9;
    s->level = SHMLOG_LEVEL_INFO;
    s->category = SHMLOG_CAT_TRADE;
    s->nargs = (uint8_t)nargs;
    memcpy(s->arg_types, types, nargs);
}

/* Renders rec of site prepared, and checks the message against
 * render_format and the fields against render_json_fields. */
static void check_record(const struct shm_site *site, const struct shm_copied_record *rec)
{
    struct render_site *sr = render_site_new(site, "app", "host", NULL, 42, NULL, NULL);
    cr_assert_not_null(sr);
    struct render_arg args[SHMLOG_MAX_ARGS];
    int nargs = render_decode_args(site, rec->payload, rec->payload_len, args);
    cr_assert_eq(nargs, site->nargs);

    struct render_buf b;
    render_buf_init(&b, msg, sizeof(msg) - 1);
    cr_assert_eq(render_prepared_msg(sr, rec, &b), 0);
    msg[b.len] = '\0';
    render_buf_init(&b, want, sizeof(want) - 1);
    render_format(site->fmt, args, nargs, &b);
    want[b.len] = '\0';
    cr_assert_str_eq(msg, want, "format \"%s\": prepared \"%s\", general \"%s\"", site->fmt, msg, want);

    render_buf_init(&b, line, sizeof(line) - 1);
    cr_assert_eq(render_prepared(sr, rec, 1, 1700000000123456789ull, 1, &b), 0);
    line[b.len] = '\0';
    render_buf_init(&b, want, sizeof(want) - 1);
    render_buf_puts(&b, ",\"fields\":");
    render_json_fields(site->fmt, args, nargs, &b);
    render_buf_putc(&b, '}');
    want[b.len] = '\0';
    if (!strstr(line, want))
        cr_assert_fail("format \"%s\": fields %s not in\n%s", site->fmt, want, line);
    render_site_free(sr);
}

static size_t put_value(uint8_t *p, unsigned type, uint64_t v)
{
    unsigned w = shmlog_arg_width(type);
    for (unsigned i = 0; i < w; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return w;
}

Test(format_render, integer_and_char_conversions_match_the_general_path)
{
    static const char *const convs[] = {
        "%hu", "%hhu", "%hd", "%hhd", "%#lx", "%lx", "%X", "%#X", "%o", "%#o", "%-5u", "%+d", "% d",
        "%05x", "%5.3d", "%-+8ld", "%c", "%lld", "%llu", "%u", "%d", "%zu", "%#hx", "%08.3lu",
    };
    static const uint8_t types[] = {SHMLOG_ARG_BOOL, SHMLOG_ARG_I8, SHMLOG_ARG_U8, SHMLOG_ARG_I16, SHMLOG_ARG_U16,
                                    SHMLOG_ARG_I32, SHMLOG_ARG_U32, SHMLOG_ARG_I64, SHMLOG_ARG_U64};
    static const uint64_t chars[] = {'A', '"', '\\', '\n', 0x7f, 0x80, 0xff, 0, ' ', 'z' + 0x100};
    for (unsigned iter = 0; iter < 20000; iter++) {
        char fmt[256];
        uint8_t t[4];
        unsigned n = 1 + (unsigned)(rnd() % 4);
        size_t len = 0;
        struct shm_copied_record rec;
        memset(&rec, 0, sizeof(rec));
        size_t off = 0;
        for (unsigned i = 0; i < n; i++) {
            const char *conv = convs[rnd() % (sizeof convs / sizeof convs[0])];
            len += (size_t)snprintf(fmt + len, sizeof(fmt) - len, "k%u=%s ", i, conv);
            t[i] = types[rnd() % sizeof types];
            uint64_t v = strcmp(conv, "%c") == 0 ? chars[rnd() % (sizeof chars / sizeof chars[0])]
                                                  : rnd() >> (rnd() % 64);
            if (rnd() % 4 == 0)
                v = (uint64_t)-(int64_t)(rnd() % 1000); /* negative in every width */
            off += put_value(rec.payload + off, t[i], v);
        }
        struct shm_site site;
        make_site(&site, fmt, n, t);
        rec.payload_len = (uint16_t)off;
        rec.level = site.level;
        rec.category = site.category;
        check_record(&site, &rec);
    }
}

/* Prices as a feed makes them, computed values, signs and zeros: the field
 * (shortest round trip) must not depend on reusing the message's digits. */
Test(format_render, double_fields_from_the_message_digits_match_the_general_path)
{
    static const char *const convs[] = {"%.2f", "%.4f", "%.0f", "%.1f", "%f", "%.3f"};
    static const double scale[] = {1, 10, 100, 1000, 10000, 100000};
    for (unsigned iter = 0; iter < 40000; iter++) {
        const char *conv = convs[rnd() % (sizeof convs / sizeof convs[0])];
        char fmt[64];
        snprintf(fmt, sizeof(fmt), "px=%s q=%%d", conv);
        double v;
        switch (rnd() % 5) {
        case 0: v = (double)(int64_t)(rnd() % 20000000 - 10000000) / scale[rnd() % 6]; break;
        case 1: v = (double)(int64_t)(rnd() % 200000) / 100.0 - 0.01; break; /* computed */
        case 2: v = (double)(int64_t)(rnd() % 1000) * 100.0 / 50000.0; break;
        case 3: v = rnd() % 2 ? 0.0 : -0.0; break;
        default: {
            uint64_t b = rnd() >> (rnd() % 12);
            memcpy(&v, &b, sizeof v);
            break;
        }
        }
        uint8_t t[2] = {SHMLOG_ARG_F64, SHMLOG_ARG_I32};
        struct shm_copied_record rec;
        memset(&rec, 0, sizeof(rec));
        memcpy(rec.payload, &v, 8);
        put_value(rec.payload + 8, SHMLOG_ARG_I32, 7);
        rec.payload_len = 12;
        struct shm_site site;
        make_site(&site, fmt, 2, t);
        rec.level = site.level;
        rec.category = site.category;
        check_record(&site, &rec);
    }
}
