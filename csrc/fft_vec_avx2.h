/* AVX2 + FMA vocabulary of the FFT templates: 8 floats or 4 doubles per __m256, with the
 * in-register transposes of vec_transpose_avx2.h. */
#include <immintrin.h>
#include "vec_transpose_avx2.h"
#if FC_FFT_F32
typedef float FT;
typedef __m256 V;
#define VL 8
#define VLOAD _mm256_load_ps
#define VSTORE _mm256_store_ps
#define VLOADU _mm256_loadu_ps
#define VSTOREU _mm256_storeu_ps
#define VZERO _mm256_setzero_ps
#define VSET1(x) _mm256_set1_ps((float)(x))
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VFMA _mm256_fmadd_ps
#define VFNMA _mm256_fnmadd_ps
static inline void vtranspose(V *r) { fc_transpose_8x8_ps(r); }
#else
typedef double FT;
typedef __m256d V;
#define VL 4
#define VLOAD _mm256_load_pd
#define VSTORE _mm256_store_pd
#define VLOADU _mm256_loadu_pd
#define VSTOREU _mm256_storeu_pd
#define VZERO _mm256_setzero_pd
#define VSET1(x) _mm256_set1_pd((double)(x))
#define VADD _mm256_add_pd
#define VSUB _mm256_sub_pd
#define VMUL _mm256_mul_pd
#define VFMA _mm256_fmadd_pd
#define VFNMA _mm256_fnmadd_pd
static inline void vtranspose(V *r) { fc_transpose_4x4_pd(r); }
#endif
