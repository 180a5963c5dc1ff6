"""Fitted cost-model constants: seconds per unit of each feature of cost.py.

Written by bench/fit_cost.py; do not edit by hand, rerun it.
Date:    2026-12-08 04:53 UTC
Machine: AMD EPYC, 2 cores, ISA avx512, 2 threads
Command: python bench/fit_cost.py --from-csv
Data:    809 timings (bench/results/cost_measurements.csv)
Fit quality (predicted / measured time per implementation):
  direct:c        130 rows  predicted/measured: geomean 0.921, median 0.925, range 0.06 .. 2.22
  direct:numba    130 rows  predicted/measured: geomean 0.974, median 0.974, range 0.15 .. 6.27
  fft:c           130 rows  predicted/measured: geomean 1.002, median 0.974, range 0.19 .. 13.50
  fft:numba       130 rows  predicted/measured: geomean 0.876, median 0.928, range 0.00 .. 1.84
  im2col:c        130 rows  predicted/measured: geomean 0.961, median 1.027, range 0.26 .. 1.78
  im2col:numba    130 rows  predicted/measured: geomean 0.980, median 0.988, range 0.16 .. 2.66
  winograd:c       29 rows  predicted/measured: geomean 1.000, median 1.034, range 0.72 .. 1.46
"""

CONSTANTS: dict[str, dict[str, float]] = {
    'direct:c': {
        'call': 6.25e-06,
        'in': 2.23702e-10,
        'mac': 1.17479e-11,
        'mac_1d': 4.47854e-13,
        'mac_dw': 1.82504e-11,
        'out': 1.38962e-10,
    },
    'direct:numba': {
        'call': 1.2909e-05,
        'in': 1.18071e-10,
        'mac': 1.07078e-11,
        'mac_1d': 1.25372e-13,
        'mac_dw': 2.06186e-10,
        'out': 3.13387e-10,
    },
    'fft:c': {
        'call': 2.2554e-05,
        'fft_mac': 7.94522e-10,
        'in': 7.00297e-10,
        'kernel_fft_flop': 2.5149e-10,
    },
    'fft:numba': {
        'call': 3.4571e-05,
        'fft_flop': 9.77402e-11,
        'fft_mac': 3.02142e-10,
        'in': 4.16284e-10,
        'kernel_fft_flop': 9.0621e-11,
        'out': 3.35647e-10,
    },
    'im2col:c': {
        'call': 6.7e-06,
        'gemms': 1.33031e-06,
        'in': 2.98222e-10,
        'lowered': 6.43531e-10,
        'mac_padded': 9.67118e-12,
        'out': 1.89484e-10,
    },
    'im2col:numba': {
        'call': 1.8498e-05,
        'gemms': 6.97851e-07,
        'in': 1.79254e-10,
        'lowered': 3.1771e-10,
        'mac_padded': 9.9679e-12,
        'out': 3.09839e-10,
    },
    'winograd:c': {
        'call': 1.88575e-05,
        'groups': 4.38748e-06,
        'kernel_transform': 1.14681e-10,
        'mac': 1.00292e-11,
        'transform': 2.98499e-10,
    },
}
