"""Fitted cost-model constants (seconds per feature unit; see fastconv/cost.py).

Not fitted yet: every pair gets cost.CONSERVATIVE. Regenerate with bench/fit_cost.py.
"""

CONSTANTS: dict[str, dict[str, float]] = {}
