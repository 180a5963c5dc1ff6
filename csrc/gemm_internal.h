/* Private GEMM interface shared by the driver (gemm.c), the microkernels (gemm_ukernel_*.c) and
 * its users inside csrc/ (im2col.c). Never seen by cffi. */
#ifndef FASTCONV_GEMM_INTERNAL_H
#define FASTCONV_GEMM_INTERNAL_H

#include "internal.h"

/* Alignment of every packed panel inside a workspace (one cache line, one AVX-512 vector). */
#define FC_GEMM_ALIGN 64

static inline size_t fc_align_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

/* The microkernel contract, one line: C := alpha * A * B + beta * C on an m x n tile
 * (m <= MR, n <= NR) of C at c with element strides rsc, csc, where A is read at
 * a[i * rsa + p * csa] (a packed micro-panel is rsa = 1, csa = MR; a row-major A can be read in
 * place: rsa = lda, csa = 1) and B is a packed micro-panel (k rows of NR values:
 * b[p * NR + j], zero-padded past n); rows of A past m are never read; C is never read when
 * beta == 0. */
typedef void (*fc_f32_ukernel_fn)(int64_t k, const float *a, int64_t rsa, int64_t csa,
                                  const float *b, float alpha, float beta, float *c, int64_t rsc,
                                  int64_t csc, int64_t m, int64_t n);
typedef void (*fc_f64_ukernel_fn)(int64_t k, const double *a, int64_t rsa, int64_t csa,
                                  const double *b, double alpha, double beta, double *c,
                                  int64_t rsc, int64_t csc, int64_t m, int64_t n);

/* What the names say: <what>_<MR>x<NR>__<isa>. */
#define FC_DECLARE_UKERNEL(T, NAME)                                                            \
    void NAME(int64_t k, const T *a, int64_t rsa, int64_t csa, const T *b, T alpha, T beta,   \
              T *c, int64_t rsc, int64_t csc, int64_t m, int64_t n)
FC_DECLARE_UKERNEL(float, fc_f32_gemm_ukernel_4x8__scalar);
FC_DECLARE_UKERNEL(double, fc_f64_gemm_ukernel_4x4__scalar);
FC_DECLARE_UKERNEL(float, fc_f32_gemm_ukernel_6x16__avx2);
FC_DECLARE_UKERNEL(double, fc_f64_gemm_ukernel_6x8__avx2);
FC_DECLARE_UKERNEL(float, fc_f32_gemm_ukernel_14x32__avx512);
FC_DECLARE_UKERNEL(double, fc_f64_gemm_ukernel_14x16__avx512);
/* Dot kernels: the microkernel contract for n <= NR/4 columns, with csa == 1 and the B panel
 * packed transposed (b[j * k + p]); see gemm_dot_vec.h. */
FC_DECLARE_UKERNEL(float, fc_f32_gemm_dot_6x4__avx2);
FC_DECLARE_UKERNEL(double, fc_f64_gemm_dot_6x2__avx2);
FC_DECLARE_UKERNEL(float, fc_f32_gemm_dot_14x8__avx512);
FC_DECLARE_UKERNEL(double, fc_f64_gemm_dot_14x4__avx512);

/* A packing kernels: MR full rows of a row-major A (row stride rsa, unit column stride), kc
 * columns, into a packed micro-panel dst[p * MR + r]. */
typedef void (*fc_f32_pack_a_fn)(float *dst, const float *a, int64_t rsa, int64_t kc);
typedef void (*fc_f64_pack_a_fn)(double *dst, const double *a, int64_t rsa, int64_t kc);
void fc_f32_gemm_pack_a_14__avx512(float *dst, const float *a, int64_t rsa, int64_t kc);
void fc_f64_gemm_pack_a_14__avx512(double *dst, const double *a, int64_t rsa, int64_t kc);

/* One GEMM as the loops see it. B and C may be "grouped" along their columns: with group > 0,
 * column j lies at (j / group) * gs + (j % group) * cs, so a batch of NCHW images (each image
 * a run of h*w contiguous columns, images gs apart) is one operand without a copy. With
 * group == 0 column j lies at j * cs. bias (NULL or one value per row of C, bias_stride apart)
 * is added to the finished C. */
typedef struct fc_f32_gemm_op {
    int64_t m, n, k;
    float alpha, beta;
    const float *a;
    int64_t rsa, csa;
    const float *b;
    int64_t rsb, csb, b_group, b_gs;
    const float *b_packed; /* non-NULL: B already packed (layout below); b, rsb, csb unused */
    int b_narrow_t;        /* with b_packed: the last panel is packed transposed (dot kernel) */
    float *c;
    int64_t rsc, csc, c_group, c_gs;
    const float *bias;
    int64_t bias_stride;
} fc_f32_gemm_op;

typedef struct fc_f64_gemm_op {
    int64_t m, n, k;
    double alpha, beta;
    const double *a;
    int64_t rsa, csa;
    const double *b;
    int64_t rsb, csb, b_group, b_gs;
    const double *b_packed; /* non-NULL: B already packed (layout below); b, rsb, csb unused */
    int b_narrow_t;        /* with b_packed: the last panel is packed transposed (dot kernel) */
    double *c;
    int64_t rsc, csc, c_group, c_gs;
    const double *bias;
    int64_t bias_stride;
} fc_f64_gemm_op;

/* A pre-packed B (b_packed), written by a producer that packs while it computes B (the
 * im2col lowering): with the active ISA's KC and NR and n_pad = n rounded up to NR, the K
 * block starting at row pc (kc = min(KC, k - pc) rows) starts at b_packed + pc * n_pad; in it
 * panel q (columns q NR ..) starts at + q * NR * kc and holds element (p, c) at + p * NR + c,
 * zero past n; when b_narrow_t, the last panel holds (p, c) at + c * kc + p instead. The GEMM
 * does not transpose such a product (C stays as given). fc_<P>_gemm_narrow_t says whether the
 * GEMM wants the last panel transposed for n columns and an A of column stride csa. */
int fc_f32_gemm_narrow_t(int64_t n, int64_t rsa, int64_t csa);
int fc_f64_gemm_narrow_t(int64_t n, int64_t rsa, int64_t csa);

size_t fc_f32_gemm_op_workspace_size(int64_t m, int64_t n, int64_t k, int nthreads);
size_t fc_f64_gemm_op_workspace_size(int64_t m, int64_t n, int64_t k, int nthreads);
fc_status fc_f32_gemm_op_run(const fc_f32_gemm_op *op, int nthreads, void *ws, size_t ws_bytes);
fc_status fc_f64_gemm_op_run(const fc_f64_gemm_op *op, int nthreads, void *ws, size_t ws_bytes);

#endif /* FASTCONV_GEMM_INTERNAL_H */
