import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import cli_result

from rtdepth.checkpoint import WeightsInfo, file_sha256, load_model, read_info, save_weights
from rtdepth.data.synthetic import SyntheticRooms
from rtdepth.errors import RtdepthError
from rtdepth.models import create_model
from train.config import TrainConfig
from train.trainer import fit, poly_lr

REPO = Path(__file__).resolve().parents[2]


def tiny_config(tmp_path, **kw) -> TrainConfig:
    base = dict(data=["synthetic:12"], model="unet", model_kwargs={"width": 4}, out=str(tmp_path / "run"), epochs=3,
                batch_size=4, width=64, height=48, workers=0, split="random", val_fraction=0.25, lr=2e-3,
                end_lr=1e-4, augment=False)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_synthetic_rooms_have_exact_dense_depth():
    s = SyntheticRooms(3, size=(64, 48))[2]
    assert s.rgb.shape == (48, 64, 3) and s.depth.shape == (48, 64)
    assert (s.depth > 0.05).all() and s.depth.max() < 12
    again = SyntheticRooms(3, size=(64, 48))[2]
    np.testing.assert_array_equal(s.depth, again.depth)  # reproducible from (seed, index)


def test_synthetic_spec_seed_gives_unseen_rooms():
    from rtdepth.data import open_dataset

    train_room, other_room = open_dataset("synthetic:2")[1], open_dataset("synthetic:2:7")[1]
    assert not np.array_equal(train_room.depth, other_room.depth)
    np.testing.assert_array_equal(open_dataset("synthetic:2:0")[1].depth, train_room.depth)
    with pytest.raises(RtdepthError, match="synthetic:N"):
        open_dataset("synthetic:many")


def test_poly_lr_decays_to_end_lr():
    cfg = TrainConfig(lr=1e-4, end_lr=1e-6, poly_power=0.9)
    assert poly_lr(0, 100, cfg) == pytest.approx(1e-4)
    assert poly_lr(100, 100, cfg) == pytest.approx(1e-6)
    assert poly_lr(50, 100, cfg) < poly_lr(10, 100, cfg)


@pytest.mark.slow
def test_few_steps_lower_the_loss_and_write_checkpoints(tmp_path):
    cfg = tiny_config(tmp_path, epochs=6, keep_epochs=True)
    fit(cfg)
    run = Path(cfg.out)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 6 and log[-1]["loss"] < 0.8 * log[0]["loss"]
    model, info = load_model(run / "last.safetensors")
    assert info.model == "unet" and info.kwargs == {"width": 4} and info.input_size == (64, 48)
    assert "delta1" in info.metrics and info.training["steps"] == log[-1]["step"] and info.training["epochs"] == 6
    best = read_info(run / "best.safetensors")
    assert best.metrics["delta1"] == max(r["delta1"] for r in log)
    assert (run / "config.yaml").is_file() and TrainConfig.from_yaml(run / "config.yaml").epochs == 6
    kept = sorted(run.glob("epoch*.safetensors"))
    assert [p.name for p in kept] == [f"epoch{i}.safetensors" for i in range(1, 7)]
    assert [read_info(p).metrics["delta1"] for p in kept] == [r["delta1"] for r in log]  # each epoch's own weights
    assert not list(run.glob("*.tmp"))  # atomic writes leave no temporaries


CTRL_C_RUN = """
import os, signal, sys
from pathlib import Path
import torch
from rtdepth.checkpoint import load_model
from train import trainer
from train.config import TrainConfig

root = Path(sys.argv[1])
base = dict(data=["synthetic:12"], model="unet", model_kwargs={"width": 4}, epochs=4, batch_size=4, width=64, height=48,
            workers=0, split="random", val_fraction=0.25, lr=2e-3, end_lr=1e-4, augment=True)
full, cut = TrainConfig(out=str(root / "a"), **base), TrainConfig(out=str(root / "b"), **base)
trainer.fit(full)

def interrupt_at_step_5(run, loss):
    if run.state.step == 5:  # Ctrl-C in the middle of an epoch, after the fifth step
        os.kill(os.getpid(), signal.SIGINT)

try:
    trainer.fit(cut, callbacks=trainer.Callbacks(on_step=[interrupt_at_step_5]))
    sys.exit("not interrupted")
except trainer.Interrupted as exc:
    assert "step 5" in str(exc), exc
trainer.fit(cut, resume=True)
a, _ = load_model(Path(full.out) / "last.safetensors")
b, _ = load_model(Path(cut.out) / "last.safetensors")
for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
    torch.testing.assert_close(va, vb, msg=ka)
print("same")
"""


@pytest.mark.slow
def test_ctrl_c_then_resume_continues_from_the_same_step_exactly(tmp_path):
    """Ctrl-C in the middle of an epoch (in a process of its own: the signal goes to the whole process), then
    --resume: the weights equal an uninterrupted run's."""
    r = subprocess.run([sys.executable, "-c", CTRL_C_RUN, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("same"), r.stderr[-3000:]


def test_init_starts_from_a_weights_file_and_refuses_another_model(tmp_path):
    from train.trainer import build_model

    first = tiny_config(tmp_path / "a", epochs=2)
    fit(first)
    trained, _ = load_model(Path(first.out) / "last.safetensors")
    started = build_model(tiny_config(tmp_path / "b", init=str(Path(first.out) / "last.safetensors")))
    from train.trainer import _describe_init

    assert _describe_init(str(Path(first.out) / "last.safetensors")).endswith(
        f"(sha256 {file_sha256(Path(first.out) / 'last.safetensors')})"
    )
    fresh = build_model(tiny_config(tmp_path / "c"))
    for (name, a), b in zip(trained.state_dict().items(), started.state_dict().values()):
        torch.testing.assert_close(b, a, msg=name)
    assert any(not torch.equal(a, c) for a, c in zip(trained.state_dict().values(), fresh.state_dict().values()))
    with pytest.raises(RtdepthError, match="holds unet"):
        build_model(tiny_config(tmp_path / "d", model_kwargs={"width": 8}, init=str(Path(first.out) / "last.safetensors")))


def test_resume_with_state_of_another_model_is_a_clear_error(tmp_path):
    fit(tiny_config(tmp_path, epochs=1))
    with pytest.raises(RtdepthError, match="training state is for model"):
        fit(tiny_config(tmp_path, epochs=2, model_kwargs={"width": 8}), resume=True)


def test_empty_or_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(RtdepthError, match="no training data"):
        fit(tiny_config(tmp_path, data=[]))
    with pytest.raises(RtdepthError, match="no such dataset"):
        fit(tiny_config(tmp_path, data=[str(tmp_path / "missing")]))


def test_unknown_config_keys_are_refused(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 2\nlearning_rate: 0.1\n")
    with pytest.raises(RtdepthError, match="learning_rate"):
        TrainConfig.from_yaml(tmp_path / "c.yaml")


def torchrun_two(script: Path, folder: Path, port: int) -> subprocess.CompletedProcess:
    """Run ``script FOLDER`` as two gloo ranks under torchrun, one thread each."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port)]
    return subprocess.run([*command, str(script), str(folder)], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_ddp_with_gloo_on_two_processes_gives_identical_weights(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(
        "import sys, torch, torch.distributed as dist\n"
        "from train.config import TrainConfig\n"
        "from train import trainer\n"
        "def dump(run, record):\n"
        "    flat = torch.cat([p.detach().flatten() for p in run.model.parameters()])\n"
        "    torch.save(flat, f'{sys.argv[1]}/rank{dist.get_rank()}.pt')\n"
        "cfg = TrainConfig(data=['synthetic:16'], model='unet', model_kwargs={'width': 4}, out=sys.argv[1] + '/run',\n"
        "                  epochs=1, batch_size=2, width=64, height=48, workers=0, augment=True, max_steps=3)\n"
        "trainer.fit(cfg, callbacks=trainer.Callbacks(on_epoch_end=[dump]))\n"
    )
    r = torchrun_two(script, tmp_path, port=29533)
    assert r.returncode == 0, r.stderr[-2000:]
    w0, w1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    torch.testing.assert_close(w0, w1, rtol=0, atol=0)
    assert (tmp_path / "run" / "last.safetensors").is_file()  # rank 0 wrote the checkpoint


@pytest.mark.slow
def test_ddp_stop_asked_of_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    # Rank 1 alone gets Ctrl-C after its second step: unagreed, rank 0 would wait in the next all-reduce.
    script = tmp_path / "ddp_stop.py"
    script.write_text(
        "import os, signal, sys, torch.distributed as dist\n"
        "from train.config import TrainConfig\n"
        "from train import trainer\n"
        "def step(run, loss):\n"
        "    if dist.get_rank() == 1 and run.state.step == 2:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "cfg = TrainConfig(data=['synthetic:16'], model='unet', model_kwargs={'width': 4}, out=sys.argv[1] + '/run',\n"
        "                  epochs=1, batch_size=2, width=64, height=48, workers=0, augment=False)\n"
        "try:\n"
        "    trainer.fit(cfg, callbacks=trainer.Callbacks(on_step=[step]))\n"
        "except trainer.Interrupted as e:\n"
        "    print(f'rank {dist.get_rank()}: {e}', flush=True)\n"
        "    sys.exit(e.exit_code)\n"
    )
    r = torchrun_two(script, tmp_path, port=29534)
    out = r.stdout + r.stderr
    assert "rank 0: interrupted during training (step 2)" in out, out[-3000:]
    assert "rank 1: interrupted during training (step 2)" in out, out[-3000:]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "run" / "state.safetensors"), "pt") as f:
        assert json.loads(f.metadata()["rtdepth_train_state"])["meta"]["step"] == 2  # resumable where both stopped


def test_eval_of_a_constant_predictor(tmp_path):
    # A model whose output is a constant 2 m: its metrics follow from the ground truth alone.
    model = create_model("unet", width=4)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.fill_(float(torch.logit(torch.tensor((2.0 - 0.1) / 9.9))))
    weights = save_weights(model, tmp_path / "const.safetensors", WeightsInfo("unet", {"width": 4}, (64, 48)))
    r = cli_result("eval", "-w", weights, "--data", "synthetic:3", "--json", "--backend", "torch")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    from rtdepth.metrics import MetricAccumulator, compute_metrics

    acc = MetricAccumulator()
    for s in SyntheticRooms(3, size=(320, 240)):
        acc.add(compute_metrics(np.full_like(s.depth, 2.0), s.depth))
    assert result["raw"]["abs_rel"] == pytest.approx(acc.mean()["abs_rel"], rel=1e-3)
    assert result["median_scaled"]["delta1"] >= result["raw"]["delta1"] - 1e-9
    floor = result["constant_floor"]  # any constant, once median-scaled, is this
    assert result["median_scaled"]["abs_rel"] == pytest.approx(floor["abs_rel"], rel=1e-4)
    assert result["median_scaled"]["delta1"] == pytest.approx(floor["delta1"], abs=1e-4)
    assert read_info(weights).model == "unet"


def test_eval_of_a_perfect_predictor_is_perfect():
    from rtdepth.metrics import compute_metrics

    s = SyntheticRooms(1, size=(64, 48))[0]
    m = compute_metrics(s.depth, s.depth)
    assert m["delta1"] == 1.0 and m["abs_rel"] == 0.0


def test_cli_init_takes_the_architecture_from_the_weights_file(tmp_path, tiny_weights):
    out = tmp_path / "ft"
    r = cli_result("train", "--init", tiny_weights, "--data", "synthetic:6", "--out", out, "--epochs", "1", "--batch-size", "2",
                   "--size", "64x48", "--workers", "0", "--max-steps", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    info = read_info(out / "last.safetensors")
    assert (info.model, info.kwargs) == ("unet", {"width": 4})
    assert info.training["init"].startswith(str(tiny_weights))


def test_error_lines_print_the_message_verbatim():
    # ":x" in a spec must not turn into an emoji on the way to stderr
    r = cli_result("eval", "--data", "synthetic:x")
    assert r.returncode == 2 and r.stderr.strip() == "error: synthetic:x: use synthetic:N or synthetic:N:SEED"


def test_epoch_validate_and_save_are_steps_a_caller_can_run(tmp_path):
    """The loop's parts work on their own: one epoch moves the weights, validate scores, save writes best/last."""
    from torch.utils.data import DataLoader

    from train.data import EpochSampler
    from train.progress import TrainProgress
    from train.trainer import Dist, build_datasets, save_checkpoints, start_run, train_one_epoch, validate

    cfg = tiny_config(tmp_path, epochs=1, ssi_weight=0.5)
    train_set, val_set = build_datasets(cfg)
    run = start_run(cfg, False, Dist(), steps_per_epoch=3)
    before = [p.detach().clone() for p in run.model.parameters()]
    loader = DataLoader(train_set, batch_size=4, sampler=EpochSampler(len(train_set)), num_workers=0)
    with TrainProgress(enabled=False) as progress:
        loss = train_one_epoch(run, loader, progress, lambda: False)
    assert np.isfinite(loss) and run.state.step == 3 and run.state.step_in_epoch == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    record = {"epoch": 1, "step": 3, "loss": loss} | validate(run.model, val_set, torch.device("cpu"), run.model.max_depth)
    assert 0 <= record["delta1"] <= 1 and "delta1_ms" in record
    run.out.mkdir(parents=True)
    assert save_checkpoints(run, record, {"epochs": 1}) is True
    assert read_info(run.out / "best.safetensors").metrics["delta1"] == record["delta1"]
    assert save_checkpoints(run, record | {"epoch": 2}, {"epochs": 2}) is False  # not better: only last changes


def test_explicit_out_is_kept_when_a_model_is_named(tmp_path, monkeypatch):
    out = tmp_path / "runs" / "unet"
    monkeypatch.chdir(tmp_path)
    r = cli_result("train", "--model", "unet", "--data", "synthetic:4", "--out", out, "--epochs", "1", "--batch-size", "2",
                   "--size", "64x48", "--workers", "0", "--max-steps", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (out / "last.safetensors").is_file() and not (tmp_path / "runs" / "unet" / "runs").exists()


def test_eval_subset_val_uses_the_split_stored_in_the_weights(tmp_path):
    from rtdepth.estimator import DepthEstimator
    from rtdepth.evaluate import EvalOptions, select, with_training_split

    cfg = tiny_config(tmp_path, data=["synthetic:20"], split="blocks", split_blocks=5, seed=3, epochs=1, max_steps=1)
    fit(cfg)
    est = DepthEstimator.from_weights(Path(cfg.out) / "last.safetensors", backend="torch", device="cpu")
    opts = with_training_split(EvalOptions(subset="val"), est.info.training)
    from rtdepth.data import open_dataset
    from rtdepth.data.splits import SplitSpec, split_indices

    assert opts.split == SplitSpec("blocks", 0.25, 5, 3) == cfg.split_spec
    assert est.info.training["split_spec"] == {"mode": "blocks", "val_fraction": 0.25, "blocks": 5, "seed": 3}
    assert select(open_dataset("synthetic:20"), opts) == split_indices(20, 0.25, "blocks", 5, 3)[1]
    # Weights written before the split had its own header entry: read from the config keys.
    legacy = {k: v for k, v in est.info.training.items() if k != "split_spec"}
    assert SplitSpec.from_header(legacy) == opts.split and SplitSpec.from_header({}) is None


def test_synthetic_rooms_are_textured_with_the_bundled_photos():
    from rtdepth.bundled_frames import sample_paths

    textures = SyntheticRooms(1).textures
    assert len(textures) == len(sample_paths()) >= 3
    assert all(t.shape == (240, 320, 3) for t in textures)  # real frames, not the procedural-noise fallback


@pytest.mark.slow
def test_release_ships_only_with_a_gated_int8_model(tmp_path, tum_dir, tiny_weights):
    from train.release import release

    dst = tmp_path / "default.safetensors"
    out, report = release(tiny_weights, dst, tum_dir)
    assert out == dst and dst.is_file() and "delta1 drop" in report
    assert not list(tmp_path.glob(".*candidate*"))
    from train.release import app as release_app

    r = cli_result("-w", tiny_weights, app=release_app)
    assert r.returncode == 2 and "--calib" in r.stderr  # the bundled default is never replaced ungated


@pytest.mark.parametrize("key", ["freeze_encoder", "freeze_encoder_stats"])
def test_frozen_encoder_or_encoder_statistics_stay_as_they_were(tmp_path, key):
    cfg = tiny_config(tmp_path, model="effnet_lite0_unet", model_kwargs={}, epochs=1, max_steps=2, **{key: True})
    save_weights(create_model("effnet_lite0_unet"), tmp_path / "start.safetensors",
                 WeightsInfo("effnet_lite0_unet", {}, (64, 48), (0.1, 10.0)))  # fmt: skip
    fit(TrainConfig(**{**cfg.__dict__, "init": str(tmp_path / "start.safetensors")}))
    before, _ = load_model(tmp_path / "start.safetensors")
    after, _ = load_model(Path(cfg.out) / "last.safetensors")
    b, a = before.state_dict(), after.state_dict()
    stats = [k for k in b if k.startswith("encoder.") and k.endswith(("running_mean", "running_var"))]
    weights = [k for k in b if k.startswith("encoder.") and k.endswith("weight")]
    assert stats and all(torch.equal(a[k], b[k]) for k in stats)  # BatchNorm statistics never move
    assert all(torch.equal(a[k], b[k]) for k in weights) == (key == "freeze_encoder")  # weights train unless frozen
    assert any(not torch.equal(a[k], b[k]) for k in b if k.startswith("decoder."))
    with pytest.raises(RtdepthError, match="no separate encoder"):
        fit(tiny_config(tmp_path / "paper", **{key: True}))


def test_paired_bootstrap_interval_holds_a_steady_gap_and_straddles_noise():
    from train.card import paired_bootstrap

    assert paired_bootstrap(np.full(12, 0.02)) == pytest.approx((0.02, 0.02, 0.02))
    mean, lo, hi = paired_bootstrap(np.array([0.05, -0.05] * 6))
    assert mean == pytest.approx(0.0) and lo < 0 < hi


def test_card_against_a_baseline_prints_the_paired_difference(tmp_path, tiny_weights):
    from typer.testing import CliRunner

    from train.card import app

    torch.manual_seed(1)
    info = WeightsInfo("unet", {"width": 4}, (64, 48))
    other = save_weights(create_model("unet", width=4), tmp_path / "other.safetensors", info)
    same = CliRunner().invoke(app, ["-w", str(tiny_weights), "--against", str(tiny_weights), "--all", "synthetic:4"])
    assert same.exit_code == 0, same.output
    assert "delta1 +0.000 (90% CI +0.000 .. +0.000)" in same.output and "worse on 0 of 4 frames" in same.output
    diff = CliRunner().invoke(app, ["-w", str(other), "--against", str(tiny_weights), "--all", "synthetic:4"])
    assert diff.exit_code == 0 and "paired vs tiny_unet.safetensors" in diff.output and "+0.000 .. +0.000" not in diff.output


def test_average_of_runs_is_the_elementwise_mean_and_refuses_other_models(tmp_path):
    from train.average import app as average_app
    from train.average import average_weights

    info = WeightsInfo("unet", {"width": 4}, (64, 48), training={"seed": 0})
    torch.manual_seed(0)
    a = save_weights(create_model("unet", width=4), tmp_path / "a.safetensors", info)
    torch.manual_seed(1)
    b = save_weights(create_model("unet", width=4), tmp_path / "b.safetensors", info)
    out = tmp_path / "avg.safetensors"
    r = cli_result(a, b, "-o", out, app=average_app)
    assert r.returncode == 0, r.stderr
    sa, sb, sm = (load_model(p)[0].state_dict() for p in (a, b, out))
    conv = next(k for k in sa if k.endswith("weight") and sa[k].dim() == 4)
    assert not torch.equal(sa[conv], sb[conv])
    assert all(torch.allclose(sm[k], (sa[k] + sb[k]) / 2) for k in sa if sa[k].is_floating_point())
    recorded = read_info(out).training["weight_average_of"]
    assert [s["file"] for s in recorded] == [f"{tmp_path.name}/a.safetensors", f"{tmp_path.name}/b.safetensors"]
    assert recorded[0]["sha256"] == file_sha256(a)
    other = save_weights(create_model("unet", width=8), tmp_path / "wide.safetensors", WeightsInfo("unet", {"width": 8}))
    with pytest.raises(RtdepthError, match="cannot be averaged"):
        average_weights([a, other])
    r = cli_result(a, "-o", out, app=average_app)
    assert r.returncode != 0 and "two or more" in r.stderr and "Traceback" not in r.stderr


def test_training_precision_follows_the_cpu_and_bf16_steps_learn(tmp_path):
    import torch

    from rtdepth.errors import RtdepthError
    from train.config import TrainConfig
    from train.trainer import setup_distributed, start_run, step_precision, train_step

    cpu = torch.device("cpu")
    assert step_precision(TrainConfig(precision="auto"), cpu, bf16_cpu=True) == torch.bfloat16  # AMX / AVX-512 BF16
    assert step_precision(TrainConfig(precision="auto"), cpu, bf16_cpu=False) is None  # emulated bf16 would be slower
    assert step_precision(TrainConfig(precision="fp32"), cpu, bf16_cpu=True) is None
    with pytest.raises(RtdepthError, match="no bf16 matrix support"):
        step_precision(TrainConfig(precision="bf16"), cpu, bf16_cpu=False)
    cfg = TrainConfig(model="unet", model_kwargs={"width": 4}, out=str(tmp_path), width=64, height=48, batch_size=2,
                      device="cpu", precision="bf16")  # fmt: skip
    import train.trainer as trainer

    original = trainer.step_precision
    trainer.step_precision = lambda c, d, bf16_cpu=None: original(c, d, bf16_cpu=True)  # a real bf16 step on any CPU
    try:
        run = start_run(cfg, resume=False, dist=setup_distributed("cpu"), steps_per_epoch=4)
    finally:
        trainer.step_precision = original
    assert run.precision == "bf16" and run.use_amp
    torch.manual_seed(0)
    images = torch.rand(2, 3, 48, 64)
    depths = torch.rand(2, 1, 48, 64) * 3 + 0.5
    before = [p.detach().clone() for p in run.model.parameters()]
    losses = [float(train_step(run, images, depths)) for _ in range(4)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    assert all(p.dtype == torch.float32 for p in run.model.parameters())  # master weights stay fp32


def test_canonical_camera_training_scales_targets_by_the_lens_and_records_the_space(tmp_path, tum_dir):
    from dataclasses import replace

    from rtdepth.camera import Intrinsics
    from rtdepth.data import open_dataset
    from train.average import average_weights
    from train.data import DepthTrainingSet

    base = open_dataset(str(tum_dir))
    sample = base[0]
    assert sample.camera is not None and abs(sample.camera.fx_ratio - 517.3 / 640) < 1e-3  # TUM's Kinect, by name
    metric = DepthTrainingSet(base, [0], (64, 48))[0][1]
    canonical = DepthTrainingSet(base, [0], (64, 48), canonical_fx=0.4)[0][1]
    # A lens twice as long as 0.4 x width makes things look twice as near: canonical depth is half.
    torch.testing.assert_close(canonical, metric * (0.4 / sample.camera.fx_ratio))

    class Unknown:  # a reader that does not know its camera: the documented default (0.82) is assumed
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return replace(sample, camera=None)

    torch.testing.assert_close(DepthTrainingSet(Unknown(), [0], (64, 48), canonical_fx=0.82)[0][1], metric)
    assert Intrinsics.default(64, 48).fx_ratio == 0.82

    cfg = tiny_config(tmp_path / "can", data=[str(tum_dir)], epochs=1, split="blocks", canonical_fx=0.9)
    fit(cfg)
    weights = Path(cfg.out) / "last.safetensors"
    assert read_info(weights).camera == {"canonical_fx_ratio": 0.9}
    resumed = TrainConfig.resolve({"init": str(weights), "out": str(tmp_path / "next")})
    assert resumed.canonical_fx == 0.9  # fine-tuning stays in the space the weights predict
    with pytest.raises(RtdepthError, match="canonical_fx"):
        tiny_config(tmp_path, canonical_fx=0.0).check()
    metric_weights = save_weights(create_model("unet", width=4), tmp_path / "m.safetensors", WeightsInfo("unet", {"width": 4}))
    with pytest.raises(RtdepthError, match="camera space"):
        average_weights([weights, metric_weights])


def test_range_response_is_the_slope_of_predicted_on_true_distance():
    from train.card import range_response

    def source(truths, slope):  # frames whose predicted median is truth ** slope (metres)
        return {"per_image_raw": [{"depth_median": d, "scale": d / d**slope} for d in truths]}

    desk, hall = source([0.3, 0.4, 0.5], 0.4), source([4.0, 6.0], 0.4)
    mean, lo, hi = range_response([desk, hall])
    assert mean == pytest.approx(0.4) and lo <= 0.4 + 1e-9 and hi >= 0.4 - 1e-9
    assert range_response([source([0.3, 0.5], 1.0), source([5.0], 1.0)])[0] == pytest.approx(1.0)
    crowd = source([2.0] * 50 + [0.5], 0.4)  # sources weigh the same, however many frames they hold
    assert range_response([crowd, hall])[0] == pytest.approx(0.4)
    assert range_response([source([2.0, 2.0], 0.4)]) is None  # no spread of true distances: no slope


def test_card_check_scores_each_source_and_pairs_both_scalings(tmp_path, tiny_weights, tum_dir):
    import shutil

    from typer.testing import CliRunner

    from train.card import app

    check = tmp_path / "check"
    for name, fx in (("desk_a", 260.0), ("desk_b", 130.0)):  # one camera per source, as realcheck/ has
        shutil.copytree(tum_dir, check / name)
        (check / name / "camera.json").write_text(json.dumps({"fx": fx, "fy": fx, "cx": 160, "cy": 120, "width": 320,
                                                              "height": 240}))  # fmt: skip
    for part in ("rgb", "depth"):  # a source of three frames: too few to count in the 10+ frame mean
        (check / "desk_c" / part).mkdir(parents=True)
        for f in sorted((tum_dir / part).iterdir())[:3]:
            shutil.copy(f, check / "desk_c" / part / f.name)
    torch.manual_seed(1)
    info = WeightsInfo("unet", {"width": 4}, (64, 48))
    other = save_weights(create_model("unet", width=4), tmp_path / "other.safetensors", info)
    fails = tmp_path / "fails"
    r = CliRunner().invoke(app, ["-w", str(other), "--against", str(tiny_weights), "--check", str(check),
                                 "--failures", str(fails)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "| desk_a | 16 |" in r.output and "| desk_b | 16 |" in r.output
    assert "scale (truth/pred)" in r.output
    assert "range response of this model: predicted median ~ true median ^ " in r.output
    assert "range response of the baseline" in r.output
    for name in ("desk_a", "desk_b"):  # the three worst frames of each source, RGB | prediction | truth
        picture = cv2.imread(str(fails / "check" / f"{name}.png"))
        rgb = cv2.imread(str(next((check / name / "rgb").iterdir())))
        assert picture.shape == (3 * rgb.shape[0], 3 * rgb.shape[1], 3)
        assert f"worst frames of {name}: {fails / 'check' / name}.png - " in r.output
    figure = tmp_path / "figure.png"  # the model card's figure: evenly spread frames, the same strip
    drawn = CliRunner().invoke(app, ["-w", str(other), "--all", str(tum_dir), "--figure", str(figure), "--frames", "2"])
    assert drawn.exit_code == 0, drawn.output
    assert cv2.imread(str(figure)).shape == (2 * rgb.shape[0], 3 * rgb.shape[1], 3)
    assert "macro mean over 3 sources, median-scaled" in r.output and "macro mean over 3 sources, metric" in r.output
    assert "| desk_c | 3 |" in r.output and "macro mean over the 2 sources of 10+ frames, metric" in r.output
    assert "paired macro mean over the 2 sources of 10+ frames, median-scaled" in r.output
    for label in ("median-scaled", "metric"):
        assert f"paired desk_a, {label}: delta1" in r.output and f"paired macro mean, {label}: delta1" in r.output


def test_a_source_of_one_frame_gets_no_interval_and_is_never_called_helped():
    from train.card import paired_sources

    def result(d1s):
        frames = [{"index": i, "delta1": v} for i, v in enumerate(d1s)]
        return {"per_image": frames, "per_image_raw": frames}

    mine = [result([0.9]), result([0.6 + 0.01 * (i % 3) for i in range(12)]), result([0.5] * 10)]
    theirs = [result([0.5]), result([0.5] * 12), result([0.5] * 10)]
    lines = "\n".join(paired_sources(mine, theirs, ["single", "kitchen", "room"]))
    assert "paired single, median-scaled: delta1 +0.400 (1 frame: no interval)" in lines
    assert "helps kitchen; hurts none" in lines and "helps single" not in lines
    assert "paired macro mean, median-scaled: delta1 +0.170" in lines  # the single frame swings the mean over all
    assert "paired macro mean over the 2 sources of 10+ frames, median-scaled: delta1 +0.055" in lines


def test_the_small_view_keeps_depth_values_and_is_drawn_the_same_on_resume(tmp_path):
    from train.augment import small_view
    from train.trainer import shows_small_view

    images = torch.rand(2, 3, 48, 64)
    depths = torch.rand(2, 1, 48, 64) * 5
    depths[:, :, :10] = 0  # invalid rows stay invalid, never blended into their neighbours
    small_images, small_depths = small_view(images, depths)
    assert small_images.shape == (2, 3, 40, 48) and small_depths.shape == (2, 1, 40, 48)
    assert set(small_depths.unique().tolist()) <= set(depths.unique().tolist())  # metres of the scene, not resampled
    cfg = tiny_config(tmp_path, small_view_prob=0.5)
    draws = [shows_small_view(cfg, step) for step in range(400)]
    assert draws == [shows_small_view(cfg, step) for step in range(400)] and 150 < sum(draws) < 250
    assert not any(shows_small_view(tiny_config(tmp_path, small_view_prob=0.0), step) for step in range(50))
    fit(tiny_config(tmp_path, small_view_prob=1.0, epochs=1, max_steps=2))  # every step on the small view trains
    assert (tmp_path / "run" / "last.safetensors").is_file()


def test_max_zoom_sets_the_scale_crop_range_and_is_checked(tmp_path):
    from train.trainer import build_datasets

    train_set, val_set = build_datasets(tiny_config(tmp_path, augment=True, max_zoom=3.0))
    assert train_set.aug.scale == (1.0, 3.0) and val_set.aug is None
    with pytest.raises(RtdepthError, match="max_zoom must be 1.0..4.0"):
        tiny_config(tmp_path, max_zoom=0.5).check()
