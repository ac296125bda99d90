"""How much of a fine-tuned model's weights is its identity, and how much fine-tune noise?

Results: docs/research/2026-12-02-weight-noise.md. Run from the repository root:

    python -m benchmarks.weight_noise --config benchmarks/configs/weight_noise.py

the same as

    python -m benchmarks.weight_noise --pairs 16 --flips 16 --attributes male,beard,glasses \
        --json runs/weight_noise.json
"""
pairs = 16
flips = 16
attributes = "male,beard,glasses"
json = "runs/weight_noise.json"
