"""Percentiles, the per-measure summary every pass of `make bench` reports, and the
comparison rule: a difference between two sides is a win only when their p10-p90
spreads do not overlap."""


def percentile(values, p):
    """Linear interpolation between the closest ranks; None for no values."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values):
    """p10, p50, p90, max and the rounded samples in round order (None / empty for no
    values); samples stay in round order so that two sides' rounds can be paired."""
    present = [v for v in values if v is not None]
    return {"p10": percentile(present, 10), "p50": percentile(present, 50), "p90": percentile(present, 90),
            "max": max(present) if present else None,
            "samples": [None if v is None else round(v, 2) for v in values]}


def paired_ratios(peer, ours):
    """peer / ours round by round (the rounds were interleaved, so round i of each side
    ran under the same load); None where either is missing or ours is 0."""
    return [p / o for p, o in zip(peer, ours) if p is not None and o is not None and o > 0]


def ratio_summary(peer_summary, our_summary):
    """{"p50", "p10", "p90", "n"} of the round-by-round ratio peer / ours, or None."""
    if not peer_summary or not our_summary:
        return None
    r = paired_ratios(peer_summary["samples"], our_summary["samples"])
    if not r:
        return None
    return {"p10": percentile(r, 10), "p50": percentile(r, 50), "p90": percentile(r, 90), "n": len(r)}


MIN_ROUNDS = 3


def verdict(ours, peer, lower_is_better=True):
    """"ours" when our p10-p90 spread lies wholly on the better side of the peer's,
    "peer" when the peer's does, "noise" when the spreads overlap, "few" with fewer
    than MIN_ROUNDS samples on a side, None without data."""
    if not ours or not peer or ours.get("p10") is None or peer.get("p10") is None:
        return None
    if min(sum(1 for v in x.get("samples", []) if v is not None) for x in (ours, peer)) < MIN_ROUNDS:
        return "few"
    if lower_is_better:
        if ours["p90"] < peer["p10"]:
            return "ours"
        if peer["p90"] < ours["p10"]:
            return "peer"
    else:
        if ours["p10"] > peer["p90"]:
            return "ours"
        if peer["p10"] > ours["p90"]:
            return "peer"
    return "noise"
