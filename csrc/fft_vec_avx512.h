/* AVX-512F vocabulary of the FFT templates: 16 floats or 8 doubles per zmm register. The
 * transposes go through memory (fft_vec_generic_transpose.h): they run once per element per
 * 2-D transform, against log(n) butterfly passes. Compiled everywhere, run only where the CPU
 * reports AVX-512. */
#include <immintrin.h>
#if FC_FFT_F32
typedef float FT;
typedef __m512 V;
#define VL 16
#define VLOAD _mm512_load_ps
#define VSTORE _mm512_store_ps
#define VLOADU _mm512_loadu_ps
#define VSTOREU _mm512_storeu_ps
#define VZERO _mm512_setzero_ps
#define VSET1(x) _mm512_set1_ps((float)(x))
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VFMA _mm512_fmadd_ps
#define VFNMA _mm512_fnmadd_ps
#else
typedef double FT;
typedef __m512d V;
#define VL 8
#define VLOAD _mm512_load_pd
#define VSTORE _mm512_store_pd
#define VLOADU _mm512_loadu_pd
#define VSTOREU _mm512_storeu_pd
#define VZERO _mm512_setzero_pd
#define VSET1(x) _mm512_set1_pd((double)(x))
#define VADD _mm512_add_pd
#define VSUB _mm512_sub_pd
#define VMUL _mm512_mul_pd
#define VFMA _mm512_fmadd_pd
#define VFNMA _mm512_fnmadd_pd
#endif
#include "fft_vec_generic_transpose.h"
