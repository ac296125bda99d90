"""Edits on the finished 3,000-model zoo at m = 220 and the default 600.

Results: docs/research/2026-12-02-editing-finished-zoo.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_3000.py

the same as

    python -m benchmarks.editing --heldout 24 --m 220,600 --strengths 4 --json runs/editing_3000.json
"""
heldout = 24
m = "220,600"
strengths = "4"
json = "runs/editing_3000.json"
