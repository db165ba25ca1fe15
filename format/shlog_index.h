/*
 * shlog_index.h - private to the file format library: what the encoder,
 * which writes a file's index (FORMAT.md, "Index"), and the decoder, which
 * reads it, share: the keys' hash, the split-block Bloom filter, the words of
 * a text and the field names of a format, and the index frame's layout.
 */
#ifndef SHLOG_INDEX_H
#define SHLOG_INDEX_H

#include "shlog_coding.h"

/* The zstd skippable frame magic an index frame's payload is in (zstd allows
 * 0x184D2A50..5F): an old reader decodes it as a frame of no sections. */
#define IX_SKIPPABLE_MAGIC 0x184D2A5Eu
#define IX_MAGIC 0x58494C53u         /* "SLIX": an index frame's payload */
#define IX_TRAILER_MAGIC 0x45494C53u /* "SLIE": the footer's last word, the file's */
#define IX_TRAILER_BYTES 32u
#define IX_HEAD_BYTES 16u            /* magic, version, kind, reserved, prev */
#define IX_HEAD3_BYTES 20u           /* version 3: then the bytes of its summaries */
/* Version 6: how an index frame's summaries are held, the byte before them. */
#define IX_SUMMARIES_PLAIN 0u /* as version 5 lays them out */
#define IX_SUMMARIES_ZSTD 1u  /* varint their bytes, then one zstd frame of them */
#define IX_SUMMARIES_LEVEL 3 /* zstd's level for them: higher levels gain some 5 % more */
/* Version 9's writer: zstd's level for summaries of at most IX_SMALL_SUMMARIES
 * bytes (a slow host's index frame): some 6 % fewer bytes than level 3, where
 * a fast host's summaries would cost its collector ten times the cpu. */
#define IX_SMALL_SUMMARIES_LEVEL 19
#define IX_SMALL_SUMMARIES 32768u
#define IX_SUMMARIES_MAX (64u << 20) /* the most a reader decompresses of one index frame's */
#define IX_KIND_BLOCK 1u
#define IX_KIND_FOOTER 2u
#define IX_BLOCK_BYTES 32u           /* a Bloom filter block: 8 words of 32 bits */
#define IX_MAX_BLOOM_BLOCKS (1u << 16) /* of one frame's filter, 2 MiB */
#define IX_MAX_PIDS 32u              /* a frame of more processes lists none */
#define IX_MANY_PIDS (IX_MAX_PIDS + 1u)
#define IX_MAX_RANGES 16u            /* subject fields' ranges in one frame; more are named unindexed */
#define IX_MAX_RINGS 32u             /* rings of a plain frame; a frame of more is not plain */
#define IX_MAX_CLOCK_BYTES 4096u     /* of a plain frame's CLOCK sections (an anchor every 10 ms: about 110 of them); a frame of more is not plain */
/* Key tags (FORMAT.md, "Index"): what a key's hash starts with. */
#define IX_TAG_APP 'a'
#define IX_TAG_SITE 'c'
#define IX_TAG_RANGE 'r'  /* a subject field's range: its name */
#define IX_TAG_STRING 's'
#define IX_TAG_WORD 'w'
#define IX_TAG_UNINDEXED 'u' /* a numeric field whose values are not keys: its name */
#define IX_TAG_THREAD 't'    /* version 3: a record's thread id (a number key) */
#define IX_TAG_TRACE 'x'     /* version 5: a trace id a trace record sets (its 16 bytes, big-endian) */
#define IX_TAG_GRAM 'g'      /* version 8: three bytes of a word, in an index frame's gram filter */
#define IX_GRAM_BYTES 3u
#define IX_MAX_TRACES 64u    /* threads whose trace a frame's entry restates; a frame of more lists none */

/* FNV-1a 64 of (tag, name, 0): where a key of that tag and name goes on. */
uint64_t shlog__ix_prefix(unsigned tag, const char *name, size_t len);
/* The key of a text value (a string argument, a word, an app, a site). */
uint64_t shlog__ix_text(uint64_t prefix, const uint8_t *p, size_t n);

static inline uint64_t ix_mix(uint64_t h)
{
    /* MurmurHash3's 64-bit finalizer: every input bit moves every output bit */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* The key of a number v after prefix (FORMAT.md, "Index"). */
static inline uint64_t shlog__ix_number(uint64_t prefix, uint64_t v)
{
    return ix_mix(prefix + v * 0x9E3779B97F4A7C15ull);
}

/* The least and the most value of a subject field in a frame. */
struct ix_range {
    uint64_t key;    /* ix_mix(P('r', name)) */
    uint8_t is_signed;
    uint64_t min, max; /* compared as int64_t when is_signed */
};

/* Split-block Bloom filter of Apache Parquet (parquet-format, BloomFilter.md):
 * n blocks of 8 x u32, n a power of two here, the block chosen by the hash's
 * high half, one bit in each word by its low half times a salt. */
static inline void ix_bloom_add(uint32_t *words, uint32_t nblocks, uint64_t h)
{
    static const uint32_t salt[8] = {0x47b6137bu, 0x44974d91u, 0x8824ad5bu, 0xa2b7289du,
                                     0x705495c7u, 0x2df1424bu, 0x9efc4947u, 0x5c6bfb31u};
    uint32_t *b = words + 8 * (size_t)(((h >> 32) * nblocks) >> 32);
    uint32_t x = (uint32_t)h;
    for (int i = 0; i < 8; i++)
        b[i] |= 1u << ((x * salt[i]) >> 27);
}
/* 1 when every bit of h is set in the filter (little-endian words at p). */
int shlog__ix_bloom_has(const uint8_t *p, uint32_t nblocks, uint64_t h);

/* Calls each with every word of text (runs of [A-Za-z0-9_] and bytes from
 * 0x80 on) until it returns non-zero. */
void shlog__ix_words(const uint8_t *text, size_t n, void (*each)(void *, const uint8_t *, size_t), void *clientd);

/* 1 when every message of a site of this printf format, these argument
 * types and no descriptor shows each word of its own whole: its literal
 * text's words, each string argument's words, and numbers' and characters'
 * output apart (FORMAT.md, "Message words"). */
int shlog__ix_words_whole(const char *fmt, size_t n, unsigned nargs, const uint8_t *types);

/* The field name of each argument of a printf format (name=%d: the run of
 * [A-Za-z0-9_.] before the '=' right before a conversion, as readers name
 * the fields): name[i], len[i] (0: none) for argument i < nargs; also calls
 * text with each run of literal text. */
void shlog__ix_fields(const char *fmt, size_t n, unsigned nargs, const char **name, size_t *len,
                      void (*text)(void *, const uint8_t *, size_t), void *clientd);

/* Calls each with the key of every run of IX_GRAM_BYTES bytes of word w
 * (FORMAT.md, "Substrings"); prefix: shlog__ix_prefix(IX_TAG_GRAM, "", 0). */
static inline void shlog__ix_grams(uint64_t prefix, const uint8_t *w, size_t n, void (*each)(void *, uint64_t),
                                   void *clientd)
{
    for (size_t i = 0; i + IX_GRAM_BYTES <= n; i++)
        each(clientd, shlog__ix_text(prefix, w + i, IX_GRAM_BYTES));
}

/* The key of trace id hi, lo (FORMAT.md, "Trace ids in the index"). */
uint64_t shlog__ix_trace_key(uint64_t hi, uint64_t lo);

/* A thread's trace as the last trace record of it in a frame set it. */
struct ix_trace {
    uint32_t proc, tid;
    uint64_t hi, lo;
    uint8_t span_len;
    uint8_t span[SHMLOG_TRACE_SPAN_BYTES];
};

/* A ring's records in a plain frame: the TSC of its last one and its most. */
struct ix_ring {
    uint32_t proc, cpu;
    uint64_t last_tsc, max_tsc;
};

/* One frame's summary as an index frame holds it (FORMAT.md, "Index"). */
struct ix_entry {
    uint64_t offset, bytes;
    uint32_t prefix_check;
    uint32_t raw_bytes; /* the writer's: its prefix's raw_bytes, which version 9 holds in place of the check */
    uint64_t records;
    uint64_t tsc_min, tsc_max;
    uint64_t ns_min, ns_max; /* when flags & IX_TIME */
    uint8_t flags;
    uint8_t levels;
    uint64_t categories;
    uint32_t npids; /* IX_MANY_PIDS: more than IX_MAX_PIDS, none listed */
    uint32_t pids[IX_MAX_PIDS];
    uint32_t nranges;
    struct ix_range ranges[IX_MAX_RANGES]; /* the writer's; the reader's of version 9 too */
    const uint8_t *range_bytes;            /* the reader's: them as version 8 lays them out */
    uint8_t *range_buf;  /* the reader's, version 9 (IX_RANGE_BUF_BYTES): them as version 8 lays them out */
    uint32_t range_len;  /* version 9: of them in range_buf */
    uint32_t bloom_blocks;
    const uint8_t *bloom;
    uint32_t nrings;                     /* when flags & IX_PLAIN */
    struct ix_ring rings[IX_MAX_RINGS];  /* the writer's */
    const uint8_t *ring_bytes;           /* the reader's: where they are in the index frame */
    uint32_t clock_bytes;                /* when flags & IX_PLAIN: the frame's CLOCK sections as it holds them */
    const uint8_t *clock;
    uint8_t *clock_buf; /* the reader's, version 3 (IX_MAX_CLOCK_BYTES): them as the frame holds them */
    uint32_t ntraces;                      /* when flags & IX_TRACES */
    struct ix_trace traces[IX_MAX_TRACES]; /* the writer's */
    const uint8_t *trace_bytes;            /* the reader's: where they are in the index frame */
};
#define IX_TIME 1u  /* ns_min, ns_max say where the records' wall times are */
#define IX_PLAIN 2u /* version 2: the frame holds BATCH and CLOCK sections only: its rings and anchors listed */
#define IX_TIDS 4u  /* version 3: its filter holds every record's thread id */
#define IX_TRACES 8u /* version 5: its trace records' last trace of each thread listed, their ids in its filter */
#define IX_WORDS 16u /* version 6: every whole word of its messages but a number's is a `w` key of its filter */
#define IX_GROUPED 32u /* version 7: no filter of its own (blocks 0): its index frame's group filter has its keys */

/* The most an entry takes in an index frame. */
#define IX_ENTRY_MAX(bloom_blocks)                                                                                \
    (17u * VARINT_MAX + 6u + IX_MAX_PIDS * 5u + IX_MAX_RANGES * (9u + 2u * VARINT_MAX) +                           \
     IX_MAX_RINGS * (2u * 5u + 2u * VARINT_MAX) + IX_MAX_CLOCK_BYTES + 5u +                                      \
     IX_MAX_TRACES * (2u * 5u + 16u + 1u + SHMLOG_TRACE_SPAN_BYTES) + (size_t)(bloom_blocks) * IX_BLOCK_BYTES)
#define IX_RANGE_SAME 2u /* version 9: a range's head bit: the key and sign of the entry before's at its place */
#define IX_RANGE_BUF_BYTES (IX_MAX_RANGES * (9u + 2u * VARINT_MAX))
/* Version 7: what an entry's place and times are coded against, the
 * entry's before it in its index frame's (zero before the first). */
struct ix_prev {
    uint64_t end;    /* its offset + bytes */
    uint64_t tsc_min;
    uint64_t ns_min; /* of the last entry with TIME */
    /* version 9: the rate its times are predicted at, from the first entry
     * with TIME (rate_tsc, rate_ns) to the last (time_tsc, ns_min) */
    uint64_t time_tsc, rate_tsc, rate_ns;
    uint32_t timed;               /* entries with TIME so far */
    uint32_t anchored;            /* 1: anchor_tsc, anchor_ns are the last anchor of an entry before */
    uint64_t anchor_tsc, anchor_ns;
    uint32_t nranges; /* version 9: the last entry's ranges, which its ranges are coded against */
    struct ix_range ranges[IX_MAX_RANGES];
};
/* The entry of the writer's version at p, its filter left to the caller (in the
 * filters after the summaries); *prev then its. NULL when its CLOCK
 * sections are not as the encoder writes them (then the frame must not be
 * plain; *prev unchanged). */
uint8_t *shlog__ix_entry_put(uint8_t *p, const struct ix_entry *x, struct ix_prev *prev);
/* 0, or -1 when the bytes at c are not an entry of an index frame of that
 * version (c->bad set). In version 3, x->bloom is NULL: the filter is in the
 * index frame's filters, x->clock in x->clock_buf. */
int shlog__ix_entry_get(struct cur *c, struct ix_entry *x, unsigned version, struct ix_prev *prev);
/* The next range of an entry's (n of them at *p, as shlog__ix_entry_get
 * checked them). */
void shlog__ix_range_next(const uint8_t **p, struct ix_range *r);
/* The next trace of an entry's (as shlog__ix_entry_get checked them). */
void shlog__ix_trace_next(const uint8_t **p, struct ix_trace *t);
/* The next ring of a plain entry's (as shlog__ix_entry_get checked them),
 * its TSCs from the entry's tsc_min, or (version 7: from_max) down from
 * its tsc_max. */
void shlog__ix_ring_next(const uint8_t **p, uint64_t tsc_min, uint64_t tsc_max, int from_max, struct ix_ring *r);

#endif /* SHLOG_INDEX_H */
