/* Fully connected layer: y[N,out] = x[N,in] W[in,out] + b, with W in TensorFlow's MatMul layout so an
 * exported graph needs no transpose. */
#include "nn_internal.h"

#include <cblas.h>
#include <string.h>

void cnn__dense_forward(cnn_model *m, cnn__layer *L, const float *x, size_t n)
{
    int in = (int)L->in_size, out = (int)L->out_size;
    float beta = 0.0f;
    if (L->use_bias) {
        const float *b = cnn__B(m, L);
        for (size_t i = 0; i < n; i++)
            memcpy(L->out + i * (size_t)out, b, sizeof(float) * (size_t)out);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, out, in, 1.0f, x, in, cnn__W(m, L), out, beta,
                L->out, out);
}

void cnn__dense_backward(cnn_model *m, cnn__layer *L, const float *x, const float *dy, float *dx, size_t n)
{
    int in = (int)L->in_size, out = (int)L->out_size;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, (int)n, 1.0f, x, in, dy, out, 0.0f, cnn__dW(m, L),
                out);
    if (L->use_bias) {
        float *db = cnn__dB(m, L);
        for (int j = 0; j < out; j++)
            db[j] = 0.0f;
        for (size_t i = 0; i < n; i++) {
            const float *row = dy + i * (size_t)out;
            for (int j = 0; j < out; j++)
                db[j] += row[j];
        }
    }
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, in, out, 1.0f, dy, out, cnn__W(m, L), out, 0.0f,
                    dx, in);
}
