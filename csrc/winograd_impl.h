/* Winograd F(m x m, 3x3) convolution, written once: a template that csrc/winograd_tiles.h
 * includes once per output tile size m (FC_WG_M: 2 or 4), for each element type and ISA that
 * csrc/winograd_<isa>.c defines. No include guard on purpose.
 *
 * The including files define (winograd_tiles.h #undefs them after the last tile size, except
 * FC_ISA; this file #undefs only its own):
 *   FC_WG_M              output tile side m: 2 or 4 (input tiles are a = m + 2 wide)
 *   FC_T, FC_TNAME       element type (float, double) and its name in symbols (f32, f64)
 *   FC_ISA               ISA suffix of symbols (scalar, avx2, avx512); kept defined
 *   FC_VEC, FC_VL        vector type and its lanes (FC_VL = 1: plain scalars)
 *   FC_VZERO() FC_VSET1(s) FC_VLOAD(p) FC_VSTORE(p, v)   unaligned loads and stores
 *   FC_VADD(a, b) FC_VSUB(a, b) FC_VMUL(a, b) FC_VFMA(a, b, c)   (FMA: a * b + c)
 * and may define (fast paths for channels with non-unit stride, NCHW; without them such tiles
 * go through per-element copies):
 *   FC_WG_GATHER_ROWS(dv, x, xs1, xs2, a)  dv[a*i + k] lane l := x[l*xs1 + i*xs2 + k], a rows,
 *                                        k < a, reading FC_VL columns per row
 *   FC_WG_SCATTER_ROWS(o, y, ys1, ys2, m)  y[l*ys1 + r*ys2 + s] := lane l of o[m*r + s], m x m
 *   FC_WG_GATHER_FILTERS(gv, w, ws0)  gv[j] lane l := w[l*ws0 + j], j < 9: FC_VL contiguous
 *                                        3x3 filters ws0 apart, one tap per vector
 *   FC_VSTREAM(p, v), FC_SFENCE()        a non-temporal store to a vector-aligned p, and
 *                                        the fence after a run of them
 * and may define FC_WG_UKERNEL(cpad, v, ldv, u, m, ldm), stage 2's tile (wg_ukernel_6xnr's
 * contract) from another source: the GEMM's microkernel where its tile is 6 x (2 * FC_VL).
 * and gets fc_<FC_TNAME>_winograd_kernel_transform_f<m>__<FC_ISA>() and
 * fc_<FC_TNAME>_winograd_apply_f<m>__<FC_ISA>() (prototypes and layouts in winograd.h).
 *
 * The math (Lavin and Gray 2016): an a x a input tile d and a 3x3 filter g give the m x m
 * output tile Y = A^T [(G g G^T) .* (B^T d B)] A; summed over the input channels, each of the
 * XI = a^2 tile positions xi is one product
 *     M[xi] (tiles x K) = V[xi] (tiles x C) * U[xi] (C x K).
 * F(4x4, 3x3) (points 0, +-1, +-2, infinity): 36 multiplications per 16 outputs instead of
 * 144, 4x fewer than direct convolution; F(2x2, 3x3) (points 0, +-1, infinity): 16 per 4,
 * 2.25x fewer, but a U of 16/9 of the weight instead of 36/9, cheaper transforms and finer
 * tiles (winograd.c's rule picks one per problem).
 *
 * Design: tiles (image, tile row, tile column of every image, flattened) go in blocks of nb
 * tiles; each block goes through three stages, run by one thread in its own V + M buffer when
 * there are blocks enough for every thread (per_thread: one parallel loop over the blocks),
 * else shared by all threads, one parallel loop (fc_parallel_for) per stage, each stage
 * starting when the previous one has ended:
 *  1. input transform, vectorised across FC_VL input channels: gather the a x a patch (zeros
 *     in the padding), B^T d B, store V[xi][tile][c] (c contiguous);
 *  2. the XI products, parallel over (xi, panel of 2*FC_VL output channels): a 6 x (2*FC_VL)
 *     register tile (6 tiles broadcast from V's rows, 2 vectors of U) accumulates over all C;
 *     U[xi] panels are packed by the kernel transform, so no packing at run time (fused
 *     one-call form: parallel over panels, each transformed into the thread's buffer first);
 *  3. output transform, vectorised across FC_VL output channels: A^T m A plus bias, straight
 *     into y (vector stores when y's channels are contiguous, NHWC; else scattered).
 * The block size bounds V + M (winograd.c's rule), so they stay cache-resident between stages.
 */

#ifndef FC_WINOGRAD_TEMPLATE_HELPERS
#define FC_WINOGRAD_TEMPLATE_HELPERS
#define FC_WG_CAT_(t, name, m, isa) fc_##t##_##name##_f##m##__##isa
#define FC_WG_CAT(t, name, m, isa) FC_WG_CAT_(t, name, m, isa)
#define FC_WFN(name) FC_WG_CAT(FC_TNAME, name, FC_WG_M, FC_ISA)
#define FC_WG_INLINE static inline __attribute__((always_inline))
#endif /* FC_WINOGRAD_TEMPLATE_HELPERS */

#define FC_WG_A (FC_WG_M + 2)       /* input tile side */
#define FC_WG_XI (FC_WG_A * FC_WG_A) /* tile positions: products per tile */
#define FC_NR (2 * FC_VL)
/* Input channels per block of the kernel transform: XI x 8 x NR values, 18 KiB for F(4x4)
 * float32 AVX2 (one L1). */
#define FC_WG_KT_CB 8
/* Input channels ahead that the kernel transform prefetches its filters */
#define FC_WG_PREFETCH_C 16
/* Least work of a chunk of a parallel loop, in instructions (0.5-1 us): claiming a chunk, one
 * compare-and-swap on a line that every thread updates (50-100 ns, more while they contend),
 * stays under a tenth of it. A stage with less work than this runs on the calling thread
 * alone, without waking the others. */
#define FC_WG_CHUNK_OPS 4096
/* Instructions of one transform of FC_VL tiles or filters (input, output or kernel: loads,
 * arithmetic, stores), about 6 per tile position: an estimate for chunk sizes only. */
#define FC_WG_TRANSFORM_OPS (6 * FC_WG_XI)

/* Smallest chunk of a parallel loop over n items of about ops_per_item instructions each:
 * fc_parallel_grain's, but at least FC_WG_CHUNK_OPS of work. */
FC_WG_INLINE int64_t FC_WFN(wg_grain)(int64_t n, int nthreads, int64_t ops_per_item) {
    return fc_parallel_grain(n, nthreads, fc_div_up(FC_WG_CHUNK_OPS, FC_MAX(ops_per_item, 1)));
}

#if FC_WG_M == 4
/* t[0..5] (stride ts) := B^T d[0..5] (stride ds) for F(4, 3): rows of
 * B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
 * factored so that every output costs 2-3 vector operations. */
FC_WG_INLINE void FC_WFN(wg_bt)(const FC_VEC *dv, int ds, FC_VEC *t, int ts) {
    const FC_VEC four = FC_VSET1((FC_T)4), five = FC_VSET1((FC_T)5), two = FC_VSET1((FC_T)2);
    const FC_VEC d0 = dv[0], d1 = dv[ds], d2 = dv[2 * ds], d3 = dv[3 * ds], d4 = dv[4 * ds],
                 d5 = dv[5 * ds];
    const FC_VEC s12 = FC_VADD(d1, d2), s34 = FC_VADD(d3, d4);
    const FC_VEC m12 = FC_VSUB(d1, d2), m43 = FC_VSUB(d4, d3);
    const FC_VEC m42 = FC_VSUB(d4, d2), m31 = FC_VSUB(d3, d1);
    t[0] = FC_VFMA(four, d0, FC_VSUB(d4, FC_VMUL(five, d2)));
    t[ts] = FC_VSUB(s34, FC_VMUL(four, s12));
    t[2 * ts] = FC_VFMA(four, m12, m43);
    t[3 * ts] = FC_VFMA(two, m31, m42);
    t[4 * ts] = FC_VSUB(m42, FC_VMUL(two, m31));
    t[5 * ts] = FC_VFMA(four, d1, FC_VSUB(d5, FC_VMUL(five, d3)));
}

/* o[0..3] (stride os) := A^T m[0..5] (stride ms):
 * A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. */
FC_WG_INLINE void FC_WFN(wg_at)(const FC_VEC *m, int ms, FC_VEC *o, int os) {
    const FC_VEC m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms],
                 m5 = m[5 * ms];
    const FC_VEC s12 = FC_VADD(m1, m2), d12 = FC_VSUB(m1, m2);
    const FC_VEC s34 = FC_VADD(m3, m4), d34 = FC_VSUB(m3, m4);
    o[0] = FC_VADD(FC_VADD(m0, s12), s34);
    o[os] = FC_VFMA(FC_VSET1((FC_T)2), d34, d12);
    o[2 * os] = FC_VFMA(FC_VSET1((FC_T)4), s34, s12);
    o[3 * os] = FC_VADD(FC_VFMA(FC_VSET1((FC_T)8), d34, d12), m5);
}

/* t[0..5] (stride ts) := G g[0..2] (stride gs), G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]. */
FC_WG_INLINE void FC_WFN(wg_g)(const FC_VEC *g, int gs, FC_VEC *t, int ts) {
    const FC_VEC g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
    const FC_VEC s02 = FC_VADD(g0, g2), q = FC_VFMA(FC_VSET1((FC_T)0.25), g0, g2);
    const FC_VEC sixth = FC_VSET1((FC_T)(1.0 / 6)), twelfth = FC_VSET1((FC_T)(1.0 / 12));
    t[0] = FC_VMUL(FC_VSET1((FC_T)0.25), g0);
    t[ts] = FC_VMUL(FC_VSET1((FC_T)(-1.0 / 6)), FC_VADD(s02, g1));
    t[2 * ts] = FC_VMUL(FC_VSET1((FC_T)(-1.0 / 6)), FC_VSUB(s02, g1));
    /* g0/24 + g1/12 + g2/6 = (g0/4 + g2)/6 + g1/12 */
    t[3 * ts] = FC_VFMA(twelfth, g1, FC_VMUL(sixth, q));
    t[4 * ts] = FC_VSUB(FC_VMUL(sixth, q), FC_VMUL(twelfth, g1));
    t[5 * ts] = g2;
}

#elif FC_WG_M == 2

/* t[0..3] (stride ts) := B^T d[0..3] (stride ds) for F(2, 3):
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
FC_WG_INLINE void FC_WFN(wg_bt)(const FC_VEC *dv, int ds, FC_VEC *t, int ts) {
    const FC_VEC d0 = dv[0], d1 = dv[ds], d2 = dv[2 * ds], d3 = dv[3 * ds];
    t[0] = FC_VSUB(d0, d2);
    t[ts] = FC_VADD(d1, d2);
    t[2 * ts] = FC_VSUB(d2, d1);
    t[3 * ts] = FC_VSUB(d1, d3);
}

/* o[0..1] (stride os) := A^T m[0..3] (stride ms): A^T = [1 1 1 0; 0 1 -1 -1]. */
FC_WG_INLINE void FC_WFN(wg_at)(const FC_VEC *m, int ms, FC_VEC *o, int os) {
    const FC_VEC m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms];
    o[0] = FC_VADD(FC_VADD(m0, m1), m2);
    o[os] = FC_VSUB(FC_VSUB(m1, m2), m3);
}

/* t[0..3] (stride ts) := G g[0..2] (stride gs), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
FC_WG_INLINE void FC_WFN(wg_g)(const FC_VEC *g, int gs, FC_VEC *t, int ts) {
    const FC_VEC g0 = g[0], g1 = g[gs], g2 = g[2 * gs], half = FC_VSET1((FC_T)0.5);
    const FC_VEC s02 = FC_VADD(g0, g2);
    t[0] = g0;
    t[ts] = FC_VMUL(half, FC_VADD(s02, g1));
    t[2 * ts] = FC_VMUL(half, FC_VSUB(s02, g1));
    t[3 * ts] = g2;
}

#else
#error "winograd_impl.h: FC_WG_M must be 2 or 4"
#endif

/* One panel pn (NR output channels) of group g's kernel transform: dst[xi * xi_stride + c * NR
 * + k % NR] = (G g G^T)[xi] of filter (g*Kg + pn*NR + k % NR, c) for c < cpad, vectorised
 * across FC_VL consecutive k so that whole contiguous vectors are written; zero for the padded
 * k >= Kg and c >= Cg, so the products need no edge cases. The input channels go in blocks
 * of FC_WG_KT_CB: their XI transformed rows are collected in an L1 block, then written as XI
 * runs of FC_WG_KT_CB rows. Writing each channel's rows straight to U (F(4x4): 36 planes a
 * megabyte apart, one line each) kept 36 write streams and 16 read streams open at once: 512 x 512
 * filters took 10-14 ms. stream: non-temporal stores (a U that will not stay in the caches).
 * in_cache: dst is small enough to stay in cache (the fused path's panel buffer): the rows
 * go straight to it. */
FC_WG_INLINE void FC_WFN(wg_transform_panel)(const fc_conv2d_desc *d, const FC_T *w, int64_t g,
                                             int64_t pn, int64_t cpad, FC_T *dst,
                                             int64_t xi_stride, int stream, int in_cache) {
    const int64_t cg = d->c_in / d->groups, kg = d->c_out / d->groups;
    const int64_t ws0 = d->w_stride[0], ws1 = d->w_stride[1], ws2 = d->w_stride[2],
                  ws3 = d->w_stride[3];
    FC_T blk[FC_WG_XI * FC_WG_KT_CB * FC_NR] __attribute__((aligned(64)));
    (void)stream;
    for (int64_t c0 = 0; c0 < cpad; c0 += FC_WG_KT_CB) {
        const int64_t cb = FC_MIN(FC_WG_KT_CB, cpad - c0);
        for (int64_t cc = 0; cc < cb; cc++) {
            const int64_t c = c0 + cc;
            for (int half = 0; half < 2; half++) {
                const int64_t k0 = pn * FC_NR + half * FC_VL;
                const int64_t lanes = FC_MAX(0, FC_MIN(FC_VL, kg - k0));
                FC_VEC gv[9], t[3 * FC_WG_A];
#ifdef FC_WG_GATHER_FILTERS
                if (c < cg && lanes == FC_VL && ws3 == 1 && ws2 == 3) {
                    const FC_T *wc = w + (g * kg + k0) * ws0 + c * ws1;
                    /* FC_VL filter rows read 9 values at a time: the hardware prefetchers
                     * do not keep up with so many slow streams (a third of a fused call's
                     * time waited on these loads) */
                    if (c + FC_WG_PREFETCH_C < cg)
                        for (int l = 0; l < FC_VL; l++)
                            __builtin_prefetch(wc + l * ws0 + FC_WG_PREFETCH_C * ws1);
                    FC_WG_GATHER_FILTERS(gv, wc, ws0);
                } else
#endif
                {
                    FC_T buf[9 * FC_VL];
                    for (int j = 0; j < 9 * FC_VL; j++) buf[j] = (FC_T)0;
                    if (c < cg)
                        for (int64_t l = 0; l < lanes; l++) {
                            const FC_T *wk = w + (g * kg + k0 + l) * ws0 + c * ws1;
                            for (int r = 0; r < 3; r++)
                                for (int s = 0; s < 3; s++)
                                    buf[(3 * r + s) * FC_VL + l] = wk[r * ws2 + s * ws3];
                        }
                    for (int j = 0; j < 9; j++) gv[j] = FC_VLOAD(buf + j * FC_VL);
                }
                /* in_cache: dst is a thread's L2-sized buffer, no need for blk */
                FC_T *out = in_cache ? dst + c * FC_NR + half * FC_VL
                                     : blk + cc * FC_NR + half * FC_VL;
                const int64_t out_xi = in_cache ? xi_stride : FC_WG_KT_CB * FC_NR;
                for (int s = 0; s < 3; s++) FC_WFN(wg_g)(gv + s, 3, t + s, 3); /* G g */
                for (int i = 0; i < FC_WG_A; i++) { /* row i of (G g) G^T, stored as it is made */
                    FC_VEC row[FC_WG_A];
                    FC_WFN(wg_g)(t + 3 * i, 1, row, 1);
                    for (int j = 0; j < FC_WG_A; j++)
                        FC_VSTORE(out + (FC_WG_A * i + j) * out_xi, row[j]);
                }
            }
        }
        if (in_cache) continue;
        for (int xi = 0; xi < FC_WG_XI; xi++) {
            const FC_T *from = blk + xi * FC_WG_KT_CB * FC_NR;
            FC_T *to = dst + xi * xi_stride + c0 * FC_NR;
#ifdef FC_VSTREAM
            if (stream) {
                for (int64_t e = 0; e < cb * FC_NR; e += FC_VL)
                    FC_VSTREAM(to + e, FC_VLOAD(from + e));
                continue;
            }
#endif
            for (int64_t e = 0; e < cb * FC_NR; e += FC_VL) FC_VSTORE(to + e, FC_VLOAD(from + e));
        }
    }
}

/* The kernel transform as fc_parallel_for's context. */
typedef struct FC_WFN(wg_kt_job) {
    const fc_conv2d_desc *d;
    const FC_T *w;
    FC_T *u;
    int64_t cpad, panels, xi_stride;
    int stream;
} FC_WFN(wg_kt_job);

/* Panels [begin, end) of all groups' (group-major: item g * panels + pn). */
static FC_NO_LIBCALLS void FC_WFN(wg_kt_panels)(void *arg, int64_t begin, int64_t end,
                                                int thread) {
    const FC_WFN(wg_kt_job) *job = (const FC_WFN(wg_kt_job) *)arg;
    (void)thread;
    for (int64_t gp = begin; gp < end; gp++) {
        const int64_t g = gp / job->panels, pn = gp % job->panels;
        FC_WFN(wg_transform_panel)(job->d, job->w, g, pn, job->cpad,
                                   job->u + g * FC_WG_XI * job->xi_stride + pn * job->cpad * FC_NR,
                                   job->xi_stride, job->stream, 0);
    }
#ifdef FC_VSTREAM
    /* this chunk's streamed lines are visible before it counts as done: apply may read them
     * on any thread, and the thread that made them fences only its own stores */
    if (job->stream) FC_SFENCE();
#endif
}

/* U[g][xi][k / NR][c][k % NR] = (G g G^T)[xi] of filter (g*Kg + k, c): one item per panel of
 * NR output channels, so every store fills whole NR-wide rows of U (never half a cache line
 * now and the other half from another thread later). A panel is 2 x cpad filter transforms:
 * chunks of one panel but for small cpad or many panels per thread (wg_grain). */
FC_NO_LIBCALLS fc_status FC_WFN(winograd_kernel_transform)(const fc_conv2d_desc *d,
                                                           const FC_T *w, FC_T *u,
                                                           int64_t cpad, int64_t kpad) {
    FC_WFN(wg_kt_job) job = {d, w, u, cpad, kpad / FC_NR, kpad * cpad + FC_WINOGRAD_XI_PAD, 0};
#ifdef FC_VSTREAM
    /* a U beyond FC_WINOGRAD_STREAM_BYTES bypasses the caches (non-temporal stores of whole
     * lines): it would not stay in them anyway, and ordinary stores read every line first */
    job.stream = (double)d->groups * (double)FC_WG_XI * (double)job.xi_stride * sizeof(FC_T) >
                 (double)FC_WINOGRAD_STREAM_BYTES;
#endif
    const int64_t items = d->groups * job.panels;
    fc_parallel_for(d->nthreads, items,
                    FC_WFN(wg_grain)(items, d->nthreads, 2 * cpad * FC_WG_TRANSFORM_OPS),
                    FC_WFN(wg_kt_panels), &job);
    return FC_OK;
}

/* Where tile `tile` (flattened over images, tile rows, tile columns) lies. */
typedef struct FC_WFN(wg_tile_pos) {
    int64_t b, oh, ow; /* image, first output row and column */
} FC_WFN(wg_tile_pos);

FC_WG_INLINE FC_WFN(wg_tile_pos) FC_WFN(wg_tile)(int64_t tile, int64_t th, int64_t tw) {
    FC_WFN(wg_tile_pos) p;
    const int64_t per_image = th * tw, r = tile % per_image;
    p.b = tile / per_image;
    p.oh = FC_WG_M * (r / tw);
    p.ow = FC_WG_M * (r % tw);
    return p;
}

/* Stage 1 for one tile and FC_VL channels c0.. of group g: V[xi][t][c0..] := B^T d B. */
FC_WG_INLINE void FC_WFN(wg_input_tile)(const fc_conv2d_desc *d, const FC_T *x, int64_t g,
                                        int64_t cg, int64_t c0, FC_WFN(wg_tile_pos) p, FC_T *v,
                                        int64_t v_xi_stride) {
    FC_VEC dv[FC_WG_XI], t[FC_WG_XI];
    const int64_t ih0 = p.oh - d->pad_top, iw0 = p.ow - d->pad_left;
    const int64_t i_lo = FC_MAX(0, -ih0), i_hi = FC_MIN(FC_WG_A, d->h - ih0);
    const int64_t k_lo = FC_MAX(0, -iw0), k_hi = FC_MIN(FC_WG_A, d->w - iw0);
    const int64_t lanes = FC_MIN(FC_VL, cg - c0);
    const int64_t xs1 = d->x_stride[1], xs2 = d->x_stride[2], xs3 = d->x_stride[3];
    const FC_T *xb = x + p.b * d->x_stride[0] + (g * cg + c0) * xs1 + ih0 * xs2 + iw0 * xs3;
#ifdef FC_WG_GATHER_ROWS
    if (xs1 != 1 && xs3 == 1 && lanes == FC_VL && i_lo == 0 && i_hi == FC_WG_A && k_lo == 0 &&
        iw0 + FC_VL <= d->w) {
        FC_WG_GATHER_ROWS(dv, xb, xs1, xs2, FC_WG_A);
    } else
#endif
    if (xs1 == 1 && lanes == FC_VL) {
        /* channels contiguous (NHWC): one vector load per tap in range */
        for (int i = 0; i < FC_WG_A; i++)
            for (int k = 0; k < FC_WG_A; k++)
                dv[FC_WG_A * i + k] = (i >= i_lo && i < i_hi && k >= k_lo && k < k_hi)
                                    ? FC_VLOAD(xb + i * xs2 + k * xs3)
                                    : FC_VZERO();
    } else {
        FC_T buf[FC_WG_XI * FC_VL];
        for (int j = 0; j < FC_WG_XI * FC_VL; j++) buf[j] = (FC_T)0;
        for (int64_t l = 0; l < lanes; l++) {
            const FC_T *xl = xb + l * xs1;
            for (int64_t i = i_lo; i < i_hi; i++)
                for (int64_t k = k_lo; k < k_hi; k++)
                    buf[(FC_WG_A * i + k) * FC_VL + l] = xl[i * xs2 + k * xs3];
        }
        for (int j = 0; j < FC_WG_XI; j++) dv[j] = FC_VLOAD(buf + j * FC_VL);
    }
    for (int k = 0; k < FC_WG_A; k++) /* columns: B^T d */
        FC_WFN(wg_bt)(dv + k, FC_WG_A, t + k, FC_WG_A);
    for (int i = 0; i < FC_WG_A; i++) /* rows: (.) B */
        FC_WFN(wg_bt)(t + FC_WG_A * i, 1, dv + FC_WG_A * i, 1);
    for (int xi = 0; xi < FC_WG_XI; xi++) FC_VSTORE(v + xi * v_xi_stride, dv[xi]);
}

/* Stage 3 for one tile and FC_VL output channels k0.. of group g: y := A^T m A + bias. */
FC_WG_INLINE void FC_WFN(wg_output_tile)(const fc_conv2d_desc *d, const FC_T *m,
                                         int64_t m_xi_stride, const FC_T *bias, int64_t g,
                                         int64_t kg, int64_t k0, FC_WFN(wg_tile_pos) p,
                                         FC_T *y) {
    FC_VEC mv[FC_WG_XI], t[FC_WG_M * FC_WG_A], o[FC_WG_M * FC_WG_M];
    for (int xi = 0; xi < FC_WG_XI; xi++) mv[xi] = FC_VLOAD(m + xi * m_xi_stride);
    for (int j = 0; j < FC_WG_A; j++) /* A^T m: m x a */
        FC_WFN(wg_at)(mv + j, FC_WG_A, t + j, FC_WG_A);
    for (int i = 0; i < FC_WG_M; i++) /* (.) A: m x m */
        FC_WFN(wg_at)(t + FC_WG_A * i, 1, o + FC_WG_M * i, 1);
    const int64_t lanes = FC_MIN(FC_VL, kg - k0);
    const int64_t r_hi = FC_MIN(FC_WG_M, d->h_out - p.oh), s_hi = FC_MIN(FC_WG_M, d->w_out - p.ow);
    const int64_t ys1 = d->y_stride[1], ys2 = d->y_stride[2], ys3 = d->y_stride[3];
    FC_T *yb = y + p.b * d->y_stride[0] + (g * kg + k0) * ys1 + p.oh * ys2 + p.ow * ys3;
    FC_T bv[FC_VL];
    for (int l = 0; l < FC_VL; l++)
        bv[l] = (bias && l < lanes) ? bias[(g * kg + k0 + l) * d->bias_stride] : (FC_T)0;
    const FC_VEC bvec = FC_VLOAD(bv);
    for (int j = 0; j < FC_WG_M * FC_WG_M; j++) o[j] = FC_VADD(o[j], bvec);
#ifdef FC_WG_SCATTER_ROWS
    if (ys1 != 1 && ys3 == 1 && lanes == FC_VL && r_hi == FC_WG_M && s_hi == FC_WG_M) {
        FC_WG_SCATTER_ROWS(o, yb, ys1, ys2, FC_WG_M);
    } else
#endif
    if (ys1 == 1 && lanes == FC_VL) {
        for (int64_t r = 0; r < r_hi; r++)
            for (int64_t s = 0; s < s_hi; s++)
                FC_VSTORE(yb + r * ys2 + s * ys3, o[FC_WG_M * r + s]);
    } else {
        FC_T buf[FC_WG_M * FC_WG_M * FC_VL];
        for (int j = 0; j < FC_WG_M * FC_WG_M; j++) FC_VSTORE(buf + j * FC_VL, o[j]);
        for (int64_t l = 0; l < lanes; l++) {
            FC_T *yl = yb + l * ys1;
            for (int64_t r = 0; r < r_hi; r++)
                for (int64_t s = 0; s < s_hi; s++)
                    yl[r * ys2 + s * ys3] = buf[(FC_WG_M * r + s) * FC_VL + l];
        }
    }
}

/* Stage 2 microkernel: m[i][0 .. NR) := sum_c v_i[c] * u[c][0 .. NR) for the 6 tile rows v_i
 * (stride ldv) and one packed panel u (cpad x NR); m rows have stride ldm. */
FC_WG_INLINE void FC_WFN(wg_ukernel_6xnr)(int64_t cpad, const FC_T *v, int64_t ldv,
                                           const FC_T *u, FC_T *m, int64_t ldm) {
    FC_VEC c00 = FC_VZERO(), c01 = FC_VZERO(), c10 = FC_VZERO(), c11 = FC_VZERO();
    FC_VEC c20 = FC_VZERO(), c21 = FC_VZERO(), c30 = FC_VZERO(), c31 = FC_VZERO();
    FC_VEC c40 = FC_VZERO(), c41 = FC_VZERO(), c50 = FC_VZERO(), c51 = FC_VZERO();
    const FC_T *v0 = v, *v1 = v + ldv, *v2 = v + 2 * ldv, *v3 = v + 3 * ldv, *v4 = v + 4 * ldv,
               *v5 = v + 5 * ldv;
    for (int64_t c = 0; c < cpad; c++, u += FC_NR) {
        const FC_VEC b0 = FC_VLOAD(u), b1 = FC_VLOAD(u + FC_VL);
        FC_VEC a = FC_VSET1(v0[c]);
        c00 = FC_VFMA(a, b0, c00);
        c01 = FC_VFMA(a, b1, c01);
        a = FC_VSET1(v1[c]);
        c10 = FC_VFMA(a, b0, c10);
        c11 = FC_VFMA(a, b1, c11);
        a = FC_VSET1(v2[c]);
        c20 = FC_VFMA(a, b0, c20);
        c21 = FC_VFMA(a, b1, c21);
        a = FC_VSET1(v3[c]);
        c30 = FC_VFMA(a, b0, c30);
        c31 = FC_VFMA(a, b1, c31);
        a = FC_VSET1(v4[c]);
        c40 = FC_VFMA(a, b0, c40);
        c41 = FC_VFMA(a, b1, c41);
        a = FC_VSET1(v5[c]);
        c50 = FC_VFMA(a, b0, c50);
        c51 = FC_VFMA(a, b1, c51);
    }
    FC_VSTORE(m, c00);
    FC_VSTORE(m + FC_VL, c01);
    FC_VSTORE(m + ldm, c10);
    FC_VSTORE(m + ldm + FC_VL, c11);
    FC_VSTORE(m + 2 * ldm, c20);
    FC_VSTORE(m + 2 * ldm + FC_VL, c21);
    FC_VSTORE(m + 3 * ldm, c30);
    FC_VSTORE(m + 3 * ldm + FC_VL, c31);
    FC_VSTORE(m + 4 * ldm, c40);
    FC_VSTORE(m + 4 * ldm + FC_VL, c41);
    FC_VSTORE(m + 5 * ldm, c50);
    FC_VSTORE(m + 5 * ldm + FC_VL, c51);
}

/* Stage 2 for one tile position and one panel: m (row_panels x 6 tile rows, stride kpad) :=
 * v (rows of stride cpad) x up (a packed cpad x NR panel of U). The last row panel's rows past
 * the block's tiles read and write padding rows of v and m (inside the buffers; their results
 * are never used). */
FC_WG_INLINE void FC_WFN(wg_panel_products)(int64_t cpad, int64_t kpad, int64_t row_panels,
                                            const FC_T *v, const FC_T *up, FC_T *m) {
    for (int64_t rp = 0; rp < row_panels; rp++) {
#ifdef FC_WG_UKERNEL
        FC_WG_UKERNEL(cpad, v + rp * 6 * cpad, cpad, up, m + rp * 6 * kpad, kpad);
#else
        FC_WFN(wg_ukernel_6xnr)(cpad, v + rp * 6 * cpad, cpad, up, m + rp * 6 * kpad, kpad);
#endif
    }
}

/* One apply call as fc_parallel_for's context, with the sizes every stage uses. V + M buffer
 * i is at ws + i * buf (M after V's v_elems); fused, thread i's panel buffer is at
 * up0 + i * up_elems. g, t0, nbt: with shared blocks, the block the next stage call works on
 * (the caller sets them between calls). */
typedef struct FC_WFN(wg_apply_job) {
    const fc_conv2d_desc *d;
    const FC_T *u, *w, *x, *bias;
    FC_T *y, *ws, *up0;
    int64_t buf, up_elems, nb, cpad, kpad, tiles, nblocks;
    int64_t cg, kg, th, tw, cvecs, kvecs, panels, v_elems, v_xi, m_xi, u_xi, up_xi;
    int64_t g, t0, nbt;
} FC_WFN(wg_apply_job);

/* Stage 1, items [lo, hi) of the block's nbt x cvecs (tile-major): V[xi][tile][c0 ..] of the
 * block of tiles from t0 of group g. */
FC_WG_INLINE void FC_WFN(wg_inputs)(const FC_WFN(wg_apply_job) *j, int64_t g, int64_t t0,
                                    FC_T *v, int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; it++) {
        const int64_t tl = it / j->cvecs, c0 = (it % j->cvecs) * FC_VL;
        FC_WFN(wg_input_tile)(j->d, j->x, g, j->cg, c0, FC_WFN(wg_tile)(t0 + tl, j->th, j->tw),
                              v + tl * j->cpad + c0, j->v_xi);
    }
}

/* Stage 2 with a kept U, items [lo, hi) of XI x panels (xi-major: a chunk's items share V's
 * plane xi): M[xi][..][pn panel] := V[xi] x U[g][xi] panel pn for the block's nbt tiles. Each
 * item sums over all of cpad itself, so M does not depend on how the items are shared. */
FC_WG_INLINE void FC_WFN(wg_products)(const FC_WFN(wg_apply_job) *j, int64_t g, int64_t nbt,
                                      const FC_T *v, FC_T *m, int64_t lo, int64_t hi) {
    const FC_T *ug = j->u + g * FC_WG_XI * j->u_xi;
    const int64_t row_panels = fc_div_up(nbt, 6);
    for (int64_t job = lo; job < hi; job++) {
        const int64_t xi = job / j->panels, pn = job % j->panels;
        FC_WFN(wg_panel_products)(j->cpad, j->kpad, row_panels, v + xi * j->v_xi,
                                  ug + xi * j->u_xi + pn * j->cpad * FC_NR,
                                  m + xi * j->m_xi + pn * FC_NR);
    }
}

/* Stage 2 fused, panels [lo, hi): each panel of the kernel transform made in the thread's own
 * buffer up (XI x cpad x NR, in L2 / L3) just before its XI products use it. */
FC_WG_INLINE void FC_WFN(wg_fused_products)(const FC_WFN(wg_apply_job) *j, int64_t g,
                                            int64_t nbt, const FC_T *v, FC_T *m, FC_T *up,
                                            int64_t lo, int64_t hi) {
    const int64_t row_panels = fc_div_up(nbt, 6);
    for (int64_t pn = lo; pn < hi; pn++) {
        FC_WFN(wg_transform_panel)(j->d, j->w, g, pn, j->cpad, up, j->up_xi, 0, 1);
        for (int64_t xi = 0; xi < FC_WG_XI; xi++)
            FC_WFN(wg_panel_products)(j->cpad, j->kpad, row_panels, v + xi * j->v_xi,
                                      up + xi * j->up_xi, m + xi * j->m_xi + pn * FC_NR);
    }
}

/* Stage 3, items [lo, hi) of the block's nbt x kvecs (tile-major): y := A^T M A + bias. */
FC_WG_INLINE void FC_WFN(wg_outputs)(const FC_WFN(wg_apply_job) *j, int64_t g, int64_t t0,
                                     const FC_T *m, int64_t lo, int64_t hi) {
    for (int64_t it = lo; it < hi; it++) {
        const int64_t tl = it / j->kvecs, k0 = (it % j->kvecs) * FC_VL;
        FC_WFN(wg_output_tile)(j->d, m + tl * j->kpad + k0, j->m_xi, j->bias, g, j->kg, k0,
                               FC_WFN(wg_tile)(t0 + tl, j->th, j->tw), j->y);
    }
}

/* per_thread: blocks [begin, end) of all groups' (group-major: item g * nblocks + block), each
 * through its three stages by this thread alone, in its own V + M buffer. The calling thread
 * (0) adds its own stage times to the profile: the stages of different threads' blocks
 * overlap, so there is no wall time of a stage to measure. */
static FC_NO_LIBCALLS void FC_WFN(wg_whole_blocks)(void *arg, int64_t begin, int64_t end,
                                                   int thread) {
    const FC_WFN(wg_apply_job) *j = (const FC_WFN(wg_apply_job) *)arg;
    const fc_conv2d_desc *d = j->d;
    FC_T *v = j->ws + thread * j->buf, *m = v + j->v_elems;
    FC_T *up = j->w ? j->up0 + thread * j->up_elems : NULL;
    for (int64_t item = begin; item < end; item++) {
        const int64_t g = item / j->nblocks, t0 = (item % j->nblocks) * j->nb;
        const int64_t nbt = FC_MIN(j->nb, j->tiles - t0);
        double t = thread == 0 ? FC_PROFILE_START(d) : 0.0;
        FC_WFN(wg_inputs)(j, g, t0, v, 0, nbt * j->cvecs);
        if (thread == 0) FC_PROFILE_ADD(d, input_transform, t);
        if (j->w)
            FC_WFN(wg_fused_products)(j, g, nbt, v, m, up, 0, j->panels);
        else
            FC_WFN(wg_products)(j, g, nbt, v, m, 0, FC_WG_XI * j->panels);
        if (thread == 0) FC_PROFILE_ADD(d, multiply, t);
        FC_WFN(wg_outputs)(j, g, t0, m, 0, nbt * j->kvecs);
        if (thread == 0) FC_PROFILE_ADD(d, output_transform, t);
    }
}

/* Shared blocks: one stage of the block j->g, j->t0, j->nbt, items [begin, end) of that
 * stage, in buffer 0. */
static FC_NO_LIBCALLS void FC_WFN(wg_shared_inputs)(void *arg, int64_t begin, int64_t end,
                                                    int thread) {
    const FC_WFN(wg_apply_job) *j = (const FC_WFN(wg_apply_job) *)arg;
    (void)thread;
    FC_WFN(wg_inputs)(j, j->g, j->t0, j->ws, begin, end);
}

static FC_NO_LIBCALLS void FC_WFN(wg_shared_products)(void *arg, int64_t begin, int64_t end,
                                                      int thread) {
    const FC_WFN(wg_apply_job) *j = (const FC_WFN(wg_apply_job) *)arg;
    if (j->w)
        FC_WFN(wg_fused_products)(j, j->g, j->nbt, j->ws, j->ws + j->v_elems,
                                  j->up0 + thread * j->up_elems, begin, end);
    else
        FC_WFN(wg_products)(j, j->g, j->nbt, j->ws, j->ws + j->v_elems, begin, end);
}

static FC_NO_LIBCALLS void FC_WFN(wg_shared_outputs)(void *arg, int64_t begin, int64_t end,
                                                     int thread) {
    const FC_WFN(wg_apply_job) *j = (const FC_WFN(wg_apply_job) *)arg;
    (void)thread;
    FC_WFN(wg_outputs)(j, j->g, j->t0, j->ws + j->v_elems, begin, end);
}

/* Every group and block of nb tiles (nb a multiple of 6). ws holds the V + M buffers, buf
 * elements apart: V is XI x (nb x cpad + pad) elements, M (after V) XI x (nb x kpad + pad);
 * u is the kernel transform's output. Fused (u NULL, the weight w given instead): stage 2
 * transforms the kernel panel by panel into a buffer of up_elems per thread (after the V + M
 * buffers), so U never goes through memory; for one block per group (winograd.c decides).
 * per_thread: each thread takes whole blocks (dynamically) into its own buffer, one parallel
 * loop over all groups' blocks. Else all threads share each block in buffer 0, one parallel
 * loop per stage, each called when the previous one has returned: stage 2 reads all of V,
 * stage 3 all of M, and the next block's stage 2 overwrites M. Profile phases: with shared
 * blocks the wall time of each stage's call, else the calling thread's own stage times
 * (wg_whole_blocks). */
FC_NO_LIBCALLS fc_status FC_WFN(winograd_apply)(const fc_conv2d_desc *d, const FC_T *u,
                                                const FC_T *w, const FC_T *x, const FC_T *bias,
                                                FC_T *y, FC_T *ws, int64_t buf, int64_t up_elems,
                                                int per_thread, int64_t nb, int64_t cpad,
                                                int64_t kpad) {
    const int nt = FC_MAX(d->nthreads, 1);
    FC_WFN(wg_apply_job) j;
    j.d = d;
    j.u = u;
    j.w = w;
    j.x = x;
    j.bias = bias;
    j.y = y;
    j.ws = ws;
    /* the panel buffers follow the V + M buffers: one per thread when per_thread, else one */
    j.up0 = w ? ws + (per_thread ? nt : 1) * buf : NULL;
    j.buf = buf;
    j.up_elems = up_elems;
    j.nb = nb;
    j.cpad = cpad;
    j.kpad = kpad;
    j.th = fc_div_up(d->h_out, FC_WG_M);
    j.tw = fc_div_up(d->w_out, FC_WG_M);
    j.tiles = d->n * j.th * j.tw;
    j.nblocks = fc_div_up(j.tiles, nb);
    j.cg = d->c_in / d->groups;
    j.kg = d->c_out / d->groups;
    j.cvecs = fc_div_up(j.cg, FC_VL);
    j.kvecs = fc_div_up(j.kg, FC_VL);
    j.panels = kpad / FC_NR;
    j.v_xi = nb * cpad + FC_WINOGRAD_XI_PAD;
    j.m_xi = nb * kpad + FC_WINOGRAD_XI_PAD;
    j.v_elems = FC_WG_XI * j.v_xi;
    j.u_xi = kpad * cpad + FC_WINOGRAD_XI_PAD;
    j.up_xi = cpad * FC_NR + FC_WINOGRAD_XI_PAD;
    j.g = j.t0 = j.nbt = 0;
    if (per_thread) {
        /* a block is the coarsest item there is (a V + M buffer's worth): chunks of one */
        fc_parallel_for(nt, d->groups * j.nblocks, 1, FC_WFN(wg_whole_blocks), &j);
        return FC_OK;
    }
    for (int64_t g = 0; g < d->groups; g++)
        for (int64_t blk = 0; blk < j.nblocks; blk++) {
            j.g = g;
            j.t0 = blk * nb;
            j.nbt = FC_MIN(nb, j.tiles - j.t0);
            double t = FC_PROFILE_START(d);
            const int64_t inputs = j.nbt * j.cvecs;
            fc_parallel_for(nt, inputs, FC_WFN(wg_grain)(inputs, nt, FC_WG_TRANSFORM_OPS),
                            FC_WFN(wg_shared_inputs), &j);
            FC_PROFILE_ADD(d, input_transform, t);
            /* fused: a panel (its kernel transform and XI products) is coarse, chunks of one;
             * else an item is one tile position's products for one panel: per 6 tiles and
             * input channel 12 vector multiply-adds, 6 broadcasts and 2 loads */
            const int64_t products = w ? j.panels : FC_WG_XI * j.panels;
            const int64_t grain =
                w ? 1 : FC_WFN(wg_grain)(products, nt, 20 * fc_div_up(j.nbt, 6) * cpad);
            fc_parallel_for(nt, products, grain, FC_WFN(wg_shared_products), &j);
            FC_PROFILE_ADD(d, multiply, t);
            const int64_t outputs = j.nbt * j.kvecs;
            fc_parallel_for(nt, outputs, FC_WFN(wg_grain)(outputs, nt, FC_WG_TRANSFORM_OPS),
                            FC_WFN(wg_shared_outputs), &j);
            FC_PROFILE_ADD(d, output_transform, t);
        }
    return FC_OK;
}

#undef FC_WG_A
#undef FC_WG_XI
#undef FC_NR
#undef FC_WG_KT_CB
#undef FC_WG_PREFETCH_C
#undef FC_WG_CHUNK_OPS
#undef FC_WG_TRANSFORM_OPS
