/* The IDX loader on a pair of files: byte 0 chooses how the images file is stored (bit 0: gzip
   through zlib, so the IDX parser sees fuzzed content inside valid gzip), bytes 1-2 where the input
   splits into images and labels. */
#include "fuzz.h"

#include <zlib.h>

#include <tbw/cnn.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t split = (size_t)(data[1] | data[2] << 8);
    const uint8_t *rest = data + 3;
    size_t n = size - 3;
    if (split > n)
        split = n;
    const char *img = fuzz_file(0, rest, split);
    if (data[0] & 1) {
        gzFile g = gzopen(img, "wb");
        if (!g)
            abort();
        if (split && gzwrite(g, rest, (unsigned)split) <= 0)
            abort();
        gzclose(g);
    }
    const char *lab = fuzz_file(1, rest + split, n - split);
    cnn_dataset *ds;
    if (cnn_dataset_create(&ds, NULL, 0))
        abort();
    if (cnn_dataset_load_idx(ds, img, lab) == 0) {
        int rows, cols;
        cnn_dataset_dims(ds, &rows, &cols);
        size_t count = cnn_dataset_count(ds), px = (size_t)rows * (size_t)cols;
        if (count && px <= (1u << 20)) {
            float *x = malloc(px * sizeof *x);
            int32_t y;
            if (!x || cnn_dataset_batch(ds, count - 1, 1, x, &y) != 0 || y < 0 || y > 255)
                abort();
            free(x);
        }
    }
    cnn_dataset_free(ds);
    return 0;
}
