"""Speed: everything that makes the engine fast, kept apart from the code a learner reads.

None of it changes what is learned (each has a test that it trains like the plain path);
``benchmarks/README.md`` has the measurements. ``training.train`` applies it while it trains:

* ``fast_layers``: while training, cheaper drop-in twins of a few ``torch.nn`` layers (a dropout
  mask drawn 16 bits at a time on the CPU; a leaky ReLU whose zero second derivative the
  gradient penalty skips) and NHWC input for the generator's transposed convolutions on the CPU.
  They are swapped back when training ends, so printouts and checkpoints stay plain.
* ``with_fast_paths``: memory layout, bfloat16 autocast and ``torch.compile`` as the config asks,
  and on a GPU each step of the package's own replayed from a CUDA graph (``CudaGraphStep``;
  not with augmentation or a decaying rate, which a recorded graph would fix).
* ``keep_freed_memory``: on the CPU, malloc keeps freed blocks for the next step.
* ``adam``: on CUDA, Adam fused into one kernel and capturable by a CUDA graph.
* ``map_in_processes``: a folder of many pictures (chapter 10) decoded by one process per core.
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

StepFunction = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
WARMUP_CALLS = 3  # eager calls per phase before capture: lazy state (optimizer, cuDNN) settles first
COMPILE_BACKEND = "inductor"  # torch.compile's default; the tests use "eager" to stay fast
# Inductor's own choice of NHWC layouts can break the generator's backward pass on CUDA
# ("expected size 64==64, stride 196==1" in convolution_backward): keep the layout we give it.
# And draw dropout masks with PyTorch's generator, so a seed gives the same run compiled or not.
INDUCTOR_OPTIONS = {"layout_optimization": False, "fallback_random": True}


# --- Faster twins of torch.nn layers, swapped in while training.


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with a mask that is cheap to draw on the CPU and independent of memory layout.

    ``nn.Dropout`` draws one Bernoulli number at a time on the CPU. Here one 64-bit random
    integer gives four 16-bit ones, each compared with a threshold: the drop probability is
    ``p`` rounded to a multiple of 1/65536 (0.3 becomes 0.300003). The mask follows the logical
    index, so a channels-last input drops the same elements. Other devices keep the fused kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu" or self.p == 1:
            return super().forward(x)
        return x.mul(1 / (1 - self.p)).mul_(keep_mask(x.shape, self.p))


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A boolean tensor of ``shape``: True with probability 1 - p (p in steps of 1/65536)."""
    count = shape.numel()
    words = torch.randint(-(2**63), 2**63 - 1, ((count + 3) // 4,), dtype=torch.int64)
    halves = words.view(torch.int16)[:count].view(shape)  # uniform on -32768..32767
    return halves >= round(p * 65536) - 32768


class PenaltyLeakyReLU(nn.LeakyReLU):
    """``nn.LeakyReLU`` for a critic under a gradient penalty: same values, same gradients.

    The penalty differentiates the critic's gradient once more. A leaky ReLU's second derivative
    is zero, yet the built-in one still sends a tensor of zeros back through the layers below it:
    a wasted backward pass of the critic's largest convolution in every step. Here the slope
    mask counts as a constant, so autograd has no second-order path to follow.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LeakyReLUWithConstantSlope.apply(x, self.negative_slope)


class _LeakyReLUWithConstantSlope(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, negative_slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return F.leaky_relu(x, negative_slope)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors  # detached below: the slope depends on x only through its sign
        return torch.ops.aten.leaky_relu_backward(grad, x.detach(), ctx.negative_slope, False), None


def fast_twin(layer: nn.Module, penalty: bool) -> nn.Module | None:
    """The faster twin of a plain layer, or None to keep it (subclasses are a learner's own)."""
    if type(layer) is nn.Dropout:
        return FastDropout(layer.p)
    if penalty and type(layer) is nn.LeakyReLU:
        return PenaltyLeakyReLU(layer.negative_slope)
    return None


@contextmanager
def fast_layers(run) -> Iterator[None]:
    """Swap the run's plain layers for their twins (and NHWC on the CPU) inside, back after."""
    swapped, hooks = [], []
    for model in (run.generator, run.discriminator):
        penalty = model is run.discriminator and run.config.penalizes_gradients
        for name, layer in list(model.named_modules(remove_duplicate=False)):
            twin = fast_twin(layer, penalty)
            if twin is not None:
                parent, _, attribute = name.rpartition(".")
                swapped.append((model.get_submodule(parent), attribute, layer))
                setattr(model.get_submodule(parent), attribute, twin.train(layer.training))
    if run.device.type == "cpu" and not run.config.channels_last:
        first = next((m for m in run.generator.modules() if isinstance(m, nn.ConvTranspose2d)), None)
        if first is not None:  # oneDNN runs the transposed convolutions faster on NHWC maps
            hooks.append(first.register_forward_pre_hook(_to_channels_last))
    try:
        yield
    finally:
        for parent, attribute, layer in swapped:
            setattr(parent, attribute, layer.train(getattr(parent, attribute).training))
        for hook in hooks:
            hook.remove()


def _to_channels_last(module: nn.Module, args: tuple) -> tuple:
    return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])


# --- Layout, autocast, compile and CUDA graphs around a step.


def memory_format(config) -> torch.memory_format:
    """Channels-last (NHWC) for convolutional models when the config asks; else the default."""
    nhwc = config.channels_last and config.kind.convolutional
    return torch.channels_last if nhwc else torch.contiguous_format


def with_fast_paths(run, step: StepFunction, phase: Callable[[], Hashable] | None = None) -> StepFunction:
    """Wrap ``step(real, labels)`` in the config's options: layout, autocast, compile, CUDA graphs.

    ``phase`` names the variant of the next call (see ``CudaGraphStep``); without it (a
    learner's own step, whose branches a recorded graph could not follow) no graph is used.
    """
    cfg = run.config
    if cfg.reuse_cpu_memory and run.device.type == "cpu":
        keep_freed_memory()
    if cfg.compile:  # in place, so state_dict keys and checkpoints stay the same
        options = INDUCTOR_OPTIONS if COMPILE_BACKEND == "inductor" else None
        run.generator.compile(backend=COMPILE_BACKEND, options=options)
        if not cfg.penalizes_gradients:  # a gradient penalty needs a double backward compile cannot do
            run.discriminator.compile(backend=COMPILE_BACKEND, options=options)
    layout = memory_format(cfg)

    def fast_step(real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        real = real.contiguous(memory_format=layout)
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            return step(real, labels)

    if cfg.cuda_graphs and run.device.type == "cuda" and phase is not None:
        return CudaGraphStep(fast_step, phase=phase)
    return fast_step


# --- CUDA graphs: record a step's ~200 small kernels once, then launch them all with one call.
# On a GPU, launching them one by one from Python takes longer than the GPU needs to run them.


class CudaGraphStep:
    """``step(real, labels) -> metrics``, replayed from a CUDA graph after a few eager calls.

    ``phase()`` names the variant the next call runs (WGAN-GP moves the generator only on some
    steps); each variant gets a graph of its own. A batch of another shape than the first runs
    eagerly. Metrics come back as fresh tensors, as from the plain step. The graph reads the
    models' and optimizers' tensors in place: capture after loading a checkpoint, not before.
    """

    def __init__(self, step: StepFunction, phase: Callable[[], Hashable] = lambda: None) -> None:
        self.step = step
        self.phase = phase
        self.calls: Counter = Counter()
        self.graphs: dict[Hashable, tuple[torch.cuda.CUDAGraph, list[str], torch.Tensor]] = {}
        self.real: torch.Tensor | None = None  # the input buffers every graph reads
        self.labels: torch.Tensor | None = None

    def __call__(self, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.real is None:
            self.real, self.labels = real.clone(), labels.clone()
        if real.shape != self.real.shape or labels.shape != self.labels.shape:
            return self.step(real, labels)
        key = self.phase()
        if key not in self.graphs and self.calls[key] < WARMUP_CALLS:
            self.calls[key] += 1
            return self._on_side_stream(real, labels)
        if key not in self.graphs:
            self.graphs[key] = self._capture()
        graph, names, values = self.graphs[key]
        self.real.copy_(real)
        self.labels.copy_(labels)
        graph.replay()
        return dict(zip(names, values.clone().unbind(), strict=True))

    def _on_side_stream(self, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """An eager call on a side stream, as CUDA graph warm-up must be (see torch.cuda.graph)."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            metrics = self.step(real, labels)
        torch.cuda.current_stream().wait_stream(side)
        return metrics

    def _capture(self) -> tuple[torch.cuda.CUDAGraph, list[str], torch.Tensor]:
        """Record one step on the input buffers; nothing runs until the graph is replayed."""
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                metrics = self.step(self.real, self.labels)
                values = torch.stack([value.float() for value in metrics.values()])
        except RuntimeError as error:
            raise RuntimeError(
                f"recording the training step as a CUDA graph failed ({str(error).splitlines()[0]}). "
                "Train without graphs: TrainConfig(cuda_graphs=False), or --no-cuda-graphs."
            ) from error
        return graph, list(metrics), values


# --- The C library's malloc on the CPU.

M_TRIM_THRESHOLD = -1  # from <malloc.h>: free memory at the top of the heap kept, not returned
M_MMAP_THRESHOLD = -3  # from <malloc.h>: blocks at least this large get their own mmap
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 2**30


def keep_freed_memory() -> bool:
    """Make glibc reuse freed blocks up to 32 MiB instead of unmapping them. True if it now does.

    Every step allocates and frees the same activations, many of them several MiB. By default
    glibc gives large freed blocks back to the operating system, so the next step maps them
    again and the kernel zeroes each 4 KiB page on first touch: thousands of page faults a
    step. These two settings keep the blocks in the process; numbers are unchanged.

    Process-wide, and not undone: the process keeps up to its peak memory until it exits (a
    notebook: until the kernel restarts). Calling it again sets the same values. Does nothing
    and returns False where the C library is not glibc (macOS, Windows, musl).
    """
    mallopt = glibc_mallopt()
    if mallopt is None:
        return False
    # Setting a threshold also stops glibc from adjusting it itself; 0 means a value was refused.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def glibc_mallopt():
    """glibc's ``mallopt(param, value)`` through ctypes, or None on another C library."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def adam(model: nn.Module, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam; on CUDA fused (one kernel for all parameters) and capturable (CUDA graphs can record it)."""
    cuda = device.type == "cuda"  # on the CPU the default implementation is as fast
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=cuda or None, capturable=cuda)


# --- Reading many files: one worker process per core.


def map_in_processes(function: Callable, items: list, chunk: int = 1000, minimum: int = 2000) -> list:
    """``[function(item) for item in items]``, in worker processes when there are at least
    ``minimum`` items and more than one core. Decoding a picture holds Python's lock for much of
    its time, so threads run no faster than one (measured in benchmarks/README.md); processes do.
    ``function`` must be picklable (a module's function, or a ``functools.partial`` of one)."""
    workers = min(os.cpu_count() or 1, 8)
    if len(items) < minimum or workers < 2:
        return [function(item) for item in items]
    chunks = [items[start : start + chunk] for start in range(0, len(items), chunk)]
    try:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_apply_to_all, [function] * len(chunks), chunks))
    except (BrokenProcessPool, OSError):  # no worker could start (a sandbox, a frozen program): one process
        return [function(item) for item in items]
    return [result for part in parts for result in part]


def _apply_to_all(function: Callable, items: list) -> list:
    return [function(item) for item in items]
