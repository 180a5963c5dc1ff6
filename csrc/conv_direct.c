/* TEMPORARY placeholder direct kernel so the skeleton builds; replaced by the real kernel. */
#include "internal.h"
#define DEFINE_DIRECT(T, NAME) \
fc_status NAME(const fc_conv2d_desc *d, const T *x, const T *w, const T *bias, T *y) { \
    const int64_t cg = d->c_in / d->groups, kg = d->c_out / d->groups; \
    for (int64_t b = 0; b < d->n; b++) for (int64_t k = 0; k < d->c_out; k++) \
    for (int64_t i = 0; i < d->h_out; i++) for (int64_t j = 0; j < d->w_out; j++) { \
        T acc = bias ? bias[k * d->bias_stride] : 0; const int64_t g = k / kg; \
        for (int64_t c = 0; c < cg; c++) for (int64_t r = 0; r < d->kh; r++) for (int64_t s = 0; s < d->kw; s++) { \
            int64_t ii = i * d->stride_h + r * d->dil_h - d->pad_top, jj = j * d->stride_w + s * d->dil_w - d->pad_left; \
            if (ii < 0 || ii >= d->h || jj < 0 || jj >= d->w) continue; \
            acc += w[k*d->w_stride[0] + c*d->w_stride[1] + r*d->w_stride[2] + s*d->w_stride[3]] * \
                   x[b*d->x_stride[0] + (g*cg+c)*d->x_stride[1] + ii*d->x_stride[2] + jj*d->x_stride[3]]; } \
        y[b*d->y_stride[0] + k*d->y_stride[1] + i*d->y_stride[2] + j*d->y_stride[3]] = acc; } \
    return FC_OK; }
DEFINE_DIRECT(float, fc_f32_conv2d_direct)
DEFINE_DIRECT(double, fc_f64_conv2d_direct)
