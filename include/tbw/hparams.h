/*
 * tbw hyperparameters for TensorBoard's HParams dashboard.
 *
 * Layout that works in both loaders: write the experiment (the hparams and
 * metrics to show, with their domains) once, into a writer on the log
 * directory root, and give every session (one training run) its own run
 * directory below it with its own writer, where the session's start info,
 * its scalars (the metrics) and its end info go. The dashboard's metric value
 * for a session is the last value of the named scalar tag in that run (or in
 * the sub-run named by the metric's group).
 */
#ifndef TBW_HPARAMS_H
#define TBW_HPARAMS_H

#include <tbw/writer.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tbw_hparam_type {
    TBW_HPARAM_STRING = 1,
    TBW_HPARAM_BOOL = 2,
    TBW_HPARAM_FLOAT = 3 /**< any number (stored as a double) */
} tbw_hparam_type;

/** One hyperparameter of the experiment, with an optional domain. */
typedef struct tbw_hparam_info {
    const char *name;
    const char *display_name; /**< NULL: the name */
    const char *description;  /**< NULL: none */
    tbw_hparam_type type;
    /* Domain, optional: discrete values of the hparam's type (n_values of the
       array for that type), or an interval for TBW_HPARAM_FLOAT. */
    size_t n_values;
    const double *numbers;
    const char *const *strings;
    const bool *bools;
    bool has_interval;
    double min_value, max_value;
} tbw_hparam_info;

typedef enum tbw_dataset_type {
    TBW_DATASET_UNKNOWN = 0,
    TBW_DATASET_TRAINING = 1,
    TBW_DATASET_VALIDATION = 2
} tbw_dataset_type;

/** A metric: the scalar tag (in the sub-run `group` of each session, "" or NULL for the session itself). */
typedef struct tbw_metric_info {
    const char *tag;
    const char *group;
    const char *display_name;
    const char *description;
    tbw_dataset_type dataset_type;
} tbw_metric_info;

/** One hyperparameter's value in a session. */
typedef struct tbw_hparam_value {
    const char *name;
    tbw_hparam_type type;
    double number;
    const char *string;
    bool boolean;
} tbw_hparam_value;

typedef enum tbw_session_status {
    TBW_SESSION_UNKNOWN = 0,
    TBW_SESSION_SUCCESS = 1,
    TBW_SESSION_FAILURE = 2,
    TBW_SESSION_RUNNING = 3
} tbw_session_status;

/**
 * Writes the experiment: hparams with their types and domains, and metrics.
 * time_created: seconds since the epoch (0: now, by the writer's clock). Names must be unique.
 */
TBW_API int tbw_hparams_experiment(tbw_writer *w, const tbw_hparam_info *hparams, size_t n_hparams,
                                   const tbw_metric_info *metrics, size_t n_metrics, const char *description,
                                   double time_created);

/**
 * Starts a session in w's run: its hparam values (each of a known type;
 * NaN numbers are refused), an optional group name (NULL: one group per
 * session) and the start time (0: now, by the writer's clock).
 */
TBW_API int tbw_hparams_session_start(tbw_writer *w, const tbw_hparam_value *values, size_t n,
                                      const char *group_name, double start_time);

/** Ends the session in w's run with a status and end time (0: now, by the writer's clock). */
TBW_API int tbw_hparams_session_end(tbw_writer *w, tbw_session_status status, double end_time);

#ifdef __cplusplus
}
#endif
#endif
