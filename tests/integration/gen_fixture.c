/*
 * Writes a log directory with every summary kind, for the TensorBoard
 * integration tests, plus the raw inputs (SIDE_DIR) from which the tests
 * compute what TensorBoard must serve.
 *
 *   gen_fixture LOGDIR SIDE_DIR
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tbw/tbw.h>

#include "gen_common.h"

static void must(int rc, tbw_writer *w, const char *what)
{
    if (rc) {
        fprintf(stderr, "gen_fixture: %s: %s (%s)\n", what, tbw_strerror(rc), w ? tbw_writer_errmsg(w) : "");
        exit(1);
    }
}

static void scalars(void)
{
    tbw_writer *w = open_run("scalars");
    for (int s = 0; s < 300; s++) {
        must(tbw_scalar(w, "loss", s, 1.0 / (1.0 + s * 0.01)), w, "loss");
        must(tbw_scalar(w, "metrics/accuracy ünï", s, s / 300.0), w, "accuracy");
    }
    const double special[4] = {NAN, INFINITY, -INFINITY, -0.0};
    for (int s = 0; s < 4; s++)
        must(tbw_scalar(w, "special", s, special[s]), w, "special");
    must(tbw_writer_close(w), NULL, "close scalars");

    /* More points than TensorBoard keeps by default (1000). */
    w = open_run("many");
    for (int s = 0; s < 5000; s++)
        must(tbw_scalar(w, "x", s * 3, sin(s * 0.01)), w, "many");
    must(tbw_writer_close(w), NULL, "close many");
}

static void histograms(void)
{
    tbw_writer *w = open_run("histograms");
    static float x[10000];
    char name[128];
    for (int s = 0; s < 20; s++) {
        for (int i = 0; i < 10000; i++)
            x[i] = (float)(((i * 7919 + s * 104729) % 20001) - 10000) / 1000.0f * (1.0f + s * 0.1f);
        if (s % 2 == 0) {
            x[17] = NAN;
            x[18] = INFINITY;
        }
        size_t bad = 0;
        must(tbw_histogram(w, "layer/weights", s, x, 10000, 0, &bad), w, "weights");
        snprintf(name, sizeof name, "hist_weights_%d.f32", s);
        side(name, x, sizeof x);
        must(tbw_histogram(w, "fine", s, x, 10000, 100, NULL), w, "fine");
    }
    /* a ReLU output: half the values are exactly the minimum 0, the rest land on and near bucket edges */
    for (int i = 0; i < 10000; i++)
        x[i] = i % 2 == 0 ? 0.0f : (float)((i * 37) % 3001) / 1000.0f;
    x[5] = NAN;
    must(tbw_histogram(w, "relu", 0, x, 10000, 0, NULL), w, "relu");
    side("hist_relu.f32", x, sizeof x);
    float same[50];
    for (int i = 0; i < 50; i++)
        same[i] = 0.25f;
    must(tbw_histogram(w, "constant", 0, same, 50, 0, NULL), w, "constant");
    must(tbw_histogram(w, "empty", 0, NULL, 0, 0, NULL), w, "empty");
    double d[5] = {1, 2, 3, 4, 5};
    must(tbw_histogram_f64(w, "doubles", 0, d, 5, 4, NULL), w, "doubles");
    must(tbw_writer_close(w), NULL, "close histograms");
}

static void images(void)
{
    tbw_writer *w = open_run("images");
    static uint8_t gray[4][28][28];
    static float rgb[3][12][16]; /* CHW, height 12, width 16 */
    char name[128];
    for (int s = 0; s < 3; s++) {
        for (int n = 0; n < 4; n++)
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    gray[n][y][x] = (uint8_t)((x * 9 + y * 5 + n * 40 + s * 17) % 256);
        tbw_image_batch b = {gray, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 4, 28, 28, 1};
        must(tbw_images(w, "input", s, &b, 3), w, "input");
        snprintf(name, sizeof name, "input_%d.u8", s);
        side(name, gray, sizeof gray);
    }
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 16; x++)
                rgb[c][y][x] = (float)(x + y * 16 + c * 5) / 200.0f - 0.1f; /* some values clamp */
    tbw_image_batch b = {rgb, TBW_PIXEL_F32, TBW_LAYOUT_CHW, 1, 12, 16, 3};
    must(tbw_images(w, "color", 0, &b, 1), w, "color");
    side("color.f32", rgb, sizeof rgb);
    /* A 5x5 grid of 8x8 tiles. */
    static uint8_t tiles[25][8][8];
    for (int n = 0; n < 25; n++)
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                tiles[n][y][x] = (uint8_t)(n * 10);
    tbw_image_batch tb = {tiles, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 25, 8, 8, 1};
    uint8_t *g;
    size_t gh, gw, gc;
    must(tbw_image_grid(&tb, 0, 1, 255, false, &g, &gh, &gw, &gc), NULL, "grid");
    tbw_image_batch gb = {g, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, gh, gw, gc};
    must(tbw_images(w, "grid", 0, &gb, 1), w, "grid image");
    side("grid.u8", g, gh * gw * gc);
    tbw_free(g);
    must(tbw_writer_close(w), NULL, "close images");
}

static void audio(void)
{
    tbw_writer *w = open_run("audio");
    static float a[800], b[1600];
    for (int i = 0; i < 800; i++)
        a[i] = 0.8f * sinf(2.0f * 3.14159265f * 440.0f * (float)i / 8000.0f);
    for (int i = 0; i < 800; i++) { /* stereo, interleaved; right channel clips */
        b[2 * i] = (float)i / 800.0f - 0.5f;
        b[2 * i + 1] = 1.5f;
    }
    tbw_audio_clip mono = {a, 800, 1, "a 440 Hz tone"};
    must(tbw_audio(w, "tone", 0, &mono, 1, 8000), w, "tone");
    tbw_audio_clip st = {b, 800, 2, NULL};
    must(tbw_audio(w, "stereo", 1, &st, 1, 8000), w, "stereo");
    side("tone.f32", a, sizeof a);
    side("stereo.f32", b, sizeof b);
    must(tbw_writer_close(w), NULL, "close audio");
}

static void text(void)
{
    tbw_writer *w = open_run("text");
    char buf[128];
    for (int s = 0; s < 3; s++) {
        snprintf(buf, sizeof buf, "**step %d** of the *notes* — ünïcödé", s);
        must(tbw_text(w, "notes", s, buf), w, "notes");
    }
    const char *cells[6] = {"lr", "conv", "fc", "1E-03", "2", "2"};
    must(tbw_text_table(w, "table", 0, cells, 2, 3), w, "table");
    must(tbw_writer_close(w), NULL, "close text");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_fixture LOGDIR SIDE_DIR\n");
        return 2;
    }
    g_log = argv[1];
    g_side = argv[2];
    mkdir(g_side, 0755);
    scalars();
    histograms();
    images();
    audio();
    text();
    return 0;
}
