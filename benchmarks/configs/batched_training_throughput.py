"""Identities per hour of the batched trainer at K = 1-64 against sequential training.

Results: docs/research/2026-12-02-batched-training.md. Run from the repository root:

    python -m benchmarks.batched_training --config benchmarks/configs/batched_training_throughput.py

the same as

    python -m benchmarks.batched_training --steps 50 --ks 1,4,8,16,32,64
"""
steps = 50
ks = "1,4,8,16,32,64"
