"""Built-in models: ResNet-18 (torchvision names), an MLP and a tiny ViT, by name."""

from qkernels.nn.models.registry import MODELS, ModelSpec, build_model, load_into, load_model, model_names, model_spec
from qkernels.nn.models.resnet import ResNet, resnet18
from qkernels.nn.models.small import MLP, ViTTiny, mlp, vit_tiny

__all__ = ["MODELS", "ModelSpec", "build_model", "load_into", "load_model", "model_names", "model_spec",
           "ResNet", "resnet18", "MLP", "ViTTiny", "mlp", "vit_tiny"]
