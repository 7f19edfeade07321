"""Train the codec language model TTS (`emogen.speech.codec_lm`) with Accelerate.

The model reads [emotion prefix | phonemes] and writes the tokens of a trained codec
(training/codec), jointly with the shared `EmotionEncoder`; the whole emotion is dropped to the
null one with `condition_dropout` for classifier-free guidance (Ho & Salimans 2022).

Steps:
    1. data: each manifest's utterances are cut into their sentences by their phoneme alignment
       (`emogen.speech.frames.sentence_segments`: the pipeline speaks sentence by sentence;
       utterances without alignment, such as a custom voice's recordings, train whole), the
       WORLD frames (the codec's own analysis, cached per manifest in `<out>/features/<n>/`) of
       each sentence are encoded by the codec, and the codes cached in `<out>/codes.pt` (rebuilt
       when the codec or a manifest changes). A curve utterance gives each sentence the curve's
       emotion at the sentence's middle. The sentences of the last `validation_texts` texts
       (sorted) are held out.
    2. an Accelerate loop over batches of sentences of similar length: the teacher-forced
       cross-entropy of every codebook (MusicGen's delay pattern), gradient clipping, optional
       EMA, logged to `<out>/loss.csv` with the held-out loss; `save_state` every `save_every`
       steps (`--resume` continues from the newest).
    3. `CodecLMTTSPipeline(...).save_pretrained(<out>/pipeline)` with the codec, the voice, the
       model, the emotion encoder and the voice conversion's prosody estimator (the best-of-N
       verifier): the final weights, or with `keep_best` (early stopping, as fine-tuning on a few
       minutes of a voice needs: it overfits within a few hundred steps) those of the evaluation
       with the lowest held-out loss, step 0 included.

    .venv/bin/python training/tts_codec_lm/train.py --config tiny --codec CODEC_FOLDER \\
        --manifest data/corpus-tiny/manifest.jsonl --out checkpoints/tts-codec-lm-tiny
"""

from __future__ import annotations

import argparse
import hashlib
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
    # the language model (emogen.speech.codec_lm.CodecLanguageModel) and emotion encoder
    "hidden_size": int,
    "num_layers": int,
    "num_heads": int,
    "intermediate_size": int,
    "prefix_length": int,
    "dropout": float,
    "emotion_hidden_size": int,
    "phoneme_alignment": bool,  # VALL-E R's phoneme pointer (emogen.speech.codec_lm)
    # data
    "voice": str,
    "max_sentence_frames": int,  # codec frames; longer sentences are left out
    "validation_texts": int,
    # optimisation
    "steps": int,
    "batch_size": int,
    "learning_rate": float,
    "lr_schedule": str,
    "warmup_steps": int,
    "max_grad_norm": float,
    "condition_dropout": float,
    "own_history": float,  # parallel scheduled sampling's share of the model's own input codes
    "ema_decay": (float, type(None)),
    "keep_best": bool,  # the pipeline keeps the weights of the lowest held-out loss
    "mixed_precision": str,
    # the exported pipeline's defaults
    "emotion_guidance_scale": float,
    "temperature": float,
    "top_k": int,
    "phoneme_prior_scale": float,  # the phoneme prior's weight (written for aligned data)
    # bookkeeping
    "log_every": int,
    "eval_every": int,
    "save_every": int,
    "keep_states": int,
    "seed": int,
}
FEATURES = "features"
CODES = "codes.pt"
LOSS_LOG = "loss.csv"
SUMMARY = "training_summary.json"
PIPELINE = "pipeline"
LOG_FIELDS = ["step", "loss", "eval_loss", "lr", "seconds"]
BUCKET_BATCHES = 4

logger = logging.getLogger("tts_codec_lm")


def load_config(name_or_path: str) -> dict[str, Any]:
    """Read `configs/<name>.yaml` or a YAML path, and check its keys, types and ranges."""
    from emogen.errors import EmogenError
    from emogen.recipes import load_recipe_config

    config = load_recipe_config(name_or_path, HERE / "configs", CONFIG_KEYS)
    for key in ("steps", "batch_size", "max_sentence_frames", "log_every", "eval_every"):
        if config[key] < 1:
            raise EmogenError(f"{name_or_path}: {key} must be >= 1, got {config[key]}")
    if not 0.0 <= config["condition_dropout"] < 1.0:
        raise EmogenError(f"{name_or_path}: condition_dropout must be in [0, 1)")
    if not 0.0 <= config["own_history"] <= 1.0:
        raise EmogenError(f"{name_or_path}: own_history must be in [0, 1]")
    return config


@dataclass
class Sentence:
    """One training sentence: its text, phoneme ids, codec codes and emotion."""

    id: str
    text: str
    tokens: torch.Tensor  # (L,) int64
    codes: torch.Tensor  # (Q, T) int64
    emotion: Any  # Emotion
    frame_phonemes: torch.Tensor | None  # (T,) the token each frame belongs to; None: unaligned


def _digest(codec) -> str:
    hasher = hashlib.sha1(json.dumps(dict(codec.config), sort_keys=True, default=str).encode())
    for tensor in codec.state_dict().values():
        hasher.update(tensor.detach().cpu().numpy().tobytes())
    return hasher.hexdigest()


def build_data(manifest_paths: list[Path], out: Path, config: dict, codec, accelerator):
    """Sentences of every manifest (codes cached in `<out>/codes.pt`).

    Returns:
        `(train, held_out, voice, left_out)`.
    """
    from emogen.emotion import EmotionCurve
    from emogen.emotion.text import split_sentences
    from emogen.errors import EmogenError
    from emogen.speech.corpus import read_manifest
    from emogen.speech.diffusion_tts import phoneme_tokens
    from emogen.speech.feature_cache import cached_world_frames
    from emogen.speech.frames import sentence_segments, token_phonemes
    from emogen.speech.voice import PiperVoice

    voice = PiperVoice(config["voice"])
    if voice.sample_rate != codec.sample_rate:
        raise EmogenError(
            f"the voice speaks {voice.sample_rate} Hz, the codec codes {codec.sample_rate}"
        )
    key = {
        "codec": _digest(codec),
        "manifests": [
            [str(p.resolve()), hashlib.sha1(p.read_bytes()).hexdigest()] for p in manifest_paths
        ],
        "voice": config["voice"],
        "format": 2,  # rows carry frame_phonemes
    }
    cache = out / CODES
    cached = torch.load(cache) if cache.is_file() else None
    period = codec.config.frame_period_ms
    stride = codec.config.stride
    if cached is None or cached["key"] != key:
        rows = []
        for number, path in enumerate(manifest_paths):
            manifest = read_manifest(path)
            usable = [u for u in manifest if u.emotion is not None or u.curve is not None]
            frames = cached_world_frames(
                manifest, path, [u.id for u in usable], out / FEATURES / str(number),
                codec.vocoder, codec.coder, accelerator,
            )  # fmt: skip
            phonemes_of: dict[str, list[str]] = {}
            for utterance in usable:
                if utterance.text not in phonemes_of:
                    phonemes_of[utterance.text] = [
                        voice.phonemize(s) for s in split_sentences(utterance.text)
                    ]
                phonemes = phonemes_of[utterance.text]
                matrix = frames[utterance.id]
                texts = split_sentences(utterance.text)
                if utterance.alignment is not None:
                    segments = sentence_segments(utterance, phonemes, matrix.shape[0], period)
                else:  # recordings (a custom voice) train whole: all their sentences at once
                    segments = [(0, matrix.shape[0], None)]
                    phonemes, texts = [" ".join(phonemes)], [utterance.text]
                for index, (first, last, durations) in enumerate(segments):
                    # whole token frames: the codec encodes `stride` WORLD frames per token
                    start, end = first // stride * stride, -(-last // stride) * stride
                    codes = codec.encode_frames(matrix[start : min(end, matrix.shape[0])])
                    owners = None
                    if durations is not None:  # the phoneme under each token frame's middle
                        owners = torch.from_numpy(
                            token_phonemes(durations, first, start, codes.shape[1], stride)
                        )
                    emotion = utterance.emotion
                    if isinstance(utterance.curve, EmotionCurve):
                        emotion = utterance.curve.at((start + end) / 2 * period / 1000.0)
                    rows.append(
                        {
                            "id": f"{number}:{utterance.id}#{index}",
                            "text": texts[index],
                            "tokens": torch.from_numpy(phoneme_tokens(voice, phonemes[index])),
                            "codes": codes.cpu(),
                            "emotion": emotion.to_dict(),
                            "frame_phonemes": owners,
                        }
                    )
        if accelerator.is_main_process:
            torch.save({"key": key, "rows": rows}, cache)
        accelerator.wait_for_everyone()
        cached = {"key": key, "rows": rows}
    from emogen.emotion import Emotion

    sentences = [
        Sentence(r["id"], r["text"], r["tokens"], r["codes"], Emotion.from_dict(r["emotion"]),
                 r["frame_phonemes"])
        for r in cached["rows"]
    ]  # fmt: skip
    too_long = [s for s in sentences if s.codes.shape[1] > config["max_sentence_frames"]]
    sentences = [s for s in sentences if s.codes.shape[1] <= config["max_sentence_frames"]]
    texts = sorted({s.text for s in sentences})
    held = set(texts[-config["validation_texts"] :]) if config["validation_texts"] else set()
    train = [s for s in sentences if s.text not in held]
    held_out = [s for s in sentences if s.text in held]
    if not train:
        raise EmogenError("no training sentence left (check the manifests and max_sentence_frames)")
    return train, held_out, voice, {"too long": len(too_long)}


def make_buckets(sentences: list[Sentence], batch_size: int) -> list[list[int]]:
    order = sorted(range(len(sentences)), key=lambda i: sentences[i].codes.shape[1])
    size = max(batch_size, BUCKET_BATCHES * batch_size)
    return [order[i : i + size] for i in range(0, len(order), size)]


def draw_batch(sentences, buckets, size: int, dropout: float, generator: torch.Generator) -> dict:
    """Sentences of one random bucket, right-padded, with the rows whose emotion is dropped."""
    bucket = buckets[int(torch.randint(len(buckets), (1,), generator=generator))]
    chosen = [
        sentences[bucket[i]] for i in torch.randint(len(bucket), (size,), generator=generator)
    ]
    num_codebooks = chosen[0].codes.shape[0]
    tokens = torch.zeros(size, max(len(s.tokens) for s in chosen), dtype=torch.long)
    codes = torch.zeros(
        size, num_codebooks, max(s.codes.shape[1] for s in chosen), dtype=torch.long
    )
    aligned = all(s.frame_phonemes is not None for s in chosen)
    frame_phonemes = torch.zeros(size, codes.shape[-1], dtype=torch.long) if aligned else None
    for row, sentence in enumerate(chosen):
        tokens[row, : len(sentence.tokens)] = sentence.tokens
        codes[row, :, : sentence.codes.shape[1]] = sentence.codes
        if aligned:
            frame_phonemes[row, : sentence.codes.shape[1]] = sentence.frame_phonemes
    return {
        "tokens": tokens,
        "token_lengths": torch.tensor([len(s.tokens) for s in chosen]),
        "codes": codes,
        "code_lengths": torch.tensor([s.codes.shape[1] for s in chosen]),
        "emotions": [s.emotion for s in chosen],
        "drop": torch.rand(size, generator=generator) < dropout,
        "frame_phonemes": frame_phonemes,
        "history_seed": int(torch.randint(2**31, (1,), generator=generator)),
    }


class CodecLMTrainingModule(torch.nn.Module):
    """Language model + emotion encoder as one module (one `prepare`); forward gives the loss."""

    def __init__(self, language_model, emotion_encoder, own_history: float = 0.0):
        super().__init__()
        self.language_model = language_model
        self.emotion_encoder = emotion_encoder
        self.own_history = own_history

    def forward(self, batch: dict) -> torch.Tensor:
        from emogen.speech.acoustic import emotion_embedding

        device = self.language_model.device
        condition = emotion_embedding(
            self.emotion_encoder, batch["emotions"], drop_condition=batch["drop"].to(device)
        )
        return self.language_model(
            condition,
            batch["tokens"].to(device),
            batch["token_lengths"].to(device),
            batch["codes"].to(device),
            batch["code_lengths"].to(device),
            None if batch["frame_phonemes"] is None else batch["frame_phonemes"].to(device),
            own_history=self.own_history if self.training else 0.0,
            generator=torch.Generator().manual_seed(batch["history_seed"]),
        ).loss


def train(
    config: dict[str, Any],
    codec_path: str | os.PathLike,
    manifest: str | os.PathLike | list,
    out: str | os.PathLike,
    resume: bool = False,
    stop_after: int | None = None,
    init_from: str | os.PathLike | None = None,
    export_only: bool = False,
) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary (also `<out>/training_summary.json`).

    Args:
        config: from `load_config`.
        codec_path: a trained codec folder (`WorldFrameCodec`, training/codec's `<out>/codec`);
            None with `init_from`: that pipeline's codec.
        manifest: one corpus manifest (JSONL) with alignments, or several.
        out: the run folder.
        resume: continue from the newest state in `<out>/states`.
        stop_after: end the loop after this step without saving anything more (tests).
        export_only: train nothing: write the newest saved state's pipeline (EMA weights) to
            `<out>/pipeline-step-N` and return `{"steps": N, "pipeline": folder}` (to listen to a
            run on its way).
        init_from: a `CodecLMTTSPipeline` folder to fine-tune (a custom voice): its language
            model and emotion encoder are the starting weights (their sizes, not the config's).
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import set_seed

    from emogen.emotion.encoder import EmotionEncoder
    from emogen.errors import EmogenError
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
        write_loss_log,
    )
    from emogen.speech.codec import WorldFrameCodec
    from emogen.speech.codec_lm import CodecLanguageModel, phoneme_prior_table

    # Under DDP: rows without a dropped emotion leave the encoder's null embedding unused, and
    # Llama's own token embedding is never used (the model passes input embeddings).
    accelerator = Accelerator(
        mixed_precision=config["mixed_precision"],
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    out = check_run_folder(out, config, resume, accelerator)
    if codec_path is None and init_from is None:
        raise EmogenError("give the codec folder, or a pipeline to fine-tune (init_from)")
    codec_path = codec_path if codec_path is not None else Path(init_from) / "codec"
    codec = WorldFrameCodec.from_pretrained(codec_path).eval()
    manifests = [manifest] if isinstance(manifest, str | os.PathLike) else list(manifest)
    train_set, held_out, voice, left_out = build_data(
        [Path(m) for m in manifests], out, config, codec, accelerator
    )
    record_run_config(out, config, accelerator)
    set_seed(config["seed"])
    encoder = EmotionEncoder(
        hidden_size=config["emotion_hidden_size"],
        condition_dropout_prob=0.0,
        attribute_dropout_prob=0.0,
    )
    longest = max(len(s.tokens) + s.codes.shape[1] for s in train_set + held_out)
    language_model = CodecLanguageModel(
        phoneme_vocab_size=max(max(ids) for ids in voice.phoneme_id_map.values()) + 1,
        num_codebooks=codec.num_codebooks,
        codebook_size=codec.codebook_size,
        emotion_dims=config["emotion_hidden_size"],
        prefix_length=config["prefix_length"],
        hidden_size=config["hidden_size"],
        num_layers=config["num_layers"],
        num_heads=config["num_heads"],
        intermediate_size=config["intermediate_size"],
        max_positions=max(512, 2 * longest),
        dropout=config["dropout"],
        phoneme_alignment=config["phoneme_alignment"],
    )
    if init_from is not None:  # fine-tuning: the pipeline's trained model and encoder
        language_model = CodecLanguageModel.from_pretrained(init_from, subfolder="language_model")
        encoder = EmotionEncoder.from_pretrained(init_from, subfolder="emotion_encoder")
        if language_model.config.phoneme_vocab_size <= max(int(s.tokens.max()) for s in train_set):
            raise EmogenError(f"{init_from} was trained with another voice's phoneme ids")
    unaligned = sum(s.frame_phonemes is None for s in train_set + held_out)
    if language_model.config.phoneme_alignment and unaligned:
        raise EmogenError(
            f"the model follows a phoneme pointer, but {unaligned} sentences have no phoneme "
            "alignment (recordings without one need a model trained with phoneme_alignment: false)"
        )
    # log p(phoneme | first-level code) of the training data, exported with the model
    # (CodecLanguageModel.generate's phoneme_prior_scale); recordings without an alignment keep
    # the prior of the pipeline they fine-tune
    prior = None
    if language_model.config.phoneme_alignment:
        prior = phoneme_prior_table(
            [s.tokens for s in train_set],
            [s.codes for s in train_set],
            [s.frame_phonemes for s in train_set],
            language_model.config.phoneme_vocab_size,
            language_model.config.codebook_size,
        )
    model = CodecLMTrainingModule(language_model, encoder, config["own_history"])
    num_parameters = {
        "language_model": sum(p.numel() for p in language_model.parameters()),
        "emotion_encoder": sum(p.numel() for p in encoder.parameters()),
    }
    logger.info(
        "%d training sentences (%d codec frames), %d held out; parameters %s; left out %s",
        len(train_set),
        sum(s.codes.shape[1] for s in train_set),
        len(held_out),
        num_parameters,
        left_out,
    )
    buckets = make_buckets(train_set, config["batch_size"])
    model, optimizer, lr_scheduler, ema, start_step = prepare_training(
        accelerator, model, config, out, resume
    )

    def save_pipeline(folder: Path) -> None:  # the EMA weights, when there is an EMA
        from emogen.pipelines.tts_codec_lm import CodecLMTTSPipeline
        from emogen.speech.estimator import SpeechEmotionEstimator

        module = accelerator.unwrap_model(model)
        if ema is not None:  # the training weights come back after (a save on the way)
            ema.store(module.parameters())
            ema.copy_to(module.parameters())
        try:
            language_model = module.language_model.eval()
            if prior is not None:
                language_model = language_model.with_phoneme_prior(prior)
            CodecLMTTSPipeline(
                voice=voice,
                codec=codec,
                language_model=language_model,
                emotion_encoder=module.emotion_encoder.eval(),
                estimator=SpeechEmotionEstimator.default(),
                emotion_guidance_scale=config["emotion_guidance_scale"],
                temperature=config["temperature"],
                top_k=config["top_k"],
                phoneme_prior_scale=(
                    config["phoneme_prior_scale"] if language_model.config.phoneme_prior else 0.0
                ),
            ).save_pretrained(folder)
        finally:
            if ema is not None:
                ema.restore(module.parameters())
            module.train()

    if export_only:
        if start_step == 0:
            raise EmogenError(f"no saved state in {out / 'states'} to export")
        folder = out / f"{PIPELINE}-step-{start_step}"
        if accelerator.is_main_process:
            save_pipeline(folder)
            logger.info("saved the step-%d pipeline to %s", start_step, folder)
        accelerator.wait_for_everyone()
        return {"steps": start_step, "pipeline": str(folder)}
    log_rows = read_loss_log(out / LOSS_LOG, start_step) if start_step else []
    eval_source = held_out or train_set
    eval_batch = draw_batch(
        eval_source,
        make_buckets(eval_source, config["batch_size"]),
        config["batch_size"],
        0.0,
        seeded_generator(config["seed"], 1),
    )

    def evaluate() -> float:
        return evaluate_with_ema(accelerator, model, ema, lambda module: float(module(eval_batch)))

    def keep_if_best(rows: list[dict]) -> None:
        # Early stopping (`keep_best`): the pipeline follows the lowest held-out loss so far.
        if config["keep_best"] and best_evaluation(rows)[1] == int(rows[-1]["step"]):
            if accelerator.is_main_process:
                save_pipeline(out / PIPELINE)
            accelerator.wait_for_everyone()

    if start_step == 0:
        log_rows = [{"step": 0, "eval_loss": f"{evaluate():.6f}", "seconds": 0}]
        keep_if_best(log_rows)
    started = time.perf_counter()
    window: list[float] = []
    model.train()
    last_step = min(config["steps"], stop_after) if stop_after is not None else config["steps"]
    bar = training_bar(accelerator, start_step, last_step, config["steps"])
    for step in bar:
        generator = seeded_generator(config["seed"], 0, step, accelerator.process_index)
        batch = draw_batch(
            train_set, buckets, config["batch_size"], config["condition_dropout"], generator
        )
        loss, _ = optimisation_step(
            accelerator,
            model,
            lambda batch=batch: model(batch),
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
            bar.set_postfix(loss=row["loss"], refresh=False)
            if accelerator.is_main_process:
                write_loss_log(out / LOSS_LOG, log_rows, LOG_FIELDS)
            if evaluated:
                keep_if_best(log_rows)
        if step % config["save_every"] == 0 and step < config["steps"]:
            save_state(accelerator, out, step, config["keep_states"])

    summary = run_summary(
        accelerator, log_rows, config["steps"], last_step, start_step,
        time.perf_counter() - started,
        num_parameters=num_parameters,
        num_training_sentences=len(train_set),
        num_held_out_sentences=len(held_out),
        left_out=left_out,
    )  # fmt: skip
    if config["keep_best"]:
        summary["best_eval_loss"], summary["pipeline_step"] = best_evaluation(log_rows)
    completed = summary["completed"]
    if not completed:
        return summary
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if not config["keep_best"]:  # (with keep_best it was saved at its evaluation)
            save_pipeline(out / PIPELINE)
        (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        logger.info("saved the pipeline to %s: %s", out / PIPELINE, summary)
    accelerator.wait_for_everyone()
    return summary


def best_evaluation(rows: list[dict]) -> tuple[float, int]:
    """The lowest held-out loss of a loss log's rows and its step (the earliest of ties)."""
    return min((float(r["eval_loss"]), int(r["step"])) for r in rows if r.get("eval_loss"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="tiny, base, or a YAML path")
    parser.add_argument("--codec", default=None, help="trained codec folder (training/codec)")
    parser.add_argument(
        "--init-from", default=None, help="a codec-LM pipeline folder to fine-tune (its codec too)"
    )
    parser.add_argument("--manifest", required=True, nargs="+", help="corpus manifests (JSONL)")
    parser.add_argument(
        "--out", default=None, help="run folder (default checkpoints/tts-codec-lm-<config>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest state")
    parser.add_argument("--stop-after", type=int, default=None, help="end after step N (tests)")
    parser.add_argument(
        "--export-only", action="store_true",
        help="train nothing: write the newest state's pipeline to <out>/pipeline-step-N",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)  # processes, not threads, share the cores
    config = load_config(args.config)
    out = args.out or ROOT / "checkpoints" / f"tts-codec-lm-{Path(args.config).stem}"
    train(
        config, args.codec, args.manifest, out, args.resume or args.export_only, args.stop_after,
        args.init_from, export_only=args.export_only,
    )  # fmt: skip


if __name__ == "__main__":
    main()
