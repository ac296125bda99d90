"""Direction options: the paper's delayed injection, T = 700.

Results: docs/research/2026-12-02-direction-options.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_delay_700.py

the same as

    python -m benchmarks.editing --heldout 24 --m 600 --strengths 4,6 --delay-t 700 \
        --json runs/editing_3000_delay_700.json
"""
heldout = 24
m = "600"
strengths = "4,6"
delay_t = 700
json = "runs/editing_3000_delay_700.json"
