"""The attribute sampler's contrast (2, 3, 4) and spread.

Results: docs/research/2026-12-02-attribute-sampler.md. Run from the repository root:

    python -m benchmarks.sampling --config benchmarks/configs/sampling_3000_contrast.py

the same as

    python -m benchmarks.sampling --n 64 \
        --settings all:1:attributes:2,all:1:attributes:3,all:1:attributes:4,all:0.5:attributes:3 --pairs 16 \
        --json runs/sampling_3000_contrast.json
"""
n = 64
settings = "all:1:attributes:2,all:1:attributes:3,all:1:attributes:4,all:0.5:attributes:3"
pairs = 16
json = "runs/sampling_3000_contrast.json"
