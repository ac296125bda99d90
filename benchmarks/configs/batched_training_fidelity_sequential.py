"""Identity fidelity of the sequential trainer (the baseline row).

Results: docs/research/2026-12-02-batched-training.md. Run from the repository root:

    python -m benchmarks.batched_training --config benchmarks/configs/batched_training_fidelity_sequential.py

the same as

    python -m benchmarks.batched_training --fidelity 50 --threads 1 --recipes ""
"""
fidelity = 50
threads = 1
recipes = ""
