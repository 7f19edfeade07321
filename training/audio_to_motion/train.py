"""Train the audio-to-motion model (`emogen.face.motion_model.AudioToMotionModel`) with Accelerate.

From a speech corpus whose phoneme timing is known (training/speech_corpus writes the alignment
of every utterance), the model learns audio + emotion -> the mouth parameters the viseme rig
gives for that timing (`emogen.face.visemes.mouth_track` at the model's fps), by DDPM training
(Ho et al. 2020) of its `FrameDenoiser` jointly with its audio encoder and the shared
`EmotionEncoder` (EmoReg's shifted embedding, Singh et al. 2024), the emotion dropped to the
null one with `condition_dropout` for classifier-free guidance (Ho & Salimans 2022).

Steps:
    1. data: every utterance with an alignment and an emotion (or curve) -> audio features
       (`motion_audio_features`) and the target mouth track, one row per video frame, cached in
       `<out>/features.npz` (rebuilt when the manifest or the feature settings change). The
       utterances of the last `validation_texts` texts (sorted) are held out: the jaw-opening
       correlation of `predict` on them is logged every `eval_every` steps.
    2. an Accelerate loop over batches of random crops of `crop_frames` frames (shorter
       utterances padded with silence and the rest pose, which is what silence looks like):
       prepare, backward, gradient clipping, EMA, losses (the prior's L2 and the residual's
       diffusion loss, Grad-TTS) to `<out>/loss.csv`, `save_state`
       every `save_every` steps into `<out>/states/step-NNNNNNN` (`--resume` continues from the
       newest).
    3. `AudioToMotionModel.save_pretrained(<out>/motion)` (the EMA weights), `loss.png`,
       `training_summary.json`; `--export DIR` saves the model there too (the shipped one:
       `pipelines/talking-head/motion_model`).

Every batch is drawn from a generator seeded by (seed, step, process): a resumed run ends on the
same step with the same weights as an uninterrupted one.

    .venv/bin/python training/audio_to_motion/train.py --config tiny \\
        --manifest data/corpus-tiny/manifest.jsonl --out checkpoints/audio-to-motion-tiny
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFIG_KEYS = {
    # model (emogen.face.motion_model.AudioToMotionModel)
    "fps": float,
    "mel_context": int,  # 10 ms mel frames per video frame
    "audio_channels": int,
    "audio_layers": int,
    "denoiser_channels": int,
    "denoiser_layers": int,
    "dilation_cycle": int,
    "emotion_hidden_size": int,
    # diffusion
    "num_train_timesteps": int,
    "beta_schedule": str,  # diffusers DDPMScheduler beta_schedule
    "prediction_type": str,  # epsilon | v_prediction | sample
    # data
    "crop_frames": int,  # video frames per training example
    "validation_texts": int,  # texts held out (all their renderings) for the validation metric
    # optimisation
    "steps": int,
    "batch_size": int,  # crops per process and step
    "learning_rate": float,
    "lr_schedule": str,  # diffusers.optimization.get_scheduler name
    "warmup_steps": int,
    "max_grad_norm": float,
    "condition_dropout": float,  # probability of the null emotion (classifier-free guidance)
    "ema_decay": (float, type(None)),  # null: no EMA
    "mixed_precision": str,  # no | fp16 | bf16
    "num_inference_steps": int,  # the exported model's default
    # bookkeeping
    "log_every": int,
    "eval_every": int,  # loss on a fixed batch, and the validation correlation
    "save_every": int,
    "keep_states": int,
    "seed": int,
}
FEATURES = "features.npz"
LOSS_LOG = "loss.csv"
SUMMARY = "training_summary.json"
MODEL = "motion"
LOSS_NAMES = ("prior", "diffusion")
LOG_FIELDS = ["step", "loss", "prior_loss", "diffusion_loss", "eval_loss", "val_jaw_r", "lr",
              "seconds"]  # fmt: skip
FEATURE_VERSION = 1  # bump when motion_audio_features or the targets change

logger = logging.getLogger("audio_to_motion")


def load_config(name_or_path: str) -> dict[str, Any]:
    """Read `configs/<name>.yaml` or a YAML path, and check its keys, types and ranges."""
    from emogen.errors import EmogenError
    from emogen.recipes import load_recipe_config

    config = load_recipe_config(name_or_path, HERE / "configs", CONFIG_KEYS)
    for key in (
        "steps",
        "batch_size",
        "crop_frames",
        "log_every",
        "eval_every",
        "save_every",
        "keep_states",
        "num_inference_steps",
    ):
        if config[key] < 1:
            raise EmogenError(f"{name_or_path}: {key} must be >= 1, got {config[key]}")
    if config["validation_texts"] < 0:
        raise EmogenError(f"{name_or_path}: validation_texts must be >= 0")
    if not 0.0 <= config["condition_dropout"] < 1.0:
        dropout = config["condition_dropout"]
        raise EmogenError(f"{name_or_path}: condition_dropout must be in [0, 1), got {dropout}")
    return config


def model_from_config(config: dict[str, Any]):
    """The `AudioToMotionModel` a config describes (untrained)."""
    from emogen.face.motion_model import AudioToMotionModel

    return AudioToMotionModel(
        fps=config["fps"],
        mel_context=config["mel_context"],
        audio_channels=config["audio_channels"],
        audio_layers=config["audio_layers"],
        denoiser_channels=config["denoiser_channels"],
        denoiser_layers=config["denoiser_layers"],
        dilation_cycle=config["dilation_cycle"],
        emotion_hidden_size=config["emotion_hidden_size"],
        num_train_timesteps=config["num_train_timesteps"],
        beta_schedule=config["beta_schedule"],
        prediction_type=config["prediction_type"],
        num_inference_steps=config["num_inference_steps"],
    )


# ---------------------------------------------------------------------- 1. data


@dataclass
class Clip:
    """One utterance: audio features and target mouth track, one row per video frame, and its
    emotion (a label, or a curve over the utterance's seconds)."""

    id: str
    text: str
    features: np.ndarray  # (T, F) float16, unnormalised
    mouth: np.ndarray  # (T, 5) float32 in [0, 1]
    emotion: Any  # Emotion or None
    curve: Any  # EmotionCurve or None


def clip_targets(
    audio: np.ndarray, sample_rate: int, alignment, fps: float, mel_context: int
) -> tuple[np.ndarray, np.ndarray]:
    """Features and mouth track of one utterance: `(T, F)` and `(T, 5)`, frame j at `j / fps`,
    T = ceil(duration * fps)."""
    from emogen.face.motion_model import motion_audio_features
    from emogen.face.visemes import mouth_track
    from emogen.speech.voice import PhonemeTiming

    num_frames = max(1, math.ceil(len(audio) / sample_rate * fps - 1e-9))
    features = motion_audio_features(audio, sample_rate, num_frames, fps, mel_context)
    timing = [PhonemeTiming(p, float(s), float(e)) for p, s, e in alignment]
    mouth = mouth_track(timing, np.arange(num_frames) / fps).astype(np.float32)
    return features, mouth


def _cache_key(manifest_paths: list[Path], config: dict) -> str:
    """What the cached features and targets depend on: the manifests, the feature settings, and
    the code of the features and of the viseme rig (a change to either rebuilds the cache)."""
    import inspect

    from emogen.face import motion_model, visemes

    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in manifest_paths]
    code = inspect.getsource(visemes) + inspect.getsource(motion_model.motion_audio_features)
    text = json.dumps([stats, config["fps"], config["mel_context"], FEATURE_VERSION, code])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_data(manifest_paths: list[Path], out: Path, config: dict, skip_bad: bool, accelerator):
    """Read the manifests and compute (or load from `<out>/features.npz`) every clip.

    Returns:
        `(train_clips, validation_clips, left_out)`: left_out counts utterances without an
        alignment or an emotion.

    Raises:
        ManifestError: bad manifest lines (listed with their numbers), unless `skip_bad`.
        EmogenError: no utterance has both an alignment and an emotion.
    """
    from tqdm.auto import tqdm

    from emogen.errors import EmogenError
    from emogen.speech.audio import load_audio
    from emogen.speech.corpus import read_manifest

    # (key, manifest, utterance); keys are unique across manifests (corpora reuse ids).
    usable, total = [], 0
    for number, manifest_path in enumerate(manifest_paths):
        manifest = read_manifest(manifest_path, skip_bad=skip_bad)
        total += len(manifest)
        usable += [
            (f"{number}:{u.id}", manifest, u)
            for u in manifest
            if u.alignment is not None and (u.emotion is not None or u.curve is not None)
        ]
    left_out = {"no alignment or emotion": total - len(usable)}
    if not usable:
        raise EmogenError(
            f"{', '.join(map(str, manifest_paths))}: no utterance has both an alignment and an "
            "emotion (or curve); build the corpus with training/speech_corpus/build.py"
        )
    cache = out / FEATURES
    key = _cache_key(manifest_paths, config)
    if accelerator.is_main_process:
        cached = None
        if cache.is_file():
            with np.load(cache) as data:
                if str(data["key"]) == key:
                    cached = dict(data)
        if cached is None or set(str(i) for i in cached["ids"]) != {k for k, _, _ in usable}:
            features, mouths = [], []
            for _, manifest, utterance in tqdm(usable, desc="features", mininterval=5):
                audio, rate = load_audio(manifest.audio_path(utterance))
                feature, mouth = clip_targets(
                    audio, rate, utterance.alignment, config["fps"], config["mel_context"]
                )
                features.append(feature.astype(np.float16))
                mouths.append(mouth)
            lengths = np.array([len(m) for m in mouths])
            tmp = cache.with_suffix(".tmp.npz")
            np.savez(
                tmp,
                key=np.array(key),
                ids=np.array([k for k, _, _ in usable]),
                lengths=lengths,
                features=np.concatenate(features),
                mouths=np.concatenate(mouths),
            )
            os.replace(tmp, cache)
    accelerator.wait_for_everyone()
    with np.load(cache) as data:
        ids = [str(i) for i in data["ids"]]
        bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
        features, mouths = data["features"], data["mouths"]
        row_of = {identifier: i for i, identifier in enumerate(ids)}
        clips = []
        for identifier, _, utterance in usable:
            i = row_of[identifier]
            clips.append(
                Clip(
                    id=identifier,
                    text=utterance.text,
                    features=features[bounds[i] : bounds[i + 1]],
                    mouth=mouths[bounds[i] : bounds[i + 1]],
                    emotion=utterance.emotion,
                    curve=utterance.curve,
                )
            )
    held_out = set(sorted({c.text for c in clips})[::-1][: config["validation_texts"]])
    train_clips = [c for c in clips if c.text not in held_out]
    validation = [c for c in clips if c.text in held_out]
    if not train_clips:
        raise EmogenError(f"validation_texts={config['validation_texts']} leaves nothing to train")
    return train_clips, validation, left_out


# ---------------------------------------------------------------------- 2. the loop


class MotionTrainingModule(torch.nn.Module):
    """The model and its diffusion loss, as one module for `accelerator.prepare`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def frame_emotion(self, batch: dict, num_frames: int) -> torch.Tensor:
        """`(B, T, E)`: the shifted embedding of each row's label, its curve read from the
        crop's start, or the null emotion for dropped rows."""
        from emogen.emotion.encoder import EmotionInputs
        from emogen.speech.acoustic import frame_emotion_embedding, shifted_embedding

        encoder = self.model.emotion_encoder
        inputs = EmotionInputs(batch["category_weights"], batch["vad"], batch["full"])
        labelled = shifted_embedding(encoder, inputs, batch["steps"], batch["drop"])
        period_ms = 1000.0 / self.model.config.fps
        rows = []
        for row, curve in enumerate(batch["curves"]):
            if curve is None or bool(batch["drop"][row]):
                rows.append(labelled[row][None].expand(num_frames, -1))
            else:
                offset = batch["offsets"][row]
                rows.append(frame_emotion_embedding(encoder, curve, num_frames, period_ms,
                                                    time_offset_s=offset))  # fmt: skip
        return torch.stack(rows)

    def forward(self, batch: dict, noise_scheduler) -> dict[str, torch.Tensor]:
        from emogen.speech.acoustic import training_target

        model = self.model
        clean = model.to_sample(batch["mouth"])
        emotion = self.frame_emotion(batch, clean.shape[1])
        condition, prior = model.encode_audio(batch["features"], emotion)
        # Grad-TTS: the prior by L2, the denoiser generates x - mu given mu (held fixed).
        residual = clean - prior.detach()
        noisy = noise_scheduler.add_noise(residual, batch["noise"], batch["timesteps"])
        prediction = model(noisy, batch["timesteps"], condition, emotion)
        wanted = training_target(noise_scheduler, residual, batch["noise"], batch["timesteps"])
        return {
            "prior": torch.nn.functional.mse_loss(prior, clean),
            "diffusion": torch.nn.functional.mse_loss(prediction, wanted),
        }


def draw_batch(clips: list[Clip], config: dict, generator: torch.Generator, num_timesteps: int,
               encoder, silence: np.ndarray) -> dict:  # fmt: skip
    """Random crops of random clips, padded with silence and the rest pose, with noise,
    timesteps and dropped rows (all from `generator`)."""
    from emogen.emotion import Emotion
    from emogen.face.visemes import REST, VISEMES
    from emogen.speech.acoustic import full_intensity_inputs

    size, length = config["batch_size"], config["crop_frames"]
    picks = torch.randint(len(clips), (size,), generator=generator).tolist()
    features = np.tile(silence.astype(np.float32), (size, length, 1))
    mouth = np.tile(np.asarray(VISEMES[REST], dtype=np.float32), (size, length, 1))
    offsets = []
    for row, index in enumerate(picks):
        clip = clips[index]
        spare = len(clip.mouth) - length
        start = int(torch.randint(spare + 1, (1,), generator=generator)) if spare > 0 else 0
        count = min(length, len(clip.mouth))
        features[row, :count] = clip.features[start : start + count]
        mouth[row, :count] = clip.mouth[start : start + count]
        offsets.append(start / config["fps"])
    chosen = [clips[i] for i in picks]
    # Curve rows get neutral placeholders here; their emotion is read from the curve.
    emotions = [c.emotion if c.emotion is not None else Emotion.neutral() for c in chosen]
    full, steps = full_intensity_inputs(encoder, emotions)
    return {
        "features": torch.from_numpy(features),
        "mouth": torch.from_numpy(mouth),
        "noise": torch.randn((size, length, mouth.shape[-1]), generator=generator),
        "timesteps": torch.randint(num_timesteps, (size,), generator=generator),
        "drop": torch.rand(size, generator=generator) < config["condition_dropout"],
        "category_weights": full.category_weights,
        "vad": full.vad,
        "full": full.intensity,
        "steps": steps,
        "curves": [c.curve for c in chosen],
        "offsets": offsets,
    }


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def validation_correlation(model, clips: list[Clip], num_inference_steps: int) -> float:
    """Mean Pearson correlation of predicted and target jaw opening over `clips` (seeded)."""
    values = []
    for clip in clips:
        features = torch.from_numpy(clip.features.astype(np.float32))[None]
        emotion = clip.emotion if clip.emotion is not None else clip.curve
        predicted = model.predict_from_features(
            features, emotion, num_inference_steps=num_inference_steps, generator=0
        )[:, 0]
        target = clip.mouth[:, 0]
        if predicted.std() > 1e-6 and target.std() > 1e-6:
            values.append(float(np.corrcoef(predicted, target)[0, 1]))
    return float(np.mean(values)) if values else math.nan


def train(
    config: dict[str, Any],
    manifest: str | os.PathLike | list[str | os.PathLike],
    out: str | os.PathLike,
    resume: bool = False,
    skip_bad: bool = False,
    stop_after: int | None = None,
    export: str | os.PathLike | None = None,
    init_from: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary (also written to `<out>/training_summary.json`
    when the run completes).

    Args:
        config: from `load_config`.
        manifest: the corpus manifest (JSONL) with alignments, or several (their utterances
            together).
        out: the run folder (feature cache, states, loss log, and the exported model).
        resume: continue from the newest state in `<out>/states` (a fresh start if none).
        skip_bad: leave bad manifest lines out instead of stopping.
        stop_after: end the loop after this step without saving anything more, as if the run
            were killed there (for tests of resuming).
        export: a folder to save the finished model to as well
            (`pipelines/talking-head/motion_model`).
        init_from: a saved `AudioToMotionModel` to start from (fine-tuning, e.g. on your own
            voice's corpus): its weights and feature statistics; a resumed run ignores it.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from emogen.recipes import (
        check_run_folder,
        evaluate_with_ema,
        optimisation_step,
        prepare_training,
        read_loss_log,
        record_run_config,
        run_summary,
        save_state,
        seeded_generator,
        training_bar,
        training_noise_scheduler,
        write_loss_log,
    )

    accelerator = Accelerator(mixed_precision=config["mixed_precision"])
    out = check_run_folder(out, config, resume, accelerator)

    # 1. Data (a bad manifest stops here, before anything is written but the feature cache).
    manifests = [manifest] if isinstance(manifest, str | os.PathLike) else list(manifest)
    clips, validation, left_out = build_data(
        [Path(m) for m in manifests], out, config, skip_bad, accelerator
    )
    record_run_config(out, config, accelerator)
    if any(left_out.values()):
        logger.info("left out: %s", left_out)
    set_seed(config["seed"])  # model initialisation; batches have their own generators

    # 2. Model (feature statistics from the training clips), optimiser, schedules.
    model = model_from_config(config)
    if init_from is not None:
        # Fine-tuning: the trained weights, and the feature statistics they were trained with.
        from emogen.errors import EmogenError
        from emogen.face.motion_model import AudioToMotionModel

        trained = AudioToMotionModel.from_pretrained(init_from)
        for key in ("mel_context", "audio_channels", "audio_layers", "denoiser_channels",
                    "denoiser_layers", "dilation_cycle", "emotion_hidden_size"):  # fmt: skip
            if trained.config[key] != model.config[key]:
                raise EmogenError(
                    f"--init-from {init_from} has {key}={trained.config[key]} but the config "
                    f"says {model.config[key]}: fine-tune with a config of the same model size"
                )
        model.load_state_dict(trained.state_dict())
    else:
        stacked = np.concatenate([c.features for c in clips]).astype(np.float32)
        model.set_feature_statistics(
            torch.from_numpy(stacked.mean(0)), torch.from_numpy(stacked.std(0))
        )
        del stacked
    silence = model.silence_features().numpy()
    noise_scheduler = training_noise_scheduler(config)
    module = MotionTrainingModule(model)
    num_parameters = sum(p.numel() for p in model.parameters())
    logger.info(
        "%d training clips (%d frames), %d validation clips; %d parameters",
        len(clips), sum(len(c.mouth) for c in clips), len(validation), num_parameters,
    )  # fmt: skip
    module, optimizer, lr_scheduler, ema, start_step = prepare_training(
        accelerator, module, config, out, resume
    )

    # 3. Resume: the loss log up to the loaded state.
    log_rows = read_loss_log(out / LOSS_LOG, start_step) if start_step else []

    num_timesteps = noise_scheduler.config.num_train_timesteps
    encoder = accelerator.unwrap_model(module).model.emotion_encoder
    # A fixed batch, the same in every run of this config, for a smooth loss curve.
    eval_batch = draw_batch(
        clips, config, seeded_generator(config["seed"], 1), num_timesteps, encoder, silence
    )
    eval_batch["drop"] = torch.zeros_like(eval_batch["drop"])

    def evaluate() -> tuple[float, float]:
        def measure(unwrapped) -> tuple[float, float]:
            losses = unwrapped(_to(eval_batch, accelerator.device), noise_scheduler)
            correlation = validation_correlation(
                unwrapped.model, validation, config["num_inference_steps"]
            )
            return float(sum(losses.values())), correlation

        return evaluate_with_ema(accelerator, module, ema, measure)

    def log_evaluation(row: dict) -> None:
        loss, correlation = evaluate()
        row["eval_loss"] = f"{loss:.6f}"
        row["val_jaw_r"] = "" if math.isnan(correlation) else f"{correlation:.4f}"

    if start_step == 0:
        log_rows = [{"step": 0, "seconds": 0}]
        log_evaluation(log_rows[0])
    started = time.perf_counter()
    window: dict[str, list[float]] = {name: [] for name in ("loss", *LOSS_NAMES)}
    module.train()
    last_step = min(config["steps"], stop_after) if stop_after is not None else config["steps"]
    bar = training_bar(accelerator, start_step, last_step, config["steps"], interval=5)
    for step in bar:
        generator = seeded_generator(config["seed"], 0, step, accelerator.process_index)
        batch = draw_batch(clips, config, generator, num_timesteps, encoder, silence)
        loss, losses = optimisation_step(
            accelerator,
            module,
            lambda batch=batch: module(_to(batch, accelerator.device), noise_scheduler),
            optimizer,
            lr_scheduler,
            config["max_grad_norm"],
            ema,
        )
        for name, value in (("loss", loss), *losses.items()):
            window[name].append(float(accelerator.reduce(value.detach(), reduction="mean")))

        if step % config["log_every"] == 0 or step == config["steps"]:
            row = {
                "step": step,
                "loss": f"{np.mean(window['loss']):.6f}",
                **{f"{n}_loss": f"{np.mean(window[n]):.6f}" for n in LOSS_NAMES},
                "lr": f"{lr_scheduler.get_last_lr()[0]:.3g}",
                "seconds": round(time.perf_counter() - started, 2),
            }
            if step % config["eval_every"] == 0 or step == config["steps"]:
                log_evaluation(row)
            log_rows.append(row)
            window = {name: [] for name in window}
            bar.set_postfix(loss=row["loss"], refresh=False)
            if accelerator.is_main_process:
                write_loss_log(out / LOSS_LOG, log_rows, LOG_FIELDS)
        if step % config["save_every"] == 0 and step < config["steps"]:
            save_state(accelerator, out, step, config["keep_states"])

    correlations = [r for r in log_rows if r.get("val_jaw_r")]
    summary = run_summary(
        accelerator, log_rows, config["steps"], last_step, start_step,
        time.perf_counter() - started,
        first_val_jaw_r=float(correlations[0]["val_jaw_r"]) if correlations else math.nan,
        final_val_jaw_r=float(correlations[-1]["val_jaw_r"]) if correlations else math.nan,
        num_parameters=num_parameters,
        num_clips=len(clips),
        num_validation_clips=len(validation),
        left_out=left_out,
    )  # fmt: skip
    completed = summary["completed"]
    if not completed:
        return summary

    # 4. Export (the EMA weights when there are).
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        final = accelerator.unwrap_model(module).model
        if ema is not None:
            ema.copy_to(accelerator.unwrap_model(module).parameters())
        final.eval().save_pretrained(out / MODEL)
        if export is not None:
            final.save_pretrained(export)
        (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        try:
            from emogen.recipes import plot_loss_log

            plot_loss_log(out / LOSS_LOG, out / "loss.png", f"audio-to-motion {out.name}")
        except ImportError:  # matplotlib is the eval extra's
            logger.info("no matplotlib: loss.png not drawn")
        logger.info("saved the model to %s: %s", out / MODEL, summary)
    accelerator.wait_for_everyone()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="tiny, base, or a YAML path")
    parser.add_argument(
        "--manifest", required=True, nargs="+", help="corpus manifests (JSONL) with alignments"
    )
    parser.add_argument(
        "--out", default=None, help="run folder (default checkpoints/audio-to-motion-<config>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest state")
    parser.add_argument("--skip-bad", action="store_true", help="leave bad manifest lines out")
    parser.add_argument("--stop-after", type=int, default=None, help="end after step N (tests)")
    parser.add_argument(
        "--export",
        default=None,
        help="also save the model here (pipelines/talking-head/motion_model)",
    )
    parser.add_argument("--init-from", default=None, help="a saved model to fine-tune (its folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)  # processes, not threads, share the cores
    config = load_config(args.config)
    out = args.out or ROOT / "checkpoints" / f"audio-to-motion-{Path(args.config).stem}"
    train(
        config, args.manifest, out, args.resume, args.skip_bad, args.stop_after, args.export,
        args.init_from,
    )  # fmt: skip


if __name__ == "__main__":
    main()
