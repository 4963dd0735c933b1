"""Worker placement on GPUs, with a faked device count (no GPU needed): distinct devices round
robin, ``--gpus`` choosing among the GPUs ``CUDA_VISIBLE_DEVICES`` leaves, clear errors."""

from __future__ import annotations

import pytest
import torch

from runner import devices


@pytest.fixture
def gpus(monkeypatch):
    """Pretend ``n`` GPUs are visible."""

    def fake(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return fake


def test_workers_auto_is_one_per_gpu_used(gpus):
    from studies.search.workers import AUTO_PER_GPU, resolve_workers

    gpus(4)
    assert resolve_workers("auto", "auto") == (
        4 * AUTO_PER_GPU,
        1 if AUTO_PER_GPU * 4 > 1 else None,
    )
    assert resolve_workers("auto", "cuda", "1,3")[0] == 2 * AUTO_PER_GPU
    assert resolve_workers("auto", "cuda:2")[0] == AUTO_PER_GPU
    assert resolve_workers("auto", "cpu")[0] >= 1  # the CPU rule
    assert resolve_workers("3", "cuda") == (3, max(1, resolve_workers("3", "cpu")[1]))


def test_workers_are_spread_round_robin_over_every_visible_gpu(gpus):
    gpus(4)
    assert devices.place(8, "auto") == [f"cuda:{i % 4}" for i in range(8)]
    assert devices.place(3, "cuda") == ["cuda:0", "cuda:1", "cuda:2"]
    assert devices.place(2, "cuda:3") == ["cuda:3", "cuda:3"]  # pinned by the user
    assert devices.place(2, "cpu") == ["cpu", "cpu"]


def test_gpus_chooses_among_the_visible_ones(gpus, monkeypatch):
    # CUDA_VISIBLE_DEVICES=4,5,6 leaves three GPUs, which torch numbers 0, 1, 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    gpus(3)
    assert devices.place(4, "auto", "2,0") == ["cuda:2", "cuda:0", "cuda:2", "cuda:0"]
    with pytest.raises(
        ValueError, match=r"GPU 3 is not visible; 3 GPU\(s\) are \(CUDA_VISIBLE_DEVICES=4,5,6\)"
    ):
        devices.place(2, "auto", "0,3")
    with pytest.raises(ValueError, match="comma-separated GPU indexes"):
        devices.place(2, "auto", "zero")
    with pytest.raises(ValueError, match="named twice"):
        devices.place(2, "auto", "1,1")
    with pytest.raises(ValueError, match="both choose the GPU"):
        devices.place(2, "cuda:1", "0")


def test_without_a_gpu_every_worker_gets_the_cpu_and_gpus_is_refused(gpus):
    gpus(0)
    assert devices.place(2, "auto") == ["auto", "auto"]
    with pytest.raises(ValueError, match="--gpus needs a GPU device"):
        devices.place(2, "auto", "0")


def test_the_header_names_devices_workers_and_mps(gpus, monkeypatch, tmp_path):
    monkeypatch.setenv(devices.MPS_PIPE_ENV, str(tmp_path))
    text = devices.placement_text(["cuda:0", "cuda:1", "cuda:0"])
    assert text == "2 workers on cuda:0, 1 worker on cuda:1; MPS off"
    (tmp_path / "control").touch()
    assert devices.placement_text(["cuda:0"]).endswith("MPS on")
    assert devices.placement_text(["cpu", "cpu"]) == "2 workers on cpu"


def test_a_search_gives_each_local_worker_its_device(gpus, monkeypatch, tmp_path):
    """The search hands run_workers one device per worker (faked 2 GPUs; the workers
    themselves are not started)."""
    from studies.search import run as search_run

    gpus(2)
    seen = {}

    def fake_run_workers(job, n, progress=None):
        seen["devices"], seen["n"] = job.devices, n

    monkeypatch.setattr(search_run, "run_workers", fake_run_workers)
    monkeypatch.setattr(search_run, "resolve_workers", lambda w, d, g=None: (4, 1))
    opts = search_run.options_from(
        trials=2, epochs=1, image_size=(32, 32), limit=16, progress=False, report=False,
        out=str(tmp_path), workers="4", device="cpu",
    )  # fmt: skip
    with pytest.raises(ValueError, match="--gpus needs a GPU device"):
        search_run.run_search(search_run.options_from(**{**opts.__dict__, "gpus": "0"}))
    opts = search_run.options_from(**{**opts.__dict__, "device": "cuda"})
    study_name = "placed"
    spec = search_run.make_spec(opts)
    import optuna

    study = optuna.create_study(directions=list(spec.directions))
    search_run._optimize(study, spec, opts, study_name, "sqlite://", 2, tmp_path, None)
    assert seen == {"devices": ("cuda:0", "cuda:1", "cuda:0", "cuda:1"), "n": 4}


def test_the_packing_benchmark_compares_cuda_runs_with_a_tolerance():
    """CPU must be bitwise equal; CUDA, not bitwise reproducible, within 0.005 Dice."""
    from benchmarks.packing import CUDA_DICE_TOLERANCE, same_result

    assert same_result(0.8, 0.8, True, cuda=False) == "equal"
    assert same_result(0.8, 0.801, False, cuda=False) == "DIFFERENT"
    assert same_result(0.8, 0.801, False, cuda=True).startswith("within tolerance")
    assert same_result(0.8, 0.8 + 2 * CUDA_DICE_TOLERANCE, False, cuda=True) == "DIFFERENT"


def test_odconv_hands_back_a_channels_last_input_in_channels_last():
    """ODConv's grouped conv runs on an NCHW view; a channels_last input gets its layout back
    (the CUDA path, where channels_last is on for every network), with the same values up to
    summation order (the pooling sums in another order in NHWC)."""
    from searchspace.blocks.odconv import ODConv3

    torch.manual_seed(0)
    conv = ODConv3(8, 16).eval()
    x = torch.randn(2, 8, 12, 12)
    nchw = conv(x)
    nhwc = conv(x.contiguous(memory_format=torch.channels_last))
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and not nhwc.is_contiguous()
    assert nchw.is_contiguous()
    scale = float(nchw.abs().max())
    torch.testing.assert_close(nhwc.contiguous(), nchw, rtol=1e-5, atol=1e-5 * scale)


def test_packing_refuses_a_dataset_larger_than_shared_memory(tmp_path, monkeypatch):
    """A container's 64 MB /dev/shm cannot hold a real dataset: one clear error with the fix,
    before any worker starts; a folder with room passes."""
    import shutil
    from collections import namedtuple

    from trainer import load_data
    from trainer.packing import bundle_bytes, check_shared_memory

    data = load_data("synthetic", image_size=(32, 32), synthetic_counts=(8, 4, 4), progress=False)
    assert bundle_bytes(data) == 16 * (3 + 1) * 32 * 32  # uint8 images and masks
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(64 << 20, 64 << 20, 1000))
    with pytest.raises(ValueError, match=r"through /dev/shm, which has 0 MiB free: .*--shm-size"):
        check_shared_memory(data)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(64 << 20, 0, 64 << 20))
    check_shared_memory(data)


def test_a_run_is_scored_where_and_as_it_trained(tmp_path, gpus):
    """``auto``: a GPU run on its GPU with its bf16 and channels_last (runtime.json), when this
    machine has that GPU; a CPU run, or a GPU run here without a GPU, on the CPU in fp32 NCHW;
    ``--device cpu`` keeps today's CPU path."""
    import json

    from runner.runs import scoring_settings

    run = tmp_path / "run"
    run.mkdir()
    (run / "runtime.json").write_text(
        json.dumps({"device": "cuda:1", "amp": "bfloat16", "channels_last": True})
    )
    gpus(2)
    assert scoring_settings(run, "auto") == ("cuda:1", "bf16", "on")
    assert scoring_settings(run, "cpu") == ("cpu", "off", "off")
    gpus(1)  # trained on GPU 1, this machine has one GPU
    assert scoring_settings(run, "auto") == ("cuda", "off", "off")
    gpus(0)
    assert scoring_settings(run, "auto") == ("cpu", "off", "off")
    (run / "runtime.json").write_text(json.dumps({"device": "cpu", "amp": "off"}))
    gpus(2)
    assert scoring_settings(run, "auto") == ("cpu", "off", "off")
    assert scoring_settings(tmp_path / "none", "auto") == ("cpu", "off", "off")
