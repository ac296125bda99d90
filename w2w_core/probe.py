"""The probe: a small CNN that reads attributes and identity off world renders.

It plays the part FaceNet (identity) and CLIP (attributes) play for real
faces in weights2weights (arXiv 2406.09413, Sec. 5: identity preservation
and attribute evaluation): one shared trunk, two heads,

    attr_logits = W_a h                 (one logit per world attribute)
    embedding   = z / |z|,  z = W_e h   (cosine similarity = identity match)

Trained by `w2w_core.probe_training`; the trained weights ship in
w2w_core/assets/probe/ (probe.safetensors + config.json).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from w2w_core.errors import InputError
from w2w_core.images import check_images, to_tensor
from w2w_core.world import ATTRIBUTES

ASSET_DIR = Path(__file__).parent / "assets" / "probe"
WEIGHTS_FILE = "probe.safetensors"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class ProbeConfig:
    """Architecture of the probe (saved next to its weights)."""

    image_size: int = 32                 # input side in pixels; other sizes are resized to it
    widths: tuple[int, ...] = (24, 48, 96)  # conv channels per stage; each stage halves the side
    convs: tuple[int, ...] = (1, 2, 1)      # 3x3 convolutions per stage
    hidden: int = 128                    # width of the shared feature h
    embed_dim: int = 64                  # identity embedding size
    attributes: tuple[str, ...] = ATTRIBUTES  # names of the attribute logits, in order


def _stage(c_in: int, c_out: int, convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(convs):
        layers += [nn.Conv2d(c_in if k == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class Probe(nn.Module):
    """Conv trunk -> shared feature h -> (attribute logits, L2-normalised identity embedding)."""

    def __init__(self, config: ProbeConfig = ProbeConfig()):
        super().__init__()
        self.config = config
        w = config.widths
        stages = [_stage(3 if i == 0 else w[i - 1], c, k) for i, (c, k) in enumerate(zip(w, config.convs))]
        self.trunk = nn.Sequential(*stages)
        side = config.image_size // 2 ** len(w)
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(w[-1] * side * side, config.hidden),
                                      nn.BatchNorm1d(config.hidden), nn.ReLU(inplace=True))
        self.attribute_head = nn.Linear(config.hidden, len(config.attributes))
        self.embedding_head = nn.Linear(config.hidden, config.embed_dim)

    def forward_raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Attribute logits and the unnormalised embedding z (training uses z's direction and size)."""
        h = self.features(self.trunk(x))
        return self.attribute_head(h), self.embedding_head(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x float [N, 3, S, S] in [-1, 1] -> (attr_logits [N, A], embedding [N, E], unit length)."""
        logits, z = self.forward_raw(x)
        return logits, F.normalize(z, dim=1)


def images_to_input(images_uint8_nhwc: np.ndarray, image_size: int) -> torch.Tensor:
    """Checked uint8 [N, H, W, 3] -> float [N, 3, S, S] in [-1, 1] (antialiased resize if H, W != S)."""
    t = to_tensor(check_images(images_uint8_nhwc, "probe images"))
    if t.shape[-2:] != (image_size, image_size):
        t = F.interpolate(t, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return t


@torch.no_grad()
def _run(probe: Probe, images: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    check_images(images, "probe images")
    was_training = probe.training
    probe.eval()
    logits, embeddings = [], []
    for s in range(0, len(images), batch):
        lg, em = probe(images_to_input(images[s:s + batch], probe.config.image_size))
        logits.append(lg.numpy())
        embeddings.append(em.numpy())
    probe.train(was_training)
    return np.concatenate(logits), np.concatenate(embeddings)


def embed_images(probe: Probe, images_uint8_nhwc: np.ndarray) -> np.ndarray:
    """Identity embeddings float32 [N, E], unit length: cosine similarity compares identities."""
    return _run(probe, images_uint8_nhwc)[1].astype(np.float32)


def predict_attributes(probe: Probe, images_uint8_nhwc: np.ndarray) -> np.ndarray:
    """Predicted attributes bool [N, A] in probe.config.attributes order (logit > 0)."""
    return attribute_logits(probe, images_uint8_nhwc) > 0


def attribute_logits(probe: Probe, images_uint8_nhwc: np.ndarray) -> np.ndarray:
    """Raw attribute logits float32 [N, A] (for soft scores and calibration plots)."""
    return _run(probe, images_uint8_nhwc)[0].astype(np.float32)


def save_probe(probe: Probe, folder: str | Path) -> Path:
    """Write probe.safetensors + config.json into `folder` (created if missing)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in probe.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(asdict(probe.config), indent=2) + "\n")
    return folder


def load_probe(path: str | Path | None = None) -> Probe:
    """The probe in `path` (a folder with probe.safetensors + config.json), or the shipped one; eval mode."""
    from safetensors.torch import load_file

    folder = ASSET_DIR if path is None else Path(path)
    weights, config_file = folder / WEIGHTS_FILE, folder / CONFIG_FILE
    if not weights.is_file() or not config_file.is_file():
        raise InputError(f"no probe in {folder}: expected {WEIGHTS_FILE} and {CONFIG_FILE}; "
                         "train one with `python -m w2w_core.probe_training`")
    try:
        raw = json.loads(config_file.read_text())
        config = ProbeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        probe = Probe(config)
        probe.load_state_dict(load_file(str(weights)))
    except (ValueError, TypeError, RuntimeError, OSError) as err:
        raise InputError(f"probe files in {folder} are unreadable or do not fit ProbeConfig: {err}") from err
    return probe.eval()


def read_models(probe: Probe, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images of M models [M, n, H, W, 3] -> (attribute readings bool [M, n, A], unit embeddings [M, n, E])."""
    flat = images.reshape(-1, *images.shape[2:])
    logits, embeddings = _run(probe, flat)
    m, n = images.shape[:2]
    return (logits > 0).reshape(m, n, -1), embeddings.astype(np.float32).reshape(m, n, -1)
