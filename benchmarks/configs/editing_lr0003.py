"""Does a zoo with 4 times less noisy flips (learning rate 0.003) edit better?

Results: docs/research/2026-12-02-finetune-noise-by-recipe.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_lr0003.py

the same as

    python -m benchmarks.editing --zoo runs/zoo-lr0003 --heldout-store runs/heldout-store-lr0003 --heldout 24 \
        --m 200 --strengths 2,4 --json runs/editing_lr0003.json
"""
zoo = "runs/zoo-lr0003"
heldout_store = "runs/heldout-store-lr0003"
heldout = 24
m = "200"
strengths = "2,4"
json = "runs/editing_lr0003.json"
