/*
 * The event writer: encodes each event straight into a byte buffer as a framed
 * record, and hands the buffer to the OS by the flush policy, in the calling
 * thread or in a background thread.
 */
#include <tbw/writer.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/err.h"
#include "../common/file.h"
#include "../common/util.h"
#include "../record/record.h"
#include "pbwire.h"
#include "../common/strset.h"
#include "writer_internal.h"

#define FILE_VERSION "brain.Event:2"
#define NAME_INFIX "events.out.tfevents."

struct tbw_writer {
    pthread_mutex_t mu;
    pthread_cond_t cv_work;  /* background thread: something to do */
    pthread_cond_t cv_done;  /* callers: the thread wrote a batch */
    pthread_t thread;
    bool has_thread, stop, flush_req;

    tbw_writer_opts opts;
    char *dir;
    char *path;
    char *suffix;
    char host[64];
    long pid;
    unsigned counter;
    long long file_secs;

    int fd;
    uint64_t file_off;       /* bytes of whole records in the current file */
    double last_gone_check;  /* wall time of the last "was the file deleted" check */

    uint8_t *buf;            /* framed records not yet handed to the OS */
    size_t len, cap;
    size_t nevents;
    double oldest;           /* wall time of the oldest buffered event */
    uint8_t *spare;          /* background: the buffer the thread writes from */
    size_t spare_cap;
    size_t inflight;         /* background: bytes the thread is writing now */
    bool force_gone_check;   /* background: check for a deleted file before the next write */
    bool gone_pending;       /* background: the thread replaced a deleted file; report it once */

    int err;                 /* sticky write error, 0 if none */
    uint64_t dropped;
    uint64_t events;         /* events accepted, for tbw_writer_event_count */
    tbw__strset tags;        /* every tag this writer has logged, each with a tag_meta */
    uint64_t file_gen;       /* which event file this is (1, 2, ...), for tag_meta.gen */
    uint64_t waits;          /* background: times a caller released the lock to wait for room */
    tbw__wallclock clock;    /* the event stamps, unless opts.clock is set */
    bool crc_hw;             /* the CPU has SSE4.2's CRC-32C */
    /* The last tag written and its entry: a loop logging one tag again and again (or the same tag
       from one call site) skips the hash and the table. Only the full path replaces an entry, and
       it clears hot_tm first, so hot_tm is never stale. */
    const struct tag_meta *hot_tm;
    size_t hot_tlen;
    char hot_tag[64];
    char errmsg[TBW__ERRMSG_LEN];
};

/* What the writer remembers of a tag: the metadata it was last logged with, the event file that
   last received that metadata, and the tag's framing for a value of vlen bytes. TensorBoard reads
   the metadata from the first event of each tag in each file, so an event carries it when gen is
   not the current file. */
typedef struct tag_meta {
    uint64_t gen;
    size_t len;      /* metadata bytes, at bytes[0] */
    size_t vlen;     /* the value length of the template at bytes[len]; SIZE_MAX until it is framed */
    size_t tmpl_len;
    uint8_t bytes[]; /* the metadata, then room for the template: TMPL_ROOM(tag length) bytes */
} tag_meta;

/* A template is 3 keys, 3 varints of lengths under 2^35 (5 bytes at most) and the tag. */
#define TMPL_ROOM(tlen) ((tlen) + 18)

/* ------------------------------------------------------------------ */

static double now_wall(tbw_writer *w)
{
    if (w->opts.clock)
        return w->opts.clock(w->opts.clock_ctx);
    return tbw__wallclock_now(&w->clock);
}

double tbw__writer_now(tbw_writer *w)
{
    pthread_mutex_lock(&w->mu);
    double t = now_wall(w);
    pthread_mutex_unlock(&w->mu);
    return t;
}

/* TensorBoard's fast loader marks a file dead on a NaN wall time and drops
   events with an infinite one; refuse both rather than lose the run. */
static bool wall_ok(double t)
{
    return t >= 0 && t < 1e15;
}

/* The wall time for an event or a file name, or an error when the user's clock gave a bad one. */
static int stamp(tbw_writer *w, double *wall)
{
    *wall = now_wall(w);
    if (!wall_ok(*wall))
        return TBW__FAIL(w, TBW_EINVAL, "the clock returned %g; a wall time must be finite and >= 0", *wall);
    return TBW_OK;
}

int tbw__writer_fail(tbw_writer *w, int code, const char *fmt, ...)
{
    if (!w)
        return code;
    pthread_mutex_lock(&w->mu);
    va_list ap;
    va_start(ap, fmt);
    tbw__vfail(TBW__ERR(w), code, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&w->mu);
    return code;
}

int tbw__check_tag(tbw_writer *w, const char *tag)
{
    if (!w)
        return TBW_EINVAL;
    if (!tag || !tag[0])
        return tbw__writer_fail(w, TBW_EINVAL, "tag is empty or NULL");
    if (!tbw__utf8_valid(tag, strlen(tag)))
        return tbw__writer_fail(w, TBW_EINVAL, "tag is not valid UTF-8");
    return TBW_OK;
}

int tbw__writer_png_level(const tbw_writer *w)
{
    return w->opts.png_level;
}

/* ---- files -------------------------------------------------------- */

/* The greatest existing event file name in the directory, so a new file can
   be named to sort after it (TensorBoard reads files in name order). */
static int newest_existing(tbw_writer *w, char **out)
{
    *out = NULL;
    DIR *d = opendir(w->dir);
    if (!d) {
        int e = errno;
        return tbw__fail_errno(TBW__ERR(w), e, "cannot list %s", w->dir);
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, "tfevents"))
            continue;
        if (*out && strcmp(de->d_name, *out) <= 0)
            continue;
        char *c = strdup(de->d_name);
        if (!c) {
            free(*out);
            *out = NULL;
            closedir(d);
            return TBW__FAIL(w, TBW_ENOMEM, "out of memory listing %s", w->dir);
        }
        free(*out);
        *out = c;
    }
    closedir(d);
    return TBW_OK;
}

static size_t frame_event_field(uint8_t *out, double wall, int64_t step, int field, const uint8_t *data, size_t len);
static size_t event_field_size(int64_t step, size_t len);

/* Creates the next event file and writes its file_version record. */
static int open_next_file(tbw_writer *w)
{
    char *newest = NULL;
    int rc = newest_existing(w, &newest);
    if (rc)
        return rc;
    double wall;
    rc = stamp(w, &wall);
    if (rc) {
        free(newest);
        return rc;
    }
    long long secs = (long long)floor(wall);
    if (secs < w->file_secs)
        secs = w->file_secs;
    if (secs == w->file_secs)
        w->counter++;
    else
        w->counter = 0;
    size_t plen = strlen(w->dir) + strlen(w->host) + strlen(w->suffix) + 96;
    char *path = malloc(plen);
    if (!path) {
        free(newest);
        return TBW__FAIL(w, TBW_ENOMEM, "out of memory naming the event file");
    }
    int fd = -1;
    for (int attempt = 0; attempt < 100000; attempt++) {
        int nl = snprintf(path, plen, "%s/" NAME_INFIX "%010lld.%s.%ld.%u%s", w->dir, secs, w->host, w->pid,
                          w->counter, w->suffix);
        if (nl < 0 || (size_t)nl >= plen) {
            rc = TBW__FAIL(w, TBW_EINVAL, "event file path too long");
            goto fail;
        }
        const char *base = path + strlen(w->dir) + 1;
        if (newest && strcmp(base, newest) <= 0) {
            /* Same second as a newer-sorting file: move to the next second. */
            secs++;
            w->counter = 0;
            continue;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0)
            break;
        if (errno != EEXIST) {
            int e = errno;
            rc = tbw__fail_errno(TBW__ERR(w), e, "cannot create %s", path);
            goto fail;
        }
        w->counter++;
    }
    if (fd < 0) {
        rc = TBW__FAIL(w, TBW_EIO, "cannot find a free event file name in %s", w->dir);
        goto fail;
    }
    uint8_t rec[96];
    size_t n = frame_event_field(rec, wall, 0, 3, (const uint8_t *)FILE_VERSION, strlen(FILE_VERSION));
    int e = tbw__pwrite_all(fd, rec, n, 0);
    if (e) {
        rc = tbw__fail_errno(TBW__ERR(w), e, "cannot write %s", path);
        close(fd);
        unlink(path);
        goto fail;
    }
    if (w->opts.fsync && fsync(fd) != 0) {
        e = errno;
        rc = tbw__fail_errno(TBW__ERR(w), e, "cannot fsync %s", path);
        close(fd);
        unlink(path);
        goto fail;
    }
    if (w->fd >= 0)
        close(w->fd);
    free(w->path);
    w->fd = fd;
    w->path = path;
    w->file_off = n;
    w->file_secs = secs;
    w->last_gone_check = wall;
    w->file_gen++; /* every tag's metadata goes again, once, into the new file */
    free(newest);
    return TBW_OK;
fail:
    free(path);
    free(newest);
    return rc;
}

/* ---- encoding ----------------------------------------------------- */

static size_t event_header_size(int64_t step)
{
    return 9 + (step ? 1 + tbw__varint_len((uint64_t)step) : 0);
}

static uint8_t *put_event_header(uint8_t *p, double wall, int64_t step)
{
    uint64_t bits;
    memcpy(&bits, &wall, 8);
    *p++ = 0x09;
    tbw__store_le64(p, bits);
    p += 8;
    if (step) {
        *p++ = 0x10;
        p = tbw__put_varint(p, (uint64_t)step);
    }
    return p;
}

static size_t event_field_size(int64_t step, size_t len)
{
    return event_header_size(step) + tbw__ld_len(len);
}

static size_t frame_event_field(uint8_t *out, double wall, int64_t step, int field, const uint8_t *data, size_t len)
{
    size_t ev = event_field_size(step, len);
    uint8_t *p = put_event_header(out + TBW__RECORD_HEADER, wall, step);
    tbw__put_ld(p, (uint8_t)((field << 3) | 2), data, len);
    tbw__record_seal(out, ev);
    return ev + TBW_RECORD_OVERHEAD;
}

/* Size of the record holding one Summary.Value event: the tag, the value's own fields and, when
   meta_len is not (size_t)-1, the metadata field. */
static size_t value_record_size(int64_t step, size_t tlen, size_t value_len, size_t meta_len)
{
    size_t val = tbw__ld_len(tlen) + value_len + (meta_len != (size_t)-1 ? tbw__ld_len(meta_len) : 0);
    return event_header_size(step) + tbw__ld_len(tbw__ld_len(val)) + TBW_RECORD_OVERHEAD;
}

/* Frames one Summary.Value event at out (meta NULL: no metadata field); returns the record's size. */
static size_t frame_value_event(uint8_t *out, double wall, int64_t step, const char *tag, size_t tlen,
                                const uint8_t *value_fields, size_t value_len, const uint8_t *meta, size_t meta_len)
{
    size_t val = tbw__ld_len(tlen) + value_len + (meta ? tbw__ld_len(meta_len) : 0);
    size_t sum = tbw__ld_len(val);
    size_t ev = event_header_size(step) + tbw__ld_len(sum);
    uint8_t *p = put_event_header(out + TBW__RECORD_HEADER, wall, step);
    *p++ = 0x2A; /* Event.summary */
    p = tbw__put_varint(p, sum);
    *p++ = 0x0A; /* Summary.value */
    p = tbw__put_varint(p, val);
    p = tbw__put_ld(p, 0x0A, tag, tlen); /* Value.tag */
    if (value_len)
        memcpy(p, value_fields, value_len);
    p += value_len;
    if (meta)
        tbw__put_ld(p, 0x4A, meta, meta_len); /* Value.metadata */
    tbw__record_seal(out, ev);
    return ev + TBW_RECORD_OVERHEAD;
}

/* A Summary.Value event as frame_value_event laid it out, read back from its payload. */
typedef struct value_event {
    double wall;
    int64_t step;
    const char *tag;
    size_t tlen;
    const uint8_t *value; /* the fields between the tag and the metadata */
    size_t value_len;
    bool has_meta;
} value_event;

static bool parse_value_event(const uint8_t *ev, size_t n, value_event *v)
{
    const uint8_t *p = ev, *end = ev + n, *val = NULL;
    size_t val_len = 0;
    tbw__field f;
    memset(v, 0, sizeof *v);
    while (p < end) {
        if (!tbw__next_field(&p, end, &f))
            return false;
        if (f.num == 1 && f.wire == 1) {
            uint64_t bits = tbw__load_le64(f.data);
            memcpy(&v->wall, &bits, 8);
        } else if (f.num == 2 && f.wire == 0) {
            v->step = (int64_t)f.varint;
        } else if (f.num == 5 && f.wire == 2) {
            val = tbw__find_ld(f.data, f.len, 1, &val_len); /* Summary.value: the writer puts one */
        } else {
            return false; /* not a summary event */
        }
    }
    if (!val)
        return false;
    p = val;
    end = val + val_len;
    if (!tbw__next_field(&p, end, &f) || f.num != 1 || f.wire != 2)
        return false;
    v->tag = (const char *)f.data;
    v->tlen = f.len;
    v->value = p;
    v->value_len = (size_t)(end - p);
    while (p < end) {
        const uint8_t *at = p;
        if (!tbw__next_field(&p, end, &f))
            return false;
        if (f.num == 9) {
            v->value_len = (size_t)(at - v->value);
            v->has_meta = true;
            break;
        }
    }
    return true;
}

/* After a deleted event file was replaced (lock held): the buffered events were encoded for the old
   file, so the first event of each tag may lack the metadata the new file needs. Re-frames those
   with the tag's remembered metadata, so TensorBoard still shows every buffered point. */
static int remeta_buffer(tbw_writer *w)
{
    uint8_t *out = NULL;
    size_t olen = 0, ocap = 0;
    for (size_t off = 0; off < w->len;) {
        const uint8_t *rec = w->buf + off;
        size_t plen = (size_t)tbw__load_le64(rec);
        size_t rlen = plen + TBW_RECORD_OVERHEAD, nlen = rlen;
        value_event v;
        tag_meta *tm = NULL;
        if (parse_value_event(rec + TBW__RECORD_HEADER, plen, &v)) {
            void **slot = tbw__strset_find(&w->tags, v.tag, v.tlen, tbw__str_hash(v.tag, v.tlen));
            tm = slot ? *slot : NULL;
            if (tm && tm->gen == w->file_gen)
                tm = NULL; /* an earlier buffered event already carries it */
            if (tm)
                tm->gen = w->file_gen;
            if (tm && (v.has_meta || tm->len == 0))
                tm = NULL;
            if (tm)
                nlen = value_record_size(v.step, v.tlen, v.value_len, tm->len);
        }
        if (ocap - olen < nlen) {
            size_t ncap = ocap ? ocap : w->len + 4096;
            while (ncap - olen < nlen)
                ncap *= 2;
            uint8_t *nb = realloc(out, ncap);
            if (!nb) {
                free(out);
                return TBW__FAIL(w, TBW_ENOMEM, "out of memory re-encoding the events buffered for %s", w->path);
            }
            out = nb;
            ocap = ncap;
        }
        if (tm)
            frame_value_event(out + olen, v.wall, v.step, v.tag, v.tlen, v.value, v.value_len, tm->bytes, tm->len);
        else
            memcpy(out + olen, rec, rlen);
        olen += nlen;
        off += rlen;
    }
    free(w->buf);
    w->buf = out;
    w->len = olen;
    w->cap = ocap;
    return TBW_OK;
}

/* ---- buffer and flushing ------------------------------------------ */

static int grow(tbw_writer *w, size_t need)
{
    if (w->cap - w->len >= need)
        return TBW_OK;
    size_t ncap = w->cap ? w->cap : 4096;
    while (ncap - w->len < need) {
        if (ncap > SIZE_MAX / 2)
            return TBW__FAIL(w, TBW_ENOMEM, "event buffer size overflow");
        ncap *= 2;
    }
    uint8_t *nb = realloc(w->buf, ncap);
    if (!nb)
        return TBW__FAIL(w, TBW_ENOMEM, "out of memory growing the event buffer to %zu bytes", ncap);
    w->buf = nb;
    w->cap = ncap;
    return TBW_OK;
}

/* Checks whether the event file is still linked; if it was deleted, moves on
   to a new file so later events are not written into a file nobody can read. */
static int check_gone(tbw_writer *w)
{
    struct stat st;
    if (fstat(w->fd, &st) != 0 || st.st_nlink > 0)
        return TBW_OK;
    char *old = strdup(w->path ? w->path : "");
    int rc = open_next_file(w);
    if (!rc && w->len)
        rc = remeta_buffer(w);
    if (rc) {
        free(old);
        w->err = rc;
        return rc;
    }
    TBW__FAIL(w, TBW_EGONE,
              "event file was removed while open; events flushed to it are gone (%s); continuing in %s",
              old ? old : "?", w->path);
    free(old);
    return TBW_EGONE;
}

/* Foreground flush; called with the lock held. */
static int flush_locked(tbw_writer *w, bool force_check)
{
    if (w->err)
        return w->err;
    if (w->opts.discard) { /* checked and counted already; nothing goes anywhere */
        w->len = 0;
        w->nevents = 0;
        return TBW_OK;
    }
    int gone = TBW_OK;
    double t = w->nevents ? w->oldest : 0;
    if (w->len == 0 && !force_check)
        return TBW_OK;
    /* fstat costs about as much as the write; rate-limit it to once a second. */
    if (force_check || t - w->last_gone_check >= 1.0 || t < w->last_gone_check) {
        w->last_gone_check = t;
        gone = check_gone(w);
        if (gone && gone != TBW_EGONE)
            return gone;
    }
    if (w->len == 0)
        return gone;
    int e = tbw__write_whole(w->fd, w->buf, w->len, w->file_off, w->opts.fsync);
    if (e) {
        w->err = tbw__errno_status(e);
        TBW__FAIL(w, w->err,
                  "writing %zu bytes to %s failed: %s; the file keeps the %" PRIu64 " bytes written before",
                  w->len, w->path, strerror(e), w->file_off);
        w->len = 0;
        w->nevents = 0;
        return w->err;
    }
    w->file_off += w->len;
    w->len = 0;
    w->nevents = 0;
    return gone;
}

static void *bg_main(void *arg)
{
    tbw_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && !w->flush_req && w->nevents < (size_t)w->opts.max_queue &&
               w->len < w->opts.queue_bytes / 2) {
            if (w->nevents == 0) {
                pthread_cond_wait(&w->cv_work, &w->mu);
            } else {
                double due = w->oldest + w->opts.flush_secs;
                double now = now_wall(w);
                if (now >= due)
                    break;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                double wait = due - now;
                if (wait > 3600)
                    wait = 3600;
                double abs_t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + wait;
                ts.tv_sec = (time_t)abs_t;
                ts.tv_nsec = (long)((abs_t - (double)ts.tv_sec) * 1e9);
                pthread_cond_timedwait(&w->cv_work, &w->mu, &ts);
            }
        }
        if (w->len == 0) {
            w->flush_req = false;
            pthread_cond_broadcast(&w->cv_done);
            if (w->stop)
                break;
            continue;
        }
        if (w->err) {
            w->len = 0;
            w->nevents = 0;
            pthread_cond_broadcast(&w->cv_done);
            continue;
        }
        /* Swap buffers and write outside the lock. */
        double oldest = w->oldest;
        if (w->force_gone_check || oldest - w->last_gone_check >= 1.0 || oldest < w->last_gone_check) {
            w->last_gone_check = oldest;
            w->force_gone_check = false;
            int g = check_gone(w);
            if (g == TBW_EGONE)
                w->gone_pending = true;
            if (g && g != TBW_EGONE) {
                w->len = 0;
                w->nevents = 0;
                pthread_cond_broadcast(&w->cv_done);
                continue;
            }
        }
        uint8_t *data = w->buf;
        size_t n = w->len;
        size_t data_cap = w->cap;
        w->buf = w->spare;
        w->cap = w->spare_cap;
        w->spare = NULL;
        w->spare_cap = 0;
        w->len = 0;
        w->nevents = 0;
        w->flush_req = false;
        w->inflight = n;
        uint64_t off = w->file_off;
        int fd = w->fd;
        pthread_mutex_unlock(&w->mu);
        int e = tbw__write_whole(fd, data, n, off, w->opts.fsync);
        pthread_mutex_lock(&w->mu);
        w->spare = data; /* keeps its allocation for the next swap */
        w->spare_cap = data_cap;
        w->inflight = 0;
        if (e) {
            w->err = tbw__errno_status(e);
            TBW__FAIL(w, w->err,
                      "writing %zu bytes to %s failed: %s; the file keeps the %" PRIu64 " bytes written before",
                      n, w->path, strerror(e), off);
        } else {
            w->file_off += n;
        }
        pthread_cond_broadcast(&w->cv_done);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits (lock held) until everything buffered so far has been written. */
static int bg_drain_locked(tbw_writer *w)
{
    while ((w->len > 0 || w->inflight > 0) && !w->err) {
        w->flush_req = true;
        pthread_cond_signal(&w->cv_work);
        pthread_cond_wait(&w->cv_done, &w->mu);
    }
    return w->err;
}

static int rotate_locked(tbw_writer *w)
{
    int rc = w->has_thread ? bg_drain_locked(w) : flush_locked(w, false);
    if (rc && rc != TBW_EGONE)
        return rc;
    rc = open_next_file(w);
    if (rc)
        w->err = rc;
    return rc;
}

/*
 * Reserves room for one record of rec bytes (lock held). Applies rotation,
 * the byte cap and the queue policy. Returns 0 or an error (message set).
 */
static int reserve_locked(tbw_writer *w, size_t rec)
{
    if (w->err)
        return w->err;
    if (w->opts.max_file_bytes && !w->opts.discard) {
        uint64_t logical = w->file_off + w->inflight + w->len;
        uint64_t empty_file = 32; /* about the size of the file_version record */
        if (logical > empty_file && logical + rec > w->opts.max_file_bytes) {
            int rc = rotate_locked(w);
            if (rc)
                return rc;
        }
    }
    if (!w->has_thread) {
        if (w->len > 0 && w->len + rec > w->opts.queue_bytes) {
            int rc = flush_locked(w, false);
            if (rc && rc != TBW_EGONE)
                return rc;
        }
    } else {
        while (w->len + w->inflight > 0 && w->len + w->inflight + rec > w->opts.queue_bytes) {
            if (w->opts.policy == TBW_QUEUE_DROP) {
                w->dropped++;
                pthread_cond_signal(&w->cv_work); /* a full queue is due: have it written out */
                return TBW__FAIL(w, TBW_EFULL,
                                 "background queue full (%zu bytes); event dropped (%" PRIu64 " so far)",
                                 w->opts.queue_bytes, w->dropped);
            }
            w->flush_req = true;
            pthread_cond_signal(&w->cv_work);
            w->waits++; /* the tag table may change while the lock is released */
            pthread_cond_wait(&w->cv_done, &w->mu);
            if (w->err)
                return w->err;
        }
    }
    return grow(w, rec);
}

/* Accounts for one more buffered event and applies the flush policy. */
static int after_put_locked(tbw_writer *w, double wall)
{
    w->events++;
    bool first = w->nevents++ == 0;
    if (first)
        w->oldest = wall;
    if (w->has_thread) {
        /* The thread sleeps without a deadline while nothing is buffered: the first event of a batch
           wakes it to set one (flush_secs after that event), so a lone event is written on time with
           no later call. It is woken again when a batch is due by count or size. */
        if (first || w->nevents >= (size_t)w->opts.max_queue || w->len >= w->opts.queue_bytes / 2)
            pthread_cond_signal(&w->cv_work);
        return TBW_OK;
    }
    bool due = w->nevents >= (size_t)w->opts.max_queue || wall - w->oldest >= w->opts.flush_secs ||
               w->len >= w->opts.queue_bytes;
    if (!due)
        return TBW_OK;
    return flush_locked(w, false);
}

/* The plugin_name in SummaryMetadata bytes (plugin_data, field 1, then its field 1), or NULL. */
static const uint8_t *plugin_of(const uint8_t *meta, size_t len, size_t *plen)
{
    size_t pdl = 0;
    const uint8_t *pd = tbw__find_ld(meta, len, 1, &pdl);
    *plen = 0;
    return pd ? tbw__find_ld(pd, pdl, 1, plen) : NULL;
}

static tag_meta *new_tag_meta(const uint8_t *meta, size_t len, uint64_t gen, size_t tlen)
{
    tag_meta *tm = malloc(sizeof *tm + len + TMPL_ROOM(tlen));
    if (tm) {
        tm->gen = gen;
        tm->len = len;
        tm->vlen = SIZE_MAX;
        tm->tmpl_len = 0;
        if (len)
            memcpy(tm->bytes, meta, len);
    }
    return tm;
}

/* Checks a tag before anything is reserved for its event (lock held), so that a refused call changes
   nothing, not even the file: a new tag must be valid UTF-8, and later metadata for a known tag must
   not name another plugin (TensorBoard keeps a tag's first plugin, so the other kind of data would
   never be shown). *slot is the tag's entry, or NULL for a new tag. */
static int tag_check(tbw_writer *w, const char *tag, size_t tlen, uint64_t h, const uint8_t *meta, size_t mlen,
                     void ***slot)
{
    *slot = tbw__strset_find(&w->tags, tag, tlen, h);
    if (!*slot) {
        if (tlen == 0 || !tbw__utf8_valid(tag, tlen))
            return TBW__FAIL(w, TBW_EINVAL, "tag is empty or not valid UTF-8");
        return TBW_OK;
    }
    const tag_meta *tm = **slot;
    if (meta && (tm->len != mlen || memcmp(tm->bytes, meta, mlen) != 0)) {
        size_t was_len, now_len;
        const uint8_t *was = plugin_of(tm->bytes, tm->len, &was_len), *now = plugin_of(meta, mlen, &now_len);
        if (was && (!now || was_len != now_len || memcmp(was, now, was_len) != 0))
            return TBW__FAIL(w, TBW_EINVAL,
                             "tag '%s' already holds %.*s data in this run; TensorBoard would not show %.*s data "
                             "under it: use another tag",
                             tag, (int)was_len, (const char *)was, now ? (int)now_len : 5,
                             now ? (const char *)now : "other");
    }
    return TBW_OK;
}

/* The tag's entry after tag_check passed (lock held; the table is unchanged since): made on the tag's
   first use in this writer; later metadata replaces what is remembered. */
static int tag_entry(tbw_writer *w, void **slot, const char *tag, size_t tlen, uint64_t h, const uint8_t *meta,
                     size_t mlen, tag_meta **out)
{
    if (!slot) {
        tag_meta *tm = new_tag_meta(meta, meta ? mlen : 0, 0, tlen);
        if (!tm || tbw__strset_add_val(&w->tags, tag, tlen, h, tm)) {
            free(tm);
            return TBW__FAIL(w, TBW_ENOMEM, "out of memory remembering tag '%s'", tag);
        }
        *out = tm;
        return TBW_OK;
    }
    tag_meta *tm = *slot;
    if (meta && (tm->len != mlen || memcmp(tm->bytes, meta, mlen) != 0)) {
        tag_meta *n = new_tag_meta(meta, mlen, tm->gen, tlen);
        if (!n)
            return TBW__FAIL(w, TBW_ENOMEM, "out of memory remembering tag '%s'", tag);
        free(tm);
        *slot = tm = n;
    }
    *out = tm;
    return TBW_OK;
}

/* The tag's bytes between the event's step and the value's own fields (Event.summary,
   Summary.value and Value.tag, for a value of value_len bytes and no metadata), so the next event
   of that tag and length is framed by two copies. value_len is under TBW_RECORD_MAX_PAYLOAD. */
static void set_template(tag_meta *tm, const char *tag, size_t tlen, size_t value_len)
{
    size_t val = tbw__ld_len(tlen) + value_len;
    uint8_t *t = tm->bytes + tm->len, *p = t;
    *p++ = 0x2A; /* Event.summary */
    p = tbw__put_varint(p, tbw__ld_len(val));
    *p++ = 0x0A; /* Summary.value */
    p = tbw__put_varint(p, val);
    p = tbw__put_ld(p, 0x0A, tag, tlen); /* Value.tag */
    tm->tmpl_len = (size_t)(p - t);
    tm->vlen = value_len;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Seals the record put_hot_locked laid out, with the payload's CRC-32C taken from the pieces it
   copied rather than read back (loads that span the small stores just made wait for them to
   retire) and the seal inline. */
__attribute__((target("sse4.2"))) static void hot_seal_hw(uint8_t *rec, size_t ev, double wall, int64_t step,
                                                          const uint8_t *tmpl, size_t tmpl_len, const uint8_t *value,
                                                          size_t value_len)
{
    uint64_t bits;
    memcpy(&bits, &wall, 8);
    uint32_t c = (uint32_t)__builtin_ia32_crc32di(0xFFFFFFFFu, 0x09 | bits << 8);
    c = __builtin_ia32_crc32qi(c, (uint8_t)(bits >> 56));
    if (step) {
        uint64_t v = (uint64_t)step;
        c = __builtin_ia32_crc32qi(c, 0x10);
        for (; v >= 0x80; v >>= 7)
            c = __builtin_ia32_crc32qi(c, (uint8_t)(v | 0x80));
        c = __builtin_ia32_crc32qi(c, (uint8_t)v);
    }
    c = tbw__crc32c_hw_inline(~c, tmpl, tmpl_len);
    tbw__record_seal_crc_hw(rec, ev, tbw__crc32c_hw_inline(c, value, value_len));
}
#endif

/* An event of a tag logged before, with a value as long as that tag's last one and no metadata
   due: framed from the tag's template. Returns 1 when the caller must take the full path instead
   (the size would be refused, or reserving released the lock or rotated the file), else 0 or an
   error (a bad wall time from the user's clock is reported here, with the clock called once). */
static int put_hot_locked(tbw_writer *w, const tag_meta *tm, int64_t step, const uint8_t *value_fields,
                          size_t value_len)
{
    const uint8_t *tmpl = tm->bytes + tm->len;
    size_t ev = event_header_size(step) + tm->tmpl_len + value_len;
    if (value_len > TBW_RECORD_MAX_PAYLOAD || ev > TBW_RECORD_MAX_PAYLOAD)
        return 1; /* the first also catches a tag with no template yet (vlen SIZE_MAX) */
    double wall;
    int rc = stamp(w, &wall);
    if (rc)
        return rc;
    uint64_t waits = w->waits, gen = w->file_gen;
    rc = reserve_locked(w, ev + TBW_RECORD_OVERHEAD);
    if (rc)
        return rc;
    if (w->waits != waits || w->file_gen != gen)
        return 1;
    uint8_t *rec = w->buf + w->len;
    uint8_t *p = put_event_header(rec + TBW__RECORD_HEADER, wall, step);
    memcpy(p, tmpl, tm->tmpl_len);
    if (value_len)
        memcpy(p + tm->tmpl_len, value_fields, value_len);
#if defined(__x86_64__) && defined(__GNUC__)
    if (w->crc_hw)
        hot_seal_hw(rec, ev, wall, step, tmpl, tm->tmpl_len, value_fields, value_len);
    else
#endif
        tbw__record_seal(rec, ev);
    w->len += ev + TBW_RECORD_OVERHEAD;
    return after_put_locked(w, wall);
}

static void set_hot(tbw_writer *w, const char *tag, size_t tlen, const tag_meta *tm)
{
    if (tlen <= sizeof w->hot_tag) {
        memcpy(w->hot_tag, tag, tlen);
        w->hot_tlen = tlen;
        w->hot_tm = tm;
    }
}

int tbw_writer_write_value(tbw_writer *w, const char *tag, int64_t step, const uint8_t *value_fields, size_t value_len,
                           const uint8_t *metadata, size_t metadata_len)
{
    if (!w)
        return TBW_EINVAL;
    if (!tag)
        return tbw__writer_fail(w, TBW_EINVAL, "tag is NULL");
    if ((value_len && !value_fields) || (metadata_len && !metadata))
        return tbw__writer_fail(w, TBW_EINVAL, "NULL value or metadata bytes with a nonzero length");
    size_t tlen = strlen(tag);
    pthread_mutex_lock(&w->mu);
    int rc = w->err;
    double wall;
    uint64_t h = 0;
    tag_meta *tm = (tag_meta *)w->hot_tm;
    if (rc)
        goto out;
    /* The short path: a tag logged before, found without hashing when it is the last call's */
    if (!tm || tlen != w->hot_tlen || !tbw__same_bytes(tag, w->hot_tag, tlen)) {
        h = tbw__str_hash(tag, tlen);
        void **slot = tbw__strset_find(&w->tags, tag, tlen, h);
        tm = slot ? *slot : NULL;
    }
    if (tm && value_len == tm->vlen &&
        (!metadata || (tm->gen == w->file_gen && tm->len == metadata_len &&
                       tbw__same_bytes(tm->bytes, metadata, metadata_len)))) {
        rc = put_hot_locked(w, tm, step, value_fields, value_len);
        if (rc != 1) {
            if (rc == 0 && w->hot_tm != tm)
                set_hot(w, tag, tlen, tm);
            goto out;
        }
    }
    /* Refused here, before any buffer grows: a record the readers would refuse. */
    size_t most = SIZE_MAX;
    if (tlen < TBW_RECORD_MAX_PAYLOAD && value_len < TBW_RECORD_MAX_PAYLOAD && metadata_len < TBW_RECORD_MAX_PAYLOAD)
        most = value_record_size(step, tlen, value_len, metadata ? metadata_len : (size_t)-1) - TBW_RECORD_OVERHEAD;
    if (most > TBW_RECORD_MAX_PAYLOAD) {
        rc = TBW__FAIL(w, TBW_ERANGE,
                       "the event for tag '%.64s' would be over %llu bytes, the most an event file record "
                       "holds (TensorBoard cannot read a larger one)",
                       tag, (unsigned long long)TBW_RECORD_MAX_PAYLOAD);
        goto out;
    }
retry:
    rc = w->err;
    if (rc)
        goto out;
    rc = stamp(w, &wall);
    if (rc)
        goto out;
    /* A reservation that had to wait for the background thread released the lock, and another
       thread may have changed the tag table meanwhile (added tags, so the slot moved, or replaced
       this tag's entry): then all is looked up again. */
    uint64_t waits = w->waits;
    tm = (tag_meta *)w->hot_tm;
    if (tm && tlen == w->hot_tlen && memcmp(tag, w->hot_tag, tlen) == 0 &&
        (!metadata || (tm->len == metadata_len && memcmp(tm->bytes, metadata, metadata_len) == 0))) {
        /* the tag of the last call, with the metadata it holds: nothing to check or remember */
        rc = reserve_locked(w, most + TBW_RECORD_OVERHEAD);
        if (rc)
            goto out;
        if (w->waits != waits)
            goto retry;
    } else {
        /* The tag is checked first, so a refused call rotates nothing. Room is reserved as if the
           metadata goes along; reserving may rotate to a new file, which needs every tag's metadata
           again: that is decided by the entry's file generation, after the reservation. */
        if (!h)
            h = tbw__str_hash(tag, tlen);
        void **slot;
        rc = tag_check(w, tag, tlen, h, metadata, metadata_len, &slot);
        if (rc)
            goto out;
        rc = reserve_locked(w, most + TBW_RECORD_OVERHEAD);
        if (rc)
            goto out;
        if (w->waits != waits)
            goto retry;
        w->hot_tm = NULL;
        rc = tag_entry(w, slot, tag, tlen, h, metadata, metadata_len, &tm);
        if (rc)
            goto out;
        set_hot(w, tag, tlen, tm);
    }
    if (value_len != tm->vlen)
        set_template(tm, tag, tlen, value_len); /* the tag's first value, or one of another length */
    bool with_meta = metadata && tm->gen != w->file_gen;
    if (with_meta)
        tm->gen = w->file_gen;
    w->len += frame_value_event(w->buf + w->len, wall, step, tag, tlen, value_fields, value_len,
                                with_meta ? metadata : NULL, metadata_len);
    rc = after_put_locked(w, wall);
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int tbw_writer_write_event_field(tbw_writer *w, int64_t step, int field, const uint8_t *bytes, size_t len)
{
    if (!w)
        return TBW_EINVAL;
    /* Event's oneof: file_version (3) to source_metadata (10); 1 and 2 are wall_time and step. */
    if (field < 3 || field > 10)
        return tbw__writer_fail(w, TBW_EINVAL, "event field %d is not one of Event's 3..10 (file_version .. "
                                "source_metadata)", field);
    if (len && !bytes)
        return tbw__writer_fail(w, TBW_EINVAL, "event field %d: NULL bytes with length %zu", field, len);
    if (len > TBW_RECORD_MAX_PAYLOAD - 32)
        return tbw__writer_fail(w, TBW_ERANGE,
                                "event field %d would be %zu bytes; an event file record holds at most %llu", field,
                                len, (unsigned long long)TBW_RECORD_MAX_PAYLOAD);
    pthread_mutex_lock(&w->mu);
    int rc = w->err;
    if (rc)
        goto out;
    double wall;
    rc = stamp(w, &wall);
    if (rc)
        goto out;
    size_t rec = event_field_size(step, len) + TBW_RECORD_OVERHEAD;
    rc = reserve_locked(w, rec);
    if (rc)
        goto out;
    w->len += frame_event_field(w->buf + w->len, wall, step, field, bytes, len);
    rc = after_put_locked(w, wall);
out:
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* ---- open / flush / close ----------------------------------------- */

static int validate_opts(const tbw_writer_opts *o, char *msg, size_t cap)
{
    if (o->max_queue < 1) {
        return tbw__fail(TBW__ERR_BUF(msg, cap), TBW_EINVAL, "max_queue must be >= 1 (got %d)", o->max_queue);
    }
    if (!(o->flush_secs >= 0) || isinf(o->flush_secs)) {
        return tbw__fail(TBW__ERR_BUF(msg, cap), TBW_EINVAL, "flush_secs must be a finite number >= 0");
    }
    if (o->queue_bytes < 1024) {
        return tbw__fail(TBW__ERR_BUF(msg, cap), TBW_EINVAL, "queue_bytes must be >= 1024 (got %zu)", o->queue_bytes);
    }
    if (o->policy != TBW_QUEUE_BLOCK && o->policy != TBW_QUEUE_DROP) {
        return tbw__fail(TBW__ERR_BUF(msg, cap), TBW_EINVAL, "unknown queue policy %d", (int)o->policy);
    }
    if (o->max_file_bytes && o->max_file_bytes < 1024) {
        return tbw__fail(TBW__ERR_BUF(msg, cap), TBW_EINVAL, "max_file_bytes must be 0 or >= 1024");
    }
    if (o->png_level < -1 || o->png_level > 9) {
        return tbw__fail(TBW__ERR_BUF(msg, cap), TBW_EINVAL, "png_level must be -1..9 (got %d)", o->png_level);
    }
    if (o->filename_suffix && (strchr(o->filename_suffix, '/') || strlen(o->filename_suffix) > 64)) {
        return tbw__fail(TBW__ERR_BUF(msg, cap), TBW_EINVAL,
                         "filename_suffix must not contain '/' and be at most 64 bytes");
    }
    return TBW_OK;
}

static void hostname_for_file(char *out, size_t cap)
{
    if (gethostname(out, cap) != 0 || !out[0])
        snprintf(out, cap, "localhost");
    out[cap - 1] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '/' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '_';
}

static void free_writer(tbw_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    tbw__strset_free(&w->tags);
    free(w->buf);
    free(w->spare);
    free(w->dir);
    free(w->path);
    free(w->suffix);
    pthread_cond_destroy(&w->cv_work);
    pthread_cond_destroy(&w->cv_done);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int tbw_writer_open(tbw_writer **out, const char *run_dir, const tbw_writer_opts *opts, char *errmsg,
                    size_t errmsg_len)
{
    static const tbw_writer_opts defaults = TBW_WRITER_OPTS_INIT;
    if (errmsg && errmsg_len)
        errmsg[0] = '\0';
    if (!out) {
        return tbw__fail(TBW__ERR_BUF(errmsg, errmsg_len), TBW_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (!run_dir || !run_dir[0]) {
        return tbw__fail(TBW__ERR_BUF(errmsg, errmsg_len), TBW_EINVAL, "run directory is empty or NULL");
    }
    if (!opts)
        opts = &defaults;
    int rc = validate_opts(opts, errmsg, errmsg_len);
    if (rc)
        return rc;
    tbw_writer *w = calloc(1, sizeof *w);
    if (!w) {
        return tbw__fail(TBW__ERR_BUF(errmsg, errmsg_len), TBW_ENOMEM, "out of memory allocating the writer");
    }
    w->fd = -1;
    w->file_secs = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv_work, NULL);
    pthread_cond_init(&w->cv_done, NULL);
    w->opts = *opts;
    w->opts.filename_suffix = NULL;
    if (!w->opts.clock)
        tbw__wallclock_init(&w->clock);
    w->crc_hw = tbw__crc32c_hw_available();
    if (w->opts.png_level < 0)
        w->opts.png_level = 1;
    size_t dl = strlen(run_dir);
    while (dl > 1 && run_dir[dl - 1] == '/')
        dl--;
    w->dir = strndup(run_dir, dl);
    w->suffix = strdup(opts->filename_suffix ? opts->filename_suffix : "");
    if (!w->dir || !w->suffix) {
        rc = TBW__FAIL(w, TBW_ENOMEM, "out of memory copying paths");
        goto fail;
    }
    hostname_for_file(w->host, sizeof w->host);
    w->pid = (long)getpid();
    if (opts->discard) {
        /* No directory, no file, no thread: every call is checked and encoded as usual, and each
           flush drops the buffer. */
        w->opts.background = false;
        w->file_gen = 1;
    } else {
        rc = tbw__mkdir_p(TBW__ERR(w), w->dir);
        if (rc)
            goto fail;
        rc = open_next_file(w);
        if (rc)
            goto fail;
    }
    if (opts->resume_step >= 0) {
        /* SessionLog{status: START}: the Python loader ignores a run's first START
           and purges steps >= S on every later one, so two make the purge happen
           whether or not the earlier run wrote a START itself. */
        static const uint8_t start[] = {0x08, 0x01};
        for (int i = 0; i < 2 && !rc; i++)
            rc = tbw_writer_write_event_field(w, opts->resume_step, 7, start, sizeof start);
        if (!rc)
            rc = tbw_writer_flush(w);
        if (rc)
            goto fail;
    }
    if (w->opts.background) {
        if (pthread_create(&w->thread, NULL, bg_main, w) != 0) {
            rc = TBW__FAIL(w, TBW_ENOMEM, "cannot start the background writer thread");
            goto fail;
        }
        w->has_thread = true;
    }
    *out = w;
    return TBW_OK;
fail:
    tbw__fail_copy(TBW__ERR_BUF(errmsg, errmsg_len), rc, w->errmsg);
    if (w->path && w->file_off <= 64)
        unlink(w->path); /* nothing but the header was written */
    free_writer(w);
    return rc;
}

int tbw_writer_flush(tbw_writer *w)
{
    if (!w)
        return TBW_EINVAL;
    pthread_mutex_lock(&w->mu);
    int rc;
    if (w->has_thread) {
        w->force_gone_check = true;
        rc = bg_drain_locked(w);
        if (!rc && w->gone_pending) {
            w->gone_pending = false;
            rc = TBW_EGONE;
        }
    } else {
        rc = flush_locked(w, true);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int tbw_writer_close(tbw_writer *w)
{
    if (!w)
        return TBW_OK;
    int rc;
    pthread_mutex_lock(&w->mu);
    if (w->has_thread) {
        rc = bg_drain_locked(w);
        w->stop = true;
        pthread_cond_signal(&w->cv_work);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_mutex_lock(&w->mu);
        w->has_thread = false;
    } else {
        rc = flush_locked(w, true);
    }
    if (!rc && w->err)
        rc = w->err;
    if (w->fd >= 0) {
        if (close(w->fd) != 0 && !rc)
            rc = TBW_EIO;
        w->fd = -1;
    }
    pthread_mutex_unlock(&w->mu);
    free_writer(w);
    return rc == TBW_EGONE ? TBW_OK : rc;
}

const char *tbw_writer_errmsg(const tbw_writer *w)
{
    return w ? w->errmsg : "writer is NULL";
}

const char *tbw_writer_path(const tbw_writer *w)
{
    return w && w->path ? w->path : "";
}

uint64_t tbw_writer_dropped(const tbw_writer *w)
{
    if (!w)
        return 0;
    tbw_writer *mw = (tbw_writer *)w;
    pthread_mutex_lock(&mw->mu);
    uint64_t d = w->dropped;
    pthread_mutex_unlock(&mw->mu);
    return d;
}

uint64_t tbw_writer_bytes_written(const tbw_writer *w)
{
    if (!w)
        return 0;
    tbw_writer *mw = (tbw_writer *)w;
    pthread_mutex_lock(&mw->mu);
    uint64_t n = w->file_off;
    pthread_mutex_unlock(&mw->mu);
    return n;
}

uint64_t tbw_writer_event_count(const tbw_writer *w)
{
    if (!w)
        return 0;
    tbw_writer *mw = (tbw_writer *)w;
    pthread_mutex_lock(&mw->mu);
    uint64_t n = w->events;
    pthread_mutex_unlock(&mw->mu);
    return n;
}
