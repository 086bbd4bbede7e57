"""Small non-convolutional models: an MLP and a tiny vision transformer.

They exist so that distances (and later pruning) are exercised on Linear layers and on
``nn.MultiheadAttention`` projections, not only on ResNet convolutions.

Example:
    >>> import torch
    >>> vit_tiny()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import torch
from torch import nn

from qkernels.core.errors import InputError


class MLP(nn.Module):
    """Flatten, then Linear-ReLU layers of the given widths, then a Linear classifier."""

    def __init__(self, in_features: int = 3 * 32 * 32, hidden: tuple[int, ...] = (256, 128), num_classes: int = 10):
        super().__init__()
        if in_features < 1 or num_classes < 1 or any(h < 1 for h in hidden):
            raise InputError("MLP: in_features, hidden widths and num_classes must be at least 1")
        dims = (in_features, *hidden)
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + MHA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViTTiny(nn.Module):
    """A small vision transformer: conv patch embedding, class token, encoder blocks, head."""

    def __init__(
        self,
        image_size: int = 32,
        patch: int = 4,
        dim: int = 64,
        depth: int = 2,
        heads: int = 4,
        num_classes: int = 10,
        in_channels: int = 3,
    ):
        super().__init__()
        if image_size % patch != 0:
            raise InputError(f"ViTTiny: image_size {image_size} is not a multiple of patch {patch}")
        if dim % heads != 0:
            raise InputError(f"ViTTiny: dim {dim} is not a multiple of heads {heads}")
        n_patches = (image_size // patch) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n_patches + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[EncoderBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def mlp(num_classes: int = 10, in_features: int = 3 * 32 * 32, hidden: tuple[int, ...] = (256, 128)) -> MLP:
    """The built-in MLP."""
    return MLP(in_features=in_features, hidden=hidden, num_classes=num_classes)


def vit_tiny(num_classes: int = 10, image_size: int = 32, in_channels: int = 3, patch: int = 4) -> ViTTiny:
    """The built-in tiny ViT (2 blocks, width 64, 4 heads, ``patch`` x ``patch`` patches, default 4).

    With ``patch = image_size`` the image is one patch: each patch-embedding filter reads the whole
    image, like a first-layer neuron of the MLP (the cross-architecture measurement of the
    ``pruning`` section substitutes one for the other).
    """
    return ViTTiny(image_size=image_size, patch=patch, num_classes=num_classes, in_channels=in_channels)


__all__ = ["MLP", "ViTTiny", "EncoderBlock", "mlp", "vit_tiny"]
