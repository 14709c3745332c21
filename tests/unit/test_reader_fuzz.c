/* The reader on damaged input: thousands of seeded random mutations of a
   valid event file (flipped bits, cut tails, overwritten spans) are each read
   to the end. Every call must return an event, end, or a status with a
   message: never crash (the sanitizer build checks memory too). */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "testutil.h"
#include <tbw/tbw.h>

static char *g_dir;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

TEST(reader_on_3000_mutated_files_returns_events_an_end_or_a_status_with_a_message)
{
    char run[600], msg[256], path[1200], mpath[1300];
    snprintf(run, sizeof run, "%s/run", g_dir);
    tbw_writer *w;
    CHECK_RC(0, tbw_writer_open(&w, run, NULL, msg, sizeof msg), msg);
    float x[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i;
    uint8_t px[8 * 8 * 3] = {0};
    tbw_image_batch b = {px, TBW_PIXEL_U8, TBW_LAYOUT_HWC, 1, 8, 8, 3};
    for (int s = 0; s < 5; s++) {
        tbw_scalar(w, "loss", s, s * 0.5);
        tbw_histogram(w, "h", s, x, 64, 0, NULL);
        tbw_images(w, "img", s, &b, 1);
        tbw_text(w, "t", s, "hello");
    }
    CHECK_RC(0, tbw_writer_close(w), "close");
    tu_event_files(run, path, sizeof path);
    size_t len = 0;
    unsigned char *orig = tu_read_file(path, &len);
    snprintf(mpath, sizeof mpath, "%s/mutant.tfevents", g_dir);
    unsigned char *buf = malloc(len + 64);
    long events = 0, ends = 0, corrupt = 0, truncated = 0, other = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = len;
        memcpy(buf, orig, len);
        int kind = (int)(next() % 3);
        if (kind == 0) {
            int flips = 1 + (int)(next() % 4);
            for (int k = 0; k < flips; k++)
                buf[next() % n] ^= (unsigned char)(1u << (next() % 8));
        } else if (kind == 1) {
            n = next() % len;
        } else {
            size_t at = next() % n, span = 1 + next() % 16;
            for (size_t k = at; k < at + span && k < n; k++)
                buf[k] = (unsigned char)next();
        }
        FILE *f = fopen(mpath, "wb");
        fwrite(buf, 1, n, f);
        fclose(f);
        tbw_reader *r;
        CHECK_RC(0, tbw_reader_open(&r, mpath, msg, sizeof msg), msg);
        const tbw_event *ev;
        int rc, guard = 0;
        while ((rc = tbw_reader_next(r, &ev)) == 1 && guard++ < 1000) {
            events++;
            /* Touch what the view points to. */
            for (size_t v = 0; ev->kind == TBW_EVENT_SUMMARY && v < ev->n_values; v++) {
                volatile size_t sum = strlen(ev->values[v].tag) + strlen(ev->values[v].plugin_name);
                for (size_t k = 0; k < ev->values[v].n_strings; k++)
                    sum += ev->values[v].string_lens[k];
                (void)sum;
            }
        }
        if (rc == 0)
            ends++;
        else if (rc == TBW_ECORRUPT)
            corrupt++;
        else if (rc == TBW_ETRUNCATED)
            truncated++;
        else
            other++;
        if (rc < 0)
            CHECK(tbw_reader_errmsg(r)[0] != '\0');
        tbw_reader_close(r);
    }
    printf("3000 mutants: %ld events read, %ld clean ends, %ld corrupt, %ld truncated, %ld other\n", events, ends,
           corrupt, truncated, other);
    CHECK_INT(0, other);
    CHECK(corrupt > 100 && truncated > 100);
    free(buf);
    free(orig);
}

static const check_case tests[] = {
    CASE(reader_on_3000_mutated_files_returns_events_an_end_or_a_status_with_a_message),
};

int main(int argc, char **argv)
{
    g_dir = tu_tempdir("fuzz");
    int rc = check_main(argc, argv, tests, CHECK_COUNT(tests));
    tu_rmtree(g_dir);
    free(g_dir);
    return rc;
}
