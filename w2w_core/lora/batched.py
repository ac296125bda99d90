"""K identities' LoRA factors on one frozen UNet, each sample getting its own identity's (training and generation).

Every targeted linear layer computes, for a sample of identity k,

    y = W x + s · B_k (A_k x)        s = alpha / rank

through a forward hook over each identity's contiguous run of samples: on a
CPU the same two small matmuls peft does for one adapter (so one identity
gives peft's numbers bit for bit), on a GPU one gathered batched matmul per
layer (hundreds of tiny kernels would leave it idle). The base layer runs
once on the whole batch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from w2w_core.lora.layout import LoraLayout

_A, _B = ".lora_A.weight", ".lora_B.weight"


class BatchedLora:
    """K identities' factors on one frozen UNet: A [K, r, in] and B [K, out, r] per targeted layer."""

    def __init__(self, unet: torch.nn.Module, layout: LoraLayout, init: dict[str, torch.Tensor], k: int,
                 gathered: bool | None = None):
        self.layout, self.scale = layout, layout.spec.scale
        self.gathered = gathered  # one gathered bmm per layer (None: on a GPU) instead of one matmul per identity
        self.modules = [key.removesuffix(_A) for key in layout.keys if key.endswith(_A)]
        self.a = {m: torch.nn.Parameter(init[m + _A].detach().float().repeat(k, 1, 1)) for m in self.modules}
        self.b = {m: torch.nn.Parameter(init[m + _B].detach().float().repeat(k, 1, 1)) for m in self.modules}
        self._segments: list[tuple[int, int, int]] = []
        self._owner: torch.Tensor | None = None
        layers = dict(unet.named_modules())
        self._hooks = [layers[m].register_forward_hook(self._hook(m)) for m in self.modules]

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for m in self.modules for p in (self.a[m], self.b[m])]

    @property
    def segments(self) -> list[tuple[int, int, int]]:
        """(identity, first, stop): which identity each contiguous run of the next forward's samples is."""
        return self._segments

    @segments.setter
    def segments(self, segments: list[tuple[int, int, int]]) -> None:
        self._segments, self._owner = list(segments), None

    def _owners(self, device: torch.device) -> torch.Tensor:
        """The identity of every sample [N], on `device` (made once per forward)."""
        if self._owner is None or self._owner.device != device:
            self._owner = torch.cat([torch.full((stop - first,), k, dtype=torch.long)
                                     for k, first, stop in self._segments]).to(device)
        return self._owner

    def _hook(self, module: str):
        def add_lora(layer: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            x, a, b = inputs[0], self.a[module], self.b[module]  # x [N, tokens, in]
            if x.is_cuda if self.gathered is None else self.gathered:
                owner = self._owners(x.device)
                lora = torch.bmm(torch.bmm(x, a[owner].transpose(1, 2).to(x.dtype)),
                                 b[owner].transpose(1, 2).to(x.dtype))
            else:
                lora = torch.cat([F.linear(F.linear(x[first:stop], a[k]), b[k]) for k, first, stop in self._segments])
            return output + self.scale * lora
        return add_lora

    def load(self, factors: dict[str, torch.Tensor]) -> None:
        """Set every identity's factors at once (`factors[key]` stacks them [K, ...] under layout keys)."""
        with torch.no_grad():
            for m in self.modules:
                self.a[m].copy_(factors[m + _A].to(self.a[m].dtype))
                self.b[m].copy_(factors[m + _B].to(self.b[m].dtype))

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()

    def vectors(self, gradients: bool = False) -> np.ndarray:
        """θ of every identity [K, d] in layout order (or, with `gradients`, the loss gradient wrt θ)."""
        k = self.a[self.modules[0]].shape[0]
        tensors = [(self.a if key.endswith(_A) else self.b)[key[: -len(_A)]] for key in self.layout.keys]
        parts = [(t.grad if gradients else t).detach().reshape(k, -1) for t in tensors]
        return torch.cat(parts, dim=1).float().numpy()
