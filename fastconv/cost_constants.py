"""Fitted cost-model constants: seconds per unit of each feature of cost.py.

Written by bench/fit_cost.py; do not edit by hand, rerun it.
Date:    2026-11-29 09:44 UTC
Machine: AMD EPYC, 2 cores, ISA avx2, 2 threads
Command: python bench/fit_cost.py --threads 2 --resume
Data:    555 timings (bench/results/cost_measurements.csv)
Fit quality (predicted / measured time per implementation):
  direct:c         89 rows  predicted/measured: geomean 0.918, median 0.935, range 0.47 .. 2.17
  direct:numba     89 rows  predicted/measured: geomean 0.891, median 0.862, range 0.29 .. 4.03
  fft:c            89 rows  predicted/measured: geomean 0.929, median 0.911, range 0.16 .. 9.07
  fft:numba        88 rows  predicted/measured: geomean 0.892, median 1.001, range 0.16 .. 2.03
  im2col:c         89 rows  predicted/measured: geomean 0.952, median 0.975, range 0.33 .. 2.78
  im2col:numba     89 rows  predicted/measured: geomean 0.932, median 0.903, range 0.48 .. 2.35
  winograd:c       22 rows  predicted/measured: geomean 1.001, median 0.992, range 0.69 .. 1.46
"""

CONSTANTS: dict[str, dict[str, float]] = {
    'direct:c': {
        'call': 7.445e-05,
        'in': 4.03753e-10,
        'mac': 2.12025e-11,
        'mac_1d': 3.81617e-23,
        'mac_dw': 2.06083e-11,
        'out': 2.55967e-10,
    },
    'direct:numba': {
        'call': 0.000132829,
        'in': 1.6258e-09,
        'mac': 4.77422e-11,
        'mac_1d': 2.65011e-23,
        'mac_dw': 1.3634e-10,
        'out': 2.92317e-10,
    },
    'fft:c': {
        'call': 0.0001011,
        'fft_flop': 1.10713e-10,
        'fft_mac': 1.01015e-09,
        'in': 5.13847e-19,
        'out': 2.85419e-22,
    },
    'fft:numba': {
        'call': 0.000164127,
        'fft_flop': 2.29862e-10,
        'fft_mac': 5.06348e-10,
        'in': 4.18138e-09,
        'out': 3.46525e-09,
    },
    'im2col:c': {
        'call': 7.7225e-05,
        'gemms': 3.07296e-06,
        'in': 5.46531e-10,
        'lowered': 1.04857e-09,
        'mac_padded': 1.36145e-11,
        'out': 2.65087e-10,
    },
    'im2col:numba': {
        'call': 0.000136566,
        'gemms': 7.0253e-07,
        'in': 2.41628e-09,
        'lowered': 3.74952e-10,
        'mac_padded': 3.99303e-11,
        'out': 1.45576e-10,
    },
    'winograd:c': {
        'call': 8.02626e-05,
        'groups': 3.28239e-06,
        'in': 5.21568e-31,
        'mac': 1.97098e-11,
        'out': 1.60422e-24,
        'transform': 2.77065e-10,
    },
}
