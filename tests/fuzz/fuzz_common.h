/*
 * fuzz_common.h - what the fuzz harnesses share: a cursor that takes values
 * from the fuzz input (zeros once it is used up, so every input is valid), a
 * check that aborts (the fuzzer and the plain replay driver both see that as a
 * failure), oracles for the lines the renderer promises, and a private
 * directory for the files a harness must hand to a path-based API.
 */
#ifndef SHMLOG_FUZZ_COMMON_H
#define SHMLOG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The libFuzzer entry point every harness defines; replay_main.c calls it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with the failed condition: a broken promise of the code under test. */
#define FZ_CHECK(cond)                                                                  \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* ==== Input cursor ==== */

struct fz_in {
    const uint8_t *p;
    size_t n;
};

uint8_t fz_u8(struct fz_in *in);
uint16_t fz_u16(struct fz_in *in);
uint32_t fz_u32(struct fz_in *in);
uint64_t fz_u64(struct fz_in *in);
/* Copies up to n bytes into dst (zero-fills the rest); returns the bytes taken. */
size_t fz_bytes(struct fz_in *in, void *dst, size_t n);
/* Takes up to n bytes without copying; *len gets how many. */
const uint8_t *fz_span(struct fz_in *in, size_t n, size_t *len);

/* ==== Oracles ==== */

/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int fz_utf8_valid(const uint8_t *s, size_t n);
/* 1 when s[0..n) is exactly one JSON value (RFC 8259) and nothing else. */
int fz_json_valid(const char *s, size_t n);
/* 1 when s[0..n) is one JSON value followed by exactly one '\n'. */
int fz_json_line_valid(const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8 without ASCII control bytes, ending in its
 * only '\n': what the text renderer promises for any input. */
int fz_text_line_valid(const char *s, size_t n);

/* ==== Files ==== */

/* A directory only we can use, made on first call (under /dev/shm when it
 * exists: tmpfs, like the segment directories) and removed with its files
 * at exit. NULL if it cannot be made. */
const char *fz_private_dir(void);
/* Replaces path with exactly n bytes of data followed by pad_to - n zero
 * bytes (when pad_to > n). 0 or -errno. */
int fz_write_file(const char *path, const void *data, size_t n, size_t pad_to);

#endif /* SHMLOG_FUZZ_COMMON_H */
