/* direct:c entry points: a cheap safety net on the descriptor, then the variant of the active
 * ISA (fc_active_isa()). The kernels themselves are in conv_direct_impl.h, instantiated per ISA
 * by conv_direct_scalar.c, conv_direct_avx2.c and conv_direct_avx512.c. */
#include "conv_direct.h"

fc_status fc_f32_conv2d_direct(const fc_conv2d_desc *d, const float *x, const float *w,
                               const float *bias, float *y) {
    if (d && d->groups == d->c_in) return fc_f32_conv2d_depthwise(d, x, w, bias, y);
    const fc_status st = fc_conv_desc_check(d, x, w, y);
    if (st != FC_OK) return st;
    if (fc_conv_output_empty(d)) return FC_OK;
    switch (fc_active_isa()) {
#if FC_X86_64
    case FC_ISA_AVX512: return fc_f32_conv2d_direct__avx512(d, x, w, bias, y);
    case FC_ISA_AVX2: return fc_f32_conv2d_direct__avx2(d, x, w, bias, y);
#endif
    default: return fc_f32_conv2d_direct__scalar(d, x, w, bias, y);
    }
}

fc_status fc_f64_conv2d_direct(const fc_conv2d_desc *d, const double *x, const double *w,
                               const double *bias, double *y) {
    if (d && d->groups == d->c_in) return fc_f64_conv2d_depthwise(d, x, w, bias, y);
    const fc_status st = fc_conv_desc_check(d, x, w, y);
    if (st != FC_OK) return st;
    if (fc_conv_output_empty(d)) return FC_OK;
    switch (fc_active_isa()) {
#if FC_X86_64
    case FC_ISA_AVX512: return fc_f64_conv2d_direct__avx512(d, x, w, bias, y);
    case FC_ISA_AVX2: return fc_f64_conv2d_direct__avx2(d, x, w, bias, y);
#endif
    default: return fc_f64_conv2d_direct__scalar(d, x, w, bias, y);
    }
}

/* ---- the channel-blocked kernel ---------------------------------------------------------- */
#define FC_DIRECT_BLOCKED_ENTRIES(T, tn)                                                          \
    size_t fc_##tn##_conv2d_direct_blocked_workspace_size(const fc_conv2d_desc *d,               \
                                                          size_t budget_bytes) {                  \
        if (fc_conv_desc_check(d, d, d, d) != FC_OK || fc_conv_output_empty(d)) return 0;          \
        size_t need;                                                                              \
        switch (fc_active_isa()) {                                                                \
        FC_DIRECT_X86_CASES(need = fc_##tn##_conv2d_direct_blocked_workspace_size, (d))            \
        default: need = fc_##tn##_conv2d_direct_blocked_workspace_size__scalar(d); break;        \
        }                                                                                         \
        return need <= budget_bytes ? need : 0;                                                   \
    }                                                                                             \
    fc_status fc_##tn##_conv2d_direct_blocked(const fc_conv2d_desc *d, const T *x, const T *w,   \
                                              const T *bias, T *y, void *workspace,               \
                                              size_t workspace_bytes) {                           \
        fc_status st = fc_conv_desc_check(d, x, w, y);                                             \
        if (st != FC_OK) return st;                                                               \
        if (fc_conv_output_empty(d)) return FC_OK;                                                 \
        switch (fc_active_isa()) {                                                                \
        FC_DIRECT_X86_CASES(st = fc_##tn##_conv2d_direct_blocked,                                  \
                            (d, x, w, bias, y, workspace, workspace_bytes))                       \
        default:                                                                                  \
            st = fc_##tn##_conv2d_direct_blocked__scalar(d, x, w, bias, y, workspace,             \
                                                         workspace_bytes);                        \
            break;                                                                                \
        }                                                                                         \
        return st;                                                                                \
    }
#if FC_X86_64
#define FC_DIRECT_X86_CASES(call, args)                                                           \
    case FC_ISA_AVX512: call##__avx512 args; break;                                               \
    case FC_ISA_AVX2: call##__avx2 args; break;
#else
#define FC_DIRECT_X86_CASES(call, args)
#endif
FC_DIRECT_BLOCKED_ENTRIES(float, f32)
FC_DIRECT_BLOCKED_ENTRIES(double, f64)
