/*
 * say.h - the programs' one way to say something: a line on stderr, safe to
 * print whatever names other users gave their files.
 */
#ifndef SHM_SAY_H
#define SHM_SAY_H

/* "prog: text" on stderr, one line. File names in it come from directories
 * other users write: a control character is shown as \xNN, so no name can
 * forge a line of the log. */
__attribute__((format(printf, 2, 3))) void shm_warn(const char *prog, const char *fmt, ...);

#endif /* SHM_SAY_H */
