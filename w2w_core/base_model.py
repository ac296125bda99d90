"""The base diffusion model: build the embedded tiny one, load any SD-style folder.

`load_pipeline` is the one way w2w gets a base model. It takes a folder in the
diffusers layout (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
scheduler/): the tiny model shipped in `w2w_core/assets/tiny_sd` by default,
or a real Stable Diffusion 1.5 folder through exactly the same code.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

from w2w_core.base_model_folder import DEFAULT_MODEL_DIR, DEFAULT_MODEL_ID  # light; also re-exported
from w2w_core.errors import InputError
from w2w_core.text import TextEncoderConfig, build_text_encoder, build_tokenizer


@dataclass(frozen=True)
class TinyModelConfig:
    """Shape of the embedded model: SD's architecture, shrunk to fine-tune in seconds on a CPU."""

    image_size: int = 32  # pixels per side of world renders
    vae_channels: tuple[int, ...] = (16, 32, 32)  # 3 levels: 32x32 image -> 8x8 latent (0.17 s per batch of 32)
    latent_channels: int = 4  # as in SD
    # 8x8 and 4x4 UNet levels (~1M params: 84 ms per fine-tune step of 10 images, 1 thread)
    unet_channels: tuple[int, ...] = (32, 64)
    unet_layers_per_block: int = 1
    attention_head_dim: int = 16  # two heads at the first level, four at the second
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.vae_channels) - 1)


def build_unet(config: TinyModelConfig) -> UNet2DConditionModel:
    n = len(config.unet_channels)
    return UNet2DConditionModel(
        sample_size=config.latent_size,
        in_channels=config.latent_channels,
        out_channels=config.latent_channels,
        block_out_channels=config.unet_channels,
        down_block_types=("CrossAttnDownBlock2D",) * n,
        up_block_types=("CrossAttnUpBlock2D",) * n,
        layers_per_block=config.unet_layers_per_block,
        cross_attention_dim=config.text.hidden_size,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=16,
    )


def build_vae(config: TinyModelConfig) -> AutoencoderKL:
    n = len(config.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=config.vae_channels,
        latent_channels=config.latent_channels,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=config.image_size,
        mid_block_add_attention=False,  # 2x2 attention over an 8x8 map buys nothing at this size
    )


def build_scheduler() -> DDIMScheduler:
    """SD 1.5's noise schedule (scaled-linear betas, 1000 steps, epsilon prediction)."""
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def build_tiny_pipeline(config: TinyModelConfig, words: Sequence[str], seed: int) -> StableDiffusionPipeline:
    """An untrained tiny pipeline with SD's components and a hand-made vocabulary."""
    tokenizer = build_tokenizer(words, config.text.max_length)
    torch.manual_seed(seed)
    return StableDiffusionPipeline(
        vae=build_vae(config),
        text_encoder=build_text_encoder(config.text, len(tokenizer), seed),
        tokenizer=tokenizer,
        unet=build_unet(config),
        scheduler=build_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@dataclass(frozen=True)
class BaseModel:
    """A loaded pipeline and which model it is: LoRA layouts record both id and hash."""

    pipe: StableDiffusionPipeline
    model_id: str  # DEFAULT_MODEL_ID for the embedded model, else the folder path
    model_hash: str  # content hash of the folder (model_hash)

    @property
    def image_size(self) -> int:
        return self.pipe.unet.config.sample_size * self.pipe.vae_scale_factor


def load_base_model(folder: str | Path | None = None) -> BaseModel:
    """`load_pipeline` plus the identity of the model it loaded."""
    path = Path(folder) if folder is not None else DEFAULT_MODEL_DIR
    model_id = DEFAULT_MODEL_ID if path.resolve() == DEFAULT_MODEL_DIR.resolve() else str(path)
    return BaseModel(load_pipeline(path), model_id, model_hash(path))


@dataclass(frozen=True)
class SharedBase:
    """A base model loaded once per process, and the lock that serialises work that attaches an
    adapter to its UNet (fine-tunes, generation with a LoRA): they share the one UNet."""

    model: BaseModel
    lock: threading.Lock


_SHARED: dict[str, SharedBase] = {}
_SHARED_LOCK = threading.Lock()


def shared_base_model(folder: str | Path | None = None) -> SharedBase:
    """The base model of `folder` (None: embedded), loaded on first use in this process.

    Batch tasks on a worker call this for every batch: loading a pipeline takes
    seconds, a fine-tune of a tiny identity not much more.
    """
    key = str(Path(folder).resolve()) if folder else ""
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = SharedBase(load_base_model(folder), threading.Lock())
        return _SHARED[key]


def load_pipeline(folder: str | Path | None = None) -> StableDiffusionPipeline:
    """Load an SD-style pipeline from a diffusers folder (default: the embedded tiny model).

    The safety checker is not loaded: w2w never shows generated images to the
    public, and loading it would need a second CLIP model.
    """
    path = Path(folder) if folder is not None else DEFAULT_MODEL_DIR
    if not (path / "model_index.json").is_file():
        raise InputError(
            f"{path} is not a diffusers model folder (no model_index.json). Pass a folder saved "
            "with pipeline.save_pretrained(), such as a Stable Diffusion 1.5 checkout."
        )
    try:
        with _quiet_loading():
            pipe = StableDiffusionPipeline.from_pretrained(
                path, safety_checker=None, feature_extractor=None, requires_safety_checker=False
            )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"could not load the diffusion model in {path}: {error}") from error
    pipe.set_progress_bar_config(disable=True)
    return pipe


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No per-component loading bars from diffusers and transformers while a pipeline loads."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()


def model_hash(folder: str | Path | None = None) -> str:
    """Content hash of a model folder's weights and configs: which base a LoRA was trained on."""
    path = Path(folder) if folder is not None else DEFAULT_MODEL_DIR
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        if file.suffix in {".json", ".safetensors", ".bin", ".txt"}:
            digest.update(file.relative_to(path).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
