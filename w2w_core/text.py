"""The tiny model's tokenizer and text encoder, built offline.

A real Stable Diffusion folder ships a CLIP BPE tokenizer and a CLIP text
encoder. The embedded model uses the same classes so the same loading code
serves both; its vocabulary is made by hand from the words the world's
prompts can contain (plus the rare instance token), so nothing is downloaded.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from w2w_core.errors import W2WError

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
_CHARS = "abcdefghijklmnopqrstuvwxyz,"


@dataclass(frozen=True)
class TextEncoderConfig:
    hidden_size: int = 64  # width of token embeddings = UNet cross-attention dim
    intermediate_size: int = 128  # MLP width inside each transformer layer
    num_layers: int = 2  # transformer layers
    num_heads: int = 2  # attention heads per layer
    max_length: int = 32  # tokens per prompt, padded/truncated (SD uses 77)


def _chain(word: str) -> list[str]:
    """Merges that spell `word` left to right: "m a", "ma n</w>" for "man"."""
    symbols = list(word[:-1]) + [word[-1] + "</w>"]
    merges, merged = [], symbols[0]
    for symbol in symbols[1:]:
        merges.append(f"{merged} {symbol}")
        merged += symbol
    return merges


def _apply_bpe(word: str, ranks: dict[str, int]) -> list[str]:
    """CLIP's BPE on one word: repeatedly merge the adjacent pair of lowest rank."""
    symbols = list(word[:-1]) + [word[-1] + "</w>"]
    while len(symbols) > 1:
        pairs = [(ranks.get(f"{a} {b}", len(ranks)), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
        rank, i = min(pairs)
        if rank == len(ranks):
            break
        symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
    return symbols


def bpe_vocabulary(words: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Vocabulary and merge rules under which every word is one CLIP BPE token.

    CLIP's BPE starts from characters (the last one suffixed `</w>`) and merges
    pairs by rank. Each word gets the chain of merges that spells it left to
    right; where another word's merge would split it ("m a" inside "woman"),
    the split word's chain is moved ahead until every word is whole. Unknown
    words still tokenize, character by character.
    """
    words = sorted(set(words) | {","}, key=lambda w: (-len(w), w))
    order = list(words)
    for _ in range(len(words) + 1):
        merges = list(dict.fromkeys(m for w in order for m in _chain(w)))
        ranks = {m: r for r, m in enumerate(merges)}
        broken = [w for w in words if len(_apply_bpe(w, ranks)) != 1]
        if not broken:
            break
        order = broken + [w for w in order if w not in broken]
    else:
        raise W2WError(f"no BPE merge order keeps these words whole: {broken}")
    vocab: dict[str, int] = {}
    for token in [c for ch in _CHARS for c in (ch, ch + "</w>")] + [m.replace(" ", "") for m in merges] + [BOS, EOS]:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def build_tokenizer(words: Iterable[str], max_length: int) -> CLIPTokenizer:
    """A CLIPTokenizer whose vocabulary holds exactly `words` as whole tokens."""
    vocab, merges = bpe_vocabulary(words)
    with tempfile.TemporaryDirectory() as folder:
        vocab_file, merges_file = Path(folder, "vocab.json"), Path(folder, "merges.txt")
        vocab_file.write_text(json.dumps(vocab))
        merges_file.write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        return CLIPTokenizer(
            str(vocab_file), str(merges_file), model_max_length=max_length, pad_token=EOS
        )


def build_text_encoder(config: TextEncoderConfig, vocab_size: int, seed: int) -> CLIPTextModel:
    """A randomly initialised CLIP text encoder of the given size (trained later)."""
    import torch

    torch.manual_seed(seed)
    clip_config = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        max_position_embeddings=config.max_length,
        projection_dim=config.hidden_size,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    return CLIPTextModel(clip_config)
