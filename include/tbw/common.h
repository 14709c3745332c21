/*
 * tbw: status codes, version and the export macro shared by every public header.
 *
 * Every call that can fail returns an int: 0 (TBW_OK) on success or one of the
 * negative TBW_E* codes below. tbw_strerror() turns a code into a static text;
 * the handle the call was made on keeps a one-line message about the last
 * failure (for example tbw_writer_errmsg()). A call on two handles leaves the
 * message on the one it is named after: tbw_graph_write and
 * cnn_model_export_graph on the graph, cnn_model_evaluate_dataset on the
 * model (a writer also keeps its own write errors). A constructor takes a
 * caller's buffer (char *errmsg, size_t errmsg_len) for the message, since
 * there is no handle yet. The library keeps no global or thread-local error
 * state, never prints and never aborts on bad input.
 */
#ifndef TBW_COMMON_H
#define TBW_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <tbw/version.h>

#if defined(TBW_BUILDING) && defined(__GNUC__)
#define TBW_API __attribute__((visibility("default")))
#else
#define TBW_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. 0 is success; every error is negative. */
enum {
    TBW_OK = 0,
    TBW_EINVAL = -1,     /**< bad argument from the caller */
    TBW_ENOMEM = -2,     /**< an allocation failed */
    TBW_EIO = -3,        /**< the operating system refused a read or write */
    TBW_ENOSPC = -4,     /**< the disk or file size limit is full */
    TBW_ECORRUPT = -5,   /**< a record or file failed its checks */
    TBW_ETRUNCATED = -6, /**< input ends inside a record (normal while a writer appends) */
    TBW_EFULL = -7,      /**< background queue full and the policy is to drop */
    TBW_EGONE = -8,      /**< the event file was removed while open */
    TBW_ERANGE = -9,     /**< a size or count is out of the supported range */
    TBW_ENOTFOUND = -10, /**< a named file, run or item does not exist */
    TBW_EMISMATCH = -11  /**< input does not match what it must agree with */
};

/** Static English text for a status code; never NULL. */
TBW_API const char *tbw_strerror(int status);

/** The library version as "MAJOR.MINOR.PATCH"; equals TBW_VERSION_STRING of the build. */
TBW_API const char *tbw_version(void);

#ifdef __cplusplus
}
#endif
#endif
