"""Single-image inversion into the 912-model snapshot against Dreambooth-LoRA baselines.

Results: docs/research/2026-12-02-inversion-912-models.md. Run from the repository root:

    python -m benchmarks.inversion --config benchmarks/configs/inversion_912.py

the same as

    python -m benchmarks.inversion --heldout 12 --m default,200 --threads 2 --json runs/inversion_912.json
"""
heldout = 12
m = "default,200"
threads = 2
json = "runs/inversion_912.json"
