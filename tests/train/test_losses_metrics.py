import numpy as np
import pytest
import torch

from rtdepth.metrics import MetricAccumulator, compute_metrics, eigen_crop_mask
from train.losses import DepthLoss, gradient_l1, ssim_map


def test_identical_inputs_give_zero_loss():
    d = torch.rand(2, 1, 24, 32) * 5 + 0.5
    assert DepthLoss()(d, d).item() == pytest.approx(0.0, abs=1e-6)


def test_ssim_of_an_image_with_itself_is_one():
    x = torch.rand(1, 1, 20, 20)
    torch.testing.assert_close(ssim_map(x, x), torch.ones_like(ssim_map(x, x)))
    assert ssim_map(x, 1 - x).mean() < 0.5


def test_known_gradient_case():
    # A horizontal ramp of slope 0.1 per pixel against a flat target: only dx differs, by 0.1.
    pred = torch.arange(8.0).mul(0.1).view(1, 1, 1, 8).expand(1, 1, 6, 8)
    target = torch.zeros(1, 1, 6, 8)
    mask = torch.ones_like(target)
    assert gradient_l1(pred, target, mask).item() == pytest.approx(0.1, abs=1e-6)


def test_constant_offset_costs_only_the_l1_term():
    # A constant offset has zero gradient error and (nearly) full SSIM structure; L1 term = 0.1 * 1 / 10.
    target = torch.rand(1, 1, 32, 32) * 4 + 1
    loss = DepthLoss(max_depth=10, w_grad=0, w_ssim=0)(target + 1.0, target)
    assert loss.item() == pytest.approx(0.1 * 0.1, rel=1e-5)


def test_invalid_pixels_are_ignored():
    target = torch.rand(1, 1, 16, 16) * 3 + 1
    pred = target.clone()
    target_holes = target.clone()
    target_holes[..., :8, :] = 0  # no measurement
    pred[..., :8, :] = 9.0  # anything may be predicted there
    assert DepthLoss()(pred, target_holes).item() < 1e-3


def test_perfect_and_constant_predictors():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 5, (30, 40))
    perfect = compute_metrics(gt.copy(), gt)
    assert perfect["delta1"] == 1.0 and perfect["abs_rel"] == 0.0 and perfect["rmse"] == 0.0
    const = compute_metrics(np.full_like(gt, 3.0), gt)
    ratio = np.maximum(3 / gt, gt / 3)
    assert const["delta1"] == pytest.approx((ratio < 1.25).mean())
    assert const["abs_rel"] == pytest.approx((np.abs(3 - gt) / gt).mean())
    assert const["rmse"] == pytest.approx(np.sqrt(((3 - gt) ** 2).mean()))


def test_median_scaling_removes_global_scale():
    gt = np.random.default_rng(1).uniform(1, 5, (10, 10))
    scaled = compute_metrics(gt * 2.5, gt, median_scaling=True)
    assert scaled["delta1"] == 1.0 and scaled["abs_rel"] == pytest.approx(0, abs=1e-9)
    assert compute_metrics(gt * 2.5, gt)["delta1"] == 0.0
    assert scaled["scale"] == pytest.approx(0.4) == compute_metrics(gt * 2.5, gt)["scale"]  # says 2.5x too far
    assert scaled["depth_median"] == pytest.approx(np.median(gt))  # the truth's, so checks can ask how far the scene is


def test_invalid_ground_truth_and_range_cap():
    gt = np.array([[0.0, 2.0], [12.0, 4.0]])
    pred = np.array([[5.0, 2.0], [1.0, 4.0]])
    m = compute_metrics(pred, gt, max_depth=10)
    assert m["delta1"] == 1.0  # the 0 (invalid) and 12 m (beyond the cap) pixels are ignored
    assert compute_metrics(pred, np.zeros_like(gt)) is None


def test_eigen_crop_window():
    mask = eigen_crop_mask(480, 640)
    assert mask.sum() == (471 - 45) * (601 - 41) and not mask[0, 0] and mask[240, 320]


def test_accumulator_mean_and_worst():
    acc = MetricAccumulator()
    gt = np.full((4, 4), 2.0)
    acc.add(compute_metrics(gt, gt), "good")
    acc.add(compute_metrics(gt * 1.5, gt), "bad")
    assert acc.mean()["abs_rel"] == pytest.approx(0.25)
    assert acc.worst("abs_rel", 1)[0][0] == "bad" and acc.worst("delta1", 1)[0][0] == "bad"


def test_log_scale_term_charges_a_near_frame_as_much_as_a_far_one():
    from train.losses import log_scale_error

    torch.manual_seed(0)
    shape = torch.rand(1, 1, 24, 32) + 0.5
    near, far = shape * 0.3, shape * 5.0  # the same scene at a desk and across a hall
    mask = torch.ones_like(shape)
    assert log_scale_error(near * 2, near, mask) == pytest.approx(np.log(2), rel=1e-5)
    assert log_scale_error(far * 2, far, mask) == pytest.approx(np.log(2), rel=1e-5)
    plain = DepthLoss()  # the paper's loss charges the near frame's 2x error far less than the far one's
    assert plain(near * 2, near, mask) < 0.3 * plain(far * 2, far, mask)
    assert log_scale_error(near, near, mask) < 1e-6
    holes = (torch.rand_like(shape) > 0.5).float()  # invalid pixels do not count, however wrong
    assert log_scale_error(torch.where(holes > 0, near, near * 50), near, holes) < 1e-6
    batch = torch.cat([near * 2, far])  # per image, then the mean: one frame 2x off, one right
    assert log_scale_error(batch, torch.cat([near, far]), torch.ones_like(batch)) == pytest.approx(np.log(2) / 2, rel=1e-5)
    assert DepthLoss(w_log_scale=1.0)(near * 2, near, mask) > plain(near * 2, near, mask) + 0.6


def test_scale_and_shift_invariant_term_ignores_scale_and_shift_only():
    from train.losses import DepthLoss, ssi_disparity_loss

    torch.manual_seed(0)
    target = torch.rand(2, 1, 24, 32) * 4 + 0.5
    mask = (torch.rand_like(target) > 0.2).float()
    same_shape = 1 / (3.0 / target + 0.2)  # disparity scaled and shifted: same scene up to (s, t)
    assert ssi_disparity_loss(same_shape, target, mask) < 1e-4
    other = torch.rand_like(target) * 4 + 0.5
    assert ssi_disparity_loss(other, target, mask) > 0.1
    plain, with_ssi = DepthLoss(), DepthLoss(w_ssi=1.0)
    assert with_ssi(other, target, mask) > plain(other, target, mask)


def test_gradient_matching_charges_a_blurred_edge_at_any_scale_and_shift():
    import torch.nn.functional as F

    from train.losses import DepthLoss, ssi_gradient_loss

    target = torch.full((1, 1, 32, 48), 3.0)
    target[..., :, 24:] = 1.0  # a wall 3 m away, a box 1 m away on the right
    mask = torch.ones_like(target)
    assert ssi_gradient_loss(1 / (2.0 / target + 0.3), target, mask) < 1e-5  # same scene up to scale and shift
    blurred = 1 / F.avg_pool2d(1 / target, (1, 9), stride=1, padding=(0, 4), count_include_pad=False)
    assert ssi_gradient_loss(blurred, target, mask) > 0.05  # the edge smeared over 9 pixels
    hole = mask.clone()
    hole[..., :, 20:28] = 0  # no ground truth where the edge was smeared: nothing left to charge
    assert ssi_gradient_loss(blurred, target, hole) < 1e-5
    assert DepthLoss(w_match=1.0)(blurred, target, mask) > DepthLoss()(blurred, target, mask)
