"""Trainable deception-detection baselines (SVC / MMDD lineage, reference ``rppg_deception.md`` §2.1).

:class:`FusionNet` (built-in model ``dd-fusion``) is a CPU-sized version of the organizers' baseline:
branch ``v`` = an MLP over time-pooled OpenFace AUs + affect, ``a`` = a small CNN on the mel image,
``f`` = a small per-frame CNN + GRU over the face frames; the branch embeddings are concatenated and
a linear head gives P(truth).  A branch whose modality is missing for a sample contributes zeros.

:class:`PooledLogistic` (built-in model ``dd-linear``) is a deterministic, fast reference: an
L2-regularised logistic regression (full-batch L-BFGS in float64) on :func:`pooled_features`.

Both select on the sources' validation loader (``train.val_loader``) only; no test data reach
``fit``.  Labels: truth = 1, lie = 0; scores are P(truth).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.models import Adapter, TorchAdapter

__all__ = ["MODALITIES", "POOLED_MODALITIES", "FeatureScaler", "FusionNet", "PooledLogistic",
           "feature_width", "modality_present", "pooled_features"]

MODALITIES: tuple[str, ...] = ("faces", "au", "affect", "mel", "wave")  # the batch's "mask" columns
POOLED_MODALITIES: tuple[str, ...] = ("au", "affect", "mel", "wave")
VISUAL_FEATURES: tuple[str, ...] = ("au", "affect")                    # FusionNet's v branch
FEATURE_DIMS = {"au": 43, "affect": 7}                                  # per-frame widths
STAT_WIDTH = {"au": 2 * 43, "affect": 2 * 7, "mel": 2 * 3, "wave": 2}   # pooled statistics per group
BRANCHES = "vaf"
BRANCH_MODALITIES = {"v": VISUAL_FEATURES, "a": ("mel",), "f": ("faces",)}
FACE_SIZE = 32   # face frames are resized to FACE_SIZE² inside FusionNet
MEL_SIZE = 64    # the mel image is resized to MEL_SIZE² inside FusionNet
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)
SELECTION_RULE = "lowest source-val BCE (ties: earlier epoch)"


# ----------------------------------------------------------------------------- batch helpers
def batch_size(batch: dict) -> int:
    """Number of samples in a batch (from its first modality tensor, its mask or its ids)."""
    for key in (*MODALITIES, "mask"):
        if batch.get(key) is not None:
            return int(batch[key].shape[0])
    if batch.get("ids") is not None:
        return len(batch["ids"])
    raise HarnessError(f"the batch holds none of {MODALITIES} (keys: {sorted(batch)})")


def modality_present(batch: dict, modality: str, device: Any = "cpu") -> torch.Tensor:
    """(B,) bool: the key is in the batch **and** the sample's mask column is True.

    A key that is absent means missing whatever the mask says; no mask means all present."""
    n = batch_size(batch)
    if batch.get(modality) is None:
        return torch.zeros(n, dtype=torch.bool, device=device)
    mask = batch.get("mask")
    if mask is None:
        return torch.ones(n, dtype=torch.bool, device=device)
    mask = torch.as_tensor(mask, device=device).bool()
    if mask.shape != (n, len(MODALITIES)):
        raise HarnessError(f"batch['mask'] must have shape ({n}, {len(MODALITIES)}) "
                           f"(columns {MODALITIES}), got {tuple(mask.shape)}")
    return mask[:, MODALITIES.index(modality)]


def feature_width(modalities: Iterable[str] = POOLED_MODALITIES) -> int:
    """Columns of :func:`pooled_features`: each group's statistics plus one presence indicator."""
    return sum(STAT_WIDTH[m] + 1 for m in modalities)


def _time_stats(x: torch.Tensor, modality: str) -> torch.Tensor:
    """(B, T, D) → (B, 2D): mean and std over time (population std, so T = 1 works)."""
    dim = FEATURE_DIMS[modality]
    if x.ndim != 3 or x.shape[-1] != dim:
        raise HarnessError(f"batch[{modality!r}] must be (B, T, {dim}), got {tuple(x.shape)}")
    return torch.cat([x.mean(1), x.std(1, correction=0)], 1)


def _mel_stats(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) → (B, 6): per-channel mean and std."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise HarnessError(f"batch['mel'] must be (B, 3, H, W), got {tuple(x.shape)}")
    return torch.cat([x.mean((2, 3)), x.std((2, 3), correction=0)], 1)


def _wave_stats(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """(B, Lmax) zero-padded → (B, 2): log mean energy and zero-crossing rate of the first
    ``wave_len`` samples of each row (one row at a time, so padding never changes a value)."""
    if x.ndim != 2:
        raise HarnessError(f"batch['wave'] must be (B, L), got {tuple(x.shape)}")
    lengths = [x.shape[1]] * x.shape[0] if lengths is None else torch.as_tensor(lengths).tolist()
    rows = []
    for row, length in zip(x, lengths):
        w = row[: max(int(length), 0)]
        energy = (w * w).mean() if len(w) else w.new_zeros(())
        sign = torch.signbit(w)
        zcr = (sign[1:] != sign[:-1]).double().mean() if len(w) > 1 else w.new_zeros(())
        rows.append(torch.stack([torch.log(energy + 1e-10), zcr.to(w.dtype)]))
    return torch.stack(rows) if rows else x.new_zeros(0, 2)


def pooled_features(batch: dict, modalities: Iterable[str] = POOLED_MODALITIES,
                    device: Any = "cpu") -> torch.Tensor:
    """(B, F) float64 per-sample features, independent of the other samples of the batch.

    For each modality in order, its statistics then a presence indicator (1 present, 0 missing):
    au and affect: mean and std over time (86 + 14 columns); mel: per-channel mean and std (6);
    wave: log-energy and zero-crossing rate over ``wave_len`` (2).  A missing modality (key absent or
    mask False) has zeros in its statistics, whatever its tensor holds (NaN included)."""
    n = batch_size(batch)
    columns = []
    for m in modalities:
        if m not in STAT_WIDTH:
            raise HarnessError(f"pooled_features: no statistics for {m!r} (known: {tuple(STAT_WIDTH)})")
        present = modality_present(batch, m, device)
        stats = torch.zeros(n, STAT_WIDTH[m], dtype=torch.float64, device=device)
        if present.any():
            x = torch.as_tensor(batch[m]).to(device, torch.float64)
            if m == "mel":
                values = _mel_stats(x)
            elif m == "wave":
                values = _wave_stats(x, batch.get("wave_len"))
            else:
                values = _time_stats(x, m)
            stats = torch.where(present[:, None], values, stats)
        columns += [stats, present[:, None].double()]
    return torch.cat(columns, 1)


class FeatureScaler(nn.Module):
    """Standardises :func:`pooled_features` columns with train statistics (buffers ``mean``, ``scale``).

    Statistics of a group use only the samples where it is present; after scaling, a missing group's
    columns are 0 (the train mean) and the presence indicators pass through unchanged."""

    def __init__(self, modalities: Iterable[str] = POOLED_MODALITIES):
        super().__init__()
        modalities = tuple(modalities)
        indicator, is_indicator, start = [], [], 0
        for m in modalities:
            stop = start + STAT_WIDTH[m]
            indicator += [stop] * (STAT_WIDTH[m] + 1)
            is_indicator += [False] * STAT_WIDTH[m] + [True]
            start = stop + 1
        width = feature_width(modalities)
        self.register_buffer("mean", torch.zeros(width, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(width, dtype=torch.float64))
        self.register_buffer("indicator", torch.tensor(indicator), persistent=False)
        self.register_buffer("is_indicator", torch.tensor(is_indicator), persistent=False)

    def _valid(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, self.indicator] > 0.5) | self.is_indicator

    @torch.no_grad()
    def fit(self, features: Iterable[torch.Tensor]) -> int:
        """Set mean and scale from (B, F) feature batches; returns the number of samples seen."""
        count = total = squares = 0
        seen = 0
        for x in features:
            x = x.to(self.mean.device, torch.float64)
            valid = self._valid(x).double()
            count = count + valid.sum(0)
            total = total + (x * valid).sum(0)
            squares = squares + (x * x * valid).sum(0)
            seen += len(x)
        if seen == 0:
            return 0
        n = count.clamp_min(1.0)
        mean = total / n
        std = (squares / n - mean * mean).clamp_min(0.0).sqrt()
        scale = torch.where(std > 1e-8, std, torch.ones_like(std))
        self.mean.copy_(torch.where(self.is_indicator | (count == 0), 0.0, mean))
        self.scale.copy_(torch.where(self.is_indicator, 1.0, scale))
        return seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.mean.device, torch.float64)
        return torch.where(self._valid(x), (x - self.mean) / self.scale, 0.0)


# ----------------------------------------------------------------------------- argument checks
def _check_int(model: str, name: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise HarnessError(f"{model}: {name} must be an integer >= {low}, got {value!r}")
    return value


def _check_positive(model: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise HarnessError(f"{model}: {name} must be a positive number, got {value!r}")
    return float(value)


def _check_branches(value: Any) -> str:
    """'vaf', 'va', 'fv', ... → the letters in canonical order 'vaf'."""
    letters = value if isinstance(value, str) else ""
    if not letters or set(letters) - set(BRANCHES) or len(set(letters)) != len(letters):
        raise HarnessError(f"dd-fusion: modalities must be a non-empty combination of the letters "
                           f"v (au + affect), a (mel image), f (faces), each at most once, e.g. 'vaf' "
                           f"or 'va'; got {value!r}")
    return "".join(b for b in BRANCHES if b in letters)


# ----------------------------------------------------------------------------- FusionNet
def _conv_encoder(out_features: int, width: int = 16) -> nn.Sequential:
    """Three conv blocks, global average pool, a linear embedding with ReLU; any input size."""
    w2 = 2 * width
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, w2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(w2, out_features), nn.ReLU(),
    )


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) → (N, C, size, size) by area averaging (a no-op when already that size)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="area")


class _FusionModule(nn.Module):
    """The weights of :class:`FusionNet`: one embedding per branch, concatenated, linear head."""

    def __init__(self, branches: str, hidden: int):
        super().__init__()
        self.branches, self.hidden = branches, hidden
        if "v" in branches:
            self.scaler = FeatureScaler(VISUAL_FEATURES)
            self.v = nn.Sequential(nn.Linear(feature_width(VISUAL_FEATURES), hidden), nn.ReLU(),
                                   nn.Linear(hidden, hidden), nn.ReLU())
        if "a" in branches:
            self.a = _conv_encoder(hidden)
        if "f" in branches:
            self.f_frame = _conv_encoder(hidden)
            self.f_gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(len(branches) * hidden, 1)

    def embed(self, branch: str, batch: dict, rows: torch.Tensor, device: torch.device) -> torch.Tensor:
        """(R, hidden) embedding of the rows ``rows`` (bool, (B,)) for one branch."""
        if branch == "v":
            feats = pooled_features(batch, VISUAL_FEATURES, device)[rows]
            return self.v(self.scaler(feats).float())
        key = BRANCH_MODALITIES[branch][0]
        x = torch.as_tensor(batch[key])
        x = (x if bool(rows.all()) else x[rows.to(x.device)]).to(device, torch.float32)
        if branch == "a":
            if x.ndim != 4 or x.shape[1] != 3:
                raise HarnessError(f"dd-fusion: batch['mel'] must be (B, 3, H, W), got {tuple(x.shape)}")
            return self.a(_resize(x, MEL_SIZE))
        if x.ndim != 5 or x.shape[2] != 3:
            raise HarnessError(f"dd-fusion: batch['faces'] must be (B, T, 3, H, W), got {tuple(x.shape)}")
        r, t = x.shape[:2]
        frames = self.f_frame(_resize(x.reshape(r * t, *x.shape[2:]), FACE_SIZE)).reshape(r, t, -1)
        _, last = self.f_gru(frames)
        return last[-1]

    def forward(self, batch: dict, device: torch.device) -> torch.Tensor:
        n = batch_size(batch)
        parts = []
        for branch in self.branches:
            rows = torch.zeros(n, dtype=torch.bool, device=device)
            for m in BRANCH_MODALITIES[branch]:
                rows |= modality_present(batch, m, device)
            emb = torch.zeros(n, self.hidden, device=device)
            if rows.all():
                emb = self.embed(branch, batch, rows, device)
            elif rows.any():  # only the rows holding this branch's modality are ever read
                emb = emb.index_put((rows.nonzero()[:, 0],), self.embed(branch, batch, rows, device))
            parts.append(emb)
        return self.head(torch.cat(parts, 1))[:, 0]


class FusionNet(TorchAdapter):
    """Organizers'-baseline-shaped fusion net (v = AU+affect MLP, a = mel CNN, f = face CNN+GRU).

    Arguments (``--model-args``):
        modalities: branches to use, any non-empty subset of "vaf" (default "vaf").
        epochs: training epochs (default 15; 0 = keep the initial weights).
        lr: Adam learning rate (default 1e-3).  batch_size: default 16.
        hidden: width of each branch embedding (default 32).
        seed: fixes the initial weights and the loader's shuffling (default 0).

    ``fit`` standardises the v features with train statistics (buffers of the net), trains with
    BCE, and keeps the epoch with the lowest source-val BCE.  After ``fit``: ``selection`` =
    {"epoch", "val_loss", "val_acc", "rule"} and ``history`` = one dict per epoch.
    """

    family = "deception"
    inputs = MODALITIES
    output = "score"
    golden = False  # trained nets are not golden-checked

    def __init__(self, modalities: str = "vaf", epochs: int = 15, lr: float = 1e-3, batch_size: int = 16,
                 hidden: int = 32, seed: int = 0):
        super().__init__()
        self.branches = _check_branches(modalities)
        self.epochs = _check_int("dd-fusion", "epochs", epochs, 0)
        self.batch_size = _check_int("dd-fusion", "batch_size", batch_size, 1)
        self.hidden = _check_int("dd-fusion", "hidden", hidden, 1)
        self.seed = _check_int("dd-fusion", "seed", seed, 0)
        self.lr = _check_positive("dd-fusion", "lr", lr)
        self.init_net(lambda: _FusionModule(self.branches, self.hidden), self.seed)

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        """``{"score": (B,)}`` P(truth), in eval mode, under the caller's grad mode."""
        self.net.eval()
        return {"score": torch.sigmoid(self.net(batch, self.device))}

    # ------------------------------------------------------------------ training
    def _validate(self, batches: Iterable[dict]) -> tuple[float, float]:
        """(mean BCE, accuracy at 0.5) over the val batches; NaN for both when there are none."""
        loss, correct, count = 0.0, 0, 0
        self.net.eval()
        with torch.no_grad():
            for batch in batches:
                y = torch.as_tensor(batch["label"]).to(self.device, torch.float32)
                logits = self.net(batch, self.device)
                loss += float(F.binary_cross_entropy_with_logits(logits, y, reduction="sum"))
                correct += int(((logits > 0).float() == y).sum())
                count += len(y)
        return (loss / count, correct / count) if count else (math.nan, math.nan)

    def fit(self, train: Any) -> None:
        """Adam on BCE; keep the epoch with the lowest source-val BCE (ties → the earlier epoch).

        Reads ``train.loader(batch_size, shuffle=False, seed)`` once for the v statistics (when
        the v branch is used), then ``train.loader(batch_size, True, seed + epoch)`` and
        ``train.val_loader(batch_size)`` once per epoch; nothing else."""
        self.history = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if "v" in self.branches:
                seen = self.net.scaler.fit(pooled_features(b, VISUAL_FEATURES, self.device)
                                           for b in train.loader(self.batch_size, False, self.seed))
                if seen == 0:
                    raise HarnessError("dd-fusion: the training loader yielded no samples")
            opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
            best_loss, best_epoch, best_state = math.inf, 0, None
            for epoch in range(1, self.epochs + 1):
                self.net.train()
                total, count = 0.0, 0
                for batch in train.loader(self.batch_size, True, self.seed + epoch):
                    y = torch.as_tensor(batch["label"]).to(self.device, torch.float32)
                    loss = F.binary_cross_entropy_with_logits(self.net(batch, self.device), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(y)
                    count += len(y)
                if count == 0:
                    raise HarnessError("dd-fusion: the training loader yielded no samples")
                val_loss, val_acc = self._validate(train.val_loader(self.batch_size))
                self.end_epoch({"epoch": epoch, "train_loss": total / count,
                                     "val_loss": val_loss, "val_acc": val_acc})
                # the first epoch with the lowest val BCE; while val is empty, the latest epoch
                if val_loss < best_loss if not math.isnan(val_loss) else best_loss == math.inf:
                    best_loss = best_loss if math.isnan(val_loss) else val_loss
                    best_epoch, best_state = epoch, copy.deepcopy(self.net.state_dict())
        if best_state is None:  # epochs == 0: score the initial weights on source val
            val_loss, val_acc = self._validate(train.val_loader(self.batch_size))
            best_epoch, rule = 0, SELECTION_RULE
        else:
            self.net.load_state_dict(best_state)
            chosen = self.history[best_epoch - 1]
            val_loss, val_acc = chosen["val_loss"], chosen["val_acc"]
            rule = SELECTION_RULE if not math.isnan(val_loss) else "last epoch (empty source val set)"
        self.selection = {"epoch": best_epoch, "val_loss": None if math.isnan(val_loss) else val_loss,
                          "val_acc": None if math.isnan(val_acc) else val_acc, "rule": rule}
        self.net.eval()


# ----------------------------------------------------------------------------- PooledLogistic
def _fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float, iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (F,) and bias () of mean BCE + l2/2·|w|² (bias unpenalised) by full-batch L-BFGS."""
    w = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iterations, history_size=20,
                            tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach()


class PooledLogistic(Adapter):
    """Logistic regression on standardised :func:`pooled_features` (au, affect, mel, wave).

    Arguments (``--model-args``):
        l2: the L2 strength; default None = the value of {1e-3, 1e-2, 1e-1, 1} with the lowest
            source-val log-loss (ties: the smaller one).
        iterations: L-BFGS iterations per fit (default 100).

    Deterministic (float64, full batch, fixed iteration cap) and fast.  After ``fit``:
    ``selection`` = {"l2", "val_log_loss", "rule"} and ``history`` = one dict per L2 value tried.
    """

    family = "deception"
    inputs = POOLED_MODALITIES
    output = "score"
    loader_batch_size = 64

    def __init__(self, l2: float | None = None, iterations: int = 100):
        super().__init__()
        self.l2 = None if l2 is None else _check_positive("dd-linear", "l2", l2)
        self.iterations = _check_int("dd-linear", "iterations", iterations, 1)
        self.device = torch.device("cpu")
        self.scaler = FeatureScaler(POOLED_MODALITIES)
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.selection: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []

    def to(self, device: Any) -> PooledLogistic:
        self.device = torch.device(device)
        self.scaler.to(self.device)
        if self.weight is not None:
            self.weight, self.bias = self.weight.to(self.device), self.bias.to(self.device)
        return self

    def _features(self, batches: Iterable[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for batch in batches:
            xs.append(pooled_features(batch, POOLED_MODALITIES, self.device))
            ys.append(torch.as_tensor(batch["label"]).to(self.device, torch.float64))
        if not xs:
            return (torch.zeros(0, feature_width(), dtype=torch.float64, device=self.device),
                    torch.zeros(0, dtype=torch.float64, device=self.device))
        return torch.cat(xs), torch.cat(ys)

    def fit(self, train: Any) -> None:
        """Standardise with train statistics, fit by L-BFGS on every train sample, pick L2 on val.

        Reads ``train.loader(64, shuffle=False, seed=0)`` once and, unless ``l2`` is given,
        ``train.val_loader(64)`` once."""
        x, y = self._features(train.loader(self.loader_batch_size, False, 0))
        if len(y) == 0:
            raise HarnessError("dd-linear: the training loader yielded no samples")
        self.scaler.fit([x])
        x = self.scaler(x)
        grid = L2_GRID if self.l2 is None else (self.l2,)
        xv = yv = None
        if self.l2 is None:
            xv, yv = self._features(train.val_loader(self.loader_batch_size))
            xv = self.scaler(xv)
        self.history, best = [], None
        for l2 in grid:
            w, b = _fit_logistic(x, y, l2, self.iterations)
            val = (float(F.binary_cross_entropy_with_logits(xv @ w + b, yv))
                   if xv is not None and len(yv) else math.nan)
            self.history.append({"l2": l2, "val_log_loss": None if math.isnan(val) else val})
            if best is None or val < best[0]:
                best = (val, l2, w, b)
        val, l2, self.weight, self.bias = best
        rule = ("given l2" if self.l2 is not None else
                "lowest source-val log-loss" if not math.isnan(val) else "first grid value (empty source val set)")
        self.selection = {"l2": l2, "val_log_loss": None if math.isnan(val) else val, "rule": rule}

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        """``{"score": (B,)}`` P(truth) as float32."""
        if self.weight is None:
            raise HarnessError("dd-linear must be fitted (it learns from the task's source domains; "
                               "the runner calls fit(train) first) before it can predict")
        x = self.scaler(pooled_features(batch, POOLED_MODALITIES, self.device))
        return {"score": torch.sigmoid(x @ self.weight + self.bias).float()}
