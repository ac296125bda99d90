"""How do flip, preservation and ID trade off over m and strength (912-model snapshot)?

Results: docs/research/2026-12-02-editing-912-models.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_912_m_sweep.py

the same as

    python -m benchmarks.editing --heldout 24 --m 20,60,180 --strengths 1,2,4 --json runs/editing_896.json
"""
heldout = 24
m = "20,60,180"
strengths = "1,2,4"
json = "runs/editing_896.json"
