"""Model adapters: the small interface every model implements, and how a name finds one.

An adapter receives a batch (a dict built by the task's family) and returns outputs; it may
implement ``fit(train)`` to train on a protocol's source domains. Names resolve in this order:
built-ins (registered by each family), a folder ``submissions/<name>/`` holding ``model.py`` with
a ``Model`` class, then the ``harness.models`` entry-point group of installed packages.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import HarnessError, did_you_mean
from .registry import Registry
from .digest import file_sha256
from .task import PROJECT_ROOT

ENTRY_POINT_GROUP = "harness.models"
BUILTIN_MODELS: Registry[type] = Registry("model")


class Adapter:
    """Base class for model adapters (subclassing is optional; the duck type is what counts).

    Class attributes the runner reads:
        family: the task family the adapter serves (e.g. "rppg").
        inputs: the batch keys it needs (the family documents them, e.g. ("rgb",) or ("frames",)).
        output: what ``predict`` returns (family-specific, e.g. "bvp" or "hr").
        amp: True lets CUDA runs call ``predict`` under autocast (mixed precision; off by default).
        distributed_fit: True makes every torchrun rank call ``fit`` (e.g. training through
            DistributedDataParallel; the ranks' weights must end equal). Default: rank 0 trains
            and the trained model is sent to the other ranks.
    """

    family: str = ""
    inputs: tuple[str, ...] = ()
    output: str = ""
    amp: bool = False
    distributed_fit: bool = False

    def __init__(self, **kwargs: Any):
        if kwargs:
            raise HarnessError(f"{type(self).__name__} takes no model arguments, got {sorted(kwargs)}")

    def predict(self, batch: dict) -> Any:
        raise NotImplementedError

    def to(self, device: Any) -> "Adapter":
        """Move weights to ``device``; adapters without weights need not override it."""
        return self

    def fingerprint_files(self) -> list[str | Path]:
        """Files (or folders) besides the code and ``--model-args`` paths that decide the outputs,
        e.g. weights found by a default path; hashed by content into the run's model fingerprint."""
        return []


class TorchAdapter(Adapter):
    """An adapter around one torch module ``self.net`` (set in ``__init__``): ``to()`` moves it and
    ``state_dict()`` is its weights (what ``torch.save`` writes for a ``weights=`` argument)."""

    name: str = ""
    net: Any = None
    device: Any = None

    def architecture(self) -> str:
        """The constructor choices that shape ``net`` (named when saved weights do not fit)."""
        return ""

    def init_net(self, make: Any, seed: int, weights: str | Path | None = None) -> None:
        """Build ``self.net = make()`` on the CPU with seeded initial weights (the global RNG is left
        alone), reset the training record (``selection``, ``history``) and load ``weights`` if given."""
        import torch

        self.device = torch.device("cpu")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = make()
        self.selection: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        if weights is not None:
            self.load_weights(weights)

    def state_dict(self) -> dict:
        return self.net.state_dict()

    def end_epoch(self, entry: dict[str, Any]) -> None:
        """Record one training epoch in ``history`` and show it on a progress line (on a terminal
        only): epoch k of ``self.epochs`` with the entry's numbers."""
        import sys

        from tqdm.auto import tqdm

        self.history.append(entry)
        bar = getattr(self, "_epoch_bar", None)
        if bar is not None and entry.get("epoch") == 1:  # a new fit after an interrupted one
            bar.close()
            bar = None
        if bar is None:
            bar = self._epoch_bar = tqdm(total=getattr(self, "epochs", None), desc=f"training {self.name}", unit="epoch",
                                         disable=None, leave=False, file=sys.stderr, dynamic_ncols=True)
        bar.set_postfix({k: f"{v:.3g}" for k, v in entry.items() if k != "epoch" and isinstance(v, float)}, refresh=False)
        bar.update(1)
        if entry.get("epoch") == getattr(self, "epochs", None):
            bar.close()
            self._epoch_bar = None

    def load_weights(self, path: str | Path) -> None:
        """Load a ``self.net`` state dict (or ``{"state_dict": ...}``) in torch's safe mode
        (``weights_only=True``: a file that would run code is refused, not executed). A leading
        ``module.`` on every key (saved from DataParallel) is stripped; missing or unexpected
        keys, and tensors of the wrong shape, are refused by name."""
        import torch

        label, p = self.name or type(self).__name__, Path(path)
        if not p.is_file():
            raise HarnessError(f"{label}: weights file not found", p)
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickles with code, corrupt files: one line, no traceback
            raise HarnessError(f"{label}: cannot load weights in safe mode (weights_only=True): "
                               f"{type(exc).__name__}: {exc}", p) from exc
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise HarnessError(f"{label}: the file holds a {type(state).__name__}, not a state dict", p)
        if state and all(str(k).startswith("module.") for k in state):
            state = {k[len("module."):]: v for k, v in state.items()}
        own = self.net.state_dict()
        problems = []
        for what, keys in (("missing", [k for k in own if k not in state]), ("unexpected", [k for k in state if k not in own])):
            if keys:
                problems.append(f"{len(keys)} {what} key(s): {', '.join(map(str, keys[:4]))}{', …' if len(keys) > 4 else ''}")
        wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})" for k, v in own.items()
                 if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
        if wrong:
            problems.append(f"{len(wrong)} tensor(s) of another shape: {', '.join(wrong[:3])}")
        if problems:
            raise HarnessError(f"{label}: weights do not fit this model ({self.architecture()}): {'; '.join(problems)}", p)
        try:
            self.net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise HarnessError(f"{label}: weights do not fit this model ({self.architecture()}): "
                               f"{str(exc).splitlines()[0]}", p) from exc
        self.net.to(self.device)

    def to(self, device: Any) -> "TorchAdapter":
        import torch

        self.device = torch.device(device)
        self.net.to(self.device)
        return self


def has_fit(model: Any) -> bool:
    return callable(getattr(model, "fit", None))


def submissions_dir() -> Path:
    return Path(os.environ.get("HARNESS_SUBMISSIONS", PROJECT_ROOT / "submissions"))


def parse_model_args(text: str | None) -> dict[str, Any]:
    """``"k=v,k2=v2"`` → dict; values become int, float, bool or None where they parse as such."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, raw = part.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"--model-args: expected key=value, got {part!r}")
        out[key.strip()] = _parse_scalar(raw.strip())
    return out


def _parse_scalar(raw: str) -> Any:
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _load_submission(name: str, folder: Path) -> type:
    """``Model`` from ``folder/model.py``, imported as module ``model`` of a package made of the
    folder (its ``__init__.py`` runs if there is one): relative imports (``from .net import X``)
    work, and so do plain imports of sibling modules (``import net``), the folder being first on
    ``sys.path`` while ``model.py`` is imported."""
    path = folder / "model.py"
    if not path.is_file():
        raise HarnessError("a submission folder needs a model.py defining class Model", folder)
    package = f"harness_submission_{name.replace('-', '_').replace('.', '_')}"
    for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
        del sys.modules[key]  # a fresh import each time (the folder may have changed)
    init = folder / "__init__.py"
    spec = (importlib.util.spec_from_file_location(package, init, submodule_search_locations=[str(folder)])
            if init.is_file() else None)
    sys.path.insert(0, str(folder))
    try:
        if spec is None or spec.loader is None:  # no __init__.py: an empty package over the folder
            import types

            pkg = types.ModuleType(package)
            pkg.__path__ = [str(folder)]  # type: ignore[attr-defined]
            sys.modules[package] = pkg
        else:
            pkg = importlib.util.module_from_spec(spec)
            sys.modules[package] = pkg
            spec.loader.exec_module(pkg)
        module = importlib.import_module(f"{package}.model")
    except Exception as exc:  # the user's code: report where it failed, in one line
        raise HarnessError(f"importing the submission failed: {type(exc).__name__}: {exc}", path) from exc
    finally:
        try:
            sys.path.remove(str(folder))
        except ValueError:
            pass
    if not hasattr(module, "Model"):
        raise HarnessError("model.py must define a class named Model", path)
    return module.Model


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load_builtins() -> None:
    from .families import load_all

    load_all()


def available_models() -> dict[str, str]:
    """name → where it comes from ('builtin', 'submission', 'entry point')."""
    _load_builtins()
    found = {n: "entry point" for n in _entry_points()}
    subs = submissions_dir()
    if subs.is_dir():
        found.update({p.name: "submission" for p in subs.iterdir() if (p / "model.py").is_file()})
    found.update({n: "builtin" for n in BUILTIN_MODELS.names()})
    return found


def resolve_model(name: str) -> tuple[type, str, list[Path]]:
    """(factory, origin, source files) for a model name, in the documented search order."""
    _load_builtins()
    if name in BUILTIN_MODELS:
        cls = BUILTIN_MODELS.get(name)
        return cls, "builtin", [Path(inspect.getsourcefile(cls))]
    folder = submissions_dir() / name
    if folder.is_dir():
        return _load_submission(name, folder), "submission", sorted(folder.rglob("*.py"))
    eps = _entry_points()
    if name in eps:
        try:
            cls = eps[name].load()
        except Exception as exc:
            raise HarnessError(f"entry point {name!r} ({eps[name].value}) failed to load: {exc}") from exc
        src = inspect.getsourcefile(cls)
        return cls, "entry point", [Path(src)] if src else []
    raise did_you_mean(name, available_models(), "model")


def code_fingerprint(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _files_under(path: Path) -> list[Path]:
    """A file, or every regular file below a folder (tracked by git or not), caches and hidden
    entries left out, in a fixed order."""
    if path.is_file():
        return [path]
    return sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts
                  and not any(part.startswith(".") for part in f.relative_to(path).parts))


def _hashed(role: str, path: Path, base: Path | None = None) -> list[dict[str, str]]:
    out = []
    for f in _files_under(path):
        name = str(f.relative_to(base)) if base is not None else str(f.resolve())
        try:
            digest = file_sha256(f)
        except OSError as exc:
            raise HarnessError(f"cannot read a file that decides the model's outputs ({role}): {exc.strerror}", f)
        out.append({"role": role, "path": name, "sha256": digest[:16]})
    return out


def model_identity(model: Any, code_files: list[Path], folder: Path | None, args: dict[str, Any]) -> dict[str, Any]:
    """Everything that decides a model's outputs, hashed by content: its code (a submission's whole
    folder, untracked files and weights included), every existing file or folder named by a
    ``--model-args`` value, and what the adapter declares in ``fingerprint_files()``.

    Returns ``{"fingerprint": 12 hex, "files": [{role, path, sha256}, ...]}``; the fingerprint
    depends on contents (and names inside a submission folder), not on where files lie."""
    files = _hashed("submission", folder, folder) if folder is not None else \
        [e for f in code_files for e in _hashed("code", f, f.parent)]
    for key, value in sorted(args.items()):
        if isinstance(value, str) and value and Path(value).expanduser().exists():
            files += _hashed(f"model-arg {key}", Path(value).expanduser())
    hook = getattr(model, "fingerprint_files", None)
    for declared in (hook() if callable(hook) else None) or []:
        if not Path(declared).exists():
            raise HarnessError("the model declares a file in fingerprint_files() that does not exist", Path(declared))
        files += _hashed("declared", Path(declared))
    key = [(e["role"], e["path"] if e["role"] in ("code", "submission") else "", e["sha256"]) for e in files]
    return {"fingerprint": hashlib.sha256(repr(key).encode()).hexdigest()[:12], "files": files}


def build_model(name: str, args: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Instantiate a model; return it with its description for the run record."""
    factory, origin, files = resolve_model(name)
    folder = submissions_dir() / name if origin == "submission" else None
    try:
        model = factory(**args)
    except HarnessError:
        raise
    except TypeError as exc:
        raise HarnessError(f"model {name!r} rejected its arguments {args}: {exc}") from exc
    for attr in ("family", "predict"):
        if not getattr(model, attr, None):
            raise HarnessError(f"model {name!r} ({origin}) has no {attr!r}: see submissions/mine/model.py")
    info = {"name": name, "args": args, "origin": origin, "family": model.family,
            "inputs": list(getattr(model, "inputs", ())), "output": getattr(model, "output", ""),
            "code_fingerprint": code_fingerprint(files), "trains": has_fit(model),
            **model_identity(model, files, folder, args)}
    return model, info
