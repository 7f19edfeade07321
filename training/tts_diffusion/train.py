"""Train the diffusion TTS (`emogen.speech.diffusion_tts`) with Accelerate.

From a corpus manifest with phoneme alignments (training/speech_corpus writes them), the
acoustic model learns phonemes + emotion -> durations, pitch, energy and prior frames mu
(FastSpeech 2, Ren et al. 2021; FastPitch, Łańcucki 2021; Grad-TTS, Popov et al. 2021), and
`FrameDenoiser` the residual frames - mu by DDPM training (Ho et al. 2020), jointly with the
shared `EmotionEncoder` (EmoReg's shifted embedding, Singh et al. 2024), the whole emotion
dropped to the null one with `condition_dropout` for classifier-free guidance (Ho & Salimans
2022).

Steps:
    1. features: every wav -> `WorldVocoder(window_f0_floor=65, aperiodicity_stride=2)` ->
       `WorldFrameCoder` frames, split between processes and cached in `<out>/features/`
       (`emogen.speech.feature_cache`); a `FrameNormalizer` fitted over them. Each utterance is
       cut into its sentences (the pipeline speaks sentence by sentence), each from its first
       phoneme's start to its last phoneme's end, with duration targets from the alignment
       (`phoneme_frame_durations`). Curve utterances train too: their emotion per frame is
       the curve on the utterance's time line (`frame_emotion_embedding`), per phoneme its mean
       over the phoneme's frames.
    2. an Accelerate loop over batches of whole sentences of similar length (padded, masked):
       prepare, backward, gradient clipping, optional EMA, each loss logged to `<out>/loss.csv`,
       `save_state` every `save_every` steps into `<out>/states/step-NNNNNNN` (`--resume`
       continues from the newest).
    3. `EmotionalTTSPipeline(...).save_pretrained(<out>/pipeline)`: load it with
       `load_pipeline` or `emogen tts --pipeline <out>/pipeline`.

Every batch is drawn from a generator seeded by (seed, step, process), so a resumed run sees the
batches, noise and timesteps the uninterrupted run would have seen: it ends on the same step
with the same weights.

    .venv/bin/python training/tts_diffusion/train.py --config tiny \\
        --manifest data/corpus-tiny/manifest.jsonl --out checkpoints/tts-diffusion-tiny
    ACCELERATE_USE_CPU=true .venv/bin/accelerate launch --multi_gpu --num_processes 2 \\
        training/tts_diffusion/train.py --config base --manifest ... --out ...
"""

from __future__ import annotations

import argparse
import json
import logging
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
    # acoustic model (emogen.speech.diffusion_tts.PhonemeAcousticModel)
    "hidden_size": int,
    "num_heads": int,
    "num_encoder_layers": int,
    "num_decoder_layers": int,
    "decoder_kernel_size": int,
    "dropout": float,
    # denoiser (FrameDenoiser) and emotion encoder
    "denoiser_channels": int,
    "denoiser_layers": int,
    "dilation_cycle": int,
    "emotion_hidden_size": int,
    # diffusion
    "num_train_timesteps": int,
    "beta_schedule": str,  # diffusers DDPMScheduler beta_schedule
    "prediction_type": str,  # epsilon | v_prediction | sample
    # data
    "voice": str,  # the PiperVoice whose phonemizer and ids make the tokens
    "max_sentence_frames": int,  # longer sentences are left out (memory); 5 ms frames
    # optimisation
    "steps": int,
    "batch_size": int,  # sentences per process and step
    "learning_rate": float,
    "lr_schedule": str,  # diffusers.optimization.get_scheduler name
    "warmup_steps": int,
    "max_grad_norm": float,
    "condition_dropout": float,  # probability of the null emotion (classifier-free guidance)
    "ema_decay": (float, type(None)),  # null: no EMA
    "mixed_precision": str,  # no | fp16 | bf16
    # the exported pipeline's defaults
    "num_inference_steps": int,
    "emotion_guidance_scale": float,
    # bookkeeping
    "log_every": int,
    "eval_every": int,  # losses on a fixed batch (fixed noise and timesteps): a smooth curve
    "save_every": int,
    "keep_states": int,  # newest save_state folders kept
    "seed": int,
}
FEATURES = "features"
LOSS_LOG = "loss.csv"
SUMMARY = "training_summary.json"
PIPELINE = "pipeline"
LOSS_NAMES = ("duration", "pitch", "energy", "prior", "diffusion")
# Sentences of similar length are batched together: a batch is drawn from one bucket of
# BUCKET_BATCHES batches' worth of sentences, sorted by length.
BUCKET_BATCHES = 4

logger = logging.getLogger("tts_diffusion")


def load_config(name_or_path: str) -> dict[str, Any]:
    """Read `configs/<name>.yaml` or a YAML path, and check its keys, types and ranges."""
    from emogen.errors import EmogenError
    from emogen.recipes import load_recipe_config

    config = load_recipe_config(name_or_path, HERE / "configs", CONFIG_KEYS)
    path = name_or_path
    for key in (
        "steps",
        "batch_size",
        "max_sentence_frames",
        "log_every",
        "eval_every",
        "save_every",
        "num_inference_steps",
    ):
        if config[key] < 1:
            raise EmogenError(f"{path}: {key} must be >= 1, got {config[key]}")
    if not 0.0 <= config["condition_dropout"] < 1.0:
        raise EmogenError(
            f"{path}: condition_dropout must be in [0, 1), got {config['condition_dropout']}"
        )
    if config["emotion_guidance_scale"] < 0:
        raise EmogenError(f"{path}: emotion_guidance_scale must be >= 0")
    return config


# ---------------------------------------------------------------------- 1. data


@dataclass
class Sentence:
    """One training sentence: tokens, duration targets and normalised frames, and its emotion
    (a label, or a curve read from `offset_s` of its utterance's time line)."""

    id: str
    tokens: torch.Tensor  # (P,) int64
    durations: torch.Tensor  # (P,) int64, summing to frames.shape[0]
    frames: torch.Tensor  # (T, D) normalised
    emotion: Any  # Emotion or None
    curve: Any  # EmotionCurve or None
    offset_s: float


def build_data(manifest_path: Path, out: Path, config: dict, skip_bad: bool, accelerator) -> tuple:
    """Read and check the manifest, analyse its audio (cached), cut it into sentences.

    Returns:
        `(sentences, voice, vocoder, coder, normalizer, left_out)`; left_out counts the
        utterances without alignment or emotion, and sentences over `max_sentence_frames`.

    Raises:
        ManifestError: bad manifest lines, or lines whose alignment does not match the voice's
            phonemes (all listed with their line numbers), unless `skip_bad`.
    """
    from emogen.emotion.text import split_sentences
    from emogen.errors import EmogenError
    from emogen.speech.corpus import ManifestError, ManifestProblem, read_manifest
    from emogen.speech.diffusion_tts import phoneme_tokens
    from emogen.speech.feature_cache import cached_world_frames
    from emogen.speech.frames import FrameNormalizer, WorldFrameCoder, sentence_segments
    from emogen.speech.voice import PiperVoice
    from emogen.speech.world import WorldVocoder

    manifest = read_manifest(manifest_path, skip_bad=skip_bad)
    voice = PiperVoice(config["voice"])
    vocoder = WorldVocoder(window_f0_floor=65.0, aperiodicity_stride=2)
    coder = WorldFrameCoder()
    if voice.sample_rate != coder.config.sample_rate:
        raise EmogenError(
            f"the voice speaks at {voice.sample_rate} Hz but the frame coder codes "
            f"{coder.config.sample_rate} Hz"
        )
    usable = [
        u
        for u in manifest
        if u.alignment is not None and (u.emotion is not None or u.curve is not None)
    ]
    left_out = {"no alignment or emotion": len(manifest) - len(usable), "too long": 0}
    if not usable:
        raise EmogenError(
            f"{manifest_path}: no utterance has both an alignment and an emotion (or curve); "
            "build the corpus with training/speech_corpus/build.py"
        )

    # Phonemes per text (a corpus says each text in many emotions), checked against the
    # alignments before any audio is analysed.
    line_of = {}
    for number, line in enumerate(manifest_path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            line_of.setdefault(json.loads(line).get("id"), number)
    phonemes_of: dict[str, list[str]] = {}
    problems, checked = [], []
    for utterance in usable:
        try:
            if utterance.text not in phonemes_of:
                phonemes_of[utterance.text] = [
                    voice.phonemize(s) for s in split_sentences(utterance.text)
                ]
            sentence_segments(utterance, phonemes_of[utterance.text], 10**9, 5.0)
            checked.append(utterance)
        except EmogenError as error:
            problems.append(ManifestProblem(line_of.get(utterance.id, 0), str(error)))
    if problems:
        report = f"{manifest_path}: {len(problems)} lines do not fit the voice:\n" + "\n".join(
            f"  {problem}" for problem in problems
        )
        if not skip_bad:
            raise ManifestError(report + "\nFix them, or pass --skip-bad to leave them out.")
        logger.warning("%s\nThese lines are left out (--skip-bad).", report)

    frames = cached_world_frames(
        manifest, manifest_path, [u.id for u in checked], out / FEATURES, vocoder, coder,
        accelerator,
    )  # fmt: skip
    normalizer = FrameNormalizer.fit(frames[u.id] for u in checked)
    period = coder.config.frame_period_ms
    sentences = []
    for utterance in checked:
        normalised = normalizer.normalize(frames[utterance.id])
        phonemes = phonemes_of[utterance.text]
        segments = sentence_segments(utterance, phonemes, normalised.shape[0], period)
        for index, (text, (start, end, durations)) in enumerate(zip(phonemes, segments)):
            if end - start > config["max_sentence_frames"]:
                left_out["too long"] += 1
                continue
            sentences.append(
                Sentence(
                    id=f"{utterance.id}#{index}",
                    tokens=torch.from_numpy(phoneme_tokens(voice, text)),
                    durations=torch.from_numpy(durations),
                    frames=torch.from_numpy(normalised[start:end]),
                    emotion=utterance.emotion,
                    curve=utterance.curve,
                    offset_s=start * period / 1000.0,
                )
            )
    if not sentences:
        raise EmogenError(f"{manifest_path}: no sentence left to train on ({left_out})")
    return sentences, voice, vocoder, coder, normalizer, left_out


# ---------------------------------------------------------------------- 2. the loop


class TTSTrainingModule(torch.nn.Module):
    """Acoustic model + denoiser + emotion encoder as one module, so that one `prepare` (one
    DDP wrapper) syncs them; forward returns the losses of a batch."""

    def __init__(self, acoustic_model, denoiser, emotion_encoder, frame_period_ms: float):
        super().__init__()
        self.acoustic_model = acoustic_model
        self.denoiser = denoiser
        self.emotion_encoder = emotion_encoder
        self.frame_period_ms = frame_period_ms

    def frame_emotion(self, batch: dict, num_frames: int) -> torch.Tensor:
        """`(B, T, E)` emotion per frame: EmoReg's shifted embedding of the label, a curve read
        on the utterance's time line, or the null emotion for dropped rows."""
        from emogen.emotion.encoder import EmotionInputs
        from emogen.speech.acoustic import frame_emotion_embedding, shifted_embedding

        encoder = self.emotion_encoder
        inputs = EmotionInputs(batch["category_weights"], batch["vad"], batch["full"])
        labelled = shifted_embedding(encoder, inputs, batch["steps"], batch["drop"])
        rows = []
        for row, curve in enumerate(batch["curves"]):
            if curve is None or bool(batch["drop"][row]):
                rows.append(labelled[row][None].expand(num_frames, -1))
                continue
            length = int(batch["durations"][row].sum())
            track = frame_emotion_embedding(
                encoder, curve, length, self.frame_period_ms, time_offset_s=batch["offsets"][row]
            )
            rows.append(torch.cat([track, track[-1:].expand(num_frames - length, -1)]))
        return torch.stack(rows)

    def forward(self, batch: dict, noise_scheduler) -> dict[str, torch.Tensor]:
        from emogen.speech.acoustic import training_target
        from emogen.speech.diffusion_tts import (
            ENERGY_COLUMN,
            PITCH_COLUMN,
            phoneme_average,
        )

        target, durations = batch["frames"], batch["durations"]
        phoneme_mask, frame_mask = batch["phoneme_mask"], batch["frame_mask"]
        frame_emotion = self.frame_emotion(batch, target.shape[1])
        phoneme_emotion = phoneme_average(frame_emotion, durations)
        # FastPitch: targets are the per-phoneme means of the frames' pitch and energy.
        averaged = phoneme_average(target[..., [PITCH_COLUMN, ENERGY_COLUMN]], durations)
        pitch, energy = averaged[..., 0], averaged[..., 1]
        out = self.acoustic_model(
            batch["tokens"], phoneme_mask, phoneme_emotion, durations, pitch, energy, frame_emotion
        )
        voiced = (phoneme_mask & (durations > 0)).float()
        losses = {
            "duration": _masked_mse(
                out.variances.log_durations, torch.log1p(durations.float()), phoneme_mask.float()
            ),
            "pitch": _masked_mse(out.variances.pitch, pitch, voiced),
            "energy": _masked_mse(out.variances.energy, energy, voiced),
            "prior": _masked_mse(out.mu, target, frame_mask.float()[..., None]),
        }
        # Grad-TTS: the diffusion decoder generates x - mu given mu (mu held fixed here).
        mu = out.mu.detach()
        residual = target - mu
        timesteps, noise = batch["timesteps"], batch["noise"]
        noisy = noise_scheduler.add_noise(residual, noise, timesteps)
        prediction = self.denoiser(noisy, timesteps, mu, frame_emotion).sample
        wanted = training_target(noise_scheduler, residual, noise, timesteps)
        losses["diffusion"] = _masked_mse(prediction, wanted, frame_mask.float()[..., None])
        return losses


def _masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
    squared = (prediction.float() - target.float()) ** 2 * mask
    per_row = prediction.shape[-1] if prediction.ndim == 3 else 1
    return squared.sum() / (mask.sum() * per_row).clamp(min=1.0)


def make_buckets(sentences: list[Sentence], batch_size: int) -> list[list[int]]:
    """Sentence indices sorted by length, in buckets of `BUCKET_BATCHES * batch_size`."""
    order = sorted(range(len(sentences)), key=lambda i: sentences[i].frames.shape[0])
    size = max(batch_size, BUCKET_BATCHES * batch_size)
    return [order[i : i + size] for i in range(0, len(order), size)]


def draw_batch(
    sentences: list[Sentence],
    buckets: list[list[int]],
    config: dict,
    generator: torch.Generator,
    num_timesteps: int,
    encoder,
) -> dict:
    """Sentences of one random bucket, padded, with noise, timesteps and dropped rows (all from
    `generator`)."""
    from emogen.emotion import Emotion
    from emogen.speech.acoustic import full_intensity_inputs

    size = config["batch_size"]
    bucket = buckets[int(torch.randint(len(buckets), (1,), generator=generator))]
    picks = torch.randint(len(bucket), (size,), generator=generator).tolist()
    chosen = [sentences[bucket[i]] for i in picks]
    num_phonemes = max(s.tokens.shape[0] for s in chosen)
    num_frames = max(s.frames.shape[0] for s in chosen)
    dims = chosen[0].frames.shape[1]
    tokens = torch.zeros(size, num_phonemes, dtype=torch.long)
    durations = torch.zeros(size, num_phonemes, dtype=torch.long)
    phoneme_mask = torch.zeros(size, num_phonemes, dtype=torch.bool)
    frames = torch.zeros(size, num_frames, dims)
    frame_mask = torch.zeros(size, num_frames, dtype=torch.bool)
    for row, sentence in enumerate(chosen):
        length, count = sentence.tokens.shape[0], sentence.frames.shape[0]
        tokens[row, :length] = sentence.tokens
        durations[row, :length] = sentence.durations
        phoneme_mask[row, :length] = True
        frames[row, :count] = sentence.frames
        frame_mask[row, :count] = True
    # Curve rows get neutral placeholders here; their emotion is read from the curve.
    emotions = [s.emotion if s.emotion is not None else Emotion.neutral() for s in chosen]
    full, steps = full_intensity_inputs(encoder, emotions)
    return {
        "tokens": tokens,
        "durations": durations,
        "phoneme_mask": phoneme_mask,
        "frames": frames,
        "frame_mask": frame_mask,
        "noise": torch.randn(frames.shape, generator=generator),
        "timesteps": torch.randint(num_timesteps, (size,), generator=generator),
        "drop": torch.rand(size, generator=generator) < config["condition_dropout"],
        "category_weights": full.category_weights,
        "vad": full.vad,
        "full": full.intensity,
        "steps": steps,
        "curves": [s.curve for s in chosen],
        "offsets": [s.offset_s for s in chosen],
    }


def _to(batch: dict, device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


LOG_FIELDS = ["step", "loss", *(f"{n}_loss" for n in LOSS_NAMES), "eval_loss", "lr", "seconds"]


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
        manifest: the corpus manifest (JSONL) with alignments.
        out: the run folder (features cache, states, loss log, and the exported pipeline).
        resume: continue from the newest state in `<out>/states` (a fresh start if none).
        skip_bad: leave bad manifest lines out instead of stopping (`read_manifest(skip_bad=)`).
        stop_after: end the loop after this step without saving anything more, as if the run
            were killed there (for tests of resuming).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers import DPMSolverMultistepScheduler

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
    from emogen.speech.diffusion_tts import PhonemeAcousticModel

    accelerator = Accelerator(mixed_precision=config["mixed_precision"])
    out = check_run_folder(out, config, resume, accelerator)

    # 1. Data (a bad manifest stops here, before anything is written).
    sentences, voice, vocoder, coder, normalizer, left_out = build_data(
        Path(manifest), out, config, skip_bad, accelerator
    )
    record_run_config(out, config, accelerator)
    if any(left_out.values()):
        logger.info("left out: %s", left_out)
    set_seed(config["seed"])  # model initialisation; batches have their own generators

    # 2. Models, optimiser, schedules.
    # The encoder's own dropouts are off: the recipe drops the whole condition itself.
    encoder = EmotionEncoder(
        hidden_size=config["emotion_hidden_size"],
        condition_dropout_prob=0.0,
        attribute_dropout_prob=0.0,
    )
    acoustic_model = PhonemeAcousticModel(
        vocab_size=max(max(ids) for ids in voice.phoneme_id_map.values()) + 1,
        frame_dims=coder.layout.dims,
        emotion_dims=config["emotion_hidden_size"],
        hidden_size=config["hidden_size"],
        num_heads=config["num_heads"],
        num_encoder_layers=config["num_encoder_layers"],
        num_decoder_layers=config["num_decoder_layers"],
        decoder_kernel_size=config["decoder_kernel_size"],
        dropout=config["dropout"],
    )
    denoiser = FrameDenoiser(
        frame_dims=coder.layout.dims,
        condition_dims=coder.layout.dims,
        emotion_dims=config["emotion_hidden_size"],
        channels=config["denoiser_channels"],
        num_layers=config["denoiser_layers"],
        dilation_cycle=config["dilation_cycle"],
    )
    noise_scheduler = training_noise_scheduler(config)
    model = TTSTrainingModule(acoustic_model, denoiser, encoder, coder.config.frame_period_ms)
    num_parameters = {
        "acoustic_model": sum(p.numel() for p in acoustic_model.parameters()),
        "denoiser": sum(p.numel() for p in denoiser.parameters()),
        "emotion_encoder": sum(p.numel() for p in encoder.parameters()),
    }
    logger.info(
        "%d sentences (%d frames); parameters %s",
        len(sentences),
        sum(s.frames.shape[0] for s in sentences),
        num_parameters,
    )
    buckets = make_buckets(sentences, config["batch_size"])
    model, optimizer, lr_scheduler, ema, start_step = prepare_training(
        accelerator, model, config, out, resume
    )

    # 3. Resume: the loss log up to the loaded state.
    log_rows = read_loss_log(out / LOSS_LOG, start_step) if start_step else []

    num_timesteps = noise_scheduler.config.num_train_timesteps
    # A fixed batch, the same in every run of this config, for a smooth loss curve.
    eval_batch = draw_batch(
        sentences, buckets, config, seeded_generator(config["seed"], 1), num_timesteps, encoder
    )
    eval_batch["drop"] = torch.zeros_like(eval_batch["drop"])

    def evaluate() -> float:
        def measure(module) -> float:
            losses = module(_to(eval_batch, accelerator.device), noise_scheduler)
            return float(sum(losses.values()))

        return evaluate_with_ema(accelerator, model, ema, measure)

    def write_log() -> None:
        if accelerator.is_main_process:
            write_loss_log(out / LOSS_LOG, log_rows, LOG_FIELDS)

    if start_step == 0:
        log_rows = [{"step": 0, "eval_loss": f"{evaluate():.6f}", "seconds": 0}]
    started = time.perf_counter()
    window: dict[str, list[float]] = {name: [] for name in ("loss", *LOSS_NAMES)}
    model.train()
    last_step = min(config["steps"], stop_after) if stop_after is not None else config["steps"]
    bar = training_bar(accelerator, start_step, last_step, config["steps"])
    for step in bar:
        generator = seeded_generator(config["seed"], 0, step, accelerator.process_index)
        batch = draw_batch(sentences, buckets, config, generator, num_timesteps, encoder)
        loss, losses = optimisation_step(
            accelerator,
            model,
            lambda batch=batch: model(_to(batch, accelerator.device), noise_scheduler),
            optimizer,
            lr_scheduler,
            config["max_grad_norm"],
            ema,
        )
        for name, value in (("loss", loss), *losses.items()):
            window[name].append(float(accelerator.reduce(value.detach(), reduction="mean")))

        if step % config["log_every"] == 0 or step == config["steps"]:
            evaluated = step % config["eval_every"] == 0 or step == config["steps"]
            row = {
                "step": step,
                "loss": f"{np.mean(window['loss']):.6f}",
                **{f"{n}_loss": f"{np.mean(window[n]):.6f}" for n in LOSS_NAMES},
                "eval_loss": f"{evaluate():.6f}" if evaluated else "",
                "lr": f"{lr_scheduler.get_last_lr()[0]:.3g}",
                "seconds": round(time.perf_counter() - started, 2),
            }
            log_rows.append(row)
            window = {name: [] for name in window}
            bar.set_postfix(loss=row["loss"], refresh=False)  # shown at the next bar update
            write_log()
        if step % config["save_every"] == 0 and step < config["steps"]:
            save_state(accelerator, out, step, config["keep_states"])

    summary = run_summary(
        accelerator, log_rows, config["steps"], last_step, start_step,
        time.perf_counter() - started,
        num_parameters=num_parameters,
        num_sentences=len(sentences),
        left_out=left_out,
    )  # fmt: skip
    completed = summary["completed"]
    if not completed:
        return summary

    # 4. Export the pipeline (the EMA weights when there are).
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        from emogen.pipelines.tts import EmotionalTTSPipeline

        module = accelerator.unwrap_model(model)
        if ema is not None:
            ema.copy_to(module.parameters())
        pipe = EmotionalTTSPipeline(
            voice=voice,
            vocoder=vocoder,
            acoustic_model=module.acoustic_model.eval(),
            denoiser=module.denoiser.eval(),
            emotion_encoder=module.emotion_encoder.eval(),
            # Any scheduler of the training one's config samples; DPM-Solver needs few steps.
            scheduler=DPMSolverMultistepScheduler.from_config(noise_scheduler.config),
            frame_coder=coder,
            frame_normalizer=normalizer,
            num_inference_steps=config["num_inference_steps"],
            emotion_guidance_scale=config["emotion_guidance_scale"],
        )
        pipe.save_pretrained(out / PIPELINE)
        (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        logger.info("saved the pipeline to %s: %s", out / PIPELINE, summary)
    accelerator.wait_for_everyone()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="tiny, base, or a YAML path")
    parser.add_argument("--manifest", required=True, help="corpus manifest (JSONL) with alignments")
    parser.add_argument(
        "--out", default=None, help="run folder (default checkpoints/tts-diffusion-<config>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest state")
    parser.add_argument("--skip-bad", action="store_true", help="leave bad manifest lines out")
    parser.add_argument("--stop-after", type=int, default=None, help="end after step N (tests)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)  # processes, not threads, share the cores
    config = load_config(args.config)
    out = args.out or ROOT / "checkpoints" / f"tts-diffusion-{Path(args.config).stem}"
    train(config, args.manifest, out, args.resume, args.skip_bad, args.stop_after)


if __name__ == "__main__":
    main()
