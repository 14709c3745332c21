/*
 * tbw event-file writer.
 *
 * A writer owns one run directory and appends TensorBoard event files to it:
 * events.out.tfevents.<10-digit seconds>.<host>.<pid>.<counter><suffix>. Names
 * sort in the order the files were written, and two writers never share a
 * file (the name is claimed with O_EXCL).
 *
 * Buffering: events are encoded and framed into memory at once, then handed to
 * the operating system ("flushed") after max_queue events, after flush_secs
 * seconds (checked when an event arrives, or by the background thread), when
 * the buffer reaches queue_bytes, on tbw_writer_flush() and on close. Data that
 * a flush reported as written survives a kill -9 of the process; with
 * opts.fsync it also survives a power loss.
 *
 * Failures: a failed write is undone (the file is cut back to the last whole
 * record, so it stays readable) and the error sticks: every later call returns
 * it until close. No event is dropped silently; with the TBW_QUEUE_DROP policy
 * a dropped event is refused with TBW_EFULL and counted.
 *
 * Threads: a writer may be shared by any number of threads; every call locks.
 */
#ifndef TBW_WRITER_H
#define TBW_WRITER_H

#include <tbw/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tbw_writer tbw_writer;

/** What a background writer does when its queue holds queue_bytes. */
typedef enum tbw_queue_policy {
    TBW_QUEUE_BLOCK = 0, /**< the logging call waits for the disk (nothing is lost) */
    TBW_QUEUE_DROP = 1   /**< the event is refused with TBW_EFULL and counted */
} tbw_queue_policy;

/** Clock in seconds since the epoch; used for every event's wall_time. */
typedef double (*tbw_clock_fn)(void *ctx);

/** Writer options. Start from TBW_WRITER_OPTS_INIT; new fields are added at the end. */
typedef struct tbw_writer_opts {
    int max_queue;            /**< flush after this many buffered events (TensorFlow: 10) */
    double flush_secs;        /**< flush when the oldest buffered event is this old (TensorFlow: 120) */
    bool fsync;               /**< every flush also calls fsync() */
    bool background;          /**< a thread does the writing; logging calls only encode */
    size_t queue_bytes;       /**< cap on buffered bytes; a full buffer is flushed (or, in background mode, handled by policy) */
    tbw_queue_policy policy;  /**< background mode: what a full queue does */
    int64_t resume_step;      /**< >= 0: this open continues a run at this step (see tbw_writer_open) */
    uint64_t max_file_bytes;  /**< > 0: start a new file once the current one reaches this size */
    const char *filename_suffix; /**< appended to the file name, e.g. ".v2"; NULL for none */
    tbw_clock_fn clock;       /**< NULL: the system's real-time clock (CLOCK_REALTIME; read through
                                   the CPU's time-stamp counter where the kernel keeps time with it,
                                   re-anchored every 10 ms, within a microsecond of it) */
    void *clock_ctx;          /**< passed to clock */
    int png_level;            /**< PNG compression 0-9; -1 = default 1. 0 stores, 1-3 are fast (RLE, UP filter), 4-9 search harder (adaptive filters from 6) */
    bool discard;             /**< check and count every call, but create no directory or file and write nothing:
                                   for the ranks of a distributed job that do not own the run, and for dry runs.
                                   Every call returns what it would return on a real writer (a bad tag is still
                                   refused); tbw_writer_path() is "" and tbw_writer_bytes_written() 0. */
} tbw_writer_opts;

#define TBW_WRITER_OPTS_INIT { 10, 120.0, false, false, (size_t)8 << 20, TBW_QUEUE_BLOCK, -1, 0, NULL, NULL, NULL, -1, false }

/**
 * Opens a writer on run_dir, creating the directory (and its parents) if needed,
 * and starts a new event file whose first record is file_version "brain.Event:2".
 *
 * With opts->resume_step >= 0 the open continues an earlier run: it writes
 * SessionLog START at that step (twice, so the Python loader purges the earlier
 * run's points at steps >= resume_step whether or not that run wrote a START;
 * the fast loader drops them by itself once the same tags are logged again).
 *
 * out: receives the writer; *out is NULL on failure. opts: NULL for defaults.
 * Returns 0, TBW_EINVAL (bad options; the message is in errmsg if errmsg != NULL),
 * TBW_EIO, TBW_ENOSPC or TBW_ENOMEM. errmsg/errmsg_len: optional buffer for a
 * one-line message when opening fails (there is no handle to keep it).
 */
TBW_API int tbw_writer_open(tbw_writer **out, const char *run_dir, const tbw_writer_opts *opts,
                            char *errmsg, size_t errmsg_len);

/** Hands every buffered event to the operating system (and fsyncs if opts.fsync). */
TBW_API int tbw_writer_flush(tbw_writer *w);

/** Flushes, closes the file and frees the writer. NULL is a no-op. Returns the first error seen. */
TBW_API int tbw_writer_close(tbw_writer *w);

/** One line about the last failure on this writer, "" if none. Valid until the next call on w. */
TBW_API const char *tbw_writer_errmsg(const tbw_writer *w);

/** Path of the event file being written. Valid until the next call on w. */
TBW_API const char *tbw_writer_path(const tbw_writer *w);

/** Events refused with TBW_EFULL so far (TBW_QUEUE_DROP policy). */
TBW_API uint64_t tbw_writer_dropped(const tbw_writer *w);

/** Bytes of whole records that earlier flushes handed to the OS in the current file. */
TBW_API uint64_t tbw_writer_bytes_written(const tbw_writer *w);

/** Events this writer accepted (each successful logging call that made an event; a discarding
 *  writer counts them too). 0 for NULL. */
TBW_API uint64_t tbw_writer_event_count(const tbw_writer *w);

/**
 * Writes an already-serialized Summary.Value payload. Most code uses the
 * summary functions in <tbw/summary.h>; this is for kinds tbw does not know.
 * value_fields: the encoded fields of a Summary.Value other than tag (1) and
 * metadata (9); metadata: an encoded SummaryMetadata, written on the tag's
 * first value in each file (may be NULL).
 * Returns 0; TBW_EINVAL for a NULL, empty or non-UTF-8 tag, or for metadata
 * naming another plugin than the tag's earlier metadata in this writer
 * (TensorBoard keeps a tag's first plugin and would not show the rest);
 * TBW_ERANGE if the event would be over TBW_RECORD_MAX_PAYLOAD bytes;
 * or a write error.
 */
TBW_API int tbw_writer_write_value(tbw_writer *w, const char *tag, int64_t step,
                                   const uint8_t *value_fields, size_t value_len,
                                   const uint8_t *metadata, size_t metadata_len);

/** Writes a raw Event with the given serialized oneof field: field is 3..10 (file_version,
 *  graph_def, summary, log_message, session_log, tagged_run_metadata, meta_graph_def,
 *  source_metadata), bytes its encoding. TBW_EINVAL for another field, TBW_ERANGE past
 *  TBW_RECORD_MAX_PAYLOAD. */
TBW_API int tbw_writer_write_event_field(tbw_writer *w, int64_t step, int field, const uint8_t *bytes, size_t len);

#ifdef __cplusplus
}
#endif
#endif
