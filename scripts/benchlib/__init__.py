"""Pieces of scripts/bench.py: the sides it runs and what they need installed
(sides), the measurements, taken alike for every side on the harness of
scripts/harness/ (measure), CPU accounting per process (cpu), where a
process's resident memory goes (memory), percentiles and the rule that calls a
win (stats), the HTTP pass (httppass) and its clients, polite and hostile
(http), the supervised command's handover (supervised), the markdown report
(report) and docs/benchmarks.md written from the JSON (docs)."""
