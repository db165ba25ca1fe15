/* What the index's writer and readers share (shlog_index.h, FORMAT.md "Index"). */
#include "shlog_index.h"

uint64_t shlog__ix_prefix(unsigned tag, const char *name, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    h = (h ^ (uint8_t)tag) * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
    return (h ^ 0) * 1099511628211ull;
}

uint64_t shlog__ix_text(uint64_t prefix, const uint8_t *p, size_t n)
{
    uint64_t h = prefix;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return ix_mix(h);
}

uint64_t shlog__ix_trace_key(uint64_t hi, uint64_t lo)
{
    uint8_t id[16];
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(hi >> (56 - 8 * i));
        id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    return shlog__ix_text(shlog__ix_prefix(IX_TAG_TRACE, "", 0), id, sizeof id);
}

int shlog__ix_bloom_has(const uint8_t *p, uint32_t nblocks, uint64_t h)
{
    static const uint32_t salt[8] = {0x47b6137bu, 0x44974d91u, 0x8824ad5bu, 0xa2b7289du,
                                     0x705495c7u, 0x2df1424bu, 0x9efc4947u, 0x5c6bfb31u};
    if (!nblocks)
        return 0;
    const uint8_t *b = p + IX_BLOCK_BYTES * (size_t)(((h >> 32) * nblocks) >> 32);
    uint32_t x = (uint32_t)h;
    for (int i = 0; i < 8; i++)
        if (!(get_u32le(b + 4 * i) & 1u << ((x * salt[i]) >> 27)))
            return 0;
    return 1;
}

void shlog__ix_words(const uint8_t *text, size_t n, void (*each)(void *, const uint8_t *, size_t), void *clientd)
{
    for (size_t i = 0; i < n;) {
        if (!shlog_index_word_byte(text[i])) {
            i++;
            continue;
        }
        size_t from = i;
        while (i < n && shlog_index_word_byte(text[i]))
            i++;
        each(clientd, text + from, i - from);
    }
}

static int name_byte(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '.';
}

#define IX_FIELD_NAME_MAX 128u /* as readers: a longer run keeps its last bytes */

void shlog__ix_fields(const char *fmt, size_t n, unsigned nargs, const char **name, size_t *len,
                      void (*text)(void *, const uint8_t *, size_t), void *clientd)
{
    for (unsigned i = 0; i < nargs; i++)
        len[i] = 0;
    unsigned arg = 0;
    size_t floor = 0; /* a name starts after the conversion before it */
    for (size_t i = 0; i < n;) {
        if (fmt[i] != '%') {
            size_t from = i;
            while (i < n && fmt[i] != '%')
                i++;
            if (text)
                text(clientd, (const uint8_t *)fmt + from, i - from);
            continue;
        }
        size_t at = i++;
        if (i < n && fmt[i] == '%') {
            i++;
            floor = i;
            continue;
        }
        while (i < n && strchr("-+ #0'", fmt[i]))
            i++;
        for (int part = 0; part < 2; part++) { /* width, then precision */
            if (part == 1) {
                if (i >= n || fmt[i] != '.')
                    break;
                i++;
            }
            if (i < n && fmt[i] == '*') {
                arg++;
                i++;
            }
            while (i < n && fmt[i] >= '0' && fmt[i] <= '9')
                i++;
        }
        while (i < n && strchr("hljztLq", fmt[i]))
            i++;
        if (i >= n)
            break;
        char conv = fmt[i++];
        if (conv != 'm') {
            if (arg < nargs && conv != 'n' && at >= floor + 2 && fmt[at - 1] == '=') {
                size_t e = at - 1, b = e;
                while (b > floor && e - b < IX_FIELD_NAME_MAX && name_byte(fmt[b - 1]))
                    b--;
                name[arg] = fmt + b;
                len[arg] = e - b;
            }
            arg++;
        }
        floor = i;
    }
}

/* What conversion conv of length modifier len (0, or its letters' first)
 * shows of an argument of type t without an error of the renderer's: 1 when
 * it is a number's digits (any word of it is a number's), 2 a string's
 * bytes, 0 anything else (an error's words, an enum's name...). */
static int whole_conversion(char conv, char len, unsigned t)
{
    int integer = t >= SHMLOG_ARG_BOOL && t <= SHMLOG_ARG_U64;
    switch (conv) {
    case 'd': case 'i': case 'u': case 'o': case 'x': case 'X':
        return integer && len != 'L';
    case 'c':
        return integer && !len; /* one byte: no word of two */
    case 's':
        return t == SHMLOG_ARG_STR && !len ? 2 : 0;
    case 'p':
        return t == SHMLOG_ARG_PTR && !len; /* "(nil)" too */
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G': case 'a': case 'A':
        return (t == SHMLOG_ARG_F64 || t == SHMLOG_ARG_F32) && (!len || len == 'l' || len == 'L');
    default:
        return 0;
    }
}

int shlog__ix_words_whole(const char *fmt, size_t n, unsigned nargs, const uint8_t *types)
{
    unsigned arg = 0;
    for (size_t i = 0; i < n; i++) {
        if (!fmt[i])
            return 0; /* the renderer stops at it: the arguments after it would be shown as extras */
        if (fmt[i] != '%')
            continue;
        if (i + 1 < n && fmt[i + 1] == '%') {
            i++;
            continue;
        }
        /* a conversion's output next to a word byte would make one word of both */
        if (i > 0 && shlog_index_word_byte((uint8_t)fmt[i - 1]))
            return 0;
        i++;
        while (i < n && fmt[i] && strchr("-+ #0'", fmt[i]))
            i++;
        /* no '*', no positional argument, and widths and precisions far below the renderer's bounds */
        size_t digits = i;
        while (i < n && fmt[i] >= '0' && fmt[i] <= '9')
            i++;
        int precision = i < n && fmt[i] == '.';
        if (i - digits > 2 || (i < n && fmt[i] == '$'))
            return 0;
        if (precision) {
            digits = ++i;
            while (i < n && fmt[i] >= '0' && fmt[i] <= '9')
                i++;
            if (i - digits > 2)
                return 0;
        }
        char len = 0; /* as the renderer reads it: hh is H, ll is q */
        if (i < n && fmt[i] && strchr("hlqLjzZt", fmt[i])) {
            len = fmt[i++];
            if ((len == 'h' || len == 'l') && i < n && fmt[i] == len)
                len = fmt[i++] == 'h' ? 'H' : 'q';
        }
        if (i >= n || arg >= nargs)
            return 0;
        int shows = whole_conversion(fmt[i], len, types[arg++]);
        if (!shows || (shows == 2 && precision)) /* a precision cuts a string's word */
            return 0;
        if (i + 1 < n && shlog_index_word_byte((uint8_t)fmt[i + 1]))
            return 0;
    }
    return arg == nargs; /* an argument no conversion takes is shown after the message */
}

/* The change of wall time its section's rate makes of a change of TSC dt
 * (hz_q16: Hz times 65536; 0 says none), modulo 2^64: version 6 holds an
 * anchor's time as what it differs from it by. */
static uint64_t ix_clock_predict(uint64_t dt, uint64_t hz_q16)
{
    if (!hz_q16)
        return 0;
    __int128 ns = (__int128)(int64_t)dt * 1000000000 * 65536 / (__int128)hz_q16;
    return (uint64_t)ns;
}

/* Version 3 holds a plain frame's CLOCK sections with each anchor's TSC,
 * time and offset as the change from the anchor before (the first from the
 * entry's tsc_min and ns_min): the same values, in some 40 % of the bytes.
 * Section by section: hz_q16, state, esterror_ns, the clocksource, count,
 * u8 1 when the offsets follow, count x {tsc, ns, err, flags}, [count x
 * offset]; version 6 an anchor's time less what its TSC's change predicts
 * at the section's rate (ix_clock_predict); version 9 the first from the
 * last anchor of the index frame's entries before (tsc, ns), last[] then
 * the frame's last. NULL when a section is not whole or holds more than
 * those. */
static uint8_t *ix_clock_pack(uint8_t *to, const uint8_t *sec, size_t n, uint64_t tsc, uint64_t ns, uint64_t last[2])
{
    struct cur s = {sec, sec ? sec + n : sec, 0}; /* a plain frame of no anchors has no sections' buffer */
    int64_t off = 0;
    /* no more than an entry of version 2 held: else the frame is not plain */
    uint8_t packed[IX_MAX_CLOCK_BYTES], *p = packed;
    uint32_t sections = 0;
    if (n > IX_MAX_CLOCK_BYTES)
        return NULL;
    while (s.p < s.end) {
        if (get_u8(&s) != SHLOG_SEC_CLOCK)
            return NULL;
        uint64_t len = get_varint(&s);
        const uint8_t *body = get_bytes(&s, len);
        if (!body || s.bad)
            return NULL;
        struct cur c = {body, body + len, 0};
        uint64_t head[3] = {get_varint(&c), get_varint(&c), get_varint(&c)};
        uint64_t cs = get_varint(&c);
        const uint8_t *name = cs < 32 ? get_bytes(&c, cs) : NULL;
        uint64_t count = get_varint(&c);
        if (!name || c.bad || !count || count > SHLOG_CLOCK_MAX_ANCHORS)
            return NULL;
        if ((size_t)(p - packed) + (5 + 6 * count) * VARINT_MAX + cs > sizeof(packed))
            return NULL;
        for (int i = 0; i < 3; i++)
            p = put_varint(p, head[i]);
        p = put_varint(p, cs);
        memcpy(p, name, cs);
        p = put_varint(p + cs, count);
        uint8_t *has_offsets = p++;
        for (uint64_t i = 0; i < count; i++) {
            uint64_t t = get_varint(&c), w = get_varint(&c);
            p = put_varint(p, zigzag((int64_t)(t - tsc)));
            p = put_varint(p, zigzag((int64_t)(w - ns - ix_clock_predict(t - tsc, head[0]))));
            p = put_varint(p, get_varint(&c));
            p = put_varint(p, get_varint(&c));
            tsc = t;
            ns = w;
        }
        *has_offsets = c.p < c.end;
        for (uint64_t i = 0; *has_offsets && i < count; i++) {
            int64_t o = unzigzag(get_varint(&c));
            p = put_varint(p, zigzag((int64_t)((uint64_t)o - (uint64_t)off)));
            off = o;
        }
        if (c.bad || c.p != c.end)
            return NULL;
        sections++;
    }
    last[0] = tsc;
    last[1] = ns;
    to = put_varint(to, sections);
    memcpy(to, packed, (size_t)(p - packed));
    return to + (p - packed);
}

/* The sections ix_clock_pack packed at c (index version) from anchor tsc,
 * ns, as the frame holds them, into x->clock_buf (at most
 * IX_MAX_CLOCK_BYTES); last[] then its last anchor's. */
static void ix_clock_unpack(struct cur *c, struct ix_entry *x, unsigned version, uint64_t tsc, uint64_t ns,
                            uint64_t last[2])
{
    uint64_t sections = get_varint(c);
    if (!x->clock_buf) { /* a caller that wants no anchors */
        c->bad = 1;
        return;
    }
    int64_t off = 0;
    uint8_t body[IX_MAX_CLOCK_BYTES], *out = x->clock_buf, *end = out + IX_MAX_CLOCK_BYTES;
    if (sections > IX_MAX_CLOCK_BYTES / 8)
        c->bad = 1;
    for (uint64_t k = 0; k < sections && !c->bad; k++) {
        uint8_t *p = body;
        uint64_t hz_q16 = get_varint(c);
        p = put_varint(p, hz_q16);
        for (int i = 0; i < 2; i++)
            p = put_varint(p, get_varint(c));
        uint64_t cs = get_varint(c);
        const uint8_t *name = cs < 32 ? get_bytes(c, cs) : NULL;
        uint64_t count = get_varint(c);
        int has_offsets = get_u8(c);
        if (!name || c->bad || !count || count > SHLOG_CLOCK_MAX_ANCHORS || has_offsets > 1) {
            c->bad = 1;
            break;
        }
        p = put_varint(p, cs);
        memcpy(p, name, cs);
        p = put_varint(p + cs, count);
        /* an anchor is at most 4 varints, its offset one more */
        if ((size_t)(p - body) + count * 5 * VARINT_MAX > sizeof(body)) {
            c->bad = 1;
            break;
        }
        for (uint64_t i = 0; i < count; i++) {
            uint64_t dt = (uint64_t)unzigzag(get_varint(c));
            tsc += dt;
            ns += (uint64_t)unzigzag(get_varint(c)) + (version >= 6 ? ix_clock_predict(dt, hz_q16) : 0);
            p = put_varint(p, tsc);
            p = put_varint(p, ns);
            p = put_varint(p, get_varint(c));
            p = put_varint(p, get_varint(c));
        }
        for (uint64_t i = 0; has_offsets && i < count; i++) {
            off = (int64_t)((uint64_t)off + (uint64_t)unzigzag(get_varint(c)));
            p = put_varint(p, zigzag(off));
        }
        size_t len = (size_t)(p - body);
        if ((size_t)(end - out) < 1 + VARINT_MAX + len) {
            c->bad = 1;
            break;
        }
        *out++ = SHLOG_SEC_CLOCK;
        out = put_varint(out, len);
        memcpy(out, body, len);
        out += len;
    }
    x->clock_bytes = c->bad ? 0 : (uint32_t)(out - x->clock_buf);
    x->clock = c->bad ? NULL : x->clock_buf;
    last[0] = tsc;
    last[1] = ns;
}

/* Version 9: the change of wall time the index frame's entries before
 * make of a change of TSC dt, at the rate from the first of them with TIME
 * to the last, modulo 2^64 (0 before two of them). */
static uint64_t ix_time_predict(const struct ix_prev *prev, uint64_t dt)
{
    int64_t tsc_span = (int64_t)(prev->time_tsc - prev->rate_tsc);
    if (prev->timed < 2 || tsc_span <= 0)
        return 0;
    return (uint64_t)((__int128)(int64_t)dt * (int64_t)(prev->ns_min - prev->rate_ns) / tsc_span);
}

/* Where a plain entry's first anchor is coded from: version 9 the last
 * anchor of an entry before it, else (and before any) its tsc_min, ns_min. */
static void ix_anchor_base(const struct ix_prev *prev, const struct ix_entry *x, unsigned version, uint64_t base[2])
{
    int from_prev = version >= 9 && prev->anchored;
    base[0] = from_prev ? prev->anchor_tsc : x->tsc_min;
    base[1] = from_prev ? prev->anchor_ns : x->flags & IX_TIME ? x->ns_min : 0;
}

/* *prev after entry x, whose last anchor is anchor[] when it has one. */
static void ix_prev_after(struct ix_prev *prev, const struct ix_entry *x, int anchored, const uint64_t anchor[2])
{
    prev->end = x->offset + x->bytes;
    prev->tsc_min = x->tsc_min;
    if (x->flags & IX_TIME) {
        if (!prev->timed) {
            prev->rate_tsc = x->tsc_min;
            prev->rate_ns = x->ns_min;
        }
        prev->timed += prev->timed < 2;
        prev->time_tsc = x->tsc_min;
        prev->ns_min = x->ns_min;
    }
    if (anchored) {
        prev->anchored = 1;
        prev->anchor_tsc = anchor[0];
        prev->anchor_ns = anchor[1];
    }
    prev->nranges = x->nranges;
    memcpy(prev->ranges, x->ranges, x->nranges * sizeof(*x->ranges));
}

/* Version 9: the range at c, coded against range i of the entry before
 * (prev), as version 8 lays it out at *out; in r. */
static void ix_range_get9(struct cur *c, uint32_t i, const struct ix_prev *prev, struct ix_range *r, uint8_t **out)
{
    unsigned head = get_u8(c);
    r->is_signed = head & 1u;
    if (head & IX_RANGE_SAME) {
        if (i >= prev->nranges || prev->ranges[i].is_signed != r->is_signed)
            c->bad = 1;
        r->key = c->bad ? 0 : prev->ranges[i].key;
        r->min = (c->bad ? 0 : prev->ranges[i].max) + (uint64_t)unzigzag(get_varint(c));
    } else {
        const uint8_t *kb = get_bytes(c, 8);
        r->key = kb ? get_u64le(kb) : 0;
        uint64_t min = get_varint(c);
        r->min = r->is_signed ? (uint64_t)unzigzag(min) : min;
    }
    if (head > (IX_RANGE_SAME | 1u))
        c->bad = 1;
    uint64_t span = get_varint(c);
    r->max = r->min + span;
    uint8_t *p = *out;
    put_u64le(p, r->key);
    p[8] = r->is_signed;
    p = put_varint(p + 9, r->is_signed ? zigzag((int64_t)r->min) : r->min);
    *out = put_varint(p, span);
}

uint8_t *shlog__ix_entry_put(uint8_t *p, const struct ix_entry *x, struct ix_prev *prev)
{
    uint64_t anchor[2];
    p = put_varint(p, x->offset - prev->end);
    p = put_varint(p, x->bytes);
    p = put_varint(p, x->raw_bytes);
    p = put_varint(p, x->records);
    p = put_varint(p, zigzag((int64_t)(x->tsc_min - prev->tsc_min)));
    p = put_varint(p, x->tsc_max - x->tsc_min);
    *p++ = x->flags;
    if (x->flags & IX_TIME) {
        uint64_t ns_pred = ix_time_predict(prev, x->tsc_min - prev->time_tsc);
        p = put_varint(p, zigzag((int64_t)(x->ns_min - prev->ns_min - ns_pred)));
        p = put_varint(p, zigzag((int64_t)(x->ns_max - x->ns_min - ix_time_predict(prev, x->tsc_max - x->tsc_min))));
    }
    *p++ = x->levels;
    p = put_varint(p, x->categories);
    p = put_varint(p, x->npids);
    for (uint32_t i = 0; x->npids <= IX_MAX_PIDS && i < x->npids; i++)
        p = put_varint(p, x->pids[i]);
    p = put_varint(p, x->nranges);
    for (uint32_t i = 0; i < x->nranges; i++) {
        const struct ix_range *r = &x->ranges[i];
        if (i < prev->nranges && prev->ranges[i].key == r->key && prev->ranges[i].is_signed == r->is_signed) {
            *p++ = (uint8_t)(IX_RANGE_SAME | r->is_signed);
            p = put_varint(p, zigzag((int64_t)(r->min - prev->ranges[i].max)));
        } else {
            *p++ = r->is_signed;
            put_u64le(p, r->key);
            p = put_varint(p + 8, r->is_signed ? zigzag((int64_t)r->min) : r->min);
        }
        p = put_varint(p, r->max - r->min);
    }
    p = put_varint(p, x->bloom_blocks);
    if (x->flags & IX_PLAIN) {
        p = put_varint(p, x->nrings);
        for (uint32_t i = 0; i < x->nrings; i++) {
            const struct ix_ring *r = &x->rings[i];
            p = put_varint(p, r->proc);
            p = put_varint(p, r->cpu);
            p = put_varint(p, x->tsc_max - r->max_tsc);
            p = put_varint(p, r->max_tsc - r->last_tsc);
        }
        ix_anchor_base(prev, x, SHLOG_INDEX_VERSION, anchor);
        p = ix_clock_pack(p, x->clock, x->clock_bytes, anchor[0], anchor[1], anchor);
        if (!p)
            return NULL;
    }
    if (x->flags & IX_TRACES) {
        p = put_varint(p, x->ntraces);
        for (uint32_t i = 0; i < x->ntraces; i++) {
            const struct ix_trace *t = &x->traces[i];
            p = put_varint(p, t->proc);
            p = put_varint(p, t->tid);
            put_u64le(p, t->hi);
            put_u64le(p + 8, t->lo);
            p[16] = t->span_len;
            memcpy(p + 17, t->span, t->span_len);
            p += 17 + t->span_len;
        }
    }
    ix_prev_after(prev, x, (x->flags & IX_PLAIN) && x->clock_bytes, anchor);
    return p;
}

int shlog__ix_entry_get(struct cur *c, struct ix_entry *x, unsigned version, struct ix_prev *prev)
{
    uint64_t anchor[2] = {0, 0};
    if (version < 7)
        *prev = (struct ix_prev){0}; /* every value whole */
    x->offset = get_varint(c);
    if (x->offset > UINT64_MAX - prev->end)
        c->bad = 1;
    x->offset += prev->end;
    x->bytes = get_varint(c);
    if (version >= 9) { /* the check of the prefix of the frame's sizes */
        uint64_t raw = get_varint(c);
        uint8_t prefix[SHLOG_FRAME_PREFIX_BYTES];
        if (raw > UINT32_MAX || x->bytes < SHLOG_FRAME_PREFIX_BYTES ||
            x->bytes - SHLOG_FRAME_PREFIX_BYTES > UINT32_MAX)
            c->bad = 1;
        else
            shlog__frame_prefix_put(prefix, (uint32_t)(x->bytes - SHLOG_FRAME_PREFIX_BYTES), (uint32_t)raw);
        x->prefix_check = c->bad ? 0 : get_u32le(prefix + 12);
    } else {
        const uint8_t *chk = get_bytes(c, 4);
        x->prefix_check = chk ? get_u32le(chk) : 0;
    }
    x->records = get_varint(c);
    x->tsc_min = version < 7 ? get_varint(c) : prev->tsc_min + (uint64_t)unzigzag(get_varint(c));
    uint64_t span = get_varint(c);
    x->tsc_max = x->tsc_min + span;
    x->flags = get_u8(c);
    if (version < 2)
        x->flags &= (uint8_t)~IX_PLAIN; /* a bit version 1 did not define */
    if (version < 3)
        x->flags &= (uint8_t)~IX_TIDS;
    if (version < 5)
        x->flags &= (uint8_t)~IX_TRACES;
    if (version < 6)
        x->flags &= (uint8_t)~IX_WORDS;
    if (version < 7)
        x->flags &= (uint8_t)~IX_GROUPED;
    x->ns_min = 0;
    x->ns_max = UINT64_MAX;
    if (x->flags & IX_TIME) {
        x->ns_min = version < 7 ? get_varint(c) : prev->ns_min + (uint64_t)unzigzag(get_varint(c));
        uint64_t ns_span = get_varint(c);
        if (version >= 9) {
            x->ns_min += ix_time_predict(prev, x->tsc_min - prev->time_tsc);
            ns_span = (uint64_t)unzigzag(ns_span) + ix_time_predict(prev, span);
        }
        x->ns_max = x->ns_min + ns_span;
        if (x->ns_max < x->ns_min)
            c->bad = 1;
    }
    x->levels = get_u8(c);
    x->categories = get_varint(c);
    uint64_t npids = get_varint(c);
    if (npids > IX_MANY_PIDS)
        c->bad = 1;
    x->npids = (uint32_t)(npids > IX_MANY_PIDS ? 0 : npids);
    for (uint32_t i = 0; x->npids <= IX_MAX_PIDS && i < x->npids && !c->bad; i++) {
        uint64_t pid = get_varint(c);
        if (pid > UINT32_MAX)
            c->bad = 1;
        x->pids[i] = (uint32_t)pid;
    }
    uint64_t nranges = get_varint(c);
    if (nranges > IX_MAX_RANGES)
        c->bad = 1;
    x->nranges = c->bad ? 0 : (uint32_t)nranges;
    uint8_t *rebuilt = x->range_buf;
    if (version >= 9 && !rebuilt) /* a caller that wants no ranges */
        c->bad = 1;
    x->range_bytes = version >= 9 ? x->range_buf : c->p;
    for (uint32_t i = 0; i < x->nranges && !c->bad; i++) {
        const uint8_t *kb = rebuilt;
        uint64_t min, span;
        if (version >= 9) { /* checked as version 8's below */
            ix_range_get9(c, i, prev, &x->ranges[i], &rebuilt);
            min = x->ranges[i].is_signed ? zigzag((int64_t)x->ranges[i].min) : x->ranges[i].min;
            span = x->ranges[i].max - x->ranges[i].min;
        } else {
            kb = get_bytes(c, 9);
            min = get_varint(c);
            span = get_varint(c);
        }
        if (kb && kb[8] > 1)
            c->bad = 1;
        if (kb && !kb[8] && span > UINT64_MAX - min)
            c->bad = 1; /* an unsigned range past 2^64 - 1 */
        if (kb && kb[8] && span > (uint64_t)INT64_MAX - (uint64_t)unzigzag(min))
            c->bad = 1; /* a signed one past INT64_MAX */
    }
    x->range_len = version >= 9 && !c->bad ? (uint32_t)(rebuilt - x->range_buf) : 0;
    uint64_t blocks = get_varint(c);
    /* a power of two, as the writer folds it: the block of a hash is its high bits */
    if (blocks > IX_MAX_BLOOM_BLOCKS || (blocks & (blocks - 1)))
        c->bad = 1;
    if ((x->flags & IX_GROUPED) && (blocks || !x->records))
        c->bad = 1; /* a frame of keys whose filter is its group's */
    x->bloom_blocks = c->bad ? 0 : (uint32_t)blocks;
    x->bloom = version < 3 ? get_bytes(c, (uint64_t)x->bloom_blocks * IX_BLOCK_BYTES) : NULL;
    x->nrings = 0;
    x->ring_bytes = c->p;
    x->clock_bytes = 0;
    x->clock = NULL;
    if (x->flags & IX_PLAIN) {
        /* every record's ring, each once: a ring's TSCs within the frame's */
        uint64_t nrings = get_varint(c);
        if (!nrings || nrings > IX_MAX_RINGS || !x->records)
            c->bad = 1;
        x->nrings = c->bad ? 0 : (uint32_t)nrings;
        x->ring_bytes = c->p;
        for (uint32_t i = 0; i < x->nrings && !c->bad; i++) {
            uint64_t proc = get_varint(c), cpu = get_varint(c), last = get_varint(c), most = get_varint(c);
            if (version >= 7) { /* tsc_max - most, most - last: as offsets from tsc_min */
                uint64_t down = last, apart = most;
                most = span - down;
                last = most - apart;
                if (down > span || apart > most)
                    c->bad = 1;
            }
            if (proc > UINT32_MAX || cpu > UINT32_MAX || last > most || most > span)
                c->bad = 1;
        }
        if (version >= 3) {
            ix_anchor_base(prev, x, version, anchor);
            ix_clock_unpack(c, x, version, anchor[0], anchor[1], anchor);
            goto checked;
        }
        /* sections a reader reads as it would in the frame: checked there */
        uint64_t clock_bytes = get_varint(c);
        if (clock_bytes > IX_MAX_CLOCK_BYTES)
            c->bad = 1;
        x->clock_bytes = c->bad ? 0 : (uint32_t)clock_bytes;
        x->clock = get_bytes(c, x->clock_bytes);
        /* CLOCK sections only: a reader takes them in place of the frame's */
        struct cur sec = {x->clock, x->clock ? x->clock + x->clock_bytes : NULL, 0};
        while (x->clock && sec.p < sec.end && !sec.bad)
            if (get_u8(&sec) != SHLOG_SEC_CLOCK || !get_bytes(&sec, get_varint(&sec)))
                sec.bad = 1;
        if (sec.bad)
            c->bad = 1;
    }
checked:
    x->ntraces = 0;
    x->trace_bytes = c->p;
    if (x->flags & IX_TRACES) {
        /* each thread once, its span within a span's bound */
        uint64_t ntraces = get_varint(c);
        if (ntraces > IX_MAX_TRACES || !x->records)
            c->bad = 1;
        x->ntraces = c->bad ? 0 : (uint32_t)ntraces;
        x->trace_bytes = c->p;
        for (uint32_t i = 0; i < x->ntraces && !c->bad; i++) {
            uint64_t proc = get_varint(c), tid = get_varint(c);
            const uint8_t *id = get_bytes(c, 17);
            if (proc > UINT32_MAX || tid > UINT32_MAX || !id || id[16] > SHMLOG_TRACE_SPAN_BYTES ||
                !get_bytes(c, id ? id[16] : 0))
                c->bad = 1;
        }
    }
    if (span > UINT64_MAX - x->tsc_min || x->offset > INT64_MAX || x->bytes > INT64_MAX ||
        x->bytes < SHLOG_FRAME_PREFIX_BYTES)
        c->bad = 1;
    if (!c->bad)
        ix_prev_after(prev, x, (x->flags & IX_PLAIN) && x->clock_bytes, anchor);
    return c->bad ? -1 : 0;
}

void shlog__ix_trace_next(const uint8_t **p, struct ix_trace *t)
{
    struct cur c = {*p, *p + 2 * VARINT_MAX + 17 + SHMLOG_TRACE_SPAN_BYTES, 0};
    t->proc = (uint32_t)get_varint(&c);
    t->tid = (uint32_t)get_varint(&c);
    const uint8_t *id = get_bytes(&c, 17);
    t->hi = get_u64le(id);
    t->lo = get_u64le(id + 8);
    t->span_len = id[16];
    memcpy(t->span, get_bytes(&c, t->span_len), t->span_len);
    *p = c.p;
}

void shlog__ix_ring_next(const uint8_t **p, uint64_t tsc_min, uint64_t tsc_max, int from_max, struct ix_ring *r)
{
    struct cur c = {*p, *p + 4 * VARINT_MAX, 0};
    r->proc = (uint32_t)get_varint(&c);
    r->cpu = (uint32_t)get_varint(&c);
    uint64_t first = get_varint(&c), second = get_varint(&c);
    r->max_tsc = from_max ? tsc_max - first : tsc_min + second;
    r->last_tsc = from_max ? r->max_tsc - second : tsc_min + first;
    *p = c.p;
}

void shlog__ix_range_next(const uint8_t **p, struct ix_range *r)
{
    struct cur c = {*p, *p + 9 + 2 * VARINT_MAX, 0};
    const uint8_t *kb = get_bytes(&c, 9);
    r->key = get_u64le(kb);
    r->is_signed = kb[8];
    uint64_t min = get_varint(&c);
    r->min = r->is_signed ? (uint64_t)unzigzag(min) : min;
    r->max = r->min + get_varint(&c);
    *p = c.p;
}
