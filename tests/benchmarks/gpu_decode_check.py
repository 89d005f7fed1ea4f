"""The prepared GPU decode check (run it where a GPU is lent; on the CPU alone it runs the CPU rows
and names what it skipped):

    python tests/benchmarks/gpu_decode_check.py --out gpu_decode.json [--seconds 20]

On a generated 1920×1080, 30 fps video (Motion-JPEG and MPEG-4 Part 2, the codecs OpenCV's bundled
writer has) it measures frames/s of: OpenCV decode alone (``cap.read()``), the family's CPU path
(``stream_video``, rgb), torchcodec on CUDA (crop sums on the GPU, ``decode.gpu_crop_sums``), and
the largest difference between the CPU and GPU crop means (decoders may round pixels differently);
then POS and, where its adapter is in this checkout, PhysNet inference rates (frames/s) on CPU and
CUDA. Prints a Markdown table for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _video_fixtures import decode_only, write_ubfc  # noqa: E402

from harness.errors import HarnessError  # noqa: E402
from harness.families.rppg import decode, face  # noqa: E402
from harness.families.rppg.data import scan  # noqa: E402
from harness.families.rppg.family import InputSpec, stream_video  # noqa: E402


def _timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _inference(model_name: str, device: str, frames: int) -> float | str:
    from harness.models import build_model

    try:
        model, _ = build_model(model_name, {})
    except HarnessError as exc:
        return f"skipped: {exc}"
    if hasattr(model, "to"):
        model = model.to(torch.device(device)) or model
    kind = InputSpec.of(model).kind
    shape = (1, frames, 3) if kind == "rgb" else (1, min(frames, 180), 72, 72, 3)
    x = torch.rand(shape, device=device) * (255 if kind == "rgb" else 1)
    x = x if kind == "rgb" else (x * 255).to(torch.uint8)
    inputs = {kind: x, "lengths": torch.tensor([shape[1]], device=device), "fs": torch.tensor([30.0], dtype=torch.float64),
              "ids": ["x"]}
    with torch.inference_mode():
        model.predict(inputs)  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        seconds, _ = _timed(lambda: model.predict(inputs))
        if device == "cuda":
            torch.cuda.synchronize()
    return shape[1] / seconds


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="gpu_decode.json")
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    cuda = torch.cuda.is_available()
    report: dict = {"gpu": torch.cuda.get_device_name(0) if cuda else None, "torch": torch.__version__,
                    "torchcodec": decode.gpu_decoding_possible(), "videos": {}, "inference": {}}
    rows = ["| video | path | frames/s |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        root = write_ubfc(Path(tmp), 1, args.seconds, (1920, 1080))
        avi = root / "ubfc-rppg" / "subject1" / "vid.avi"
        mp4 = _as_mp4v(avi, Path(tmp) / "vid.mp4")
        rec = scan("ubfc-rppg", root / "ubfc-rppg")[0]
        for name, path in (("1080p MJPG", avi), ("1080p mp4v", mp4)):
            if path is None:
                continue
            entry = report["videos"][name] = {}
            seconds, n = _timed(lambda: decode_only([path]))
            entry["opencv decode only"] = n / seconds
            if path == avi:
                seconds, units = _timed(lambda: list(stream_video(rec, InputSpec("rgb"))))
                entry["harness rgb, OpenCV"] = n / seconds
                cpu_means = units[-1][1]["rgb"]
            if cuda and decode.gpu_decoding_possible():
                seconds, out = _timed(lambda: decode.gpu_crop_sums(path, face.face_box))
                if out is None:
                    entry["torchcodec CUDA"] = "refused this codec (OpenCV fallback)"
                else:
                    entry["torchcodec CUDA"] = len(out[0]) / seconds
                    if path == avi:
                        gpu_means = out[0][:, :3] / out[1]
                        k = min(len(gpu_means), len(cpu_means))
                        entry["max |CPU - GPU| crop mean"] = float(np.abs(gpu_means[:k] - cpu_means[:k]).max())
            else:
                entry["torchcodec CUDA"] = "skipped: no CUDA" if not cuda else "skipped: torchcodec not installed"
            rows += [f"| {name} | {k} | {v:,.1f} |" if isinstance(v, float) else f"| {name} | {k} | {v} |"
                     for k, v in entry.items()]
    for model in ("pos", "physnet"):
        for device in ["cpu"] + (["cuda"] if cuda else []):
            rate = _inference(model, device, int(args.seconds * 30))
            report["inference"][f"{model}/{device}"] = rate
            rows.append(f"| inference | {model} on {device} | {rate:,.1f} |" if isinstance(rate, float)
                        else f"| inference | {model} on {device} | {rate} |")
    Path(args.out).write_text(json.dumps(report, indent=2))
    print("\n".join(rows))
    return 0


def _as_mp4v(src: Path, dst: Path) -> Path | None:
    """The same frames as MPEG-4 Part 2 (OpenCV's FFmpeg writer), or None where it cannot write it."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    writer = cv2.VideoWriter(str(dst), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1920, 1080))
    if not writer.isOpened():
        return None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
    writer.release()
    cap.release()
    return dst


if __name__ == "__main__":
    sys.exit(main())
