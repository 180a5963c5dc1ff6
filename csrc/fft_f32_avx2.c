/* float32 FFT and FFT-convolution kernels, AVX2 + FMA: the templates fft_impl.h and
 * conv_fft_impl.h instantiated with the vocabulary of fft_vec_avx2.h. */
#include "fft_internal.h"
#include <immintrin.h>
FC_BEGIN_TARGET(FC_TARGET_AVX2)
#define FC_FFT_F32 1
#include "fft_vec_avx2.h"
#define SFX(name) fc_f32_##name##__avx2
#include "fft_impl.h"
#include "conv_fft_impl.h"
FC_END_TARGET
