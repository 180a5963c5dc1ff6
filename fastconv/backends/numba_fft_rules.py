"""Which problems fft:numba accepts (kept free of Numba so dispatch never imports it)."""
from __future__ import annotations

from typing import Optional

from ..problem import ConvProblem

MAX_FFT_ELEMENTS = 1 << 24   # per plane, after padding to a 2^a 3^b 5^c size


def fft_rejection(problem: ConvProblem) -> Optional[str]:
    return None
