/* Loads the real Fashion-MNIST test set through the IDX reader. The data comes from the Debian package;
 * a missing package is a failure, not a skip, so a machine without it cannot pass silently. */
#include <tbw/cnn.h>

#include <unistd.h>

#include "../check.h"

#define DIR_ "/usr/share/datasets/fashion-mnist/"

TEST(the_fashion_mnist_test_split_loads_as_10000_balanced_28x28_images_of_full_range_pixels)
{
    const char *img = DIR_ "t10k-images-idx3-ubyte.gz", *lab = DIR_ "t10k-labels-idx1-ubyte.gz";
    if (access(img, R_OK) != 0 || access(lab, R_OK) != 0) {
        fprintf(stderr, "%s: Fashion-MNIST is missing: apt-get install dataset-fashion-mnist\n", __FILE__);
        CHECK_TRUE(!"dataset present (apt-get install dataset-fashion-mnist)");
        return;
    }
    cnn_dataset *ds = NULL;
    CHECK_INT(0, cnn_dataset_create(&ds, NULL, 0));
    int rc = cnn_dataset_load_idx(ds, img, lab);
    CHECK_(rc == 0, "load failed: %d %s", rc, cnn_dataset_errmsg(ds));
    CHECK_INT(10000, cnn_dataset_count(ds));
    int r = 0, c = 0;
    cnn_dataset_dims(ds, &r, &c);
    CHECK_INT(28, r);
    CHECK_INT(28, c);
    const uint8_t *labels = cnn_dataset_labels(ds);
    int counts[10] = {0}, out_of_range = 0;
    for (size_t i = 0; labels && i < cnn_dataset_count(ds); i++) {
        if (labels[i] > 9)
            out_of_range++;
        else
            counts[labels[i]]++;
    }
    CHECK_INT(0, out_of_range);
    for (int k = 0; k < 10; k++)
        CHECK_INT(1000, counts[k]); /* the test split is balanced */
    const uint8_t *px = cnn_dataset_images(ds);
    long nonzero = 0;
    int mx = 0;
    for (size_t i = 0; px && i < 10000u * 784u; i++) {
        nonzero += px[i] != 0;
        mx = px[i] > mx ? px[i] : mx;
    }
    CHECK_TRUE(nonzero > 1000000);
    CHECK_INT(255, mx);
    cnn_dataset_free(ds);
}

static const check_case tests[] = {
    CASE(the_fashion_mnist_test_split_loads_as_10000_balanced_28x28_images_of_full_range_pixels),
};
CHECK_MAIN(tests)
