/* What the summary modules need from the writer. Internal. */
#ifndef TBW_WRITER_INTERNAL_H
#define TBW_WRITER_INTERNAL_H

#include <tbw/writer.h>

/* Records a validation failure on w (thread-safe) and returns code. */
int tbw__writer_fail(tbw_writer *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks that tag is non-empty valid UTF-8; records the failure on w. */
int tbw__check_tag(tbw_writer *w, const char *tag);
int tbw__writer_png_level(const tbw_writer *w);
/* Seconds since the epoch by w's clock (opts.clock, or the event clock): the time its events are
   stamped with, for the times that summaries carry inside their payload. Thread-safe. */
double tbw__writer_now(tbw_writer *w);

#endif
