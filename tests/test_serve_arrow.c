/*
 * shmlog-dump serve's Arrow IPC writer (dump/dump_serve_arrow.c) given
 * batches whose lengths do not add up: each is refused before a byte of it
 * is written, and none makes the writer read past a buffer (ASan's build
 * checks). The well-formed answers are read by pyarrow, polars and DuckDB in
 * test_dump_serve_nest.sh.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dump_serve.h"

/* A column of list<int32> (item), map<utf8, int64> (entries: key, value),
 * struct {0: utf8, 1: bool} and a dictionary of utf8 indexed by int8: two
 * rows, each buffer exactly as long as the rows need. */
struct fixture {
    struct ArrowSchema batch_s, list_s, item_s, map_s, entries_s, key_s, value_s, tuple_s, t0_s, t1_s, dict_s,
        dict_values_s;
    struct ArrowSchema *batch_kids[4], *list_kids[1], *map_kids[1], *entries_kids[2], *tuple_kids[2];
    struct ArrowArray batch, list, item, map, entries, key, value, tuple, t0, t1, dict, dict_values;
    struct ArrowArray *batch_a[4], *list_a[1], *map_a[1], *entries_a[2], *tuple_a[2];
    const void *batch_b[1], *list_b[2], *item_b[2], *map_b[2], *entries_b[1], *key_b[3], *value_b[2], *tuple_b[1],
        *t0_b[3], *t1_b[2], *dict_b[2], *dict_values_b[3];
    int32_t list_off[3], items[3], map_off[3], key_off[3], t0_off[3], dict_off[3];
    int64_t values[2];
    uint8_t bools[1];
    int8_t indices[2];
    char chars[8];
};

static struct ArrowSchema schema(const char *format, const char *name, struct ArrowSchema **kids, int64_t n)
{
    return (struct ArrowSchema){.format = format, .name = name, .flags = 2, .n_children = n, .children = kids};
}

static struct ArrowArray array(int64_t length, const void **bufs, int64_t nbufs, struct ArrowArray **kids, int64_t n)
{
    return (struct ArrowArray){.length = length, .n_buffers = nbufs, .buffers = bufs, .n_children = n, .children = kids};
}

static struct fixture *fixture_new(void)
{
    struct fixture *f = calloc(1, sizeof *f);
    cr_assert(f);
    memcpy(f->list_off, (int32_t[]){0, 2, 3}, sizeof f->list_off);
    memcpy(f->items, (int32_t[]){7, 8, 9}, sizeof f->items);
    memcpy(f->map_off, (int32_t[]){0, 1, 2}, sizeof f->map_off);
    memcpy(f->key_off, (int32_t[]){0, 1, 2}, sizeof f->key_off);
    memcpy(f->t0_off, (int32_t[]){0, 2, 4}, sizeof f->t0_off);
    memcpy(f->dict_off, (int32_t[]){0, 1, 2}, sizeof f->dict_off);
    memcpy(f->chars, "abcd", 4);
    f->values[0] = 5, f->values[1] = 6;
    f->bools[0] = 1;
    f->indices[0] = 1, f->indices[1] = 0;

    f->item_s = schema("i", "item", NULL, 0);
    f->list_kids[0] = &f->item_s;
    f->list_s = schema("+l", "list", f->list_kids, 1);
    f->key_s = schema("u", "key", NULL, 0);
    f->value_s = schema("l", "value", NULL, 0);
    f->entries_kids[0] = &f->key_s, f->entries_kids[1] = &f->value_s;
    f->entries_s = schema("+s", "entries", f->entries_kids, 2);
    f->map_kids[0] = &f->entries_s;
    f->map_s = schema("+m", "map", f->map_kids, 1);
    f->t0_s = schema("u", "0", NULL, 0);
    f->t1_s = schema("b", "1", NULL, 0);
    f->tuple_kids[0] = &f->t0_s, f->tuple_kids[1] = &f->t1_s;
    f->tuple_s = schema("+s", "pair", f->tuple_kids, 2);
    f->dict_values_s = schema("u", "", NULL, 0);
    f->dict_s = schema("c", "dict", NULL, 0);
    f->dict_s.dictionary = &f->dict_values_s;
    f->batch_kids[0] = &f->list_s, f->batch_kids[1] = &f->map_s, f->batch_kids[2] = &f->tuple_s,
    f->batch_kids[3] = &f->dict_s;
    f->batch_s = schema("+s", "", f->batch_kids, 4);

    f->item_b[1] = f->items;
    f->item = array(3, f->item_b, 2, NULL, 0);
    f->list_b[1] = f->list_off;
    f->list_a[0] = &f->item;
    f->list = array(2, f->list_b, 2, f->list_a, 1);
    f->key_b[1] = f->key_off, f->key_b[2] = f->chars;
    f->key = array(2, f->key_b, 3, NULL, 0);
    f->value_b[1] = f->values;
    f->value = array(2, f->value_b, 2, NULL, 0);
    f->entries_a[0] = &f->key, f->entries_a[1] = &f->value;
    f->entries = array(2, f->entries_b, 1, f->entries_a, 2);
    f->map_b[1] = f->map_off;
    f->map_a[0] = &f->entries;
    f->map = array(2, f->map_b, 2, f->map_a, 1);
    f->t0_b[1] = f->t0_off, f->t0_b[2] = f->chars;
    f->t0 = array(2, f->t0_b, 3, NULL, 0);
    f->t1_b[1] = f->bools;
    f->t1 = array(2, f->t1_b, 2, NULL, 0);
    f->tuple_a[0] = &f->t0, f->tuple_a[1] = &f->t1;
    f->tuple = array(2, f->tuple_b, 1, f->tuple_a, 2);
    f->dict_values_b[1] = f->dict_off, f->dict_values_b[2] = f->chars;
    f->dict_values = array(2, f->dict_values_b, 3, NULL, 0);
    f->dict_b[1] = f->indices;
    f->dict = array(2, f->dict_b, 2, NULL, 0);
    f->dict.dictionary = &f->dict_values;
    f->batch_a[0] = &f->list, f->batch_a[1] = &f->map, f->batch_a[2] = &f->tuple, f->batch_a[3] = &f->dict;
    f->batch = array(2, f->batch_b, 1, f->batch_a, 4);
    return f;
}

/* The batch's bytes: 0 with some, or the error with none. */
static int write_batch(struct fixture *f, int64_t rows, size_t *len)
{
    struct serve_bytes out = {0};
    int rc = serve_arrow_batch(&out, &f->batch_s, &f->batch, rows, NULL, 0);
    *len = out.len;
    free(out.p);
    return rc;
}

Test(serve_arrow, a_well_formed_nested_batch_and_its_first_row_are_written)
{
    struct fixture *f = fixture_new();
    struct serve_bytes out = {0};
    size_t len;
    cr_assert_eq(serve_arrow_schema(&out, &f->batch_s), 0);
    cr_assert_gt(out.len, 8);
    free(out.p);
    cr_assert_eq(write_batch(f, 2, &len), 0);
    cr_assert_gt(len, 0);
    cr_assert_eq(write_batch(f, 1, &len), 0);
    free(f);
}

/* Each spoils the fixture one way. */
static void list_past_its_items(struct fixture *f) { f->list_off[2] = 4; }
static void list_offsets_going_back(struct fixture *f) { f->list_off[1] = 4, f->item.length = 5; }
static void list_offsets_not_from_zero(struct fixture *f) { f->list_off[0] = 1; }
static void string_offsets_going_back(struct fixture *f) { f->key_off[1] = -3; }
static void map_entries_shorter(struct fixture *f) { f->entries.length = 1; }
static void struct_field_shorter(struct fixture *f) { f->t1.length = 1; }
static void struct_field_missing(struct fixture *f) { f->tuple.n_children = 1; }
static void list_item_absent(struct fixture *f) { f->list_a[0] = NULL, f->list.children = NULL; }
static void values_buffer_absent(struct fixture *f) { f->item_b[1] = NULL; }
static void buffers_too_few(struct fixture *f) { f->key.n_buffers = 2; }
static void sliced(struct fixture *f) { f->item.offset = 1; }
static void dictionary_absent(struct fixture *f) { f->dict.dictionary = NULL; }
static void dictionary_offsets_going_back(struct fixture *f) { f->dict_off[2] = 0; }
static void batch_shorter_than_asked(struct fixture *f) { f->batch.length = 1; }

Test(serve_arrow, a_batch_whose_lengths_do_not_add_up_is_refused_with_nothing_written)
{
    static void (*const spoil[])(struct fixture *) = {
        list_past_its_items, list_offsets_going_back, list_offsets_not_from_zero, string_offsets_going_back,
        map_entries_shorter, struct_field_shorter, struct_field_missing, list_item_absent, values_buffer_absent,
        buffers_too_few, sliced, dictionary_absent, dictionary_offsets_going_back, batch_shorter_than_asked,
    };
    for (size_t i = 0; i < sizeof spoil / sizeof *spoil; i++) {
        struct fixture *f = fixture_new();
        spoil[i](f);
        size_t len = 1;
        cr_expect_eq(write_batch(f, 2, &len), -EINVAL, "spoilt way %zu: written", i);
        cr_expect_eq(len, 0, "spoilt way %zu: %zu bytes out", i, len);
        free(f);
    }
}

Test(serve_arrow, a_schema_the_writer_cannot_describe_is_refused)
{
    struct fixture *f = fixture_new();
    struct serve_bytes out = {0};
    f->entries_s.n_children = 1; /* a map's entries without a value */
    cr_expect_eq(serve_arrow_schema(&out, &f->batch_s), -EINVAL);
    f->entries_s.n_children = 2;
    f->item_s.format = "+L"; /* large lists: libshmlog-read makes none */
    cr_expect_eq(serve_arrow_schema(&out, &f->batch_s), -EINVAL);
    f->item_s.format = "i";
    f->dict_values_s.dictionary = &f->dict_values_s; /* a dictionary's values with one of their own */
    cr_expect_eq(serve_arrow_schema(&out, &f->batch_s), -EINVAL);
    f->dict_values_s.dictionary = NULL;
    f->item_s = schema("+l", "item", f->list_kids, 1); /* a list of itself: no end */
    cr_expect_eq(serve_arrow_schema(&out, &f->batch_s), -EINVAL);
    cr_expect_eq(out.len, 0);
    free(out.p);
    free(f);
}
