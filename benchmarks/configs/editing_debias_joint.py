"""Direction options: every direction debiased against the span of the other nine.

Results: docs/research/2026-12-02-direction-options.md. Run from the repository root:

    python -m benchmarks.editing --config benchmarks/configs/editing_debias_joint.py

the same as

    python -m benchmarks.editing --heldout 24 --m 600 --strengths 4,6 \
        --debias male,young,beard,glasses,bald,pale_skin,chubby,smiling,blond_hair,long_hair --debias-mode joint \
        --json runs/editing_3000_debias_joint.json
"""
heldout = 24
m = "600"
strengths = "4,6"
debias = "male,young,beard,glasses,bald,pale_skin,chubby,smiling,blond_hair,long_hair"
debias_mode = "joint"
json = "runs/editing_3000_debias_joint.json"
