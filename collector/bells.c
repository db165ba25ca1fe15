/*
 * bells.c - the producers' bells (SHMLOG_BELL_PREFIX in shmlog_abi.h): a word
 * per uid that its producers add one to each time a ring's progress line
 * moves. A pass that finds a bell where it was leaves that uid's quiet rings
 * unread, so idle processes cost a line per uid, not a line per ring.
 *
 * A bell is a hint only: its owner may write anything there or truncate the
 * file. A word that moved makes a pass read the rings; one that did not move
 * delays a quiet ring's read by --max-delay-ms at most (ring_can_wait in
 * drain.c); a file that shrank (SIGBUS) or cannot be opened leaves its rings
 * read at every pass, as rings without the flag are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bells.h"

static struct bell *bells;

/* Maps the bell of uid: NULL when it is not a regular file of that uid
 * (another uid may have taken its name first) or cannot be read. */
static const struct shmlog_bell *bell_map(uid_t uid, dev_t *dev, ino_t *ino)
{
    char path[64];
    snprintf(path, sizeof(path), SHMLOG_BELL_PREFIX "%u", (unsigned)uid);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *addr = MAP_FAILED;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == uid && st.st_size >= (off_t)SHMLOG_BELL_BYTES) {
        *dev = st.st_dev;
        *ino = st.st_ino;
        addr = mmap(NULL, SHMLOG_BELL_BYTES, PROT_READ, MAP_SHARED, fd, 0);
    }
    close(fd);
    return addr == MAP_FAILED ? NULL : addr;
}

static void bell_read(void *ctx)
{
    struct bell *b = ctx;
    uint64_t now = shmlog__load_acquire(&b->word->rung);
    b->rung = now != b->seen;
    b->seen = now;
}

/* Reads bell b: whether it moved since it was last read. */
static int bell_check(struct bell *b)
{
    if (!b->word)
        return 0;
    if (shm_guarded(bell_read, b) != 0) { /* its owner shrank it: its rings are read at every pass */
        munmap((void *)b->word, SHMLOG_BELL_BYTES);
        b->word = NULL;
        return 1;
    }
    return b->rung;
}

struct bell *bell_of(uid_t uid, const struct shm_ring_view *v)
{
    struct bell *b = bells;
    while (b && b->uid != uid)
        b = b->next;
    if (!b) {
        if (!(b = calloc(1, sizeof(*b))))
            return NULL; /* its rings are read at every pass */
        b->uid = uid;
        b->word = bell_map(uid, &b->dev, &b->ino);
        b->next = bells;
        bells = b;
        bell_check(b); /* where it stands: its new rings are read at least once anyway */
    }
    /* A ring that rings another file of the name (its producer has another
     * /dev/shm) would never be heard: read at every pass. */
    return b->word && v->bell_dev == (uint64_t)b->dev && v->bell_ino == (uint64_t)b->ino ? b : NULL;
}

int bells_check(void)
{
    int any = 0;
    for (struct bell *b = bells; b; b = b->next)
        any |= bell_check(b);
    return any;
}
