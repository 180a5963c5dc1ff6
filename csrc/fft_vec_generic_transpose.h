/* A VLxVL transpose through memory, for ISAs without a shuffle version (scalar, AVX-512). */
static inline void vtranspose(V *r) {
    FT t[VL][VL] __attribute__((aligned(64)));
    FT u[VL][VL] __attribute__((aligned(64)));
    for (int i = 0; i < VL; i++) VSTORE(t[i], r[i]);
    for (int i = 0; i < VL; i++)
        for (int j = 0; j < VL; j++) u[i][j] = t[j][i];
    for (int i = 0; i < VL; i++) r[i] = VLOAD(u[i]);
}
