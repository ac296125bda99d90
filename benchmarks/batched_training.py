"""Bar (issue 10): the batched trainer's identities per hour against sequential training, and fidelity.

Throughput: every configuration trains the same train identities at equal steps
(embedded model, 10 renders per identity), in fresh subprocesses so thread
settings and peak RSS are each configuration's own:

  single, 1 proc x 2 threads     today's trainer, one identity at a time (the first baseline)
  single, 2 procs x 1 thread     two sequential trainers side by side (the second baseline)
  batched K, 1 proc x 2 threads  K identities per step
  batched K, 2 procs x 1 thread  two batched trainers side by side, K identities each

Fidelity: held-out identities trained by the single trainer (sequential) and the
batched one (K per step, or another recipe), 8 images generated per model with
the instance prompt. Two measures: the rank percentile of the identity's own
renders among all identities' (1.0: closest to itself), and the ID score, the
mean cosine of the generated images' probe embeddings to the centroid of the
identity's renders; beside them the render ceiling (other renders of the same
identity) and the base model.

    python -m benchmarks.batched_training --steps 50 --ks 1,8,32,64     # throughput, ~10 min
    python -m benchmarks.batched_training --fidelity 50                  # fidelity, default recipe
    python -m benchmarks.batched_training --fidelity 50 --recipes 10x200,5x200,10x100,5x100
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import replace

from benchmarks.harness import ROOT, parse, parser, print_table, set_threads
from w2w_core.finetune.config import FinetuneConfig


def worker(trainer: str, threads: int, seeds: list[int], k: int, steps: int) -> dict:
    """Train `seeds` (k per call) in this process; wall seconds and peak RSS."""
    set_threads(threads)
    from w2w_core import world
    from w2w_core.base_model import load_base_model
    from w2w_core.finetune.trainer import finetune_identities

    base = load_base_model()
    config = FinetuneConfig(steps=steps, trainer=trainer)
    images = [world.render_identity(world.make_identity(s), 10, base.image_size) for s in seeds]
    finetune_identities(base, images[:1], replace(config, steps=2), progress=False)  # warm-up
    started = time.perf_counter()
    for first in range(0, len(images), k):
        finetune_identities(base, images[first:first + k], config, progress=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_config(trainer: str, processes: int, threads: int, n: int, k: int, steps: int) -> dict:
    """Wall time of `processes` workers side by side, each training n / processes identities."""
    from w2w_core import world

    seeds = world.train_seeds(n)
    shares = [seeds[p::processes] for p in range(processes)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    command = [sys.executable, "-m", "benchmarks.batched_training", "--worker"]
    procs = [subprocess.Popen([*command, json.dumps([trainer, threads, share, k, steps])], cwd=ROOT,
                              stdout=subprocess.PIPE, env=env, text=True) for share in shares]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    wall = time.perf_counter() - started  # includes process start and model load: a fair share of a real run
    inner = max(r["seconds"] for r in results)
    return {"identities": n, "wall_s": wall, "train_s": inner, "per_hour": n / inner * 3600,
            "rss_gb": max(r["rss_gb"] for r in results)}


def throughput(args: argparse.Namespace) -> None:
    rows = [("single", 1, 2, args.n_sequential, 1), ("single", 2, 1, args.n_sequential, 1)]
    for k in args.ks:
        rows.append(("batched", 1, 2, max(k, args.n_sequential), k))
        rows.append(("batched", 2, 1, 2 * max(k, args.n_sequential // 2), k))
    results = []
    for trainer, procs, threads, n, k in rows:
        result = run_config(trainer, procs, threads, n, k, args.steps)
        results.append(((trainer, procs, threads, k), result))
        print(f"{trainer} K={k} {procs}x{threads}: {result}", flush=True)
    today = results[0][1]["per_hour"]
    best_sequential = max(results[0][1]["per_hour"], results[1][1]["per_hour"])
    print(f"\n{args.steps} steps, 10 images per step, embedded model. Baselines measured in this run.")
    print_table(["trainer", "K", "processes x threads", "identities", "s (training)", "identities/hour", "x today's",
                 "x best sequential", "peak RSS GB per process"],
                [(trainer, k, f"{procs} x {threads}", r["identities"], f"{r['train_s']:.1f}", f"{r['per_hour']:.0f}",
                  f"{r['per_hour'] / today:.2f}", f"{r['per_hour'] / best_sequential:.2f}", f"{r['rss_gb']:.2f}")
                 for (trainer, procs, threads, k), r in results], align="lrlrrrrrr")


def parse_recipe(text: str) -> tuple[int, int]:
    """'10x200' -> (images per step, steps)."""
    images, steps = text.lower().split("x")
    return int(images), int(steps)


def fidelity(args: argparse.Namespace) -> None:
    import numpy as np

    set_threads(args.threads)
    from w2w_core import world
    from w2w_core.base_model import load_base_model
    from w2w_core.evaluate import fidelity_percentiles, id_scores, identity_centroids
    from w2w_core.finetune.trainer import finetune_identities
    from w2w_core.generate import generate_images, generate_with_lora
    from w2w_core.probe import embed_images, load_probe

    base, probe = load_base_model(), load_probe()
    seeds = world.heldout_seeds(args.fidelity)
    n = len(seeds)
    renders = [world.render_identity(world.make_identity(s), 10, base.image_size) for s in seeds]
    others = [world.render_identity(world.make_identity(s), 8, base.image_size, variation_seed=1) for s in seeds]
    centroids = identity_centroids(embed_images(probe, np.concatenate(renders)), n)

    def scores(images: list[np.ndarray]) -> tuple[float, float]:
        embeddings = embed_images(probe, np.concatenate(images))
        pct = fidelity_percentiles(identity_centroids(embeddings, n), centroids)
        return float(pct.mean()), float(id_scores(embeddings, n, centroids).mean())

    def generated(vectors: list[np.ndarray], layout) -> list[np.ndarray]:
        return [generate_with_lora(base, v, layout, world.INSTANCE_PROMPT, 8, seed=s)
                for v, s in zip(vectors, seeds)]

    rows = {"ceiling: other renders of the identity": scores(others),
            "base model, same prompt and seeds": scores([generate_images(base, world.INSTANCE_PROMPT, 8, seed=s)
                                                         for s in seeds])}
    plans = [("single (sequential)", "single", FinetuneConfig.images_per_step, FinetuneConfig.steps, 1)]
    plans = [] if args.skip_single else plans
    plans += [(f"batched K={args.k}, {i}x{s}", "batched", i, s, args.k) for i, s in args.recipes]
    for name, trainer, images_per_step, steps, k in plans:
        config = FinetuneConfig(steps=steps, images_per_step=images_per_step, trainer=trainer)
        started, results = time.perf_counter(), []
        for first in range(0, n, k):
            results += finetune_identities(base, renders[first:first + k], config, progress=False)
        seconds = time.perf_counter() - started
        rows[f"{name} ({seconds / n:.2f} s/identity)"] = scores(generated([r.vector for r in results],
                                                                          results[0].layout))
        print(name, rows[list(rows)[-1]], flush=True)
    print(f"\n{n} held-out identities, 8 generated images each, {args.threads} torch threads")
    print_table(["models", "rank percentile", "ID score"],
                [(name, f"{pct:.3f}", f"{score:.3f}") for name, (pct, score) in rows.items()])


def arguments():
    p = parser(__doc__)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=50, help="throughput: fine-tune steps per identity")
    p.add_argument("--ks", default="1,8,32,64", help="throughput: identities per step to measure")
    p.add_argument("--n-sequential", type=int, default=8, help="throughput: identities per sequential run")
    p.add_argument("--fidelity", type=int, default=0, help="held-out identities for the fidelity table (0: skip)")
    p.add_argument("--k", type=int, default=32, help="fidelity: identities per batch")
    p.add_argument("--recipes", default=f"{FinetuneConfig.images_per_step}x{FinetuneConfig.steps}",
                   help="fidelity: batched recipes, images-per-step x steps (default: the library's recipe)")
    p.add_argument("--skip-single", action="store_true", help="fidelity: leave out the sequential trainer")
    p.add_argument("--threads", type=int, default=2, help="fidelity: torch threads")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    if args.worker:
        print(json.dumps(worker(*json.loads(args.worker))))
        return
    args.ks = [int(k) for k in args.ks.split(",") if k]
    args.recipes = [parse_recipe(r) for r in args.recipes.split(",") if r]
    if args.fidelity:
        fidelity(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
