/* float32 FFT and FFT-convolution kernels, portable (vector extensions): the templates
 * fft_impl.h and conv_fft_impl.h instantiated with the vocabulary of fft_vec_scalar.h. */
#include "fft_internal.h"


#define FC_FFT_F32 1
#include "fft_vec_scalar.h"
#define SFX(name) fc_f32_##name##__scalar
#include "fft_impl.h"
#include "conv_fft_impl.h"

