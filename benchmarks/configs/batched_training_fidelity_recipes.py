"""Identity fidelity of the batched trainer (K = 8) at cheaper recipes.

Results: docs/research/2026-12-02-batched-training.md. Run from the repository root:

    python -m benchmarks.batched_training --config benchmarks/configs/batched_training_fidelity_recipes.py

the same as

    python -m benchmarks.batched_training --fidelity 50 --threads 1 --k 8 --skip-single \
        --recipes 10x200,5x200,10x100,5x100
"""
fidelity = 50
threads = 1
k = 8
skip_single = True
recipes = "10x200,5x200,10x100,5x100"
