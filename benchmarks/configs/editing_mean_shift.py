"""Direction options: the mean shift at m = 600 and 1,000, small strengths.

Results: docs/research/2026-12-02-direction-options.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_mean_shift.py

the same as

    python -m benchmarks.editing --heldout 24 --m 600,1000 --strengths 1,2 --method mean_shift \
        --json runs/editing_3000_mean_shift.json
"""
heldout = 24
m = "600,1000"
strengths = "1,2"
method = "mean_shift"
json = "runs/editing_3000_mean_shift.json"
