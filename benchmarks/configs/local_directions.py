"""Would a direction fit near each identity carry more of its true edit than one global direction?

Results: docs/research/2026-12-07-local-directions.md. Run from the repository root:

    python -m benchmarks.local_directions --config benchmarks/configs/local_directions.py

the same as

    python -m benchmarks.local_directions --flips 24 --attributes male,beard,glasses --m 600 \
        --neighbours 50,200,800 --json runs/local_directions.json
"""
flips = 24
attributes = "male,beard,glasses"
m = 600
neighbours = "50,200,800"
json = "runs/local_directions.json"
