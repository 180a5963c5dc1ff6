/* Private side of the FFT and the FFT convolution: plan layouts shared by the ISA variants
 * (fft_<dtype>_<isa>.c, generated from fft_impl.h / conv_fft_impl.h) and the public entry points
 * (fft.c, conv_fft.c). Never seen by cffi.
 *
 * Data layout. Every transform works on "vector complex" elements (vc): VL independent complex
 * numbers stored split, VL real parts then VL imaginary parts (64 bytes for AVX2 in both
 * dtypes). A butterfly on vc elements is the same butterfly on VL independent transforms, so the
 * passes need no shuffles and any radix vectorises: the lanes are whatever the caller batches
 * (columns of an image, frequency rows, tiles of a signal). Between lanes, data moves only in
 * the VLxVL transposes of the gathers and scatters.
 *
 * Plans. Caller memory holds a plan: a header (the structs below, with offsets instead of
 * pointers, so a plan may be copied or moved) followed by root tables omega_n^m = exp(-2 pi i
 * m / n), m < n, computed in double and stored in the working dtype. The passes index the table
 * directly (twiddle (j, i) of a pass with l1 = product of earlier radices is omega^(j l1 i)), so
 * there is no per-pass copy and building a plan costs n/8 sin/cos pairs.
 */
#ifndef FC_FFT_INTERNAL_H
#define FC_FFT_INTERNAL_H

#include "internal.h"

#define FC_FFT_MAX_PASSES 64
#define FC_FFT_ALIGN 64
#define FC_FFT_PLAN_MAGIC 0x66637066u /* "fpcf" */

/* A complex FFT of length n (a sequence of Stockham passes). Its roots are the entries
 * root[rs * m] of a table of n * rs roots of unity (rs = 2 when the table belongs to the real
 * transform of length 2n that this complex one serves). */
typedef struct fc_fft_sub {
    int64_t n;
    int64_t rs;
    int64_t root;   /* offset of the table, in elements of the working dtype, from the data base */
    int32_t npass;
    int32_t maxgen; /* largest radix done by the generic O(p^2) pass (0 if none) */
    int32_t radix[FC_FFT_MAX_PASSES];
} fc_fft_sub;

/* A real transform of even length t = 2 * half.n: a complex FFT of t/2 plus the split step,
 * whose twiddles omega_t^k are the same table (half.rs = 2). Odd t: a complex FFT of length t
 * on real input (half.n = t, rs = 1), used by the raw rfft only. */
typedef struct fc_fft_real {
    int64_t t;
    fc_fft_sub half;
} fc_fft_real;

/* Builds a complex sub-plan for length n with a table of n * rs roots written at element offset
 * *used of the data region (NULL data: sizes only); advances *used. dtb: bytes per element. */
void fc_fft_sub_init(fc_fft_sub *s, int64_t n, int64_t rs, void *data, int64_t *used, int dtb);
void fc_fft_real_init(fc_fft_real *r, int64_t t, void *data, int64_t *used, int dtb);

/* Vector lanes of the FFT kernels for an ISA and element size (8 floats / 4 doubles on AVX2). */
int fc_fft_lanes(fc_isa isa, int dtb);

/* ---- raw transforms (fft.c) -------------------------------------------------------------- */
/* The workspace of a raw transform starts with this header; the root tables follow. */
typedef struct fc_fft_raw_plan {
    fc_fft_real ax0;   /* 1-D: the transform; 2-D: the real transform along axis 0 */
    fc_fft_sub ax1;    /* 2-D: the complex transform along axis 1 */
    int64_t data_off;  /* bytes from the header to the root tables */
    int64_t buf_off;   /* bytes from the header to the scratch buffers */
    int64_t most;      /* vc per scratch buffer */
    int32_t vl, dtb;
} fc_fft_raw_plan;

/* ---- FFT convolution (conv_fft.c) --------------------------------------------------------- */
/* Overlap-save tiling: the convolution is computed at stride 1 over "full" output positions
 * p in [0, full), full = (out - 1) * stride + 1 (then subsampled); a tile of t input samples
 * starting at p0 - pad yields v = t - k_eff + 1 full outputs p0 .. p0 + v - 1 without wrap-around.
 *
 * dims == 2 ("lanes hold bins"): per tile and channel, a real FFT along H on column blocks of VL
 * columns (lanes = columns), a VLxVL transpose, then a complex FFT along W on blocks of VL
 * frequency rows (lanes = rows kh). A channel's spectrum is tw x nkhb vc: [kw][khb][lane].
 * dims == 1 ("lanes hold tiles", conv1d): VL tiles of the same channel, possibly from different
 * images, are transformed together; a spectrum is t/2 + 1 vc: [bin][lane = tile], and the kernel
 * spectra are plain complex numbers [group][k][c][bin], broadcast over the lanes. */
typedef struct fc_fft_conv_plan {
    uint32_t magic;
    int32_t isa, vl, dtb;
    int32_t dims;
    int32_t mode;                  /* dims 2: 0 work-shared stages of one tile at a time,
                                      1 tile-parallel (each thread whole tiles, one call) */
    int32_t nthreads_hint;
    int32_t pad_;
    /* the problem (fc_conv2d_desc's sizes) */
    int64_t n, c_in, h, w, c_out, kh, kw, h_out, w_out;
    int64_t stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, groups;
    int64_t cg, kg;                /* channels per group in and out */
    /* tiling */
    int64_t th, tw;                /* FFT sizes (th = 1 when dims == 1) */
    int64_t keh, kew;              /* effective (dilated) kernel extents */
    int64_t vh, vw;                /* full outputs per tile */
    int64_t full_h, full_w;        /* full outputs needed */
    int64_t nty, ntx;              /* tiles per image */
    int64_t nkhb, ncb;             /* 2-D: blocks of VL frequency rows / of VL columns */
    int64_t spec_vc;               /* vc per channel spectrum (dims 2) or per lane group (1) */
    fc_fft_real ax_h;              /* dims 2: real FFT along H (th) */
    fc_fft_sub ax_w;               /* dims 2: complex FFT along W (tw) */
    fc_fft_real ax_1d;             /* dims 1: real FFT along W (tw) */
    int64_t kdec;                  /* dims 1: kernel spectra by decimation in D = kdec lanes per
                                      pair (1: one lane per pair) */
    fc_fft_real ax_dec;            /* dims 1, kdec > 1: real FFT of tw / kdec */
    int64_t data_off;              /* bytes from the plan start to the root tables */
    int64_t plan_bytes;
    int64_t spectra_bytes;
} fc_fft_conv_plan;

/* Per-thread and shared workspace of apply (bytes), for nthreads threads. */
size_t fc_fft_conv_ws_bytes(const fc_fft_conv_plan *p, int nthreads);
size_t fc_fft_conv_spectra_ws_bytes(const fc_fft_conv_plan *p, int nthreads);

/* ISA variants, generated from the templates (suffix __scalar, __avx2, __avx512). */
#define FC_FFT_DECLARE(DT, T, ISA)                                                              \
    fc_status fc_##DT##_cfft__##ISA(const fc_fft_raw_plan *p, int64_t howmany, const T *x,      \
                                   T *y, int inverse, void *ws);                                \
    fc_status fc_##DT##_rfft__##ISA(const fc_fft_raw_plan *p, int64_t howmany, const T *x,      \
                                   T *y, void *ws);                                             \
    fc_status fc_##DT##_irfft__##ISA(const fc_fft_raw_plan *p, int64_t howmany, const T *x,     \
                                    T *y, void *ws);                                            \
    fc_status fc_##DT##_rfft2__##ISA(const fc_fft_raw_plan *p, const T *x, T *y, void *ws);     \
    fc_status fc_##DT##_irfft2__##ISA(const fc_fft_raw_plan *p, const T *x, T *y, void *ws);    \
    fc_status fc_##DT##_conv2d_fft_kernel_spectra__##ISA(const fc_fft_conv_plan *p,             \
                                                        const fc_conv2d_desc *d, const T *w,    \
                                                        void *spectra, void *ws);               \
    fc_status fc_##DT##_conv2d_fft_apply__##ISA(const fc_fft_conv_plan *p,                      \
                                               const fc_conv2d_desc *d, const void *spectra,    \
                                               const T *x, const T *bias, T *y, void *ws);      \
    fc_status fc_##DT##_conv2d_fft__##ISA(const fc_fft_conv_plan *p, const fc_conv2d_desc *d,   \
                                         const T *w, void *spectra, const T *x, const T *bias,  \
                                         T *y, void *ws);

FC_FFT_DECLARE(f32, float, scalar)
FC_FFT_DECLARE(f64, double, scalar)
FC_FFT_DECLARE(f32, float, avx2)
FC_FFT_DECLARE(f64, double, avx2)
FC_FFT_DECLARE(f32, float, avx512)
FC_FFT_DECLARE(f64, double, avx512)

static inline int64_t fc_round_up(int64_t a, int64_t b) { return fc_div_up(a, b) * b; }

#endif /* FC_FFT_INTERNAL_H */
