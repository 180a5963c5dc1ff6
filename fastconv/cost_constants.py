"""Fitted cost-model constants: seconds per unit of each feature of cost.py.

Written by bench/fit_cost.py; do not edit by hand, rerun it.
Date:    2026-11-29 05:54 UTC
Machine: AMD EPYC, 2 cores, ISA avx2, 2 threads
Command: python bench/fit_cost.py --threads 2 --resume
Data:    515 timings (bench/results/cost_measurements.csv)
Fit quality (predicted / measured time per implementation):
  direct:c         86 rows  predicted/measured: geomean 2.024, median 0.912, range 0.23 .. 211.94
  direct:numba     86 rows  predicted/measured: geomean 0.801, median 1.019, range 0.02 .. 7.33
  fft:c            86 rows  predicted/measured: geomean 0.672, median 1.098, range 0.00 .. 11.90
  fft:numba        85 rows  predicted/measured: geomean 0.625, median 1.087, range 0.00 .. 44.18
  im2col:c         86 rows  predicted/measured: geomean 0.806, median 1.015, range 0.01 .. 14.65
  im2col:numba     86 rows  predicted/measured: geomean 1.431, median 0.996, range 0.28 .. 52.44
"""

CONSTANTS: dict[str, dict[str, float]] = {
    'direct:c': {
        'call': 0.0151163,
        'in': 3.51622e-08,
        'mac': 4.26469e-10,
        'mac_1d': 6.20943e-10,
        'mac_dw': 4.7677e-10,
        'out': 3.92579e-09,
    },
    'direct:numba': {
        'call': 0.000876135,
        'in': 9.32368e-08,
        'mac': 5.1359e-10,
        'mac_1d': 1.24077e-10,
        'mac_dw': 1.73603e-09,
        'out': 1.34773e-08,
    },
    'fft:c': {
        'call': 9.92239e-05,
        'fft_flop': 6.32946e-11,
        'fft_mac': 1.29744e-08,
        'in': 2.45141e-09,
        'out': 1.64376e-07,
    },
    'fft:numba': {
        'call': 0.000292973,
        'fft_flop': 9.03468e-28,
        'fft_mac': 5.19057e-08,
        'in': 3.41099e-07,
        'out': 2.75493e-07,
    },
    'im2col:c': {
        'call': 6.4634e-05,
        'gemms': 2.85879e-23,
        'in': 1.59622e-31,
        'lowered': 1.18238e-25,
        'mac_padded': 7.71743e-10,
        'out': 1.21699e-08,
    },
    'im2col:numba': {
        'call': 0.00829479,
        'gemms': 4.02223e-05,
        'in': 2.04578e-08,
        'lowered': 2.60287e-09,
        'mac_padded': 4.8486e-10,
        'out': 2.96761e-41,
    },
}
