/*
 * tbw summaries: scalars, histograms, images, audio and text in the forms
 * TensorBoard 2.x reads (both its Python loader and its fast data server).
 *
 * Every function validates its input, encodes one Summary value and hands it
 * to the writer, which puts the plugin metadata on the tag's first value in
 * each event file. Tags must be non-empty valid UTF-8; "/" groups tags in the
 * UI. All functions are as thread-safe as the writer (any thread may call).
 * On failure they return a negative TBW_E* code and leave a message in
 * tbw_writer_errmsg(w); nothing is written for a refused call.
 */
#ifndef TBW_SUMMARY_H
#define TBW_SUMMARY_H

#include <tbw/writer.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scalars ----------------------------------------------------------- */

/**
 * Logs one scalar point. The value is stored as float32 (a rank-0 DT_FLOAT
 * tensor, exactly as tf.summary.scalar writes it), so a double is rounded to
 * the nearest float. NaN and +-Inf are written as such.
 */
TBW_API int tbw_scalar(tbw_writer *w, const char *tag, int64_t step, double value);

/* ---- histograms -------------------------------------------------------- */

#define TBW_HISTOGRAM_DEFAULT_BUCKETS 30

/**
 * Buckets n values the way TensorBoard's histogram summary does: k equal-width
 * buckets from the minimum to the maximum, rows (left, right, count) in out
 * (k*3 doubles). NaN and +-Inf are left out and counted in *nonfinite (may be
 * NULL). With no finite value every row is (0, 0, 0); when all finite values
 * are equal, every edge is that value and the last bucket holds the count.
 * k: 1..65536. Runs in O(n + k). Every edge is finite for any finite input,
 * even a range wider than DBL_MAX (-1e308..1e308).
 * Returns 0, TBW_EINVAL (x or out NULL, k out of range), TBW_ENOMEM, or, for
 * doubles only, TBW_ERANGE when the range is so narrow (a few subnormals) that
 * the bucket width rounds to 0.
 */
TBW_API int tbw_histogram_buckets_f32(const float *x, size_t n, int k, double *out, size_t *nonfinite);
TBW_API int tbw_histogram_buckets_f64(const double *x, size_t n, int k, double *out, size_t *nonfinite);

/**
 * Logs a histogram of n floats (also shown by the Distributions tab) as a
 * [k,3] DT_DOUBLE tensor. buckets: 0 for the default of 30. nonfinite: if not
 * NULL, receives how many NaN/Inf values were left out.
 */
TBW_API int tbw_histogram(tbw_writer *w, const char *tag, int64_t step, const float *x, size_t n,
                          int buckets, size_t *nonfinite);
/** The same for doubles; TBW_ERANGE as for tbw_histogram_buckets_f64. */
TBW_API int tbw_histogram_f64(tbw_writer *w, const char *tag, int64_t step, const double *x, size_t n,
                              int buckets, size_t *nonfinite);

/* ---- images ------------------------------------------------------------ */

typedef enum tbw_pixel_type {
    TBW_PIXEL_U8 = 0, /**< uint8, 0..255 */
    TBW_PIXEL_F32 = 1 /**< float in [0, 1]; outside values are clamped, NaN becomes 0 */
} tbw_pixel_type;

typedef enum tbw_layout {
    TBW_LAYOUT_HWC = 0, /**< height, width, channels (interleaved) */
    TBW_LAYOUT_CHW = 1  /**< channels, height, width (planar, as the CNN engine stores it) */
} tbw_layout;

/** The most pixels an image (or a grid) may have per side: larger ones are refused with TBW_ERANGE
 *  before anything is allocated, as are images whose raw pixels exceed TBW_RECORD_MAX_PAYLOAD. */
#define TBW_IMAGE_MAX_SIDE 32768

/** n images of one size, stored back to back. channels: 1 (gray), 3 (RGB) or 4 (RGBA). */
typedef struct tbw_image_batch {
    const void *data;
    tbw_pixel_type type;
    tbw_layout layout;
    size_t n, height, width, channels;
} tbw_image_batch;

/**
 * Logs up to max_outputs images of the batch (like tf.summary.image with
 * max_outputs) as PNGs in one summary. max_outputs: 0 means 3.
 * The PNG zlib level is the writer's opts.png_level.
 * Returns 0, TBW_EINVAL (a bad field; the message names it), TBW_ERANGE (over
 * TBW_IMAGE_MAX_SIDE or a record's size), TBW_ENOMEM, or a write error.
 */
TBW_API int tbw_images(tbw_writer *w, const char *tag, int64_t step, const tbw_image_batch *batch,
                       size_t max_outputs);

/**
 * Tiles a batch into one uint8 HWC image: cols per row (0: ceil(sqrt(n))),
 * pad pixels of border between tiles (filled with pad_value). normalize: scale
 * each tile's own min..max to 0..255 (for filters and activations; a constant
 * tile becomes mid-gray); otherwise values are converted as in tbw_images.
 * *out is allocated by the library; free it with tbw_free().
 * Returns 0, TBW_EINVAL, TBW_ERANGE (the batch or the grid over
 * TBW_IMAGE_MAX_SIDE per side, or over TBW_RECORD_MAX_PAYLOAD bytes) or TBW_ENOMEM.
 */
TBW_API int tbw_image_grid(const tbw_image_batch *batch, size_t cols, size_t pad, uint8_t pad_value,
                           bool normalize, uint8_t **out, size_t *out_height, size_t *out_width,
                           size_t *out_channels);

/**
 * Encodes one uint8 HWC image as PNG. level: zlib level 0-9, or -1 for the
 * default (1). *out is allocated by the library; free it with tbw_free().
 */
TBW_API int tbw_png_encode(const uint8_t *hwc, size_t height, size_t width, size_t channels, int level,
                           uint8_t **out, size_t *out_len);

/** Frees memory returned by tbw. NULL is a no-op. */
TBW_API void tbw_free(void *p);

/* ---- audio ------------------------------------------------------------- */

/** One clip: frames x channels float samples in [-1, 1], interleaved. */
typedef struct tbw_audio_clip {
    const float *samples;
    size_t frames;
    size_t channels;
    const char *label; /**< optional Markdown label shown under the clip; NULL for none */
} tbw_audio_clip;

/**
 * Logs n clips as 16-bit PCM WAV files (values outside [-1, 1] are clamped).
 * All clips share sample_rate (Hz, 1..768000).
 */
TBW_API int tbw_audio(tbw_writer *w, const char *tag, int64_t step, const tbw_audio_clip *clips,
                      size_t n, uint32_t sample_rate);

/** Encodes one clip as a 16-bit PCM WAV file; free *out with tbw_free(). */
TBW_API int tbw_wav_encode(const float *samples, size_t frames, size_t channels, uint32_t sample_rate,
                           uint8_t **out, size_t *out_len);

/* ---- text -------------------------------------------------------------- */

/** Logs Markdown text (a rank-0 string tensor). text must be valid UTF-8. */
TBW_API int tbw_text(tbw_writer *w, const char *tag, int64_t step, const char *text);

/** Logs a rows x cols table of UTF-8 cells (row-major), shown as a table. */
TBW_API int tbw_text_table(tbw_writer *w, const char *tag, int64_t step, const char *const *cells,
                           size_t rows, size_t cols);

/* ---- PR curves ---------------------------------------------------------- */

#define TBW_PR_DEFAULT_THRESHOLDS 201

/**
 * Logs a precision-recall curve under the tag "<name>/pr_curves", computed as
 * TensorBoard's pr_curve summary does: predictions in [0, 1] are put into
 * num_thresholds buckets (floor(p * (T - 1))), and for each threshold i/(T-1)
 * the true/false positive/negative counts, precision tp/max(1e-7, tp+fp) and
 * recall tp/max(1e-7, tp+fn) form a [6, T] float tensor. weights: optional
 * per-example weights (NULL: 1). num_thresholds: 2..10000, 0 for 201.
 * Predictions outside [0, 1] or NaN are refused.
 */
TBW_API int tbw_pr_curve(tbw_writer *w, const char *name, int64_t step, const bool *labels,
                         const float *predictions, const float *weights, size_t n, int num_thresholds);

/* ---- custom scalars layout ------------------------------------------------ */

/** One margin-chart series: the value tag and the tags of its lower and upper bounds. */
typedef struct tbw_margin_series {
    const char *value, *lower, *upper;
} tbw_margin_series;

/** A chart: a multiline chart of every scalar tag matching one of the regexes, or a margin chart. */
typedef struct tbw_layout_chart {
    const char *title;
    const char *const *tag_regexes; /**< multiline chart (used when n_series == 0) */
    size_t n_regexes;
    const tbw_margin_series *series; /**< margin chart */
    size_t n_series;
} tbw_layout_chart;

typedef struct tbw_layout_category {
    const char *title;
    const tbw_layout_chart *charts;
    size_t n_charts;
    bool closed; /**< shown collapsed */
} tbw_layout_category;

/**
 * Writes the Custom Scalars dashboard layout (tag "custom_scalars__config__",
 * step 0). Regexes are checked as POSIX extended expressions, which catches
 * most errors in TensorBoard's Python regexes; an invalid one is refused.
 */
TBW_API int tbw_custom_scalars_layout(tbw_writer *w, const tbw_layout_category *categories, size_t n);

#ifdef __cplusplus
}
#endif
#endif
