"""MONAI networks: ResNet-18/34, DenseNet-121 (2D, or 3D for volumes), EfficientNet-B0 (2D), adapted to small
medical images."""

from __future__ import annotations

from torch import nn

from medprune.errors import ConfigError
from medprune.models.registry import register_model


def _resnet(input_shape: tuple[int, ...], n_classes: int, layers: list[int]) -> nn.Module:
    from monai.networks.nets import ResNet

    spatial_dims = len(input_shape) - 1
    if spatial_dims == 3:
        # Volumes: MONAI's 7^3 stride-2 stem and max-pool (28^3 -> 7^3 before layer1). A stride-1 stem, as for
        # 2D, would put layer1 at 14^3: 8x the MACs, over 10 minutes an epoch of AdrenalMNIST3D on 2 cores.
        return ResNet(block="basic", layers=layers, block_inplanes=[64, 128, 256, 512], spatial_dims=3,
                      n_input_channels=input_shape[0], conv1_t_size=7, conv1_t_stride=2, num_classes=n_classes)
    # Below 64 px an ImageNet stem (7x7 stride 2 + max-pool) leaves a 7x7 map before layer1;
    # a 3x3 stride-1 stem keeps detail for 28 px MedMNIST while the max-pool bounds CPU cost.
    small = min(input_shape[1:]) < 64
    return ResNet(block="basic", layers=layers, block_inplanes=[64, 128, 256, 512], spatial_dims=2,
                  n_input_channels=input_shape[0], conv1_t_size=3 if small else 7,
                  conv1_t_stride=1 if small else 2, num_classes=n_classes)


@register_model("resnet18", modality="image", description="MONAI ResNet-18 (11 M params), small-image stem")
def build_resnet18(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return _resnet(input_shape, n_classes, [2, 2, 2, 2])


@register_model("resnet34", modality="image", description="MONAI ResNet-34 (21 M params), small-image stem")
def build_resnet34(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return _resnet(input_shape, n_classes, [3, 4, 6, 3])


@register_model("densenet121", modality="image", min_size=32,
                description="MONAI DenseNet-121 (7 M params, concatenations), images >= 32 px")
def build_densenet121(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    from monai.networks.nets import DenseNet121

    return DenseNet121(spatial_dims=len(input_shape) - 1, in_channels=input_shape[0], out_channels=n_classes)


@register_model("efficientnet-b0", modality="image", min_size=32,
                description="MONAI EfficientNet-B0 (4 M params, depthwise + squeeze-excite), images >= 32 px")
def build_efficientnet_b0(input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    from monai.networks.nets import EfficientNetBN

    if len(input_shape) != 3:
        raise ConfigError("efficientnet-b0 takes 2D images: use smallcnn, resnet18 or densenet121 for volumes")
    return EfficientNetBN("efficientnet-b0", pretrained=False, spatial_dims=2,
                          in_channels=input_shape[0], num_classes=n_classes)
