/*
 * filters: the lecture's image-processing part. Real dataset images are
 * convolved, through the CNN engine's conv layer, with hand-made kernels: a
 * Laplacian (edges), the lecture's 7x7 curve detector, a bank of Gabor
 * filters at 4 orientations and 2 scales, and the Laplacian again with
 * dilation 2 (taps two pixels apart: a larger receptive field). Inputs,
 * kernels and feature maps are logged as image summaries.
 *
 *   filters [--logdir DIR] [--data DIR] [--images N]
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tbw/cnn.h>
#include <tbw/tbw.h>

#include "cli.h"
#include "train.h"

#define PI 3.14159265358979f

typedef struct {
    const char *name;
    int k, n, dilation; /* kernel size, number of kernels, dilation */
    float *w;           /* n kernels of k x k */
} bank;

static void laplacian(float *w)
{
    static const float l[9] = {0, 1, 0, 1, -4, 1, 0, 1, 0};
    memcpy(w, l, sizeof l);
}

/* The lecture's curve detector: a stroke of 30s curving out to the right. */
static void curve(float *w)
{
    static const float c[49] = {0, 0, 0, 0, 0, 30, 0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0,
                                0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0,
                                0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 49; i++)
        w[i] = c[i] / 255.0f; /* the images are scaled to [0, 1] */
}

/* Real Gabor kernels: a Gaussian envelope times a cosine wave along theta. */
static void gabor(float *w, int k, float theta, float wavelength, float sigma)
{
    int h = k / 2;
    float sum = 0;
    for (int y = -h; y <= h; y++)
        for (int x = -h; x <= h; x++) {
            float xr = (float)x * cosf(theta) + (float)y * sinf(theta);
            float yr = -(float)x * sinf(theta) + (float)y * cosf(theta);
            float v = expf(-(xr * xr + yr * yr) / (2 * sigma * sigma)) * cosf(2 * PI * xr / wavelength);
            w[(y + h) * k + (x + h)] = v;
            sum += v;
        }
    for (int i = 0; i < k * k; i++) /* zero mean: flat regions give no response */
        w[i] -= sum / (float)(k * k);
}

/* Convolves n_img rows x cols images with the bank and logs its kernels and feature maps. Prints
   what failed. */
static int run_bank(tbw_writer *w, const bank *b, const float *x, size_t n_img, int rows, int cols, int step)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    cnn_model *m;
    char why[256];
    if (cnn_model_create(&m, 1, rows, cols, &mo, why, sizeof why)) {
        fprintf(stderr, "error: %s\n", why);
        return 1;
    }
    cnn_conv2d_opts co = CNN_CONV2D_OPTS_INIT;
    co.filters = b->n;
    co.kernel_h = co.kernel_w = b->k;
    co.dilation_h = co.dilation_w = b->dilation;
    co.use_bias = false;
    int rc = 1;
    size_t idx;
    cnn_layer_info L;
    if (cnn_model_add_conv2d(m, "conv", &co) || cnn_model_build(m, n_img) || cnn_model_find_layer(m, "conv", &idx) ||
        cnn_model_layer_info(m, idx, &L)) {
        fprintf(stderr, "error: %s\n", cnn_model_errmsg(m));
        goto done;
    }
    memcpy(L.params[0].data, b->w, (size_t)b->n * (size_t)b->k * (size_t)b->k * sizeof(float));
    if (cnn_model_forward(m, x, n_img, false) || cnn_model_layer_info(m, idx, &L)) {
        fprintf(stderr, "error: %s\n", cnn_model_errmsg(m));
        goto done;
    }
    char tag[128];
    uint8_t *g;
    size_t gh, gw, gc;
    /* The kernels, each scaled to its own range and enlarged. */
    tbw_image_batch kb = {b->w, TBW_PIXEL_F32, TBW_LAYOUT_CHW, (size_t)b->n, (size_t)b->k, (size_t)b->k, 1};
    int grc = tbw_image_grid(&kb, (size_t)b->n, 1, 0, true, &g, &gh, &gw, &gc);
    if (grc) {
        fprintf(stderr, "error: %s kernels: %s\n", b->name, tbw_strerror(grc));
        goto done;
    }
    size_t sc = 84 / (size_t)b->k, H = gh * sc, W = gw * sc;
    uint8_t *big = malloc(H * W);
    if (!big) {
        fprintf(stderr, "error: out of memory\n");
        tbw_free(g);
        goto done;
    }
    for (size_t yy = 0; yy < H; yy++)
        for (size_t xx = 0; xx < W; xx++)
            big[yy * W + xx] = g[(yy / sc) * gw + xx / sc];
    tbw_free(g);
    snprintf(tag, sizeof tag, "%s/kernels", b->name);
    tbw_image_batch bb = {big, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, H, W, 1};
    int wrc = tbw_images(w, tag, step, &bb, 1);
    free(big);
    if (wrc) {
        fprintf(stderr, "error: %s\n", tbw_writer_errmsg(w));
        goto done;
    }
    /* Feature maps: one row per image, one column per kernel, each map normalized. */
    tbw_image_batch fb = {L.output, TBW_PIXEL_F32, TBW_LAYOUT_CHW, n_img * (size_t)b->n, (size_t)rows, (size_t)cols,
                          1};
    grc = tbw_image_grid(&fb, (size_t)b->n, 2, 255, true, &g, &gh, &gw, &gc);
    if (grc) {
        fprintf(stderr, "error: %s feature maps of %dx%d images: %s\n", b->name, rows, cols, tbw_strerror(grc));
        goto done;
    }
    snprintf(tag, sizeof tag, "%s/feature_maps", b->name);
    tbw_image_batch mb = {g, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, gh, gw, gc};
    wrc = tbw_images(w, tag, step, &mb, 1);
    tbw_free(g);
    if (wrc) {
        fprintf(stderr, "error: %s\n", tbw_writer_errmsg(w));
        goto done;
    }
    rc = 0;
done:
    cnn_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    const char *logdir = "log/filters", *data = TRAIN_DEFAULT_DATA;
    long n_img = 6;
    static const struct option longopts[] = {{"logdir", required_argument, NULL, 'l'},
                                             {"data", required_argument, NULL, 'd'},
                                             {"images", required_argument, NULL, 'n'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': logdir = optarg; break;
        case 'd': data = optarg; break;
        case 'n': if (!cli_long("--images", optarg, 1, 64, &n_img)) return 2; break;
        case 'h':
            printf("usage: filters [--logdir DIR] [--data DIR] [--images N]\n"
                   "Convolves N test images (default 6) with a Laplacian, the lecture's 7x7 curve detector,\n"
                   "8 Gabor filters (4 orientations x 2 scales) and a dilated Laplacian through the CNN\n"
                   "engine's conv layer, and logs inputs, kernels and feature maps to DIR (default log/filters).\n");
            return 0;
        default: return 2;
        }
    }
    char img[4096], lab[4096];
    snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte.gz", data);
    snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte.gz", data);
    struct stat st;
    if (stat(img, &st) != 0) {
        snprintf(img, sizeof img, "%s/t10k-images-idx3-ubyte", data);
        snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte", data);
    }
    cnn_dataset *ds = NULL;
    char msg[512];
    if (cnn_dataset_create(&ds, msg, sizeof msg) || cnn_dataset_load_idx(ds, img, lab)) {
        fprintf(stderr, "error: %s\n  (Fashion-MNIST: sudo apt-get install dataset-fashion-mnist, or --data DIR)\n",
                ds ? cnn_dataset_errmsg(ds) : msg);
        cnn_dataset_free(ds);
        return 1;
    }
    int rows, cols;
    cnn_dataset_dims(ds, &rows, &cols);
    if ((size_t)n_img > cnn_dataset_count(ds))
        n_img = (long)cnn_dataset_count(ds);
    float *x = malloc((size_t)n_img * (size_t)rows * (size_t)cols * sizeof *x);
    if (!x || cnn_dataset_batch(ds, 0, (size_t)n_img, x, NULL)) {
        fprintf(stderr, "error: %s\n", x ? cnn_dataset_errmsg(ds) : "out of memory for the images");
        free(x);
        cnn_dataset_free(ds);
        return 1;
    }
    tbw_writer *w;
    if (tbw_writer_open(&w, logdir, NULL, msg, sizeof msg)) {
        fprintf(stderr, "error: %s\n", msg);
        free(x);
        cnn_dataset_free(ds);
        return 1;
    }
    tbw_image_batch in = {x, TBW_PIXEL_F32, TBW_LAYOUT_CHW, (size_t)n_img, (size_t)rows, (size_t)cols, 1};
    int rc = tbw_images(w, "input", 0, &in, (size_t)n_img);
    if (rc)
        fprintf(stderr, "error: %s\n", tbw_writer_errmsg(w));
    float lap[9], cur[49], gab[8 * 81];
    laplacian(lap);
    curve(cur);
    for (int s = 0; s < 2; s++)
        for (int o = 0; o < 4; o++)
            gabor(gab + (s * 4 + o) * 81, 9, (float)o * PI / 4, s ? 7.0f : 3.5f, s ? 2.5f : 1.4f);
    bank banks[4] = {{"laplacian", 3, 1, 1, lap},
                     {"curve_detector", 7, 1, 1, cur},
                     {"gabor", 9, 8, 1, gab},
                     {"laplacian_dilated", 3, 1, 2, lap}};
    for (int i = 0; !rc && i < 4; i++)
        rc = run_bank(w, &banks[i], x, (size_t)n_img, rows, cols, 0);
    int crc = tbw_writer_close(w);
    if (crc)
        fprintf(stderr, "error: %s\n", tbw_strerror(crc));
    free(x);
    cnn_dataset_free(ds);
    if (rc || crc)
        return 1;
    printf("filters: wrote %s — view with: tensorboard --logdir %s\n", logdir, logdir);
    return 0;
}
