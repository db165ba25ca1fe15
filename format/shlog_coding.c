/*
 * shlog_coding.c - the file format's coding that its encoder and decoder
 * share, out of line: the file header, the hash map's inserts, a site's
 * argument plan and the layout of its tables (shlog_coding.h has the rest).
 */
#include "shlog_coding.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <zstd.h>

/* ==== The hash map and arrays (shlog_coding.h) ==== */

static void map_place(struct map_slot *slots, size_t cap, uint64_t k1, uint64_t k2, uint32_t val)
{
    size_t i = map_hash(k1, k2) & (cap - 1);
    while (slots[i].used)
        i = (i + 1) & (cap - 1);
    slots[i] = (struct map_slot){k1, k2, val, 1};
}

int shlog__map_insert(struct map *m, uint64_t k1, uint64_t k2, uint32_t val)
{
    if ((m->count + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct map_slot *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].used)
                map_place(slots, cap, m->slots[i].k1, m->slots[i].k2, m->slots[i].val);
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    map_place(m->slots, m->cap, k1, k2, val);
    m->count++;
    return 0;
}

int shlog__grow_array(void *vp, size_t *cap, size_t n, size_t elem)
{
    void **v = vp;
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* ==== File header ==== */

void shlog_file_header_encode(uint8_t out[SHLOG_FILE_HEADER_BYTES], const struct shlog_file_header *h)
{
    memset(out, 0, SHLOG_FILE_HEADER_BYTES);
    put_u64le(out, SHLOG_FILE_MAGIC);
    put_u32le(out + 8, SHLOG_FILE_VERSION);
    put_u32le(out + 12, SHLOG_FILE_HEADER_BYTES);
    put_u64le(out + 16, h->file_seq);
    put_u64le(out + 24, h->created_ns);
    put_u32le(out + 32, h->collector_pid);
    put_u32le(out + 36, h->flags);
    memcpy(out + 40, h->host, strnlen(h->host, SHMLOG_HOST_BYTES));
    put_u32le(out + 124, fnv1a32(out, 124));
}

const char *shlog_file_header_decode(const uint8_t *in, size_t n, struct shlog_file_header *out)
{
    if (n < SHLOG_FILE_HEADER_BYTES)
        return "file is shorter than its header";
    if (get_u64le(in) != SHLOG_FILE_MAGIC)
        return "not a shmlog file (bad magic)";
    if (get_u32le(in + 124) != fnv1a32(in, 124))
        return "file header checksum mismatch";
    uint32_t version = get_u32le(in + 8);
    if (version != SHLOG_FILE_VERSION) {
        snprintf(out->refused, sizeof(out->refused), "file format version %u is %s; this reader reads version %u only",
                 version, version < SHLOG_FILE_VERSION ? "from an earlier shmlog and no longer readable"
                                                       : "newer than this shmlog",
                 SHLOG_FILE_VERSION);
        return out->refused;
    }
    if (get_u32le(in + 12) != SHLOG_FILE_HEADER_BYTES)
        return "unexpected file header size";
    memset(out, 0, sizeof(*out));
    out->version = version;
    out->file_seq = get_u64le(in + 16);
    out->created_ns = get_u64le(in + 24);
    out->collector_pid = get_u32le(in + 32);
    out->flags = get_u32le(in + 36);
    memcpy(out->host, in + 40, SHMLOG_HOST_BYTES);
    out->host[SHMLOG_HOST_BYTES] = '\0';
    return NULL;
}

/* ==== The writer's lock on a .part file ==== */

int shlog_part_lock(int fd)
{
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &lk) == 0 ? 0 : -errno;
}

int shlog_part_in_use(const char *path)
{
    /* O_NONBLOCK: a FIFO swapped in under the name must not hang the caller. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
    int in_use = fcntl(fd, F_OFD_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
    close(fd);
    return in_use;
}

/* ==== Reading files ==== */

ssize_t shlog_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (k == 0)
            break;
        done += (size_t)k;
    }
    return (ssize_t)done;
}

/* ==== Frame prefix ==== */

void shlog__frame_prefix_put(uint8_t *d, uint32_t zbytes, uint32_t raw_bytes)
{
    put_u32le(d, SHLOG_FRAME_MAGIC);
    put_u32le(d + 4, zbytes);
    put_u32le(d + 8, raw_bytes);
    put_u32le(d + 12, fnv1a32(d, 12));
}

int shlog__prefix_intact(const uint8_t *p)
{
    return get_u32le(p) == SHLOG_FRAME_MAGIC && get_u32le(p + 12) == fnv1a32(p, 12);
}

uint64_t shlog_frame_bytes(const void *prefix, size_t n)
{
    const uint8_t *p = prefix;
    if (n < SHLOG_FRAME_PREFIX_BYTES || !shlog__prefix_intact(p))
        return 0;
    uint32_t z = get_u32le(p + 4), raw = get_u32le(p + 8);
    if (z == 0 || z > ZSTD_COMPRESSBOUND(SHLOG_MAX_FRAME_RAW) || raw > SHLOG_MAX_FRAME_RAW)
        return 0;
    return SHLOG_FRAME_PREFIX_BYTES + (uint64_t)z;
}

/* ==== A site's arguments (FORMAT.md, "Arguments") ==== */

static inline unsigned arg_op_of(unsigned type)
{
    switch (type) {
    case SHMLOG_ARG_F32: return OP_F32;
    case SHMLOG_ARG_F64: return OP_F64;
    case SHMLOG_ARG_STR: return OP_STR;
    default: return shmlog_arg_width(type);
    }
}

void shlog__plan_site(struct arg_plan *pl, unsigned nargs, const uint8_t *types)
{
    memset(pl, 0, sizeof(*pl));
    if (shmlog_args_shape_init(&pl->shape, nargs, types) != 0) {
        *pl = (struct arg_plan){.raw_only = 1}; /* no tables either */
        return;
    }
    pl->shaped = 1;
    pl->nargs = (uint8_t)nargs;
    pl->key_arg = (uint8_t)nargs;
    unsigned nstr = 0;
    for (unsigned i = 0; i < nargs; i++) {
        pl->op[i] = (uint8_t)arg_op_of(types[i]);
        pl->width[i] = (uint8_t)shmlog_arg_width(types[i]);
        if (types[i] == SHMLOG_ARG_STR) {
            if (nstr == 0)
                pl->key_arg = (uint8_t)i;
            pl->str_index[i] = (uint8_t)nstr++;
        }
    }
    pl->nkeyed = pl->key_arg < nargs ? (uint8_t)(nargs - pl->key_arg - 1) : 0;
}

void shlog__site_tables_init(const struct arg_plan *pl, void *mem, uint32_t gen, struct num_ctx *ctx,
                             uint32_t *ctx_gen, struct num_ctx **keyed, struct str_table **str)
{
    *keyed = mem;
    *str = mem ? (struct str_table *)(*keyed + KEY_VALUES * pl->nkeyed) : NULL; /* NULL: a site with neither */
    if (mem)
        memset(mem, 0, site_tables_bytes(pl));
    for (unsigned i = 0; i < KEY_VALUES * pl->nkeyed; i++)
        (*keyed)[i].gen = gen;
    for (unsigned i = 0; mem && i < pl->shape.nstr; i++)
        (*str)[i].gen = gen;
    for (unsigned i = 0; i < pl->nargs; i++)
        ctx[i].gen = gen;
    *ctx_gen = gen;
}
