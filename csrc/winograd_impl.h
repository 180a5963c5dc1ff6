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
 * tiles, all in one parallel region; each block goes through three stages, run by one thread
 * in its own V + M buffer when there are blocks enough for every thread (per_thread), else
 * shared by all threads with a barrier after stages 1 and 2:
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
#if defined(_OPENMP)
#define FC_WG_THREAD_ID() omp_get_thread_num()
#else
#define FC_WG_THREAD_ID() 0
#endif
#endif /* FC_WINOGRAD_TEMPLATE_HELPERS */

#define FC_WG_A (FC_WG_M + 2)       /* input tile side */
#define FC_WG_XI (FC_WG_A * FC_WG_A) /* tile positions: products per tile */
#define FC_NR (2 * FC_VL)
/* Input channels per block of the kernel transform: XI x 8 x NR values, 18 KiB for F(4x4)
 * float32 AVX2 (one L1). */
#define FC_WG_KT_CB 8
/* Input channels ahead that the kernel transform prefetches its filters */
#define FC_WG_PREFETCH_C 16

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

/* U[g][xi][k / NR][c][k % NR] = (G g G^T)[xi] of filter (g*Kg + k, c): one task per panel of
 * NR output channels, so every store fills whole NR-wide rows of U (never half a cache line
 * now and the other half from another thread later). */
FC_NO_LIBCALLS fc_status FC_WFN(winograd_kernel_transform)(const fc_conv2d_desc *d,
                                                           const FC_T *w, FC_T *u,
                                                           int64_t cpad, int64_t kpad) {
    const int64_t groups = d->groups;
    const int64_t xi_stride = kpad * cpad + FC_WINOGRAD_XI_PAD, panels = kpad / FC_NR;
    int stream = 0;
#ifdef FC_VSTREAM
    /* a U beyond FC_WINOGRAD_STREAM_BYTES bypasses the caches (non-temporal stores of whole
     * lines): it would not stay in them anyway, and ordinary stores read every line first */
    stream = (double)groups * (double)FC_WG_XI * (double)xi_stride * sizeof(FC_T) >
             (double)FC_WINOGRAD_STREAM_BYTES;
#endif
#pragma omp parallel for num_threads(d->nthreads) schedule(static)
    for (int64_t gp = 0; gp < groups * panels; gp++) {
        const int64_t g = gp / panels, pn = gp % panels;
        FC_WFN(wg_transform_panel)(d, w, g, pn, cpad,
                                   u + g * FC_WG_XI * xi_stride + pn * cpad * FC_NR,
                                   xi_stride, stream, 0);
    }
#ifdef FC_VSTREAM
    if (stream) FC_SFENCE(); /* the streamed lines are visible before apply reads U */
#endif
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

/* Items [lo, hi) of n that part `part` of `parts` takes (the static split of `omp for`). */
FC_WG_INLINE void FC_WFN(wg_share)(int64_t n, int parts, int part, int64_t *lo, int64_t *hi) {
    *lo = n * part / parts;
    *hi = n * (part + 1) / parts;
}

/* The three stages of one block of nbt tiles from tile t0, group g, by part `part` of `parts`
 * threads sharing it (parts == 1: one thread, no barrier). Barriers after stages 1 and 2: stage
 * 2 reads all of V, stage 3 all of M; the next block's stage 1 barrier keeps its stage 2 from
 * overwriting M before this block's stage 3 has read it. */
FC_WG_INLINE void FC_WFN(wg_block)(const fc_conv2d_desc *d, const FC_T *ug, const FC_T *w,
                                    FC_T *up, const FC_T *x, const FC_T *bias, FC_T *y,
                                    FC_T *v, FC_T *m, int64_t g, int64_t t0, int64_t nbt,
                                    int64_t nb, int64_t cpad, int64_t kpad, int parts, int part,
                                    double *t) {
    const int64_t cg = d->c_in / d->groups, kg = d->c_out / d->groups;
    const int64_t th = fc_div_up(d->h_out, FC_WG_M), tw = fc_div_up(d->w_out, FC_WG_M);
    const int64_t cvecs = fc_div_up(cg, FC_VL), kvecs = fc_div_up(kg, FC_VL);
    const int64_t panels = kpad / FC_NR, row_panels = fc_div_up(nbt, 6);
    const int64_t v_xi = nb * cpad + FC_WINOGRAD_XI_PAD, m_xi = nb * kpad + FC_WINOGRAD_XI_PAD;
    const int64_t u_xi = kpad * cpad + FC_WINOGRAD_XI_PAD;
    int64_t lo, hi;
    FC_WFN(wg_share)(nbt * cvecs, parts, part, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t tl = it / cvecs, c0 = (it % cvecs) * FC_VL;
        FC_WFN(wg_input_tile)(d, x, g, cg, c0, FC_WFN(wg_tile)(t0 + tl, th, tw),
                              v + tl * cpad + c0, v_xi);
    }
    if (parts > 1) {
#pragma omp barrier
    }
    if (t) FC_PROFILE_ADD(d, input_transform, *t);
    if (w) {
        /* fused: this part's panels of the kernel transform, each made in the thread's own
         * buffer up (XI x cpad x NR, in L2 / L3) just before its XI products use it */
        const int64_t up_xi = cpad * FC_NR + FC_WINOGRAD_XI_PAD;
        FC_WFN(wg_share)(panels, parts, part, &lo, &hi);
        for (int64_t pn = lo; pn < hi; pn++) {
            FC_WFN(wg_transform_panel)(d, w, g, pn, cpad, up, up_xi, 0, 1);
            for (int64_t xi = 0; xi < FC_WG_XI; xi++)
                FC_WFN(wg_panel_products)(cpad, kpad, row_panels, v + xi * v_xi,
                                          up + xi * up_xi, m + xi * m_xi + pn * FC_NR);
        }
    } else {
        FC_WFN(wg_share)(FC_WG_XI * panels, parts, part, &lo, &hi);
        for (int64_t job = lo; job < hi; job++) {
            const int64_t xi = job / panels, pn = job % panels;
            FC_WFN(wg_panel_products)(cpad, kpad, row_panels, v + xi * v_xi,
                                      ug + xi * u_xi + pn * cpad * FC_NR,
                                      m + xi * m_xi + pn * FC_NR);
        }
    }
    if (parts > 1) {
#pragma omp barrier
    }
    if (t) FC_PROFILE_ADD(d, multiply, *t);
    FC_WFN(wg_share)(nbt * kvecs, parts, part, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t tl = it / kvecs, k0 = (it % kvecs) * FC_VL;
        FC_WFN(wg_output_tile)(d, m + tl * kpad + k0, m_xi, bias, g, kg, k0,
                               FC_WFN(wg_tile)(t0 + tl, th, tw), y);
    }
    if (t) FC_PROFILE_ADD(d, output_transform, *t);
}

/* Every group and block of nb tiles (nb a multiple of 6). ws holds the V + M buffers, buf
 * elements apart: V is XI x (nb x cpad + pad) elements, M (after V) XI x (nb x kpad + pad);
 * u is the kernel transform's output. Fused (u NULL, the weight w given instead): stage 2
 * transforms the kernel panel by panel into a buffer of up_elems per thread (after the V + M
 * buffers), so U never goes through memory; for one block per group (winograd.c decides).
 * per_thread: each thread takes whole blocks (dynamically) into its own buffer; else all
 * threads share each block in buffer 0. Profile phases are the first thread's times. */
FC_NO_LIBCALLS fc_status FC_WFN(winograd_apply)(const fc_conv2d_desc *d, const FC_T *u,
                                                const FC_T *w, const FC_T *x, const FC_T *bias,
                                                FC_T *y, FC_T *ws, int64_t buf, int64_t up_elems,
                                                int per_thread, int64_t nb, int64_t cpad,
                                                int64_t kpad) {
    const int64_t groups = d->groups;
    const int64_t tiles = d->n * fc_div_up(d->h_out, FC_WG_M) * fc_div_up(d->w_out, FC_WG_M);
    const int64_t nblocks = fc_div_up(tiles, nb);
    const int64_t u_xi = kpad * cpad + FC_WINOGRAD_XI_PAD;
#pragma omp parallel num_threads(d->nthreads)
    {
        const int tid = FC_WG_THREAD_ID();
#if defined(_OPENMP)
        const int team = omp_get_num_threads();
#else
        const int team = 1;
#endif
        double t0 = tid == 0 ? FC_PROFILE_START(d) : 0.0;
        double *t = tid == 0 && d->profile ? &t0 : NULL;
        FC_T *v = ws + (per_thread ? tid : 0) * buf;
        FC_T *m = v + FC_WG_XI * (nb * cpad + FC_WINOGRAD_XI_PAD);
        /* fused (w given, u NULL; only with shared blocks, so one V + M buffer): each
         * thread's panel buffer after it */
        FC_T *up = w ? ws + buf + tid * up_elems : NULL;
        for (int64_t g = 0; g < groups; g++) {
            const FC_T *ug = u ? u + g * FC_WG_XI * u_xi : NULL;
            if (per_thread) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t blk = 0; blk < nblocks; blk++) {
                    const int64_t first = blk * nb;
                    FC_WFN(wg_block)(d, ug, w, up, x, bias, y, v, m, g, first,
                                     FC_MIN(nb, tiles - first), nb, cpad, kpad, 1, 0, t);
                }
            } else {
                for (int64_t blk = 0; blk < nblocks; blk++) {
                    const int64_t first = blk * nb;
                    FC_WFN(wg_block)(d, ug, w, up, x, bias, y, v, m, g, first,
                                     FC_MIN(nb, tiles - first), nb, cpad, kpad, team, tid, t);
                }
            }
        }
    }
    return FC_OK;
}

#undef FC_WG_A
#undef FC_WG_XI
#undef FC_NR
#undef FC_WG_KT_CB
#undef FC_WG_PREFETCH_C
