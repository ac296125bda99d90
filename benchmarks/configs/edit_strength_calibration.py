"""Does the calibrated strength 1 flip most held-out models?

Results: docs/research/2026-12-07-edit-strength-calibration.md. Run from the repository root:

    python -m benchmarks.edit_strength --config benchmarks/configs/edit_strength_calibration.py

the same as

    python -m benchmarks.edit_strength --heldout 16 --strengths 1,1.5,2 --attributes glasses,beard,male,smiling \
        --json runs/edit_strength.json
"""
heldout = 16
strengths = "1,1.5,2"
attributes = "glasses,beard,male,smiling"
json = "runs/edit_strength.json"
