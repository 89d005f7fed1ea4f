"""Uncertainty for every reported number: a value with its N, standard error and confidence interval.

Family-agnostic: rPPG, face anti-spoofing, deception and splicing metrics all report a
:class:`MetricValue`.  An undefined value is ``None`` with a ``reason``, never a made-up 0.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats as _scipy_stats

#: resampled elements held in memory at once by :func:`bootstrap` (per input array)
_BOOTSTRAP_BLOCK = 1 << 22


@dataclasses.dataclass(frozen=True)
class MetricValue:
    """One metric's value with its uncertainty.

    value: ``None`` when undefined (``reason`` says why); NaN is turned into ``None``.
    n: the observations the value was computed from.
    n_excluded: observations left out because they were undefined (NaN/inf), e.g. a window
        whose HR could not be estimated; ``n + n_excluded`` is what was offered.
    se / ci_low / ci_high: standard error and confidence interval (``None`` when undefined);
        ``se_method`` names how they were computed.

    >>> MetricValue(2.0, n=3, se=0.5, se_method="std(ddof=1)/sqrt(n)").to_dict()["se"]
    0.5
    """

    value: float | None
    n: int
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    se_method: str | None = None
    reason: str | None = None
    n_excluded: int = 0

    def __post_init__(self) -> None:
        for name in ("value", "se", "ci_low", "ci_high"):
            object.__setattr__(self, name, _float_or_none(getattr(self, name)))
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "n_excluded", int(self.n_excluded))
        if self.value is None and not self.reason:
            raise ValueError("an undefined metric value (None/NaN) needs a reason")

    @property
    def defined(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MetricValue":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown MetricValue key(s) {unknown}; known: {sorted(names)}")
        return cls(**d)

    @classmethod
    def undefined(cls, reason: str, n: int = 0, n_excluded: int = 0) -> "MetricValue":
        """A value that cannot be computed, e.g. ``MetricValue.undefined("undefined: no values")``."""
        return cls(None, n=n, reason=reason, n_excluded=n_excluded)


def _float_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def normal_ci(value: float, se: float, level: float = 0.95) -> tuple[float, float]:
    """Normal-approximation interval ``value ± z·se`` with z the two-sided ``level`` quantile.

    >>> [round(v, 3) for v in normal_ci(10.0, 1.0)]
    [8.04, 11.96]
    """
    z = float(_scipy_stats.norm.ppf(0.5 + level / 2.0))
    return value - z * se, value + z * se


def mean_with_se(values: np.ndarray, level: float = 0.95, ddof: int = 1) -> MetricValue:
    """Mean with SE = std(ddof)/√n (ddof=1: the sample std; the rPPG-Toolbox prints ddof=0)
    and a normal-approximation CI.

    Non-finite values are left out and counted in ``n_excluded``.  n=0 gives an undefined
    value; n=1 (or n ≤ ddof) gives the value with an undefined SE.

    >>> m = mean_with_se(np.array([1.0, 2.0, 3.0]))
    >>> m.value, round(m.se, 4)
    (2.0, 0.5774)
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    n, n_excluded = finite.size, values.size - finite.size
    if n == 0:
        return MetricValue.undefined("undefined: no values", n_excluded=n_excluded)
    value = float(finite.mean())
    if n <= ddof:
        return MetricValue(value, n=n, reason=f"se undefined: n={n}", n_excluded=n_excluded)
    se = float(finite.std(ddof=ddof)) / math.sqrt(n)
    low, high = normal_ci(value, se, level)
    return MetricValue(value, n=n, se=se, ci_low=low, ci_high=high,
                       se_method=f"std(ddof={ddof})/sqrt(n), normal CI", n_excluded=n_excluded)


def bootstrap(statistic: Callable[..., np.ndarray], arrays: Sequence[np.ndarray], n_boot: int = 1000,
              level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Bootstrap (se, ci_low, ci_high) of ``statistic`` over N paired observations.

    Each resample draws N indices with replacement and applies them to every array jointly
    (pairs stay pairs); the indices are ``np.random.default_rng(seed).integers(0, N, (n_boot, N))``,
    drawn in row blocks to bound memory.  ``statistic`` is called with arrays of shape
    ``(k, N)`` and must reduce the last axis to ``(k,)``.  SE is the std (ddof=1) of the
    replicates; the CI is the percentile interval (``np.percentile``, linear interpolation).
    Resamples whose statistic is NaN/inf (e.g. a correlation of a resample with a constant
    column) are ignored.  Returns NaNs when N < 2 or fewer than two replicates are finite.

    >>> x = np.arange(10.0)
    >>> se, low, high = bootstrap(lambda a: a.mean(-1), [x], n_boot=200)
    >>> bool(low < x.mean() < high)
    True
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    if not arrays:
        raise ValueError("bootstrap needs at least one array")
    n = arrays[0].shape[-1] if arrays[0].ndim else 0
    if any(a.ndim != 1 or a.shape[0] != n for a in arrays):
        raise ValueError(f"bootstrap needs 1-D arrays of equal length, got shapes {[a.shape for a in arrays]}")
    if n_boot < 2 or not 0 < level < 1:
        raise ValueError(f"bootstrap needs n_boot >= 2 and 0 < level < 1, got {n_boot}, {level}")
    if n < 2:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOTSTRAP_BLOCK // n)
    replicates = []
    for start in range(0, n_boot, rows):
        idx = rng.integers(0, n, size=(min(rows, n_boot - start), n))
        replicates.append(np.asarray(statistic(*(a[idx] for a in arrays)), dtype=np.float64))
    reps = np.concatenate(replicates)
    reps = reps[np.isfinite(reps)]
    if reps.size < 2:
        return math.nan, math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    low, high = np.percentile(reps, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(reps.std(ddof=1)), float(low), float(high)


class Undefined(Exception):
    """Raised by a metric's ``compute`` to say why its value is undefined on these arrays."""


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """Percentile bootstrap (:func:`bootstrap`) over the rows of the arrays named in ``over``,
    resampled jointly; ``unit`` names a row in the record (``"clips"``); fewer than ``min_n``
    rows give the value alone."""

    over: tuple[str, ...]
    unit: str | None = None
    min_n: int = 2
    vectorised: bool = False  # compute reduces the last axis of (n_boot, N) resamples itself


@dataclasses.dataclass(frozen=True)
class MeanSE:
    """The value is the mean of the per-unit values ``compute`` returns, with SE std(ddof)/√n and
    a normal CI (:func:`mean_with_se`); non-finite per-unit values are left out and counted."""

    ddof: int = 1
    unit: str | None = None  # what a unit is, named in se_method when some are left out
    empty: str = "no values"  # the reason when no unit has a finite value


@dataclasses.dataclass(frozen=True)
class Formula:
    """A closed-form uncertainty: ``fn(value, arrays, level)`` returns the :class:`MetricValue`."""

    fn: Callable[..., "MetricValue"]
    method: str = ""


Uncertainty = Bootstrap | MeanSE | Formula | None


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A metric, declared once: what it means on a leaderboard (direction, unit, description,
    range, ranked), how it is computed from the family's per-sample arrays, its uncertainty and
    why it can be undefined.  :func:`evaluate` turns a list of specs into values.

    compute: ``compute(arrays) -> float`` (``arrays`` a mapping of the family's named arrays and
        scalars); NaN/inf or :class:`Undefined` make the value undefined (in a bootstrap
        resample a ``ValueError``, e.g. one class drawn, also counts as an undefined replicate).
    uncertainty: :class:`Bootstrap`, :class:`MeanSE`, :class:`Formula` or ``None`` (value only).
    undefined: ``undefined(arrays) -> str | None``, asked first: a reason makes the value
        undefined without computing it ("undefined: <reason>").
    """

    name: str
    direction: str  # "min" (lower is better) or "max"
    unit: str
    description: str
    bounds: tuple[float | None, float | None] = (None, None)  # the metric's possible range
    ranked: bool = True  # False: shown, never used to order a leaderboard (e.g. an oracle-threshold score)
    from_upload: bool = True  # False: measured by a run from the test data, not from a prediction file
    # regress tolerance across machines where the value comes out of an iterative fit that stops at
    # its own tolerance (None: the golden file's float64-rounding tolerance); say why in the spec
    tolerance: float | None = None
    compute: Callable[[Mapping[str, Any]], Any] | None = dataclasses.field(default=None, compare=False, repr=False)
    uncertainty: Uncertainty = None
    undefined: Callable[[Mapping[str, Any]], str | None] | None = dataclasses.field(default=None, compare=False,
                                                                                     repr=False)
    excluded: str | None = None  # the arrays entry counting observations dropped before the metric
    #                              (e.g. windows whose HR could not be estimated): the value's n_excluded
    rows: str | None = None  # the array whose length is N (an int array is N itself); default: the
    #                          first bootstrapped array, else arrays["n"]

    def clip(self, value: MetricValue) -> MetricValue:
        """Clip a normal-approximation CI to the metric's range (an MAE CI never goes below 0)."""
        low, high = self.bounds

        def clip(v: float | None) -> float | None:
            if v is None:
                return None
            v = v if low is None else max(v, low)
            return v if high is None else min(v, high)

        return dataclasses.replace(value, ci_low=clip(value.ci_low), ci_high=clip(value.ci_high))


def evaluate(specs: Sequence[MetricSpec], arrays: Mapping[str, Any], n_boot: int = 1000, seed: int = 0,
             level: float = 0.95) -> dict[str, MetricValue]:
    """Every metric of ``specs`` on ``arrays``: value, N, SE/CI by the spec's uncertainty, or
    the reason it is undefined.  N is the length of the spec's first bootstrapped array (or of
    the per-unit values, or ``arrays[spec.rows]``, or ``arrays["n"]``).  Each bootstrapped metric draws its own resamples
    from ``seed`` (``np.random.default_rng(seed)``), so adding a metric never moves another's CI.

    >>> spec = MetricSpec("mean", "max", "", "", compute=lambda a: a["x"].mean(), uncertainty=Bootstrap(("x",)))
    >>> v = evaluate([spec], {"x": np.arange(10.0)}, n_boot=200)["mean"]
    >>> v.value, v.ci_low < 4.5 < v.ci_high
    (4.5, True)
    """
    out = {}
    for spec in specs:
        value = spec.clip(_evaluate_one(spec, arrays, n_boot, seed, level))
        if spec.excluded is not None:
            value = dataclasses.replace(value, n_excluded=int(arrays[spec.excluded]))
        out[spec.name] = value
    return out


def _rows(spec: MetricSpec, arrays: Mapping[str, Any]) -> int:
    u = spec.uncertainty
    key = spec.rows or (u.over[0] if isinstance(u, Bootstrap) else "n")
    rows = arrays.get(key)
    if rows is None:
        return 0
    return int(rows) if isinstance(rows, (int, np.integer)) else len(rows)


def _compute(spec: MetricSpec, arrays: Mapping[str, Any]) -> tuple[Any, str | None]:
    try:
        return spec.compute(arrays), None  # type: ignore[misc]
    except Undefined as exc:
        return None, str(exc)


def _evaluate_one(spec: MetricSpec, arrays: Mapping[str, Any], n_boot: int, seed: int, level: float) -> MetricValue:
    if spec.compute is None:
        raise ValueError(f"metric {spec.name!r} declares no compute function")
    u = spec.uncertainty
    n = _rows(spec, arrays)
    reason = spec.undefined(arrays) if spec.undefined is not None else None
    if reason is None:
        value, reason = _compute(spec, arrays)
    if reason is None and isinstance(u, MeanSE):
        v = mean_with_se(np.asarray(value, dtype=np.float64), level=level, ddof=u.ddof)
        if not v.n:
            return MetricValue.undefined(f"undefined: {u.empty}", n_excluded=v.n_excluded)
        if v.n_excluded and u.unit:
            v = dataclasses.replace(v, se_method=(v.se_method or "") + f"; {v.n_excluded} {u.unit} undefined, left out")
        return v
    if reason is None and not math.isfinite(float(value)):
        reason = "not computable on this test set"
    if reason is not None:
        return MetricValue.undefined(f"undefined: {reason}", n=n)
    value = float(value)
    if isinstance(u, Formula):
        return u.fn(value, arrays, level)
    if not isinstance(u, Bootstrap):
        return MetricValue(value, n=n)
    if n_boot < 2:  # --n-boot 0 (or 1): no resampling asked for
        return MetricValue(value, n=n, reason="se not computed: --n-boot < 2")
    if n < max(2, u.min_n):
        return MetricValue(value, n=n, reason=f"se undefined: n={n}")
    se, low, high = _bootstrap_spec(spec, u, arrays, n, n_boot, seed, level)
    if not math.isfinite(se):
        return MetricValue(value, n=n, reason="se undefined: too few defined resamples")
    return MetricValue(value, n=n, se=se, ci_low=low, ci_high=high,
                       se_method=f"bootstrap({n_boot}, percentile, seed {seed})" + (f" over {u.unit}" if u.unit else ""))


def _bootstrap_spec(spec: MetricSpec, u: Bootstrap, arrays: Mapping[str, Any], n: int, n_boot: int, seed: int,
                    level: float) -> tuple[float, float, float]:
    """:func:`bootstrap` of ``spec.compute`` over resampled rows of ``u.over`` (any dtype, any
    trailing shape: the rows are drawn as indices, so the draws depend on N and the seed only)."""
    if u.vectorised:
        return bootstrap(lambda *cols: spec.compute({**arrays, **dict(zip(u.over, cols))}),  # type: ignore[misc]
                         [arrays[k] for k in u.over], n_boot=n_boot, level=level, seed=seed)
    over = {k: np.asarray(arrays[k]) for k in u.over}

    def one(rows: np.ndarray) -> float:
        try:
            v = spec.compute({**arrays, **{k: a[rows] for k, a in over.items()}})  # type: ignore[misc]
            return float(v)
        except (ValueError, Undefined):  # e.g. a resample with one class
            return math.nan

    def statistic(idx: np.ndarray) -> np.ndarray:
        return np.array([one(rows) for rows in idx.astype(np.intp)])

    return bootstrap(statistic, [np.arange(n, dtype=np.float64)], n_boot=n_boot, level=level, seed=seed)


def undefined_notes(values: Mapping[str, MetricValue]) -> list[str]:
    """One note per undefined value: ``"<name> is undefined: <why>"``."""
    return [f"{name} is {v.reason}" for name, v in values.items() if v.value is None]
