"""Choose the sampling defaults of a trained audio-to-motion model on its run's validation texts.

The run's held-out texts (`validation_texts` of its config; never trained on, and not the
benchmark's sentences) are predicted with each setting of a small grid of `diffusion_strength`
(0: the prior alone), `noise_scale` and `num_inference_steps`; the setting with the best mean
jaw-opening correlation (then the lowest RMSE) is reported, and with `--write` stored in the
run's exported model config (`<run>/motion/config.json`).

    .venv/bin/python training/audio_to_motion/tune_sampling.py \\
        --run checkpoints/audio-to-motion-base \\
        --manifest data/corpus-base/manifest.jsonl data/corpus-motion-extra/manifest.jsonl --write
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
GRID = {
    "diffusion_strength": (0.0, 0.5, 1.0),
    "noise_scale": (0.5, 1.0),
    "num_inference_steps": (4, 8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="the run folder (train.py --out)")
    parser.add_argument("--manifest", required=True, nargs="+", help="the run's manifests")
    parser.add_argument("--write", action="store_true", help="store the best in <run>/motion")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, str(HERE))
    from accelerate import PartialState
    from train import MODEL, build_data

    from emogen.face.motion_model import AudioToMotionModel

    run = Path(args.run)
    config = json.loads((run / "train_config.json").read_text())
    _, clips, _ = build_data([Path(m) for m in args.manifest], run, config, False, PartialState())
    if not clips:
        raise SystemExit(f"{run}: the config holds no validation texts out (validation_texts: 0)")
    model = AudioToMotionModel.from_pretrained(run / MODEL).eval()
    rows = []
    for strength, scale, steps in itertools.product(*GRID.values()):
        if strength == 0 and (scale, steps) != (1.0, 4):
            continue  # the prior alone: no noise and no steps
        correlations, squared = [], []
        for clip in clips:
            predicted = model.predict_from_features(
                torch.from_numpy(clip.features.astype(np.float32))[None],
                clip.emotion if clip.emotion is not None else clip.curve,
                num_inference_steps=steps,
                diffusion_strength=strength,
                noise_scale=scale,
                generator=0,
            )
            correlations.append(np.corrcoef(predicted[:, 0], clip.mouth[:, 0])[0, 1])
            squared.append((predicted - clip.mouth) ** 2)
        rows.append(
            {
                "diffusion_strength": strength,
                "noise_scale": scale,
                "num_inference_steps": steps,
                "jaw_open_r": float(np.nanmean(correlations)),
                "rmse": float(np.sqrt(np.concatenate(squared).mean())),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: (round(r["jaw_open_r"], 3), -r["rmse"]))
    lines = [
        f"# Sampling settings of {run.name} on its {len(clips)} validation clips",
        "",
        "| diffusion_strength | noise_scale | steps | jaw_open r | RMSE |",
        "|---|---|---|---|---|",
        *(
            f"| {r['diffusion_strength']} | {r['noise_scale']} | {r['num_inference_steps']} | "
            f"{r['jaw_open_r']:.4f} | {r['rmse']:.4f} |"
            for r in rows
        ),
        "",
        f"Best: {json.dumps(best)}",
    ]
    (run / "sampling.md").write_text("\n".join(lines) + "\n")
    print(f"best: {best}")
    if args.write:
        settings = {k: best[k] for k in GRID}
        model.register_to_config(**settings)
        model.save_pretrained(run / MODEL)
        print(f"stored {settings} in {run / MODEL}")


if __name__ == "__main__":
    main()
