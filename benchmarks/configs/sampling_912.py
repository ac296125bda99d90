"""Sampled models of the 912-model snapshot: m and spread of the paper's sampler.

Results: docs/research/2026-12-02-sampling-912-models.md. Run from the repository root:

    python -m benchmarks.sampling --config benchmarks/configs/sampling_912.py

the same as

    python -m benchmarks.sampling --n 64 --settings all:1,200:1,50:1,all:2,all:3 --pairs 16 \
        --json runs/sampling_912.json
"""
n = 64
settings = "all:1,200:1,50:1,all:2,all:3"
pairs = 16
json = "runs/sampling_912.json"
