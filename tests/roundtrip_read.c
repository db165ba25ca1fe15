/* Description: the events of collector files as libshmlog-read gives them, one line each, for the round
 * trip's checker (tests/roundtrip_check.py): "R <truncated 0|1> <message>", "L <reason> <records>",
 * "X <how> <records> <lost>", "E <error>". usage: roundtrip_read FILE|DIR... */
#include <stdio.h>

#include "shmlog_read.h"

int main(int argc, char **argv)
{
    struct shmlog_read *r;
    char err[256];
    if (shmlog_read_open(&r, (const char *const *)argv + 1, (size_t)(argc - 1), NULL, err, sizeof err) != 0) {
        fprintf(stderr, "roundtrip_read: %s\n", err);
        return 2;
    }
    const struct shmlog_read_event *ev;
    int rc;
    while ((rc = shmlog_read_next(r, &ev)) > 0) {
        switch (ev->kind) {
        case SHMLOG_READ_RECORD: {
            size_t len;
            const char *msg = shmlog_read_message(r, &len);
            printf("R %d ", (ev->flags & SHMLOG_READ_TRUNCATED) != 0);
            if (msg)
                fwrite(msg, 1, len, stdout);
            else
                printf("<unknown site %u>", ev->site_id);
            putchar('\n');
            break;
        }
        case SHMLOG_READ_LOSS:
            printf("L %s %llu\n", ev->loss_reason, (unsigned long long)ev->loss_records);
            break;
        case SHMLOG_READ_EXIT:
            printf("X %s %llu %llu\n", ev->exit_how, (unsigned long long)ev->exit_records,
                   (unsigned long long)ev->exit_lost);
            break;
        default:
            if (!(ev->flags & SHMLOG_READ_NOTE))
                printf("E %s\n", ev->error);
            break;
        }
    }
    shmlog_read_close(r);
    return rc < 0 ? 1 : 0;
}
