"""The GPU measurements of issues 10 and 12; run it through benchmarks/gpu/run.sh (under 8 minutes).

1. An SD1.5-shaped UNet built from its config with random weights (nothing is
   downloaded): 64x64x4 latents, 77-token 768-wide text states, rank-1 LoRA on
   to_q / to_v, bf16 autocast, AdamW on the fp32 factors.
   - sequential peft training (today's trainer, one identity): steps/s at batch 1,
     without and with prior preservation (a class image beside the instance image);
   - the batched trainer's layers: identity-steps/s at K = 1, 4, 16, 32, 64
     identities per step (one image each), and peak GPU memory.
2. Single-image inversion's step on the same UNet: β of the first m = 10,000 components
   of a random space over the LoRA's weights -> θ(β) -> the batched layers, one image per
   inverted model, K = 1, 8, 32 images per step; images per minute at the reference's 400 steps.
3. The CuPy PCA at paper scale: 64,974 x 99,648, k = 1,000, on a planted spectrum
   held on the GPU; time and accuracy against the planted truth.

    python -m benchmarks.gpu.bench --smoke      # tiny sizes on the CPU: checks the script (CI runs this)
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.harness import parse, parser


@dataclass(frozen=True)
class Sizes:
    """What the UNet and the PCA look like (SD 1.5 and the paper, or --smoke's tiny stand-ins)."""

    unet: dict
    latent: int
    tokens: int
    width: int
    ks: tuple[int, ...]
    steps: int
    pca_rows: int
    pca_cols: int
    pca_k: int
    invert_ks: tuple[int, ...]
    invert_m: int


SD15 = Sizes(unet={}, latent=64, tokens=77, width=768, ks=(1, 4, 16, 32, 64), steps=10,
             pca_rows=64_974, pca_cols=99_648, pca_k=1_000, invert_ks=(1, 8, 32), invert_m=10_000)
SMOKE = Sizes(unet=dict(block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                        attention_head_dim=8, norm_num_groups=16, layers_per_block=1),
              latent=8, tokens=8, width=32, ks=(1, 4), steps=2, pca_rows=300, pca_cols=500, pca_k=10,
              invert_ks=(1, 2), invert_m=8)


def sd15_unet(sizes: Sizes, device: str) -> torch.nn.Module:
    from diffusers import UNet2DConditionModel

    config = {"sample_size": sizes.latent, "cross_attention_dim": sizes.width, **sizes.unet}
    unet = UNet2DConditionModel(**config).to(device)  # diffusers' defaults are SD 1.5's UNet
    unet.requires_grad_(False)
    return unet


def _timed(step, n: int, device: str) -> float:
    """Steps per second of `step()` over n steps, after two warm-up steps."""
    for _ in range(2):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(n):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - started)


def _inputs(sizes: Sizes, n: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    latents = torch.randn(n, 4, sizes.latent, sizes.latent, device=device)
    return (latents, torch.randn_like(latents), torch.randint(0, 1000, (n,), device=device),
            torch.randn(n, sizes.tokens, sizes.width, device=device))


def sequential_peft(unet: torch.nn.Module, sizes: Sizes, device: str, prior: bool) -> float:
    """Steps/s of one identity's peft LoRA step: batch 1, or 2 with a class image for the prior term."""
    from w2w_core.lora.adapter import ADAPTER, attach_lora
    from w2w_core.lora.layout import LoraSpec

    attach_lora(unet, LoraSpec(), "sd15-shaped", "random")
    params = [p for n, p in unet.named_parameters() if ".lora_" in n]
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    noisy, noise, t, text = _inputs(sizes, 2 if prior else 1, device)

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = torch.nn.functional.mse_loss(unet(noisy, t, text).sample.float(), noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    try:
        return _timed(step, sizes.steps, device)
    finally:
        unet.delete_adapters(ADAPTER)


def batched(unet: torch.nn.Module, sizes: Sizes, device: str, k: int) -> tuple[float, float]:
    """(identity-steps/s, peak GPU GiB) of the batched trainer's LoRA layers with K identities."""
    from w2w_core.lora.adapter import ADAPTER, attach_lora, lora_state_dict
    from w2w_core.lora.batched import BatchedLora
    from w2w_core.lora.layout import LoraSpec

    layout = attach_lora(unet, LoraSpec(), "sd15-shaped", "random")
    init = {key: value.detach().clone() for key, value in lora_state_dict(unet).items()}
    unet.delete_adapters(ADAPTER)
    lora = BatchedLora(unet, layout, init, k)
    lora.segments = [(i, i, i + 1) for i in range(k)]
    optimizer = torch.optim.AdamW(lora.parameters(), lr=1e-4)
    noisy, noise, t, text = _inputs(sizes, k, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            prediction = unet(noisy, t, text).sample.float()
        per_identity = ((prediction - noise) ** 2).flatten(1).mean(1)  # each identity's own loss
        optimizer.zero_grad()
        per_identity.sum().backward()
        optimizer.step()

    try:
        rate = _timed(step, sizes.steps, device) * k
    finally:
        lora.remove()
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return rate, peak


INVERSION_STEPS = 400  # the reference recipe's steps per image (arXiv 2406.09413, Sec. 3.4)


def inversion(unet: torch.nn.Module, sizes: Sizes, device: str, k: int) -> tuple[float, float]:
    """(images inverted per minute at 400 steps, peak GPU GiB) with K images per step, each its own β."""
    from w2w_core.inversion.optimise import SpaceBasis, set_factors
    from w2w_core.lora.adapter import ADAPTER, attach_lora
    from w2w_core.lora.batched import BatchedLora
    from w2w_core.lora.layout import LoraSpec

    layout = attach_lora(unet, LoraSpec(), "sd15-shaped", "random")
    unet.delete_adapters(ADAPTER)
    d, m = layout.n_params, sizes.invert_m
    on = {"device": device}  # a random space over the LoRA's weights: its values do not change the time of a step
    basis = SpaceBasis(torch.randn(d, m, **on) / d**0.5, torch.zeros(d, **on), torch.full((d,), 1e-3, **on),
                       torch.zeros(d, **on))
    factors = {key: torch.zeros(shape, **on) for key, shape in zip(layout.keys, layout.shapes)}
    lora = BatchedLora(unet, layout, factors, k)
    lora.segments = [(i, i, i + 1) for i in range(k)]
    beta = torch.zeros(k, m, device=device, requires_grad=True)
    optimizer = torch.optim.Adam([beta], lr=0.1)
    noisy, noise, t, text = _inputs(sizes, k, device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step() -> None:
        set_factors(lora, basis.model(beta), layout)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            prediction = unet(noisy, t, text).sample.float()
        optimizer.zero_grad()
        ((prediction - noise) ** 2).flatten(1).mean(1).sum().backward()  # each image's loss on its own β
        optimizer.step()

    try:
        steps_per_second = _timed(step, sizes.steps, device)
    finally:
        lora.remove()
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return steps_per_second * k * 60 / INVERSION_STEPS, peak


def paper_scale_pca(sizes: Sizes, device: str) -> dict:
    """Fit k components of a planted-spectrum matrix held in GPU memory (CuPy); time and accuracy."""
    from w2w_core.pca import ArrayMatrix, PCAConfig, fit_pca

    xp = __import__("cupy") if device == "cuda" else np
    n, d, k = sizes.pca_rows, sizes.pca_cols, sizes.pca_k
    rng = xp.random.default_rng(0)
    sigma = 100.0 * np.arange(1, k + 1) ** -0.5
    v, _ = xp.linalg.qr(rng.standard_normal((d, k), dtype=xp.float32))  # the planted components
    u = rng.standard_normal((n, k), dtype=xp.float32) / np.sqrt(n)
    x = u @ (xp.asarray(sigma, dtype=xp.float32)[:, None] * v.T)
    x += (1e-3 * sigma[-1] / np.sqrt(d)) * rng.standard_normal((n, d), dtype=xp.float32)
    del u
    started = time.perf_counter()
    fit = fit_pca(ArrayMatrix(x, xp=xp, block_rows=8192), PCAConfig(k=k, method="randomized", standardize=False))
    seconds = time.perf_counter() - started
    components = xp.asarray(fit.components)
    cos2 = float(xp.sum((v.T @ components) ** 2) / k)  # the signal is centred: its components are v's span
    return {"n": n, "d": d, "k": k, "seconds": seconds, "passes": len(fit.passes), "cos2": cos2,
            "top_sigma_rel_err": float(abs(fit.singular_values[0] - sigma[0]) / sigma[0])}


def arguments():
    p = parser(__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, to check the script")
    p.add_argument("--skip-pca", action="store_true")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    device = "cpu" if args.smoke else "cuda"
    sizes = SMOKE if args.smoke else SD15
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    unet = sd15_unet(sizes, device)
    print("| trainer | identities per step | steps/s | identity-steps/s | peak GPU GiB |")
    print("|---|---:|---:|---:|---:|")
    for prior in (False, True):
        rate = sequential_peft(unet, sizes, device, prior)
        print(f"| sequential peft{' + prior' if prior else ''} | 1 | {rate:.2f} | {rate:.2f} | |", flush=True)
    for k in sizes.ks:
        rate, peak = batched(unet, sizes, device, k)
        print(f"| batched | {k} | {rate / k:.2f} | {rate:.1f} | {peak:.1f} |", flush=True)
    print(f"| inversion (m = {sizes.invert_m}) | images per step | images/min at {INVERSION_STEPS} steps | "
          "peak GPU GiB |")
    print("|---|---:|---:|---:|")
    for k in sizes.invert_ks:
        rate, peak = inversion(unet, sizes, device, k)
        print(f"| w2w inversion | {k} | {rate:.2f} | {peak:.1f} |", flush=True)
    if not args.skip_pca:
        print(f"PCA (CuPy, planted spectrum): {paper_scale_pca(sizes, device)}", flush=True)


if __name__ == "__main__":
    main()
