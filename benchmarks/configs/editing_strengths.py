"""Direction options: least squares at other strengths (m = 600).

Results: docs/research/2026-12-02-direction-options.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_strengths.py

the same as

    python -m benchmarks.editing --heldout 24 --m 600 --strengths 3,5 --json runs/editing_3000_strengths.json
"""
heldout = 24
m = "600"
strengths = "3,5"
json = "runs/editing_3000_strengths.json"
