/* Training throughput of the lecture's Fashion-MNIST CNN, against the sgemm peak of the same machine.
 * Prints key=value lines (parsed by cnn_vs_tf.py) followed by a short human summary. */
#include <tbw/cnn.h>

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Best of several runs of an n^3 sgemm, in GFLOP/s. */
static double sgemm_peak(int n, int threads)
{
    openblas_set_num_threads(threads);
    size_t sz = (size_t)n * n;
    float *a = malloc(sz * sizeof *a), *b = malloc(sz * sizeof *b), *c = malloc(sz * sizeof *c);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return 0;
    }
    for (size_t i = 0; i < sz; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = now() - t;
        double g = 2.0 * n * (double)n * n / t * 1e-9;
        if (r > 0 && g > best)
            best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* conv2's forward GEMM as one batch GEMM versus one GEMM per image (the layout choice in conv.c). */
static void gemm_layout(int batch, double *one, double *per)
{
    const int M = 64, K = 800, P = 196;
    float *w = calloc((size_t)M * K, sizeof(float)), *x = calloc((size_t)K * P * batch, sizeof(float)),
          *y = calloc((size_t)M * P * batch, sizeof(float));
    *one = *per = 0;
    if (w && x && y) {
        double best1 = 1e9, best2 = 1e9;
        for (int r = 0; r < 5; r++) {
            double t = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, P * batch, K, 1.0f, w, K, x, P * batch, 0.0f, y,
                        P * batch);
            t = now() - t;
            best1 = t < best1 ? t : best1;
            t = now();
            for (int i = 0; i < batch; i++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, P, K, 1.0f, w, K, x + (size_t)i * K * P, P,
                            0.0f, y + (size_t)i * M * P, P);
            t = now() - t;
            best2 = t < best2 ? t : best2;
        }
        double fl = 2.0 * M * K * (double)P * batch;
        *one = fl / best1 * 1e-9;
        *per = fl / best2 * 1e-9;
    }
    free(w);
    free(x);
    free(y);
}

/* The lecture's conv2 alone (32x14x14 -> 64 filters, 5x5 SAME, input gradient on) on one convolution path:
 * GFLOP/s of forward + weight gradient + input gradient over a batch, median of 5 timings of 5 steps. */
static double conv2_path(int algo, int batch, int threads)
{
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = threads;
    mo.input_grad = true;
    mo.conv_algo = algo;
    cnn_model *m = NULL;
    cnn_conv2d_opts c = CNN_CONV2D_OPTS_INIT;
    c.filters = 64;
    cnn_dense_opts d = CNN_DENSE_OPTS_INIT;
    d.units = 2;
    float *x = malloc(sizeof(float) * (size_t)batch * 32 * 14 * 14);
    int32_t *y = calloc((size_t)batch, sizeof(int32_t));
    double gf = 0;
    if (x && y && !cnn_model_create(&m, 32, 14, 14, &mo, NULL, 0) && !cnn_model_add_conv2d(m, "conv2", &c) &&
        !cnn_model_add_flatten(m, "flatten") && !cnn_model_add_dense(m, "fc", &d) &&
        !cnn_model_build(m, (size_t)batch)) {
        for (size_t i = 0; i < (size_t)batch * 32 * 14 * 14; i++)
            x[i] = (float)(i % 17) * 0.05f;
        double t[5];
        for (int r = -1; r < 5; r++) {
            double t0 = now();
            for (int s = 0; s < 5; s++) {
                double loss;
                cnn_model_forward(m, x, (size_t)batch, true);
                cnn_model_loss(m, y, (size_t)batch, &loss, NULL);
                cnn_model_backward(m);
            }
            if (r >= 0)
                t[r] = now() - t0;
        }
        qsort(t, 5, sizeof t[0], cmp_double);
        gf = 3.0 * 2.0 * 64 * 800 * 196 * batch * 5 / t[2] * 1e-9;
    }
    cnn_model_free(m);
    free(x);
    free(y);
    return gf;
}

/* Exact multiply-add FLOPs of one training image: forward, weight gradient and (except for the first
 * layer) input gradient GEMMs of every conv and dense layer. */
static double train_flops(cnn_model *m)
{
    double total = 0;
    for (size_t i = 0; i < cnn_model_layer_count(m); i++) {
        cnn_layer_info li;
        cnn_model_layer_info(m, i, &li);
        double f = 0;
        if (strcmp(li.op, "Conv2D") == 0)
            f = 2.0 * (double)li.col_rows * (double)li.col_cols * li.out_c;
        else if (strcmp(li.op, "MatMul") == 0)
            f = 2.0 * (double)li.params[0].dims[0] * li.params[0].dims[1];
        total += f * (i == 0 ? 2 : 3);
    }
    return total;
}

int main(int argc, char **argv)
{
    int engine_threads = -1, blas_threads = 1, threads = 2, batch = 100, windows = 7, steps = 20, warmup = 5;
    int peaks = 1, conv_algo = CNN_CONV_AUTO;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--windows") && i + 1 < argc)
            windows = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--blas-threads") && i + 1 < argc)
            blas_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--engine-threads") && i + 1 < argc)
            engine_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--conv") && i + 1 < argc) {
            const char *a = argv[++i];
            conv_algo = !strcmp(a, "im2col")     ? CNN_CONV_IM2COL
                      : !strcmp(a, "direct")   ? CNN_CONV_DIRECT
                      : !strcmp(a, "winograd") ? CNN_CONV_WINOGRAD
                      : !strcmp(a, "auto")     ? CNN_CONV_AUTO
                                               : -1;
        } else if (!strcmp(argv[i], "--no-peak"))
            peaks = 0; /* training only: short runs to alternate two builds quickly */
        else {
            fprintf(stderr, "usage: %s [--threads N] [--engine-threads N] [--blas-threads N] [--batch N] [--windows N] [--steps N] [--data DIR] [--conv auto|im2col|direct|winograd] [--no-peak]\n", argv[0]);
            return 2;
        }
    }
    if (conv_algo < 0 || threads < 1 || blas_threads < 1 || batch < 1 || windows < 1 || windows > 100 || steps < 1) {
        fprintf(stderr, "bad option value\n");
        return 2;
    }
    /* OpenBLAS workers spin (sched_yield) for a long while after each GEMM and then compete with the
     * engine's own threads for the cores; a short spin timeout measured about 40% faster here. The
     * variable is read when OpenBLAS loads, so set it and restart once. This is the application's
     * choice; the library never touches BLAS settings. */
    if (!getenv("OPENBLAS_THREAD_TIMEOUT") && !getenv("CNN_BENCH_NO_REEXEC")) {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
        setenv("CNN_BENCH_NO_REEXEC", "1", 1);
        execv("/proc/self/exe", argv);
    }
    /* One BLAS thread: the engine's own threads then each run single-threaded GEMMs on their share of
     * the batch (see docs/engine.md). --blas-threads N with N > 1 measures the other arrangement. */
    openblas_set_num_threads(blas_threads);

    char ip[1024], lp[1024];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
    cnn_dataset *ds = NULL;
    if (cnn_dataset_create(&ds, NULL, 0) || cnn_dataset_load_idx(ds, ip, lp)) {
        fprintf(stderr, "cannot load Fashion-MNIST: %s (apt-get install dataset-fashion-mnist)\n",
                cnn_dataset_errmsg(ds));
        cnn_dataset_free(ds);
        return 1;
    }
    cnn_model_opts mo = CNN_MODEL_OPTS_INIT;
    mo.threads = engine_threads >= 0 ? engine_threads : threads;
    mo.learning_rate = 1e-4f;
    mo.conv_algo = conv_algo;
    cnn_model *m = NULL;
    cnn_conv2d_opts c1 = CNN_CONV2D_OPTS_INIT, c2 = CNN_CONV2D_OPTS_INIT;
    c2.filters = 64;
    cnn_dense_opts f1 = CNN_DENSE_OPTS_INIT, f2 = CNN_DENSE_OPTS_INIT;
    f1.units = 1024;
    f2.units = 10;
    f2.init = CNN_INIT_GLOROT;
    int rc = cnn_model_create(&m, 1, 28, 28, &mo, NULL, 0);
    if (!rc)
        rc = cnn_model_add_conv2d(m, "conv1", &c1) | cnn_model_add_relu(m, "relu1") |
             cnn_model_add_maxpool(m, "pool1", NULL) | cnn_model_add_conv2d(m, "conv2", &c2) |
             cnn_model_add_relu(m, "relu2") | cnn_model_add_maxpool(m, "pool2", NULL) |
             cnn_model_add_flatten(m, "flatten") | cnn_model_add_dense(m, "fc1", &f1) |
             cnn_model_add_relu(m, "relu3") | cnn_model_add_dense(m, "fc2", &f2);
    if (!rc)
        rc = cnn_model_build(m, (size_t)batch);
    if (rc) {
        fprintf(stderr, "model: %s\n", cnn_model_errmsg(m));
        return 1;
    }
    size_t count = cnn_dataset_count(ds), nb = count / (size_t)batch, bi = 0;
    float *x = malloc(sizeof(float) * (size_t)batch * 784);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch);
    if (!x || !y)
        return 1;
    cnn_dataset_shuffle(ds, 1, 0);
    double loss = 0, acc = 0, times[100];
    for (int w = -1; w < windows; w++) {
        int n = w < 0 ? warmup : steps;
        double t = 0;
        for (int s = 0; s < n; s++) {
            /* batch preparation is part of a real training loop, so it stays inside the window */
            double t0 = now();
            cnn_dataset_batch(ds, (bi % nb) * (size_t)batch, (size_t)batch, x, y);
            bi++;
            if (cnn_model_train_step(m, x, y, (size_t)batch, &loss, &acc)) {
                fprintf(stderr, "train: %s\n", cnn_model_errmsg(m));
                return 1;
            }
            t += now() - t0;
        }
        if (w >= 0)
            times[w] = (double)(steps * batch) / t;
    }
    double rss = peak_rss_mb();
    qsort(times, (size_t)windows, sizeof times[0], cmp_double);
    double ips = times[windows / 2];
    double flops = train_flops(m);
    double g1 = 0, g2 = 0, one = 0, per = 0, c2d = 0, c2i = 0, c2w = 0;
    if (peaks) {
        c2d = cnn_conv_direct_available() ? conv2_path(CNN_CONV_DIRECT, batch, mo.threads) : 0;
        c2w = cnn_kernel_isa() ? conv2_path(CNN_CONV_WINOGRAD, batch, mo.threads) : 0;
        c2i = conv2_path(CNN_CONV_IM2COL, batch, mo.threads);
        g1 = sgemm_peak(2048, 1);
        g2 = sgemm_peak(2048, 2);
        openblas_set_num_threads(threads);
        gemm_layout(batch, &one, &per);
    }
    double peak = threads >= 2 ? g2 : g1;
    if (peak <= 0)
        peak = 1;
    printf("kernel_isa=%s\n", cnn_kernel_isa() ? cnn_kernel_isa() : "none"); /* TBW_NO_AVX512, TBW_NO_AVX2 */
    printf("openblas_core=%s\n", openblas_get_corename()); /* OPENBLAS_CORETYPE can force it */
    printf("openblas_thread_timeout=%s\n", getenv("OPENBLAS_THREAD_TIMEOUT") ? getenv("OPENBLAS_THREAD_TIMEOUT") : "default");
    printf("blas_threads=%d\n", blas_threads);
    for (size_t i = 0; i < cnn_model_layer_count(m); i++) {
        cnn_layer_info li;
        if (cnn_model_layer_info(m, i, &li) == TBW_OK && li.conv_algo)
            printf("%s_algo=%s\n", li.name, li.conv_algo);
    }
    printf("threads=%d\nbatch=%d\nimages_per_sec=%.1f\nmflop_per_image=%.2f\ngflops=%.1f\n", threads, batch, ips,
           flops * 1e-6, ips * flops * 1e-9);
    printf("sgemm_peak_1t=%.1f\nsgemm_peak_2t=%.1f\n", g1, g2);
    if (peaks) /* a share of an unmeasured peak would be a made-up figure */
        printf("pct_of_peak=%.1f\n", 100.0 * ips * flops * 1e-9 / peak);
    else
        printf("pct_of_peak=n/a\n");
    printf("peak_rss_mb=%.1f\n", rss);
    printf("conv2_gemm_one_batch_gflops=%.1f\nconv2_gemm_per_image_gflops=%.1f\nlast_loss=%.4f\n", one, per, loss);
    /* Winograd's figure counts the convolution's FLOPs, not the 2.78x fewer it performs */
    printf("conv2_winograd_gflops=%.1f\nconv2_direct_gflops=%.1f\nconv2_im2col_gflops=%.1f\n", c2w, c2d, c2i);
    char share[96] = ""; /* only a peak that was measured */
    if (peaks)
        snprintf(share, sizeof share, "%.0f%% of %d-thread sgemm peak %.0f GFLOP/s, ",
                 100.0 * ips * flops * 1e-9 / peak, threads >= 2 ? 2 : 1, peak);
    fprintf(stderr, "cnn_bench: %.0f img/s (%.1f GFLOP/s at %.1f MFLOP/img, lecture figure 82), %speak RSS %.0f MB\n",
            ips, ips * flops * 1e-9, flops * 1e-6, share, rss);
    free(x);
    free(y);
    cnn_model_free(m);
    cnn_dataset_free(ds);
    return 0;
}
