/*
 * demo: logs one of every summary kind, the way a training loop would, so
 * that `tensorboard --logdir log` has something in each tab.
 *
 *   demo [LOGDIR]      (default: log)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <tbw/tbw.h>

#define CHECK(call)                                                                                             \
    do {                                                                                                        \
        int rc_ = (call);                                                                                       \
        if (rc_) {                                                                                              \
            fprintf(stderr, "demo: %s: %s\n", #call, w ? tbw_writer_errmsg(w) : tbw_strerror(rc_));             \
            return 1;                                                                                           \
        }                                                                                                       \
    } while (0)

int main(int argc, char **argv)
{
    const char *logdir = argc > 1 ? argv[1] : "log";
    char run[1024], msg[256];
    snprintf(run, sizeof run, "%s/demo", logdir);
    tbw_writer *w = NULL;
    if (tbw_writer_open(&w, run, NULL, msg, sizeof msg)) {
        fprintf(stderr, "demo: %s\n", msg);
        return 1;
    }
    static float weights[4096];
    static float img[8][32][32];
    unsigned seed = 12345;
    for (int step = 0; step <= 200; step++) {
        double loss = 2.3 * exp(-step / 60.0) + 0.05 * sin(step * 0.3);
        CHECK(tbw_scalar(w, "cross_entropy", step, loss));
        CHECK(tbw_scalar(w, "accuracy", step, 1.0 - 0.9 * exp(-step / 50.0)));
        if (step % 20 == 0) {
            for (int i = 0; i < 4096; i++) {
                seed = seed * 1103515245u + 12345u;
                weights[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * (1.0f + step / 100.0f);
            }
            CHECK(tbw_histogram(w, "fc1/weights", step, weights, 4096, 0, NULL));
            for (int n = 0; n < 8; n++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        img[n][y][x] = 0.5f + 0.5f * sinf((float)(x * (n + 1) + y * step) * 0.1f);
            tbw_image_batch b = {img, TBW_PIXEL_F32, TBW_LAYOUT_CHW, 8, 32, 32, 1};
            CHECK(tbw_images(w, "input", step, &b, 3));
            uint8_t *grid;
            size_t gh, gw, gc;
            CHECK(tbw_image_grid(&b, 4, 1, 255, true, &grid, &gh, &gw, &gc));
            tbw_image_batch g = {grid, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, gh, gw, gc};
            int rc = tbw_images(w, "filters", step, &g, 1);
            tbw_free(grid);
            CHECK(rc);
        }
    }
    static float tone[16000];
    for (int i = 0; i < 16000; i++)
        tone[i] = 0.5f * sinf(2.0f * 3.14159265f * 440.0f * (float)i / 16000.0f);
    tbw_audio_clip clip = {tone, 16000, 1, "440 Hz"};
    CHECK(tbw_audio(w, "tone", 0, &clip, 1, 16000));
    CHECK(tbw_text(w, "notes", 0, "A **demo** run of *tbw*: every summary kind once."));
    CHECK(tbw_writer_close(w));
    printf("demo: wrote %s\nopen it with: tensorboard --logdir %s\n", run, logdir);
    return 0;
}
