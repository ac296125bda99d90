"""w2w's benchmarks: each script answers one question (benchmarks/README.md), run from the repository root as
`python -m benchmarks.<name>`; what they share is in benchmarks/harness.py."""
