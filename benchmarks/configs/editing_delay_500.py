"""Direction options: delayed injection, T = 500 (the docs' 'also 500 (6,8)').

Results: docs/research/2026-12-02-direction-options.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_delay_500.py

the same as

    python -m benchmarks.editing --heldout 24 --m 600 --strengths 6,8 --delay-t 500 \
        --json runs/editing_3000_delay_500.json
"""
heldout = 24
m = "600"
strengths = "6,8"
delay_t = 500
json = "runs/editing_3000_delay_500.json"
