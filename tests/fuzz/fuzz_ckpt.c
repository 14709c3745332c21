/* The checkpoint loader against one fixed small model. A refused file must leave the model exactly
   as it was. The fixed model is the one tests/fuzz/make_seeds.c saves seeds from. */
#include "fuzz.h"

#include <string.h>

#include <tbw/cnn.h>

#include "ckpt_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cnn_model *m;
    static float *before;
    static size_t nparams, fc;
    cnn_layer_info li;
    if (!m) {
        m = fuzz_ckpt_model();
        if (!m || cnn_model_find_layer(m, "fc", &fc) || cnn_model_layer_info(m, fc, &li) || !li.params[0].data)
            abort();
        nparams = li.params[0].count;
        before = malloc(nparams * sizeof *before);
    }
    cnn_model_layer_info(m, fc, &li);
    memcpy(before, li.params[0].data, nparams * sizeof *before);
    int64_t step = cnn_model_step_count(m);
    int rc = cnn_model_load(m, fuzz_file(0, data, size));
    cnn_model_layer_info(m, fc, &li);
    if (rc && (memcmp(before, li.params[0].data, nparams * sizeof *before) != 0 || step != cnn_model_step_count(m)))
        abort(); /* a refused file changed the model */
    if (rc == 0 && (cnn_model_step_count(m) < 0 || cnn_model_step_count(m) > ((int64_t)1 << 53)))
        abort();
    return 0;
}
