/* Sweep of the GEMM cache blocks (MC, KC, NC) for one shape, configurations interleaved in one
 * process (round-robin, best of N rounds each), as used for the table in csrc/gemm.c.
 *
 *   cc -O3 -std=c99 -pthread -Icsrc bench/tune_gemm_blocking.c csrc/gemm*.c \
 *      csrc/cpu_features.c csrc/parallel.c -o /tmp/tune_gemm
 *   /tmp/tune_gemm M K N THREADS ROUNDS MC,KC,NC [MC,KC,NC ...]
 *   /tmp/tune_gemm 1024 1024 1024 1 30 240,256,4080 240,384,4080 120,384,4080
 *
 * float32, active ISA; sets the blocks with fc_f32_set_gemm_blocking. */
#define _POSIX_C_SOURCE 200112L
#define _ISOC11_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm_internal.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s M K N THREADS ROUNDS MC,KC,NC ...\n", argv[0]);
        return 2;
    }
    const int64_t m = atol(argv[1]), k = atol(argv[2]), n = atol(argv[3]);
    const int nt = atoi(argv[4]), rounds = atoi(argv[5]), ncfg = argc - 6;
    int64_t cfg[64][3];
    double best[64];
    for (int i = 0; i < ncfg && i < 64; i++) {
        sscanf(argv[6 + i], "%ld,%ld,%ld", &cfg[i][0], &cfg[i][1], &cfg[i][2]);
        best[i] = 1e30;
    }
    float *a = aligned_alloc(64, (size_t)(m * k * 4 + 63) / 64 * 64);
    float *b = aligned_alloc(64, (size_t)(k * n * 4 + 63) / 64 * 64);
    float *c = aligned_alloc(64, (size_t)(m * n * 4 + 63) / 64 * 64);
    for (int64_t i = 0; i < m * k; i++) a[i] = (float)(i % 13) * 1e-2f;
    for (int64_t i = 0; i < k * n; i++) b[i] = (float)(i % 11) * 1e-2f;
    memset(c, 0, (size_t)(m * n) * 4);
    const size_t wsb = (size_t)256 << 20;
    void *ws = aligned_alloc(64, wsb);
    memset(ws, 0, wsb);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < ncfg; i++) {
            fc_gemm_blocking blk;
            fc_f32_gemm_blocking(fc_active_isa(), &blk);
            blk.mc = cfg[i][0], blk.kc = cfg[i][1], blk.nc = cfg[i][2];
            if (fc_f32_set_gemm_blocking(fc_active_isa(), &blk) != FC_OK) return 2;
            const double t0 = now();
            fc_f32_gemm(m, n, k, 1.f, a, k, 1, b, n, 1, 0.f, c, n, 1, nt, ws, wsb);
            const double t = now() - t0;
            if (t < best[i]) best[i] = t;
        }
    for (int i = 0; i < ncfg; i++)
        printf("%ldx%ldx%ld threads %d MC %ld KC %ld NC %ld: %.1f GFLOP/s\n", (long)m, (long)k,
               (long)n, nt, (long)cfg[i][0], (long)cfg[i][1], (long)cfg[i][2],
               2.0 * m * n * k / best[i] / 1e9);
    return 0;
}
