/* fastconv's C interface.
 *
 * This file is both the C header and the cffi cdef: csrc/build_ffi.py drops the preprocessor
 * lines and hands the rest to ffi.cdef(). So keep it to what cffi parses: typedefs, enums,
 * structs and prototypes; no macros, no inline functions (those go in internal.h).
 *
 * Conventions (see ../shared/ARCHITECTURE.md):
 *  - kernels never validate user arguments (the Python API did) and never allocate: workspace
 *    sizes are queried and the caller (NumPy) hands buffers in;
 *  - every kernel returns an fc_status;
 *  - every array is described by element strides, so NCHW, NHWC, flipped kernels (negative
 *    strides) and arbitrary views reach the kernels without copies;
 *  - sizes and strides are int64_t: products of sizes can pass 2^31.
 */
#ifndef FASTCONV_H
#define FASTCONV_H

#include <stddef.h>
#include <stdint.h>

typedef enum fc_status {
    FC_OK = 0,
    FC_ERR_INVALID_ARGUMENT = 1,    /* a size, stride or pointer the kernel cannot use */
    FC_ERR_UNSUPPORTED = 2,         /* a valid problem this kernel does not handle */
    FC_ERR_WORKSPACE_TOO_SMALL = 3, /* the caller's workspace is below what was queried */
    FC_ERR_ISA_UNAVAILABLE = 4      /* the requested ISA cannot run on this CPU */
} fc_status;

/* Instruction sets with kernels of their own, in increasing order of preference. */
typedef enum fc_isa {
    FC_ISA_SCALAR = 0, /* portable C, whatever the compiler makes of it for baseline x86-64 */
    FC_ISA_AVX2 = 1,   /* AVX2 + FMA3 (Haswell, Zen 1 and later) */
    FC_ISA_AVX512 = 2  /* AVX-512 F/BW/DQ/VL (Skylake-X, Zen 4 and later) */
} fc_isa;

/* The best ISA this CPU and OS support (CPUID + XGETBV), detected once. */
fc_isa fc_cpu_isa(void);
/* The ISA kernels dispatch to: min(fc_cpu_isa(), the limit set below). */
fc_isa fc_active_isa(void);
/* Caps the ISA kernels use, so tests and profiles can exercise every variant on one machine.
 * FC_ERR_ISA_UNAVAILABLE if the CPU cannot run `isa`; the limit is then unchanged. */
fc_status fc_set_isa_limit(fc_isa isa);

/* Cache sizes per core, in bytes, that the kernels' block rules read (GEMM, im2col, direct,
 * winograd and FFT working sets). Defaults: 32 KiB L1d, 1 MiB L2, 32 MiB L3; the Python layer
 * sets what the OS reports for this CPU when the extension loads. FC_ERR_INVALID_ARGUMENT
 * unless 4 KiB <= l1d <= l2 <= 1 GiB and l3 >= 0 (0: no L3). Workspace sizes depend on these:
 * query them after the last change. Not to be called while a kernel runs. */
typedef struct fc_cache_sizes {
    int64_t l1d, l2, l3;
} fc_cache_sizes;
fc_status fc_set_cache_sizes(const fc_cache_sizes *sizes);
void fc_get_cache_sizes(fc_cache_sizes *out);

/* One 2-D convolution problem as the kernels see it: the C mirror of fastconv.problem.ConvProblem
 * plus the strides of the concrete arrays. Everything is in logical NCHW order whatever the
 * user's layout: x is (n, c_in, h, w), the weight (c_out, c_in / groups, kh, kw), y is
 * (n, c_out, h_out, w_out). conv1d arrives as h = kh = h_out = 1.
 *
 * y[b, k, i, j] = bias[k] + sum_{c, r, s} w[k, c, r, s] * x[b, g*cg + c, i*stride_h + r*dil_h -
 *                 pad_top, j*stride_w + s*dil_w - pad_left], with g = k / (c_out / groups),
 *                 cg = c_in / groups, and x read as zero outside [0, h) x [0, w). */
/* Per-phase seconds of one kernel call (the idea of NNPACK's nnp_profile), filled only when
 * fc_conv2d_desc.profile is not NULL. Kernels add to the fields (never reset them), so one struct
 * can sum several calls; a phase an algorithm does not have stays untouched. Times are wall
 * clock taken by the calling thread around each phase (parallel phases included). */
typedef struct fc_profile {
    double total;            /* the whole call */
    double input_transform;  /* im2col lowering, input packing, input FFT, Winograd input */
    double kernel_transform; /* weight re-layout, kernel spectra, Winograd kernel transform */
    double multiply;         /* the arithmetic core: GEMM, direct loops, per-frequency products */
    double output_transform; /* inverse FFT, Winograd output transform, scatter and bias */
    int64_t calls;           /* kernel calls summed in here */
} fc_profile;

typedef struct fc_conv2d_desc {
    int64_t n, c_in, h, w;
    int64_t c_out, kh, kw;
    int64_t h_out, w_out;
    int64_t stride_h, stride_w;
    int64_t dil_h, dil_w;
    int64_t pad_top, pad_left; /* bottom/right padding only shape h_out/w_out */
    int64_t groups;
    int64_t x_stride[4];       /* element strides of x along n, c, h, w */
    int64_t w_stride[4];       /* along c_out, c_in/groups, kh, kw (negative when flipped) */
    int64_t y_stride[4];       /* along n, c_out, h_out, w_out */
    int64_t bias_stride;       /* element stride of bias; ignored when bias is NULL */
    int nthreads;              /* threads the kernel may use (>= 1; the caller is one of them) */
    fc_profile *profile;       /* NULL: no timing (the default, and zero cost) */
} fc_conv2d_desc;

/* direct: loops over the definition above, register-blocked; no workspace. bias may be NULL.
 * Every element of y is written (y is never read). */
fc_status fc_f32_conv2d_direct(const fc_conv2d_desc *d, const float *x, const float *w,
                               const float *bias, float *y);
fc_status fc_f64_conv2d_direct(const fc_conv2d_desc *d, const double *x, const double *w,
                               const double *bias, double *y);
/* direct, channel-blocked: weights and a zero-padded input re-laid out per call into the
 * workspace, output channels in vectors (the dense kernel). The size query answers 0 when this
 * kernel is not the one for d (too few output channels per group; then fc_*_conv2d_direct
 * serves d without workspace) or its workspace would pass budget_bytes. Depends on the active
 * ISA: query and run under the same fc_set_isa_limit. bias may be NULL; y is only written. */
size_t fc_f32_conv2d_direct_blocked_workspace_size(const fc_conv2d_desc *d, size_t budget_bytes);
size_t fc_f64_conv2d_direct_blocked_workspace_size(const fc_conv2d_desc *d, size_t budget_bytes);
fc_status fc_f32_conv2d_direct_blocked(const fc_conv2d_desc *d, const float *x, const float *w,
                                       const float *bias, float *y, void *workspace,
                                       size_t workspace_bytes);
fc_status fc_f64_conv2d_direct_blocked(const fc_conv2d_desc *d, const double *x, const double *w,
                                       const double *bias, double *y, void *workspace,
                                       size_t workspace_bytes);
/* Whether the channel-blocked kernel is expected to be the faster of the two for d on the
 * active ISA (the rule is in conv_direct.h: output-channel blocks mostly full, and with NCHW
 * output a reduction long enough to hide its stores); 0 when the workspace-free kernel is. d's
 * y strides say whether the output is channels-last. dtype_bytes: 4 or 8. */
int fc_direct_blocked_preferred(const fc_conv2d_desc *d, int dtype_bytes);
/* The same kernel in two steps, for weights that serve many calls (a plan): pack once, apply
 * per call. The packed buffer (64-byte aligned, packed_size bytes: 0 when this kernel is not
 * the one for d) starts with a header naming the ISA (the active one when packed), dtype,
 * channels, groups and kernel size; apply runs that ISA's variant, FC_ERR_ISA_UNAVAILABLE if
 * this CPU lacks it, FC_ERR_INVALID_ARGUMENT for a buffer packed for other channels or kernel
 * size. apply's workspace (bias and packed input) is apply_workspace_size(d, packed) bytes.
 * Results are bit-identical to the one-call form on the same ISA and thread count.
 * fc_profile: pack adds kernel_transform; apply input_transform and multiply. */
size_t fc_f32_conv2d_direct_blocked_packed_size(const fc_conv2d_desc *d);
size_t fc_f64_conv2d_direct_blocked_packed_size(const fc_conv2d_desc *d);
fc_status fc_f32_conv2d_direct_blocked_pack(const fc_conv2d_desc *d, const float *w, void *packed,
                                            size_t packed_bytes);
fc_status fc_f64_conv2d_direct_blocked_pack(const fc_conv2d_desc *d, const double *w,
                                            void *packed, size_t packed_bytes);
size_t fc_f32_conv2d_direct_blocked_apply_workspace_size(const fc_conv2d_desc *d,
                                                         const void *packed);
size_t fc_f64_conv2d_direct_blocked_apply_workspace_size(const fc_conv2d_desc *d,
                                                         const void *packed);
fc_status fc_f32_conv2d_direct_blocked_apply(const fc_conv2d_desc *d, const void *packed,
                                             const float *x, const float *bias, float *y,
                                             void *workspace, size_t workspace_bytes);
fc_status fc_f64_conv2d_direct_blocked_apply(const fc_conv2d_desc *d, const void *packed,
                                             const double *x, const double *bias, double *y,
                                             void *workspace, size_t workspace_bytes);

/* depthwise: groups == c_in, c_out = multiplier x c_in (a 1 -> 1 convolution, image
 * filtering, is the one-channel case); any layout, stride, dilation, kernel size; no workspace.
 * fc_*_conv2d_direct hands such problems here. FC_ERR_UNSUPPORTED when groups != c_in. bias
 * may be NULL; every element of y is written (y is never read). */
fc_status fc_f32_conv2d_depthwise(const fc_conv2d_desc *d, const float *x, const float *w,
                                  const float *bias, float *y);
fc_status fc_f64_conv2d_depthwise(const fc_conv2d_desc *d, const double *x, const double *w,
                                  const double *bias, double *y);

/* ==== GEMM and im2col ===================================================================
 * BLIS-style GEMM: C := alpha * A * B + beta * C with A (m x k), B (k x n), C (m x n), each
 * given by element strides (rs: between rows, cs: between columns; any sign, any order, so
 * row-major, column-major and transposed views go in as they are). beta == 0 never reads C
 * (NaN in C does not propagate). The workspace holds the packed panels: query its size with
 * the same m, n, k and nthreads, and pass a buffer at least that large (64-byte alignment is
 * best; the kernel aligns inside it). The active ISA (fc_active_isa) picks the microkernel
 * and its block sizes at the call; query the size after any fc_set_isa_limit. */

/* Register tile and cache blocks of one ISA's microkernel (see the table in gemm.c). */
typedef struct fc_gemm_blocking {
    int64_t mr, nr; /* microkernel tile: rows of A, columns of B */
    int64_t mc, kc, nc; /* cache blocks: packed A is mc x kc (L2), packed B kc x nc (L3) */
} fc_gemm_blocking;

fc_status fc_f32_gemm_blocking(fc_isa isa, fc_gemm_blocking *out);
fc_status fc_f64_gemm_blocking(fc_isa isa, fc_gemm_blocking *out);
/* Replaces the cache blocks (mc, kc, nc) of one ISA's table entry; mr and nr must equal the
 * microkernel's (as fc_*_gemm_blocking reports them). mc is rounded down to a multiple of mr
 * and nc to a multiple of nr; FC_ERR_INVALID_ARGUMENT unless 1 <= kc <= 65536, mr <= mc <=
 * 65536 and nr <= nc <= 1 << 20. Results do not depend on the blocks beyond rounding order.
 * Query workspace sizes after the last change; not to be called while a kernel runs. */
fc_status fc_f32_set_gemm_blocking(fc_isa isa, const fc_gemm_blocking *blk);
fc_status fc_f64_set_gemm_blocking(fc_isa isa, const fc_gemm_blocking *blk);

size_t fc_f32_gemm_workspace_size(int64_t m, int64_t n, int64_t k, int nthreads);
size_t fc_f64_gemm_workspace_size(int64_t m, int64_t n, int64_t k, int nthreads);

fc_status fc_f32_gemm(int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t rsa, int64_t csa,
                      const float *b, int64_t rsb, int64_t csb, float beta,
                      float *c, int64_t rsc, int64_t csc, int nthreads, void *ws, size_t ws_bytes);
fc_status fc_f64_gemm(int64_t m, int64_t n, int64_t k, double alpha,
                      const double *a, int64_t rsa, int64_t csa,
                      const double *b, int64_t rsb, int64_t csb, double beta,
                      double *c, int64_t rsc, int64_t csc, int nthreads, void *ws, size_t ws_bytes);

/* One microkernel call, for tests: C := alpha * A * B + beta * C on an m x n (<= mr x nr) tile,
 * from packed panels (a: k columns of mr values, b: k rows of nr values).
 * FC_ERR_ISA_UNAVAILABLE when this CPU cannot run `isa`. */
fc_status fc_f32_gemm_ukernel(fc_isa isa, int64_t k, const float *a_packed,
                              const float *b_packed, float alpha, float beta, float *c,
                              int64_t rsc, int64_t csc, int64_t m, int64_t n);
fc_status fc_f64_gemm_ukernel(fc_isa isa, int64_t k, const double *a_packed,
                              const double *b_packed, double alpha, double beta, double *c,
                              int64_t rsc, int64_t csc, int64_t m, int64_t n);

/* im2col: lowers the (c_in/groups*kh*kw) x (columns) patch matrix into the workspace (straight
 * in the GEMM's packed layout), then one GEMM per group and block of columns. A block is a
 * run of output rows: about L2-sized (at least 256 columns), whole images when an image is
 * smaller (so a batch makes one product, not N tiny ones), and within the budget. A 1x1,
 * stride-1, unpadded problem whose input rows are contiguous lowers nothing: x is the GEMM's
 * B as it lies. The size query answers the workspace for that block under budget_bytes (at
 * least one output row, whatever the budget); the kernel uses the largest such block the
 * workspace it is given allows. bias may be NULL. Every element of y is written, never read. */
size_t fc_f32_conv2d_im2col_workspace_size(const fc_conv2d_desc *d, size_t budget_bytes);
size_t fc_f64_conv2d_im2col_workspace_size(const fc_conv2d_desc *d, size_t budget_bytes);
fc_status fc_f32_conv2d_im2col(const fc_conv2d_desc *d, const float *x, const float *w,
                               const float *bias, float *y, void *ws, size_t ws_bytes);
fc_status fc_f64_conv2d_im2col(const fc_conv2d_desc *d, const double *x, const double *w,
                               const double *bias, double *y, void *ws, size_t ws_bytes);

/* ==== FFT: csrc/fft*.c, csrc/conv_fft*.c ====================================================
 * Own FFT: mixed radix 8/4/2/3/5 Stockham passes (any other prime by a generic O(p^2) pass),
 * vectorised across VL independent transforms, twiddles computed in double and stored in the
 * working dtype inside a plan. The raw transforms below exist for tests and experiments (one
 * thread); they build their plan in the workspace on every call. Arrays are C-contiguous;
 * complex arrays are interleaved (re, im) pairs, numpy's complex64 / complex128. */

/* Workspace bytes of a raw transform: kind 0 complex 1-D (length n0), 1 real 1-D (n0),
 * 2 real 2-D (n0 x n1, n0 even); dtype_bytes 4 or 8. 0 for invalid arguments. */
size_t fc_fft_workspace_size(int kind, int64_t n0, int64_t n1, int dtype_bytes);
/* x, y: (howmany, n) complex; inverse != 0: backward transform scaled by 1/n (numpy.fft.ifft). */
fc_status fc_f32_cfft(int64_t n, int64_t howmany, const float *x, float *y, int inverse,
                      void *ws, size_t ws_bytes);
fc_status fc_f64_cfft(int64_t n, int64_t howmany, const double *x, double *y, int inverse,
                      void *ws, size_t ws_bytes);
/* x (howmany, n) real -> y (howmany, n/2 + 1) complex (numpy.fft.rfft), and back, scaled by
 * 1/n, imaginary parts of bins 0 and n/2 ignored (numpy.fft.irfft). */
fc_status fc_f32_rfft(int64_t n, int64_t howmany, const float *x, float *y, void *ws,
                      size_t ws_bytes);
fc_status fc_f64_rfft(int64_t n, int64_t howmany, const double *x, double *y, void *ws,
                      size_t ws_bytes);
fc_status fc_f32_irfft(int64_t n, int64_t howmany, const float *x, float *y, void *ws,
                       size_t ws_bytes);
fc_status fc_f64_irfft(int64_t n, int64_t howmany, const double *x, double *y, void *ws,
                       size_t ws_bytes);
/* x (h, w) real, h even -> y (h/2 + 1, w) complex: the half spectrum along axis 0, as the
 * convolution computes it (numpy.fft.rfftn(x, axes=(1, 0))); irfft2 inverts it, scaled. */
fc_status fc_f32_rfft2(int64_t h, int64_t w, const float *x, float *y, void *ws,
                       size_t ws_bytes);
fc_status fc_f64_rfft2(int64_t h, int64_t w, const double *x, double *y, void *ws,
                       size_t ws_bytes);
fc_status fc_f32_irfft2(int64_t h, int64_t w, const float *x, float *y, void *ws,
                        size_t ws_bytes);
fc_status fc_f64_irfft2(int64_t h, int64_t w, const double *x, double *y, void *ws,
                        size_t ws_bytes);

/* FFT convolution (overlap-save tiles, per-bin channel contraction). Three steps, so that a
 * plan object can keep the first two: (1) plan: tile sizes and root tables, in caller memory;
 * (2) kernel spectra: the transformed weight (ISA-specific layout; valid for this plan only);
 * (3) apply: transforms of x, contraction, inverse transforms, bias. Sizes come from
 * fc_fft_conv_sizes (workspace for nthreads = d->nthreads, enough for steps 2 and 3); plan,
 * spectra and workspace must be 64-byte aligned. tile_h = tile_w = 0 lets the cost model choose;
 * explicit tiles (tests, tuning) must be even and cover the dilated kernel (tile_h is ignored for
 * conv1d problems: h = kh = h_out = 1, no top padding). mode (2-D problems): -1 the cost
 * model's choice, 0 the stages of one tile at a time shared by all threads, 1 whole tiles per
 * thread. Each step checks that d describes the problem the plan was made for (strides may
 * differ between calls). NaN or Inf anywhere in a
 * tile's input or in the weight spoils every output of that tile (and, through the kernel
 * spectra, of the whole output): see docs/numerics.md. */
fc_status fc_fft_conv_choose_tiles(const fc_conv2d_desc *d, int dtype_bytes, int64_t *tile_h,
                                   int64_t *tile_w);
/* The cost model's estimate (ns) for a tiling, negative when the tiling is invalid. */
double fc_fft_conv_cost(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile_h,
                        int64_t tile_w);
fc_status fc_fft_conv_sizes(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile_h,
                            int64_t tile_w, int mode, size_t *plan_bytes, size_t *spectra_bytes,
                            size_t *ws_bytes);
fc_status fc_f32_conv2d_fft_plan(const fc_conv2d_desc *d, int64_t tile_h, int64_t tile_w,
                                 int mode, void *plan, size_t plan_bytes);
fc_status fc_f64_conv2d_fft_plan(const fc_conv2d_desc *d, int64_t tile_h, int64_t tile_w,
                                 int mode, void *plan, size_t plan_bytes);
fc_status fc_f32_conv2d_fft_kernel_spectra(const void *plan, const fc_conv2d_desc *d,
                                           const float *w, void *spectra, size_t spectra_bytes,
                                           void *ws, size_t ws_bytes);
fc_status fc_f64_conv2d_fft_kernel_spectra(const void *plan, const fc_conv2d_desc *d,
                                           const double *w, void *spectra,
                                           size_t spectra_bytes, void *ws, size_t ws_bytes);
fc_status fc_f32_conv2d_fft_apply(const void *plan, const fc_conv2d_desc *d, const void *spectra,
                                  const float *x, const float *bias, float *y, void *ws,
                                  size_t ws_bytes);
fc_status fc_f64_conv2d_fft_apply(const void *plan, const fc_conv2d_desc *d, const void *spectra,
                                  const double *x, const double *bias, double *y, void *ws,
                                  size_t ws_bytes);
/* Steps 2 and 3 in one parallel region (one fork-join), for calls without a cached plan. */
fc_status fc_f32_conv2d_fft(const void *plan, const fc_conv2d_desc *d, const float *w,
                            const float *x, const float *bias, float *y, void *spectra,
                            size_t spectra_bytes, void *ws, size_t ws_bytes);
fc_status fc_f64_conv2d_fft(const void *plan, const fc_conv2d_desc *d, const double *w,
                            const double *x, const double *bias, double *y, void *spectra,
                            size_t spectra_bytes, void *ws, size_t ws_bytes);

/* ==== machine microbenchmarks: csrc/machine_peak.c =========================================
 * What the roofline's ceilings and "fraction of peak" figures are measured with. Both run
 * nthreads parts on the kernels' thread pool, equal work each, and report the work done and
 * the threads' mean CPU seconds in the loop (CLOCK_THREAD_CPUTIME_ID where the platform has it,
 * so time slices the OS gives to other processes on a shared machine do not count; wall time
 * otherwise): work / seconds is the sum of the threads' rates. The caller turns them into
 * GFLOP/s and GB/s and keeps the best of a few runs. */

/* FMA throughput on `isa`'s widest float32 vectors: every thread runs `iterations` rounds of
 * 12 independent multiply-add chains (more than FMA latency x issue width: 4 x 2 on Zen,
 * 4 x 2 on Skylake-X).
 * *flops: 2 x lanes x chains x iterations x threads. FC_ERR_ISA_UNAVAILABLE when this CPU
 * cannot run `isa`. The scalar variant has no FMA instruction on baseline x86-64: it counts a
 * separate multiply and add as two flops, as the direct definition does. */
fc_status fc_f32_fma_peak(fc_isa isa, int64_t iterations, int nthreads, double *flops,
                          double *seconds);
/* Streaming triad a[i] = b[i] + s c[i] over n floats, `repeats` passes split across threads
 * (static schedule, so each thread streams its own contiguous part). *bytes counts 12 n per pass
 * (two reads, one write: the STREAM convention, write-allocate traffic not counted). */
fc_status fc_f32_stream_triad(float *a, const float *b, const float *c, int64_t n,
                              int64_t repeats, int nthreads, double *bytes, double *seconds);

/* ==== Winograd: csrc/winograd*.c ===========================================================
 * F(m x m, 3x3) (Lavin and Gray 2016), m = 4 (points 0, +-1, +-2) or 2 (points 0, +-1): 3x3
 * kernels, stride 1, dilation 1, any padding, groups, batches, any strides (NCHW, NHWC). tile:
 * the output tile side m, 2 or 4, or 0 for the kernel's rule (winograd.c, measured per layer).
 * Tiles of m x m outputs go in blocks of block_tiles (0: the kernel's rule, an L2/L3-sized
 * block; tests pass small ones to get many blocks): input transform, (m + 2)^2 channel
 * products, output transform with bias, per block. Two steps, so that a plan object can keep
 * the first: (1) kernel transform: the transformed weight (a header and an ISA- and tile-
 * specific layout, valid for problems with these channels and groups, on the ISA active when
 * it was made; apply takes the tile size from it); (2) apply. Sizes come from
 * fc_winograd_conv_sizes (for the active ISA and the same tile and block_tiles); the kernel
 * buffer must be 64-byte aligned. Every element of y is written, never read; bias may be NULL.
 * FC_ERR_UNSUPPORTED for any other kernel size, stride or dilation. fc_profile: the kernel
 * transform, then input_transform, multiply and output_transform (each summed over blocks).
 * The one-call form fuses the kernel transform into the multiply stage when U exceeds L2 and
 * all tiles form one block (batch 1, few tiles: U would go to memory and back once); the
 * kernel buffer is then not touched and the transform's time counts in multiply. */
/* The output tile side (2 or 4) that a call with this tile argument uses: tile itself, or for
 * 0 the kernel's rule (the smaller of two counts of products and transform passes, measured
 * per layer: F(2x2) where tiles are few, e.g. 7 x 7 images up to batch 2). */
fc_status fc_winograd_output_tile(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile,
                                  int64_t *m);
fc_status fc_winograd_conv_sizes(const fc_conv2d_desc *d, int dtype_bytes, int64_t tile,
                                 int64_t block_tiles, size_t *kernel_bytes, size_t *ws_bytes);
fc_status fc_f32_conv2d_winograd_kernel_transform(const fc_conv2d_desc *d, const float *w,
                                                  int64_t tile, void *kernel,
                                                  size_t kernel_bytes);
fc_status fc_f64_conv2d_winograd_kernel_transform(const fc_conv2d_desc *d, const double *w,
                                                  int64_t tile, void *kernel,
                                                  size_t kernel_bytes);
fc_status fc_f32_conv2d_winograd_apply(const fc_conv2d_desc *d, const void *kernel,
                                       const float *x, const float *bias, float *y,
                                       int64_t block_tiles, void *ws, size_t ws_bytes);
fc_status fc_f64_conv2d_winograd_apply(const fc_conv2d_desc *d, const void *kernel,
                                       const double *x, const double *bias, double *y,
                                       int64_t block_tiles, void *ws, size_t ws_bytes);
/* Both steps in one call, for calls without a cached kernel transform. */
fc_status fc_f32_conv2d_winograd(const fc_conv2d_desc *d, const float *w, const float *x,
                                 const float *bias, float *y, int64_t tile, int64_t block_tiles,
                                 void *kernel, size_t kernel_bytes, void *ws, size_t ws_bytes);
fc_status fc_f64_conv2d_winograd(const fc_conv2d_desc *d, const double *w, const double *x,
                                 const double *bias, double *y, int64_t tile,
                                 int64_t block_tiles, void *kernel, size_t kernel_bytes,
                                 void *ws, size_t ws_bytes);

#endif /* FASTCONV_H */
