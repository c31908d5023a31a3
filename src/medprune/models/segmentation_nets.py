"""MONAI's segmentation networks, 2D or 3D by the input's shape: each outputs one channel per structure
(background included) at the input's spatial size."""

from __future__ import annotations

from torch import nn

from medprune.models.registry import register_model


def _dims(input_shape: tuple[int, ...]) -> tuple[int, int]:
    return len(input_shape) - 1, input_shape[0]


@register_model("unet", modality="image", task="segmentation", min_size=16,
                description="MONAI UNet, residual units, channels 16-256 (concatenated skips)")
def build_unet(input_shape: tuple[int, ...], n_classes: int, channels: tuple[int, ...] = (16, 32, 64, 128, 256),
               num_res_units: int = 2) -> nn.Module:
    from monai.networks.nets import UNet

    dims, in_channels = _dims(input_shape)
    return UNet(spatial_dims=dims, in_channels=in_channels, out_channels=n_classes, channels=tuple(channels),
                strides=(2,) * (len(channels) - 1), num_res_units=num_res_units, norm="batch")


@register_model("basicunet", modality="image", task="segmentation", min_size=16,
                description="MONAI BasicUNet (the original U-Net's two-conv blocks), features 32-256")
def build_basicunet(input_shape: tuple[int, ...], n_classes: int,
                    features: tuple[int, ...] = (32, 32, 64, 128, 256, 32)) -> nn.Module:
    from monai.networks.nets import BasicUNet

    dims, in_channels = _dims(input_shape)
    return BasicUNet(spatial_dims=dims, in_channels=in_channels, out_channels=n_classes, features=tuple(features),
                     norm="batch")


@register_model("segresnet", modality="image", task="segmentation", min_size=16,
                description="MONAI SegResNet (residual encoder, additive skips), 16 initial filters")
def build_segresnet(input_shape: tuple[int, ...], n_classes: int, init_filters: int = 16) -> nn.Module:
    from monai.networks.nets import SegResNet

    dims, in_channels = _dims(input_shape)
    return SegResNet(spatial_dims=dims, in_channels=in_channels, out_channels=n_classes, init_filters=init_filters,
                     norm="batch")


@register_model("dynunet", modality="image", task="segmentation", min_size=16,
                description="MONAI DynUNet, nnU-Net's architecture, five levels")
def build_dynunet(input_shape: tuple[int, ...], n_classes: int,
                  filters: tuple[int, ...] = (32, 64, 128, 256, 320)) -> nn.Module:
    from monai.networks.nets import DynUNet

    dims, in_channels = _dims(input_shape)
    strides = [1, *([2] * (len(filters) - 1))]
    return DynUNet(spatial_dims=dims, in_channels=in_channels, out_channels=n_classes, kernel_size=[3] * len(filters),
                   strides=strides, upsample_kernel_size=strides[1:], filters=list(filters), norm_name="batch")


@register_model("attentionunet", modality="image", task="segmentation", min_size=16,
                description="MONAI AttentionUnet (attention-gated skips), channels 16-256")
def build_attentionunet(input_shape: tuple[int, ...], n_classes: int,
                        channels: tuple[int, ...] = (16, 32, 64, 128, 256)) -> nn.Module:
    from monai.networks.nets import AttentionUnet

    dims, in_channels = _dims(input_shape)
    return AttentionUnet(spatial_dims=dims, in_channels=in_channels, out_channels=n_classes, channels=tuple(channels),
                         strides=(2,) * (len(channels) - 1))
