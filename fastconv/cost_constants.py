"""Fitted cost-model constants: seconds per unit of each feature of cost.py.

Written by bench/fit_cost.py; do not edit by hand, rerun it.
Date:    2026-11-29 06:27 UTC
Machine: AMD EPYC, 2 cores, ISA avx2, 2 threads
Command: python bench/fit_cost.py --from-csv
Data:    511 timings (bench/results/cost_measurements.csv)
Fit quality (predicted / measured time per implementation):
  direct:c         86 rows  predicted/measured: geomean 0.572, median 0.929, range 0.00 .. 7.94
  direct:numba     86 rows  predicted/measured: geomean 0.571, median 1.041, range 0.01 .. 58.52
  fft:c            86 rows  predicted/measured: geomean 0.691, median 1.097, range 0.00 .. 42.31
  fft:numba        81 rows  predicted/measured: geomean 0.604, median 1.030, range 0.00 .. 13.69
  im2col:c         86 rows  predicted/measured: geomean 0.869, median 1.016, range 0.02 .. 22.77
  im2col:numba     86 rows  predicted/measured: geomean 0.679, median 0.952, range 0.01 .. 6.87
"""

CONSTANTS: dict[str, dict[str, float]] = {
    'direct:c': {
        'call': 7.1675e-05,
        'in': 1.91375e-07,
        'mac': 4.74895e-10,
        'mac_1d': 8.64929e-10,
        'mac_dw': 3.14806e-10,
        'out': 4.93539e-09,
    },
    'direct:numba': {
        'call': 0.000145413,
        'in': 1.23768e-07,
        'mac': 4.49272e-10,
        'mac_1d': 7.49664e-11,
        'mac_dw': 1.98055e-09,
        'out': 2.18394e-08,
    },
    'fft:c': {
        'call': 9.25641e-05,
        'fft_flop': 5.36847e-20,
        'fft_mac': 1.33994e-08,
        'in': 2.54826e-07,
        'out': 2.57664e-08,
    },
    'fft:numba': {
        'call': 0.000167965,
        'fft_flop': 1.20314e-24,
        'fft_mac': 5.25262e-08,
        'in': 5.19428e-07,
        'out': 3.56196e-07,
    },
    'im2col:c': {
        'call': 6.2843e-05,
        'gemms': 2.81987e-21,
        'in': 1.1096e-20,
        'lowered': 3.2137e-09,
        'mac_padded': 6.16275e-10,
        'out': 2.05424e-08,
    },
    'im2col:numba': {
        'call': 0.000159258,
        'gemms': 6.10279e-05,
        'in': 7.79408e-08,
        'lowered': 5.70845e-09,
        'mac_padded': 5.3958e-10,
        'out': 1.63942e-08,
    },
}
