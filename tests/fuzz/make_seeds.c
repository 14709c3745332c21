/* Writes the fuzz targets' seed corpora, made by the library itself:
 *   <out>/event/, <out>/record/, <out>/inspect/  event files with every summary kind
 *   <out>/idx/                                    image+label pairs in fuzz_idx's input layout
 *   <out>/ckpt/                                   checkpoints of fuzz_ckpt's model
 * Usage: make_seeds OUT_DIR */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tbw/tbw.h>

#include "ckpt_model.h"

static const char *out;

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, msg);
    exit(1);
}

static double fixed_clock(void *ctx)
{
    double *t = ctx;
    return *t += 0.25;
}

/* Copies every event file of run_dir into <out>/<target>/<name>-<i>. */
static void collect(const char *run_dir, const char *name)
{
    static const char *const targets[] = {"event", "record", "inspect"};
    DIR *d = opendir(run_dir);
    if (!d)
        die(run_dir, strerror(errno));
    struct dirent *de;
    int i = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strstr(de->d_name, "tfevents"))
            continue;
        char src[2048], dst[2048];
        snprintf(src, sizeof src, "%s/%s", run_dir, de->d_name);
        FILE *f = fopen(src, "rb");
        static uint8_t buf[1 << 22];
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f)
            fclose(f);
        for (int t = 0; t < 3; t++) {
            snprintf(dst, sizeof dst, "%s/%s/%s-%d", out, targets[t], name, i);
            FILE *g = fopen(dst, "wb");
            if (!g || fwrite(buf, 1, n, g) != n || fclose(g) != 0)
                die(dst, "cannot write");
        }
        i++;
    }
    closedir(d);
}

static void events(const char *tmp)
{
    char run[1024], msg[256];
    snprintf(run, sizeof run, "%s/run", tmp);
    double t = 1.7e9;
    tbw_writer_opts o = TBW_WRITER_OPTS_INIT;
    o.clock = fixed_clock;
    o.clock_ctx = &t;
    o.max_file_bytes = 1024; /* one seed file per kind, about */
    tbw_writer *w;
    if (tbw_writer_open(&w, run, &o, msg, sizeof msg))
        die("writer", msg);
    float x[64];
    for (int i = 0; i < 64; i++)
        x[i] = sinf((float)i) * (float)i;
    uint8_t px[4 * 4 * 3];
    for (int i = 0; i < 48; i++)
        px[i] = (uint8_t)(i * 5);
    tbw_image_batch img = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 4, 4, 3};
    float audio[32];
    for (int i = 0; i < 32; i++)
        audio[i] = sinf((float)i / 3);
    const char *cells[] = {"a", "b", "c", "d"};
    int rc = 0;
    for (int s = 0; s < 3; s++) {
        rc |= tbw_scalar(w, "loss", s, 1.0 / (s + 1));
        rc |= tbw_scalar(w, "nan", s, NAN);
        rc |= tbw_histogram(w, "weights", s, x, 64, 0, NULL);
        rc |= tbw_images(w, "image", s, &img, 1);
        tbw_audio_clip clip = {audio, 32, 1, "a *clip*"};
        rc |= tbw_audio(w, "audio", s, &clip, 1, 8000);
        rc |= tbw_text(w, "text", s, "**markdown** text");
        rc |= tbw_text_table(w, "table", s, cells, 2, 2);
    }
    const bool labels[4] = {true, false, true, false};
    const float preds[4] = {0.9f, 0.1f, 0.6f, 0.4f};
    rc |= tbw_pr_curve(w, "pr", 0, labels, preds, NULL, 4, 5);
    tbw_graph *g;
    if (tbw_graph_create(&g, msg, sizeof msg))
        die("graph", msg);
    size_t a;
    rc |= tbw_graph_add_node(g, "input", "Placeholder", NULL, 0, NULL, &a);
    const char *in[] = {"input"};
    rc |= tbw_graph_add_node(g, "scope/relu", "Relu", in, 1, NULL, NULL);
    rc |= tbw_graph_write(w, g, 0);
    tbw_graph_free(g);
    if (rc)
        die("summaries", tbw_writer_errmsg(w));
    if (tbw_writer_close(w))
        die("close", "failed");
    collect(run, "all_kinds");
}

/* out/name holding buf[0..n). */
static void put(const char *name, const uint8_t *buf, size_t n)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", out, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0)
        die(path, "cannot write");
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* fuzz_idx's layout: mode byte, split (2 bytes LE), images, labels. */
static void idx(void)
{
    for (int mode = 0; mode < 2; mode++) {
        uint32_t n = 3, rows = 4, cols = 5;
        size_t ilen = 16 + n * rows * cols, llen = 8 + n;
        uint8_t buf[256];
        buf[0] = (uint8_t)mode;
        buf[1] = (uint8_t)(ilen & 0xFF);
        buf[2] = (uint8_t)(ilen >> 8);
        uint8_t *p = buf + 3;
        put_be32(p, 0x803), put_be32(p + 4, n), put_be32(p + 8, rows), put_be32(p + 12, cols);
        for (size_t i = 16; i < ilen; i++)
            p[i] = (uint8_t)(i * 13);
        uint8_t *l = p + ilen;
        put_be32(l, 0x801), put_be32(l + 4, n);
        for (uint32_t i = 0; i < n; i++)
            l[8 + i] = (uint8_t)i;
        put(mode ? "idx/pair-gzip" : "idx/pair-plain", buf, 3 + ilen + llen);
    }
}

static void ckpt(void)
{
    cnn_model *m = fuzz_ckpt_model();
    if (!m)
        die("ckpt", "cannot build the model");
    float x[2 * 16];
    for (int i = 0; i < 32; i++)
        x[i] = (float)i / 32;
    const int32_t y[2] = {1, 2};
    char path[2048];
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/ckpt/after-%d-steps", out, k);
        if (cnn_model_save(m, path))
            die(path, cnn_model_errmsg(m));
        if (cnn_model_train_step(m, x, y, 2, NULL, NULL))
            die("train", cnn_model_errmsg(m));
    }
    cnn_model_free(m);
}

/* Call sequences for fuzz_writer: a config byte, then (op, a, b) triples (see fuzz_writer.c). */
static void writer_seeds(void)
{
    static const uint8_t cfgs[3] = {0x00, 0x05 | 0x08, 0x02 | 0x04};
    for (int s = 0; s < 3; s++) {
        uint8_t b[1 + 3 * 96];
        size_t n = 0;
        b[n++] = cfgs[s];
        for (int round = 0; round < 4; round++)
            for (int t = 0; t < 8; t++) {
                b[n++] = (uint8_t)(0x10 | (((round + s) % 4) << 1) | (round << 6)); /* metadata kind, clock on */
                b[n++] = (uint8_t)(t + 9 * round);
                b[n++] = (uint8_t)(round * 3 + t);                              /* value length and step */
            }
        b[n++] = 0x0F; /* a flush */
        b[n++] = 0;
        b[n++] = 0;
        char name[32];
        snprintf(name, sizeof name, "writer/seed%d", s);
        put(name, b, n);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds OUT_DIR\n");
        return 2;
    }
    out = argv[1];
    static const char *const subs[] = {"", "/event", "/record", "/inspect", "/idx", "/ckpt", "/writer"};
    for (int i = 0; i < 7; i++) {
        char d[2048];
        snprintf(d, sizeof d, "%s%s", out, subs[i]);
        if (mkdir(d, 0777) != 0 && errno != EEXIST)
            die(d, strerror(errno));
    }
    char tmp[] = "/tmp/tbw-seeds-XXXXXX";
    if (!mkdtemp(tmp))
        die("mkdtemp", strerror(errno));
    events(tmp);
    idx();
    ckpt();
    writer_seeds();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
