"""Train emogen's own audio codec (`emogen.speech.codec.WorldFrameCodec`) with Accelerate.

The codec turns WORLD frames into residual-VQ tokens and back (the module docstring says how);
the codec language model (training/tts_codec_lm) speaks in its tokens.

Steps:
    1. features: every wav of the manifest -> `WorldVocoder(window_f0_floor=65,
       aperiodicity_stride=2)` -> `WorldFrameCoder` frames, split between processes and cached
       in `<out>/features/` (`emogen.speech.feature_cache`), and a `FrameNormalizer` fitted over
       the training utterances (saved inside the codec's config). The utterances of the last
       `validation_texts` texts (sorted) are held out, all their renderings.
    2. an Accelerate loop over random crops of `crop_frames` frames: reconstruction loss (mean
       squared error of the normalised frames, log F0 weighted `f0_weight`: pitch carries the
       emotion) + `commitment_weight` x the quantiser's commitment loss (van den Oord et al.
       2017); the codebooks learn by EMA inside the forward pass. Logged to `<out>/loss.csv`
       with the held-out reconstruction error, `save_state` every `save_every` steps (`--resume`
       continues from the newest).
    3. `WorldFrameCodec.save_pretrained(<out>/codec)`.

With `--init-from CODEC` (config `finetune`, as `emogen voice finetune` runs it) a trained codec is
adapted to new recordings instead: its sizes, analysis and frame statistics are kept (the
config's size keys are not used), and with `freeze_codebooks` so are its codebooks, so only the
encoder and decoder learn the new voice and every token keeps its meaning for a codec language
model trained on the old codec.

With `decoder_only` and `lm_pipeline` (config `lm`) the decoder of a codec language model's
codec learns to read that model's own codes: the model speaks the corpus sentences with the
recordings' durations forced on its pointer, and its codes are paired with the recordings'
frames (`build_lm_data`).

Every batch is drawn from a generator seeded by (seed, step, process), so a resumed run sees the
batches the uninterrupted run would have seen.

    .venv/bin/python training/codec/train.py --config tiny \\
        --manifest data/corpus-tiny/manifest.jsonl --out checkpoints/codec-tiny
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFIG_KEYS = {
    # the codec (emogen.speech.codec.WorldFrameCodec)
    "channels": int,
    "latent_dims": int,
    "num_codebooks": int,
    "codebook_size": int,
    "stride": int,
    "blocks": int,
    "pitch_codebook": bool,  # level 1 codes log F0 apart from the envelope (WorldFrameCodec)
    # data
    "crop_frames": int,  # 5 ms frames per training crop (a multiple of stride)
    "validation_texts": int,
    # loss
    "f0_weight": float,
    "commitment_weight": float,
    "quantizer_dropout": float,  # share of steps decoding with the first 1..Q-1 levels only
    "phoneme_weight": float,  # phoneme classification of the first level (0: none)
    "freeze_codebooks": bool,  # adapting a codec (init_from): the tokens keep their meaning
    # the decoder told each token frame's phoneme (WorldFrameCodec's `phonemes`; aligned data)
    "phoneme_conditioning": bool,
    "decoder_only": bool,  # with init_from: the encoder and codebooks stay, the decoder learns
    "code_noise": float,  # c: each crop's codes of a level drawn at random in U(0, c) of frames
    "phoneme_dropout": float,  # share of crops decoded with no phoneme told
    # adapting a codec (init_from) to speak the manifest's voice from another voice's codes
    "source_voice": (str, type(None)),  # the Piper voice whose codes the decoder learns to read
    "source_renditions": int,  # renditions of each text by the source voice (seeds, speeds)
    "alignment_steps": int,  # a first adaptation of this many steps re-aligns the pairs (0: none)
    "source_aligner": (str, type(None)),  # that first pass's codec (set by the recipe)
    "pitch_augment_semitones": float,  # a: pairs shifted in pitch by U(-a/2, a) semitones
    # decoder_only: a codec language model's own codes of the manifest's sentences (build_lm_data)
    "lm_pipeline": (str, type(None)),  # its pipeline folder (a CodecLMTTSPipeline over this codec)
    "lm_code_share": float,  # share of crops decoded from its codes (the rest: the encoder's)
    "lm_utterances": int,  # training utterances it speaks (a seeded sample; 0: all)
    # optimisation
    "steps": int,
    "batch_size": int,
    "learning_rate": float,
    "lr_schedule": str,
    "warmup_steps": int,
    "max_grad_norm": float,
    "ema_decay": (float, type(None)),
    "mixed_precision": str,
    # bookkeeping
    "log_every": int,
    "eval_every": int,
    "save_every": int,
    "keep_states": int,
    "seed": int,
}
FEATURES = "features"
SOURCE_PAIRS = "source_pairs.pt"
LM_CODES = "lm_codes.pt"
LM_BATCH = 16  # sentences generated together
ALIGNER = "aligner"
SOURCE_SPEEDS = (1.0, 0.85, 1.15)  # Piper length scales of the renditions, in turn
LOSS_LOG = "loss.csv"
SUMMARY = "training_summary.json"
CODEC = "codec"
LOG_FIELDS = [
    "step",
    "loss",
    "reconstruction_loss",
    "commitment_loss",
    "phoneme_loss",
    "eval_loss",
    "lr",
    "seconds",
]

logger = logging.getLogger("codec")


def load_config(name_or_path: str) -> dict[str, Any]:
    """Read `configs/<name>.yaml` or a YAML path, and check its keys, types and ranges."""
    from emogen.errors import EmogenError
    from emogen.recipes import load_recipe_config

    config = load_recipe_config(name_or_path, HERE / "configs", CONFIG_KEYS)
    for key in ("steps", "batch_size", "crop_frames", "log_every", "eval_every", "save_every"):
        if config[key] < 1:
            raise EmogenError(f"{name_or_path}: {key} must be >= 1, got {config[key]}")
    if config["crop_frames"] % config["stride"]:
        raise EmogenError(f"{name_or_path}: crop_frames must be a multiple of stride")
    if not 0.0 <= config["quantizer_dropout"] <= 1.0:
        raise EmogenError(f"{name_or_path}: quantizer_dropout must be in [0, 1]")
    if config["phoneme_weight"] < 0:
        raise EmogenError(f"{name_or_path}: phoneme_weight must be >= 0")
    if config["source_renditions"] < 1:
        raise EmogenError(f"{name_or_path}: source_renditions must be >= 1")
    if config["alignment_steps"] < 0 or config["pitch_augment_semitones"] < 0:
        raise EmogenError(f"{name_or_path}: alignment_steps and pitch_augment_semitones >= 0")
    if config["lm_pipeline"] is not None and not config["decoder_only"]:
        raise EmogenError(f"{name_or_path}: lm_pipeline trains a decoder: set decoder_only")
    if config["lm_utterances"] < 0:
        raise EmogenError(f"{name_or_path}: lm_utterances must be >= 0 (0: all)")
    for key in ("code_noise", "phoneme_dropout", "lm_code_share"):
        if not 0.0 <= config[key] <= 1.0:
            raise EmogenError(f"{name_or_path}: {key} must be in [0, 1], got {config[key]}")
    if config["phoneme_weight"] and config["decoder_only"]:
        raise EmogenError(
            f"{name_or_path}: phoneme_weight trains the encoder; decoder_only keeps it"
        )
    if config["code_noise"] and not (config["decoder_only"] or config["source_voice"]):
        raise EmogenError(
            f"{name_or_path}: code_noise needs decoder_only (codes from a trained, fixed encoder)"
        )
    return config


def build_data(
    manifest_path: Path, out: Path, config: dict, accelerator, codec: Any = None
) -> tuple:
    """Analyse the manifest's audio (cached) and split it by text.

    Args:
        codec: a trained `WorldFrameCodec` being adapted: its analysis and frame statistics are
            used (None: the recipe's analysis, statistics fitted on the training utterances).

    Returns:
        `(train, held_out, normalizer, vocoder, phonemes)`: `(frames, labels)` pairs of the
        training and held-out utterances (normalised `(N, D)` float32 frames and `(N,)` int64
        phoneme classes of each frame, -100 where the manifest has no alignment), the
        `FrameNormalizer`, the analysis, and the phoneme classes (the sorted phoneme characters,
        or those of a `codec` that reads phonemes).
    """
    from emogen.errors import EmogenError
    from emogen.speech.corpus import read_manifest
    from emogen.speech.feature_cache import cached_world_frames
    from emogen.speech.frames import FrameNormalizer, WorldFrameCoder
    from emogen.speech.world import WorldVocoder

    manifest = read_manifest(manifest_path)
    if codec is None:
        vocoder = WorldVocoder(window_f0_floor=65.0, aperiodicity_stride=2)
        coder = WorldFrameCoder()
    else:
        vocoder, coder = codec.vocoder, codec.coder
    frames = cached_world_frames(
        manifest, manifest_path, [u.id for u in manifest], out / FEATURES, vocoder, coder,
        accelerator,
    )  # fmt: skip
    held_texts = held_out_texts(manifest, manifest_path, config)
    long_enough = [u for u in manifest if frames[u.id].shape[0] >= config["crop_frames"]]
    train_ids = [u.id for u in long_enough if u.text not in held_texts]
    held_ids = [u.id for u in long_enough if u.text in held_texts]
    if not train_ids:
        raise EmogenError(f"{manifest_path}: no utterance is {config['crop_frames']} frames long")
    if codec is None:
        normalizer = FrameNormalizer.fit(frames[i] for i in train_ids)
    else:  # an adapted codec keeps its statistics: the tokens keep their meaning
        normalizer = codec.normalizer

    phonemes = phoneme_classes(manifest, codec)
    classes = {phoneme: index for index, phoneme in enumerate(phonemes)}
    utterances = {u.id: u for u in manifest}

    def labels(identifier: str) -> torch.Tensor:
        """The phoneme class of each frame (-100: none, or a phoneme not in the classes)."""
        spoken = frame_phonemes(
            utterances[identifier].alignment,
            frames[identifier].shape[0],
            vocoder.config.frame_period_ms,
        )
        return torch.tensor([classes.get(p, -100) for p in spoken], dtype=torch.long)

    def pairs(ids: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.from_numpy(normalizer.normalize(frames[i])), labels(i)) for i in ids]

    return pairs(train_ids), pairs(held_ids), normalizer, vocoder, phonemes


def phoneme_classes(manifest: Any, codec: Any = None) -> list[str]:
    """The phoneme classes a decoder is told: those of a `codec` that reads phonemes already,
    else the sorted phoneme characters of the manifest's alignments."""
    if codec is not None and codec.reads_phonemes:  # its embedding's classes
        return list(codec.config.phonemes)
    return sorted({entry[0] for u in manifest for entry in u.alignment or ()})


def frame_phonemes(alignment: Any, count: int, frame_period_ms: float) -> list[str]:
    """The phoneme of each of `count` frames (the one whose span holds the frame's centre; ""
    for all without an alignment)."""
    from emogen.speech.frames import phoneme_frame_durations

    if not alignment:
        return [""] * count
    durations = phoneme_frame_durations(alignment, count, frame_period_ms)
    return [entry[0] for entry, n in zip(alignment, durations, strict=True) for _ in range(n)]


def padded_frames(codec: Any, frames: np.ndarray) -> torch.Tensor:
    """A recording's frames normalised by `codec`, the last repeated to whole token frames."""
    target = torch.from_numpy(codec.normalizer.normalize(frames))
    return torch.cat([target, target[-1:].expand((-len(target)) % codec.config.stride, -1)])


def told_ids(codec: Any, alignment: Any, count: int, tokens: int) -> torch.Tensor:
    """`(tokens,)` the phoneme id a codec that reads phonemes is told for each token frame of a
    recording of `count` frames (the alignment's phoneme at the token frame's middle; all 0,
    none told, for a codec that reads none)."""
    if not codec.reads_phonemes:
        return torch.zeros(tokens, dtype=torch.long)
    spoken = frame_phonemes(alignment, count, codec.config.frame_period_ms)
    stride = codec.config.stride
    middles = np.minimum(np.arange(tokens) * stride + stride // 2, count - 1)
    return codec.phoneme_ids([spoken[i] for i in middles])


def held_out_texts(manifest: Any, manifest_path: Path, config: dict) -> set[str]:
    """The last `validation_texts` texts of the manifest (sorted): all their utterances are
    held out."""
    from emogen.errors import EmogenError

    texts = sorted({u.text for u in manifest})
    held_texts = set(texts[-config["validation_texts"] :]) if config["validation_texts"] else set()
    if len(held_texts) >= len(texts):
        raise EmogenError(f"{manifest_path}: {len(texts)} texts; validation_texts leaves none")
    return held_texts


def build_source_data(
    manifest_path: Path, out: Path, config: dict, accelerator, codec: Any
) -> tuple[list, list, float]:
    """Parallel data for adapting `codec` to speak the manifest's voice from the codes of
    `config["source_voice"]` (cached in `<out>/features/`).

    Each text is spoken `source_renditions` times by the source voice (Piper, noise seeds and
    speeds `SOURCE_SPEEDS` in turn), encoded by the codec, and the codes are moved onto the
    recording's token frames by DTW of the two (`emogen.face.audio_timing.time_map`): parallel
    voice conversion's training pairs (Toda, Black & Tokuda 2007, after DTW alignment), here
    pairs of source codes and target frames. With `source_aligner`, a codec adapted in a first
    pass (`alignment_steps`) speaks each rendition's codes in the new voice first, and DTW aligns
    that with the recording: one voice against itself, which DTW matches far better (the
    iterative alignment of voice-conversion toolkits such as sprocket; Kobayashi & Toda 2018).
    On 5 minutes of Festival's SLT voice it took the WER of the corpus voice's codes through
    the adapted decoder from 19.3 % to 13.6 % (scratch runs; bench_finetune.py measured 13.6 %).
    A pitch level is the recording's own (the decoder learns this voice's pitch), and the
    source's is shifted onto it at decode (`pitch_offset`); a codec without one must learn the
    voice's pitch from the source's codes.

    A codec that reads phonemes is told the recording's own (its alignment, from
    `prepare_voice_data`), at each token frame's middle.

    Returns:
        `(train, held_out, pitch_offset)`: `(frames, codes, phonemes)` triples (the recording's
        normalised `(N, D)` frames, `(Q, N / stride)` codes, `(N / stride,)` phoneme ids, all 0
        for a codec that reads none), held out by text as in `build_data`, and the mean voiced
        pitch-code difference of the recordings from the renditions.
    """
    from tqdm.auto import tqdm

    from emogen.errors import EmogenError
    from emogen.face.audio_timing import time_map
    from emogen.speech.audio import load_audio, resample
    from emogen.speech.codec import WorldFrameCodec
    from emogen.speech.corpus import read_manifest
    from emogen.speech.feature_cache import cached_world_frames
    from emogen.speech.voice import PiperVoice

    manifest = read_manifest(manifest_path)
    frames = cached_world_frames(
        manifest, manifest_path, [u.id for u in manifest], out / FEATURES, codec.vocoder,
        codec.coder, accelerator,
    )  # fmt: skip
    stride, rate = codec.config.stride, codec.sample_rate
    with_pitch = codec.config.pitch_codebook

    key = {
        "source_voice": config["source_voice"],
        "source_renditions": config["source_renditions"],
        "source_aligner": config["source_aligner"],
        "aligner_sha1": [  # a first pass run again gives other pairs
            hashlib.sha1(f.read_bytes()).hexdigest()
            for f in sorted(Path(config["source_aligner"] or out / "none").glob("*"))
        ],
        "manifest_sha1": hashlib.sha1(Path(manifest_path).read_bytes()).hexdigest(),
        "ids": sorted(frames),
    }
    cache = out / FEATURES / SOURCE_PAIRS
    if accelerator.is_main_process and not (
        cache.is_file() and torch.load(cache, weights_only=False)["key"] == key
    ):
        voice, pairs, levels = PiperVoice(config["source_voice"]), {}, {"source": [], "target": []}
        aligner = None
        if config["source_aligner"] is not None:
            aligner = WorldFrameCodec.from_pretrained(config["source_aligner"]).eval()
        for utterance in tqdm(manifest, desc="source renditions", unit="utterance"):
            recording = load_audio(manifest.audio_path(utterance), rate, max_seconds=None)[0]
            target = padded_frames(codec, frames[utterance.id])
            count = len(target) // stride
            centres = (np.arange(count) * stride + stride / 2) * codec.config.frame_period_ms / 1e3
            pitch = codec.pitch_codes(target[None])[0] if with_pitch else None
            if with_pitch:
                levels["target"].append(_voiced(pitch, frames[utterance.id], stride))
            for index in range(config["source_renditions"]):
                spoken = voice.synthesize(
                    utterance.text, seed=index, length_scale=SOURCE_SPEEDS[index % 3]
                )
                source = resample(spoken.audio, spoken.sample_rate, rate)
                source_frames = codec.coder.encode(codec.vocoder.analyze(source, rate))
                codes = codec.encode_frames(source_frames)
                if with_pitch:
                    levels["source"].append(_voiced(codes[1], source_frames, stride))
                # the rendition's timing, in the new voice when a first pass can speak it
                template = source if aligner is None else aligner.decode(codes)
                segment_times, source_times = time_map(template, recording, rate)
                moments = np.interp(centres, segment_times, source_times)
                token = np.floor(moments * codec.frame_rate).astype(np.int64)
                aligned = codes[:, np.clip(token, 0, codes.shape[1] - 1)]
                if with_pitch:
                    aligned[1] = pitch
                pairs.setdefault(utterance.id, []).append(aligned)
        offset = 0.0
        if with_pitch and all(len(torch.cat(v)) for v in levels.values()):
            offset = float(torch.cat(levels["target"]).float().mean()) - float(
                torch.cat(levels["source"]).float().mean()
            )
        torch.save({"key": key, "pairs": pairs, "pitch_offset": offset}, cache)
    accelerator.wait_for_everyone()
    saved = torch.load(cache, weights_only=False)
    held_texts = held_out_texts(manifest, manifest_path, config)
    split: dict[bool, list] = {True: [], False: []}
    for utterance in manifest:
        count = frames[utterance.id].shape[0]
        if count < config["crop_frames"]:
            continue
        target = padded_frames(codec, frames[utterance.id])
        told = told_ids(codec, utterance.alignment, count, len(target) // stride)
        for codes in saved["pairs"][utterance.id]:
            split[utterance.text in held_texts].append((target, codes, told))
    if not split[False]:
        raise EmogenError(f"{manifest_path}: no utterance is {config['crop_frames']} frames long")
    return split[False], split[True], saved["pitch_offset"]


def build_lm_data(
    manifest_path: Path, out: Path, config: dict, accelerator, codec: Any
) -> tuple[list, list, list]:
    """A codec language model's own codes of the manifest's sentences beside the real frames:
    ground-truth-aligned data, as Tacotron 2 fine-tuned its vocoder on the acoustic model's own
    predictions for the real durations (Shen et al. 2018). The language model of
    `config["lm_pipeline"]` speaks each sentence of `lm_utterances` training utterances (a
    seeded sample) and of every held-out one, free-running at its pipeline's sampling, with the
    recording's phoneme durations forced on its pointer (`generate(frame_phonemes=...)`), so
    its codes line up with the recording's frames; the pitch level stays the recording's (the
    decoder keeps following the pitch it is given). Cached in `<out>/features/`; the sentences
    are split between processes.

    Returns:
        `(lm_train, real_train, held_out)`: `(frames, codes, phonemes)` triples as
        `build_source_data`'s: the sampled training utterances with the model's codes, every
        training utterance with the encoder's codes, and the held-out ones with the model's.
    """
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    from emogen.emotion import EmotionCurve
    from emogen.emotion.text import split_sentences
    from emogen.errors import EmogenError
    from emogen.pipelines import load_pipeline, resolve_pipeline_path
    from emogen.speech.acoustic import emotion_embedding
    from emogen.speech.corpus import read_manifest
    from emogen.speech.diffusion_tts import phoneme_tokens
    from emogen.speech.feature_cache import cached_world_frames
    from emogen.speech.frames import sentence_segments, token_phonemes

    manifest = read_manifest(manifest_path)
    frames = cached_world_frames(
        manifest, manifest_path, [u.id for u in manifest], out / FEATURES, codec.vocoder,
        codec.coder, accelerator,
    )  # fmt: skip
    stride, period = codec.config.stride, codec.config.frame_period_ms
    held_texts = held_out_texts(manifest, manifest_path, config)
    usable = [
        u for u in manifest
        if frames[u.id].shape[0] >= config["crop_frames"] and u.alignment
        and (u.emotion is not None or u.curve is not None)
    ]  # fmt: skip
    if not usable:
        raise EmogenError(f"{manifest_path}: lm_pipeline needs aligned utterances with emotions")
    training = [u for u in usable if u.text not in held_texts]
    order = torch.randperm(len(training), generator=torch.Generator().manual_seed(config["seed"]))
    count = config["lm_utterances"] or len(training)
    spoken = [training[i] for i in order[:count].tolist()]
    spoken += [u for u in usable if u.text in held_texts]

    folder = resolve_pipeline_path(config["lm_pipeline"])
    key = {
        "lm_pipeline": str(folder),
        "lm_sha1": [
            hashlib.sha1(f.read_bytes()).hexdigest()
            for f in sorted(folder.glob("language_model/*"))
        ],
        "manifest_sha1": hashlib.sha1(Path(manifest_path).read_bytes()).hexdigest(),
        "ids": sorted(u.id for u in spoken),
        "seed": config["seed"],
    }
    cache = out / FEATURES / LM_CODES
    cached = torch.load(cache, weights_only=False) if cache.is_file() else None
    if cached is None or cached["key"] != key:
        pipe = load_pipeline(folder)
        model, encoder, voice = pipe.language_model.eval(), pipe.emotion_encoder, pipe.voice
        theirs = getattr(getattr(pipe.codec, "quantizer", None), "codebooks", None)
        if theirs is None or not torch.equal(theirs, codec.quantizer.codebooks):
            raise EmogenError(
                f"{config['lm_pipeline']}: its codec's codebooks are not this codec's (the "
                "model's codes would mean other frames)"
            )
        jobs = []  # (utterance id, first token frame, phoneme ids, pointer targets, emotion)
        for utterance in spoken:
            sentences = split_sentences(utterance.text)
            phonemes = [voice.phonemize(s) for s in sentences]
            length = frames[utterance.id].shape[0]
            for sentence, (first, last, durations) in zip(
                phonemes, sentence_segments(utterance, phonemes, length, period), strict=True
            ):
                start, end = first // stride, -(-last // stride)
                owners = token_phonemes(durations, first, start * stride, end - start, stride)
                emotion = utterance.emotion
                if isinstance(utterance.curve, EmotionCurve):
                    emotion = utterance.curve.at((start + end) / 2 * stride * period / 1000.0)
                jobs.append((utterance.id, start, phoneme_tokens(voice, sentence), owners, emotion))
        jobs.sort(key=lambda job: len(job[3]))  # batches of similar lengths
        batches = [jobs[i : i + LM_BATCH] for i in range(0, len(jobs), LM_BATCH)]
        done = []
        # every process-th batch: short and long sentences shared alike
        mine = list(enumerate(batches))[accelerator.process_index :: accelerator.num_processes]
        bar = tqdm(mine, desc="language model codes", unit="batch",
                   disable=not accelerator.is_main_process)  # fmt: skip
        for number, batch in bar:
            with torch.no_grad():
                codes = model.generate(
                    [torch.from_numpy(job[2]) for job in batch],
                    emotion_embedding(encoder, [job[4] for job in batch]),
                    encoder.null(len(batch)).pooled,
                    guidance_scale=float(pipe.config.emotion_guidance_scale),
                    temperature=float(pipe.config.temperature),
                    top_k=pipe.config.top_k,
                    top_p=pipe.config.top_p,
                    max_frames=max(len(job[3]) for job in batch),
                    generator=torch.Generator().manual_seed(config["seed"] * 100003 + number),
                    frame_phonemes=[torch.from_numpy(job[3]) for job in batch],
                    phoneme_prior_scale=float(pipe.config.phoneme_prior_scale),
                )
            done += [(job[0], job[1], c.cpu()) for job, c in zip(batch, codes, strict=True)]
        cached = {"key": key, "codes": gather_object(done)}  # every process gets them all
        if accelerator.is_main_process:
            torch.save(cached, cache)
        accelerator.wait_for_everyone()
    generated: dict[str, list] = {}
    for identifier, start, codes in cached["codes"]:
        generated.setdefault(identifier, []).append((start, codes))

    def real(utterance: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The recording's frames, the encoder's codes and the told phoneme ids."""
        target = padded_frames(codec, frames[utterance.id])
        with torch.no_grad():
            codes = codec.codes_of(target[None].to(codec.device))[0].cpu()
        count = frames[utterance.id].shape[0]
        return target, codes, told_ids(codec, utterance.alignment, count, codes.shape[1])

    def own(identifier: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`real`'s triple with the model's content codes over its sentences (the pitch level
        stays the recording's)."""
        target, codes, told = encoded[identifier]
        mixed = codes.clone()
        for start, sentence in generated[identifier]:
            mixed[:, start : start + sentence.shape[1]] = sentence[:, : codes.shape[1] - start]
        if codec.config.pitch_codebook:
            mixed[1] = codes[1]
        return target, mixed, told

    encoded = {u.id: real(u) for u in tqdm(usable, desc="encoder codes", unit="utterance",
                                            disable=not accelerator.is_main_process)}  # fmt: skip
    held = [own(u.id) for u in usable if u.text in held_texts]
    lm_train = [own(u.id) for u in spoken if u.text not in held_texts]
    return lm_train, [encoded[u.id] for u in training], held


def _voiced(pitch: torch.Tensor, frames: np.ndarray, stride: int) -> torch.Tensor:
    """The pitch codes of the token frames that are mostly voiced (WORLD frames' column 1)."""
    voicing = torch.from_numpy(frames[: len(pitch) * stride, 1])
    voicing = torch.cat([voicing, voicing.new_zeros(len(pitch) * stride - len(voicing))])
    return pitch[voicing.reshape(-1, stride).mean(1) > 0.5]


def draw_code_batch(
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    size: int,
    crop: int,
    stride: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`(size, crop, D)` random crops of random triples' frames, their `(size, Q, crop /
    stride)` codes and `(size, crop / stride)` phoneme ids, cut on token boundaries."""
    picks = torch.randint(len(pairs), (size,), generator=generator).tolist()
    rows, codes, told = [], [], []
    tokens = crop // stride
    for index in picks:
        frames, pair_codes, pair_told = pairs[index]
        start = int(torch.randint(pair_codes.shape[1] - tokens + 1, (1,), generator=generator))
        rows.append(frames[start * stride : (start + tokens) * stride])
        codes.append(pair_codes[:, start : start + tokens])
        told.append(pair_told[start : start + tokens])
    return torch.stack(rows), torch.stack(codes), torch.stack(told)


def draw_batch(
    utterances: list[tuple[torch.Tensor, torch.Tensor]],
    size: int,
    crop: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(size, crop, D)` random crops of random utterances and their `(size, crop)` phoneme
    classes."""
    picks = torch.randint(len(utterances), (size,), generator=generator).tolist()
    rows, classes = [], []
    for index in picks:
        frames, labels = utterances[index]
        start = int(torch.randint(frames.shape[0] - crop + 1, (1,), generator=generator))
        rows.append(frames[start : start + crop])
        classes.append(labels[start : start + crop])
    return torch.stack(rows), torch.stack(classes)


def pitch_response(
    codec: Any, pairs: list[tuple[torch.Tensor, torch.Tensor]], offset: float, step: int = 20
) -> torch.Tensor:
    """`(D,)` how a codec's decoder changes each normalised frame column per pitch step: its
    frames for up to 32 pairs' codes `step` steps higher less those `step` lower, over
    `2 * step`, at the source voice's pitch (the codes' pitch less `offset`). Trained on
    emotional speech, whose pitch and loudness rise together, the shipped codec makes each
    semitone up about 0.9 dB louder: that, not the content codes, carries most of an
    emotion's loudness."""
    if not codec.config.pitch_codebook:
        return torch.zeros(codec.config.frame_dims)
    top, changes = codec.config.pitch_bins - 1, []
    with torch.no_grad():
        for _, codes, _ in pairs[:32]:
            centre = torch.round(codes[1].float() - offset).long()
            up, down = codes.clone(), codes.clone()
            up[1], down[1] = (centre + step).clamp(0, top), (centre - step).clamp(0, top)
            change = codec.reconstruct(up[None]) - codec.reconstruct(down[None])
            changes.append(change[0].mean(0) / (2 * step))
    return torch.stack(changes).mean(0)


def shift_pitch(
    frames: torch.Tensor,
    codes: torch.Tensor,
    codec: Any,
    semitones: float,
    generator: torch.Generator,
    response: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pair of a batch moved in pitch by U(-semitones / 2, semitones): its frames' log F0
    and its pitch codes together, and its other columns by `response` (`pitch_response`) per
    pitch step. A custom voice's recordings are neutral, but the language model raises pitch by
    up to 5 semitones for an emotion; without pitch the decoder never saw (WORLD moves F0 apart
    from the envelope), it flattened them: on SLT, happy rose 1.6 semitones where the base
    rises 3.9 (a scratch run); with 6 (-3 to +6), 2.9, but the emotions' loudness was gone
    (+0.1 dB where the base rises 2.5, bench_finetune.py at 11:49 on 2026-11-23); with
    `response`, +3.1 semitones and +1.7 dB (benchmarks/speech/RESULTS_finetune.md)."""
    if not semitones or not codec.config.pitch_codebook:
        return frames, codes
    config, step = codec.config, codec.pitch_step
    shift = (torch.rand(len(codes), generator=generator) * 1.5 - 0.5) * semitones
    steps = torch.round(shift * np.log(2) / 12 / step)
    codes, frames = codes.clone(), frames.clone()
    codes[:, 1] = (codes[:, 1] + steps[:, None].long()).clamp(0, config.pitch_bins - 1)
    if response is not None:
        frames[..., 2:] += (steps[:, None, None] * response[2:]).to(frames.dtype)
    frames[..., 0] += (steps * step / float(codec.normalizer.std[0]))[:, None].to(frames.dtype)
    return frames, codes


class CodecTrainingModule(torch.nn.Module):
    """The codec and, with `num_phonemes`, a linear phoneme classifier on its first level's
    quantised latents: SpeechTokenizer's semantic guidance of the first RVQ level (Zhang et
    al. 2024), with the corpus's phoneme alignment as the teacher, so that the first level
    (the one a codec language model predicts first) is phonetic."""

    def __init__(self, codec: Any, num_phonemes: int = 0):
        super().__init__()
        self.codec = codec
        latent = codec.config.latent_dims
        self.phoneme_probe = torch.nn.Linear(latent, num_phonemes) if num_phonemes else None

    def forward(
        self,
        frames: torch.Tensor | None,
        levels: int | None = None,
        codes: torch.Tensor | None = None,
        phonemes: torch.Tensor | None = None,
    ) -> Any:
        """The codec's reconstruction of `frames`, or with `codes`, the frames it decodes from
        them (`source_voice`, `decoder_only`); `phonemes`: each token frame's phoneme id."""
        if codes is not None:
            return self.codec.reconstruct(codes, levels, phonemes)
        return self.codec(frames, levels, phonemes)


def corrupt_codes(
    codes: torch.Tensor, share: float, codec: Any, generator: torch.Generator
) -> torch.Tensor:
    """`(B, Q, T)` codes with each row's content levels (not the pitch level) replaced by
    random codes in a share U(0, `share`) of its token frames, drawn per row and level: a
    stand-in for a codec language model's mistakes (it draws wrong codes, its residual levels
    most), so the decoder learns to decode codes it cannot trust."""
    if not share:
        return codes
    batch, levels, length = codes.shape
    rates = torch.rand(batch, levels, 1, generator=generator) * share
    hit = torch.rand(batch, levels, length, generator=generator) < rates
    if codec.config.pitch_codebook:
        hit[:, 1] = False
    noise = torch.randint(codec.config.codebook_size, codes.shape, generator=generator)
    return torch.where(hit, noise.to(codes.device), codes)


def reconstruction_loss(prediction: torch.Tensor, target: torch.Tensor, f0_weight: float):
    """Mean squared error per column, log F0 (column 0) weighted `f0_weight`."""
    weights = torch.ones(target.shape[-1], device=target.device)
    weights[0] = f0_weight
    return (((prediction.float() - target.float()) ** 2).mean((0, 1)) * weights).sum() / (
        weights.sum()
    )


def train(
    config: dict[str, Any],
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    resume: bool = False,
    stop_after: int | None = None,
    init_from: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train (or resume) a run; returns the summary (also `<out>/training_summary.json`).

    Args:
        config: from `load_config`.
        manifest: the corpus manifest (JSONL).
        out: the run folder (features cache, states, loss log, and the codec).
        resume: continue from the newest state in `<out>/states`.
        stop_after: end the loop after this step without saving anything more (tests).
        init_from: a trained codec folder to adapt to the manifest's recordings (module
            docstring).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

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

    if config["freeze_codebooks"] and init_from is None:
        raise EmogenError("freeze_codebooks keeps a trained codec's codebooks: give init_from")
    source = config["source_voice"] is not None
    lm = config["lm_pipeline"] is not None
    if lm and config["lm_code_share"] == 0.0:
        raise EmogenError("lm_pipeline with lm_code_share 0 never reads its codes")
    if source and lm:
        raise EmogenError("source_voice and lm_pipeline are two kinds of code pairs: give one")
    if source and init_from is None:
        raise EmogenError("source_voice adapts a trained codec's decoder: give init_from")
    if config["decoder_only"] and init_from is None:
        raise EmogenError("decoder_only trains a trained codec's decoder: give init_from")
    if source and config["alignment_steps"] and config["source_aligner"] is None:
        # the first pass, whose decoder re-speaks the renditions for the second's alignment
        first = {**config, "steps": config["alignment_steps"], "alignment_steps": 0}
        first["save_every"] = min(config["save_every"], config["alignment_steps"])
        summary = train(first, manifest, Path(out) / ALIGNER, resume, stop_after, init_from)
        if not summary["completed"]:
            return summary
        config = {**config, "source_aligner": str(Path(out) / ALIGNER / CODEC)}
    accelerator = Accelerator(mixed_precision=config["mixed_precision"])
    out = check_run_folder(out, config, resume, accelerator)
    base = WorldFrameCodec.from_pretrained(init_from) if init_from is not None else None
    pitch_offset, response = 0.0, None
    if source:
        # only the decoder (and pitch embedding) learn: the codes stay the source voice's
        base.register_to_config(pitch_offset=0.0)
        train_frames, held_frames, pitch_offset = build_source_data(
            Path(manifest), out, config, accelerator, base
        )
        normalizer, vocoder, phonemes = base.normalizer, base.vocoder, []
        # measured before any training (a resumed run measures the same)
        response = pitch_response(base, train_frames, pitch_offset)
    elif lm:  # the pairs are built once the codec reads phonemes (below)
        from emogen.speech.corpus import read_manifest

        normalizer, vocoder = base.normalizer, base.vocoder
        phonemes = phoneme_classes(read_manifest(Path(manifest)), base)
    else:
        train_frames, held_frames, normalizer, vocoder, phonemes = build_data(
            Path(manifest), out, config, accelerator, base
        )
    conditioned = config["phoneme_conditioning"] and not source
    if conditioned and not phonemes:
        raise EmogenError(f"{manifest}: phoneme_conditioning needs a manifest with alignments")
    record_run_config(out, config, accelerator)
    set_seed(config["seed"])
    if base is not None:
        codec = base
        if conditioned and not base.reads_phonemes:
            codec = base.with_phonemes(phonemes)
    else:
        codec = WorldFrameCodec(
            frame_dims=train_frames[0][0].shape[1],
            channels=config["channels"],
            latent_dims=config["latent_dims"],
            num_codebooks=config["num_codebooks"],
            codebook_size=config["codebook_size"],
            stride=config["stride"],
            blocks=config["blocks"],
            pitch_codebook=config["pitch_codebook"],
            window_f0_floor=vocoder.config.window_f0_floor,
            aperiodicity_stride=vocoder.config.aperiodicity_stride,
            phonemes=phonemes if conditioned else None,
        ).with_statistics(normalizer)
    # only the decoder (and the pitch and phoneme embeddings) learn: the codes stay the same
    decoder_only = source or config["decoder_only"]
    if decoder_only:
        for parameter in [*codec.encoder.parameters(), *codec.quantizer.parameters()]:
            parameter.requires_grad_(False)
    codec.quantizer.frozen = config["freeze_codebooks"] or decoder_only
    real_frames: list = []  # with lm_pipeline: crops of these read the encoder's codes
    if lm:  # (the codebooks frozen first: encoding must not move them)
        train_frames, real_frames, held_frames = build_lm_data(
            Path(manifest), out, config, accelerator, codec
        )
    given = source or lm  # the batches carry their codes
    supervised = config["phoneme_weight"] > 0 and bool(phonemes)
    if config["phoneme_weight"] > 0 and not phonemes:
        logger.warning("phoneme_weight is set but the manifest has no alignment: no phoneme loss")
    training_module = CodecTrainingModule(codec, len(phonemes) if supervised else 0)
    num_parameters = sum(p.numel() for p in codec.parameters())
    logger.info(
        "%d training utterances (%d frames), %d held out; %d parameters",
        len(train_frames),
        sum(pair[0].shape[0] for pair in train_frames),
        len(held_frames),
        num_parameters,
    )
    model, optimizer, lr_scheduler, ema, start_step = prepare_training(
        accelerator, training_module, config, out, resume
    )
    log_rows = read_loss_log(out / LOSS_LOG, start_step) if start_step else []
    content_levels = codec.quantizer.num_codebooks
    stride = codec.config.stride

    def draw(
        pairs: list, generator: torch.Generator, augment: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """A batch: frames, codes (with `source_voice`, the source voice's, pitch-shifted when
        `augment`; with `lm_pipeline`, the language model's, a share `1 - lm_code_share` of
        them the encoder's when `augment`; else None) and each token frame's phoneme (class
        per frame without given codes; an id per token frame with them)."""
        size, crop = config["batch_size"], config["crop_frames"]
        if given:
            frames, codes, told = draw_code_batch(pairs, size, crop, stride, generator)
            if source:
                semitones = config["pitch_augment_semitones"] if augment else 0.0
                frames, codes = shift_pitch(frames, codes, codec, semitones, generator, response)
            elif augment and real_frames:
                own = torch.rand(size, generator=generator) < config["lm_code_share"]
                real = draw_code_batch(real_frames, size, crop, stride, generator)
                frames, codes, told = (
                    torch.where(own.reshape(-1, *[1] * (mine.dim() - 1)), mine, theirs)
                    for mine, theirs in zip((frames, codes, told), real, strict=True)
                )
            return frames, codes, told
        frames, labels = draw_batch(pairs, size, crop, generator)
        return frames, None, labels

    def told_of(
        labels: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor | None:
        """Each token frame's phoneme id for a codec that reads phonemes (None otherwise): the
        class of its middle frame (plus one: 0 is none told), or with `source_voice` the ids as
        drawn; whole crops lose theirs at `phoneme_dropout` when a generator is given."""
        if not codec.reads_phonemes:
            return None
        told = labels if given else (labels[:, stride // 2 :: stride] + 1).clamp(min=0)
        if generator is not None and config["phoneme_dropout"]:
            dropped = torch.rand(len(told), generator=generator) < config["phoneme_dropout"]
            told = told.masked_fill(dropped[:, None], 0)
        return told.to(accelerator.device)

    eval_batch, eval_codes, eval_labels = draw(
        held_frames or train_frames, seeded_generator(config["seed"], 1), augment=False
    )
    eval_told = told_of(eval_labels)

    def losses_of(
        frames: torch.Tensor,
        codes: torch.Tensor | None,
        labels: torch.Tensor,
        levels: int | None,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        told = told_of(labels, generator)
        if decoder_only:  # the decoder reads given codes: the source voice's, or the encoder's
            if codes is None:
                codes = accelerator.unwrap_model(model).codec.codes_of(
                    frames.to(accelerator.device)
                )
            codes = corrupt_codes(codes, config["code_noise"], codec, generator)
            reconstruction = model(None, levels, codes.to(accelerator.device), told)
            target = frames.to(accelerator.device)
            return {
                "reconstruction": reconstruction_loss(reconstruction, target, config["f0_weight"])
            }
        output = model(frames.to(accelerator.device), levels, None, told)
        losses = {
            "reconstruction": reconstruction_loss(
                output.reconstruction, frames.to(accelerator.device), config["f0_weight"]
            ),
            "commitment": config["commitment_weight"] * output.commitment,
        }
        if supervised:  # the class of each token frame's middle frame
            probe = accelerator.unwrap_model(model).phoneme_probe
            targets = labels[:, stride // 2 :: stride].to(accelerator.device)
            logits = probe(output.coarse.float())
            losses["phoneme"] = config["phoneme_weight"] * torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100
            )
        return losses

    def evaluate() -> float:
        def measure(module) -> float:
            if eval_codes is not None:
                codes = eval_codes.to(accelerator.device)
                reconstruction = module(None, None, codes, eval_told)
            else:  # frozen codebooks (decoder_only) do not move in the forward pass
                frames = eval_batch.to(accelerator.device)
                reconstruction = module(frames, None, None, eval_told).reconstruction
            return float(reconstruction_loss(reconstruction, eval_batch, config["f0_weight"]))

        return evaluate_with_ema(accelerator, model, ema, measure)

    if start_step == 0:
        log_rows = [{"step": 0, "eval_loss": f"{evaluate():.6f}", "seconds": 0}]
    started = time.perf_counter()
    window: dict[str, list[float]] = {
        "loss": [], "reconstruction": [], "commitment": [], "phoneme": []
    }  # fmt: skip
    model.train()
    last_step = min(config["steps"], stop_after) if stop_after is not None else config["steps"]
    bar = training_bar(accelerator, start_step, last_step, config["steps"])
    for step in bar:
        generator = seeded_generator(config["seed"], 0, step, accelerator.process_index)
        batch, codes, labels = draw(train_frames, generator)
        # SoundStream's quantizer dropout (Zeghidour et al. 2021): some steps decode from the
        # coarse levels alone, so those carry as much of the frame as they can.
        levels = None
        if (
            content_levels > 1
            and float(torch.rand(1, generator=generator)) < config["quantizer_dropout"]
        ):
            levels = int(torch.randint(1, content_levels, (1,), generator=generator))
        loss, losses = optimisation_step(
            accelerator,
            model,
            lambda batch=batch, codes=codes, labels=labels, levels=levels, generator=generator: (
                losses_of(batch, codes, labels, levels, generator)
            ),
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
                "reconstruction_loss": f"{np.mean(window['reconstruction']):.6f}",
                "commitment_loss": (
                    f"{np.mean(window['commitment']):.6f}" if not decoder_only else ""
                ),
                "phoneme_loss": f"{np.mean(window['phoneme']):.6f}" if supervised else "",
                "eval_loss": f"{evaluate():.6f}" if evaluated else "",
                "lr": f"{lr_scheduler.get_last_lr()[0]:.3g}",
                "seconds": round(time.perf_counter() - started, 2),
            }
            log_rows.append(row)
            window = {name: [] for name in window}
            bar.set_postfix(loss=row["loss"], refresh=False)
            if accelerator.is_main_process:
                write_loss_log(out / LOSS_LOG, log_rows, LOG_FIELDS)
        if step % config["save_every"] == 0 and step < config["steps"]:
            save_state(accelerator, out, step, config["keep_states"])

    summary = run_summary(
        accelerator, log_rows, config["steps"], last_step, start_step,
        time.perf_counter() - started,
        num_parameters=num_parameters,
        num_training_utterances=len(train_frames),
        num_held_out_utterances=len(held_frames),
        pitch_offset=pitch_offset,
    )  # fmt: skip
    completed = summary["completed"]
    if not completed:
        return summary
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        module = accelerator.unwrap_model(model)
        if ema is not None:
            ema.copy_to(module.parameters())
        if source:
            module.codec.register_to_config(pitch_offset=pitch_offset)
        module.codec.eval().save_pretrained(out / CODEC)
        (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        logger.info("saved the codec to %s: %s", out / CODEC, summary)
    accelerator.wait_for_everyone()
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="tiny, base, or a YAML path")
    parser.add_argument("--manifest", required=True, help="corpus manifest (JSONL)")
    parser.add_argument(
        "--out", default=None, help="run folder (default checkpoints/codec-<config>)"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest state")
    parser.add_argument("--stop-after", type=int, default=None, help="end after step N (tests)")
    parser.add_argument(
        "--init-from", default=None, help="a trained codec folder to adapt (config finetune)"
    )
    parser.add_argument(
        "--source-voice",
        default=None,
        help="with --init-from: the Piper voice whose codes the decoder learns to read",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)  # processes, not threads, share the cores
    config = load_config(args.config)
    if args.source_voice is not None:
        config["source_voice"] = args.source_voice
    out = args.out or ROOT / "checkpoints" / f"codec-{Path(args.config).stem}"
    train(config, args.manifest, out, args.resume, args.stop_after, args.init_from)


if __name__ == "__main__":
    main()
