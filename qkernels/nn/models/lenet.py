"""advertorch's LeNet-5 for MNIST, and its trained weights shipped inside the advertorch wheel.

advertorch 0.2.3 (LGPL-3.0) ships ``advertorch_examples/trained_models/mnist_lenet5_clntrained.pt``,
a state dict of its ``advertorch.test_utils.LeNet5`` trained on clean MNIST (``advertorch_examples``
is a second top-level package of the advertorch distribution). :class:`LeNet5` rebuilds that
architecture with the same module names, so the file loads strictly, key for key:

- ``conv1``: Conv2d(1, 32, 3, padding=1), ReLU, MaxPool2d(2) -> 32 x 14 x 14
- ``conv2``: Conv2d(32, 64, 3, padding=1), ReLU, MaxPool2d(2) -> 64 x 7 x 7
- ``linear1``: flatten, Linear(3136, 200), ReLU -> 200
- ``linear2``: Linear(200, 10) -> 10 logits

648,226 parameters. The file is read with :func:`qkernels.nn.checkpoints.load_state_dict`
(``torch.load(map_location="cpu", weights_only=True)``: no code from the file runs) and
loaded with :func:`qkernels.nn.models.registry.load_into` (strict: every key and shape).

Inputs: advertorch trained it on MNIST through ``transforms.ToTensor()`` alone, i.e. pixels
scaled to 0..1 with no mean/std normalization: :data:`INPUT_MEAN` ``= (0.0,)`` and
:data:`INPUT_STD` ``= (1.0,)``, for ``ImageSet.with_stats(INPUT_MEAN, INPUT_STD)``.

Example:
    >>> import torch
    >>> m = load_lenet5()
    >>> sum(p.numel() for p in m.parameters()), m.training
    (648226, False)
    >>> from qkernels.nn.data.mnist5k import mnist5k
    >>> test = mnist5k().test.with_stats(INPUT_MEAN, INPUT_STD)
    >>> x, y = next(test.batches(100))
    >>> with torch.no_grad():
    ...     correct = int((m(x).argmax(1) == y).sum())
    >>> correct >= 95
    True
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from qkernels.core.errors import InputError
from qkernels.nn.checkpoints import load_state_dict
from qkernels.nn.packaged import PACKAGES, package_dir, package_file

#: the package folder (a top-level package of the advertorch distribution) and the file in it
WEIGHTS_PACKAGE = "advertorch_examples"
WEIGHTS_FILE = "trained_models/mnist_lenet5_clntrained.pt"
#: the input normalization the weights expect: pixels on 0..1, not standardized
INPUT_MEAN: tuple[float, ...] = (0.0,)
INPUT_STD: tuple[float, ...] = (1.0,)
INPUT_SHAPE = (1, 28, 28)
NUM_PARAMETERS = 648_226


class LeNet5(nn.Module):
    """advertorch's LeNet-5: two conv-ReLU-maxpool stages (32, 64 channels), then 200-10 Linear layers.

    Takes ``(N, 1, 28, 28)`` images on the 0..1 scale and returns ``(N, 10)`` logits.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3, stride=1, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, stride=1, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(7 * 7 * 64, 200)
        self.relu3 = nn.ReLU()
        self.linear2 = nn.Linear(200, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.linear1(self.flatten(x)))
        return self.linear2(x)


def lenet5_weights_path() -> Path:
    """The trained weights shipped by advertorch (found by path; advertorch's code is not run).

    Raises:
        InputError: advertorch is not installed, or its files lack the weights; the message
            gives the pip command (``pip install --no-deps advertorch==0.2.3``).
    """
    pip = PACKAGES["advertorch"].pip
    try:
        package_dir(WEIGHTS_PACKAGE)
    except InputError:
        raise InputError(f"the trained LeNet-5 needs the package {WEIGHTS_PACKAGE!r} of the advertorch distribution, "
                         f"which is not installed; run: {pip}") from None
    try:
        return package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)
    except InputError:
        raise InputError(f"the trained LeNet-5 weights {WEIGHTS_PACKAGE}/{WEIGHTS_FILE} are missing from the installed "
                         f"advertorch (a different version?); run: {pip}") from None


def load_lenet5(path: str | Path | None = None) -> LeNet5:
    """:class:`LeNet5` with the weights from ``path`` (default: advertorch's clean-trained file), in eval mode.

    Raises:
        InputError: a missing or corrupt file, or one whose tensors do not match the architecture
            (named: the first missing, unexpected or mis-shaped key).
    """
    # imported here: the model registry imports this module to register ``lenet5-mnist``
    from qkernels.nn.models.registry import load_into

    p = lenet5_weights_path() if path is None else Path(path)
    state = load_state_dict(p)
    return load_into(LeNet5(), state, where=f"LeNet-5 weights {str(p)!r}")


__all__ = ["LeNet5", "lenet5_weights_path", "load_lenet5", "INPUT_MEAN", "INPUT_STD", "INPUT_SHAPE",
           "NUM_PARAMETERS", "WEIGHTS_PACKAGE", "WEIGHTS_FILE"]
