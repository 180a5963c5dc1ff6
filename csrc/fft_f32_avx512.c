/* float32 FFT and FFT-convolution kernels, AVX-512: the templates fft_impl.h and
 * conv_fft_impl.h instantiated with the vocabulary of fft_vec_avx512.h. */
#include "fft_internal.h"
#include <immintrin.h>
FC_BEGIN_TARGET(FC_TARGET_AVX512)
#define FC_FFT_F32 1
#include "fft_vec_avx512.h"
#define SFX(name) fc_f32_##name##__avx512
#include "fft_impl.h"
#include "conv_fft_impl.h"
FC_END_TARGET
