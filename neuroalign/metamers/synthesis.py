"""``Metamer``: synthesise images whose activations at one layer match those of target images.

A synthesis is an object one watches and resumes (plenoptic's design):
``Metamer(model, layer, images).synthesize(max_iter)`` optimises a batch of
start images together, each against its own target, and keeps a history.
See ``docs/metamers-synthesis.md``.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ..errors import ConfigError, DataError, ExtractionError
from ..extract.layers import LayerSpec
from .checkpoint import check_same_model, read_checkpoint, write_checkpoint
from .layer_forward import LayerForward, resolve_one_layer
from .model_checks import (check_images, check_layer_path, check_model, check_placement, check_range, check_targets,
                           images_and_ids)
from .objectives import describe_callable, get_loss, get_penalty, is_builtin
from .presets import get_preset
from .starts import Initial, draw_initial
from .stopping import RelativeProgress
from .synthesis_state import (History, checkpoint_state, describe_factory, history_dataset, restore_factory,
                              restore_state)

__all__ = ["Metamer"]

log = logging.getLogger(__name__)


def _record(values: torch.Tensor, copy: bool) -> torch.Tensor:
    """``values`` detached, as the history keeps them: copied if a later call may write them again."""
    return values.detach().clone() if copy else values.detach()


class Metamer:
    """Metamers of ``images`` at one ``layer`` of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        Frozen (``model.requires_grad_(False)``) and in eval mode (``model.eval()``).
    layer : str or layer spec
        One module (:func:`neuroalign.extract.resolve_layers` must select exactly one).
    images : torch.Tensor, numpy array or xarray.DataArray
        Target images, float ``(N, C, H, W)``, or a DataArray with dims ``presentation``, ``channel``,
        ``row``, ``col`` (any order) and a ``stimulus_id`` coordinate; values in ``allowed_range``.
    preset : {"plenoptic", "feather2023"}
        The defaults of every part below (see :mod:`neuroalign.metamers.presets`).
    loss : str or callable, optional
        ``"mse"``, ``"normalized_l2"`` or ``loss(activations, targets) -> (N,)``.
    penalty : str, callable or False, optional
        ``"range"``, ``penalty(images) -> (N,)``, or ``False`` for none.
    penalty_lambda : float, optional
        Weight of the penalty.
    optimizer : callable, optional
        ``optimizer([x]) -> torch.optim.Optimizer`` (e.g. ``functools.partial(torch.optim.SGD, lr=0.1)``).
    scheduler : callable or False, optional
        ``scheduler(optimizer) -> scheduler`` (its ``step`` gets the summed objective if it takes an
        argument, like ``ReduceLROnPlateau``), or ``False`` for a constant step size.
    initial : str, tensor or callable, optional
        ``"uniform"``, ``"feather"``, start images, or ``initial(images, generator) -> tensor``
        (see :mod:`neuroalign.metamers.starts`).
    allowed_range : (float, float)
        The range of the images' values (penalty, clamping, start noise).
    fake_relu : bool, optional
        ReLU forward, identity backward at the layer (an ``nn.ReLU`` only).
    stop_tolerance : float or False, optional
        Relative-progress stopping rule (:mod:`neuroalign.metamers.stopping`); ``False``: never stop early.
    stop_window : int, optional
        Steps over which progress is measured.
    store_every : int, optional
        Keep a snapshot of the images every ``store_every`` steps (:attr:`saved_metamer`).
    random_state : int
        Seeds the start images (per image, with its ``stimulus_id``).
    stimulus_ids : sequence of str, optional
        Default: the DataArray's, or ``"0"`` … ``"N-1"``.
    memory_format : {"auto", "contiguous", "channels_last"}
        The layout the model runs in (:class:`~neuroalign.metamers.layer_forward.LayerForward`);
        ``"auto"``: channels-last for a batch of images on CPU (faster there, the same values up to
        float rounding), unless the model fails in that layout.

    Notes
    -----
    The constructor only checks its arguments; the model is validated (frozen, eval mode, a
    differentiable path to the layer, dtype and device) at the first :meth:`synthesize` (or the first
    access to a result), before the first step.  The optimised objective is the SUM of the per-image
    objectives ``loss_i + penalty_lambda · penalty_i``, so with an optimizer that acts elementwise
    (Adam, SGD) or per image (:class:`~neuroalign.metamers.steps.NormalizedGradient`) each image follows
    the trajectory it would follow alone.  A stopped image no longer changes: the optimizer's update of
    it is undone (Adam's momentum would otherwise move it) and it leaves the forward pass.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from neuroalign.metamers.synthesis import Metamer
    >>> torch.manual_seed(0) and None
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2)).eval()
    >>> net.requires_grad_(False) and None
    >>> met = Metamer(net, "1", torch.rand(2, 1, 8, 8)).synthesize(5, progress=False)
    >>> met.losses.shape, met.metamer.shape, bool(met.losses[-1].lt(met.losses[0]).all())
    (torch.Size([6, 2]), torch.Size([2, 1, 8, 8]), True)
    """

    def __init__(self, model: nn.Module, layer: LayerSpec, images: Any, *, preset: str = "plenoptic",
                 loss: Any = None, penalty: Any = None, penalty_lambda: float | None = None,
                 optimizer: Callable | None = None, scheduler: Callable | bool | None = None,
                 initial: Initial | None = None, allowed_range: tuple[float, float] = (0.0, 1.0),
                 fake_relu: bool | None = None, stop_tolerance: float | bool | None = None,
                 stop_window: int | None = None, store_every: int | None = None, random_state: int = 0,
                 stimulus_ids: Sequence[str] | None = None, memory_format: str = "auto"):
        self._preset = get_preset(preset)
        self.preset = preset
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model is a {type(model).__name__}, not a torch.nn.Module", source="model",
                              fix="pass a torch module (neuroalign.extract.load_model turns a spec into one)")
        self.model = model
        self.allowed_range = check_range(allowed_range)
        self.images, self.stimulus_ids = images_and_ids(images, stimulus_ids)
        check_images(self.images, self.allowed_range)
        self.layer = resolve_one_layer(model, layer)
        module = model.get_submodule(self.layer)
        if fake_relu is None:
            fake_relu = isinstance(module, nn.ReLU) if self._preset.fake_relu == "auto" else self._preset.fake_relu
        self.fake_relu = bool(fake_relu)
        self._forward = LayerForward(model, self.layer, fake_relu=self.fake_relu, memory_format=memory_format)
        self.memory_format = memory_format
        self.loss, self.penalty, self.optimizer, self.scheduler = loss, penalty, optimizer, scheduler
        self._loss = get_loss(self._preset.loss if loss is None else loss)
        self._penalty = get_penalty(self._preset.penalty if penalty is None else (penalty or None),
                                    self.allowed_range)
        # what the history records from a custom loss or penalty is copied (it may reuse its output tensor)
        self._copy_loss, self._copy_penalty = not is_builtin(self._loss), not is_builtin(self._penalty)
        self.penalty_lambda = float(self._preset.penalty_lambda if penalty_lambda is None else penalty_lambda)
        if not (math.isfinite(self.penalty_lambda) and self.penalty_lambda >= 0):
            raise ConfigError(f"penalty_lambda must be a finite number ≥ 0, got {penalty_lambda!r}",
                              source="penalty_lambda", fix="pass e.g. penalty_lambda=0.1")
        for name, value in (("optimizer", optimizer), ("scheduler", scheduler)):
            if value is not None and value is not False and not callable(value):
                raise ConfigError(f"{name} is a {type(value).__name__}, not a factory", source=name,
                                  fix=f"pass a callable, e.g. {name}=functools.partial(torch.optim.Adam, lr=0.01)"
                                  if name == "optimizer" else "pass a callable optimizer -> scheduler, or False")
        self.initial = initial
        tolerance = self._preset.stop_tolerance if stop_tolerance is None else (
            None if stop_tolerance is False else stop_tolerance)
        self._rule = RelativeProgress(tolerance, self._preset.stop_window if stop_window is None else stop_window)
        self.stop_tolerance, self.stop_window = self._rule.tolerance, self._rule.window
        if store_every is not None and (isinstance(store_every, bool) or not isinstance(store_every, int)
                                        or store_every < 1):
            raise ConfigError(f"store_every must be a positive int or None, got {store_every!r}",
                              source="store_every", fix="pass e.g. store_every=100")
        self.store_every = store_every
        if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) or random_state < 0:
            raise ConfigError(f"random_state must be an int ≥ 0, got {random_state!r}", source="random_state",
                              fix="pass e.g. random_state=0")
        self.random_state = int(random_state)
        self._x: torch.Tensor | None = None  # the images being optimised (set up at the first synthesize)

    # ------------------------------------------------------------------ set-up
    def _setup(self) -> None:
        """Validate the model, compute the targets, draw the start, build optimizer and scheduler."""
        if self._x is not None:
            return
        check_model(self.model)
        check_placement(self.model, self.images)
        with self._forward:
            chosen = self._forward.choose_memory_format(self.images) and self.memory_format == "auto"
            try:
                check_layer_path(self._forward, self.images)
            except ExtractionError:
                if not chosen:
                    raise
                self._forward.use_contiguous()  # a model that cannot run channels-last (a .view of its input)
                check_layer_path(self._forward, self.images)
            with torch.no_grad():
                targets = self._forward(self.images)
        check_targets(targets, self.stimulus_ids, self.layer)
        with torch.no_grad():
            self._check_objective(self._loss(targets, targets), "loss(targets, targets)")
        initial = draw_initial(self._preset.initial if self.initial is None else self.initial, self.images,
                               self.stimulus_ids, self.random_state, self.allowed_range)
        self._targets = targets.detach()
        self._initial = initial
        self._start(initial.clone())
        n = len(self.stimulus_ids)
        self._losses, self._penalties = History(n), History(n)
        self._gradient_norm, self._pixel_change_norm = History(n), History(n)
        self._saved: list[torch.Tensor] = []
        self._saved_iterations: list[int] = []
        self._stopped = torch.zeros(n, dtype=torch.bool)
        self._stop_iteration = torch.full((n,), -1, dtype=torch.long)
        self._n_stopped = 0
        self._current: tuple[torch.Tensor, torch.Tensor] | None = None

    def _start(self, x: torch.Tensor) -> None:
        self._x = x.requires_grad_(True)
        self._no_penalty = torch.zeros(len(self.stimulus_ids), dtype=torch.float64)  # the history's row without one
        factory = self.optimizer or (lambda params: self._preset.optimizer(params, self.allowed_range))
        self._optimizer = factory([self._x])
        if not isinstance(self._optimizer, torch.optim.Optimizer):
            raise ConfigError(f"the optimizer factory returned a {type(self._optimizer).__name__}", source="optimizer",
                              fix="return a torch.optim.Optimizer over the parameters it is given")
        schedule = self._preset.scheduler if self.scheduler is None else (self.scheduler or None)
        self._scheduler = schedule(self._optimizer) if schedule is not None else None
        if self._scheduler is not None and not callable(getattr(self._scheduler, "step", None)):
            raise ConfigError(f"the scheduler factory returned a {type(self._scheduler).__name__} without step()",
                              source="scheduler", fix="return a torch.optim.lr_scheduler scheduler")
        self._scheduler_takes_loss = self._scheduler is not None and bool(
            set(inspect.signature(self._scheduler.step).parameters) - {"epoch"})

    def _check_objective(self, values: Any, what: str, rows: torch.Tensor | None = None) -> None:
        n = len(self.stimulus_ids) if rows is None else len(rows)
        if not isinstance(values, torch.Tensor) or tuple(values.shape) != (n,):
            shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise ConfigError(f"{what} gives {shape}, not one value per image ({n},)", source="loss",
                              fix="return a tensor of shape (N,): one loss per image")
        finite = torch.isfinite(values.detach())
        if bool(finite.all()):
            return
        ids = [self.stimulus_ids[i] for i in (range(n) if rows is None else rows.tolist())]
        bad = [ids[i] for i in (~finite).nonzero().flatten().tolist()]
        raise DataError(f"{what} is NaN or inf for {len(bad)} images (first: {bad[0]!r})", source="images",
                        fix="a normalised loss needs targets with non-zero activations; a diverging synthesis "
                            "needs a smaller step size (optimizer=)")

    # ------------------------------------------------------------------ synthesis
    def synthesize(self, max_iter: int, *, progress: bool = True) -> "Metamer":
        """Take up to ``max_iter`` more steps, from where the synthesis is (resume).

        Ends early when every image has stopped or the schedule is finished.  Returns ``self``.
        """
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
            raise ConfigError(f"max_iter must be an int ≥ 0, got {max_iter!r}", source="max_iter",
                              fix="pass e.g. max_iter=1000")
        if self._x is not None:  # set up already: the model may have been changed since (unfrozen, train mode)
            check_model(self.model)
        self._setup()
        with self._forward, tqdm(total=int(max_iter), desc=f"metamers {self.layer}", disable=not progress,
                                 leave=False, unit="step") as bar:
            shown = -math.inf  # when the bar's loss and count were last updated
            for _ in range(int(max_iter)):
                if self._n_stopped == len(self.stimulus_ids):
                    log.info("every image has stopped at iteration %d", self.n_iter)
                    break
                if getattr(self._scheduler, "finished", False):
                    log.info("the step-size schedule is finished at iteration %d", self.n_iter)
                    break
                self._snapshot()
                self._step()
                bar.update()
                if progress and time.perf_counter() - shown >= bar.mininterval:  # what the next refresh shows
                    shown = time.perf_counter()
                    bar.set_postfix(OrderedDict(loss=f"{float(self._losses[-1].mean()):.4e}",
                                                stopped=self._n_stopped), refresh=False)
            self._current = self._evaluate()
            self._snapshot()
        return self

    def _objective(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        loss = self._loss(self._forward(x), targets)
        if self._penalty is None or self.penalty_lambda == 0:
            return loss, None
        penalty = self._penalty(x)
        return loss + self.penalty_lambda * penalty, penalty

    def _step(self) -> None:
        # A step on one small image takes a few hundred microseconds, and every extra tensor operation costs
        # several: the history keeps each step's values as computed (History converts them in blocks), and
        # the finiteness check looks at one number, the summed objective.
        x, k, n = self._x, self.n_iter, len(self.stimulus_ids)
        everyone = not self._n_stopped
        rows = None if everyone else (~self._stopped).nonzero().flatten()
        device_rows = None if everyone else rows.to(x.device)
        targets = self._targets if everyone else self._targets[device_rows]
        previous = x.detach().clone()
        first: list[Any] = []

        def closure() -> torch.Tensor:
            self._optimizer.zero_grad()
            objective, penalty = self._objective(x if everyone else x[device_rows], targets)
            total = objective.sum()
            if not first:  # a sum is finite only if every term is; the full check names the images
                if objective.shape != (n - self._n_stopped,) or not math.isfinite(total.item()):
                    self._check_objective(objective, f"the objective at iteration {k}", rows)
                # objective: the loss's own output without a penalty (a new tensor with one)
                first.extend((_record(objective, penalty is None and self._copy_loss),
                              None if penalty is None else _record(penalty, self._copy_penalty)))
            total.backward()
            return total.detach()

        self._optimizer.step(closure)
        objective, penalty = first
        grad_norm = torch.linalg.vector_norm((x.grad if everyone else x.grad[device_rows]).flatten(1), dim=1)
        if everyone:
            self._losses.append(objective)
            self._penalties.append(self._no_penalty if penalty is None else penalty)
            self._gradient_norm.append(grad_norm)
        else:  # stopped images keep their last values (and have no gradient)
            losses, penalties = self._losses[-1].clone(), self._penalties[-1].clone()
            norms = torch.full((n,), math.nan, dtype=torch.float64)
            losses[rows] = objective.to("cpu", torch.float64)
            penalties[rows] = 0.0 if penalty is None else penalty.to("cpu", torch.float64)
            norms[rows] = grad_norm.to("cpu", torch.float64)
            self._losses.append(losses)
            self._penalties.append(penalties)
            self._gradient_norm.append(norms)
        newly = self._rule.applies(len(self._losses)) and self._newly_stopped(k)
        with torch.no_grad():
            if not everyone or newly:  # undo the optimizer's move of stopped images
                stopped = self._stopped.to(x.device)
                x[stopped] = previous[stopped]
            self._pixel_change_norm.append(torch.linalg.vector_norm((x - previous).flatten(1), dim=1))
        if self._scheduler is not None:
            if self._scheduler_takes_loss:  # the whole batch's objective: stopped images count with their last value
                self._scheduler.step(float(self._losses[-1].sum()))
            else:
                self._scheduler.step()
        self._current = None

    def _newly_stopped(self, k: int) -> bool:
        """Apply the stopping rule at iterate ``k``; whether any image stopped."""
        window = self._rule.window
        stops = self._rule.stops(self._losses.values(-1 - window), self._losses.values(-1))
        if not any(stops):
            return False
        newly = torch.tensor(stops, dtype=torch.bool) & ~self._stopped
        if not bool(newly.any()):
            return False
        self._stopped |= newly
        self._stop_iteration[newly] = k
        self._n_stopped = int(self._stopped.sum())
        return True

    def _evaluate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Objective and penalty of the current images (stopped ones keep their recorded values)."""
        n = len(self.stimulus_ids)
        stepped = len(self._losses) > 0
        active = ~self._stopped if stepped else torch.ones(n, dtype=torch.bool)
        rows = active.nonzero().flatten()
        losses = self._losses[-1].clone() if stepped else torch.empty(n, dtype=torch.float64)
        penalties = self._penalties[-1].clone() if stepped else torch.zeros(n, dtype=torch.float64)
        if len(rows):
            device_rows = rows.to(self._x.device)
            with torch.no_grad(), self._forward:
                x = self._x if len(rows) == n else self._x[device_rows]
                objective, penalty = self._objective(x, self._targets if len(rows) == n
                                                     else self._targets[device_rows])
            self._check_objective(objective, f"the objective at iteration {self.n_iter}", rows)
            losses[rows] = objective.to("cpu", torch.float64)
            penalties[rows] = 0.0 if penalty is None else penalty.to("cpu", torch.float64)
        return losses, penalties

    def _snapshot(self) -> None:
        k = self.n_iter
        if self.store_every and k % self.store_every == 0 and (not self._saved_iterations
                                                               or self._saved_iterations[-1] != k):
            self._saved.append(self._x.detach().to("cpu").clone())
            self._saved_iterations.append(k)

    # ------------------------------------------------------------------ results
    @property
    def n_iter(self) -> int:
        """Number of steps taken."""
        return len(self._losses) if self._x is not None else 0

    def _ready(self) -> None:
        self._setup()
        if self._current is None:
            self._current = self._evaluate()

    @property
    def losses(self) -> torch.Tensor:
        """Objective (loss + λ·penalty) of every iterate, ``(n_iter + 1, N)``, float64."""
        self._ready()
        return torch.cat([self._losses.tensor(), self._current[0][None]])

    @property
    def penalties(self) -> torch.Tensor:
        """Penalty (unweighted) of every iterate, ``(n_iter + 1, N)``; zero without a penalty."""
        self._ready()
        return torch.cat([self._penalties.tensor(), self._current[1][None]])

    @property
    def gradient_norm(self) -> torch.Tensor:
        """L2 norm of each image's gradient at each step, ``(n_iter, N)``; NaN after an image stopped."""
        self._setup()
        return self._gradient_norm.tensor().clone()

    @property
    def pixel_change_norm(self) -> torch.Tensor:
        """L2 norm of each image's change at each step, ``(n_iter, N)``; 0 once an image stopped."""
        self._setup()
        return self._pixel_change_norm.tensor().clone()

    @property
    def metamer(self) -> torch.Tensor:
        """The current images, ``(N, C, H, W)`` (a detached copy)."""
        self._setup()
        return self._x.detach().clone()

    @property
    def initial_image(self) -> torch.Tensor:
        """The start images, ``(N, C, H, W)``."""
        self._setup()
        return self._initial.clone()

    @property
    def target_activations(self) -> torch.Tensor:
        """The layer's output for the target images, ``(N, ...)``."""
        self._setup()
        return self._targets.clone()

    @property
    def saved_metamer(self) -> torch.Tensor:
        """Snapshots every ``store_every`` steps, ``(n_saved, N, C, H, W)``, on the CPU (:attr:`saved_iterations`)."""
        self._setup()
        if not self._saved:
            return torch.empty((0, *self.images.shape), dtype=self.images.dtype)
        return torch.stack(self._saved)

    @property
    def saved_iterations(self) -> list[int]:
        """The iteration of each snapshot in :attr:`saved_metamer`."""
        self._setup()
        return list(self._saved_iterations)

    @property
    def stopped(self) -> torch.Tensor:
        """Whether each image met the stopping rule, ``(N,)`` bool."""
        self._setup()
        return self._stopped.clone()

    @property
    def stop_iteration(self) -> torch.Tensor:
        """The iterate each image stopped at (its final image), ``-1`` where it did not stop, ``(N,)``."""
        self._setup()
        return self._stop_iteration.clone()

    def __repr__(self) -> str:
        return (f"Metamer(layer={self.layer!r}, images={tuple(self.images.shape)}, preset={self.preset!r}, "
                f"n_iter={self.n_iter})")

    # ------------------------------------------------------------------ persistence
    def describe(self) -> dict[str, Any]:
        """The synthesis's settings, JSON-serialisable (provenance and checkpoints)."""
        return {"layer": self.layer, "preset": self.preset,
                "loss": describe_callable(self._loss),
                "penalty": describe_callable(self._penalty), "penalty_lambda": self.penalty_lambda,
                "optimizer": describe_factory(self.optimizer), "scheduler": describe_factory(self.scheduler),
                "initial": self.initial if isinstance(self.initial, str) or self.initial is None
                else describe_callable(self.initial) if callable(self.initial) else "tensor",
                "allowed_range": list(self.allowed_range), "fake_relu": self.fake_relu,
                "memory_format": self.memory_format,
                "stopping": self._rule.describe(), "store_every": self.store_every,
                "random_state": self.random_state}

    def save(self, path: Any) -> None:
        """Write the synthesis to ``path`` (atomic; plain tensors, no pickled objects); see :meth:`load`."""
        self._ready()
        write_checkpoint(path, checkpoint_state(self))

    @classmethod
    def load(cls, path: Any, model: nn.Module, *, loss: Any = None, penalty: Any = None,
             optimizer: Callable | None = None, scheduler: Callable | None = None,
             map_location: Any = None) -> "Metamer":
        """Read a synthesis written by :meth:`save`, to resume it on the same ``model``.

        Custom parts (a loss, penalty, optimizer or scheduler that is not the preset's) cannot be stored
        as code: pass them again; they are checked against the saved names (and the loss against its
        saved output).  Resuming continues bit-identically.

        Raises
        ------
        FileFormatError
            The file is not a metamer checkpoint.
        ConfigError
            ``model`` differs from the saved one, or a custom part is missing or different.
        """
        state = read_checkpoint(path, map_location=map_location)
        settings = state["settings"]
        check_same_model(state["model"], model, path)
        parts = restore_factory(settings, path, loss=loss, penalty=penalty, optimizer=optimizer,
                                scheduler=scheduler)
        metamer = cls(model, settings["layer"], state["images"], preset=settings["preset"],
                      penalty_lambda=settings["penalty_lambda"], initial=state["initial"],
                      allowed_range=tuple(settings["allowed_range"]), fake_relu=settings["fake_relu"],
                      stop_tolerance=False if settings["stopping"]["tolerance"] is None
                      else settings["stopping"]["tolerance"], stop_window=settings["stopping"]["window"],
                      store_every=settings["store_every"], random_state=settings["random_state"],
                      stimulus_ids=state["stimulus_ids"], memory_format=settings.get("memory_format", "contiguous"),
                      **parts)
        restored = metamer.describe()
        for key in ("loss", "penalty", "optimizer", "scheduler"):
            if restored[key] != settings[key]:
                raise ConfigError(f"{key} {restored[key]!r} differs from the saved {settings[key]!r}", source=key,
                                  fix=f"pass the {key} the synthesis was saved with")
        check_model(model)
        check_placement(model, metamer.images)
        metamer.initial = settings["initial"]  # its description: the start is drawn already
        restore_state(metamer, state, path)
        return metamer

    def to_dataset(self) -> xr.Dataset:
        """The metamers and their history as an xarray Dataset (see :func:`~.synthesis_state.history_dataset`)."""
        self._ready()
        return history_dataset(self)
