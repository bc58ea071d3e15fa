"""Residual Dense Network for single-image super-resolution.

Zhang, Tian, Kong, Zhong, Fu: "Residual Dense Network for Image Super-Resolution", CVPR 2018.
The blocks are named after the paper's parts: shallow feature extraction (SFE), residual dense
blocks (RDB) made of dense layers, global feature fusion (GFF) and the upsampler (UPNet).

One departure, for speed on CPUs: the upsampler is a single convolution to 3 * scale**2 channels
followed by PixelShuffle (ESPCN-style), and the network predicts a residual over the
nearest-neighbour enlargement of its input, which makes early training converge much faster.

Input and output: RGB float tensors in [0, 1], NCHW; any height and width (fully convolutional).
The output is not clamped; callers clamp to [0, 1] before quantising.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

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


def variant(name: str) -> RDNConfig:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown RDN variant {name!r}; choose one of {', '.join(VARIANTS)}") from None


class DenseLayer(nn.Module):
    """3x3 conv + ReLU whose output is concatenated to its input (the 'contiguous memory')."""

    def __init__(self, in_channels: int, growth: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, growth, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, F.relu(self.conv(x))], dim=1)


class ResidualDenseBlock(nn.Module):
    """C dense layers, local feature fusion (1x1 conv) and local residual learning."""

    def __init__(self, G0: int, G: int, C: int):
        super().__init__()
        self.layers = nn.Sequential(*[DenseLayer(G0 + c * G, G) for c in range(C)])
        self.local_fusion = nn.Conv2d(G0 + C * G, G0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.local_fusion(self.layers(x))


class RDN(nn.Module):
    def __init__(self, config: RDNConfig):
        super().__init__()
        self.config = c = config
        self.sfe1 = nn.Conv2d(c.channels, c.G0, 3, padding=1)
        self.sfe2 = nn.Conv2d(c.G0, c.G0, 3, padding=1)
        self.blocks = nn.ModuleList([ResidualDenseBlock(c.G0, c.G, c.C) for _ in range(c.D)])
        self.global_fusion = nn.Sequential(
            nn.Conv2d(c.D * c.G0, c.G0, 1),
            nn.Conv2d(c.G0, c.G0, 3, padding=1),
        )
        self.upsampler = nn.Sequential(
            nn.Conv2d(c.G0, c.channels * c.scale**2, 3, padding=1),
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


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
