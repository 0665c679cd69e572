"""Percentiles and the per-measure summary every pass of `make bench` reports."""


def percentile(values, p):
    """Linear interpolation between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values):
    """p50, p90, max and the rounded samples (all None / empty for no values)."""
    return {"p50": percentile(values, 50), "p90": percentile(values, 90), "max": max(values) if values else None,
            "samples": [round(v, 2) for v in values]}
