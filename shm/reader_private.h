/*
 * reader_private.h - what the files of the segment reader share and no
 * reader's caller needs (reader.h is their interface).
 */
#ifndef SHM_READER_PRIVATE_H
#define SHM_READER_PRIVATE_H

#include <stddef.h>

/* Writes the one-line reason into err (when there is room) and returns code:
 * a failing call's last statement. Defined in reader_segment.c. */
int shm_fail(char *err, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif /* SHM_READER_PRIVATE_H */
