"""Bar: the probe recognises the prompted attributes in base-model samples >= 85% of the time.

Prompts are the full attribute descriptions of held-out identities (every
attribute stated or, where it has no negative phrase, implied absent). The
baseline in the same run is the class prompt "a photo of a person", which
states nothing: its accuracy against the same targets is what chance and the
world's priors give. Two ceiling rows show where attributes get lost: the
probe on renders of the same identities, and on those renders passed through
the model's autoencoder (what the 8x8x4 latent keeps).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.base_attributes --n-prompts 200

`--sheet PATH` also writes a picture of the first prompts: per row, two
renders of the identity, two samples from its full prompt, two from the class
prompt (the prompts are printed).
"""
from __future__ import annotations

import numpy as np

from benchmarks.harness import parse, parser, set_threads
from w2w_core.evaluate import attribute_accuracy

SHEET_ROWS = 8


def write_sheet(path: str, renders: list, prompted: list, from_class: list, prompts: list[str]) -> None:
    """Rows of [renders | full-prompt samples | class-prompt samples] for the first SHEET_ROWS prompts."""
    from w2w_core.images import image_grid

    rows = [np.concatenate(parts) for parts in zip(renders, prompted, from_class)][:SHEET_ROWS]
    image_grid(np.concatenate(rows), columns=len(rows[0])).save(path)
    print(f"sheet {path}: per row 2 renders | 2 full-prompt samples | 2 class-prompt samples")
    for i, prompt in enumerate(prompts[:SHEET_ROWS]):
        print(f"  row {i + 1}: {prompt}")


def autoencoded(base, images: np.ndarray) -> np.ndarray:
    """Images through the base model's VAE and back (posterior mean)."""
    import torch

    from w2w_core.base_training import encode_latents
    from w2w_core.images import to_uint8

    with torch.no_grad():
        return to_uint8(base.pipe.vae.decode(encode_latents(base.pipe.vae, images)).sample)


def arguments():
    p = parser(__doc__, raw=True)
    p.add_argument("--n-prompts", type=int, default=200)
    p.add_argument("--per-prompt", type=int, default=2)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--model", default=None, help="diffusers model folder (default: the embedded one)")
    p.add_argument("--sheet", default=None, help="also write a PNG of the first prompts' images here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    set_threads(2)
    from w2w_core import world
    from w2w_core.base_model import load_base_model
    from w2w_core.generate import generate_images
    from w2w_core.probe import load_probe, predict_attributes

    base, probe = load_base_model(args.model), load_probe()
    targets, prompted, from_class, renders, prompts = [], [], [], [], []
    for i, seed in enumerate(world.heldout_seeds(args.n_prompts)):
        identity = world.make_identity(seed)
        renders.append(world.render_identity(identity, args.per_prompt, base.image_size))
        prompt = world.prompt_for(identity.attributes)
        prompts.append(prompt)
        targets.append(np.repeat(world.attribute_vector(identity)[None], args.per_prompt, 0))
        prompted.append(generate_images(base, prompt, args.per_prompt, seed=i, guidance=args.guidance))
        from_class.append(generate_images(base, world.CLASS_PROMPT, args.per_prompt, seed=i,
                                          guidance=args.guidance))
    target = np.concatenate(targets)
    if args.sheet:
        write_sheet(args.sheet, renders, prompted, from_class, prompts)
    rows = {
        "full attribute prompt": attribute_accuracy(predict_attributes(probe, np.concatenate(prompted)), target),
        "baseline: class prompt": attribute_accuracy(predict_attributes(probe, np.concatenate(from_class)), target),
        "ceiling: renders": attribute_accuracy(predict_attributes(probe, np.concatenate(renders)), target),
        "ceiling: renders via VAE": attribute_accuracy(
            predict_attributes(probe, autoencoded(base, np.concatenate(renders))), target),
    }
    print(f"{len(target)} images, guidance {args.guidance}")
    print(f"{'prompt':24s} " + " ".join(f"{a[:9]:>9s}" for a in world.ATTRIBUTES) + f" {'mean':>6s}")
    for name, accuracy in rows.items():
        print(f"{name:24s} " + " ".join(f"{x:9.3f}" for x in accuracy) + f" {np.mean(accuracy):6.3f}")
    full, baseline = (np.mean(rows[name]) for name in ("full attribute prompt", "baseline: class prompt"))
    print(f"ratio full prompt / class prompt mean accuracy: {full / baseline:.2f}")


if __name__ == "__main__":
    main()
