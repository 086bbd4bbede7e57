"""Built-in models by name: ResNet-18 (torchvision names), an MLP, a tiny ViT, and pretrained networks
(CREPE, LeNet-5) whose weights installed packages ship."""

from qkernels.nn.models.registry import (
    MODELS,
    ModelSpec,
    build_model,
    load_into,
    load_model,
    model_names,
    model_spec,
    pretrained_names,
    weights_file,
)
from qkernels.nn.models.resnet import ResNet, resnet18
from qkernels.nn.models.small import MLP, ViTTiny, mlp, vit_tiny

__all__ = ["MODELS", "ModelSpec", "build_model", "load_into", "load_model", "model_names", "model_spec", "pretrained_names", "weights_file",
           "ResNet", "resnet18", "MLP", "ViTTiny", "mlp", "vit_tiny"]
