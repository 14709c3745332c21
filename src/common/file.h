/*
 * The file layer under the writer, the projector and the checkpoints. Internal.
 *
 * Every call reports into a message buffer (tbw__err), never into a handle,
 * so any module can use it. Three promises:
 *   - tbw__mkdir_p makes a directory and its parents, and fails if the path
 *     is there but is not a directory;
 *   - tbw__write_whole either writes all n bytes at an offset or cuts the
 *     file back to that offset, so a file of whole records stays whole;
 *   - tbw__atomic_* replace a file by writing a temporary next to it, then
 *     fsync, rename and fsync of the directory: a reader sees the old file or
 *     the new one, never a torn one.
 */
#ifndef TBW_FILE_H
#define TBW_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* Creates dir and any missing parents (mode 0777 less the umask). TBW_EINVAL if dir or a parent
   exists and is not a directory. */
int tbw__mkdir_p(tbw__err e, const char *dir);

/* Opens path for reading (close-on-exec) as a file that can be read to its end: a FIFO or a socket
   is refused with ESPIPE before anything waits on it, a directory with EISDIR. Regular files and
   character devices (/dev/null, /dev/zero) are opened. Returns 0 and *fd, or an errno. */
int tbw__open_read(const char *path, int *fd);
/* tbw__open_read as a buffered stream. Returns 0 and *f, or an errno. */
int tbw__fopen_read(const char *path, FILE **f);

/* Writes all n bytes at offset off, retrying short writes and EINTR. Returns 0 or an errno. */
int tbw__pwrite_all(int fd, const void *p, size_t n, uint64_t off);

/* tbw__pwrite_all, then fsync when sync is set; on any failure truncates the file back to off
   (its last whole record) before returning the errno. Returns 0 on success. */
int tbw__write_whole(int fd, const void *p, size_t n, uint64_t off, bool sync);

/* fsyncs the directory that holds path, so a rename or create in it is durable. Returns 0 or an
   errno. */
int tbw__fsync_parent(const char *path);

/* A file being replaced atomically. f is a buffered stream onto the temporary file. */
typedef struct tbw__atomic {
    FILE *f;
    char *path; /* the final name */
    char *tmp;  /* the temporary next to it */
} tbw__atomic;

/* Creates a fresh "<path>.tmp.<n>" next to path (O_EXCL, mode 0666 less the umask) and opens it
   for writing. */
int tbw__atomic_open(tbw__atomic *a, tbw__err e, const char *path);
/* Flushes, fsyncs and closes the temporary, renames it over path and fsyncs the directory. On
   failure the temporary is removed and path is left as it was. Either way a is released. */
int tbw__atomic_commit(tbw__atomic *a, tbw__err e);
/* Closes and removes the temporary; path is untouched. Safe on a released or zeroed a. */
void tbw__atomic_abort(tbw__atomic *a);

/* Writes a whole file atomically from memory (open, write, commit). */
int tbw__atomic_write(tbw__err e, const char *path, const void *data, size_t len);

#endif
