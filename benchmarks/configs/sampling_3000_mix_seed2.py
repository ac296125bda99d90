"""The mix sampler again with another seed of the sampled coefficients.

Results: docs/research/2026-12-02-sampling-mix.md. Run from the repository root:

    python -m benchmarks.sampling --config benchmarks/configs/sampling_3000_mix_seed2.py

the same as

    python -m benchmarks.sampling --n 128 --seed 2 --settings all:1:mix --json runs/sampling_3000_mix_seed2.json
"""
n = 128
seed = 2
settings = "all:1:mix"
json = "runs/sampling_3000_mix_seed2.json"
