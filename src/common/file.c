#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tbw/common.h>

int tbw__open_read(const char *path, int *fd)
{
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO that no process writes would otherwise wait for one. */
    int d = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (d < 0)
        return errno;
    struct stat st;
    int err = 0;
    if (fstat(d, &st) != 0)
        err = errno;
    else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
        err = ESPIPE;
    else if (S_ISDIR(st.st_mode))
        err = EISDIR;
    else {
        int fl = fcntl(d, F_GETFL);
        if (fl < 0 || fcntl(d, F_SETFL, fl & ~O_NONBLOCK) < 0)
            err = errno;
    }
    if (err) {
        close(d);
        return err;
    }
    *fd = d;
    return 0;
}

int tbw__fopen_read(const char *path, FILE **f)
{
    *f = NULL;
    int fd;
    int err = tbw__open_read(path, &fd);
    if (err)
        return err;
    *f = fdopen(fd, "rb");
    if (!*f) {
        err = errno;
        close(fd);
        return err;
    }
    return 0;
}

int tbw__mkdir_p(tbw__err e, const char *dir)
{
    size_t n = strlen(dir);
    char *tmp = malloc(n + 1);
    if (!tmp)
        return tbw__fail(e, TBW_ENOMEM, "out of memory creating directory %s", dir);
    memcpy(tmp, dir, n + 1);
    int rc = TBW_OK;
    for (size_t i = 1; i <= n && rc == TBW_OK; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            rc = tbw__fail_errno(e, errno, "cannot create directory %s", tmp);
        tmp[i] = c;
    }
    free(tmp);
    if (rc)
        return rc;
    struct stat st;
    if (stat(dir, &st) != 0)
        return tbw__fail_errno(e, errno, "cannot use directory %s", dir);
    if (!S_ISDIR(st.st_mode))
        return tbw__fail(e, TBW_EINVAL, "%s exists and is not a directory", dir);
    return TBW_OK;
}

int tbw__pwrite_all(int fd, const void *data, size_t n, uint64_t off)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (k == 0)
            return EIO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

int tbw__write_whole(int fd, const void *p, size_t n, uint64_t off, bool sync)
{
    int err = tbw__pwrite_all(fd, p, n, off);
    if (!err && sync && fsync(fd) != 0)
        err = errno;
    if (err && ftruncate(fd, (off_t)off) != 0) {
        /* Nothing better to do: the caller still reports the write failure. */
    }
    return err;
}

int tbw__fsync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return ENOMEM;
    int err = 0;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        err = errno;
    } else {
        if (fsync(dfd) != 0 && errno != EINVAL)
            err = errno;
        close(dfd);
    }
    free(copy);
    return err;
}

static void atomic_release(tbw__atomic *a)
{
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    a->f = NULL;
}

int tbw__atomic_open(tbw__atomic *a, tbw__err e, const char *path)
{
    a->f = NULL;
    a->path = strdup(path);
    size_t n = strlen(path) + sizeof ".tmp.ffffff";
    a->tmp = malloc(n);
    if (!a->path || !a->tmp) {
        atomic_release(a);
        return tbw__fail(e, TBW_ENOMEM, "out of memory writing %s", path);
    }
    /* O_EXCL with a fresh name, not mkstemp: the file keeps the mode 0666 less the umask that a
       plain create would give it, so a server running as another user can still read it. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long nonce = (unsigned long)ts.tv_nsec ^ (unsigned long)(uintptr_t)a;
    int fd = -1;
    for (int attempt = 0; attempt < 1000 && fd < 0; attempt++) {
        snprintf(a->tmp, n, "%s.tmp.%06lx", path, (nonce + (unsigned long)attempt * 7919u) & 0xFFFFFFu);
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int rc = tbw__fail_errno(e, errno, "cannot create a temporary file next to %s", path);
        atomic_release(a);
        return rc;
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int rc = tbw__fail_errno(e, errno, "cannot open %s", a->tmp);
        close(fd);
        unlink(a->tmp);
        atomic_release(a);
        return rc;
    }
    return TBW_OK;
}

int tbw__atomic_commit(tbw__atomic *a, tbw__err e)
{
    if (!a->f)
        return tbw__fail(e, TBW_EINVAL, "no file open to commit");
    int err = 0;
    const char *what = "write";
    if (ferror(a->f) || fflush(a->f) != 0) {
        err = errno ? errno : EIO;
    } else if (fsync(fileno(a->f)) != 0) {
        err = errno;
        what = "fsync";
    }
    if (fclose(a->f) != 0 && !err) {
        err = errno;
        what = "close";
    }
    a->f = NULL;
    if (!err && rename(a->tmp, a->path) != 0) {
        err = errno;
        what = "rename";
    }
    if (err) {
        int rc = tbw__fail_errno(e, err, "cannot %s %s", what, !strcmp(what, "rename") ? a->path : a->tmp);
        unlink(a->tmp);
        atomic_release(a);
        return rc;
    }
    /* The rename is durable only once the directory is synced; a failure there is not worth
       losing the new file over. */
    (void)tbw__fsync_parent(a->path);
    atomic_release(a);
    return TBW_OK;
}

void tbw__atomic_abort(tbw__atomic *a)
{
    if (a->f) {
        fclose(a->f);
        unlink(a->tmp);
    }
    atomic_release(a);
}

int tbw__atomic_write(tbw__err e, const char *path, const void *data, size_t len)
{
    tbw__atomic a;
    int rc = tbw__atomic_open(&a, e, path);
    if (rc)
        return rc;
    if (len && fwrite(data, 1, len, a.f) != len) {
        rc = tbw__fail_errno(e, errno ? errno : EIO, "cannot write %s", a.tmp);
        tbw__atomic_abort(&a);
        return rc;
    }
    return tbw__atomic_commit(&a, e);
}
