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
    monkeypatch.setattr(search_run, "resolve_workers", lambda w, d: (4, 1))
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
