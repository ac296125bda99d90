"""How directions, edits and inversion change with the number of models (paper Fig. 9, 10).

Results: docs/research/2026-12-02-scaling.md. Run from the repository root:

    python -m benchmarks.scaling --config benchmarks/configs/scaling_3000.py

the same as

    python -m benchmarks.scaling --n 100,300,1000,3000 --heldout 12 --json runs/scaling_3000.json \
        --plots docs/plots
"""
n = "100,300,1000,3000"
heldout = 12
json = "runs/scaling_3000.json"
plots = "docs/plots"
