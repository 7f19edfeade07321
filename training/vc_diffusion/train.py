"""Train the diffusion voice-conversion model (EmoReg, Singh et al. 2024) with Accelerate.

From a corpus manifest with parallel pairs (`Manifest.pairs()`: an emotional utterance and the
neutral one of the same text and voice), the denoiser learns p(emotional frames | neutral frames,
emotion): DDPM training (Ho et al. 2020) of `emogen.speech.acoustic.FrameDenoiser` jointly with
the shared `EmotionEncoder`, the emotion entering as EmoReg's shifted embedding and dropped to
the null emotion with `condition_dropout` for classifier-free guidance (Ho & Salimans 2022).

Steps:
    1. features: every paired wav -> `WorldVocoder(window_f0_floor=65, aperiodicity_stride=2)`
       -> `WorldFrameCoder` frames, split between processes and cached in `<out>/features/`;
       a `FrameNormalizer` fitted over them. The source is stretched to the target's length
       (`align_frames`: emotions change the speaking rate).
    2. an Accelerate loop over random aligned segments: prepare, backward, gradient clipping,
       optional EMA, the loss logged to `<out>/loss.csv`, `save_state` every `save_every` steps
       into `<out>/states/step-NNNNNNN` (`--resume` continues from the newest).
    3. `save_pretrained` of the whole `EmotionalVCPipeline` into `<out>/pipeline/` (denoiser,
       emotion encoder, normaliser, frame coder, vocoder, scheduler, the tempo bank fitted on the
       pairs' duration ratios (`fit_tempo`) and the pitch bank on their F0 statistics
       (`fit_pitch`), plus the renderer and estimator that neutralise a
       non-neutral input): `emogen vc --pipeline <out>/pipeline`.

Every batch is drawn from a generator seeded by (seed, step, process), so a resumed run sees the
batches, noise and timesteps the uninterrupted run would have seen: it ends on the same step
with the same weights.

    .venv/bin/python training/vc_diffusion/train.py --config tiny \\
        --manifest data/corpus-tiny/manifest.jsonl --out checkpoints/vc-diffusion-tiny
    ACCELERATE_USE_CPU=true .venv/bin/accelerate launch --multi_gpu --num_processes 2 \\
        training/vc_diffusion/train.py --config tiny --manifest ... --out ...
"""

from __future__ import annotations

import argparse
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
    # model
    "channels": int,  # FrameDenoiser width
    "num_layers": int,
    "dilation_cycle": int,
    "emotion_hidden_size": int,  # EmotionEncoder hidden_size (= the denoiser's emotion_dims)
    # diffusion
    "num_train_timesteps": int,
    "beta_schedule": str,  # diffusers DDPMScheduler beta_schedule
    "prediction_type": str,  # epsilon | v_prediction | sample
    # data
    "segment_frames": int,  # random crops of this many 5 ms frames
    "identity_pairs": bool,  # also learn neutral -> neutral (intensity 0 is the identity)
    # optimisation
    "steps": int,
    "batch_size": int,  # per process
    "learning_rate": float,
    "lr_schedule": str,  # diffusers.optimization.get_scheduler name
    "warmup_steps": int,
    "max_grad_norm": float,
    "condition_dropout": float,  # probability of the null emotion (classifier-free guidance)
    "ema_decay": (float, type(None)),  # null: no EMA
    "mixed_precision": str,  # no | fp16 | bf16
    # bookkeeping
    "log_every": int,
    "eval_every": int,  # loss on a fixed batch (fixed noise and timesteps): a smooth curve
    "save_every": int,
    "keep_states": int,  # newest save_state folders kept
    "seed": int,
}
FEATURES = "features"
LOSS_LOG = "loss.csv"
SUMMARY = "training_summary.json"
PIPELINE = "pipeline"

logger = logging.getLogger("vc_diffusion")


def load_config(name_or_path: str) -> dict[str, Any]:
    """Read `configs/<name>.yaml` or a YAML path, and check its keys, types and ranges."""
    from emogen.errors import EmogenError
    from emogen.recipes import load_recipe_config

    config = load_recipe_config(name_or_path, HERE / "configs", CONFIG_KEYS)
    path = name_or_path
    for key in ("steps", "batch_size", "segment_frames", "log_every", "eval_every", "save_every"):
        if config[key] < 1:
            raise EmogenError(f"{path}: {key} must be >= 1, got {config[key]}")
    if not 0.0 <= config["condition_dropout"] < 1.0:
        raise EmogenError(
            f"{path}: condition_dropout must be in [0, 1), got {config['condition_dropout']}"
        )
    return config


# ---------------------------------------------------------------------- 1. features


@dataclass
class PairData:
    """Normalised training pairs: targets[i] `(N_i, D)`, sources[i] aligned to it, and the
    emotion of each as EmoReg's direction inputs (at intensity 1) and step."""

    ids: list[str]
    targets: list[torch.Tensor]
    sources: list[torch.Tensor]
    emotions: list[str]
    category_weights: torch.Tensor  # (P, C)
    vad: torch.Tensor  # (P, 3)
    full_intensity: torch.Tensor  # (P,) ones
    steps: torch.Tensor  # (P,) intensities


def build_features(manifest_path: Path, out: Path, skip_bad: bool, accelerator) -> tuple:
    """Analyse every paired utterance (cached in `<out>/features/`), fit the normaliser.

    Returns:
        `(manifest, frames, vocoder, coder, normalizer, skipped)`: frames maps utterance id ->
        `(N, D)` float32 numpy frames; skipped lists pairs left out (no emotion label).
    """
    from emogen.speech.corpus import read_manifest
    from emogen.speech.feature_cache import cached_world_frames
    from emogen.speech.frames import FrameNormalizer, WorldFrameCoder
    from emogen.speech.world import WorldVocoder

    manifest = read_manifest(manifest_path, skip_bad=skip_bad)
    vocoder = WorldVocoder(window_f0_floor=65.0, aperiodicity_stride=2)
    coder = WorldFrameCoder()
    pairs = manifest.pairs()
    ids = sorted({u.id for pair in pairs for u in pair})
    frames = cached_world_frames(
        manifest, manifest_path, ids, out / FEATURES, vocoder, coder, accelerator
    )
    normalizer = FrameNormalizer.fit(frames[i] for i in ids)
    skipped = [emotional.id for emotional, _ in pairs if emotional.emotion is None]
    return manifest, frames, vocoder, coder, normalizer, skipped


def make_pairs(manifest, frames, normalizer, encoder, identity_pairs: bool) -> PairData:
    """Training pairs of labelled emotional utterances (curve utterances are left out: the
    conditioning is one emotion per utterance), plus neutral -> neutral ones if asked."""
    from emogen.speech.acoustic import align_frames, full_intensity_inputs

    chosen = [(e, n, e.emotion) for e, n in manifest.pairs() if e.emotion is not None]
    if identity_pairs:
        neutral_ids = sorted({n.id for _, n, _ in chosen})
        by_id = manifest.by_id()
        chosen += [(by_id[i], by_id[i], None) for i in neutral_ids]
    if not chosen:
        from emogen.errors import EmogenError

        raise EmogenError(
            "the manifest has no labelled parallel pair (an utterance with an emotion and a "
            "`pair` naming its neutral rendering): nothing to train voice conversion on"
        )
    ids, targets, sources, emotions = [], [], [], []
    for emotional, neutral, emotion in chosen:
        target = normalizer.normalize(frames[emotional.id])
        source = normalizer.normalize(align_frames(frames[neutral.id], target.shape[0]))
        ids.append(emotional.id if emotion is not None else f"{neutral.id}->itself")
        targets.append(torch.from_numpy(target))
        sources.append(torch.from_numpy(source))
        emotions.append("neutral" if emotion is None else emotion.label(digits=None))
    # A neutral pair's direction is e(neutral) - e(neutral) = 0: the origin, at any step.
    full, steps = full_intensity_inputs(encoder, emotions)
    return PairData(
        ids, targets, sources, emotions, full.category_weights, full.vad, full.intensity, steps
    )


TEMPO_MIN_LOG_RATIO = 1e-3  # a category whose mean log length ratio is below this keeps the rate


def fit_tempo(manifest, frames):
    """The tempo bank: each labelled emotional utterance's log duration ratio over its neutral
    pair (same words, voice and seed), fitted per category as EmoReg's directions in a
    one-feature space (`DirectionBank`; neutral is 0, so the fit reads mean(log ratio) / s).
    Categories that keep the rate (|mean log ratio| < `TEMPO_MIN_LOG_RATIO`) get no direction:
    the pipeline's tempo then adds nothing for them. None when no category changes the rate."""
    from emogen.emotion import DirectionBank

    chosen = [(e, n) for e, n in manifest.pairs() if e.emotion is not None]
    ratios = np.array([math.log(len(frames[e.id]) / len(frames[n.id])) for e, n in chosen])
    labels = [e.emotion.category or e.emotion.label() for e, _ in chosen]
    moving = {
        label
        for label in set(labels)
        if abs(ratios[[x == label for x in labels]].mean()) >= TEMPO_MIN_LOG_RATIO
    }
    keep = [i for i, label in enumerate(labels) if label in moving]
    if not keep:
        logger.info("no emotion of the corpus changes the speaking rate: no tempo bank")
        return None
    logger.info("tempo: %s keep the rate", sorted(set(labels) - moving) or "no category")
    return DirectionBank.fit(
        ratios[keep, None],
        [chosen[i][0].emotion for i in keep],
        neutral_features=np.zeros((1, 1)),
        feature_names=["log_duration_ratio"],
    )


def fit_pitch(manifest, frames, layout):
    """The pitch bank: each labelled emotional utterance's voiced log-F0 mean shift and log
    standard-deviation ratio over its neutral pair, fitted per category as EmoReg's directions
    in that two-feature space (`DirectionBank`; neutral is 0). The pipeline applies it with
    `convert_pitch` (the log-Gaussian transform). None when no pair has two voiced contours."""
    from emogen.emotion import DirectionBank
    from emogen.speech.acoustic import PITCH_FEATURES, pitch_statistics

    def statistics(utterance):
        rows = frames[utterance.id]
        return pitch_statistics(rows[rows[:, layout.voicing] > 0.5, layout.log_f0])

    rows, emotions = [], []
    for emotional, neutral in manifest.pairs():
        if emotional.emotion is None:
            continue
        target, source = statistics(emotional), statistics(neutral)
        if target is not None and source is not None:
            rows.append([target[0] - source[0], math.log(target[1] / source[1])])
            emotions.append(emotional.emotion)
    if not rows:
        logger.info("no pair of the corpus has two voiced contours: no pitch bank")
        return None
    return DirectionBank.fit(
        np.array(rows),
        emotions,
        neutral_features=np.zeros((1, len(PITCH_FEATURES))),
        feature_names=list(PITCH_FEATURES),
    )


# ---------------------------------------------------------------------- 2. the loop


class VCTrainingModule(torch.nn.Module):
    """Denoiser + emotion encoder as one module, so that one `prepare` (one DDP wrapper) syncs
    both; forward is one training prediction."""

    def __init__(self, denoiser, emotion_encoder):
        super().__init__()
        self.denoiser = denoiser
        self.emotion_encoder = emotion_encoder

    def forward(self, noisy, timesteps, source, category_weights, vad, full, steps, drop):
        from emogen.emotion.encoder import EmotionInputs
        from emogen.speech.acoustic import shifted_embedding

        inputs = EmotionInputs(category_weights, vad, full)
        embedding = shifted_embedding(self.emotion_encoder, inputs, steps, drop_condition=drop)
        return self.denoiser(noisy, timesteps, source, embedding).sample


def draw_batch(data: PairData, config: dict, generator: torch.Generator, num_timesteps: int):
    """Random aligned segments of random pairs, noise, timesteps and dropped rows (all from
    `generator`). Utterances shorter than a segment are zero-padded; `mask` marks real frames."""
    size, length = config["batch_size"], config["segment_frames"]
    index = torch.randint(len(data.targets), (size,), generator=generator)
    dims = data.targets[0].shape[1]
    target = torch.zeros(size, length, dims)
    source = torch.zeros(size, length, data.sources[0].shape[1])
    mask = torch.zeros(size, length, 1)
    for row, i in enumerate(index.tolist()):
        num_frames = data.targets[i].shape[0]
        start = int(torch.randint(max(1, num_frames - length + 1), (1,), generator=generator))
        used = min(length, num_frames - start)
        target[row, :used] = data.targets[i][start : start + used]
        source[row, :used] = data.sources[i][start : start + used]
        mask[row, :used] = 1.0
    noise = torch.randn(target.shape, generator=generator)
    timesteps = torch.randint(num_timesteps, (size,), generator=generator)
    drop = torch.rand(size, generator=generator) < config["condition_dropout"]
    return {
        "target": target,
        "source": source,
        "mask": mask,
        "noise": noise,
        "timesteps": timesteps,
        "drop": drop,
        "category_weights": data.category_weights[index],
        "vad": data.vad[index],
        "full": data.full_intensity[index],
        "steps": data.steps[index],
    }


def batch_loss(model, scheduler, batch: dict, device) -> torch.Tensor:
    """Masked MSE between the prediction and the scheduler's target (`training_target`)."""
    from emogen.speech.acoustic import training_target

    batch = {k: v.to(device) for k, v in batch.items()}
    noisy = scheduler.add_noise(batch["target"], batch["noise"], batch["timesteps"])
    target = training_target(scheduler, batch["target"], batch["noise"], batch["timesteps"])
    prediction = model(
        noisy,
        batch["timesteps"],
        batch["source"],
        batch["category_weights"],
        batch["vad"],
        batch["full"],
        batch["steps"],
        batch["drop"],
    )
    squared = (prediction.float() - target.float()) ** 2 * batch["mask"]
    return squared.sum() / (batch["mask"].sum() * target.shape[-1]).clamp(min=1.0)


LOG_FIELDS = ["step", "loss", "eval_loss", "lr", "seconds"]


def train(
    config: dict[str, Any],
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    resume: bool = False,
    skip_bad: bool = False,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary (also written to `<out>/training_summary.json`
    when the run completes).

    Args:
        config: from `load_config`.
        manifest: the corpus manifest (JSONL).
        out: the run folder (features cache, states, loss log, and the exported model).
        resume: continue from the newest state in `<out>/states` (a fresh start if none).
        skip_bad: leave bad manifest lines out instead of stopping (`read_manifest(skip_bad=)`).
        stop_after: end the loop after this step without saving anything more, as if the run
            were killed there (for tests of resuming).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from emogen.emotion.encoder import EmotionEncoder
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
    from emogen.speech.acoustic import FrameDenoiser

    accelerator = Accelerator(mixed_precision=config["mixed_precision"])
    out = check_run_folder(out, config, resume, accelerator)
    record_run_config(out, config, accelerator)
    set_seed(config["seed"])  # model initialisation; batches have their own generators

    # 1. Features.
    manifest_path = Path(manifest)
    corpus, frames, vocoder, coder, normalizer, skipped = build_features(
        manifest_path, out, skip_bad, accelerator
    )
    if skipped:
        logger.info("%d curve pairs left out (no single emotion label)", len(skipped))

    # 2. Models, optimiser, schedules.
    # The encoder's own dropouts are off: the recipe drops the whole condition itself
    # (condition_dropout), the same for both passes of EmoReg's shifted embedding.
    encoder = EmotionEncoder(
        hidden_size=config["emotion_hidden_size"],
        condition_dropout_prob=0.0,
        attribute_dropout_prob=0.0,
    )
    denoiser = FrameDenoiser(
        frame_dims=coder.layout.dims,
        condition_dims=coder.layout.dims,
        emotion_dims=config["emotion_hidden_size"],
        channels=config["channels"],
        num_layers=config["num_layers"],
        dilation_cycle=config["dilation_cycle"],
    )
    noise_scheduler = training_noise_scheduler(config)
    data = make_pairs(corpus, frames, normalizer, encoder, config["identity_pairs"])
    model = VCTrainingModule(denoiser, encoder)
    num_parameters = sum(p.numel() for p in model.parameters())
    logger.info(
        "%d training pairs (%d frames); %d parameters",
        len(data.targets),
        sum(t.shape[0] for t in data.targets),
        num_parameters,
    )
    model, optimizer, lr_scheduler, ema, start_step = prepare_training(
        accelerator, model, config, out, resume
    )

    # 3. Resume: the loss log up to the loaded state.
    log_rows = read_loss_log(out / LOSS_LOG, start_step) if start_step else []

    # A fixed batch, the same in every run of this config, for a smooth loss curve.
    eval_batch = draw_batch(
        data,
        config,
        seeded_generator(config["seed"], 1),
        noise_scheduler.config.num_train_timesteps,
    )
    eval_batch["drop"] = torch.zeros_like(eval_batch["drop"])

    def evaluate() -> float:
        return evaluate_with_ema(
            accelerator,
            model,
            ema,
            lambda module: float(
                batch_loss(module, noise_scheduler, eval_batch, accelerator.device)
            ),
        )

    def write_log() -> None:
        if accelerator.is_main_process:
            write_loss_log(out / LOSS_LOG, log_rows, LOG_FIELDS)

    if start_step == 0:
        log_rows = [
            {"step": 0, "loss": "", "eval_loss": f"{evaluate():.6f}", "lr": "", "seconds": 0}
        ]
    started = time.perf_counter()
    window: list[float] = []
    model.train()
    last_step = min(config["steps"], stop_after) if stop_after is not None else config["steps"]
    bar = training_bar(accelerator, start_step, last_step, config["steps"])
    for step in bar:
        generator = seeded_generator(config["seed"], 0, step, accelerator.process_index)
        batch = draw_batch(data, config, generator, noise_scheduler.config.num_train_timesteps)
        loss, _ = optimisation_step(
            accelerator,
            model,
            lambda batch=batch: batch_loss(model, noise_scheduler, batch, accelerator.device),
            optimizer,
            lr_scheduler,
            config["max_grad_norm"],
            ema,
        )
        window.append(float(accelerator.reduce(loss.detach(), reduction="mean")))

        if step % config["log_every"] == 0 or step == config["steps"]:
            evaluated = step % config["eval_every"] == 0 or step == config["steps"]
            row = {
                "step": step,
                "loss": f"{np.mean(window):.6f}",
                "eval_loss": f"{evaluate():.6f}" if evaluated else "",
                "lr": f"{lr_scheduler.get_last_lr()[0]:.3g}",
                "seconds": round(time.perf_counter() - started, 2),
            }
            log_rows.append(row)
            window = []
            bar.set_postfix(loss=row["loss"], refresh=False)  # shown at the next bar update
            write_log()
        if step % config["save_every"] == 0 and step < config["steps"]:
            save_state(accelerator, out, step, config["keep_states"])

    summary = run_summary(
        accelerator, log_rows, config["steps"], last_step, start_step,
        time.perf_counter() - started,
        num_parameters=num_parameters,
        num_pairs=len(data.targets),
    )  # fmt: skip
    completed = summary["completed"]
    if not completed:
        return summary

    # 4. Export (the EMA weights when there are).
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        module = accelerator.unwrap_model(model)
        if ema is not None:
            ema.copy_to(module.parameters())
        export_pipeline(
            out / PIPELINE,
            module.denoiser,
            module.emotion_encoder,
            noise_scheduler,
            coder,
            normalizer,
            vocoder,
            fit_tempo(corpus, frames),
            fit_pitch(corpus, frames, coder.layout),
        )
        (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        logger.info("saved the model to %s: %s", out, summary)
    accelerator.wait_for_everyone()
    return summary


def export_pipeline(
    folder: Path,
    denoiser,
    emotion_encoder,
    noise_scheduler,
    coder,
    normalizer,
    vocoder,
    tempo=None,
    pitch=None,
) -> None:
    """Save a loadable `EmotionalVCPipeline` (`load_pipeline(folder)`, `emogen vc --pipeline`).

    Sampling uses DPM-Solver++ (Lu et al. 2022) with the training schedule: ~20 steps do what
    DDPM needs hundreds for; any other diffusers scheduler can replace it. The rule-based
    renderer and the source-emotion estimator come along to take a non-neutral input's emotion
    out before conversion (the model learned neutral -> emotional).
    """
    from diffusers import DPMSolverMultistepScheduler

    from emogen.pipelines.vc import EmotionalVCPipeline
    from emogen.speech.estimator import SpeechEmotionEstimator
    from emogen.speech.renderer import EmotionRenderer

    pipe = EmotionalVCPipeline(
        vocoder=vocoder,
        renderer=EmotionRenderer(),
        estimator=SpeechEmotionEstimator.default(),
        denoiser=denoiser,
        emotion_encoder=emotion_encoder,
        scheduler=DPMSolverMultistepScheduler.from_config(noise_scheduler.config),
        frame_coder=coder,
        frame_normalizer=normalizer,
        tempo=tempo,
        pitch=pitch,
    )
    pipe.save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="tiny, base, or a YAML path")
    parser.add_argument("--manifest", required=True, help="corpus manifest (JSONL) with pairs")
    parser.add_argument(
        "--out", default=None, help="run folder (default checkpoints/vc-diffusion-<config>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest state")
    parser.add_argument("--skip-bad", action="store_true", help="leave bad manifest lines out")
    parser.add_argument("--stop-after", type=int, default=None, help="end after step N (tests)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)  # processes, not threads, share the cores
    config = load_config(args.config)
    out = args.out or ROOT / "checkpoints" / f"vc-diffusion-{Path(args.config).stem}"
    train(config, args.manifest, out, args.resume, args.skip_bad, args.stop_after)


if __name__ == "__main__":
    main()
