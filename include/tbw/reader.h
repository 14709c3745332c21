/*
 * tbw event-file reader: iterates the records of one event file, verifies both
 * CRCs of each and decodes the Event, for files written by tbw, TensorFlow,
 * PyTorch or tensorboardX.
 *
 * A reader is used by one thread at a time. Everything an event points to is
 * owned by the reader and stays valid until the next tbw_reader_next() or
 * tbw_reader_close().
 */
#ifndef TBW_READER_H
#define TBW_READER_H

#include <tbw/common.h>
#include <tbw/record.h> /* tbw_crc32c, tbw_record_frame: declared here before record.h existed */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tbw_reader tbw_reader;

typedef enum tbw_event_kind {
    TBW_EVENT_OTHER = 0,
    TBW_EVENT_FILE_VERSION,
    TBW_EVENT_SUMMARY,
    TBW_EVENT_GRAPH,
    TBW_EVENT_SESSION_LOG,
    TBW_EVENT_RUN_METADATA
} tbw_event_kind;

typedef enum tbw_value_kind {
    TBW_VALUE_NONE = 0,
    TBW_VALUE_SIMPLE,  /**< legacy simple_value float */
    TBW_VALUE_TENSOR,  /**< a TensorProto */
    TBW_VALUE_HISTO,   /**< legacy HistogramProto */
    TBW_VALUE_IMAGE,   /**< legacy Summary.Image */
    TBW_VALUE_AUDIO    /**< legacy Summary.Audio */
} tbw_value_kind;

/** TensorFlow DataType numbers for the types tbw decodes. */
enum { TBW_DT_FLOAT = 1, TBW_DT_DOUBLE = 2, TBW_DT_INT32 = 3, TBW_DT_UINT8 = 4, TBW_DT_STRING = 7,
       TBW_DT_INT64 = 9, TBW_DT_BOOL = 10 };

typedef struct tbw_value {
    const char *tag;
    const char *plugin_name;        /**< "" when the value has no metadata */
    const uint8_t *plugin_content;  /**< SummaryMetadata.plugin_data.content */
    size_t plugin_content_len;
    const char *display_name;
    tbw_value_kind kind;
    /* TBW_VALUE_SIMPLE, or a one-element numeric tensor: the value as a double. */
    double scalar;
    bool has_scalar;
    /* TBW_VALUE_TENSOR */
    int dtype;
    size_t rank;
    const int64_t *dims;
    /* Numeric tensor elements as little-endian bytes of dtype (from tensor_content
       or the typed *_val fields), num_elements of them. */
    const uint8_t *data;
    size_t data_len;
    size_t num_elements;
    /* DT_STRING elements, and the encoded blob of a legacy image or audio value. */
    size_t n_strings;
    const uint8_t *const *strings;
    const size_t *string_lens;
    /* TBW_VALUE_HISTO */
    double histo_min, histo_max, histo_num, histo_sum, histo_sum_squares;
    size_t histo_buckets;
    const double *histo_bucket_limit;
    const double *histo_bucket;
    /* TBW_VALUE_IMAGE */
    int image_height, image_width, image_colorspace;
    /* TBW_VALUE_AUDIO */
    double audio_sample_rate;
} tbw_value;

typedef struct tbw_event {
    double wall_time;
    int64_t step;
    tbw_event_kind kind;
    const char *file_version;     /**< TBW_EVENT_FILE_VERSION */
    size_t n_values;              /**< TBW_EVENT_SUMMARY */
    const tbw_value *values;
    int session_status;           /**< TBW_EVENT_SESSION_LOG: 1 START, 2 STOP, 3 CHECKPOINT */
    const uint8_t *graph_def;     /**< TBW_EVENT_GRAPH: serialized GraphDef */
    size_t graph_def_len;
    uint64_t offset;              /**< byte offset of this record in the file */
} tbw_event;

/** Opens an event file. On failure *out is NULL and errmsg (if given) gets a line. A directory,
 *  a FIFO or a socket is refused with TBW_EIO at once (a FIFO without a writer would otherwise block
 *  the call); character devices such as /dev/null are read as files. */
TBW_API int tbw_reader_open(tbw_reader **out, const char *path, char *errmsg, size_t errmsg_len);

/**
 * Reads the next event. Returns 1 and sets *ev, 0 at the clean end of the file,
 * TBW_ETRUNCATED if the file ends inside a record (normal while a writer is
 * still appending; calling again later continues from that record), or
 * TBW_ECORRUPT for a CRC or decode failure (the message names the offset).
 */
TBW_API int tbw_reader_next(tbw_reader *r, const tbw_event **ev);

/** Offset of the first byte not yet consumed (the start of the next record). */
TBW_API uint64_t tbw_reader_offset(const tbw_reader *r);

/** One line about the last failure, "" if none. */
TBW_API const char *tbw_reader_errmsg(const tbw_reader *r);

/** Closes the file and frees the reader. NULL is a no-op. */
TBW_API void tbw_reader_close(tbw_reader *r);

#ifdef __cplusplus
}
#endif
#endif
