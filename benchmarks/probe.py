"""How well does the shipped probe read identity and attributes off held-out renders?

Run:  python -m benchmarks.probe [--identities 200] [--images 5]

Held-out identities only (seed % 10 == 9, never trained on). Retrieval: for
each identity, the mean embedding of `--images` renders (variation seed A)
must find the mean embedding of its renders with another nuisance draw
(variation seed B) among all held-out identities; reported as top-1
accuracy and mean rank percentile (fraction of other identities ranked
below the true one). "degraded" blurs (sigma 0.8 px) and noises (std 0.04)
every image, as a tiny diffusion model's samples are. Baselines in the same
run: raw pixels as the embedding, and the majority class per attribute.
Also prints the world's render throughput, since the probe and every
fine-tune consume renders.
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks.harness import parse, parser, set_threads
from w2w_core.world import ATTRIBUTES, attribute_vector, make_identity, render_identities, train_seeds


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """Baseline embedding: the centred, flattened pixels."""
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    return x - x.mean(1, keepdims=True)


def majority_accuracy() -> np.ndarray:
    """Accuracy of always answering each attribute's more frequent value (train frequencies)."""
    freq = np.stack([attribute_vector(make_identity(s)) for s in train_seeds(5000)]).mean(0)
    return np.maximum(freq, 1 - freq)


def render_speed(n_identities: int = 300, n_images: int = 10) -> float:
    ids = [make_identity(s) for s in train_seeds(n_identities)]
    start = time.perf_counter()
    render_identities(ids, n_images)
    return n_identities * n_images / (time.perf_counter() - start)


def arguments():
    p = parser(__doc__)
    p.add_argument("--identities", type=int, default=200)
    p.add_argument("--images", type=int, default=5)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    set_threads(1)
    from w2w_core.probe import load_probe
    from w2w_core.probe_training import heldout_metrics

    probe = load_probe()
    rows = {}
    for degraded in (False, True):
        tag = "degraded" if degraded else "clean"
        rows[f"probe, {tag}"] = heldout_metrics(probe, args.identities, args.images, degraded)
        rows[f"raw pixels, {tag}"] = heldout_metrics(probe, args.identities, args.images, degraded, raw_pixels)
    majority = majority_accuracy()

    print(f"held-out identities: {args.identities}, renders per side: {args.images}\n")
    print(f"{'embedding':22s} {'top-1':>7s} {'rank pct':>9s}")
    for name, m in rows.items():
        print(f"{name:22s} {m['retrieval_top1']:7.3f} {m['retrieval_rank_percentile']:9.5f}")
    print(f"\n{'attribute':12s} {'probe':>7s} {'degraded':>9s} {'majority':>9s}")
    clean, deg = rows["probe, clean"]["attribute_accuracy"], rows["probe, degraded"]["attribute_accuracy"]
    for k, name in enumerate(ATTRIBUTES):
        print(f"{name:12s} {clean[name]:7.3f} {deg[name]:9.3f} {majority[k]:9.3f}")
    print(f"{'mean':12s} {rows['probe, clean']['mean_attribute_accuracy']:7.3f} "
          f"{rows['probe, degraded']['mean_attribute_accuracy']:9.3f} {majority.mean():9.3f}")
    print(f"\nworld render speed: {render_speed():.0f} images/s (32x32, photo, one process)")


if __name__ == "__main__":
    main()
