"""The rPPG network architectures rPPG-Toolbox publishes checkpoints for, written from their papers.

PhysNet (Yu et al., BMVC 2019: a 3-D CNN encoder-decoder over frames), DeepPhys (Chen & McDuff,
ECCV 2018: a motion branch gated by attention masks from an appearance branch), TS-CAN (Liu et al.,
NeurIPS 2020: DeepPhys with temporal shift modules) and EfficientPhys (Liu et al., WACV 2023: one
shift-and-attention branch on frame differences, batch-normalised). Parameter names and shapes
follow the toolbox's released state dicts, so its ``.pth`` files load as they are.

Layouts: PhysNet takes (N, C, T, H, W) and returns (N, T); the 2-D networks take frames flattened
to (N·T, C, H, W) and return (N·T, 1). TS-CAN and EfficientPhys shift features between the frames
of consecutive groups of ``frame_depth`` frames, so N·T must be a multiple of it.
"""
from __future__ import annotations

import torch
from torch import nn

DENSE_INPUTS = {36: 3136, 72: 16384, 96: 30976, 128: 57600}  # flattened features per image side


class PhysNet(nn.Module):
    """Spatio-temporal encoder-decoder: a 1×5×5 stem, eight 3×3×3 conv blocks with spatial and
    spatio-temporal max pooling (time ÷4), two ×2 temporal transposed convolutions back to T,
    spatial average pooling and a 1×1×1 projection to one value per frame."""

    def __init__(self) -> None:
        super().__init__()
        widths = [(3, 16), (16, 32), (32, 64)] + [(64, 64)] * 6
        for k, (cin, cout) in enumerate(widths, start=1):
            kernel, pad = ((1, 5, 5), (0, 2, 2)) if k == 1 else ((3, 3, 3), (1, 1, 1))
            setattr(self, f"ConvBlock{k}", nn.Sequential(nn.Conv3d(cin, cout, kernel, padding=pad),
                                                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True)))
        for name in ("upsample", "upsample2"):
            setattr(self, name, nn.Sequential(nn.ConvTranspose3d(64, 64, (4, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0)),
                                              nn.BatchNorm3d(64), nn.ELU()))
        self.ConvBlock10 = nn.Conv3d(64, 1, 1)
        self.pool_space = nn.MaxPool3d((1, 2, 2))
        self.pool_space_time = nn.MaxPool3d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[2]
        x = self.pool_space(self.ConvBlock1(x))
        x = self.pool_space_time(self.ConvBlock3(self.ConvBlock2(x)))
        x = self.pool_space_time(self.ConvBlock5(self.ConvBlock4(x)))
        x = self.pool_space(self.ConvBlock7(self.ConvBlock6(x)))
        x = self.upsample2(self.upsample(self.ConvBlock9(self.ConvBlock8(x))))
        x = nn.functional.adaptive_avg_pool3d(x, (length, 1, 1))
        return self.ConvBlock10(x).reshape(x.shape[0], length)


def attention_mask(g: torch.Tensor) -> torch.Tensor:
    """Soft attention normalised to a mean of 0.5 over each map (H·W / 2 · g / Σg)."""
    h, w = g.shape[2], g.shape[3]
    return g / g.sum(dim=(2, 3), keepdim=True) * (h * w * 0.5)


def temporal_shift(x: torch.Tensor, frame_depth: int, fold_div: int = 3) -> torch.Tensor:
    """Within each group of ``frame_depth`` consecutive frames, the first 1/``fold_div`` of the
    channels take the next frame's values, the second take the previous frame's (zeros past the
    group's ends), the rest stay."""
    nt, c, h, w = x.shape
    x = x.reshape(nt // frame_depth, frame_depth, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.reshape(nt, c, h, w)


class _AttentionNet(nn.Module):
    """DeepPhys-style two-stream CNN (32 then 64 filters, 3×3, tanh; 1×1 sigmoid attention;
    2×2 average pooling; dense 128 → 1). ``frame_depth`` > 0 adds temporal shifts before the
    motion convolutions (TS-CAN); ``appearance=False`` gates the motion stream by itself and
    batch-normalises frame differences taken inside (EfficientPhys)."""

    def __init__(self, img_size: int = 72, frame_depth: int = 0, appearance: bool = True, in_channels: int = 3):
        super().__init__()
        if img_size not in DENSE_INPUTS:
            raise ValueError(f"image size {img_size} is not one the published networks use {sorted(DENSE_INPUTS)}")
        self.frame_depth, self.appearance = frame_depth, appearance
        streams = ["motion", "apperance"] if appearance else ["motion"]  # the toolbox's spelling
        for stream in streams:
            for k, (cin, cout, pad) in enumerate([(in_channels, 32, 1), (32, 32, 0), (32, 64, 1), (64, 64, 0)], start=1):
                setattr(self, f"{stream}_conv{k}", nn.Conv2d(cin, cout, 3, padding=pad))
        self.apperance_att_conv1 = nn.Conv2d(32, 1, 1)
        self.apperance_att_conv2 = nn.Conv2d(64, 1, 1)
        self.final_dense_1 = nn.Linear(DENSE_INPUTS[img_size], 128)
        self.final_dense_2 = nn.Linear(128, 1)
        self.dropout_light, self.dropout_heavy = nn.Dropout(0.25), nn.Dropout(0.5)
        if not appearance:
            self.batch_norm = nn.BatchNorm2d(in_channels)

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.frame_depth) if self.frame_depth else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = nn.functional.avg_pool2d
        if self.appearance:
            motion, look = x[:, :3], x[:, 3:]
        else:
            motion = self.batch_norm(torch.diff(x, dim=0))
        d = torch.tanh(self.motion_conv2(self._shift(torch.tanh(self.motion_conv1(self._shift(motion))))))
        if self.appearance:
            r = torch.tanh(self.apperance_conv2(torch.tanh(self.apperance_conv1(look))))
            gate = r
        else:
            gate = d
        d = self.dropout_light(pool(d * attention_mask(torch.sigmoid(self.apperance_att_conv1(gate))), 2))
        d = torch.tanh(self.motion_conv4(self._shift(torch.tanh(self.motion_conv3(self._shift(d))))))
        if self.appearance:
            r = self.dropout_light(pool(r, 2))
            gate = torch.tanh(self.apperance_conv4(torch.tanh(self.apperance_conv3(r))))
        else:
            gate = d
        d = self.dropout_light(pool(d * attention_mask(torch.sigmoid(self.apperance_att_conv2(gate))), 2))
        d = self.dropout_heavy(torch.tanh(self.final_dense_1(d.flatten(1))))
        return self.final_dense_2(d)


def deepphys(img_size: int = 72) -> nn.Module:
    return _AttentionNet(img_size)


def tscan(img_size: int = 72, frame_depth: int = 10) -> nn.Module:
    return _AttentionNet(img_size, frame_depth=frame_depth)


def efficientphys(img_size: int = 72, frame_depth: int = 10) -> nn.Module:
    """Takes N·T + 1 frames (it differences them) and returns N·T values."""
    return _AttentionNet(img_size, frame_depth=frame_depth, appearance=False)
