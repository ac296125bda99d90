"""Direction options: the mean shift at m = 1,000, large strengths.

Results: docs/research/2026-12-02-direction-options.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_mean_shift_1000.py

the same as

    python -m benchmarks.editing --heldout 24 --m 1000 --strengths 4,6 --method mean_shift \
        --json runs/editing_3000_mean_shift_1000.json
"""
heldout = 24
m = "1000"
strengths = "4,6"
method = "mean_shift"
json = "runs/editing_3000_mean_shift_1000.json"
