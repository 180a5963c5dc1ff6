/* The portable vector vocabulary of the FFT templates: GCC/Clang vector extensions of 16 bytes
 * (4 floats / 2 doubles), which the compiler lowers to SSE2 on x86-64 and NEON on AArch64 and
 * to scalar code elsewhere. No fused multiply-add: plain C rounds a*b + c twice. */
#include <string.h>
#if FC_FFT_F32
typedef float FT;
#define VL 4
#else
typedef double FT;
#define VL 2
#endif
typedef FT V __attribute__((vector_size(VL * sizeof(FT))));
static inline V vloadu_(const FT *p) { V v; memcpy(&v, p, sizeof v); return v; }
static inline void vstoreu_(FT *p, V v) { memcpy(p, &v, sizeof v); }
#define VLOAD(p) (*(const V *)(p))
#define VSTORE(p, v) (*(V *)(p) = (v))
#define VLOADU(p) vloadu_(p)
#define VSTOREU(p, v) vstoreu_(p, v)
#define VZERO() ((V){0})
#define VSET1(x) (VZERO() + (FT)(x))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VFNMA(a, b, c) ((c) - (a) * (b))
#include "fft_vec_generic_transpose.h"
