"""Residual Dense Network for single-image super-resolution.

Zhang, Tian, Kong, Zhong, Fu: "Residual Dense Network for Image Super-Resolution", CVPR 2018.
The blocks are named after the paper's parts: shallow feature extraction (SFE), residual dense
blocks (RDB) made of dense layers, global feature fusion (GFF) and the upsampler (UPNet).

Train-time re-parameterisation (`reparam=True`): every 3x3 convolution trains as several parallel
branches (3x3, 1x1, 1x1 -> 3x3, and a per-channel scaled identity where the shapes allow), which
`fuse_reparam` folds into one plain 3x3 convolution for export: the deployed graph and its speed
are those of the plain network (the idea of RepVGG, Ding et al. 2021, and of ECBSR, Zhang et al. 2021).

One departure, for speed on CPUs: the upsampler is a single convolution to 3 * scale**2 channels
followed by PixelShuffle (ESPCN-style), and the network predicts a residual over the
nearest-neighbour enlargement of its input, which makes early training converge much faster.

Input and output: RGB float tensors in [0, 1], NCHW; any height and width (fully convolutional).
The output is not clamped; callers clamp to [0, 1] before quantising.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class RDNConfig:
    """Architecture of an RDN. The scale lives here and only here."""

    scale: int = 2
    C: int = 3  # dense layers per residual dense block
    D: int = 4  # residual dense blocks
    G: int = 32  # growth rate: channels added by each dense layer
    G0: int = 32  # feature channels between blocks
    channels: int = 3  # RGB

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def receptive_radius(self) -> int:
        """Pixels of LR context each output pixel depends on, per side (every conv is 3x3)."""
        convs_3x3 = 2 + self.D * self.C + 1 + 1  # SFE1, SFE2, dense layers, GFF 3x3, UPNet
        return convs_3x3


# Named architectures. An unknown name is an error listing these.
VARIANTS: dict[str, RDNConfig] = {
    "tiny": RDNConfig(C=2, D=2, G=8, G0=8),  # for tests only
    "small": RDNConfig(C=3, D=4, G=32, G0=32),  # the shipped default: ~0.3 M parameters
    "medium": RDNConfig(C=4, D=6, G=32, G0=48),
    "psnr-small": RDNConfig(C=3, D=10, G=64, G0=64),  # idealo's published size
}


ARCH_KEYS = ("C", "D", "G", "G0", "scale")  # what `arch = { ... }` may set


def variant(arch: str | dict) -> RDNConfig:
    """An RDN configuration from a variant name or the RDN's own numbers ({"C": 6, "D": 20, ...}).

    Unknown names and keys are errors that list the valid ones; missing keys keep "small"'s values.
    """
    if isinstance(arch, dict):
        unknown = sorted(set(arch) - set(ARCH_KEYS))
        if unknown:
            raise ValueError(f"unknown arch key(s) {', '.join(unknown)}; valid keys: {', '.join(ARCH_KEYS)}")
        bad = [k for k, v in arch.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1]
        if bad:
            raise ValueError(f"arch values must be positive integers: {', '.join(f'{k} = {arch[k]!r}' for k in bad)}")
        return replace(VARIANTS["small"], **arch)
    try:
        return VARIANTS[arch]
    except KeyError:
        raise ValueError(f"unknown RDN variant {arch!r}; choose one of {', '.join(VARIANTS)} or give {{{', '.join(ARCH_KEYS)}}}") from None


class RepConv3x3(nn.Module):
    """A 3x3 convolution trained as parallel branches; `fuse` returns the one equivalent Conv2d.

    Branches: 3x3; 1x1; 1x1 (no bias, so zero padding treats it like the input) -> 3x3; and,
    when in_channels == out_channels, the identity scaled per channel. All but the 3x3 start at
    zero, so a plain network's weights loaded into `main` give the same function.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.main = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)
        self.squeeze = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.expand = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.identity = nn.Parameter(torch.zeros(out_channels)) if in_channels == out_channels else None
        for conv in (self.pointwise, self.expand):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.main(x) + self.pointwise(x) + self.expand(self.squeeze(x))
        return y if self.identity is None else y + x * self.identity.view(1, -1, 1, 1)

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        weight = self.main.weight + F.pad(self.pointwise.weight, (1, 1, 1, 1))
        # expand(squeeze(x)): the 1x1 mixes input channels first, so the kernels compose as a matmul.
        weight = weight + torch.einsum("omhw,mi->oihw", self.expand.weight, self.squeeze.weight[:, :, 0, 0])
        if self.identity is not None:
            weight[:, :, 1, 1] += torch.diag(self.identity)
        fused = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
        fused.weight.copy_(weight)
        fused.bias.copy_(self.main.bias + self.pointwise.bias + self.expand.bias)
        return fused


def conv3x3(in_channels: int, out_channels: int, reparam: bool) -> nn.Module:
    return RepConv3x3(in_channels, out_channels) if reparam else nn.Conv2d(in_channels, out_channels, 3, padding=1)


class DenseLayer(nn.Module):
    """3x3 conv + ReLU whose output is concatenated to its input (the 'contiguous memory')."""

    def __init__(self, in_channels: int, growth: int, reparam: bool = False):
        super().__init__()
        self.conv = conv3x3(in_channels, growth, reparam)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, F.relu(self.conv(x))], dim=1)


class ResidualDenseBlock(nn.Module):
    """C dense layers, local feature fusion (1x1 conv) and local residual learning."""

    def __init__(self, G0: int, G: int, C: int, reparam: bool = False):
        super().__init__()
        self.layers = nn.Sequential(*[DenseLayer(G0 + c * G, G, reparam) for c in range(C)])
        self.local_fusion = nn.Conv2d(G0 + C * G, G0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.local_fusion(self.layers(x))


class RDN(nn.Module):
    def __init__(self, config: RDNConfig, reparam: bool = False):
        super().__init__()
        self.config = c = config
        self.sfe1 = conv3x3(c.channels, c.G0, reparam)
        self.sfe2 = conv3x3(c.G0, c.G0, reparam)
        self.blocks = nn.ModuleList([ResidualDenseBlock(c.G0, c.G, c.C, reparam) for _ in range(c.D)])
        self.global_fusion = nn.Sequential(
            nn.Conv2d(c.D * c.G0, c.G0, 1),
            conv3x3(c.G0, c.G0, reparam),
        )
        self.upsampler = nn.Sequential(
            conv3x3(c.G0, c.channels * c.scale**2, reparam),
            nn.PixelShuffle(c.scale),
        )

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """lr: (N, 3, h, w) in [0, 1] -> sr: (N, 3, h * scale, w * scale), roughly in [0, 1]."""
        f_minus1 = self.sfe1(lr)
        x = self.sfe2(f_minus1)
        block_outputs = []
        for block in self.blocks:
            x = block(x)
            block_outputs.append(x)
        x = self.global_fusion(torch.cat(block_outputs, dim=1)) + f_minus1
        residual = self.upsampler[0](x)
        # Nearest-neighbour enlargement expressed in the PixelShuffle channel layout.
        nearest = lr.repeat_interleave(self.config.scale**2, dim=1)
        return self.upsampler[1](residual + nearest)


def fuse_reparam(model: RDN) -> RDN:
    """The plain RDN computing what `model` (trained with reparam=True) computes; `model` is kept."""
    branches = {name: module for name, module in model.named_modules() if isinstance(module, RepConv3x3)}
    state = {k: v for k, v in model.state_dict().items() if not any(k.startswith(f"{name}.") for name in branches)}
    for name, module in branches.items():
        conv = module.fuse()
        state[f"{name}.weight"], state[f"{name}.bias"] = conv.weight, conv.bias
    plain = RDN(model.config)
    plain.load_state_dict(state)
    return plain


@torch.no_grad()
def deepen(model: RDN, blocks: int) -> RDN:
    """A plain RDN of `blocks` >= model's D residual dense blocks that computes what `model` computes.

    The new blocks go after the last one and start as identities (their local fusion is zero), and
    the global fusion's columns for them start at zero, so training resumes from the trained
    function and the extra capacity grows in from there (function-preserving growth, as Net2Net's
    deeper network; Chen, Goodfellow, Shlens 2016). The new dense layers keep their random init:
    they receive gradients as soon as their block's local fusion leaves zero.
    """
    old = model.config
    if blocks < old.D:
        raise ValueError(f"deepen: {blocks} blocks is fewer than the model's {old.D}")
    deeper = RDN(replace(old, D=blocks))
    state = deeper.state_dict()
    for key, value in model.state_dict().items():
        if not key.startswith("global_fusion.0."):
            state[key] = value
    for b in range(old.D, blocks):
        state[f"blocks.{b}.local_fusion.weight"].zero_()
        state[f"blocks.{b}.local_fusion.bias"].zero_()
    fusion = state["global_fusion.0.weight"]  # (G0, D * G0, 1, 1): one G0-wide column group per block
    fusion.zero_()
    fusion[:, : old.D * old.G0] = model.global_fusion[0].weight
    state["global_fusion.0.bias"] = model.global_fusion[0].bias.clone()
    deeper.load_state_dict(state)
    return deeper


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
