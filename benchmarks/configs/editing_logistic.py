"""Direction options: a logistic fit in place of least squares.

Results: docs/research/2026-12-02-direction-options.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_logistic.py

the same as

    python -m benchmarks.editing --heldout 24 --m 600 --strengths 4 --method logistic \
        --json runs/editing_3000_logistic.json
"""
heldout = 24
m = "600"
strengths = "4"
method = "logistic"
json = "runs/editing_3000_logistic.json"
