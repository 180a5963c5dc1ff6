/* The FFT kernels, written once: fft_<dtype>_<isa>.c defines the vector vocabulary below and
 * includes this file (then conv_fft_impl.h) inside its target pragma.
 *
 *   FT                 float or double          V, VL          vector type and its lanes
 *   VLOAD/VSTORE       aligned, VLOADU/VSTOREU unaligned         VSET1(x), VZERO()
 *   VADD VSUB VMUL     lane-wise                VFMA(a,b,c) = a*b + c, VFNMA(a,b,c) = c - a*b
 *   vtranspose(V r[VL])  in-place VLxVL transpose               SFX(name): exported name
 *
 * Algorithm: Stockham autosort (no bit reversal; every pass reads one buffer and writes
 * another), the pass structure of FFTPACK / pocketfft's cfftp (radix 8, 4, 2, 3, 5 and a
 * generic O(p^2) pass for other primes, twiddles applied after each butterfly). Each element is
 * a vc (fft_internal.h): VL transforms run side by side, one per lane, so every pass is full-width
 * SIMD whatever its radix or stride. The inverse transform is the forward one run on data with
 * real and imaginary parts exchanged (ifft(x) = swap(fft(swap(x)))), which costs nothing here:
 * every load and store takes the offsets of the real part (ro) and imaginary part (io) within
 * an element, and the inverse passes (ro, io) = (VL, 0). Lengths of any size work; the
 * convolution only asks for 2^a 3^b 5^c. */

#define VCF (2 * VL) /* elements of FT per vc */

typedef struct {
    V r, i;
} CV;

static inline CV ld(const FT *p, int ro, int io) {
    CV z;
    z.r = VLOAD(p + ro);
    z.i = VLOAD(p + io);
    return z;
}
static inline void st(FT *p, int ro, int io, CV z) {
    VSTORE(p + ro, z.r);
    VSTORE(p + io, z.i);
}
static inline CV cadd(CV a, CV b) {
    CV z;
    z.r = VADD(a.r, b.r);
    z.i = VADD(a.i, b.i);
    return z;
}
static inline CV csub(CV a, CV b) {
    CV z;
    z.r = VSUB(a.r, b.r);
    z.i = VSUB(a.i, b.i);
    return z;
}
/* a * w for a scalar complex w = (w[0], w[1]) */
static inline CV cmulw(CV a, const FT *w) {
    const V wr = VSET1(w[0]), wi = VSET1(w[1]);
    CV z;
    z.r = VFNMA(a.i, wi, VMUL(a.r, wr));
    z.i = VFMA(a.i, wr, VMUL(a.r, wi));
    return z;
}
/* -i * a */
static inline CV crotm90(CV a) {
    CV z;
    z.r = a.i;
    z.i = VSUB(VZERO(), a.r);
    return z;
}

/* ---- Stockham passes ----------------------------------------------------------------------
 * Input cc is (ido, ip, l1) and output ch (ido, l1, ip), in elements with strides cs and hs
 * (FT units); an input element's real part is at +iro, its imaginary part at +iio (output:
 * oro, oio), so a pass can read or write any split layout, e.g. two rows of a tile buffer.
 * Twiddle (j, i) = omega_n^(j l1 i) = root[ts j i] with ts = rs * l1. */
#define CCP(a, b, c) (cc + ((a) + ido * ((b) + CDIM * (c))) * cs)
#define CHP(a, b, c) (ch + ((a) + ido * ((b) + l1 * (c))) * hs)
#define WA(j, i) (root + 2 * ts * (j) * (i))
#define LD(p) ld(p, iro, iio)
#define ST(p, v) st(p, oro, oio, v)

static void pass2(int64_t ido, int64_t l1, const FT *cc, int64_t cs, FT *ch, int64_t hs,
                  const FT *root, int64_t ts, int64_t iro, int64_t iio, int64_t oro,
                  int64_t oio) {
#define CDIM 2
    for (int64_t k = 0; k < l1; k++)
        for (int64_t i = 0; i < ido; i++) {
            const CV a = LD(CCP(i, 0, k)), b = LD(CCP(i, 1, k));
            ST(CHP(i, k, 0), cadd(a, b));
            CV d = csub(a, b);
            if (i) d = cmulw(d, WA(1, i));
            ST(CHP(i, k, 1), d);
        }
#undef CDIM
}

static void pass3(int64_t ido, int64_t l1, const FT *cc, int64_t cs, FT *ch, int64_t hs,
                  const FT *root, int64_t ts, int64_t iro, int64_t iio, int64_t oro,
                  int64_t oio) {
#define CDIM 3
    const V tw1r = VSET1((FT)-0.5), tw1i = VSET1((FT)-0.86602540378443864676);
    for (int64_t k = 0; k < l1; k++)
        for (int64_t i = 0; i < ido; i++) {
            const CV t0 = LD(CCP(i, 0, k)), c1 = LD(CCP(i, 1, k)), c2 = LD(CCP(i, 2, k));
            const CV t1 = cadd(c1, c2), t2 = csub(c1, c2);
            ST(CHP(i, k, 0), cadd(t0, t1));
            CV ca, cb;
            ca.r = VFMA(tw1r, t1.r, t0.r);
            ca.i = VFMA(tw1r, t1.i, t0.i);
            cb.r = VMUL(VSUB(VZERO(), tw1i), t2.i); /* i * tw1i * t2 */
            cb.i = VMUL(tw1i, t2.r);
            CV d1 = cadd(ca, cb), d2 = csub(ca, cb);
            if (i) {
                d1 = cmulw(d1, WA(1, i));
                d2 = cmulw(d2, WA(2, i));
            }
            ST(CHP(i, k, 1), d1);
            ST(CHP(i, k, 2), d2);
        }
#undef CDIM
}

static void pass4(int64_t ido, int64_t l1, const FT *cc, int64_t cs, FT *ch, int64_t hs,
                  const FT *root, int64_t ts, int64_t iro, int64_t iio, int64_t oro,
                  int64_t oio) {
#define CDIM 4
    for (int64_t k = 0; k < l1; k++)
        for (int64_t i = 0; i < ido; i++) {
            const CV c0 = LD(CCP(i, 0, k)), c1 = LD(CCP(i, 1, k));
            const CV c2 = LD(CCP(i, 2, k)), c3 = LD(CCP(i, 3, k));
            const CV t2 = cadd(c0, c2), t1 = csub(c0, c2);
            const CV t3 = cadd(c1, c3), t4 = crotm90(csub(c1, c3));
            CV y1 = cadd(t1, t4), y2 = csub(t2, t3), y3 = csub(t1, t4);
            ST(CHP(i, k, 0), cadd(t2, t3));
            if (i) {
                y1 = cmulw(y1, WA(1, i));
                y2 = cmulw(y2, WA(2, i));
                y3 = cmulw(y3, WA(3, i));
            }
            ST(CHP(i, k, 1), y1);
            ST(CHP(i, k, 2), y2);
            ST(CHP(i, k, 3), y3);
        }
#undef CDIM
}

static void pass5(int64_t ido, int64_t l1, const FT *cc, int64_t cs, FT *ch, int64_t hs,
                  const FT *root, int64_t ts, int64_t iro, int64_t iio, int64_t oro,
                  int64_t oio) {
#define CDIM 5
    /* cos(2 pi/5), cos(4 pi/5), -sin(2 pi/5), -sin(4 pi/5): the forward transform's signs */
    const V tw1r = VSET1((FT)0.3090169943749474241), tw2r = VSET1((FT)-0.8090169943749474241);
    const V tw1i = VSET1((FT)-0.95105651629515357212), tw2i = VSET1((FT)-0.58778525229247312917);
    for (int64_t k = 0; k < l1; k++)
        for (int64_t i = 0; i < ido; i++) {
            const CV t0 = LD(CCP(i, 0, k)), c1 = LD(CCP(i, 1, k)), c2 = LD(CCP(i, 2, k));
            const CV c3 = LD(CCP(i, 3, k)), c4 = LD(CCP(i, 4, k));
            const CV t1 = cadd(c1, c4), t4 = csub(c1, c4), t2 = cadd(c2, c3), t3 = csub(c2, c3);
            ST(CHP(i, k, 0), cadd(t0, cadd(t1, t2)));
            CV ca, cb, y1, y2, y3, y4;
            /* outputs 1 and 4 */
            ca.r = VFMA(tw2r, t2.r, VFMA(tw1r, t1.r, t0.r));
            ca.i = VFMA(tw2r, t2.i, VFMA(tw1r, t1.i, t0.i));
            cb.i = VFMA(tw2i, t3.r, VMUL(tw1i, t4.r));
            cb.r = VSUB(VZERO(), VFMA(tw2i, t3.i, VMUL(tw1i, t4.i)));
            y1 = cadd(ca, cb);
            y4 = csub(ca, cb);
            /* outputs 2 and 3 */
            ca.r = VFMA(tw1r, t2.r, VFMA(tw2r, t1.r, t0.r));
            ca.i = VFMA(tw1r, t2.i, VFMA(tw2r, t1.i, t0.i));
            cb.i = VFNMA(tw1i, t3.r, VMUL(tw2i, t4.r));
            cb.r = VSUB(VZERO(), VFNMA(tw1i, t3.i, VMUL(tw2i, t4.i)));
            y2 = cadd(ca, cb);
            y3 = csub(ca, cb);
            if (i) {
                y1 = cmulw(y1, WA(1, i));
                y2 = cmulw(y2, WA(2, i));
                y3 = cmulw(y3, WA(3, i));
                y4 = cmulw(y4, WA(4, i));
            }
            ST(CHP(i, k, 1), y1);
            ST(CHP(i, k, 2), y2);
            ST(CHP(i, k, 3), y3);
            ST(CHP(i, k, 4), y4);
        }
#undef CDIM
}

/* radix 8 = a radix-2 step, the twiddles omega_8^k (two of them are shuffles, two a
 * multiplication by 1/sqrt 2), then two radix-4 butterflies: 4 passes instead of 6 of radix 4
 * (or 5 of radix 4 and one of radix 2) for 4096, so less data moves through the caches. */
static inline void dft4(CV u0, CV u1, CV u2, CV u3, CV *y0, CV *y1, CV *y2, CV *y3) {
    const CV t2 = cadd(u0, u2), t1 = csub(u0, u2), t3 = cadd(u1, u3);
    const CV t4 = crotm90(csub(u1, u3));
    *y0 = cadd(t2, t3);
    *y2 = csub(t2, t3);
    *y1 = cadd(t1, t4);
    *y3 = csub(t1, t4);
}

static void pass8(int64_t ido, int64_t l1, const FT *cc, int64_t cs, FT *ch, int64_t hs,
                  const FT *root, int64_t ts, int64_t iro, int64_t iio, int64_t oro,
                  int64_t oio) {
#define CDIM 8
    const V hsqt2 = VSET1((FT)0.70710678118654752440);
    for (int64_t k = 0; k < l1; k++)
        for (int64_t i = 0; i < ido; i++) {
            CV a0, a1, a2, a3, b0, b1, b2, b3;
            {
                const CV c0 = LD(CCP(i, 0, k)), c4 = LD(CCP(i, 4, k));
                a0 = cadd(c0, c4);
                b0 = csub(c0, c4);
            }
            {
                const CV c1 = LD(CCP(i, 1, k)), c5 = LD(CCP(i, 5, k));
                a1 = cadd(c1, c5);
                const CV d = csub(c1, c5); /* times omega_8 = (1 - i) / sqrt 2 */
                b1.r = VMUL(hsqt2, VADD(d.r, d.i));
                b1.i = VMUL(hsqt2, VSUB(d.i, d.r));
            }
            {
                const CV c2 = LD(CCP(i, 2, k)), c6 = LD(CCP(i, 6, k));
                a2 = cadd(c2, c6);
                b2 = crotm90(csub(c2, c6)); /* times omega_8^2 = -i */
            }
            {
                const CV c3 = LD(CCP(i, 3, k)), c7 = LD(CCP(i, 7, k));
                a3 = cadd(c3, c7);
                const CV d = csub(c3, c7); /* times omega_8^3 = (-1 - i) / sqrt 2 */
                b3.r = VMUL(hsqt2, VSUB(d.i, d.r));
                b3.i = VSUB(VZERO(), VMUL(hsqt2, VADD(d.r, d.i)));
            }
            CV y[8];
            dft4(a0, a1, a2, a3, &y[0], &y[2], &y[4], &y[6]);
            dft4(b0, b1, b2, b3, &y[1], &y[3], &y[5], &y[7]);
            ST(CHP(i, k, 0), y[0]);
            if (i)
                for (int j = 1; j < 8; j++) y[j] = cmulw(y[j], WA(j, i));
            for (int j = 1; j < 8; j++) ST(CHP(i, k, j), y[j]);
        }
#undef CDIM
}

/* Any radix ip by the definition, O(ip^2) per butterfly; roots of ip are root[gs m]. Only
 * lengths with a prime factor above 5 get here (never the convolution's). tmp: ip vc. */
static void passg(int64_t ido, int64_t l1, int64_t ip, const FT *cc, int64_t cs, FT *ch,
                  int64_t hs, const FT *root, int64_t ts, int64_t gs, int64_t iro, int64_t iio,
                  int64_t oro, int64_t oio, CV *tmp) {
#define CDIM ip
    for (int64_t k = 0; k < l1; k++)
        for (int64_t i = 0; i < ido; i++) {
            for (int64_t b = 0; b < ip; b++) tmp[b] = LD(CCP(i, b, k));
            for (int64_t j = 0; j < ip; j++) {
                CV acc = tmp[0];
                int64_t m = 0;
                for (int64_t b = 1; b < ip; b++) {
                    m += j;
                    if (m >= ip) m -= ip;
                    acc = cadd(acc, cmulw(tmp[b], root + 2 * gs * m));
                }
                if (i && j) acc = cmulw(acc, WA(j, i));
                ST(CHP(i, k, j), acc);
            }
        }
#undef CDIM
}
#undef CCP
#undef CHP
#undef WA
#undef LD
#undef ST

static inline void vc_copy(FT *dst, const FT *src) {
    VSTORE(dst, VLOAD(src));
    VSTORE(dst + VL, VLOAD(src + VL));
}
static inline void vc_zero(FT *dst) {
    VSTORE(dst, VZERO());
    VSTORE(dst + VL, VZERO());
}

/* One complex FFT of length s->n on VL lanes, from `in` (element stride is, imaginary parts at
 * +iim; FT units) to `out` (os, oim); inverse: unnormalised backward transform. bufa, bufb:
 * scratch of n vc each, distinct from in and out; in may equal out (same layout). gtmp:
 * s->maxgen vc (generic passes only). Inner passes use the vc layout (stride VCF, im at +VL). */
static void cfft_run(const fc_fft_sub *s, const FT *roots, const FT *in, int64_t is, int64_t iim,
                     FT *out, int64_t os, int64_t oim, FT *bufa, FT *bufb, FT *gtmp,
                     int inverse) {
    /* the inverse is the forward transform of the swapped data: exchange the offsets */
    const int64_t vro = inverse ? VL : 0, vio = inverse ? 0 : VL;
    const int64_t iro = inverse ? iim : 0, iio = inverse ? 0 : iim;
    const int64_t oro = inverse ? oim : 0, oio = inverse ? 0 : oim;
    const int64_t n = s->n;
    const FT *root = roots + s->root;
    if (s->npass == 0) { /* n == 1 */
        st(out, oro, oio, ld(in, iro, iio));
        return;
    }
    const FT *src = in;
    int64_t ss = is, sro = iro, sio = iio, l1 = 1;
    for (int p = 0; p < s->npass; p++) {
        const int64_t ip = s->radix[p], ido = n / (l1 * ip), ts = s->rs * l1;
        FT *dst;
        int64_t ds, dro, dio;
        if (p < s->npass - 1 || (p == 0 && (const FT *)out == in)) {
            /* inner pass, or the only pass of an in-place call: into scratch */
            dst = (p & 1) ? bufb : bufa;
            ds = VCF, dro = vro, dio = vio;
        } else {
            dst = out;
            ds = os, dro = oro, dio = oio;
        }
        switch (ip) {
        case 2: pass2(ido, l1, src, ss, dst, ds, root, ts, sro, sio, dro, dio); break;
        case 3: pass3(ido, l1, src, ss, dst, ds, root, ts, sro, sio, dro, dio); break;
        case 4: pass4(ido, l1, src, ss, dst, ds, root, ts, sro, sio, dro, dio); break;
        case 5: pass5(ido, l1, src, ss, dst, ds, root, ts, sro, sio, dro, dio); break;
        case 8: pass8(ido, l1, src, ss, dst, ds, root, ts, sro, sio, dro, dio); break;
        default:
            passg(ido, l1, ip, src, ss, dst, ds, root, ts, s->rs * (n / ip), sro, sio, dro, dio,
                  (CV *)gtmp);
        }
        src = dst;
        ss = ds, sro = dro, sio = dio;
        l1 *= ip;
    }
    if (src != out)
        for (int64_t e = 0; e < n; e++) st(out + e * os, oro, oio, ld(src + e * VCF, vro, vio));
}

/* cfft_run on vc arrays with element strides in vc (the common case). */
static inline void cfft_vc(const fc_fft_sub *s, const FT *roots, const FT *in, int64_t is,
                           FT *out, int64_t os, FT *bufa, FT *bufb, FT *gtmp, int inverse) {
    cfft_run(s, roots, in, is * VCF, VL, out, os * VCF, VL, bufa, bufb, gtmp, inverse);
}

/* Real transforms of even length t = 2h: the t real samples of each lane are packed as h
 * complex z_j = x_2j + i x_2j+1 (a vc buffer of h elements), and
 *   X_k = (Z_k + conj Z_h-k) / 2 - i/2 omega_t^k (Z_k - conj Z_h-k),   k = 0 .. h,
 * the split step below, turns Z = fft_h(z) into the t/2 + 1 bins. Its twiddles omega_t^k are the
 * half transform's own root table (rs = 2) read at stride 1. In place on X (h + 1 elements). */
static void r2c_post(int64_t h, FT *X, const FT *root) {
    const V half = VSET1((FT)0.5);
    {
        const CV z = ld(X, 0, VL);
        CV x0, xh;
        x0.r = VADD(z.r, z.i);
        x0.i = VZERO();
        xh.r = VSUB(z.r, z.i);
        xh.i = VZERO();
        st(X, 0, VL, x0);
        st(X + h * VCF, 0, VL, xh);
    }
    for (int64_t k = 1; k <= h / 2; k++) {
        const CV a = ld(X + k * VCF, 0, VL), b = ld(X + (h - k) * VCF, 0, VL);
        CV e, o;
        e.r = VMUL(half, VADD(a.r, b.r));
        e.i = VMUL(half, VSUB(a.i, b.i));
        o.r = VMUL(half, VADD(a.i, b.i));
        o.i = VMUL(half, VSUB(b.r, a.r));
        const CV q = cmulw(o, root + 2 * k);
        CV xk, xm;
        xk.r = VADD(e.r, q.r);
        xk.i = VADD(e.i, q.i);
        xm.r = VSUB(e.r, q.r);
        xm.i = VSUB(q.i, e.i);
        st(X + k * VCF, 0, VL, xk);
        st(X + (h - k) * VCF, 0, VL, xm);
    }
}

/* The inverse split step: bins X_0 .. X_h (in place) -> Z_0 .. Z_h-1 with
 * Z_k = (X_k + conj X_h-k) + i omega_t^-k (X_k - conj X_h-k), so that the unnormalised inverse
 * FFT of Z is t times the packed samples. Imaginary parts of X_0 and X_h are ignored (they are
 * zero for the spectrum of real data; numpy's irfft ignores them too). */
static void c2r_pre(int64_t h, FT *X, const FT *root) {
    {
        const V x0 = VLOAD(X), xh = VLOAD(X + h * VCF);
        VSTORE(X, VADD(x0, xh));
        VSTORE(X + VL, VSUB(x0, xh));
    }
    for (int64_t k = 1; k <= h / 2; k++) {
        const CV a = ld(X + k * VCF, 0, VL), b = ld(X + (h - k) * VCF, 0, VL);
        CV e, d, o;
        e.r = VADD(a.r, b.r);
        e.i = VSUB(a.i, b.i);
        d.r = VSUB(a.r, b.r);
        d.i = VADD(a.i, b.i);
        /* o = d * conj(omega^k) */
        const V c = VSET1(root[2 * k]), s = VSET1(root[2 * k + 1]);
        o.r = VFMA(d.i, s, VMUL(d.r, c));
        o.i = VFNMA(d.r, s, VMUL(d.i, c));
        CV zk, zm;
        zk.r = VSUB(e.r, o.i);
        zk.i = VADD(e.i, o.r);
        zm.r = VADD(e.r, o.i);
        zm.i = VSUB(o.r, e.i);
        st(X + k * VCF, 0, VL, zk);
        st(X + (h - k) * VCF, 0, VL, zm);
    }
}

/* Forward real FFT of the lanes of `in` (packed samples: h elements for even t; t elements with
 * zero imaginary parts for odd t; element stride is, imaginary parts at +iim, FT units) into X
 * (t/2 + 1 vc, contiguous). a, b: scratch (s->n vc); g: generic-pass scratch. */
static void rfft_run_from(const fc_fft_real *r, const FT *roots, const FT *in, int64_t is,
                          int64_t iim, FT *X, FT *a, FT *b, FT *g) {
    cfft_run(&r->half, roots, in, is, iim, X, VCF, VL, a, b, g, 0);
    if (r->t % 2 == 0) r2c_post(r->half.n, X, roots + r->half.root);
}

static inline void rfft_run(const fc_fft_real *r, const FT *roots, const FT *in, FT *X, FT *a,
                            FT *b, FT *g) {
    rfft_run_from(r, roots, in, VCF, VL, X, a, b, g);
}

/* Inverse of rfft_run, unnormalised (t times the samples), destroying X (t/2 + 1 vc; for odd
 * t, X must hold all t bins: the caller fills the conjugate half); output packed like rfft's
 * input, with stride os and imaginary parts at +oim. */
static void irfft_run_to(const fc_fft_real *r, const FT *roots, FT *X, FT *out, int64_t os,
                         int64_t oim, FT *a, FT *b, FT *g) {
    if (r->t % 2 == 0) c2r_pre(r->half.n, X, roots + r->half.root);
    cfft_run(&r->half, roots, X, VCF, VL, out, os, oim, a, b, g, 1);
}

static inline void irfft_run(const fc_fft_real *r, const FT *roots, FT *X, FT *out, FT *a,
                             FT *b, FT *g) {
    irfft_run_to(r, roots, X, out, VCF, VL, a, b, g);
}

/* ---- transposes between "lanes = columns" and "lanes = rows" ------------------------------
 * R: rows of vc (lanes = columns c0 .. c0+VL-1); S: column-major spectrum [col][khb] of vc
 * (lanes = rows) whose elements lie es vc apart (es > 1 when spectra of several channel pairs
 * are interleaved bin by bin). tr_store moves rows khb*VL .. +VL of R into columns
 * 0 .. ncols-1 of block khb of S (S points at column c0); tr_load is its inverse (columns >=
 * ncols load as 0). */
static void tr_store(const FT *R, FT *S, int64_t nkhb, int64_t khb, int64_t ncols, int64_t es) {
    V re[VL], im[VL];
    for (int q = 0; q < VL; q++) {
        re[q] = VLOAD(R + (khb * VL + q) * VCF);
        im[q] = VLOAD(R + (khb * VL + q) * VCF + VL);
    }
    vtranspose(re);
    vtranspose(im);
    for (int64_t l = 0; l < ncols; l++) {
        VSTORE(S + (l * nkhb + khb) * es * VCF, re[l]);
        VSTORE(S + (l * nkhb + khb) * es * VCF + VL, im[l]);
    }
}

static void tr_load(FT *R, const FT *S, int64_t nkhb, int64_t khb, int64_t ncols) {
    V re[VL], im[VL];
    for (int l = 0; l < VL; l++) {
        if (l < ncols) {
            re[l] = VLOAD(S + (l * nkhb + khb) * VCF);
            im[l] = VLOAD(S + (l * nkhb + khb) * VCF + VL);
        } else {
            re[l] = VZERO();
            im[l] = VZERO();
        }
    }
    vtranspose(re);
    vtranspose(im);
    for (int q = 0; q < VL; q++) {
        VSTORE(R + (khb * VL + q) * VCF, re[q]);
        VSTORE(R + (khb * VL + q) * VCF + VL, im[q]);
    }
}

/* ---- raw transforms (tests and experiments: one thread, plain loops for the lane moves) ----
 * Buffers (fft.c's raw_layout): g, X, a, b of `most` vc each, then the generic-pass scratch,
 * then (2-D) the spectrum. */
#define RAW_BUFS(p, ws, most)                                                                   \
    const FT *roots = (const FT *)((const char *)(ws) + (p)->data_off);                         \
    FT *g = (FT *)((char *)(ws) + (p)->buf_off), *X = g + (most) * VCF;                         \
    FT *a = X + (most) * VCF, *b = a + (most) * VCF, *gt = b + (most) * VCF;                    \
    FT *S = gt + (int64_t)FC_MAX((p)->ax0.half.maxgen, (p)->ax1.maxgen) * VCF;                  \
    (void)S;

fc_status SFX(cfft)(const fc_fft_raw_plan *p, int64_t howmany, const FT *x, FT *y, int inverse,
                    void *ws) {
    const int64_t n = p->ax0.half.n;
    RAW_BUFS(p, ws, p->most)
    const FT scale = inverse ? (FT)1 / (FT)n : (FT)1;
    for (int64_t r0 = 0; r0 < howmany; r0 += VL) {
        const int64_t lanes = FC_MIN(VL, howmany - r0);
        for (int64_t j = 0; j < n; j++)
            for (int l = 0; l < VL; l++) {
                g[j * VCF + l] = l < lanes ? x[2 * ((r0 + l) * n + j)] : 0;
                g[j * VCF + VL + l] = l < lanes ? x[2 * ((r0 + l) * n + j) + 1] : 0;
            }
        cfft_vc(&p->ax0.half, roots, g, 1, X, 1, a, b, gt, inverse);
        for (int64_t j = 0; j < n; j++)
            for (int l = 0; l < lanes; l++) {
                y[2 * ((r0 + l) * n + j)] = X[j * VCF + l] * scale;
                y[2 * ((r0 + l) * n + j) + 1] = X[j * VCF + VL + l] * scale;
            }
    }
    return FC_OK;
}

fc_status SFX(rfft)(const fc_fft_raw_plan *p, int64_t howmany, const FT *x, FT *y, void *ws) {
    const int64_t t = p->ax0.t, nb = t / 2 + 1;
    RAW_BUFS(p, ws, p->most)
    for (int64_t r0 = 0; r0 < howmany; r0 += VL) {
        const int64_t lanes = FC_MIN(VL, howmany - r0);
        for (int64_t m = 0; m < t; m++) {
            FT *e = (t % 2 == 0) ? g + (m / 2) * VCF + (m % 2) * VL : g + m * VCF;
            for (int l = 0; l < VL; l++) e[l] = l < lanes ? x[(r0 + l) * t + m] : 0;
            if (t % 2)
                for (int l = 0; l < VL; l++) e[VL + l] = 0;
        }
        rfft_run(&p->ax0, roots, g, X, a, b, gt);
        for (int64_t k = 0; k < nb; k++)
            for (int l = 0; l < lanes; l++) {
                y[2 * ((r0 + l) * nb + k)] = X[k * VCF + l];
                y[2 * ((r0 + l) * nb + k) + 1] = X[k * VCF + VL + l];
            }
    }
    return FC_OK;
}

fc_status SFX(irfft)(const fc_fft_raw_plan *p, int64_t howmany, const FT *x, FT *y, void *ws) {
    const int64_t t = p->ax0.t, nb = t / 2 + 1;
    RAW_BUFS(p, ws, p->most)
    const FT scale = (FT)1 / (FT)t;
    for (int64_t r0 = 0; r0 < howmany; r0 += VL) {
        const int64_t lanes = FC_MIN(VL, howmany - r0);
        for (int64_t k = 0; k < nb; k++)
            for (int l = 0; l < VL; l++) {
                X[k * VCF + l] = l < lanes ? x[2 * ((r0 + l) * nb + k)] : 0;
                X[k * VCF + VL + l] = l < lanes ? x[2 * ((r0 + l) * nb + k) + 1] : 0;
            }
        if (t % 2) { /* odd length: the full Hermitian spectrum, DC imaginary part dropped */
            for (int l = 0; l < VL; l++) X[VL + l] = 0;
            for (int64_t k = nb; k < t; k++)
                for (int l = 0; l < VL; l++) {
                    X[k * VCF + l] = X[(t - k) * VCF + l];
                    X[k * VCF + VL + l] = -X[(t - k) * VCF + VL + l];
                }
        }
        irfft_run(&p->ax0, roots, X, g, a, b, gt);
        for (int64_t m = 0; m < t; m++) {
            const FT *e = (t % 2 == 0) ? g + (m / 2) * VCF + (m % 2) * VL : g + m * VCF;
            for (int l = 0; l < lanes; l++) y[(r0 + l) * t + m] = e[l] * scale;
        }
    }
    return FC_OK;
}

/* 2-D: real FFT along axis 0 on blocks of VL columns (lanes = columns), transpose, complex FFT
 * along axis 1 on blocks of VL frequency rows (lanes = rows): the convolution's 2-D pipeline.
 * y is the (h/2 + 1, w) half spectrum, halved along axis 0 (numpy: rfftn(x, axes=(1, 0))). */
fc_status SFX(rfft2)(const fc_fft_raw_plan *p, const FT *x, FT *y, void *ws) {
    const int64_t h = p->ax0.t, w = p->ax1.n, hh = h / 2, nkh = hh + 1;
    const int64_t nkhb = fc_div_up(nkh, VL), ncb = fc_div_up(w, VL);
    RAW_BUFS(p, ws, p->most)
    for (int64_t cb = 0; cb < ncb; cb++) {
        const int64_t c0 = cb * VL, ncols = FC_MIN(VL, w - c0);
        for (int64_t j = 0; j < hh; j++)
            for (int l = 0; l < VL; l++) {
                g[j * VCF + l] = l < ncols ? x[(2 * j) * w + c0 + l] : 0;
                g[j * VCF + VL + l] = l < ncols ? x[(2 * j + 1) * w + c0 + l] : 0;
            }
        for (int64_t k = nkh; k < nkhb * VL; k++) vc_zero(X + k * VCF);
        rfft_run(&p->ax0, roots, g, X, a, b, gt);
        for (int64_t khb = 0; khb < nkhb; khb++)
            tr_store(X, S + c0 * nkhb * VCF, nkhb, khb, ncols, 1);
    }
    for (int64_t khb = 0; khb < nkhb; khb++)
        cfft_vc(&p->ax1, roots, S + khb * VCF, nkhb, S + khb * VCF, nkhb, a, b, gt, 0);
    for (int64_t k = 0; k < nkh; k++)
        for (int64_t c = 0; c < w; c++) {
            const FT *e = S + (c * nkhb + k / VL) * VCF + k % VL;
            y[2 * (k * w + c)] = e[0];
            y[2 * (k * w + c) + 1] = e[VL];
        }
    return FC_OK;
}

fc_status SFX(irfft2)(const fc_fft_raw_plan *p, const FT *x, FT *y, void *ws) {
    const int64_t h = p->ax0.t, w = p->ax1.n, hh = h / 2, nkh = hh + 1;
    const int64_t nkhb = fc_div_up(nkh, VL), ncb = fc_div_up(w, VL);
    RAW_BUFS(p, ws, p->most)
    const FT scale = (FT)1 / (FT)(h * w);
    for (int64_t c = 0; c < w; c++)
        for (int64_t kb = 0; kb < nkhb; kb++)
            for (int q = 0; q < VL; q++) {
                const int64_t k = kb * VL + q;
                FT *e = S + (c * nkhb + kb) * VCF + q;
                e[0] = k < nkh ? x[2 * (k * w + c)] : 0;
                e[VL] = k < nkh ? x[2 * (k * w + c) + 1] : 0;
            }
    for (int64_t khb = 0; khb < nkhb; khb++)
        cfft_vc(&p->ax1, roots, S + khb * VCF, nkhb, S + khb * VCF, nkhb, a, b, gt, 1);
    for (int64_t cb = 0; cb < ncb; cb++) {
        const int64_t c0 = cb * VL, ncols = FC_MIN(VL, w - c0);
        for (int64_t khb = 0; khb < nkhb; khb++) tr_load(X, S + c0 * nkhb * VCF, nkhb, khb, ncols);
        irfft_run(&p->ax0, roots, X, g, a, b, gt);
        for (int64_t j = 0; j < hh; j++)
            for (int l = 0; l < ncols; l++) {
                y[(2 * j) * w + c0 + l] = g[j * VCF + l] * scale;
                y[(2 * j + 1) * w + c0 + l] = g[j * VCF + VL + l] * scale;
            }
    }
    return FC_OK;
}
