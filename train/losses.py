"""The paper's loss (after Alhashim & Wonka, DenseDepth): 0.1 * L1 + L1 of gradients + (1 - SSIM) / 2.

All terms are masked to valid ground truth (depth > 0), and computed on depth divided by the
model's max depth, so SSIM's constants (for a data range of 1) mean what they should.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from rtdepth.sizes import DEPTH_RANGE


def _gaussian_window(size: int = 7, sigma: float = 1.5, device: torch.device | None = None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 7) -> torch.Tensor:
    """Per-pixel SSIM of single-channel images (N x 1 x H x W), Gaussian window, reflect padding."""
    w = _gaussian_window(window, device=x.device).to(x.dtype)
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (pad, pad, pad, pad), mode="reflect"), w)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over mask (0 when the mask is empty, never NaN)."""
    return (x * mask).sum() / mask.sum().clamp_min(1)


def gradient_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences, where both pixels of a pair are valid."""
    dx_mask = mask[..., :, 1:] * mask[..., :, :-1]
    dy_mask = mask[..., 1:, :] * mask[..., :-1, :]
    dx = (pred.diff(dim=-1) - target.diff(dim=-1)).abs()
    dy = (pred.diff(dim=-2) - target.diff(dim=-2)).abs()
    return masked_mean(dx, dx_mask) + masked_mean(dy, dy_mask)


def log_scale_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image |mean log(pred) - mean log(target)| over valid pixels, averaged over the batch: the frame's
    scale error, which costs the same at 0.3 m as at 5 m. The paper's loss (L1 in metres, and SSIM and gradients
    that barely see scale) charges a near frame's 2x error about a quarter of a far one's (tested)."""
    flat_mask = mask.flatten(1)
    count = flat_mask.sum(1)
    log_p = torch.log(pred.clamp_min(1e-3)).flatten(1)
    log_t = torch.log(target.clamp_min(1e-3)).flatten(1)
    gap = ((log_p - log_t) * flat_mask).sum(1) / count.clamp_min(1)
    has_pixels = (count > 0).to(pred.dtype)
    return (gap.abs() * has_pixels).sum() / has_pixels.sum().clamp_min(1)


class _Aligned(NamedTuple):
    """Per image, flattened: the aligned predicted disparity, the true one, the mask; per image: valid
    pixels (at least 1) and the mean true disparity."""

    aligned: torch.Tensor
    true: torch.Tensor
    mask: torch.Tensor
    count: torch.Tensor
    mean_true: torch.Tensor


def _aligned_disparity(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> _Aligned:
    """Per image, the predicted disparity aligned to the true one by least squares (scale s, shift t)."""
    n = pred.shape[0]
    p = (1.0 / pred.clamp_min(1e-3)).reshape(n, -1)
    t = torch.where(mask > 0, 1.0 / target.clamp_min(1e-3), torch.zeros_like(target)).reshape(n, -1)
    m = mask.reshape(n, -1)
    count = m.sum(1).clamp_min(1)
    # Closed-form 2x2 least squares: minimise sum m * (s p + t0 - d)^2.
    a00, a01, a11 = (m * p * p).sum(1), (m * p).sum(1), count
    b0, b1 = (m * p * t).sum(1), (m * t).sum(1)
    det = (a00 * a11 - a01 * a01).clamp_min(1e-6)
    scale = (a11 * b0 - a01 * b1) / det
    shift = (-a01 * b0 + a00 * b1) / det
    aligned = scale[:, None] * p + shift[:, None]
    return _Aligned(aligned, t, m, count, (b1 / count).clamp_min(1e-3))


def ssi_disparity_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scale-and-shift-invariant L1 on inverse depth (after MiDaS, Ranftl et al. 2020).

    Per image, the predicted disparity is aligned to the true one by least squares (scale s, shift t),
    then the mean absolute residual is taken, divided by the mean true disparity so near and far
    scenes weigh alike. It asks for the right shape of the scene whatever its metric scale, which is
    what lets sources whose scale disagrees (a Kinect, a renderer) train one network.
    """
    return _residual_l1(_aligned_disparity(pred, target, mask))


def _residual_l1(a: _Aligned) -> torch.Tensor:
    per_image = (a.mask * (a.aligned - a.true).abs()).sum(1) / a.count / a.mean_true
    valid = (a.count > 10).to(a.aligned.dtype)
    return (per_image * valid).sum() / valid.sum().clamp_min(1)


def ssi_gradient_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Multi-scale gradient matching on the aligned disparity's residual (MiDaS's regulariser).

    The residual's horizontal and vertical differences, at full resolution and subsampled by 2, 4 and
    8, where both pixels are valid, divided by the mean true disparity: zero only when edges and slopes
    are where they truly are, whatever the scene's scale. The L1 terms leave a blurred edge cheap (its
    error is one pixel wide); this one charges for it at every scale, against flat, smeared depth.
    """
    return _gradient_matching(_aligned_disparity(pred, target, mask), pred.shape, scales)


def _gradient_matching(a: _Aligned, shape: torch.Size, scales: int = 4) -> torch.Tensor:
    r = ((a.aligned - a.true) * a.mask / a.mean_true[:, None]).reshape(shape)
    m = a.mask.reshape(shape)
    total = r.new_zeros(())
    for k in range(scales):
        step = 2**k
        rk, mk = r[..., ::step, ::step], m[..., ::step, ::step]
        dx_mask, dy_mask = mk[..., :, 1:] * mk[..., :, :-1], mk[..., 1:, :] * mk[..., :-1, :]
        count = (dx_mask.sum() + dy_mask.sum()).clamp_min(1)
        total = total + ((rk.diff(dim=-1).abs() * dx_mask).sum() + (rk.diff(dim=-2).abs() * dy_mask).sum()) / count
    return total


class DepthLoss(nn.Module):
    """``w_depth * L1 + w_grad * gradient L1 + w_ssim * (1 - SSIM) / 2 (+ w_ssi * SSI + w_match * gradient
    matching + w_log_scale * the frame's log-scale error)``, masked to valid pixels."""

    def __init__(self, max_depth: float = DEPTH_RANGE[1], w_depth: float = 0.1, w_grad: float = 1.0, w_ssim: float = 1.0,
                 w_ssi: float = 0.0, w_match: float = 0.0, w_log_scale: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.max_depth = max_depth
        self.w_depth, self.w_grad, self.w_ssim, self.w_ssi, self.w_match = w_depth, w_grad, w_ssim, w_ssi, w_match
        self.w_log_scale = w_log_scale

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = (target > 0).to(pred.dtype)
        p, t = pred / self.max_depth, target / self.max_depth
        # Invalid target pixels take the prediction's value, so they add no false structure to SSIM.
        t_filled = torch.where(mask > 0, t, p.detach())
        l1 = masked_mean((p - t).abs(), mask)
        grad = gradient_l1(p, t, mask)
        ssim = masked_mean((1 - ssim_map(p, t_filled)) / 2, mask)
        loss = self.w_depth * l1 + self.w_grad * grad + self.w_ssim * ssim
        if self.w_log_scale:
            loss = loss + self.w_log_scale * log_scale_error(pred, target, mask)
        if self.w_ssi or self.w_match:  # one alignment serves both terms
            aligned = _aligned_disparity(pred, target, mask)
            if self.w_ssi:
                loss = loss + self.w_ssi * _residual_l1(aligned)
            if self.w_match:
                loss = loss + self.w_match * _gradient_matching(aligned, pred.shape)
        return loss
