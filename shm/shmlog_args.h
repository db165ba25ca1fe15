/*
 * shmlog_args.h - how a call's arguments lie in a record: the one description that
 * the header's packing, the segment reader, the collector's encoder, the file
 * decoder and the renderer use, so that they cannot disagree.
 *
 *   payload = arg[0] arg[1] ... arg[nargs - 1]     in argument order, no padding
 *   a fixed-width argument: shmlog_arg_width(type) bytes, little-endian (1, 2, 4, 8)
 *   a string (STR):         <u16 hdr = length | SHMLOG_STR_TRUNCATED if cut> <length bytes>
 *
 * The payload runs through the record's slots; byte i is at
 * shmlog_payload_offset(i) from the head slot:
 *
 *   head slot                          continuation slot (at most 254)
 *   +--------------+---------------+   +--------+---------------+
 *   | 28 B header  | payload 0..35 |   | commit | payload 36..91 |  ...  up to byte 14259
 *   +--------------+---------------+   +--------+---------------+
 *
 * A record holds at most SHMLOG_MAX_PAYLOAD (14260) bytes of arguments, and a
 * process bounds its records lower (struct shmlog_config.arg_bytes: 4 KiB
 * unless set). What a call takes whatever its values (every width, and the
 * header of each string: at most 16 x 8 = 128 bytes) always fits; its strings
 * share the room left. When they fit, each is whole. When they do not, the
 * room is shared out fairly (shmlog_str_share): a string shorter than an
 * equal share of what the longer ones leave stays whole, the longer ones are
 * cut to equal shares (the earlier ones take the odd bytes) and marked, and
 * the record is flagged SHMLOG_REC_TRUNCATED. So a string after a long one
 * that was cut is never emptied by it.
 *
 * Readers parse a payload against its call site's types with
 * shmlog_args_measure: a payload that does not hold them is never read.
 */
#ifndef SHMLOG_ARGS_H
#define SHMLOG_ARGS_H

#include "shmlog_abi.h" // amalgamate:drop

#define SHMLOG_STR_HEADER_BYTES 2u
#define SHMLOG_ARGS_BAD (SHMLOG__CAST(size_t, -1)) /* shmlog_args_measure: the payload does not hold the arguments */

SHMLOG__STATIC_ASSERT(SHMLOG_MAX_ARGS * 8u < SHMLOG_MAX_PAYLOAD, "the fixed part of every call fits a record");
SHMLOG__STATIC_ASSERT(SHMLOG_MAX_PAYLOAD <= SHMLOG_STR_LEN_MASK, "a string's length fits its header");

/* Payload width of a fixed-size argument type; 0 for STR (variable) and unknown. */
static inline unsigned shmlog_arg_width(unsigned type)
{
    switch (type) {
    case SHMLOG_ARG_BOOL: case SHMLOG_ARG_I8: case SHMLOG_ARG_U8: return 1;
    case SHMLOG_ARG_I16: case SHMLOG_ARG_U16: return 2;
    case SHMLOG_ARG_I32: case SHMLOG_ARG_U32: case SHMLOG_ARG_F32: return 4;
    case SHMLOG_ARG_I64: case SHMLOG_ARG_U64: case SHMLOG_ARG_F64: case SHMLOG_ARG_PTR: return 8;
    default: return 0;
    }
}

/* Payload bytes an argument takes whatever its value: its width, or a string's header. */
static inline unsigned shmlog_arg_fixed_bytes(unsigned type)
{
    return type == SHMLOG_ARG_STR ? SHMLOG_STR_HEADER_BYTES : shmlog_arg_width(type);
}

/* The header word of a string of len bytes (cut: it was cut to them). */
static inline uint16_t shmlog_str_header(size_t len, unsigned cut)
{
    return SHMLOG__CAST(uint16_t, len | (cut ? SHMLOG_STR_TRUNCATED : 0u));
}

/* The length a string header gives (its TRUNCATED bit aside). */
static inline size_t shmlog_str_length(uint16_t hdr)
{
    return hdr & SHMLOG_STR_LEN_MASK;
}

/* The truncation rule, for the strings of a call whose want[0..n) bytes do
 * not fit in room (their sum is larger): each string's stored length in
 * want[i] and 1 in cut[i] when it was cut. Max-min fair: strings that want
 * no more than an equal share of the room the others leave keep their bytes;
 * the rest get equal shares, the earlier ones a byte more while the room's
 * remainder lasts. Not the hot path: only a call that cuts comes here. */
static inline void shmlog_str_share(size_t *want, unsigned *cut, unsigned n, size_t room)
{
    unsigned open = 0;
    for (unsigned i = 0; i < n; i++)
        cut[i] = 1, open++;
    for (int settled = 1; settled && open;) {
        settled = 0;
        const size_t share = room / open;
        for (unsigned i = 0; i < n; i++)
            if (cut[i] && want[i] <= share) {
                cut[i] = 0;
                room -= want[i];
                open--;
                settled = 1;
            }
    }
    if (!open)
        return;
    const size_t share = room / open;
    size_t odd = room % open;
    for (unsigned i = 0; i < n; i++)
        if (cut[i]) {
            want[i] = share + (odd ? 1 : 0);
            odd -= odd ? 1 : 0;
        }
}

/* Byte offset of payload byte i of a record within its first slot. The payload
 * stream runs through the head slot then each continuation slot's 56 bytes. */
static inline size_t shmlog_payload_offset(size_t i)
{
    if (i < SHMLOG_HEAD_PAYLOAD)
        return offsetof(struct shmlog_record, payload) + i;
    i -= SHMLOG_HEAD_PAYLOAD;
    return SHMLOG_RECORD_BYTES * (1 + i / SHMLOG_CONT_PAYLOAD) + 8 + i % SHMLOG_CONT_PAYLOAD;
}

/* Slots needed for a payload of n bytes: one division, no branch, since the
 * head slot is a continuation slot short of CONT - HEAD bytes (the log call
 * computes it for every record with a string). */
static inline unsigned shmlog_slots_for_payload(size_t n)
{
    return SHMLOG__CAST(unsigned, (n + (SHMLOG_CONT_PAYLOAD - SHMLOG_HEAD_PAYLOAD) + SHMLOG_CONT_PAYLOAD - 1) /
                                      SHMLOG_CONT_PAYLOAD);
}

/* shmlog_slots_for_payload(n) for n up to SHMLOG_MAX_PAYLOAD, as the log call
 * computes it: n + 75 times 2^20 / 56 rounded up, shifted back, exact while
 * (n + 75) times the rounding error is below 2^20; a 32-bit multiply, no
 * 64-bit one, whose rdx:rax the call's registers would have to make room for. */
#define SHMLOG__SLOTS_ADD (SHMLOG_CONT_PAYLOAD - SHMLOG_HEAD_PAYLOAD + SHMLOG_CONT_PAYLOAD - 1u)
#define SHMLOG__SLOTS_MUL ((1048576u + SHMLOG_CONT_PAYLOAD - 1u) / SHMLOG_CONT_PAYLOAD)
SHMLOG__STATIC_ASSERT((SHMLOG_MAX_PAYLOAD + SHMLOG__SLOTS_ADD) * (SHMLOG__SLOTS_MUL * SHMLOG_CONT_PAYLOAD - 1048576u) <
                          1048576u,
                      "the multiply-shift slot count is exact for every record payload");
SHMLOG__STATIC_ASSERT((SHMLOG_MAX_PAYLOAD + SHMLOG__SLOTS_ADD) * UINT64_C(1) * SHMLOG__SLOTS_MUL < (UINT64_C(1) << 32),
                      "the multiply-shift slot count fits 32 bits");
static inline unsigned shmlog_slots_for_record_payload(size_t n)
{
    return (SHMLOG__CAST(uint32_t, n + SHMLOG__SLOTS_ADD) * SHMLOG__SLOTS_MUL) >> 20; /* unsigned already */
}

/* Payload bytes a record of nslots slots (1..SHMLOG_MAX_SLOTS) has room for. */
static inline size_t shmlog_payload_capacity(unsigned nslots)
{
    return SHMLOG_HEAD_PAYLOAD + SHMLOG__CAST(size_t, nslots - 1) * SHMLOG_CONT_PAYLOAD;
}

/* What a payload must hold for a call site, worked out once from its types:
 * the fixed bytes before each string (since the string before it) and after
 * the last, so that a payload is measured in one step per string. */
struct shmlog_args_shape {
    uint8_t nargs;
    uint8_t nstr;                         /* string arguments */
    uint16_t fixed;                       /* the bytes the arguments take whatever their values */
    uint16_t fixed_before[SHMLOG_MAX_ARGS]; /* of string k: fixed bytes since the string before it */
    uint16_t fixed_after;                 /* fixed bytes after the last string (all of them with none) */
};

/* The shape of nargs arguments of types: 0, or -1 when they are too many or a
 * type is not one a record holds. */
static inline int shmlog_args_shape_init(struct shmlog_args_shape *sh, unsigned nargs, const uint8_t *types)
{
    unsigned run = 0, all = 0;
    sh->nargs = sh->nstr = 0;
    sh->fixed = sh->fixed_after = 0;
    if (nargs > SHMLOG_MAX_ARGS)
        return -1;
    for (unsigned i = 0; i < nargs; i++) {
        unsigned t = types[i], bytes = shmlog_arg_fixed_bytes(t);
        if (!bytes)
            return -1;
        all += bytes;
        if (t == SHMLOG_ARG_STR) {
            sh->fixed_before[sh->nstr++] = SHMLOG__CAST(uint16_t, run);
            run = 0;
        } else {
            run += bytes;
        }
    }
    sh->nargs = SHMLOG__CAST(uint8_t, nargs);
    sh->fixed = SHMLOG__CAST(uint16_t, all);
    sh->fixed_after = SHMLOG__CAST(uint16_t, run);
    return 0;
}

/* The payload bytes the arguments of shape sh take in payload[0..len), or
 * SHMLOG_ARGS_BAD when it does not hold them (len: what the slots hold, at
 * most SHMLOG_MAX_PAYLOAD). */
static inline size_t shmlog_args_measure(const struct shmlog_args_shape *sh, const uint8_t *payload, size_t len)
{
    size_t off = 0;
    for (unsigned k = 0; k < sh->nstr; k++) {
        off += sh->fixed_before[k];
        if (off + SHMLOG_STR_HEADER_BYTES > len)
            return SHMLOG_ARGS_BAD;
        off += SHMLOG_STR_HEADER_BYTES + shmlog_str_length(SHMLOG__CAST(uint16_t, payload[off] | payload[off + 1] << 8));
    }
    off += sh->fixed_after;
    return off <= len && off <= SHMLOG_MAX_PAYLOAD ? off : SHMLOG_ARGS_BAD;
}

/* A value tree: a C++ container, pair, tuple, variant, std::optional of a
 * struct, path, wide string or user codec value, carried in the bytes of a
 * STR argument that the site's descriptor marks "v<N>" (format/FORMAT.md, 12).
 * Each node is a tag byte then its body, little-endian:
 *
 *   BOOL .. PTR (1 .. 12)  the arguments' codes: the value in shmlog_arg_width bytes
 *   TREE_STR  <u32 len> <len bytes>   a string: quoted inside a container, as fmt does
 *   TREE_TEXT <u32 len> <len bytes>   text printed as it is (a codec's, an enum's name)
 *   TREE_CHAR <u8>                    a char: 'c' inside a container
 *   TREE_SEQ, TREE_SET, TREE_MAP <u32 count> <count nodes, a map's as key, value>
 *   TREE_TUPLE <u32 count> <count nodes>
 *   TREE_NONE                         an empty std::optional
 *   TREE_SOME <node>                  a std::optional's value
 *   TREE_VARIANT <node>               a std::variant's alternative
 *   TREE_DURATION <i64 count> <u8 len> <unit bytes>
 *   TREE_TIME <i64 ns since the epoch>
 *   TREE_STRUCT <u8 count> <count x (u8 len, name bytes, node)>
 *   TREE_PATH <u32 len> <len bytes>   a filesystem path: quoted everywhere, as fmt 9 does
 *
 * A count is the container's whole size: a tree the payload bound cut ends
 * early, and readers say how many elements of each container did not fit. */
enum shmlog_tree_tag {
    SHMLOG_TREE_STR = 32,
    SHMLOG_TREE_TEXT = 33,
    SHMLOG_TREE_CHAR = 34,
    SHMLOG_TREE_SEQ = 35,
    SHMLOG_TREE_SET = 36,
    SHMLOG_TREE_MAP = 37,
    SHMLOG_TREE_TUPLE = 38,
    SHMLOG_TREE_NONE = 39,
    SHMLOG_TREE_SOME = 40,
    SHMLOG_TREE_VARIANT = 41,
    SHMLOG_TREE_DURATION = 42,
    SHMLOG_TREE_TIME = 43,
    SHMLOG_TREE_STRUCT = 44,
    SHMLOG_TREE_PATH = 45,
};
/* Nesting a reader follows; deeper nodes are not read (a writer's deeper trees show cut). */
#define SHMLOG_TREE_MAX_DEPTH 32u

#endif /* SHMLOG_ARGS_H */
