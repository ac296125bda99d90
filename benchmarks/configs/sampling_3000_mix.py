"""The mix sampler against the paper's and the attribute sampler.

Results: docs/research/2026-12-02-sampling-mix.md. Run from the repository root:

    python -m benchmarks.sampling --config benchmarks/configs/sampling_3000_mix.py

the same as

    python -m benchmarks.sampling --n 128 --settings all:1,all:1:attributes,all:1:mix \
        --json runs/sampling_3000_mix.json
"""
n = 128
settings = "all:1,all:1:attributes,all:1:mix"
json = "runs/sampling_3000_mix.json"
