/* The FFT convolution drivers, written once, included after fft_impl.h by fft_<dtype>_<isa>.c.
 *
 * Overlap-save (fft_internal.h): the problem is solved at stride 1 on "full" output positions
 * and subsampled; the kernel is zero-stuffed for dilation; its spectrum is conjugated (the
 * convolution is a cross-correlation) and carries the 1/(th tw) of the inverse transform.
 * Per tile: forward transforms of the cg input channels of a group, the channel contraction
 * Y_k = sum_c W_kc X_c per frequency bin (a complex (kg x cg) matrix times the (cg) vector of
 * every bin: C_in + C_out transforms, never C_in x C_out), inverse transforms of the kg outputs.
 *
 * Threads: one parallel region per call (the entry points at the end), inside which
 *  - dims 1: lane groups (VL tiles each) are independent jobs, dynamically scheduled;
 *  - dims 2, mode 1 (tile-parallel): whole tiles are jobs, each thread with its own tile buffer
 *    and spectra; no barrier until the end, so a descheduled thread delays nobody;
 *  - dims 2, mode 0 (work-shared): the stages of one tile at a time are shared loops (column
 *    blocks, frequency-row blocks, bins), for problems with fewer tiles than threads.
 * The cost model (conv_fft.c) picks the tiles and the mode. */
#include <string.h>

/* ---- fc_profile phases -------------------------------------------------------------------
 * Inside the one parallel region every thread adds the seconds of its own jobs to its phase
 * clock: forward transforms of x (input_transform), kernel spectra (kernel_transform), the
 * per-bin products (multiply), inverse transforms, crop and bias (output_transform). Waits
 * (barriers, the spectra handshake, the scheduler) are left out. After the region the call's
 * wall time is split among the phases in proportion to their thread-seconds, so the phases
 * add up to fc_profile.total and read as wall time, whatever the threads overlapped. Every
 * clock operation is one branch when d->profile is NULL. */
#ifndef FC_CONV_FFT_PHASE_CLOCK
#define FC_CONV_FFT_PHASE_CLOCK
enum { PH_INPUT, PH_KERNEL, PH_MULTIPLY, PH_OUTPUT, PH_COUNT };

typedef struct phase_clock {
    double *sums; /* the call's thread-seconds per phase (shared); NULL: not profiling */
    double acc[PH_COUNT];
    double t;
} phase_clock;

static inline void pc_init(phase_clock *pc, double *sums) {
    pc->sums = sums;
    for (int i = 0; i < PH_COUNT; i++) pc->acc[i] = 0;
    pc->t = sums ? fc_now() : 0;
}

/* a job starts: what came before it (a wait) belongs to no phase */
static inline void pc_restart(phase_clock *pc) {
    if (pc->sums) pc->t = fc_now();
}

/* the time since the last mark or restart was spent in phase ph */
static inline void pc_mark(phase_clock *pc, int ph) {
    if (pc->sums) {
        const double now = fc_now();
        pc->acc[ph] += now - pc->t;
        pc->t = now;
    }
}

/* at the end of the region, each thread adds its clock to the call's sums */
static inline void pc_flush(const phase_clock *pc) {
    if (!pc->sums) return;
    for (int i = 0; i < PH_COUNT; i++) {
#pragma omp atomic update
        pc->sums[i] += pc->acc[i];
    }
}

static void pc_finish(const fc_conv2d_desc *d, const double *sums, double t0) {
    if (!d->profile) return;
    fc_profile *prof = d->profile;
    const double wall = fc_now() - t0;
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

/* Thread tid's scratch: the same region in the spectra step and in apply, so that when they
 * overlap in one call (conv2d_fft) a thread only ever reuses its own memory. Mode 0 keeps the
 * shared X and Y spectra in front. */
static FT *thread_scratch(const fc_fft_conv_plan *p, FT *ws, int tid) {
    const int64_t shared = (p->dims == 2 && p->mode == 0) ? (p->cg + p->kg) * p->spec_vc : 0;
    return ws + (shared + (int64_t)tid * thr_vc(p)) * VCF;
}

#define PLAN_ROOTS(p) ((const FT *)((const char *)(p) + (p)->data_off))

/* The bodies below are "orphaned" OpenMP: their `omp for` loops bind to the one parallel region
 * the entry points at the end open (one fork-join per call: on a loaded machine every region
 * waits for its slowest thread to be scheduled), and they run serially outside one. */
static inline int thread_id(void) {
#if defined(_OPENMP)
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Overlapping the kernel transform with the data transforms. In one call (conv2d_fft) the last
 * loop of the kernel spectra runs without a closing barrier and counts its finished jobs in
 * *ready; apply's jobs transform their input first and wait for the count only before their
 * first use of the spectra. No deadlock: a thread takes apply jobs only once every spectra job
 * has been handed to a thread that is running it. NULL: the spectra are complete. */
typedef struct spectra_sync {
    int *ready;
    int need;
} spectra_sync;

static void spectra_done(const spectra_sync *sy) {
    if (!sy) return;
#pragma omp atomic update seq_cst
    (*sy->ready)++;
}

static void spectra_wait(const spectra_sync *sy) {
    if (!sy) return;
    for (;;) {
        int v;
#pragma omp atomic read seq_cst
        v = *sy->ready;
        if (v >= sy->need) return;
    }
}

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

static fc_status spectra_2d(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *w,
                            FT *spec, FT *ws, const spectra_sync *sy, phase_clock *pc) {
    const FT *roots = PLAN_ROOTS(p);
    const int64_t npairs = p->groups * p->kg * p->cg, nkhb = p->nkhb;
    const int64_t ncb = p->ncb, hh = p->th / 2, most = thr_most(p);
    const int64_t ncb_k = fc_div_up(p->kew, VL); /* blocks holding kernel taps */
    const int64_t es = p->kg * p->cg;            /* pairs interleaved bin by bin */
    const FT scale = (FT)1 / (FT)(p->th * p->tw);
    {
        FT *t = thread_scratch(p, ws, thread_id());
        FT *g = t, *R = g + most * VCF, *a = R + most * VCF, *b = a + most * VCF;
        FT *gt = b + most * VCF;
        for (int64_t q = hh + 1; q < nkhb * VL; q++) vc_zero(R + q * VCF);
#pragma omp for schedule(dynamic, 1)
        for (int64_t idx = 0; idx < npairs * ncb; idx++) {
            const int64_t s = idx / ncb, cb = idx % ncb, j0 = cb * VL;
            const int64_t ncols = FC_MIN(VL, p->tw - j0), oc = s / p->cg, c = s % p->cg;
            FT *S = pair_spectrum(p, spec, s) + j0 * nkhb * es * VCF;
            pc_restart(pc);
            if (cb >= ncb_k) {
                for (int64_t e = 0; e < ncols * nkhb; e++) vc_zero(S + e * es * VCF);
            } else {
                gather_kernel_block(g, p->th, w + oc * d->w_stride[0] + c * d->w_stride[1], d,
                                    j0);
                rfft_run(&p->ax_h, roots, g, R, a, b, gt);
                for (int64_t khb = 0; khb < nkhb; khb++) tr_store(R, S, nkhb, khb, ncols, es);
            }
            pc_mark(pc, PH_KERNEL);
        }
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t idx = 0; idx < npairs * nkhb; idx++) {
            const int64_t s = idx / nkhb, khb = idx % nkhb;
            FT *S = pair_spectrum(p, spec, s) + khb * es * VCF;
            pc_restart(pc);
            cfft_vc(&p->ax_w, roots, S, nkhb * es, S, nkhb * es, a, b, gt, 0);
            /* conjugate (correlation) and scale (the inverse transforms' 1/(th tw)) */
            const V sr = VSET1(scale), si = VSET1(-scale);
            for (int64_t j = 0; j < p->tw; j++) {
                FT *e = S + j * nkhb * es * VCF;
                VSTORE(e, VMUL(VLOAD(e), sr));
                VSTORE(e + VL, VMUL(VLOAD(e + VL), si));
            }
            pc_mark(pc, PH_KERNEL);
            spectra_done(sy);
        }
    }
    return FC_OK;
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

typedef struct thr2d {  /* a thread's scratch and phase clock */
    FT *g, *R, *a, *b, *gt;
    phase_clock *pc;
} thr2d;

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
                        const thr2d *t, FT *X, FT *Y, FT *tb, const FT *bias,
                        const spectra_sync *sy) {
    const int64_t cg = p->cg, kg = p->kg, svc = p->spec_vc, nkhb = p->nkhb, ncb = p->ncb;
    const int64_t twp = ncb * VL, hh = p->th / 2;
    const FT *roots = PLAN_ROOTS(p);
    const int outside = T->r0 >= p->h || T->r0 + p->th <= 0;
    pc_restart(t->pc);
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
        spectra_wait(sy);
        pc_restart(t->pc);
        for (int64_t khb = 0; khb < nkhb; khb++) stage_row_fused(p, T, t, khb, X, Y);
    } else {
        for (int64_t c = 0; c < cg; c++)
            for (int64_t khb = 0; khb < nkhb; khb++) {
                FT *S = X + (c * svc + khb) * VCF;
                cfft_vc(&p->ax_w, roots, S, nkhb, S, nkhb, t->a, t->b, t->gt, 0);
            }
        pc_mark(t->pc, PH_INPUT);
        spectra_wait(sy);
        pc_restart(t->pc);
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

static fc_status apply_2d(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *spec,
                          const FT *x, const FT *bias, FT *y, FT *ws, const spectra_sync *sy,
                          phase_clock *pc) {
    const FT *roots = PLAN_ROOTS(p);
    const int64_t svc = p->spec_vc, nkhb = p->nkhb, ncb = p->ncb, hh = p->th / 2;
    const int64_t cg = p->cg, kg = p->kg, most = thr_most(p), tvc = thr_vc(p);
    const int64_t ntile = p->n * p->groups * p->nty * p->ntx;
    const int tile_par = p->mode == 1;
    /* tile-parallel: every thread owns X and Y; work-shared: one X and Y for all */
    FT *shared = ws;
    (void)roots;
    {
        const int tid = thread_id();
        FT *base = thread_scratch(p, ws, tid);
        thr2d t;
        t.g = base;
        t.R = t.g + most * VCF;
        t.a = t.R + most * VCF;
        t.b = t.a + most * VCF;
        t.gt = t.b + most * VCF;
        t.pc = pc;
        for (int64_t q = hh + 1; q < nkhb * VL; q++) vc_zero(t.R + q * VCF);
        if (tile_par) {
            FT *X = base + (tvc - (cg + kg) * svc - tile_vc(p)) * VCF, *Y = X + cg * svc * VCF;
            FT *tb = Y + kg * svc * VCF;
#pragma omp for schedule(dynamic, 1)
            for (int64_t tile = 0; tile < ntile; tile++) {
                const tile2d T = tile_at(p, d, spec, x, y, tile);
                tile_serial(p, d, &T, &t, X, Y, tb, bias, sy);
            }
        } else {
            FT *X = shared, *Y = shared + cg * svc * VCF;
            spectra_wait(sy);
            for (int64_t tile = 0; tile < ntile; tile++) {
                const tile2d T = tile_at(p, d, spec, x, y, tile);
#pragma omp for schedule(dynamic, 1)
                for (int64_t idx = 0; idx < cg * ncb; idx++) {
                    pc_restart(pc);
                    stage_fwd_col(p, d, &T, &t, idx / ncb, idx % ncb, X + (idx / ncb) * svc * VCF);
                    pc_mark(pc, PH_INPUT);
                }
                if (cg == 1) {
#pragma omp for schedule(dynamic, 1)
                    for (int64_t khb = 0; khb < nkhb; khb++) {
                        pc_restart(pc);
                        stage_row_fused(p, &T, &t, khb, X, Y);
                    }
                } else {
#pragma omp for schedule(dynamic, 1)
                    for (int64_t idx = 0; idx < cg * nkhb; idx++) {
                        FT *S = X + ((idx / nkhb) * svc + idx % nkhb) * VCF;
                        pc_restart(pc);
                        cfft_vc(&p->ax_w, roots, S, nkhb, S, nkhb, t.a, t.b, t.gt, 0);
                        pc_mark(pc, PH_INPUT);
                    }
                    const int64_t blk = 64, nblk = fc_div_up(svc, blk);
#pragma omp for schedule(dynamic, 1)
                    for (int64_t ib = 0; ib < nblk; ib++) {
                        pc_restart(pc);
                        contract_2d(ib * blk, FC_MIN(svc, ib * blk + blk), cg, kg, svc, T.W, X, Y);
                        pc_mark(pc, PH_MULTIPLY);
                    }
#pragma omp for schedule(dynamic, 1)
                    for (int64_t idx = 0; idx < kg * nkhb; idx++) {
                        FT *S = Y + ((idx / nkhb) * svc + idx % nkhb) * VCF;
                        pc_restart(pc);
                        cfft_vc(&p->ax_w, roots, S, nkhb, S, nkhb, t.a, t.b, t.gt, 1);
                        pc_mark(pc, PH_OUTPUT);
                    }
                }
                const int64_t ncb_out = fc_div_up(T.vw, VL);
#pragma omp for schedule(dynamic, 1)
                for (int64_t idx = 0; idx < kg * ncb_out; idx++) {
                    pc_restart(pc);
                    stage_inv_col(p, d, &T, &t, idx / ncb_out, idx % ncb_out,
                                  Y + (idx / ncb_out) * svc * VCF, bias);
                    pc_mark(pc, PH_OUTPUT);
                }
            }
        }
    }
    return FC_OK;
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
 * gives the length-t spectrum: a transform of length t / D instead of t. */
static void spectra_1d_decimated(const fc_fft_conv_plan *p, const fc_conv2d_desc *d,
                                 const FT *w, FT *spec, FT *g, FT *X, FT *a, FT *b, FT *gt,
                                 const spectra_sync *sy, phase_clock *pc) {
    const FT *roots = PLAN_ROOTS(p), *rt = roots + p->ax_1d.half.root; /* omega_t^m, m < t */
    const int64_t t = p->tw, nb = t / 2 + 1, D = p->kdec, M = t / D, mh = M / 2;
    const int64_t npairs = p->groups * p->kg * p->cg, per_job = VL / D;
    const int64_t per_group = p->kg * p->cg;
    const FT scale = (FT)1 / (FT)t;
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t s0 = 0; s0 < npairs; s0 += per_job) {
        pc_restart(pc);
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
        pc_mark(pc, PH_KERNEL);
        spectra_done(sy);
    }
}

/* spectra: groups x (t/2 + 1) bins x kg x cg complex numbers (bin-major), conjugated and scaled
 * by 1/t. Lanes hold VL (group, k, c) pairs. */
static fc_status spectra_1d(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *w,
                            FT *spec, FT *ws, const spectra_sync *sy, phase_clock *pc) {
    const FT *roots = PLAN_ROOTS(p);
    const int64_t t = p->tw, nb = t / 2 + 1, npairs = p->groups * p->kg * p->cg;
    const int64_t most = thr_most(p);
    const FT scale = (FT)1 / (FT)t;
    {
        FT *th = thread_scratch(p, ws, thread_id());
        FT *g = th, *X = g + most * VCF, *a = X + most * VCF, *b = a + most * VCF;
        FT *gt = b + most * VCF;
        if (p->kdec > 1) {
            spectra_1d_decimated(p, d, w, spec, g, X, a, b, gt, sy, pc);
            return FC_OK;
        }
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t s0 = 0; s0 < npairs; s0 += VL) {
            pc_restart(pc);
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
            pc_mark(pc, PH_KERNEL);
            spectra_done(sy);
        }
    }
    return FC_OK;
}

static fc_status apply_1d(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *spec,
                          const FT *x, const FT *bias, FT *y, FT *ws, const spectra_sync *sy,
                          phase_clock *pc) {
    const FT *roots = PLAN_ROOTS(p);
    const int64_t t = p->tw, nb = t / 2 + 1, cg = p->cg, kg = p->kg;
    const int64_t most = thr_most(p);
    const int64_t ntiles = p->n * p->ntx, nlg = fc_div_up(ntiles, VL);
    {
        FT *th = thread_scratch(p, ws, thread_id());
        FT *g = th, *a = g + most * VCF, *b = a + most * VCF, *gt = b + most * VCF;
        FT *X = gt + most * VCF, *Y = X + cg * nb * VCF;
#pragma omp for schedule(dynamic, 1)
        for (int64_t job = 0; job < p->groups * nlg; job++) {
            const int64_t grp = job / nlg, lg = job % nlg;
            int64_t bn[VL], P0[VL], u0[VL], nv[VL];
            pc_restart(pc);
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
            pc_mark(pc, PH_INPUT);
            spectra_wait(sy);
            pc_restart(pc);
            contract_1d(nb, cg, kg, spec + 2 * grp * kg * cg * nb, X, Y);
            pc_mark(pc, PH_MULTIPLY);
            FT *dst[VL];
            for (int64_t k = 0; k < kg; k++) {
                const int64_t oc = grp * kg + k;
                for (int l = 0; l < VL; l++)
                    dst[l] = live[l] ? y + bn[l] * d->y_stride[0] + oc * d->y_stride[1] : NULL;
                irfft_run(&p->ax_1d, roots, Y + k * nb * VCF, g, a, b, gt);
                scatter_lanes(g, t, dst, P0, nv, p->stride_w, d->y_stride[3],
                              bias ? bias[oc * d->bias_stride] : (FT)0);
            }
            pc_mark(pc, PH_OUTPUT);
        }
    }
    return FC_OK;
}

/* ---- entry points (conv_fft.c checked the plan, the sizes and the ISA) -------------------- */
static void spectra_body(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *w,
                         void *spectra, void *ws, const spectra_sync *sy, phase_clock *pc) {
    if (p->dims == 2)
        spectra_2d(p, d, w, (FT *)spectra, (FT *)ws, sy, pc);
    else
        spectra_1d(p, d, w, (FT *)spectra, (FT *)ws, sy, pc);
}

static void apply_body(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const void *spectra,
                       const FT *x, const FT *bias, FT *y, void *ws, const spectra_sync *sy,
                       phase_clock *pc) {
    if (p->dims == 2)
        apply_2d(p, d, (const FT *)spectra, x, bias, y, (FT *)ws, sy, pc);
    else
        apply_1d(p, d, (const FT *)spectra, x, bias, y, (FT *)ws, sy, pc);
}

fc_status SFX(conv2d_fft_kernel_spectra)(const fc_fft_conv_plan *p, const fc_conv2d_desc *d,
                                         const FT *w, void *spectra, void *ws) {
    double sums[PH_COUNT] = {0};
    const double t0 = FC_PROFILE_START(d);
#pragma omp parallel num_threads(d->nthreads) if (d->nthreads > 1)
    {
        phase_clock pc;
        pc_init(&pc, d->profile ? sums : NULL);
        spectra_body(p, d, w, spectra, ws, NULL, &pc);
        pc_flush(&pc);
    }
    pc_finish(d, sums, t0);
    return FC_OK;
}

fc_status SFX(conv2d_fft_apply)(const fc_fft_conv_plan *p, const fc_conv2d_desc *d,
                                const void *spectra, const FT *x, const FT *bias, FT *y,
                                void *ws) {
    double sums[PH_COUNT] = {0};
    const double t0 = FC_PROFILE_START(d);
#pragma omp parallel num_threads(d->nthreads) if (d->nthreads > 1)
    {
        phase_clock pc;
        pc_init(&pc, d->profile ? sums : NULL);
        apply_body(p, d, spectra, x, bias, y, ws, NULL, &pc);
        pc_flush(&pc);
    }
    pc_finish(d, sums, t0);
    return FC_OK;
}

/* Both in one parallel region, the data transforms overlapping the kernel's (spectra_sync):
 * what a call without a cached plan does. A thread's spectra jobs and apply jobs use the same
 * scratch (thread_scratch), one after the other; mode 0's shared buffers are written only after
 * a barrier. */
fc_status SFX(conv2d_fft)(const fc_fft_conv_plan *p, const fc_conv2d_desc *d, const FT *w,
                          void *spectra, const FT *x, const FT *bias, FT *y, void *ws) {
    int ready = 0;
    spectra_sync sy;
    sy.ready = &ready;
    sy.need = (int)(p->dims == 2 ? p->groups * p->kg * p->cg * p->nkhb
                                 : fc_div_up(p->groups * p->kg * p->cg, VL / p->kdec));
    double sums[PH_COUNT] = {0};
    const double t0 = FC_PROFILE_START(d);
#pragma omp parallel num_threads(d->nthreads) if (d->nthreads > 1)
    {
        phase_clock pc;
        pc_init(&pc, d->profile ? sums : NULL);
        spectra_body(p, d, w, spectra, ws, &sy, &pc);
        if (p->dims == 2 && p->mode == 0) {
#pragma omp barrier
        }
        apply_body(p, d, spectra, x, bias, y, ws, &sy, &pc);
        pc_flush(&pc);
    }
    pc_finish(d, sums, t0);
    return FC_OK;
}
