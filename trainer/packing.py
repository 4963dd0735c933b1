"""Train several trials at once on one device, one process per trial slot.

`fit_packed(jobs, data, processes=K)` starts K worker processes (``spawn``) that share one device
and trains the jobs in them, K at a time: each worker takes the next job when its current one
ends, and every job runs the ordinary `trainer.fit`. A job is a `PackJob`: a name, a picklable
zero-argument callable that builds the network (a top-level function or a `functools.partial`,
e.g. ``partial(searchspace.build_model, genotype)``: this module never sees a genotype) and its
`TrainConfig`. Results come back in job order as `PackOutcome`s, with the `FitResult`, optionally
the trained weights, the worker's timing (system-wide monotonic clock, so the windows of
different workers compare) and its peak memory.

Why processes, not CUDA streams in one process. In one process the K trials' host code (Python
dispatch of the hundreds of small kernels per step that these 0.05-1 M-parameter nets issue at
batch 8) shares one GIL, so threads feeding several streams serialise exactly where the time
goes; and `fit` sets process-wide state (`torch.manual_seed`, `torch.set_num_threads`,
`cudnn.benchmark`), so concurrent trials in one process would race on their seeds and stop being
reproducible. Processes each get their own interpreter, RNG and CUDA context (~0.3-0.5 GB of
device memory each, outside the caching allocator's figures), and are what Ray fractional GPUs
(`--backend ray --gpus-per-trial 0.25`) map to as well. Without NVIDIA MPS the GPU time-slices
between the contexts (kernels of two processes do not overlap, but one process's kernels fill
the gaps while another is busy in Python); with MPS (`nvidia-cuda-mps-control -d`) they run
concurrently.

Reproducibility: a job trained here gives the same metrics and bitwise the same weights, on CPU,
as `torch.manual_seed(config.seed); fit(build(), config, data)` in the calling process with the
same thread count (`threads` here, `config.num_threads` there); tests/test_fast_paths.py checks
it. The data is passed once to each worker: a `DataBundle` (its tensors move to shared memory,
/dev/shm, so K workers hold one copy on the host; a container's default 64 MB /dev/shm is too
small for a real dataset) or a picklable callable that returns one (each worker then loads its
own copy, e.g. ``partial(load_data, "synthetic", image_size=(64, 64))``).
"""

from __future__ import annotations

import copy
import dataclasses
import io
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.multiprocessing as mp
from torch import nn

from trainer.config import TrainConfig
from trainer.datatypes import DataBundle
from trainer.epoch import steps_per_epoch
from trainer.evaluation import resolve_device
from trainer.loop import FitResult, fit


@dataclass(frozen=True)
class PackJob:
    """One trial: `build()` returns the untrained network (called after seeding torch with
    `config.seed`, as `runner.runs.train_genotype` does); `out_dir` as in `fit`."""

    name: str
    build: Callable[[], nn.Module]
    config: TrainConfig
    out_dir: str | None = None


@dataclass(frozen=True)
class PackOutcome:
    """What one job gave. `result` is None when the job raised or its worker died (`error` says
    why). `start` / `end` bracket the job's `fit` call on `time.monotonic()` (system-wide on
    Linux, so windows of different workers compare); `cpu_seconds` is the worker's CPU time
    over the same call (on CPU, `cpu_seconds / (end - start)` is the share of cores the trial
    got; on CUDA, the host cores it kept busy, waits for the GPU included). Memory: on CUDA `peak_memory_bytes` is
    `torch.cuda.max_memory_allocated` during the fit and `base_memory_bytes` what was allocated
    before it; on CPU they are the worker's peak RSS (`ru_maxrss`, which never goes down: a later
    job on the same worker reports at least the earlier peak) and its RSS before the fit."""

    index: int
    name: str
    result: FitResult | None
    error: str | None
    weights: dict[str, torch.Tensor] | None  # best weights, on CPU (keep_weights=True)
    images_trained: int
    start: float
    end: float
    cpu_seconds: float  # the worker's CPU time (all its threads) during the fit
    peak_memory_bytes: int
    base_memory_bytes: int
    memory_kind: str  # "cuda_max_allocated" | "cpu_max_rss"
    worker: int
    pid: int

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None and self.result.ok


DataSource = DataBundle | Callable[[], DataBundle]
SHM = "/dev/shm"


def bundle_bytes(data: DataBundle) -> int:
    """The bytes of a bundle's tensors (what moves to shared memory when it is shared)."""
    return sum(s.images.nbytes + s.masks.nbytes for s in data.splits.values())


def check_shared_memory(data: DataBundle, shm: str = SHM) -> None:
    """Refuse, with the fix, to share a dataset through a /dev/shm too small to hold it (a
    container's default is 64 MB); where there is no such folder, torch picks its own way."""
    import shutil

    try:
        free = shutil.disk_usage(shm).free
    except OSError:
        return
    need = bundle_bytes(data)
    if need > free:
        raise ValueError(
            f"packing several runs shares the dataset ({need / 2**20:,.0f} MiB) through {shm}, "
            f"which has {free / 2**20:,.0f} MiB free: give the container more shared memory "
            "(docker run --shm-size=2g, or a larger /dev/shm mount), or use --workers 1"
        )


def fit_packed(
    jobs: Sequence[PackJob],
    data: DataSource,
    *,
    processes: int | None = None,
    device: str | torch.device | Sequence[str] = "auto",
    threads: int = 1,
    keep_weights: bool = False,
    warmup: bool = False,
    barrier_timeout: float = 600.0,
    on_outcome: Callable[[PackOutcome], None] | None = None,
) -> list[PackOutcome]:
    """Train `jobs` on `data`, `processes` at a time (default: all at once), each worker a
    separate process on the same `device` (or, given a sequence of devices, worker w on
    device w modulo its length: one GPU each) with `threads` torch CPU threads.

    The workers first build their first job's model (and, with `warmup`, train a copy of it for
    one untimed step on one batch, so that CUDA context creation, cuDNN autotuning and lazy
    initialisation fall outside the measured window), then wait at a common barrier, so the
    first K jobs start together. A job that raises gives an outcome with `error` set; a worker
    that dies (killed, out of host memory) fails its current job, releases the barrier, and the
    others take the remaining jobs. ``on_outcome`` is called with each job's outcome as it ends
    (a progress bar). Never raises for a job's failure; raises ValueError for bad arguments.
    Interrupted (KeyboardInterrupt here; `search.py` turns SIGTERM into one), it terminates the
    workers at once and re-raises; they ignore Ctrl-C themselves, so only the caller reports it.
    Call it from under ``if __name__ == "__main__":`` in a script (``spawn``)."""
    jobs = list(jobs)
    if not jobs:
        raise ValueError("fit_packed needs at least one job")
    k = len(jobs) if processes is None else processes
    if not isinstance(k, int) or k < 1 or threads < 1:
        raise ValueError(f"processes and threads must be >= 1, got {processes} and {threads}")
    k = min(k, len(jobs))
    if isinstance(data, DataBundle):
        check_shared_memory(data)
    many = isinstance(device, (list, tuple))
    devs = [str(resolve_device(d)) for d in device] if many else [str(resolve_device(device))]
    if not devs:
        raise ValueError("fit_packed needs at least one device")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(k)
    conns, procs = [], []
    for w in range(k):
        ours, theirs = ctx.Pipe()
        dev = devs[w % len(devs)]
        args = (w, theirs, data, dev, threads, keep_weights, warmup, barrier, barrier_timeout)
        proc = ctx.Process(target=_worker, args=args, name=f"fit-packed-{w}")
        proc.start()
        theirs.close()
        conns.append(ours)
        procs.append(proc)
    queue: deque[int] = deque(range(len(jobs)))
    running: dict[int, int] = {}  # worker -> job index
    outcomes: list[PackOutcome | None] = [None] * len(jobs)

    def dispatch(w: int) -> None:
        message = None
        if queue and procs[w].is_alive():
            running[w] = queue.popleft()
            message = (running[w], jobs[running[w]])
        try:
            conns[w].send(message)
        except OSError:  # the worker is gone: give its job back
            if message is not None:
                queue.appendleft(running.pop(w))

    finished = False
    try:
        for w in range(k):
            dispatch(w)
        while running:
            watched = [conns[w] for w in running] + [procs[w].sentinel for w in running]
            ready = multiprocessing.connection.wait(watched)
            for w in list(running):
                if conns[w] not in ready and procs[w].sentinel not in ready:
                    continue
                try:
                    outcome = conns[w].recv() if conns[w].poll() else None
                except (EOFError, OSError):
                    outcome = None
                index = running.pop(w)
                if outcome is None:  # died mid-job; free the others if they wait at the barrier
                    barrier.abort()
                    procs[w].join(timeout=5)
                    outcome = _failed(index, jobs[index].name, w, procs[w].pid, procs[w].exitcode)
                else:
                    outcome = _with_weights(outcome)
                    dispatch(w)
                outcomes[index] = outcome
                if on_outcome is not None:
                    on_outcome(outcome)
        for index in queue:  # only when every worker died
            outcomes[index] = _failed(index, jobs[index].name, -1, 0, None)
        finished = True
    finally:
        for conn in conns:
            conn.close()
        for proc in procs:  # interrupted (Ctrl-C, SIGTERM, an error here): stop them now
            proc.join(timeout=30 if finished else 0)
            if proc.is_alive():
                proc.terminate()
                proc.join()
    return [o for o in outcomes if o is not None]


def _failed(index: int, name: str, worker: int, pid: int, exitcode: int | None) -> PackOutcome:
    why = (
        f"worker process {pid} died (exit code {exitcode}) while training this job"
        if worker >= 0
        else "no worker process was left to train this job"
    )
    return PackOutcome(index, name, None, why, None, 0, 0.0, 0.0, 0.0, 0, 0, "", worker, pid)


def _with_weights(outcome: PackOutcome) -> PackOutcome:
    if outcome.weights is None:
        return outcome
    state = torch.load(io.BytesIO(outcome.weights), weights_only=True)  # type: ignore[arg-type]
    return dataclasses.replace(outcome, weights=state)


# --------------------------------------------------------------------------- the worker side


def _worker(
    worker: int,
    conn,
    data: DataSource,
    device: str,
    threads: int,
    keep_weights: bool,
    warmup: bool,
    barrier,
    barrier_timeout: float,
) -> None:
    # Ctrl-C reaches every process of the terminal's group: the parent handles it and stops
    # the workers, which would otherwise each print a KeyboardInterrupt traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # stopped by the parent (terminate): exit through Python, so the shared barrier's semaphores
    # are released and the resource tracker does not warn of leaked ones
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    torch.set_num_threads(threads)
    dev = torch.device(device)
    if dev.type == "cuda":
        if dev.index is None:  # set_device needs an index; "cuda" means the current one
            dev = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(dev)
    bundle: list[DataBundle] = []  # loaded on the first job, inside its error handling
    first = True
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, job = message
        gate = barrier if first else None
        outcome = _run_job(
            worker,
            index,
            job,
            data,
            bundle,
            dev,
            keep_weights,
            warmup and first,
            gate,
            barrier_timeout,
        )
        first = False
        conn.send(outcome)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _run_job(
    worker, index, job, data, bundle, dev, keep_weights, warmup, barrier, barrier_timeout
) -> PackOutcome:
    error, result, model, weights = None, None, None, None
    start = end = cpu = 0.0
    try:
        if not bundle:
            bundle.append(data() if callable(data) else data)
        torch.manual_seed(job.config.seed)
        model = job.build()
        if warmup:
            _warm_up(model, job.config, bundle[0], dev)
    except Exception:
        error = traceback.format_exc()
    if barrier is not None:  # every worker passes it once, failed or not
        try:
            barrier.wait(timeout=barrier_timeout)
        except threading.BrokenBarrierError:
            pass
    base = _memory_now(dev)
    if error is None:
        start, cpu = time.monotonic(), time.process_time()
        try:
            result = fit(
                model, job.config, bundle[0], out_dir=job.out_dir, device=dev, progress=False
            )
            end, cpu = time.monotonic(), time.process_time() - cpu
            if keep_weights:
                buffer = io.BytesIO()
                torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
                weights = buffer.getvalue()
        except Exception:
            if not end:
                end, cpu = time.monotonic(), time.process_time() - cpu
            error = traceback.format_exc()
    images = 0
    if result is not None:
        n = len(bundle[0].split("train"))
        images = result.epochs_run * min(steps_per_epoch(n, job.config) * job.config.batch_size, n)
    return PackOutcome(
        index=index,
        name=job.name,
        result=result,
        error=error,
        weights=weights,
        images_trained=images,
        start=start,
        end=end,
        cpu_seconds=cpu,
        peak_memory_bytes=_memory_peak(dev),
        base_memory_bytes=base,
        memory_kind="cuda_max_allocated" if dev.type == "cuda" else "cpu_max_rss",
        worker=worker,
        pid=os.getpid(),
    )


def _warm_up(model: nn.Module, config: TrainConfig, data: DataBundle, dev: torch.device) -> None:
    """One step on one batch and one validation batch, on a copy of the model (the real fit
    re-seeds torch, so this changes nothing in its result)."""
    splits = {
        "train": data.split("train").head(config.batch_size),
        "val": data.split("val").head(config.eval_batch_size),
    }
    tiny = dataclasses.replace(data, splits=splits)
    short = dataclasses.replace(config, epochs=1, eval_every=1, early_stopping_patience=None)
    fit(copy.deepcopy(model), short, tiny, device=dev, progress=False)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _rss_now() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _memory_now(dev: torch.device) -> int:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        return torch.cuda.memory_allocated(dev)
    return _rss_now()


def _memory_peak(dev: torch.device) -> int:
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated(dev)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux
    return max(peak, _rss_now())  # the kernel's two RSS counters differ by a few pages
