/* The FFT convolution drivers, written once, included after fft_impl.h by fft_<dtype>_<isa>.c.
 *
 * Overlap-save (fft_internal.h): the problem is solved at stride 1 on "full" output positions
 * and subsampled; the kernel is zero-stuffed for dilation; its spectrum is conjugated (the
 * convolution is a cross-correlation) and carries the 1/(th tw) of the inverse transform.
 * Per tile: forward transforms of the cg input channels of a group, the channel contraction
 * Y_k = sum_c W_kc X_c per frequency bin (a complex (kg x cg) matrix times the (cg) vector of
 * every bin: C_in + C_out transforms, never C_in x C_out), inverse transforms of the kg outputs.
 *
 * Threads: fc_parallel_for (parallel.h) over item-sized jobs; a step is one or more calls, each
 * over when its last chunk is, and no job ever waits for another thread:
 *  - dims 1: lane groups (VL tiles each) are the jobs;
 *  - dims 2, mode 1 (tile-parallel): whole tiles are jobs, each run with its thread's tile buffer
 *    and spectra; one call for all tiles, which a thread that loses its core holds up by at
 *    most the tile it is on;
 *  - dims 2, mode 0 (work-shared): a serial loop over tiles on the calling thread, each stage of
 *    a tile one call over its items (column blocks, frequency-row blocks, bins), for problems
 *    with fewer tiles than threads.
 * The kernel spectra are complete before apply starts (their own calls first in conv2d_fft).
 * The cost model (conv_fft.c) picks the tiles and the mode. */
#include <string.h>

/* ---- fc_profile phases -------------------------------------------------------------------
 * Every chunk of a stage adds the seconds of its work to the phase sums of the thread running
 * it: forward transforms of x (input_transform), kernel spectra (kernel_transform), the per-bin
 * products (multiply), inverse transforms, crop and bias (output_transform). Waits (for a stage's
 * last chunk, for the next stage to start) are left out. After the call the caller adds up the
 * threads' sums and splits the call's wall time among the phases in proportion to them, so the
 * phases add up to fc_profile.total and read as wall time, whatever the threads overlapped.
 * Every clock operation is one branch when d->profile is NULL. */
#ifndef FC_CONV_FFT_PHASE_CLOCK
#define FC_CONV_FFT_PHASE_CLOCK
enum { PH_INPUT, PH_KERNEL, PH_MULTIPLY, PH_OUTPUT, PH_COUNT };

/* One thread's phase sums in a call, a cache line of its own. fc_parallel_for gives no two
 * running chunks the same thread index, so a slot has one writer at a time and needs no atomics;
 * the caller reads the slots after the last call, which returns only when every chunk is done. */
typedef struct phase_slot {
    double sum[PH_COUNT];
} __attribute__((aligned(64))) phase_slot;

/* The pool runs at most FC_PARALLEL_MAX_THREADS threads, so calls ask for no more and a
 * call's slots fit on the caller's stack. */
static int call_threads(const fc_conv2d_desc *d) {
    return FC_MAX(1, FC_MIN(d->nthreads, FC_PARALLEL_MAX_THREADS));
}

/* A chunk's clock: the running thread's slot (NULL: not profiling) and the last mark. */
typedef struct phase_clock {
    double *sum;
    double t;
} phase_clock;

/* a chunk starts on thread `thread`: what came before it (a wait) belongs to no phase */
static inline void pc_start(phase_clock *pc, phase_slot *slots, int thread) {
    pc->sum = slots ? slots[thread].sum : NULL;
    pc->t = slots ? fc_now() : 0;
}

/* the time since the last mark or start was spent in phase ph */
static inline void pc_mark(phase_clock *pc, int ph) {
    if (pc->sum) {
        const double now = fc_now();
        pc->sum[ph] += now - pc->t;
        pc->t = now;
    }
}

/* The slots of a call on nt threads, zeroed; NULL when not profiling. */
static phase_slot *pc_slots(const fc_conv2d_desc *d, phase_slot *slots, int nt) {
    if (!d->profile) return NULL;
    for (int i = 0; i < nt; i++)
        for (int ph = 0; ph < PH_COUNT; ph++) slots[i].sum[ph] = 0;
    return slots;
}

static void pc_finish(const fc_conv2d_desc *d, const phase_slot *slots, int nt, double t0) {
    if (!d->profile) return;
    fc_profile *prof = d->profile;
    const double wall = fc_now() - t0;
    double sums[PH_COUNT] = {0};
    for (int i = 0; i < nt; i++)
        for (int ph = 0; ph < PH_COUNT; ph++) sums[ph] += slots[i].sum[ph];
    const double all = sums[PH_INPUT] + sums[PH_KERNEL] + sums[PH_MULTIPLY] + sums[PH_OUTPUT];
    if (all > 0) {
        prof->input_transform += wall * sums[PH_INPUT] / all;
        prof->kernel_transform += wall * sums[PH_KERNEL] / all;
        prof->multiply += wall * sums[PH_MULTIPLY] / all;
        prof->output_transform += wall * sums[PH_OUTPUT] / all;
    }
    prof->total += wall;
    prof->calls += 1;
}
#endif

/* ---- workspace layout ---------------------------------------------------------------------- */
/* Per-thread scratch of the 2-D stages: g (packed samples), R (rows of a column block), a, b
 * (cfft ping-pong), gt (generic-pass scratch), each `most` vc. */
static int64_t thr_most(const fc_fft_conv_plan *p) {
    if (p->dims == 2)
        return FC_MAX(FC_MAX(p->th / 2 + 1, p->nkhb * VL), p->tw) + 2;
    return p->tw / 2 + 2;
}
/* vc of a tile buffer (tile-parallel mode): th rows of ncb VL samples */
static int64_t tile_vc(const fc_fft_conv_plan *p) { return fc_div_up(p->th * p->ncb, 2); }

static int64_t thr_vc(const fc_fft_conv_plan *p) {
    const int64_t most = thr_most(p);
    const int64_t gen = FC_MAX(FC_MAX(p->ax_h.half.maxgen, p->ax_dec.half.maxgen),
                               FC_MAX(p->ax_w.maxgen, p->ax_1d.half.maxgen));
    int64_t vc = fc_round_up(4 * most + gen, 2);
    if (p->dims == 1) vc += (p->cg + p->kg) * (p->tw / 2 + 1); /* X, Y per thread */
    if (p->dims == 2 && p->mode == 1) vc += (p->cg + p->kg) * p->spec_vc + tile_vc(p);
    return vc;
}

/* The scratch of thread `thread` (fc_parallel_for's index, < d->nthreads): the same region in
 * the spectra step and in apply. Mode 0 keeps the shared X and Y spectra in front. */
static FT *thread_scratch(const fc_fft_conv_plan *p, FT *ws, int thread) {
    const int64_t shared = (p->dims == 2 && p->mode == 0) ? (p->cg + p->kg) * p->spec_vc : 0;
    return ws + (shared + (int64_t)thread * thr_vc(p)) * VCF;
}

#define PLAN_ROOTS(p) ((const FT *)((const char *)(p) + (p)->data_off))

/* The kernel spectra step of a call (both dims): the context of its fc_parallel_for calls. */
typedef struct spectra_job {
    const fc_fft_conv_plan *p;
    const fc_conv2d_desc *d;
    const FT *w;
    FT *spec, *ws;
    phase_slot *slots; /* NULL: not profiling */
} spectra_job;

/* ---- 2-D gathers and scatters ---------------------------------------------------------------
 * A column block of a tile: columns j0 .. j0+VL-1 (lanes) of rows 0 .. th-1, packed as th/2 vc
 * (rows 2i and 2i+1 are the real and imaginary parts of element i). Tile (i, j) is source
 * (r0 + i, c0 + j); outside [0, sh) x [0, sw) reads as 0. */
static void gather_block(FT *g, int64_t th, const FT *src, int64_t rs, int64_t cs, int64_t sh,
                         int64_t sw, int64_t r0, int64_t c0) {
    const int fast = cs == 1 && c0 >= 0 && c0 + VL <= sw;
    for (int64_t m = 0; m < th; m++) {
        FT *e = g + (m / 2) * VCF + (m % 2) * VL;
        const int64_t r = r0 + m;
        if (r < 0 || r >= sh) {
            VSTORE(e, VZERO());
        } else if (fast) {
            VSTORE(e, VLOADU(src + r * rs + c0));
        } else {
            for (int l = 0; l < VL; l++) {
                const int64_t c = c0 + l;
                e[l] = (c >= 0 && c < sw) ? src[r * rs + c * cs] : (FT)0;
            }
        }
    }
}

/* The kernel as a tile: tap (r, s) at tile (r dil_h, s dil_w), zeros elsewhere (zero-stuffed). */
static void gather_kernel_block(FT *g, int64_t th, const FT *w, const fc_conv2d_desc *d,
                                int64_t j0) {
    for (int64_t m = 0; m < th; m++) {
        FT *e = g + (m / 2) * VCF + (m % 2) * VL;
        for (int l = 0; l < VL; l++) {
            const int64_t j = j0 + l;
            FT v = 0;
            if (m % d->dil_h == 0 && j % d->dil_w == 0 && m / d->dil_h < d->kh &&
                j / d->dil_w < d->kw)
                v = w[(m / d->dil_h) * d->w_stride[2] + (j / d->dil_w) * d->w_stride[3]];
            e[l] = v;
        }
    }
}

/* Rows 0 .. nrows-1 of a column block (packed in g, lanes = columns j0 ..) to the output: tile
 * (i, j) is full position (P0h + i, P0w + j), kept when it is a multiple of the stride. */
static void scatter_block(const FT *g, int64_t nrows, int64_t ncols, FT *y, const int64_t *ys,
                          int64_t sh, int64_t sw, int64_t P0h, int64_t P0w, FT bias) {
    const int fast = sw == 1 && ys[3] == 1 && ncols == VL;
    const V bv = VSET1(bias);
    for (int64_t m = 0; m < nrows; m++) {
        const int64_t P = P0h + m;
        if (P % sh) continue;
        const FT *e = g + (m / 2) * VCF + (m % 2) * VL;
        FT *yr = y + (P / sh) * ys[2];
        if (fast) {
            VSTOREU(yr + P0w, VADD(VLOAD(e), bv));
        } else {
            for (int64_t l = 0; l < ncols; l++) {
                const int64_t Q = P0w + l;
                if (Q % sw == 0) yr[(Q / sw) * ys[3]] = e[l] + bias;
            }
        }
    }
}

/* ---- contractions ----------------------------------------------------------------------------
 * Kernel spectra are stored bin-major: for every bin, the group's (kg x cg) complex matrix is
 * contiguous, so the contraction is one complex matrix product per bin that streams the spectra
 * linearly. Four output channels per step keep 8 accumulators in registers: per input channel,
 * 2 loads of X and 8 of W feed 16 FMAs. */
#define KB 4

/* 2-D: every lane its own bin. W: [i][k][c] vc; X: [c][i]; Y: [k][i] (vc, i < svc). */
static void contract_2d(int64_t i0, int64_t i1, int64_t cg, int64_t kg, int64_t svc,
                        const FT *W, const FT *X, FT *Y) {
    for (int64_t i = i0; i < i1; i++) {
        const FT *wi0 = W + i * kg * cg * VCF, *xb = X + i * VCF;
        int64_t k = 0;
        for (; k + KB <= kg; k += KB) {
            V ar[KB], ai[KB];
            for (int u = 0; u < KB; u++) ar[u] = ai[u] = VZERO();
            for (int64_t c = 0; c < cg; c++) {
                const V xr = VLOAD(xb + c * svc * VCF), xi = VLOAD(xb + c * svc * VCF + VL);
                const FT *wp = wi0 + (k * cg + c) * VCF;
                for (int u = 0; u < KB; u++) {
                    const V wr = VLOAD(wp + u * cg * VCF), wim = VLOAD(wp + u * cg * VCF + VL);
                    ar[u] = VFMA(wr, xr, VFNMA(wim, xi, ar[u]));
                    ai[u] = VFMA(wr, xi, VFMA(wim, xr, ai[u]));
                }
            }
            for (int u = 0; u < KB; u++) {
                VSTORE(Y + ((k + u) * svc + i) * VCF, ar[u]);
                VSTORE(Y + ((k + u) * svc + i) * VCF + VL, ai[u]);
            }
        }
        for (; k < kg; k++) {
            V ar = VZERO(), ai = VZERO();
            for (int64_t c = 0; c < cg; c++) {
                const V xr = VLOAD(xb + c * svc * VCF), xi = VLOAD(xb + c * svc * VCF + VL);
                const FT *wp = wi0 + (k * cg + c) * VCF;
                const V wr = VLOAD(wp), wim = VLOAD(wp + VL);
                ar = VFMA(wr, xr, VFNMA(wim, xi, ar));
                ai = VFMA(wr, xi, VFMA(wim, xr, ai));
            }
            VSTORE(Y + (k * svc + i) * VCF, ar);
            VSTORE(Y + (k * svc + i) * VCF + VL, ai);
        }
    }
}

/* 1-D: the lanes are tiles, W is one complex number per (bin, k, c), broadcast.
 * W: [bin][k][c] complex; X: [c][bin] vc; Y: [k][bin] vc (bin < nb). */
static void contract_1d(int64_t nb, int64_t cg, int64_t kg, const FT *W, const FT *X, FT *Y) {
    for (int64_t b = 0; b < nb; b++) {
        const FT *wb = W + 2 * b * kg * cg, *xb = X + b * VCF;
        int64_t k = 0;
        for (; k + KB <= kg; k += KB) {
            V ar[KB], ai[KB];
            for (int u = 0; u < KB; u++) ar[u] = ai[u] = VZERO();
            for (int64_t c = 0; c < cg; c++) {
                const V xr = VLOAD(xb + c * nb * VCF), xi = VLOAD(xb + c * nb * VCF + VL);
                const FT *wp = wb + 2 * (k * cg + c);
                for (int u = 0; u < KB; u++) {
                    const V wr = VSET1(wp[2 * u * cg]), wim = VSET1(wp[2 * u * cg + 1]);
                    ar[u] = VFMA(wr, xr, VFNMA(wim, xi, ar[u]));
                    ai[u] = VFMA(wr, xi, VFMA(wim, xr, ai[u]));
                }
            }
            for (int u = 0; u < KB; u++) {
                VSTORE(Y + ((k + u) * nb + b) * VCF, ar[u]);
                VSTORE(Y + ((k + u) * nb + b) * VCF + VL, ai[u]);
            }
        }
        for (; k < kg; k++) {
            V ar = VZERO(), ai = VZERO();
            for (int64_t c = 0; c < cg; c++) {
                const V xr = VLOAD(xb + c * nb * VCF), xi = VLOAD(xb + c * nb * VCF + VL);
                const V wr = VSET1(wb[2 * (k * cg + c)]), wim = VSET1(wb[2 * (k * cg + c) + 1]);
                ar = VFMA(wr, xr, VFNMA(wim, xi, ar));
                ai = VFMA(wr, xi, VFMA(wim, xr, ai));
            }
            VSTORE(Y + (k * nb + b) * VCF, ar);
            VSTORE(Y + (k * nb + b) * VCF + VL, ai);
        }
    }
}
#undef KB

/* ---- 2-D kernel spectra --------------------------------------------------------------------- */
/* spectra: per group, spec_vc bins of a (kg x cg) block of vc: [g][i][k][c]. Pair s = (g kg + k)
 * cg + c starts at pair_spectrum(s); its bins are kg cg vc apart. */
static FT *pair_spectrum(const fc_fft_conv_plan *p, FT *spec, int64_t s) {
    const int64_t per_group = p->kg * p->cg, g = s / per_group;
    return spec + (g * p->spec_vc * per_group + s % per_group) * VCF;
}

/* Per-thread 2-D transform buffers and the running chunk's phase clock. */
typedef struct thr2d {
    FT *g, *R, *a, *b, *gt;
    phase_clock *pc;
} thr2d;

/* Thread `thread`'s buffers for a chunk, with R's rows past th/2 zeroed: they fill the last
 * frequency block's spare lanes, which tr_store reads and the real transforms never write. Any
 * thread may run any chunk, and other jobs fill R whole (tr_load), so every chunk zeroes them
 * (fewer than VL vc). */
static thr2d thread_2d(const fc_fft_conv_plan *p, FT *ws, int thread, phase_clock *pc) {
    const int64_t most = thr_most(p);
    thr2d t;
    t.g = thread_scratch(p, ws, thread);
    t.R = t.g + most * VCF;
    t.a = t.R + most * VCF;
    t.b = t.a + most * VCF;
    t.gt = t.b + most * VCF;
    t.pc = pc;
    for (int64_t q = p->th / 2 + 1; q < p->nkhb * VL; q++) vc_zero(t.R + q * VCF);
    return t;
}

/* Items [i0, i1) of the H pass: item idx is column block idx % ncb of pair idx / ncb, the real
 * transform of the kernel's columns there, or zeros for a block past the kernel's taps. */
static void spectra_2d_cols(void *ctx, int64_t i0, int64_t i1, int thread) {
    const spectra_job *job = (const spectra_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const fc_conv2d_desc *d = job->d;
    const FT *roots = PLAN_ROOTS(p);
    const int64_t nkhb = p->nkhb, ncb = p->ncb;
    const int64_t ncb_k = fc_div_up(p->kew, VL); /* blocks holding kernel taps */
    const int64_t es = p->kg * p->cg;            /* pairs interleaved bin by bin */
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    const thr2d t = thread_2d(p, job->ws, thread, &pc);
    for (int64_t idx = i0; idx < i1; idx++) {
        const int64_t s = idx / ncb, cb = idx % ncb, j0 = cb * VL;
        const int64_t ncols = FC_MIN(VL, p->tw - j0), oc = s / p->cg, c = s % p->cg;
        FT *S = pair_spectrum(p, job->spec, s) + j0 * nkhb * es * VCF;
        if (cb >= ncb_k) {
            for (int64_t e = 0; e < ncols * nkhb; e++) vc_zero(S + e * es * VCF);
        } else {
            gather_kernel_block(t.g, p->th, job->w + oc * d->w_stride[0] + c * d->w_stride[1],
                                d, j0);
            rfft_run(&p->ax_h, roots, t.g, t.R, t.a, t.b, t.gt);
            for (int64_t khb = 0; khb < nkhb; khb++) tr_store(t.R, S, nkhb, khb, ncols, es);
        }
    }
    pc_mark(&pc, PH_KERNEL);
}

/* Items [i0, i1) of the W pass: item idx is frequency-row block idx % nkhb of pair idx / nkhb,
 * transformed in place, conjugated (correlation) and scaled (the inverse transforms' 1/(th tw)). */
static void spectra_2d_rows(void *ctx, int64_t i0, int64_t i1, int thread) {
    const spectra_job *job = (const spectra_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const FT *roots = PLAN_ROOTS(p);
    const int64_t nkhb = p->nkhb, es = p->kg * p->cg;
    const FT scale = (FT)1 / (FT)(p->th * p->tw);
    const V sr = VSET1(scale), si = VSET1(-scale);
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    const thr2d t = thread_2d(p, job->ws, thread, &pc);
    for (int64_t idx = i0; idx < i1; idx++) {
        const int64_t s = idx / nkhb, khb = idx % nkhb;
        FT *S = pair_spectrum(p, job->spec, s) + khb * es * VCF;
        cfft_vc(&p->ax_w, roots, S, nkhb * es, S, nkhb * es, t.a, t.b, t.gt, 0);
        for (int64_t j = 0; j < p->tw; j++) {
            FT *e = S + j * nkhb * es * VCF;
            VSTORE(e, VMUL(VLOAD(e), sr));
            VSTORE(e + VL, VMUL(VLOAD(e + VL), si));
        }
    }
    pc_mark(&pc, PH_KERNEL);
}

/* The W pass reads all of a pair's column blocks: it starts when the H pass is done. Items are
 * single transforms of one vc block, so a few chunks per thread. */
static void spectra_2d(spectra_job *job, int nt) {
    const fc_fft_conv_plan *p = job->p;
    const int64_t npairs = p->groups * p->kg * p->cg;
    const int64_t ncol = npairs * p->ncb, nrow = npairs * p->nkhb;
    fc_parallel_for(nt, ncol, fc_parallel_grain(ncol, nt, 1), spectra_2d_cols, job);
    fc_parallel_for(nt, nrow, fc_parallel_grain(nrow, nt, 1), spectra_2d_rows, job);
}

/* ---- 2-D apply --------------------------------------------------------------------------- */
/* One tile of one image and group: where it sits and what it reads and writes. */
typedef struct tile2d {
    int64_t P0h, P0w;   /* first full output position */
    int64_t vh, vw;     /* valid full outputs in this tile */
    int64_t r0, c0;     /* input position of tile sample (0, 0) */
    int64_t grp, bn;
    const FT *x;        /* x[bn, grp * cg] */
    FT *y;              /* y[bn, grp * kg] */
    const FT *W;        /* the group's kernel spectra */
} tile2d;

static tile2d tile_at(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *spec,
                      const FT *x, FT *y, int64_t tile) {
    tile2d T;
    const int64_t tx = tile % p->ntx, ty = (tile / p->ntx) % p->nty;
    const int64_t rest = tile / (p->ntx * p->nty);
    T.grp = rest % p->groups;
    T.bn = rest / p->groups;
    T.P0h = ty * p->vh;
    T.P0w = tx * p->vw;
    T.vh = FC_MIN(p->vh, p->full_h - T.P0h);
    T.vw = FC_MIN(p->vw, p->full_w - T.P0w);
    T.r0 = T.P0h - p->pad_top;
    T.c0 = T.P0w - p->pad_left;
    T.x = x + T.bn * d->x_stride[0] + T.grp * p->cg * d->x_stride[1];
    T.y = y + T.bn * d->y_stride[0] + T.grp * p->kg * d->y_stride[1];
    T.W = spec + T.grp * p->spec_vc * p->kg * p->cg * VCF;
    return T;
}

/* forward along H of column block cb of input channel c into spectrum S (channel c's) */
static void stage_fwd_col(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const tile2d *T,
                          const thr2d *t, int64_t c, int64_t cb, FT *S) {
    const int64_t nkhb = p->nkhb, j0 = cb * VL, ncols = FC_MIN(VL, p->tw - j0);
    S += j0 * nkhb * VCF;
    if (T->c0 + j0 >= p->w || T->c0 + j0 + ncols <= 0 || T->r0 >= p->h || T->r0 + p->th <= 0) {
        for (int64_t e = 0; e < ncols * nkhb; e++) vc_zero(S + e * VCF);
        return;
    }
    gather_block(t->g, p->th, T->x + c * d->x_stride[1], d->x_stride[2], d->x_stride[3], p->h,
                 p->w, T->r0, T->c0 + j0);
    rfft_run(&p->ax_h, PLAN_ROOTS(p), t->g, t->R, t->a, t->b, t->gt);
    /* rows past th/2 fill the last frequency block's spare lanes: keep them zero */
    for (int64_t q = p->th / 2 + 1; q < nkhb * VL; q++) vc_zero(t->R + q * VCF);
    for (int64_t khb = 0; khb < nkhb; khb++) tr_store(t->R, S, nkhb, khb, ncols, 1);
}

/* inverse along H of column block cb of output channel k (spectrum S), scattered to y */
static void stage_inv_col(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const tile2d *T,
                          const thr2d *t, int64_t k, int64_t cb, const FT *S, const FT *bias) {
    const int64_t nkhb = p->nkhb, j0 = cb * VL, ncols = FC_MIN(VL, p->tw - j0);
    S += j0 * nkhb * VCF;
    for (int64_t khb = 0; khb < nkhb; khb++) tr_load(t->R, S, nkhb, khb, ncols);
    irfft_run(&p->ax_h, PLAN_ROOTS(p), t->R, t->g, t->a, t->b, t->gt);
    const int64_t oc = T->grp * p->kg + k;
    scatter_block(t->g, T->vh, FC_MIN(ncols, T->vw - j0), T->y + k * d->y_stride[1],
                  d->y_stride, p->stride_h, p->stride_w, T->P0h, T->P0w + j0,
                  bias ? bias[oc * d->bias_stride] : (FT)0);
}

/* Along W for frequency-row block khb. cg > 1: forward of X_c (in place) or inverse of Y_k.
 * cg == 1 (single-channel, depthwise): the whole W axis at once, forward, times each W_k,
 * inverse into Y_k; X's row block never goes back to memory and no contraction pass is needed. */
static void stage_row_fused(const fc_fft_conv_plan *p, const tile2d *T, const thr2d *t,
                            int64_t khb, FT *X, FT *Y) {
    const int64_t nkhb = p->nkhb, svc = p->spec_vc, tw = p->tw;
    const FT *roots = PLAN_ROOTS(p);
    FT *row = t->R; /* tw vc (most >= tw) */
    cfft_vc(&p->ax_w, roots, X + khb * VCF, nkhb, row, 1, t->a, t->b, t->gt, 0);
    pc_mark(t->pc, PH_INPUT);
    const int64_t kg = p->kg; /* cg == 1: W is [i][k] */
    for (int64_t k = 0; k < kg; k++) {
        const FT *w = T->W + (khb * kg + k) * VCF;
        FT *prod = t->g;
        for (int64_t j = 0; j < tw; j++) {
            const FT *wp = w + j * nkhb * kg * VCF, *xp = row + j * VCF;
            const V wr = VLOAD(wp), wi = VLOAD(wp + VL), xr = VLOAD(xp), xi = VLOAD(xp + VL);
            VSTORE(prod + j * VCF, VFNMA(wi, xi, VMUL(wr, xr)));
            VSTORE(prod + j * VCF + VL, VFMA(wi, xr, VMUL(wr, xi)));
        }
        pc_mark(t->pc, PH_MULTIPLY);
        cfft_vc(&p->ax_w, roots, prod, 1, Y + (k * svc + khb) * VCF, nkhb, t->a, t->b, t->gt, 1);
        pc_mark(t->pc, PH_OUTPUT);
    }
}

/* Tile-parallel mode works on a per-thread tile buffer: th rows of twp = ncb VL samples.
 * load_tile copies a channel's tile row by row (contiguous reads the prefetchers follow, zeros
 * outside the image), and the real FFT's first pass reads column block cb straight from it:
 * element j of the packed sequence is rows 2j (real part) and 2j+1 (imaginary part), i.e.
 * stride 2 twp and imaginary offset twp. The inverse writes the same way and store_tile copies
 * the valid rows out, subsampled by the stride, plus bias. Gathering columns straight from the
 * image instead touches one cache line per row per 8 columns and stalls on every load. */
static void load_tile(FT *tb, int64_t th, int64_t twp, const FT *src, int64_t rs, int64_t cs,
                      int64_t sh, int64_t sw, int64_t r0, int64_t c0) {
    const int64_t jlo = FC_MIN(FC_MAX(-c0, 0), twp), jhi = FC_MAX(FC_MIN(sw - c0, twp), jlo);
    for (int64_t i = 0; i < th; i++) {
        FT *row = tb + i * twp;
        const int64_t r = r0 + i;
        if (r < 0 || r >= sh) {
            memset(row, 0, (size_t)twp * sizeof(FT));
            continue;
        }
        memset(row, 0, (size_t)jlo * sizeof(FT));
        const FT *sr = src + r * rs;
        if (cs == 1)
            memcpy(row + jlo, sr + c0 + jlo, (size_t)(jhi - jlo) * sizeof(FT));
        else
            for (int64_t j = jlo; j < jhi; j++) row[j] = sr[(c0 + j) * cs];
        memset(row + jhi, 0, (size_t)(twp - jhi) * sizeof(FT));
    }
}

static void store_tile(const FT *tb, int64_t twp, int64_t vh, int64_t vw, FT *y,
                       const int64_t *ys, int64_t sh, int64_t sw, int64_t P0h, int64_t P0w,
                       FT bias) {
    const V bv = VSET1(bias);
    for (int64_t i = 0; i < vh; i++) {
        const int64_t P = P0h + i;
        if (P % sh) continue;
        const FT *row = tb + i * twp;
        FT *yr = y + (P / sh) * ys[2];
        if (sw == 1 && ys[3] == 1) {
            int64_t j = 0;
            for (; j + VL <= vw; j += VL) VSTOREU(yr + P0w + j, VADD(VLOAD(row + j), bv));
            for (; j < vw; j++) yr[P0w + j] = row[j] + bias;
        } else {
            for (int64_t j = 0; j < vw; j++) {
                const int64_t Q = P0w + j;
                if (Q % sw == 0) yr[(Q / sw) * ys[3]] = row[j] + bias;
            }
        }
    }
}

/* One whole tile on one thread (tile-parallel mode); tb: the thread's tile buffer. */
static void tile_serial(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const tile2d *T,
                        const thr2d *t, FT *X, FT *Y, FT *tb, const FT *bias) {
    const int64_t cg = p->cg, kg = p->kg, svc = p->spec_vc, nkhb = p->nkhb, ncb = p->ncb;
    const int64_t twp = ncb * VL, hh = p->th / 2;
    const FT *roots = PLAN_ROOTS(p);
    const int outside = T->r0 >= p->h || T->r0 + p->th <= 0;
    for (int64_t c = 0; c < cg; c++) {
        FT *S = X + c * svc * VCF;
        if (!outside)
            load_tile(tb, p->th, twp, T->x + c * d->x_stride[1], d->x_stride[2],
                      d->x_stride[3], p->h, p->w, T->r0, T->c0);
        for (int64_t cb = 0; cb < ncb; cb++) {
            const int64_t j0 = cb * VL, ncols = FC_MIN(VL, p->tw - j0);
            FT *Sb = S + j0 * nkhb * VCF;
            if (outside || T->c0 + j0 >= p->w || T->c0 + j0 + ncols <= 0) {
                for (int64_t e = 0; e < ncols * nkhb; e++) vc_zero(Sb + e * VCF);
                continue;
            }
            rfft_run_from(&p->ax_h, roots, tb + j0, 2 * twp, twp, t->R, t->a, t->b, t->gt);
            for (int64_t q = hh + 1; q < nkhb * VL; q++) vc_zero(t->R + q * VCF);
            for (int64_t khb = 0; khb < nkhb; khb++) tr_store(t->R, Sb, nkhb, khb, ncols, 1);
        }
    }
    if (cg == 1) {
        pc_mark(t->pc, PH_INPUT);
        for (int64_t khb = 0; khb < nkhb; khb++) stage_row_fused(p, T, t, khb, X, Y);
    } else {
        for (int64_t c = 0; c < cg; c++)
            for (int64_t khb = 0; khb < nkhb; khb++) {
                FT *S = X + (c * svc + khb) * VCF;
                cfft_vc(&p->ax_w, roots, S, nkhb, S, nkhb, t->a, t->b, t->gt, 0);
            }
        pc_mark(t->pc, PH_INPUT);
        contract_2d(0, svc, cg, kg, svc, T->W, X, Y);
        pc_mark(t->pc, PH_MULTIPLY);
        for (int64_t k = 0; k < kg; k++)
            for (int64_t khb = 0; khb < nkhb; khb++) {
                FT *S = Y + (k * svc + khb) * VCF;
                cfft_vc(&p->ax_w, roots, S, nkhb, S, nkhb, t->a, t->b, t->gt, 1);
            }
    }
    const int64_t ncb_out = fc_div_up(T->vw, VL);
    for (int64_t k = 0; k < kg; k++) {
        const FT *S = Y + k * svc * VCF;
        for (int64_t cb = 0; cb < ncb_out; cb++) {
            const int64_t j0 = cb * VL, ncols = FC_MIN(VL, p->tw - j0);
            for (int64_t khb = 0; khb < nkhb; khb++)
                tr_load(t->R, S + j0 * nkhb * VCF, nkhb, khb, ncols);
            irfft_run_to(&p->ax_h, roots, t->R, tb + j0, 2 * twp, twp, t->a, t->b, t->gt);
        }
        const int64_t oc = T->grp * kg + k;
        store_tile(tb, twp, T->vh, T->vw, T->y + k * d->y_stride[1], d->y_stride, p->stride_h,
                   p->stride_w, T->P0h, T->P0w, bias ? bias[oc * d->bias_stride] : (FT)0);
    }
    pc_mark(t->pc, PH_OUTPUT);
}

/* Apply's arguments: the context of its fc_parallel_for calls. Mode 0 adds the tile its stages
 * work on and the tile's spectra, shared by all threads. */
typedef struct apply_job {
    const fc_fft_conv_plan *p;
    const fc_conv2d_desc *d;
    const FT *spec, *x, *bias;
    FT *y, *ws;
    phase_slot *slots; /* NULL: not profiling */
    tile2d T;          /* mode 0: the tile */
    FT *X, *Y;         /* mode 0: its input and output spectra */
} apply_job;

/* Tiles [i0, i1) (tile-parallel mode), each whole on the running thread with that thread's X, Y
 * and tile buffer. */
static void apply_2d_tiles(void *ctx, int64_t i0, int64_t i1, int thread) {
    const apply_job *job = (const apply_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const int64_t svc = p->spec_vc, cg = p->cg, kg = p->kg;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    const thr2d t = thread_2d(p, job->ws, thread, &pc);
    FT *X = t.g + (thr_vc(p) - (cg + kg) * svc - tile_vc(p)) * VCF, *Y = X + cg * svc * VCF;
    FT *tb = Y + kg * svc * VCF;
    for (int64_t tile = i0; tile < i1; tile++) {
        const tile2d T = tile_at(p, job->d, job->spec, job->x, job->y, tile);
        tile_serial(p, job->d, &T, &t, X, Y, tb, job->bias);
    }
}

/* The work-shared stages of tile job->T, items [i0, i1) each. Forward along H: item idx is
 * column block idx % ncb of input channel idx / ncb. */
static void apply_2d_fwd_cols(void *ctx, int64_t i0, int64_t i1, int thread) {
    const apply_job *job = (const apply_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const int64_t ncb = p->ncb, svc = p->spec_vc;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    const thr2d t = thread_2d(p, job->ws, thread, &pc);
    for (int64_t idx = i0; idx < i1; idx++)
        stage_fwd_col(p, job->d, &job->T, &t, idx / ncb, idx % ncb,
                      job->X + (idx / ncb) * svc * VCF);
    pc_mark(&pc, PH_INPUT);
}

/* cg == 1: frequency-row block khb along W, forward, products and inverse (stage_row_fused
 * marks the phases). */
static void apply_2d_rows_fused(void *ctx, int64_t i0, int64_t i1, int thread) {
    const apply_job *job = (const apply_job *)ctx;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    const thr2d t = thread_2d(job->p, job->ws, thread, &pc);
    for (int64_t khb = i0; khb < i1; khb++)
        stage_row_fused(job->p, &job->T, &t, khb, job->X, job->Y);
}

/* Along W, in place: forward of X's row block idx % nkhb of channel idx / nkhb (inverse = 0),
 * or inverse of Y's (inverse = 1). */
static void rows_2d(const apply_job *job, int64_t i0, int64_t i1, int thread, int inverse) {
    const fc_fft_conv_plan *p = job->p;
    const int64_t nkhb = p->nkhb, svc = p->spec_vc;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    const thr2d t = thread_2d(p, job->ws, thread, &pc);
    FT *base = inverse ? job->Y : job->X;
    for (int64_t idx = i0; idx < i1; idx++) {
        FT *S = base + ((idx / nkhb) * svc + idx % nkhb) * VCF;
        cfft_vc(&p->ax_w, PLAN_ROOTS(p), S, nkhb, S, nkhb, t.a, t.b, t.gt, inverse);
    }
    pc_mark(&pc, inverse ? PH_OUTPUT : PH_INPUT);
}

static void apply_2d_fwd_rows(void *ctx, int64_t i0, int64_t i1, int thread) {
    rows_2d((const apply_job *)ctx, i0, i1, thread, 0);
}

static void apply_2d_inv_rows(void *ctx, int64_t i0, int64_t i1, int thread) {
    rows_2d((const apply_job *)ctx, i0, i1, thread, 1);
}

/* bins per contraction item (mode 0) */
#define CONTRACT_BINS 64

/* The contraction of bins [ib CONTRACT_BINS, (ib + 1) CONTRACT_BINS) for each item ib. */
static void apply_2d_contract(void *ctx, int64_t i0, int64_t i1, int thread) {
    const apply_job *job = (const apply_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const int64_t svc = p->spec_vc;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    for (int64_t ib = i0; ib < i1; ib++)
        contract_2d(ib * CONTRACT_BINS, FC_MIN(svc, (ib + 1) * CONTRACT_BINS), p->cg, p->kg, svc,
                    job->T.W, job->X, job->Y);
    pc_mark(&pc, PH_MULTIPLY);
}

/* Inverse along H: item idx is column block idx % ncb_out of output channel idx / ncb_out,
 * scattered to y with the bias. */
static void apply_2d_inv_cols(void *ctx, int64_t i0, int64_t i1, int thread) {
    const apply_job *job = (const apply_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const int64_t ncb_out = fc_div_up(job->T.vw, VL), svc = p->spec_vc;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    const thr2d t = thread_2d(p, job->ws, thread, &pc);
    for (int64_t idx = i0; idx < i1; idx++)
        stage_inv_col(p, job->d, &job->T, &t, idx / ncb_out, idx % ncb_out,
                      job->Y + (idx / ncb_out) * svc * VCF, job->bias);
    pc_mark(&pc, PH_OUTPUT);
}

/* One work-shared stage: its items are single transforms or bin blocks, a few chunks per
 * thread. */
static void stage_2d(int nt, int64_t n, fc_range_fn fn, apply_job *job) {
    fc_parallel_for(nt, n, fc_parallel_grain(n, nt, 1), fn, job);
}

static void apply_2d(apply_job *job, int nt) {
    const fc_fft_conv_plan *p = job->p;
    const int64_t svc = p->spec_vc, nkhb = p->nkhb, ncb = p->ncb, cg = p->cg, kg = p->kg;
    const int64_t ntile = p->n * p->groups * p->nty * p->ntx;
    if (p->mode == 1) {
        fc_parallel_for(nt, ntile, 1, apply_2d_tiles, job);
        return;
    }
    /* Work-shared: one X and Y for all threads, in front of the thread scratch. Every stage
     * reads what the one before wrote, so each is a call of its own, issued by this thread for
     * one tile after the other. */
    job->X = job->ws;
    job->Y = job->ws + cg * svc * VCF;
    for (int64_t tile = 0; tile < ntile; tile++) {
        job->T = tile_at(p, job->d, job->spec, job->x, job->y, tile);
        stage_2d(nt, cg * ncb, apply_2d_fwd_cols, job);
        if (cg == 1) {
            stage_2d(nt, nkhb, apply_2d_rows_fused, job);
        } else {
            stage_2d(nt, cg * nkhb, apply_2d_fwd_rows, job);
            stage_2d(nt, fc_div_up(svc, CONTRACT_BINS), apply_2d_contract, job);
            stage_2d(nt, kg * nkhb, apply_2d_inv_rows, job);
        }
        stage_2d(nt, kg * fc_div_up(job->T.vw, VL), apply_2d_inv_cols, job);
    }
}

/* ---- 1-D: lanes hold tiles ----------------------------------------------------------------- */
/* Lane l reads src[l][u * cs] for u = u0[l] + m, m < t, zero outside [0, len) or for a NULL
 * source; packed as t/2 vc. VL samples of every lane at a time through a VLxVL transpose. */
static void gather_lanes(FT *g, int64_t t, const FT *const *src, const int64_t *u0, int64_t len,
                         int64_t cs) {
    int64_t m = 0;
    for (; m + VL <= t; m += VL) {
        V r[VL];
        for (int l = 0; l < VL; l++) {
            const int64_t u = u0[l] + m;
            if (src[l] && cs == 1 && u >= 0 && u + VL <= len) {
                r[l] = VLOADU(src[l] + u);
            } else {
                FT tmp[VL] __attribute__((aligned(64)));
                for (int q = 0; q < VL; q++)
                    tmp[q] = (src[l] && u + q >= 0 && u + q < len) ? src[l][(u + q) * cs] : (FT)0;
                r[l] = VLOAD(tmp);
            }
        }
        vtranspose(r); /* r[q]: sample m + q of every lane */
        for (int q = 0; q < VL; q++) VSTORE(g + ((m + q) / 2) * VCF + ((m + q) % 2) * VL, r[q]);
    }
    for (; m < t; m++) {
        FT *e = g + (m / 2) * VCF + (m % 2) * VL;
        for (int l = 0; l < VL; l++) {
            const int64_t u = u0[l] + m;
            e[l] = (src[l] && u >= 0 && u < len) ? src[l][u * cs] : (FT)0;
        }
    }
}

/* Samples m < nv[l] of lane l to dst[l]: full position P = P0[l] + m is output P / stride when
 * P is a multiple of the stride. */
static void scatter_lanes(const FT *g, int64_t t, FT *const *dst, const int64_t *P0,
                          const int64_t *nv, int64_t stride, int64_t ds, FT bias) {
    const V bv = VSET1(bias);
    int64_t m = 0;
    if (stride == 1 && ds == 1) {
        for (; m + VL <= t; m += VL) {
            int any = 0;
            for (int l = 0; l < VL; l++) any |= dst[l] && m < nv[l];
            if (!any) break;
            V r[VL];
            for (int q = 0; q < VL; q++) r[q] = VLOAD(g + ((m + q) / 2) * VCF + ((m + q) % 2) * VL);
            vtranspose(r); /* r[l]: samples m .. m+VL-1 of lane l */
            for (int l = 0; l < VL; l++) {
                if (!dst[l] || m >= nv[l]) continue;
                const V v = VADD(r[l], bv);
                if (m + VL <= nv[l]) {
                    VSTOREU(dst[l] + P0[l] + m, v);
                } else {
                    FT tmp[VL] __attribute__((aligned(64)));
                    VSTORE(tmp, v);
                    for (int64_t q = 0; q < nv[l] - m; q++) dst[l][P0[l] + m + q] = tmp[q];
                }
            }
        }
    }
    for (; m < t; m++) {
        const FT *e = g + (m / 2) * VCF + (m % 2) * VL;
        for (int l = 0; l < VL; l++) {
            if (!dst[l] || m >= nv[l]) continue;
            const int64_t P = P0[l] + m;
            if (P % stride == 0) dst[l][(P / stride) * ds] = e[l] + bias;
        }
    }
}

/* Kernel spectra when there are fewer channel pairs than lanes (a single-channel filter: one
 * pair, 7 of 8 lanes idle). Decimation in time: lane (pair q, phase r) transforms the taps
 * u = m D + r (m < M = t / D), Y_qr = rfft_M, and one radix-D step across the lanes,
 *     X_q[k] = sum_r omega_t^(r k) Y_qr[k mod M]   (Y[M - j] = conj Y[j]),
 * gives the length-t spectrum: a transform of length t / D instead of t. Items [i0, i1): item i
 * is the VL / D pairs from i VL / D on. */
static void spectra_1d_decimated(void *ctx, int64_t i0, int64_t i1, int thread) {
    const spectra_job *job = (const spectra_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const fc_conv2d_desc *d = job->d;
    const FT *w = job->w;
    FT *spec = job->spec;
    const FT *roots = PLAN_ROOTS(p), *rt = roots + p->ax_1d.half.root; /* omega_t^m, m < t */
    const int64_t t = p->tw, nb = t / 2 + 1, D = p->kdec, M = t / D, mh = M / 2;
    const int64_t npairs = p->groups * p->kg * p->cg, per_job = VL / D;
    const int64_t per_group = p->kg * p->cg, most = thr_most(p);
    const FT scale = (FT)1 / (FT)t;
    FT *g = thread_scratch(p, job->ws, thread), *X = g + most * VCF, *a = X + most * VCF;
    FT *b = a + most * VCF, *gt = b + most * VCF;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    for (int64_t i = i0; i < i1; i++) {
        const int64_t s0 = i * per_job;
        for (int64_t m = 0; m < M; m++) {
            FT *e = g + (m / 2) * VCF + (m % 2) * VL;
            for (int l = 0; l < VL; l++) {
                const int64_t s = s0 + l / D, u = m * D + l % D;
                FT v = 0;
                if (s < npairs && u % p->dil_w == 0 && u / p->dil_w < p->kw) {
                    const int64_t oc = s / p->cg, c = s % p->cg;
                    v = w[oc * d->w_stride[0] + c * d->w_stride[1] + (u / p->dil_w) *
                          d->w_stride[3]];
                }
                e[l] = v;
            }
        }
        rfft_run(&p->ax_dec, roots, g, X, a, b, gt);
        for (int64_t q = 0; q < per_job && s0 + q < npairs; q++) {
            const int64_t s = s0 + q, grp = s / per_group;
            FT *o = spec + 2 * (grp * nb * per_group + s % per_group);
            for (int64_t k = 0; k < nb; k++) {
                const int64_t j = k % M;
                const FT sg = j <= mh ? (FT)1 : (FT)-1;   /* conjugate for j > M/2 */
                const FT *y = X + (j <= mh ? j : M - j) * VCF + q * D;
                double re = 0, im = 0; /* D terms: accumulate in double, it costs nothing */
                int64_t idx = 0;      /* (r k) mod t, r = 0 .. D-1 */
                const int64_t step = k % t;
                for (int64_t r = 0; r < D; r++) {
                    const double yr = y[r], yi = sg * y[VL + r];
                    const double wr = rt[2 * idx], wi = rt[2 * idx + 1];
                    re += yr * wr - yi * wi;
                    im += yr * wi + yi * wr;
                    idx += step;
                    if (idx >= t) idx -= t;
                }
                o[2 * k * per_group] = (FT)(re * scale);
                o[2 * k * per_group + 1] = (FT)(-im * scale);
            }
        }
    }
    pc_mark(&pc, PH_KERNEL);
}

/* spectra: groups x (t/2 + 1) bins x kg x cg complex numbers (bin-major), conjugated and scaled
 * by 1/t. Lanes hold VL (group, k, c) pairs: items [i0, i1), item i the pairs i VL .. i VL + VL - 1
 * (kdec == 1; spectra_1d_decimated otherwise). */
static void spectra_1d_lanes(void *ctx, int64_t i0, int64_t i1, int thread) {
    const spectra_job *job = (const spectra_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const fc_conv2d_desc *d = job->d;
    const FT *w = job->w;
    FT *spec = job->spec;
    const FT *roots = PLAN_ROOTS(p);
    const int64_t t = p->tw, nb = t / 2 + 1, npairs = p->groups * p->kg * p->cg;
    const int64_t most = thr_most(p);
    const FT scale = (FT)1 / (FT)t;
    FT *g = thread_scratch(p, job->ws, thread), *X = g + most * VCF, *a = X + most * VCF;
    FT *b = a + most * VCF, *gt = b + most * VCF;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    for (int64_t i = i0; i < i1; i++) {
        const int64_t s0 = i * VL;
        if (p->dil_w == 1) { /* lanes read kernel rows like tiles read the signal */
            const FT *src[VL];
            int64_t u0[VL];
            for (int l = 0; l < VL; l++) {
                const int64_t s = s0 + l, oc = s / p->cg, c = s % p->cg;
                src[l] = s < npairs ? w + oc * d->w_stride[0] + c * d->w_stride[1] : NULL;
                u0[l] = 0;
            }
            gather_lanes(g, t, src, u0, p->kw, d->w_stride[3]);
        } else { /* zero-stuffed: tap u / dil at sample u */
            for (int64_t m = 0; m < t; m++) {
                FT *e = g + (m / 2) * VCF + (m % 2) * VL;
                for (int l = 0; l < VL; l++) {
                    const int64_t s = s0 + l, oc = s / p->cg, c = s % p->cg;
                    FT v = 0;
                    if (s < npairs && m % p->dil_w == 0 && m / p->dil_w < p->kw)
                        v = w[oc * d->w_stride[0] + c * d->w_stride[1] +
                              (m / p->dil_w) * d->w_stride[3]];
                    e[l] = v;
                }
            }
        }
        rfft_run(&p->ax_1d, roots, g, X, a, b, gt);
        /* bin-major: [g][bin][k][c] */
        const int64_t per_group = p->kg * p->cg;
        for (int l = 0; l < VL && s0 + l < npairs; l++) {
            const int64_t s = s0 + l, g = s / per_group;
            FT *o = spec + 2 * (g * nb * per_group + s % per_group);
            for (int64_t k = 0; k < nb; k++) {
                o[2 * k * per_group] = X[k * VCF + l] * scale;
                o[2 * k * per_group + 1] = -X[k * VCF + VL + l] * scale;
            }
        }
    }
    pc_mark(&pc, PH_KERNEL);
}

/* Items of a few VL pairs' transforms, a few chunks per thread. */
static void spectra_1d(spectra_job *job, int nt) {
    const fc_fft_conv_plan *p = job->p;
    const int64_t npairs = p->groups * p->kg * p->cg, per_job = VL / p->kdec;
    const int64_t njobs = fc_div_up(npairs, per_job);
    fc_parallel_for(nt, njobs, fc_parallel_grain(njobs, nt, 1),
                    p->kdec > 1 ? spectra_1d_decimated : spectra_1d_lanes, job);
}

/* Items [i0, i1): item i is lane group i % nlg (VL tiles) of group i / nlg, all of it on the
 * running thread with that thread's X and Y. */
static void apply_1d_lanes(void *ctx, int64_t i0, int64_t i1, int thread) {
    const apply_job *job = (const apply_job *)ctx;
    const fc_fft_conv_plan *p = job->p;
    const fc_conv2d_desc *d = job->d;
    const FT *roots = PLAN_ROOTS(p), *spec = job->spec, *x = job->x, *bias = job->bias;
    FT *y = job->y;
    const int64_t t = p->tw, nb = t / 2 + 1, cg = p->cg, kg = p->kg;
    const int64_t most = thr_most(p);
    const int64_t ntiles = p->n * p->ntx, nlg = fc_div_up(ntiles, VL);
    FT *g = thread_scratch(p, job->ws, thread), *a = g + most * VCF, *b = a + most * VCF;
    FT *gt = b + most * VCF, *X = gt + most * VCF, *Y = X + cg * nb * VCF;
    phase_clock pc;
    pc_start(&pc, job->slots, thread);
    for (int64_t i = i0; i < i1; i++) {
        const int64_t grp = i / nlg, lg = i % nlg;
        int64_t bn[VL], P0[VL], u0[VL], nv[VL];
        int live[VL];
        for (int l = 0; l < VL; l++) {
            const int64_t tile = lg * VL + l;
            live[l] = tile < ntiles;
            bn[l] = live[l] ? tile / p->ntx : 0;
            P0[l] = live[l] ? (tile % p->ntx) * p->vw : 0;
            u0[l] = P0[l] - p->pad_left;
            nv[l] = live[l] ? FC_MIN(p->vw, p->full_w - P0[l]) : 0;
        }
        const FT *src[VL];
        for (int64_t c = 0; c < cg; c++) {
            for (int l = 0; l < VL; l++)
                src[l] = live[l] ? x + bn[l] * d->x_stride[0] +
                                       (grp * cg + c) * d->x_stride[1] : NULL;
            gather_lanes(g, t, src, u0, p->w, d->x_stride[3]);
            rfft_run(&p->ax_1d, roots, g, X + c * nb * VCF, a, b, gt);
        }
        pc_mark(&pc, PH_INPUT);
        contract_1d(nb, cg, kg, spec + 2 * grp * kg * cg * nb, X, Y);
        pc_mark(&pc, PH_MULTIPLY);
        FT *dst[VL];
        for (int64_t k = 0; k < kg; k++) {
            const int64_t oc = grp * kg + k;
            for (int l = 0; l < VL; l++)
                dst[l] = live[l] ? y + bn[l] * d->y_stride[0] + oc * d->y_stride[1] : NULL;
            irfft_run(&p->ax_1d, roots, Y + k * nb * VCF, g, a, b, gt);
            scatter_lanes(g, t, dst, P0, nv, p->stride_w, d->y_stride[3],
                          bias ? bias[oc * d->bias_stride] : (FT)0);
        }
        pc_mark(&pc, PH_OUTPUT);
    }
}

/* Lane groups are coarse items (cg + kg transforms each): one per chunk. */
static void apply_1d(apply_job *job, int nt) {
    const int64_t nlg = fc_div_up(job->p->n * job->p->ntx, VL);
    fc_parallel_for(nt, job->p->groups * nlg, 1, apply_1d_lanes, job);
}

/* ---- entry points (conv_fft.c checked the plan, the sizes and the ISA) --------------------
 * Each returns when its last fc_parallel_for call has: the kernel spectra are complete before
 * apply reads them, and the phase slots are final when pc_finish adds them up. */
static void spectra_run(spectra_job *job, int nt) {
    if (job->p->dims == 2)
        spectra_2d(job, nt);
    else
        spectra_1d(job, nt);
}

static void apply_run(apply_job *job, int nt) {
    if (job->p->dims == 2)
        apply_2d(job, nt);
    else
        apply_1d(job, nt);
}

fc_status SFX(conv2d_fft_kernel_spectra)(const fc_fft_conv_plan *p, const fc_conv2d_desc *d,
                                         const FT *w, void *spectra, void *ws) {
    phase_slot slots[FC_PARALLEL_MAX_THREADS];
    const int nt = call_threads(d);
    const double t0 = FC_PROFILE_START(d);
    spectra_job job = {p, d, w, (FT *)spectra, (FT *)ws, pc_slots(d, slots, nt)};
    spectra_run(&job, nt);
    pc_finish(d, slots, nt, t0);
    return FC_OK;
}

fc_status SFX(conv2d_fft_apply)(const fc_fft_conv_plan *p, const fc_conv2d_desc *d,
                                const void *spectra, const FT *x, const FT *bias, FT *y,
                                void *ws) {
    phase_slot slots[FC_PARALLEL_MAX_THREADS];
    const int nt = call_threads(d);
    const double t0 = FC_PROFILE_START(d);
    apply_job job = {p, d, (const FT *)spectra, x, bias, y, (FT *)ws, pc_slots(d, slots, nt)};
    apply_run(&job, nt);
    pc_finish(d, slots, nt, t0);
    return FC_OK;
}

/* Both steps, what a call without a cached plan does: the spectra to completion, then apply,
 * on the same per-thread scratch (thread_scratch), as one profiled call. Apply's jobs could
 * start their input transforms before the last spectra are done, but a job that waited for
 * another thread's job could wait for a thread that is asleep: the pool's calls never do. */
fc_status SFX(conv2d_fft)(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *w,
                          void *spectra, const FT *x, const FT *bias, FT *y, void *ws) {
    phase_slot slots[FC_PARALLEL_MAX_THREADS];
    const int nt = call_threads(d);
    const double t0 = FC_PROFILE_START(d);
    phase_slot *clocks = pc_slots(d, slots, nt);
    spectra_job sj = {p, d, w, (FT *)spectra, (FT *)ws, clocks};
    spectra_run(&sj, nt);
    apply_job aj = {p, d, (const FT *)spectra, x, bias, y, (FT *)ws, clocks};
    apply_run(&aj, nt);
    pc_finish(d, slots, nt, t0);
    return FC_OK;
}
