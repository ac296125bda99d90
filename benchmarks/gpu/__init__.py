"""The GPU measurements (issues 10 and 12): `bash benchmarks/gpu/run.sh` on a GPU machine, or
`python -m benchmarks.gpu.bench --smoke` on the CPU."""
