"""Fitted cost-model constants: seconds per unit of each feature of cost.py.

Written by bench/fit_cost.py; do not edit by hand, rerun it.
Date:    2026-11-29 06:21 UTC
Machine: AMD EPYC, 2 cores, ISA avx2, 2 threads
Command: python bench/fit_cost.py --threads 2 --resume
Data:    511 timings (bench/results/cost_measurements.csv)
Fit quality (predicted / measured time per implementation):
  direct:c         86 rows  predicted/measured: geomean 1.800, median 0.933, range 0.33 .. 169.58
  direct:numba     86 rows  predicted/measured: geomean 0.816, median 1.098, range 0.02 .. 54.50
  fft:c            86 rows  predicted/measured: geomean 0.691, median 1.097, range 0.00 .. 42.31
  fft:numba        81 rows  predicted/measured: geomean 0.632, median 1.023, range 0.00 .. 13.36
  im2col:c         86 rows  predicted/measured: geomean 0.869, median 1.016, range 0.02 .. 22.77
  im2col:numba     86 rows  predicted/measured: geomean 1.416, median 0.955, range 0.28 .. 49.47
"""

CONSTANTS: dict[str, dict[str, float]] = {
    'direct:c': {
        'call': 0.0119411,
        'in': 1.08029e-07,
        'mac': 4.35593e-10,
        'mac_1d': 7.25921e-10,
        'mac_dw': 5.36312e-10,
        'out': 1.29382e-22,
    },
    'direct:numba': {
        'call': 0.000874373,
        'in': 1.12889e-07,
        'mac': 4.44613e-10,
        'mac_1d': 5.85797e-11,
        'mac_dw': 1.61969e-09,
        'out': 2.2901e-08,
    },
    'fft:c': {
        'call': 9.25641e-05,
        'fft_flop': 1.64045e-25,
        'fft_mac': 1.33994e-08,
        'in': 2.54826e-07,
        'out': 2.57664e-08,
    },
    'fft:numba': {
        'call': 0.000285933,
        'fft_flop': 7.3583e-24,
        'fft_mac': 5.20657e-08,
        'in': 4.67946e-07,
        'out': 3.82694e-07,
    },
    'im2col:c': {
        'call': 6.2844e-05,
        'gemms': 3.92117e-25,
        'in': 1.11216e-25,
        'lowered': 3.21293e-09,
        'mac_padded': 6.16273e-10,
        'out': 2.0545e-08,
    },
    'im2col:numba': {
        'call': 0.00781625,
        'gemms': 3.08611e-05,
        'in': 7.33101e-08,
        'lowered': 5.95305e-09,
        'mac_padded': 4.59126e-10,
        'out': 1.20993e-08,
    },
}
