"""The attribute sampler against the paper's on the finished zoo.

Results: docs/research/2026-12-02-attribute-sampler.md. Run from the repository root:

    python -m benchmarks.sampling --config benchmarks/configs/sampling_3000_attributes.py

the same as

    python -m benchmarks.sampling --n 64 --settings all:1,all:1:attributes,200:1:attributes,all:0.5:attributes \
        --pairs 16 --json runs/sampling_3000.json
"""
n = 64
settings = "all:1,all:1:attributes,200:1:attributes,all:0.5:attributes"
pairs = 16
json = "runs/sampling_3000.json"
