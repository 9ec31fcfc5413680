"""Differentiable and batched simulation with torch: :class:`TorchModel`, :func:`simulate`,
:func:`fit`.

``run(..., backend="torch")`` returns a DataFrame like every backend; these functions return
tensors instead, so results can be differentiated and many parameter sets run at once::

    import torch, rates_torch
    from rates_core import CircuitTemplate

    qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    eta = torch.tensor(-5.0, dtype=torch.float64, requires_grad=True)
    res = rates_torch.simulate(qif, 20.0, 1e-2, params={"p/qif_op/eta": eta},
                               outputs={"r": "p/qif_op/r"})
    res.outputs["r"].mean().backward()          # d mean(r) / d eta in eta.grad

    # 1000 parameter sets at once: one generated function, a leading batch axis
    etas = torch.linspace(-8.0, -2.0, 1000, dtype=torch.float64)
    res = rates_torch.simulate(qif, 20.0, 1e-2, params={"p/qif_op/eta": etas}, batch=1000)
    res.outputs["r"].shape                      # (n_samples, 1000)

    fitted = rates_torch.fit(qif, target_r, ["p/qif_op/eta", "p/qif_op/Delta"],
                             simulation_time=20.0, step_size=1e-2, outputs={"r": "p/qif_op/r"})

Parameters are named by any of their frontend paths (``node/op/var``, as in ``run``'s
``outputs``) or by their System name. A value replaces the whole parameter: in a vectorised
population a scalar applies to every unit. With ``batch=B`` every given value carries a leading
axis of length B (one value, or one row of values, per parameter set); values without it are
shared by all sets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rates_core.backend import Problem
from rates_core.errors import ModelError, SolverError
from rates_torch import BACKEND

__all__ = ["FitResult", "SimulationResult", "TorchModel", "fit", "simulate"]


@dataclass
class SimulationResult:
    """``times`` (n_samples,), ``states`` (n_samples, *batch, n_states) and the requested
    ``outputs`` (name -> (n_samples, *batch) or (n_samples, *batch, size)), all tensors."""

    times: Any
    states: Any
    outputs: dict[str, Any]
    final: Any
    info: dict[str, Any] = field(default_factory=dict)


class TorchModel:
    """A circuit built and emitted once for torch; simulate it with any parameter values.

    ``inputs``: the ``node/op/var`` paths that receive extrinsic inputs (their arrays are given
    to :meth:`simulate`). The System is built as ``run`` builds it (small networks
    unvectorised).
    """

    def __init__(
        self,
        circuit: Any,
        *,
        inputs: Sequence[str] = (),
        vectorize: bool = True,
        float_precision: str = "float64",
    ) -> None:
        from rates_core.pipeline import prepare

        self.circuit = circuit
        self.input_paths = list(inputs)
        self.system, self.function = prepare(
            circuit, BACKEND, {p: None for p in inputs}, vectorize, float_precision
        )
        if self.function.backend != BACKEND:
            raise ModelError("TorchModel needs the torch backend")
        self._slots: dict[str, int] = {}
        for i, p in enumerate(self.system.params):
            self._slots[p.name] = i
            for path in p.paths:
                self._slots.setdefault(str(path), i)

    @property
    def module(self) -> Any:
        return self.function.extras["module"]

    def slot(self, key: str) -> int:
        """The index in ``system.params`` of the parameter named or reached by ``key``."""
        if key in self._slots:
            return self._slots[key]
        raise ModelError(
            f"{key!r} is no parameter of {self.system.name!r} (known: "
            f"{', '.join(p.name for p in self.system.params)}; or any of their paths)"
        )

    def _state_index(self, path: str) -> Any:
        full = path
        name, index = self.system.label_map.get(full, (None, None))
        if name is None:
            matches = self.circuit.resolve_path(path)
            if len(matches) != 1:
                raise ModelError(f"output {path!r} must name one variable")
            name, index = self.system.label_map["/".join(matches[0])]
        for s in self.system.states:
            if s.name == name:
                if index is not None:
                    return s.start + index
                return s.start if s.size == 1 else slice(s.start, s.stop)
        raise ModelError(f"output {path!r}: only state variables can be outputs of simulate()")

    def parameters(self, params: Mapping[str, Any] | None, batch: int | None, like: Any) -> list:
        """Argument tensors for ``system.params``: the defaults, with ``params`` replacing
        some (tensors pass unchanged, so their gradients flow)."""
        import torch

        system = self.system
        values = [p.value for p in system.params]
        delayed = [0.0] * len(system.delayed)
        args = list(self.function.extras["arguments"](like, *delayed, *values))[len(delayed) :]
        for key, value in (params or {}).items():
            i = self.slot(key)
            p = system.params[i]
            if p.role in ("index", "matrix", "input"):
                raise ModelError(f"parameter {key!r} ({p.role}) cannot be set here")
            if p.role == "delay" and batch:
                raise ModelError("delays cannot vary over a batch")
            target = args[i]
            v = torch.as_tensor(value, device=like.device)
            v = v.to(target.dtype) if v.dtype != target.dtype else v
            if batch:
                if v.dim() == 0 or v.shape[0] != batch:
                    raise ModelError(
                        f"parameter {key!r}: with batch={batch} its value needs a leading axis "
                        f"of {batch} (got shape {tuple(v.shape)})"
                    )
                if v.dim() == 1:
                    v = v.unsqueeze(-1)  # one value per set, broadcast over units
            args[i] = v
        return args

    def simulate(
        self,
        simulation_time: float,
        step_size: float,
        *,
        params: Mapping[str, Any] | None = None,
        outputs: Mapping[str, str] | None = None,
        inputs: Mapping[str, Any] | None = None,
        sampling_step_size: float | None = None,
        solver: str = "torch_rk4",
        batch: int | None = None,
        y0: Any = None,
        device: str | Any = "cpu",
        seed: int | None = None,
        compile: bool = False,
        **solver_options: Any,
    ) -> SimulationResult:
        """Integrate with torch and return tensors (see the module doc)."""
        import numpy as np
        import torch

        from rates_core.pipeline import input_arrays
        from rates_torch.solvers import OPTIONS, integrate, prepare, resolve_device

        if solver not in OPTIONS:
            raise SolverError(f"simulate: solver must be one of {', '.join(OPTIONS)}")
        system = self.system
        sampling = step_size if sampling_step_size is None else sampling_step_size
        n_steps = int(round(simulation_time / step_size))
        n_samples = int(round(simulation_time / sampling))
        rows = input_arrays(self.circuit, system, inputs or {}, n_steps) if system.inputs else {}
        device = resolve_device(device)
        module = self.module
        if y0 is None:
            y0 = torch.as_tensor(system.initial_state(), device=device)
        y0 = torch.as_tensor(y0, device=device).to(module.DTYPE_)
        if batch and y0.dim() == 1:
            y0 = y0.expand(batch, y0.shape[-1]).clone()
        args = self.parameters(params, batch, y0)
        problem = Problem(
            y0=y0,
            params=args,
            t0=0.0,
            simulation_time=simulation_time,
            step_size=step_size,
            sampling_step=sampling,
            n_samples=n_samples,
            inputs=rows,
            input_times=np.arange(n_steps) * step_size,
            options={"device": str(device), "compile": compile, **solver_options},
            seed=seed,
        )
        run = prepare(self.function, problem, dict(problem.options), y0=y0, params=args)
        grad = torch.is_grad_enabled() and (
            y0.requires_grad or any(getattr(a, "requires_grad", False) for a in args)
        )
        with torch.set_grad_enabled(grad):
            states, final, info = integrate(solver, run)
        times = torch.arange(n_samples, dtype=torch.float64, device=device) * sampling
        out: dict[str, Any] = {}
        for name, path in (outputs or {}).items():
            out[name] = states[..., self._state_index(path)]
        return SimulationResult(times, states, out, final, info)


def simulate(
    circuit: Any,
    simulation_time: float,
    step_size: float,
    *,
    inputs: Mapping[str, Any] | None = None,
    float_precision: str = "float64",
    vectorize: bool = True,
    **kwargs: Any,
) -> SimulationResult:
    """Build a :class:`TorchModel` of ``circuit`` and simulate it once (see the module doc)."""
    model = TorchModel(
        circuit,
        inputs=list(inputs or {}),
        vectorize=vectorize,
        float_precision=float_precision,
    )
    return model.simulate(simulation_time, step_size, inputs=inputs, **kwargs)


@dataclass
class FitResult:
    """Fitted values (path -> float), the loss per iteration, iterations used, convergence."""

    params: dict[str, float]
    losses: list[float]
    n_iter: int
    converged: bool


def fit(
    circuit: Any,
    target: Mapping[str, Any] | Any,
    params: Sequence[str] | Mapping[str, float],
    *,
    simulation_time: float,
    step_size: float,
    outputs: Mapping[str, str],
    sampling_step_size: float | None = None,
    inputs: Mapping[str, Any] | None = None,
    solver: str = "torch_rk4",
    max_iter: int = 50,
    tol: float = 1e-12,
    lr: float = 1.0,
    optimizer: str = "lbfgs",
    device: str | Any = "cpu",
    callback: Callable[[int, float, dict[str, float]], None] | None = None,
) -> FitResult:
    """Fit ``params`` by gradient descent so the simulated ``outputs`` match ``target``.

    ``target``: name -> samples (one per output row, as :func:`simulate` returns them), or
    one array when there is one output. ``params``: paths to fit (starting from the template's
    values), or path -> starting value. The loss is the mean squared error over all outputs and
    samples; gradients come from differentiating the whole torch integration. ``optimizer``:
    ``"lbfgs"`` (torch.optim.LBFGS with a strong-Wolfe line search; default) or ``"adam"``
    (``lr`` its learning rate). Stops after ``max_iter`` iterations or when the loss falls
    below ``tol``.
    """
    import torch

    from rates_torch.solvers import resolve_device

    device = resolve_device(device)
    model = TorchModel(circuit, inputs=list(inputs or {}))
    names = list(params)
    start = dict(params) if isinstance(params, Mapping) else {}
    leaves: dict[str, Any] = {}
    for name in names:
        p = model.system.params[model.slot(name)]
        value = start.get(name, p.value)
        leaves[name] = torch.tensor(
            float(value if not hasattr(value, "item") else value.item()),
            dtype=torch.float64,
            device=device,
            requires_grad=True,
        )
    if not isinstance(target, Mapping):
        if len(outputs) != 1:
            raise ModelError("fit: give target as a dict name -> samples for several outputs")
        target = {next(iter(outputs)): target}
    wanted = {k: torch.as_tensor(v, dtype=torch.float64, device=device) for k, v in target.items()}

    def loss_fn() -> Any:
        res = model.simulate(
            simulation_time,
            step_size,
            params=leaves,
            outputs=outputs,
            inputs=inputs,
            sampling_step_size=sampling_step_size,
            solver=solver,
            device=device,
        )
        total = 0.0
        for k, want in wanted.items():
            got = res.outputs[k].reshape(want.shape)
            total = total + torch.mean((got - want) ** 2)
        return total

    losses: list[float] = []
    leaves_list = list(leaves.values())
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            leaves_list, lr=lr, max_iter=1, line_search_fn="strong_wolfe", tolerance_change=0.0
        )
    elif optimizer == "adam":
        opt = torch.optim.Adam(leaves_list, lr=lr)
    else:
        raise ValueError(f"fit: optimizer must be 'lbfgs' or 'adam', not {optimizer!r}")

    def closure() -> Any:
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        loss = opt.step(closure)
        value = float(loss.detach())
        losses.append(value)
        if callback is not None:
            callback(n_iter, value, {k: float(v.detach()) for k, v in leaves.items()})
        if value < tol:
            converged = True
            break
        if len(losses) >= 3 and losses[-1] == losses[-2] == losses[-3]:
            break  # the optimiser makes no progress any more
    return FitResult({k: float(v.detach()) for k, v in leaves.items()}, losses, n_iter, converged)
