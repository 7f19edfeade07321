"""Render a synthetic emotional speech corpus with the embedded TTS (issue 4, "Data").

Each sentence (and take: a seed of the voice's variation) is spoken by the `tts-default`
pipeline neutrally, with every configured emotion at every intensity, and with one emotion curve
(the curves of the config, in turn), all from the same seed: the neutral rendering and each
emotional one are a parallel pair for voice conversion (same words, voice and timing noise;
`pair` in the manifest). Output, in `--out`:

    wavs/<id>.wav        16-bit 22.05 kHz mono
    alignments/<id>.json when each phoneme is spoken in the wav (the manifest's `alignment`)
    manifest.jsonl       one line per utterance (emogen.speech.corpus format; labels are
                         `Emotion.to_dict()`, curve utterances have `emotion: null` and `curve`,
                         `alignment` the phonemes' [phoneme, start_s, end_s] in the wav)
    build_config.json    the config it was built with (a rerun must use the same one)

The work is split between processes by Accelerate (`PartialState.split_between_processes`); each
writes its wavs and a shard manifest, the main process merges the shards. A rerun skips the wavs
already written (with their alignment), so an interrupted build resumes; every file is written
atomically.

    .venv/bin/python training/speech_corpus/build.py --config tiny --out data/corpus-tiny
    ACCELERATE_USE_CPU=true .venv/bin/accelerate launch --multi_gpu --num_processes 2 \\
        training/speech_corpus/build.py --config base --out data/corpus-base
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFIG_KEYS = {
    # a text file (one sentence a line; relative to this folder), "chitchat" or "prose"
    "sentences": str,
    "num_sentences": (int, type(None)),  # how many to take (seeded sample); null: all
    "exclude": list,  # files of sentences never to use (held-out evaluation text; repo-relative)
    "takes": int,  # seeds per sentence
    "emotions": list,  # categories besides neutral
    "intensities": list,  # each in (0, 1]
    "curves": list,  # EmotionCurve strings over seconds; one curve utterance per take
    "pipeline": str,  # the TTS that speaks
    "speaker": str,  # speaker name written in the manifest
    "seed": int,
}
MANIFEST = "manifest.jsonl"
BUILD_CONFIG = "build_config.json"

logger = logging.getLogger("speech_corpus")


@dataclass(frozen=True)
class Job:
    """One utterance to render."""

    id: str
    text: str
    seed: int
    emotion: str | None  # an Emotion string, or None for a curve utterance
    curve: str | None = None
    pair: str | None = None


def load_config(name_or_path: str) -> dict[str, Any]:
    """Read `configs/<name>.yaml` or a YAML path, and check its keys and types."""
    from emogen.recipes import load_recipe_config

    config = load_recipe_config(name_or_path, HERE / "configs", CONFIG_KEYS)
    return config


def load_sentences(config: dict[str, Any]) -> list[str]:
    """The config's sentences, held-out ones removed, sampled with the config's seed."""
    if config["sentences"] == "chitchat":
        sentences = chitchat_sentences()
    elif config["sentences"] == "prose":
        sentences = prose_sentences()
    else:
        source = HERE / config["sentences"]
        sentences = [" ".join(line.split()) for line in source.read_text().splitlines()]
    excluded = set()
    for name in config["exclude"]:
        excluded |= {
            " ".join(line.split()).lower() for line in (ROOT / name).read_text().splitlines()
        }
    sentences = list(dict.fromkeys(s for s in sentences if s and s.lower() not in excluded))
    count = config["num_sentences"]
    if count is not None and count < len(sentences):
        rng = np.random.default_rng(config["seed"])
        sentences = [sentences[i] for i in sorted(rng.choice(len(sentences), count, replace=False))]
    return sentences


def chitchat_sentences() -> list[str]:
    """Clean single messages of the Chit-Chat Challenge dataset (BYU PCC lab, MIT licence; the
    `chitchat-dataset` package, `pip install emogen[train]`): 5-16 words, capitalised, ending
    in . ! or ?, no chat spelling (im, dont, u, lol), no shouting; ~40k of its 258k messages."""
    try:
        import chitchat_dataset
    except ImportError:
        from emogen.errors import EmogenError

        raise EmogenError(
            "sentences: chitchat needs the chitchat-dataset package: pip install 'emogen[train]'"
        ) from None
    path = Path(chitchat_dataset.__file__).with_name("dataset.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    texts = (u["text"] for c in data.values() for message in c["messages"] for u in message)
    return sorted({t for t in (" ".join(text.split()) for text in texts) if _clean_message(t)})


# Texts the project wrote itself (its text-emotion recognizer's examples and test sets, the
# dialogue responses and test conversations, the 60 sentences here): whole words and punctuation,
# the written register chitchat messages lack. The sample follows these files as they are: after
# they change, build into a new folder (a resumed build would pair old wavs with new texts).
PROSE_SOURCES = (
    "training/speech_corpus/sentences.txt",
    "emogen/emotion/data/text_prototypes.json",
    "emogen/emotion/data/text_valence_examples.json",
    "emogen/emotion/data/text_valence_retired.json",
    "emogen/emotion/data/text_dialogue_examples.json",
    "emogen/dialogue/data/responses.json",
    "benchmarks/emotion/text_emotion_*.jsonl",
    "benchmarks/dialogue/dialogue_*.jsonl",
)


def prose_sentences() -> list[str]:
    """The written sentences of `PROSE_SOURCES` (every string of their JSON, the `text` of their
    JSONL lines and turns): 5-30 words, one sentence or a few, capitalised, ending in . ! or ?,
    no chat spelling and no templates; ~6,000."""

    def strings(value: Any) -> Any:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in ("description", "licence"):
                    yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    texts = []
    for pattern in PROSE_SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".txt":
                texts += text.splitlines()
            elif path.suffix == ".json":
                texts += strings(json.loads(text))
            else:
                for line in map(json.loads, text.splitlines()):
                    texts += [line.get("text", "")] + [t["text"] for t in line.get("turns", [])]
    return sorted({t for t in (" ".join(text.split()) for text in texts) if _written(t)})


_MESSAGE = re.compile(r"^[A-Z][A-Za-z0-9 ,.'!?-]*[a-z0-9][.!?]$")
_CHAT_WORDS = re.compile(
    r"\b(im|dont|cant|wont|didnt|doesnt|isnt|ive|whats|thats|youre|theyre|u|ur|lol|haha|hahaha|"
    r"omg|btw|gonna|wanna|yeah|ya|yep|nope)\b",
    re.IGNORECASE,
)


def _clean_message(text: str) -> bool:
    return (
        bool(_MESSAGE.match(text))
        and 5 <= len(text.split()) <= 16
        and not _CHAT_WORDS.search(text)
        and not re.search(r"\bi\b", text)  # a lowercase "i" as a word
        and not re.search(r"[.!?,]{2,}| [.!?,]|\b[A-Z]{2,}\b", text)
    )


_WRITTEN = re.compile(r"^[A-Z][A-Za-z0-9 ,.;:'!?-]*[a-z0-9][.!?]$")


def _written(text: str) -> bool:
    return (
        bool(_WRITTEN.match(text))
        and 5 <= len(text.split()) <= 30
        and not _CHAT_WORDS.search(text)
        and not re.search(r"\b(i|ngl|tbh|idk)\b", text)
        and not re.search(r"[.!?,]{2,}| [.!?,]|\b[A-Z]{2,}\b", text)
    )


def plan(config: dict[str, Any]) -> list[Job]:
    """Every utterance of the corpus, in manifest order (independent of the process count)."""
    jobs = []
    for index, text in enumerate(load_sentences(config)):
        for take in range(config["takes"]):
            # One seed per (sentence, take), shared by the neutral and emotional renderings.
            seed = int(np.random.default_rng([config["seed"], index, take]).integers(2**31))
            stem = f"s{index:05d}-t{take}"
            neutral = f"{stem}-neutral"
            jobs.append(Job(neutral, text, seed, "neutral"))
            for emotion in config["emotions"]:
                for intensity in config["intensities"]:
                    label = f"{emotion}:{intensity:g}"
                    name = f"{stem}-{emotion}-{intensity:g}"
                    jobs.append(Job(name, text, seed, label, pair=neutral))
            if config["curves"]:
                number = (index * config["takes"] + take) % len(config["curves"])
                curve = config["curves"][number]
                jobs.append(Job(f"{stem}-curve{number}", text, seed, None, curve, neutral))
    return jobs


def check_config(config: dict[str, Any]) -> None:
    """Parse every emotion and curve once, so a typo fails before any rendering."""
    from emogen.emotion import Emotion, EmotionCurve
    from emogen.errors import EmogenError

    for emotion in config["emotions"]:
        for intensity in config["intensities"]:
            Emotion.parse(f"{emotion}:{intensity}")
    for curve in config["curves"]:
        if EmotionCurve.parse(curve).unit != "seconds":
            raise EmogenError(f"curve {curve!r}: the corpus takes curves over seconds")
    if config["takes"] < 1:
        raise EmogenError(f"takes must be >= 1, got {config['takes']}")


def render_shard(jobs: list[Job], out: Path, config: dict[str, Any], rank: int) -> list[dict]:
    """Render the jobs whose wav is missing; manifest lines of every job that has its wav."""
    from emogen._files import atomic_path
    from emogen.emotion import Emotion, EmotionCurve
    from emogen.errors import EmogenError
    from emogen.speech.audio import save_audio
    from emogen.speech.corpus import Utterance, audio_duration

    pipe = None
    lines = []
    (out / "alignments").mkdir(exist_ok=True)
    for job in tqdm(jobs, desc=f"rendering (process {rank})", position=rank, mininterval=2):
        wav = out / "wavs" / f"{job.id}.wav"
        timing = out / "alignments" / f"{job.id}.json"
        # A wav without its alignment (a build from before alignments) is rendered again.
        try:
            duration = audio_duration(wav) if timing.is_file() else None
        except EmogenError:  # missing or unreadable
            duration = None
        if duration is None:
            pipe = pipe or _pipeline(config["pipeline"])
            emotion = job.curve if job.curve is not None else job.emotion
            try:
                audio, alignment = speak(pipe, job.text, emotion, job.seed)
            except EmogenError as error:
                logger.warning("skipping %s (%r): %s", job.id, job.text, error)
                continue
            with atomic_path(timing) as temporary:  # before the wav, which marks a job done
                temporary.write_text(json.dumps(alignment) + "\n")
            save_audio(wav, audio, pipe.voice.sample_rate)  # the renderer keeps peaks <= 0.99
            duration = len(audio) / pipe.voice.sample_rate
        alignment = json.loads(timing.read_text())
        utterance = Utterance(
            id=job.id,
            audio=f"wavs/{wav.name}",
            text=job.text,
            speaker=config["speaker"],
            emotion=None if job.emotion is None else Emotion.parse(job.emotion),
            duration_s=duration,
            curve=None if job.curve is None else EmotionCurve.parse(job.curve),
            pair=job.pair,
            language="en",
            alignment=None if alignment is None else tuple(map(tuple, alignment)),
        )
        lines.append(utterance.to_json())
    return lines


def speak(pipe: Any, text: str, emotion: str, seed: int) -> tuple[np.ndarray, list[list] | None]:
    """`pipe(text, emotion=emotion, generator=seed).audios[0]` and when each phoneme is spoken.

    The stream's chunks join into the pipeline's audio, and each carries its phonemes' times
    after the emotion's rate and pause changes; they are shifted to the utterance's time.

    Returns:
        `(T,)` float32 audio, and `[[phoneme, start_s, end_s], ...]` in the audio's seconds (the
        phonemes of all sentences in order; the sentence pauses are gaps), or None when the voice
        gives no alignment.
    """
    rate = pipe.voice.sample_rate
    pieces: list[np.ndarray] = []
    alignment: list[list] | None = []
    offset = 0.0
    for chunk in pipe.stream(text, emotion, generator=seed):
        pieces.append(chunk.audio)
        if chunk.alignment is None or alignment is None:
            alignment = None
        else:
            alignment += [[t.phoneme, offset + t.start, offset + t.end] for t in chunk.alignment]
        offset += len(chunk.audio) / rate
    audio = np.concatenate(pieces).astype(np.float32)
    if alignment is not None:
        # 0.1 ms, as the manifest writes them (rounding keeps the order and stays in the audio)
        total = len(audio) / rate
        alignment = [
            [p, round(min(start, total), 4), round(min(end, total), 4)]
            for p, start, end in alignment
        ]
    return audio, alignment


def build(config: dict[str, Any], out: str | os.PathLike, limit: int | None = None) -> Path:
    """Render the corpus of `config` into `out` (resuming what is there); returns the manifest.

    Run it in every process of an `accelerate launch`, or alone in one process.

    Args:
        config: a config from `load_config`.
        out: the output folder (created).
        limit: render only the first `limit` utterances of the plan (smoke tests).
    """
    import torch
    from accelerate import PartialState

    from emogen.errors import EmogenError
    from emogen.speech.corpus import Utterance, read_manifest, write_manifest

    torch.set_num_threads(1)  # processes, not threads, share the cores
    # Rendering runs on the CPU whatever the machine has; cpu=True also makes a launch of N
    # processes a gloo group (Accelerate's MULTI_CPU) instead of a GPU one.
    state = PartialState(cpu=True)
    out = Path(out)
    check_config(config)
    jobs = plan(config)[:limit]
    if state.is_main_process:
        (out / "wavs").mkdir(parents=True, exist_ok=True)
        recorded = out / BUILD_CONFIG
        if recorded.is_file() and json.loads(recorded.read_text()) != config:
            raise EmogenError(
                f"{out} was built with another config ({recorded}); use a new --out folder"
            )
        recorded.write_text(json.dumps(config, indent=2) + "\n")
    state.wait_for_everyone()

    with state.split_between_processes(jobs) as shard:
        lines = render_shard(list(shard), out, config, state.process_index)
    shard_path = out / f"manifest.shard-{state.process_index:03d}.jsonl"
    # Shards hold pairs whose neutral side another shard rendered: merged, not checked, here.
    write_manifest(shard_path, [Utterance.from_json(line) for line in lines])
    state.wait_for_everyone()

    manifest = out / MANIFEST
    if state.is_main_process:
        merged = {}
        shards = sorted(out.glob("manifest.shard-*.jsonl"))
        for path in shards:
            for line in path.read_text(encoding="utf-8").splitlines():
                utterance = Utterance.from_json(json.loads(line))
                merged[utterance.id] = utterance
        ordered = [merged[job.id] for job in jobs if job.id in merged]
        # An emotional rendering whose neutral one failed keeps no pair.
        ordered = [u if u.pair in merged or u.pair is None else _unpaired(u) for u in ordered]
        write_manifest(manifest, ordered)
        for path in shards:
            path.unlink()
        checked = read_manifest(manifest)
        logger.info(
            "%s: %d utterances, %.1f minutes, %d pairs",
            manifest,
            len(checked),
            checked.duration_s / 60,
            len(checked.pairs()),
        )
    state.wait_for_everyone()
    return manifest


@functools.lru_cache(maxsize=1)
def _pipeline(name: str) -> Any:
    """The TTS, loaded on first need (a resumed build with nothing left never loads it) and once
    per process."""
    from emogen.pipelines import load_pipeline

    return load_pipeline(name)


def _unpaired(utterance: Any) -> Any:
    import dataclasses

    return dataclasses.replace(utterance, pair=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny", help="tiny, base, or a YAML path")
    parser.add_argument("--out", required=True, help="output folder (resumed if it exists)")
    parser.add_argument("--limit", type=int, default=None, help="first N utterances only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build(load_config(args.config), args.out, limit=args.limit)


if __name__ == "__main__":
    main()
