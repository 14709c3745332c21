/*
 * tbw embedding projector: the files TensorBoard's Projector tab reads,
 * without TensorFlow.
 *
 * tbw_projector_add() writes, under dir (the log directory root or an
 * existing run directory), embeddings/<name>/tensors.tsv, metadata.tsv,
 * sprite.png and bookmarks.json as given, and rewrites dir/projector_config.pbtxt
 * (to a temporary file, then renamed over it) so that it lists every embedding
 * added to dir, in name order. Adding an embedding under an existing tensor
 * name replaces it; distinct names never share a directory (a name whose
 * readable directory name is taken gets "-2", "-3", ... appended). All paths in the config are relative, use "/", and stay
 * inside dir, as TensorBoard 2.21 requires.
 *
 * Write the embeddings before TensorBoard first scans the log directory: it
 * re-reads projector configs only when the set of runs changes.
 *
 * Metadata: one column is written without a header, several with a header
 * row (the projector's rule). A tab, newline, carriage return or backslash
 * inside a label is written as \t, \n, \r or \\, and a blank label (empty, or
 * only whitespace as JavaScript's trim() sees it: " ", U+00A0, "\v", ...) as
 * "(empty)", so no label can shift the rows. Blank column names are refused.
 */
#ifndef TBW_PROJECTOR_H
#define TBW_PROJECTOR_H

#include <tbw/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TBW_SPRITE_MAX_PX 8192

typedef struct tbw_embedding {
    const char *tensor_name;   /**< unique within dir; shown in the projector's menu */
    const float *data;         /**< n x d, row-major; every value finite */
    size_t n, d;               /**< 1 <= n <= 100000, 1 <= d <= 4096 */
    /* Metadata (optional): n_label_rows (must equal n) rows of n_columns labels, row-major. */
    size_t n_columns;
    size_t n_label_rows;
    const char *const *column_names; /**< required when n_columns > 1 */
    const char *const *labels;
    /* Sprite (optional): n_thumbnails (must equal n) thumbnails of thumb_h x thumb_w x thumb_c
       (1 or 3) uint8, HWC, back to back. */
    const uint8_t *thumbnails;
    size_t n_thumbnails;
    size_t thumb_h, thumb_w, thumb_c;
    const char *bookmarks_json; /**< optional, written verbatim */
} tbw_embedding;

/**
 * Writes one embedding into dir (created if missing) and updates the config.
 * On failure nothing of this embedding is left behind and the config is
 * unchanged; errmsg (may be NULL) gets one line. Returns TBW_EINVAL for bad
 * input (a non-finite value names its row; a sprite over 8192 px per side says
 * how many thumbnails of that size fit), TBW_ERANGE for a matrix over the
 * projector's limit of points or dimensions (the message gives both limits),
 * TBW_EIO/TBW_ENOSPC for the disk, TBW_ENOMEM.
 */
TBW_API int tbw_projector_add(const char *dir, const tbw_embedding *e, char *errmsg, size_t errmsg_len);

#ifdef __cplusplus
}
#endif
#endif
