/*
 * tbw CNN engine: a small sequential convolutional network trainer.
 *
 * Tensors are float32 in NCHW order. A model is created for one input shape,
 * layers are appended under name scopes ("conv1", "pool1", "fc1", ...), and
 * cnn_model_build() plans every buffer for a maximum batch size: weights,
 * gradients, optimizer state, activations and convolution scratch. After that the
 * training step allocates nothing.
 *
 * Errors: every call that can fail returns 0 or a negative TBW_E* code from
 * <tbw/common.h>; the handle keeps a one-line message (cnn_model_errmsg(),
 * cnn_dataset_errmsg()). The engine never prints, exits or aborts.
 *
 * Threads: a model or dataset handle must be used by one thread at a time.
 * Distinct handles are independent (no global state). A model owns a small
 * pool of worker threads (cnn_model_opts.threads) for its own loops; the
 * OpenBLAS thread count is left to the application.
 */
#ifndef TBW_CNN_H
#define TBW_CNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <tbw/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque sequential model. */
typedef struct cnn_model cnn_model;
/** Opaque labelled image set read from IDX files. */
typedef struct cnn_dataset cnn_dataset;

/* The option and info structs below hold these enums in fields of the enum types; every enum here is
 * int-sized (no -fshort-enums), so the structs' layout is the one they had with plain int fields. */

/** Weight initialisers. Biases always start at cnn_*_opts.bias_init. */
typedef enum cnn_init {
    CNN_INIT_HE = 0,     /**< normal, stddev sqrt(2 / fan_in) (default; for ReLU nets) */
    CNN_INIT_GLOROT = 1, /**< uniform in +-sqrt(6 / (fan_in + fan_out)) */
    CNN_INIT_ZEROS = 2   /**< all zero (stalls a ReLU net; see docs/engine.md) */
} cnn_init;

/** Optimizers. */
typedef enum cnn_optimizer {
    CNN_OPT_ADAM = 0, /**< Adam as in TensorFlow (bias correction folded into the rate) */
    CNN_OPT_SGD = 1   /**< SGD with momentum: v = mu*v - lr*g; w += v */
} cnn_optimizer;

/** Spatial padding modes (TensorFlow semantics for SAME and VALID). */
typedef enum cnn_padding {
    CNN_PAD_VALID = 0,   /**< no padding */
    CNN_PAD_SAME = 1,    /**< out = ceil(in / stride); extra pad goes after */
    CNN_PAD_EXPLICIT = 2 /**< pad_top/bottom/left/right as given */
} cnn_padding;

/** How conv layers compute. */
typedef enum cnn_conv_algo {
    CNN_CONV_AUTO = 0,    /**< Winograd for 5x5 stride-1 layers with at least 8 input and output
                               channels (on an AVX-512F or AVX2 CPU, cnn_kernel_isa()); on an AVX-512F
                               CPU, direct kernels for other stride-1 layers with a reduction of 64
                               or more; else im2col */
    CNN_CONV_IM2COL = 1,  /**< always im2col; its products on the engine's kernel or on sgemm
                               (cnn_layer_info.matmul says which) */
    CNN_CONV_DIRECT = 2,  /**< direct kernels; cnn_model_build() fails with TBW_EINVAL where
                               a conv layer cannot use them */
    CNN_CONV_WINOGRAD = 3 /**< Winograd F(2x2, 5x5) or F(4x4, 5x5); cnn_model_build() fails with
                               TBW_EINVAL where a conv layer cannot use it (not 5x5, strided, dilated,
                               neither AVX-512F nor AVX2) */
} cnn_conv_algo;

/** Layer kinds. */
typedef enum cnn_layer_kind {
    CNN_LAYER_CONV2D, CNN_LAYER_RELU, CNN_LAYER_SIGMOID, CNN_LAYER_TANH, CNN_LAYER_MAXPOOL,
    CNN_LAYER_AVGPOOL, CNN_LAYER_DENSE, CNN_LAYER_FLATTEN, CNN_LAYER_DROPOUT
} cnn_layer_kind;

/** Model options. */
typedef struct cnn_model_opts {
    uint64_t seed;            /**< seeds initialisation and dropout */
    cnn_optimizer optimizer;  /**< CNN_OPT_ADAM or CNN_OPT_SGD */
    float learning_rate;      /**< step size */
    float momentum;           /**< SGD momentum */
    float beta1;              /**< Adam first-moment decay */
    float beta2;              /**< Adam second-moment decay */
    float epsilon;            /**< Adam epsilon, added to sqrt(v) */
    int threads;              /**< engine worker threads incl. the caller; 0 = all online cores */
    bool input_grad;          /**< also compute d loss / d input (cnn_model_input_grad) */
    cnn_conv_algo conv_algo;  /**< how conv layers compute */
} cnn_model_opts;
/** Defaults: seed 1, Adam lr 1e-4, beta1 0.9, beta2 0.999, eps 1e-8, all cores, CNN_CONV_AUTO. */
#define CNN_MODEL_OPTS_INIT { 1u, CNN_OPT_ADAM, 1e-4f, 0.9f, 0.9f, 0.999f, 1e-8f, 0, false, CNN_CONV_AUTO }

/** 2-D convolution options. Dilation uses TensorFlow's factor: 1 is a dense
 *  filter, 2 leaves one gap between taps (the lecture's "dilation 1"). */
typedef struct cnn_conv2d_opts {
    int filters;                 /**< output channels */
    int kernel_h, kernel_w;      /**< filter size */
    int stride_h, stride_w;      /**< strides */
    cnn_padding padding;         /**< VALID, SAME or EXPLICIT */
    int pad_top, pad_bottom, pad_left, pad_right; /**< CNN_PAD_EXPLICIT only */
    int dilation_h, dilation_w;  /**< dilation factors, >= 1 */
    bool use_bias;               /**< add a per-filter bias */
    cnn_init init;               /**< initialiser of the weights */
    float bias_init;             /**< initial bias value */
} cnn_conv2d_opts;
/** 32 filters, 5x5, stride 1, SAME, bias, He init. */
#define CNN_CONV2D_OPTS_INIT { 32, 5, 5, 1, 1, CNN_PAD_SAME, 0, 0, 0, 0, 1, 1, true, CNN_INIT_HE, 0.0f }

/** Pooling options (max and average). Padded cells never win a max and are
 *  not counted in an average (as in TensorFlow). */
typedef struct cnn_pool_opts {
    int size_h, size_w;     /**< window */
    int stride_h, stride_w; /**< strides */
    cnn_padding padding;    /**< VALID, SAME or EXPLICIT */
    int pad_top, pad_bottom, pad_left, pad_right; /**< CNN_PAD_EXPLICIT only, each < window */
} cnn_pool_opts;
/** 2x2 window, stride 2, SAME. */
#define CNN_POOL_OPTS_INIT { 2, 2, 2, 2, CNN_PAD_SAME, 0, 0, 0, 0 }

/** Fully connected layer options; the input is flattened per sample (C*H*W). */
typedef struct cnn_dense_opts {
    int units;       /**< outputs */
    bool use_bias;   /**< add a bias */
    cnn_init init;   /**< initialiser of the weights */
    float bias_init; /**< initial bias value */
} cnn_dense_opts;
/** 10 units, bias, He init. */
#define CNN_DENSE_OPTS_INIT { 10, true, CNN_INIT_HE, 0.0f }

/** A view of one tensor the model owns (valid until cnn_model_free). */
typedef struct cnn_tensor {
    const char *name; /**< e.g. "conv1/weights" */
    float *data;      /**< row-major data */
    int rank;         /**< number of dims used */
    int dims[4];      /**< conv weights [out_c, in_c, kh, kw]; dense [in, out]; bias [n] */
    size_t count;     /**< product of dims */
} cnn_tensor;

/** Everything a graph exporter or a summary needs to know about one layer. */
typedef struct cnn_layer_info {
    const char *name;           /**< scope name given when added */
    const char *op;             /**< TensorFlow-style op: Conv2D, Relu, Sigmoid, Tanh, MaxPool,
                                     AvgPool, MatMul, Reshape, Dropout */
    cnn_layer_kind kind;        /**< what the layer computes */
    int in_c, in_h, in_w;       /**< per-sample input shape */
    int out_c, out_h, out_w;    /**< per-sample output shape (dense/flatten: [units,1,1]) */
    const float *output;        /**< activations of the last forward, NCHW [output_n, out_c, out_h, out_w] */
    size_t output_n;            /**< samples in the last forward (0 before any) */
    int nparams;                /**< 0, 1 (weights) or 2 (weights, biases) */
    cnn_tensor params[2];       /**< weights, biases (writable) */
    cnn_tensor grads[2];        /**< their gradients from the last backward */
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w; /**< conv/pool */
    cnn_padding padding;        /**< padding mode as configured */
    int pad_top, pad_bottom, pad_left, pad_right; /**< padding actually applied */
    size_t col_rows, col_cols;  /**< conv im2col matrix per image: C*kh*kw x out_h*out_w */
    const char *conv_algo;      /**< conv: "winograd", "direct" or "im2col" after cnn_model_build(); else NULL */
    float rate;                 /**< dropout rate */
    const char *matmul;         /**< dense and conv, after cnn_model_build(): "engine" where the engine's
                                     kernels multiply (cnn_kernel_isa() not NULL; dense: units a multiple
                                     of 16; im2col: output planes a multiple of 16 pixels; direct and
                                     Winograd always), "sgemm" where OpenBLAS does; else NULL */
} cnn_layer_info;

/** Static English text for a status code (the engine's own copy of tbw_strerror). */
TBW_API const char *cnn_strerror(int status);
/** Whether the direct convolution kernels run: an x86-64 CPU with AVX-512F, VL and BW, and
    TBW_NO_AVX512 unset, "" or "0" in the environment. */
TBW_API bool cnn_conv_direct_available(void);
/** The instruction set the engine's own kernels (its GEMM and the Winograd convolution) run on when a
    model is built now: "avx512" (AVX-512F, VL and BW), "avx2" (AVX2 and FMA), or NULL where neither
    runs and every product goes to OpenBLAS. Setting TBW_NO_AVX512 or TBW_NO_AVX2 in the environment to
    anything but "" or "0" takes that set away, to see what a CPU without it gets. */
TBW_API const char *cnn_kernel_isa(void);

/** Output size of one spatial dimension, for checking shapes before building.
 *  @param in input size; @param k kernel; @param stride >=1; @param dilation >=1;
 *  @param padding cnn_padding; @param pad_lo, pad_hi explicit pads (CNN_PAD_EXPLICIT).
 *  @param out receives the output size; @param pad_before receives the leading pad (may be NULL).
 *  @return 0, TBW_EINVAL for bad values, TBW_ERANGE if the window does not fit. */
TBW_API int cnn_conv_out_size(int in, int k, int stride, int dilation, int padding, int pad_lo, int pad_hi,
                              int *out, int *pad_before);

/** Creates an empty model for inputs of shape [in_c, in_h, in_w].
 *  @param out receives the model (free with cnn_model_free); @param opts NULL = defaults.
 *  @param errmsg, errmsg_len optional buffer (NULL, 0 for none) that receives a one-line message
 *  naming the condition that failed, since there is no model to keep it.
 *  @return 0, TBW_EINVAL (bad shape or options; *out is NULL), TBW_ERANGE (shape too large), TBW_ENOMEM. */
TBW_API int cnn_model_create(cnn_model **out, int in_c, int in_h, int in_w, const cnn_model_opts *opts,
                             char *errmsg, size_t errmsg_len);

/** Frees the model, its buffers and its threads. NULL is a no-op. */
TBW_API void cnn_model_free(cnn_model *m);

/** One-line message about the last failure on this model ("" if none). */
TBW_API const char *cnn_model_errmsg(const cnn_model *m);

/** Appends a convolution named @p name (unique, [A-Za-z0-9_.-], < 64 chars). NULL opts = defaults.
 *  All add functions: 0, TBW_EINVAL (bad name/options, duplicate, already built), TBW_ENOMEM,
 *  TBW_ERANGE (the shape does not fit). */
TBW_API int cnn_model_add_conv2d(cnn_model *m, const char *name, const cnn_conv2d_opts *opts);
/** Appends a ReLU. */
TBW_API int cnn_model_add_relu(cnn_model *m, const char *name);
/** Appends a logistic sigmoid. */
TBW_API int cnn_model_add_sigmoid(cnn_model *m, const char *name);
/** Appends a tanh. */
TBW_API int cnn_model_add_tanh(cnn_model *m, const char *name);
/** Appends a max pooling layer (argmax kept for backward). NULL opts = 2x2 s2 SAME. */
TBW_API int cnn_model_add_maxpool(cnn_model *m, const char *name, const cnn_pool_opts *opts);
/** Appends an average pooling layer. NULL opts = 2x2 s2 SAME. */
TBW_API int cnn_model_add_avgpool(cnn_model *m, const char *name, const cnn_pool_opts *opts);
/** Appends a fully connected layer (y = x W + b, W is [in, units]). */
TBW_API int cnn_model_add_dense(cnn_model *m, const char *name, const cnn_dense_opts *opts);
/** Appends a flatten (reshape to [N, C*H*W]). */
TBW_API int cnn_model_add_flatten(cnn_model *m, const char *name);
/** Appends inverted dropout with drop probability @p rate in [0, 1); identity when not training. */
TBW_API int cnn_model_add_dropout(cnn_model *m, const char *name, float rate);

/** Plans all memory for batches of up to @p batch samples, starts the worker threads and
 *  initialises the weights from the seed. The last layer's outputs are the logits.
 *  @return 0, TBW_EINVAL (batch 0, no layers, already built), TBW_ERANGE (too large), TBW_ENOMEM. */
TBW_API int cnn_model_build(cnn_model *m, size_t batch);

/** Runs the network on @p n samples (1 <= n <= batch) of x [n, in_c, in_h, in_w] (copied).
 *  @param training enables dropout. @return 0 or TBW_EINVAL. */
TBW_API int cnn_model_forward(cnn_model *m, const float *x, size_t n, bool training);

/** Softmax cross-entropy of the last forward against @p labels (0..classes-1); stores the
 *  gradient of the mean loss for cnn_model_backward. loss and acc may be NULL.
 *  @return 0 or TBW_EINVAL (no forward, n differs, label out of range). */
TBW_API int cnn_model_loss(cnn_model *m, const int32_t *labels, size_t n, double *loss, double *acc);

/** Back-propagates the gradient from cnn_model_loss into every parameter gradient
 *  (overwritten, not accumulated). @return 0 or TBW_EINVAL (no loss computed). */
TBW_API int cnn_model_backward(cnn_model *m);

/** Applies one optimizer step with the current gradients. @return 0 or TBW_EINVAL. */
TBW_API int cnn_model_step(cnn_model *m);

/** forward(training) + loss + backward + step. No allocation. loss/acc may be NULL. */
TBW_API int cnn_model_train_step(cnn_model *m, const float *x, const int32_t *labels, size_t n,
                                 double *loss, double *acc);

/** Predicted classes (argmax of logits) for @p n <= batch samples into @p classes[n]. */
TBW_API int cnn_model_predict(cnn_model *m, const float *x, size_t n, int32_t *classes);

/** Mean loss and accuracy over @p count samples, run in batches in eval mode. */
TBW_API int cnn_model_evaluate(cnn_model *m, const float *x, const int32_t *labels, size_t count,
                               double *loss, double *acc);

/** Mean loss and accuracy over a whole dataset in its stored order (pixels scaled to [0,1]).
 *  The dataset's image shape must match the model input. */
TBW_API int cnn_model_evaluate_dataset(cnn_model *m, const cnn_dataset *ds, double *loss, double *acc);

/** Logits of the last forward, [output_n, classes]; NULL before any forward. */
TBW_API const float *cnn_model_output(const cnn_model *m);
/** Number of classes (size of the last layer's output); 0 before build. */
TBW_API int cnn_model_classes(const cnn_model *m);
/** d loss / d input of the last backward when opts.input_grad was set, else NULL. */
TBW_API const float *cnn_model_input_grad(const cnn_model *m);
/** Optimizer steps taken so far. */
TBW_API int64_t cnn_model_step_count(const cnn_model *m);
/** Sets the learning rate used by later steps. @return 0 or TBW_EINVAL (not finite or <= 0). */
TBW_API int cnn_model_set_learning_rate(cnn_model *m, float lr);
/** Total number of trainable scalars (0 before build). */
TBW_API size_t cnn_model_param_count(const cnn_model *m);

/** Every trainable parameter as one contiguous array of cnn_model_param_count() floats, layer by
 *  layer in the order of cnn_model_layer_info's views. Writing through it changes the model, so
 *  a data-parallel job can broadcast rank 0's weights into every rank. NULL (and *count 0)
 *  before build. @p count may be NULL. */
TBW_API float *cnn_model_params_flat(cnn_model *m, size_t *count);
/** The gradients of cnn_model_params_flat, same layout, as the last backward left them; a
 *  data-parallel job sums them across ranks in place before cnn_model_step. */
TBW_API float *cnn_model_grads_flat(cnn_model *m, size_t *count);
/** Makes later losses start the backward pass from s times the gradient of the mean loss
 *  (default 1). Back-propagation is linear, so every gradient scales by s at no cost: with
 *  s = n_r / B on a rank holding n_r of a global batch of B, a sum of the ranks' gradients is
 *  exactly the gradient of the global-batch mean, uneven splits included. The reported loss is
 *  not scaled. @return 0 or TBW_EINVAL (not finite or <= 0). */
TBW_API int cnn_model_set_loss_grad_scale(cnn_model *m, float s);

/** Number of layers added. */
TBW_API size_t cnn_model_layer_count(const cnn_model *m);
/** Describes layer @p index (0-based) into @p info; parameter views need a built model.
 *  @return 0 or TBW_EINVAL (index out of range). */
TBW_API int cnn_model_layer_info(const cnn_model *m, size_t index, cnn_layer_info *info);
/** Index of the layer called @p name. @return 0 or TBW_ENOTFOUND. */
TBW_API int cnn_model_find_layer(const cnn_model *m, const char *name, size_t *index);

/** Writes every weight, the optimizer state, the step and the RNG state to @p path
 *  atomically (temporary file, fsync, rename). Format in docs/engine.md. A model that
 *  cnn_model_load would refuse (a weight or slot not finite, as after diverged training) is
 *  refused with TBW_ERANGE before anything is written, so the previous file stays.
 *  @return 0, TBW_EINVAL (not built), TBW_ERANGE, TBW_ENOTFOUND (the directory is missing), TBW_EIO, TBW_ENOSPC. */
TBW_API int cnn_model_save(cnn_model *m, const char *path);

/** Restores what cnn_model_save wrote. The model must be built with the same layers.
 *  Nothing changes unless the whole file checks out.
 *  Every field is checked for its meaning as well as its CRC: the step must be 0..2^53, the
 *  generator's state nonzero, every weight and optimizer slot finite, Adam's second moments >= 0.
 *  The header is outside the CRC: an optimizer that does not exist, or a tensor count the payload
 *  does not hold, is damage (TBW_ECORRUPT), not another model.
 *  @return 0, TBW_ENOTFOUND, TBW_EIO (also a directory, a FIFO or a socket, refused without waiting),
 *  TBW_ECORRUPT (foreign file, bad CRC, a field out of range), TBW_ETRUNCATED,
 *  TBW_EMISMATCH (other names, shapes or optimizer). */
TBW_API int cnn_model_load(cnn_model *m, const char *path);

/** Creates an empty dataset. errmsg/errmsg_len: optional buffer (NULL, 0 for none) for a one-line
 *  message on failure. @return 0, TBW_EINVAL (out is NULL) or TBW_ENOMEM. */
TBW_API int cnn_dataset_create(cnn_dataset **out, char *errmsg, size_t errmsg_len);
/** Frees a dataset. NULL is a no-op. */
TBW_API void cnn_dataset_free(cnn_dataset *ds);
/** One-line message about the last failure on this dataset ("" if none). */
TBW_API const char *cnn_dataset_errmsg(const cnn_dataset *ds);

/** Loads an IDX image file (ubyte, rank 3 [n, rows, cols]) and an IDX label file (ubyte, rank 1 [n]),
 *  gzip-compressed or plain. Validates magic, type, rank, dims (overflow), sizes and that labels
 *  are < 256 classes; the previous content is replaced only on success. A gzip stream that ends
 *  early is TBW_ETRUNCATED, a damaged one (bad block, CRC or length) TBW_ECORRUPT; a directory,
 *  FIFO or socket is TBW_EIO, refused without waiting.
 *  @return 0, TBW_ENOTFOUND, TBW_EIO, TBW_ECORRUPT, TBW_ETRUNCATED, TBW_ERANGE, TBW_EMISMATCH, TBW_ENOMEM. */
TBW_API int cnn_dataset_load_idx(cnn_dataset *ds, const char *images_path, const char *labels_path);

/** Number of samples. */
TBW_API size_t cnn_dataset_count(const cnn_dataset *ds);
/** Image rows and columns (0 when empty). */
TBW_API void cnn_dataset_dims(const cnn_dataset *ds, int *rows, int *cols);
/** Raw pixels [count, rows, cols] (owned by the dataset). */
TBW_API const uint8_t *cnn_dataset_images(const cnn_dataset *ds);
/** Raw labels [count] (owned by the dataset). */
TBW_API const uint8_t *cnn_dataset_labels(const cnn_dataset *ds);

/** Sets the sample order to a permutation drawn from (seed, epoch); the same pair always gives
 *  the same order. @return 0 or TBW_EINVAL (empty). */
TBW_API int cnn_dataset_shuffle(cnn_dataset *ds, uint64_t seed, uint64_t epoch);

/** Copies samples first..first+n-1 in the current order into x [n, 1, rows, cols] scaled to
 *  [0, 1] and labels [n] (either may be NULL). @return 0 or TBW_EINVAL (out of range). */
TBW_API int cnn_dataset_batch(const cnn_dataset *ds, size_t first, size_t n, float *x, int32_t *labels);

#ifdef __cplusplus
}
#endif
#endif
