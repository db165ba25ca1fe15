/*
 * render_args.c - argument decoding: a record's payload read back into typed
 * arguments by the types its call site registered. The payload comes from
 * another process or a file: every length is checked against it.
 */
#include "render_private.h"

#include <endian.h>
#include <string.h>

const char *render_arg_type_name(unsigned type)
{
    static const char *const names[SHMLOG_ARG_TYPE_COUNT] = {
        "none", "bool", "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "f32", "f64", "ptr", "str",
    };
    return type < SHMLOG_ARG_TYPE_COUNT ? names[type] : "?";
}

/* A little-endian value of 1, 2, 4 or 8 bytes (shmlog_arg_width's widths). */
static uint64_t load_le(const uint8_t *p, unsigned width)
{
    switch (width) {
    case 1:
        return p[0];
    case 2: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return le16toh(v);
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return le32toh(v);
    }
    default: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return le64toh(v);
    }
    }
}

/* render_decode_args_typed once the shape of its types is known: one switch per
 * argument, each case loading its own width where the arguments before it
 * end. The payload is measured in the same walk, as shmlog_args_measure
 * does, a stretch at a time: each string's length says how far the bytes up
 * to the next string's header (or the end) must reach, checked before any of
 * them is read. */
int render_decode_args_shaped(const struct shmlog_args_shape *sh, const uint8_t *types, const uint8_t *payload,
                              size_t payload_len, struct render_arg args[SHMLOG_MAX_ARGS])
{
    size_t len = payload_len < SHMLOG_MAX_PAYLOAD ? payload_len : SHMLOG_MAX_PAYLOAD;
    if ((size_t)(sh->nstr ? sh->fixed_before[0] + SHMLOG_STR_HEADER_BYTES : sh->fixed_after) > len)
        return -1;
    size_t off = 0;
    unsigned k = 0, nargs = sh->nargs, nstr = sh->nstr; /* k: strings passed */
    for (unsigned i = 0; i < nargs; i++) {
        struct render_arg *a = &args[i];
        const uint8_t *p = payload + off;
        uint8_t type = types[i]; /* read once: the stores to args may alias it */
        *a = (struct render_arg){.type = type}; /* type, str_truncated and str_len in one store */
        switch (type) {
        case SHMLOG_ARG_BOOL: case SHMLOG_ARG_U8:
            a->v.u = p[0];
            off += 1;
            break;
        case SHMLOG_ARG_I8:
            a->v.i = sign_extend(p[0], 8);
            off += 1;
            break;
        case SHMLOG_ARG_U16:
            a->v.u = load_le(p, 2);
            off += 2;
            break;
        case SHMLOG_ARG_I16:
            a->v.i = sign_extend(load_le(p, 2), 16);
            off += 2;
            break;
        case SHMLOG_ARG_U32:
            a->v.u = load_le(p, 4);
            off += 4;
            break;
        case SHMLOG_ARG_I32:
            a->v.i = sign_extend(load_le(p, 4), 32);
            off += 4;
            break;
        case SHMLOG_ARG_F32: {
            uint32_t bits = (uint32_t)load_le(p, 4);
            float f;
            memcpy(&f, &bits, sizeof f);
            a->v.f = f;
            off += 4;
            break;
        }
        case SHMLOG_ARG_STR: {
            uint16_t hdr = (uint16_t)load_le(p, 2);
            a->str_truncated = (hdr & SHMLOG_STR_TRUNCATED) != 0;
            a->str_len = (uint16_t)shmlog_str_length(hdr);
            a->v.s = p + SHMLOG_STR_HEADER_BYTES;
            off += SHMLOG_STR_HEADER_BYTES + a->str_len;
            k++;
            if (off + (k < nstr ? sh->fixed_before[k] + SHMLOG_STR_HEADER_BYTES : sh->fixed_after) > len)
                return -1;
            break;
        }
        default: { /* U64, I64, PTR, F64: the shape took no other type */
            uint64_t raw = load_le(p, 8);
            memcpy(&a->v, &raw, sizeof raw); /* the bits of u, i or f alike */
            off += 8;
            break;
        }
        }
    }
    return (int)nargs;
}

int render_decode_args_typed(unsigned nargs, const uint8_t *types, const uint8_t *payload, size_t payload_len,
                             struct render_arg args[SHMLOG_MAX_ARGS])
{
    struct shmlog_args_shape sh;
    if (shmlog_args_shape_init(&sh, nargs, types) != 0)
        return -1;
    return render_decode_args_shaped(&sh, types, payload, payload_len, args);
}

int render_decode_args(const struct shm_site *site, const uint8_t *payload, size_t payload_len,
                       struct render_arg args[SHMLOG_MAX_ARGS])
{
    if (!site)
        return -1;
    return render_decode_args_typed(site->nargs, site->arg_types, payload, payload_len, args);
}

int render_decode_args_values(const struct render_site *sr, const struct shm_copied_record *rec,
                              struct render_arg args[SHMLOG_MAX_ARGS])
{
    unsigned n = sr->nargs;
    if (shm_rec_nvalues(rec) != n)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        uint64_t v = shm_rec_value(rec, i);
        uint8_t type = sr->arg_types[i];
        args[i] = (struct render_arg){.type = type};
        if (type == SHMLOG_ARG_STR) {
            if (!(args[i].v.s = shm_rec_str(rec, v)))
                return -1;
            args[i].str_len = (uint16_t)(v & SHMLOG_STR_LEN_MASK);
            args[i].str_truncated = (v & SHMLOG_STR_TRUNCATED) != 0;
        } else if (type == SHMLOG_ARG_F32) {
            args[i].v.f = value_f32(v);
        } else {
            args[i].v.u = v;
        }
    }
    return (int)n;
}
