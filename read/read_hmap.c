/* read_hmap.c - the small hash map of the reader's engine: (k1, k2) -> pointer, open addressing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "read_engine.h"

static size_t hmap_hash(uint64_t k1, uint64_t k2)
{
    uint64_t h = (k1 ^ (k2 * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
    return (size_t)(h ^ (h >> 31));
}

void *read_hmap_get(const struct hmap *m, uint64_t k1, uint64_t k2)
{
    if (!m->cap)
        return NULL;
    for (size_t i = hmap_hash(k1, k2) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const struct hmap_slot *s = &m->slots[i];
        if (!s->v)
            return NULL;
        if (s->k1 == k1 && s->k2 == k2)
            return s->v;
    }
}

int read_hmap_put(struct hmap *m, uint64_t k1, uint64_t k2, void *v)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct hmap_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return -ENOMEM;
        for (size_t j = 0; j < m->cap; j++) {
            struct hmap_slot *s = &m->slots[j];
            if (!s->v)
                continue;
            size_t i = hmap_hash(s->k1, s->k2) & (cap - 1);
            while (slots[i].v)
                i = (i + 1) & (cap - 1);
            slots[i] = *s;
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t i = hmap_hash(k1, k2) & (m->cap - 1);
    while (m->slots[i].v && !(m->slots[i].k1 == k1 && m->slots[i].k2 == k2))
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].v)
        m->n++;
    m->slots[i] = (struct hmap_slot){k1, k2, v};
    return 0;
}

void read_hmap_clear(struct hmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}
