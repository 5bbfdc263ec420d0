"""ONNX Runtime sessions: which execution provider runs a graph, and with how many threads.

Torch-free. ``CUDAExecutionProvider`` is used where the installed onnxruntime has it (the
``onnxruntime-gpu`` wheel; imagevec installs the CPU one); otherwise the CPU provider with one
intra-op thread per physical core (all of them: on a 2-core machine both) that do not
spin-wait between runs, so the batching loop's decode threads get the cores while the engine
waits for the next batch.

Example:
    >>> sess = open_session("image.fp32.onnx", device="cpu")       # doctest: +SKIP
    >>> describe_providers()["available"]                           # doctest: +SKIP
    ['CPUExecutionProvider']
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from imagevec.errors import ConfigError

#: the names of the graphs' inputs and output (the export and the runtime agree on them)
IMAGE_INPUT, TEXT_INPUTS, OUTPUT = "pixels", ("input_ids", "attention_mask"), "vectors"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
_quick_start = False


def prefer_quick_start(enabled: bool = True) -> None:
    """Open this process's sessions without weight pre-packing (for one-shot processes).

    Pre-packing re-lays the weights out for the CPU kernels when a session opens: it pays back
    over many runs (a server, an index run) but is most of a one-query process's start. Measured
    idle on 2 cores, CLIP ViT-B/32 image graph: opening 0.67-0.86 -> 0.46-0.51 s, its first
    run 0.07 -> 0.09-0.15 s, batches of 32 about 14 % slower. ``imagevec search`` turns it on.
    """
    global _quick_start
    _quick_start = enabled


@cache
def available_providers() -> tuple[str, ...]:
    """The execution providers of the installed onnxruntime."""
    import onnxruntime as ort

    return tuple(ort.get_available_providers())


def has_cuda_provider() -> bool:
    """True when onnxruntime can run graphs on an NVIDIA GPU."""
    return CUDA in available_providers()


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return usable or 1


@cache
def physical_cores() -> int:
    """Physical CPU cores usable by this process (logical CPUs when that is unknown)."""
    logical = usable_cpus()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return logical
    cores = {
        (block.get("physical id"), block.get("core id"))
        for block in _cpuinfo_blocks(text)
        if "core id" in block
    }
    return max(1, min(logical, len(cores))) if cores else logical


def _cpuinfo_blocks(text: str) -> list[dict[str, str]]:
    blocks = []
    for chunk in text.split("\n\n"):
        fields = {}
        for line in chunk.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        blocks.append(fields)
    return blocks


def gpu_present() -> bool:
    """A cheap, torch-free hint that an NVIDIA GPU is attached (its device node exists)."""
    return Path("/dev/nvidiactl").exists() or bool(os.environ.get("IMAGEVEC_ASSUME_GPU"))


def providers_for(device: str) -> list[str]:
    """The provider list for ``device`` (``cpu``, ``cuda``, ``cuda:N``).

    Raises:
        ConfigError: ``cuda`` asked for but onnxruntime has no CUDA provider (the caller
            falls back to torch on the GPU).
    """
    if device == "cpu":
        return [CPU]
    if device.startswith("cuda"):
        if not has_cuda_provider():
            raise ConfigError(f"device {device!r}: this onnxruntime has no CUDA provider")
        return [CUDA, CPU]
    raise ConfigError(f"onnxruntime runs on 'cpu' or 'cuda', not {device!r}")


def open_session(path: str | Path, *, device: str = "cpu", threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` for a graph file.

    Args:
        path: the ``.onnx`` file.
        device: ``cpu`` or ``cuda[:N]``.
        threads: intra-op threads (default: :func:`physical_cores`;
            ``IMAGEVEC_ORT_THREADS`` overrides).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    env_threads = os.environ.get("IMAGEVEC_ORT_THREADS")
    options.intra_op_num_threads = int(threads or env_threads or physical_cores())
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no provider chatter on stderr
    # no spin-waiting between runs: the batching loop's decode threads share these cores
    # (measured on a loaded 2-core machine: 11.6 vs 10.0 img/s for the default's graph)
    spin = os.environ.get("IMAGEVEC_ORT_SPIN", "0")
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    if _quick_start:
        options.add_session_config_entry("session.disable_prepacking", "1")
    providers: list[Any] = providers_for(device)
    if device.startswith("cuda:"):
        providers = [(CUDA, {"device_id": int(device.split(":", 1)[1])}), CPU]
    return ort.InferenceSession(str(path), sess_options=options, providers=providers)


def describe_providers() -> dict[str, Any]:
    """What runs inference here: for ``imagevec info`` / ``imagevec models``."""
    import onnxruntime as ort

    return {
        "onnxruntime": ort.__version__,
        "available": list(available_providers()),
        "cuda": has_cuda_provider(),
        "threads": physical_cores(),
    }


def engine_summary() -> str:
    """One line for ``imagevec info`` / ``imagevec models``: which engine and provider run
    inference here, torch-free (a GPU without the CUDA provider runs the torch module)."""
    info = describe_providers()
    if info["cuda"]:
        where = "CUDAExecutionProvider (GPU)"
    elif gpu_present():
        where = "torch on the GPU (this onnxruntime has no CUDA provider)"
    else:
        where = f"CPUExecutionProvider, {info['threads']} threads"
    return f"onnxruntime {info['onnxruntime']}: {where}"
