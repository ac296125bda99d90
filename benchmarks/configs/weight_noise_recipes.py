"""Fine-tune noise by recipe (learning rate : AdamW eps); the first is the baseline.

Results: docs/research/2026-12-02-finetune-noise-by-recipe.md. Run from the repository root:

    python -m benchmarks.weight_noise --config benchmarks/configs/weight_noise_recipes.py

the same as

    python -m benchmarks.weight_noise --recipes 0.01:1e-8,0.003:1e-8,0.01:1e-5,0.01:1e-3,0.03:1e-3 --flips 12
"""
recipes = "0.01:1e-8,0.003:1e-8,0.01:1e-5,0.01:1e-3,0.03:1e-3"
flips = 12
