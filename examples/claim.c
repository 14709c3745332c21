/* Claims on the runs of a sweep shared by several worker processes (see claim.h).
 *
 * Why these primitives:
 * - open(O_CREAT|O_EXCL) is atomic on local filesystems and on NFSv3+, so of any
 *   number of workers exactly one creates <name>.claim: that is the claim.
 * - A claim whose worker died must be taken over by exactly one --resume worker,
 *   and never while its worker is still alive (an mpirun job started with
 *   --resume reaches a run on rank 1 hours after rank 0 took it over). O_EXCL
 *   alone cannot tell a dead holder from a live one, so the holder keeps an
 *   fcntl write lock on <name>.claim while it trains. The lock dies with the
 *   process, kill -9 and crashes included (NFS: when lockd/NFSv4 notices), so
 *   a resumer that gets the lock knows nobody is training the run; one that
 *   does not, skips it. The lock is also the mutual exclusion between resumers:
 *   only one holds it at a time, and it keeps it while it trains.
 * - Some filesystems have no (or only host-local) locks: NFS mounted nolock,
 *   Lustre without flock. Where fcntl says locks are unsupported we go on
 *   without, and the O_EXCL creation of <name>.resume.<n> decides between
 *   resumers that start together: they all count the same n existing resume
 *   files and only one creates resume.<n+1>. There, --resume must only be run
 *   once the earlier workers are gone (the documented meaning of --resume).
 * - The order of the holder's last steps is .done first, then the unlock, so a
 *   resumer that gets the lock and then finds no .done knows the run is undone.
 */
#include "claim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLAIMS_SUBDIR ".claims"

/* The longest resume chain we look through; far beyond any real sweep. */
#define CLAIM_MAX_RESUMES 100000

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* <logdir>/.claims/<name><suffix>; -1 with a message if it does not fit or name is unusable. */
static int claim_path(char *buf, size_t n, const char *logdir, const char *name, const char *suffix, char *err,
                      size_t errlen)
{
    if (!name[0] || strchr(name, '/')) {
        set_err(err, errlen, "bad claim name '%s'", name);
        return -1;
    }
    int k = snprintf(buf, n, "%s/" CLAIMS_SUBDIR "/%s%s", logdir, name, suffix);
    if (k < 0 || (size_t)k >= n) {
        set_err(err, errlen, "path too long: %s/" CLAIMS_SUBDIR "/%s", logdir, name);
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The value of an environment variable if it is a plain non-negative integer; NULL otherwise,
   so a malformed value never lands in a claim file. */
static const char *env_number(const char *var)
{
    const char *s = getenv(var);
    if (!s || !s[0] || strlen(s) > 20)
        return NULL;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return NULL;
    return s;
}

void claim_identity(char *buf, size_t len)
{
    char host[256] = "";
    if (gethostname(host, sizeof host) != 0 || !host[0])
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    /* a hostname never holds spaces or newlines, but the file format is one line of key=value */
    for (char *p = host; *p; p++)
        if (*p == ' ' || *p == '\n' || *p == '\t')
            *p = '_';
    char job[96] = "", rank[48] = "", when[32] = "";
    const char *aj = env_number("SLURM_ARRAY_JOB_ID"), *at = env_number("SLURM_ARRAY_TASK_ID");
    const char *j = env_number("SLURM_JOB_ID"), *r = env_number("OMPI_COMM_WORLD_RANK");
    if (aj && at)
        snprintf(job, sizeof job, " slurm_job=%s_%s", aj, at);
    else if (j)
        snprintf(job, sizeof job, " slurm_job=%s", j);
    if (r)
        snprintf(rank, sizeof rank, " mpi_rank=%s", r);
    time_t t = time(NULL);
    struct tm tm;
    if (t != (time_t)-1 && gmtime_r(&t, &tm))
        strftime(when, sizeof when, " time=%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(buf, len, "host=%s pid=%ld%s%s%s", host, (long)getpid(), job, rank, when);
}

/* Writes "<prefix><identity>\n" to fd; -1 on failure (errno set). */
static int write_identity(int fd, const char *prefix)
{
    char id[512], line[768];
    claim_identity(id, sizeof id);
    int k = snprintf(line, sizeof line, "%s%s\n", prefix, id);
    if (k < 0 || (size_t)k >= sizeof line) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return write_all(fd, line, (size_t)k);
}

/* Result of trying to lock a claim file. */
enum lock_result { LOCK_HELD, LOCK_BUSY, LOCK_UNSUPPORTED, LOCK_FAILED };

/* A non-blocking whole-file write lock: never waits on a live holder. */
static enum lock_result lock_claim(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0; /* to the end of the file, however it grows */
    for (;;) {
        if (fcntl(fd, F_SETLK, &fl) == 0)
            return LOCK_HELD;
        switch (errno) {
        case EINTR: continue;
        case EACCES:
        case EAGAIN: return LOCK_BUSY;
        case ENOLCK:
        case ENOSYS:
        case EINVAL:
#if defined(EOPNOTSUPP)
        case EOPNOTSUPP:
#endif
#if defined(ENOTSUP) && (!defined(EOPNOTSUPP) || ENOTSUP != EOPNOTSUPP)
        case ENOTSUP:
#endif
            return LOCK_UNSUPPORTED;
        default: return LOCK_FAILED;
        }
    }
}

int claim_dir_create(const char *logdir, char *err, size_t errlen)
{
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/" CLAIMS_SUBDIR, logdir);
    if (!logdir[0] || k < 0 || (size_t)k >= sizeof path) {
        set_err(err, errlen, "bad or too long logdir '%s'", logdir);
        return -1;
    }
    /* mkdir -p: every prefix that ends before a '/', then the whole path. EEXIST is fine (another
       worker, or an earlier run, made it); a prefix that is a file shows up as ENOTDIR on the next
       component, and the end is checked to be a directory. */
    for (size_t i = 1; i <= (size_t)k; i++) {
        if ((path[i] != '/' && path[i] != '\0') || path[i - 1] == '/')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            set_err(err, errlen, "cannot create directory %s: %s", path, strerror(errno));
            return -1;
        }
        path[i] = c;
    }
    struct stat st;
    errno = 0;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        set_err(err, errlen, "cannot create directory %s: %s", path, errno ? strerror(errno) : "not a directory");
        return -1;
    }
    return 0;
}

bool claim_dir_exists(const char *logdir)
{
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/" CLAIMS_SUBDIR, logdir);
    struct stat st;
    return k > 0 && (size_t)k < sizeof path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 if the file exists, 0 if not, -1 with a message. */
static int file_exists(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    set_err(err, errlen, "cannot check %s: %s", path, strerror(errno));
    return -1;
}

claim_status claim_try(claim *c, const char *logdir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    c->fd = -1;
    c->generation = 0;
    c->locked = false;
    if (claim_path(path, sizeof path, logdir, name, ".claim", err, errlen))
        return CLAIM_ERROR;
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            return CLAIM_TAKEN;
        set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return CLAIM_ERROR;
    }
    /* Between the creation and this lock a --resume worker may have seen the new file
       and locked it first: then it owns the run and we back off. */
    enum lock_result lk = lock_claim(fd);
    if (lk == LOCK_BUSY) {
        close(fd);
        return CLAIM_TAKEN;
    }
    if (lk == LOCK_FAILED) {
        int e = errno;
        close(fd);
        set_err(err, errlen, "cannot lock %s: %s", path, strerror(e));
        return CLAIM_ERROR;
    }
    if (write_identity(fd, "") != 0) {
        int e = errno;
        /* An unwritten claim would block the run for everyone but --resume: give it back. */
        unlink(path);
        close(fd);
        set_err(err, errlen, "cannot write %s: %s", path, strerror(e));
        return CLAIM_ERROR;
    }
    c->fd = fd;
    c->locked = lk == LOCK_HELD;
    return CLAIM_OK;
}

claim_status claim_take_over(claim *c, const char *logdir, const char *name, char *err, size_t errlen)
{
    char path[4096], done[4096], res[4096];
    c->fd = -1;
    c->generation = 0;
    c->locked = false;
    if (claim_path(path, sizeof path, logdir, name, ".claim", err, errlen) ||
        claim_path(done, sizeof done, logdir, name, ".done", err, errlen))
        return CLAIM_ERROR;
    int d = file_exists(done, err, errlen);
    if (d)
        return d < 0 ? CLAIM_ERROR : CLAIM_DONE;
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return claim_try(c, logdir, name, err, errlen);
        set_err(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return CLAIM_ERROR;
    }
    enum lock_result lk = lock_claim(fd);
    if (lk == LOCK_BUSY) {
        close(fd);
        return CLAIM_BUSY;
    }
    if (lk == LOCK_FAILED) {
        int e = errno;
        close(fd);
        set_err(err, errlen, "cannot lock %s: %s", path, strerror(e));
        return CLAIM_ERROR;
    }
    /* The holder writes .done before it lets go of the lock: look again now that we hold it. */
    d = file_exists(done, err, errlen);
    if (d) {
        close(fd);
        return d < 0 ? CLAIM_ERROR : CLAIM_DONE;
    }
    /* Takeover n is <name>.resume.<n>, n one past the existing ones. With working locks we are the
       only resumer here; without, resumers that start together count the same n and O_EXCL lets
       exactly one of them have it. */
    int n = 1;
    for (;; n++) {
        char num[32];
        snprintf(num, sizeof num, ".resume.%d", n);
        if (n > CLAIM_MAX_RESUMES || claim_path(res, sizeof res, logdir, name, num, err, errlen)) {
            if (n > CLAIM_MAX_RESUMES)
                set_err(err, errlen, "%s has too many resume files", path);
            close(fd);
            return CLAIM_ERROR;
        }
        int e = file_exists(res, err, errlen);
        if (e < 0) {
            close(fd);
            return CLAIM_ERROR;
        }
        if (!e)
            break;
    }
    int rfd = open(res, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (rfd < 0) {
        int e = errno;
        close(fd);
        if (e == EEXIST)
            return CLAIM_TAKEN;
        set_err(err, errlen, "cannot create %s: %s", res, strerror(e));
        return CLAIM_ERROR;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "resume.%d ", n);
    int werr = write_identity(rfd, "") != 0 ? errno : 0;
    if (close(rfd) != 0 && !werr)
        werr = errno;
    /* The claim file tells the whole story in one place: who claimed it, who resumed it. */
    if (!werr && write_identity(fd, prefix) != 0)
        werr = errno;
    if (werr) {
        /* resume.<n> stays: it only counts takeovers, and the lock (ours until close) is what matters */
        close(fd);
        set_err(err, errlen, "cannot write the takeover of %s: %s", path, strerror(werr));
        return CLAIM_ERROR;
    }
    c->fd = fd;
    c->generation = n;
    c->locked = lk == LOCK_HELD;
    return CLAIM_OK;
}

void claim_release(claim *c)
{
    if (c && c->fd >= 0) {
        /* closing drops the lock; the claim file itself stays, for the record and for --resume */
        close(c->fd);
        c->fd = -1;
        c->locked = false;
    }
}

int claim_done(claim *c, const char *logdir, const char *name, const char *note, char *err, size_t errlen)
{
    char path[4096];
    int ret = -1;
    if (c->fd < 0) {
        set_err(err, errlen, "claim %s is not held", name);
        goto out;
    }
    if (claim_path(path, sizeof path, logdir, name, ".done", err, errlen))
        goto out;
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            set_err(err, errlen, "%s exists: another worker finished %s too (no working locks here?)", path, name);
        else
            set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s%s", note ? note : "", note && note[0] ? " " : "");
    int werr = write_identity(fd, prefix) != 0 ? errno : 0;
    if (close(fd) != 0 && !werr)
        werr = errno;
    if (werr) {
        /* the file exists, so the run counts as done; only its note is short */
        set_err(err, errlen, "cannot write %s: %s", path, strerror(werr));
        goto out;
    }
    ret = 0;
out:
    claim_release(c); /* after .done: see the file comment */
    return ret;
}

int claim_is_done(const char *logdir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    if (claim_path(path, sizeof path, logdir, name, ".done", err, errlen))
        return -1;
    return file_exists(path, err, errlen);
}

int claim_is_claimed(const char *logdir, const char *name, char *err, size_t errlen)
{
    char path[4096];
    if (claim_path(path, sizeof path, logdir, name, ".claim", err, errlen))
        return -1;
    return file_exists(path, err, errlen);
}

void claim_holder(const char *logdir, const char *name, char *buf, size_t len)
{
    char path[4096], text[4096];
    if (!len)
        return;
    buf[0] = '\0';
    if (claim_path(path, sizeof path, logdir, name, ".claim", NULL, 0))
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    const char *last = strrchr(text, '\n');
    snprintf(buf, len, "%s", last ? last + 1 : text);
}
