"""Custom-voice benchmark: `emogen voice finetune` on a voice that is not the corpus voice.

The target voice is Festival's HTS voice of CMU ARCTIC speaker SLT (a female US voice, Debian
package festvox-us-slt-hts: `apt-get install festival festvox-us-slt-hts`); the corpus voice
every emogen model was trained on is Piper's male "joe". The benchmark
1. records the target: Festival speaks prose sentences (training/speech_corpus's prose source,
   never the test sentences) into a folder of wav + txt files until `--minutes` of speech;
2. speaks the first `--sentences` of benchmarks/speech/sentences.txt (held out from every
   corpus) with the base pipeline (before) and, after `finetune_voice` (what the CLI runs), with
   the fine-tuned one, neutral and in three emotions at intensity 1;
3. measures speaker similarity (`emogen.eval.speech.speaker_similarity`, cosine of speaker
   embeddings) to the target's recording of the same sentence, Whisper tiny.en WER, the emotion
   correlates' change from neutral, and the fine-tuning's wall and CPU minutes (one thread).
Four references frame the similarity: the corpus voice (tts-default) against the target, the
target against itself on another sentence, the target through the base's codec (encode +
decode), and the corpus voice's codes of each sentence (its Piper rendition, encoded by the
base's codec) decoded by the fine-tuned pipeline's adapted codec: the most the language model,
which speaks in those codes, can reach (also their WER).

Writes RESULTS_finetune.md and results_finetune.json beside this file.

    .venv/bin/python benchmarks/speech/bench_finetune.py --base tts-codec-lm --minutes 5
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FESTIVAL_VOICE = "cmu_us_slt_arctic_hts"
EMOTIONS = ("neutral", "happy", "sad", "angry")
CORRELATES = ("f0_mean_semitones", "energy_db", "speech_rate")


def festival(text: str, path: Path, voice: str = FESTIVAL_VOICE) -> float:
    """Festival's `text2wave` speaks `text` into `path`; returns its duration in seconds."""
    if shutil.which("text2wave") is None:
        raise SystemExit("text2wave not found: apt-get install festival festvox-us-slt-hts")
    subprocess.run(
        ["text2wave", "-eval", f"(voice_{voice})", "-o", str(path)],
        input=text.encode(),
        check=True,
        capture_output=True,
    )
    return sf.info(str(path)).duration


def prose_texts(exclude: set[str]) -> list[str]:
    """The speech corpus's prose sentences (training/speech_corpus/build.py), in a fixed
    shuffled order, without `exclude`."""
    spec = importlib.util.spec_from_file_location(
        "speech_corpus_build", ROOT / "training" / "speech_corpus" / "build.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    texts = [t for t in module.prose_sentences() if t.lower() not in exclude and len(t) < 120]
    order = np.random.default_rng(0).permutation(len(texts))
    return [texts[i] for i in order]


def record_target(folder: Path, texts: list[str], minutes: float) -> tuple[int, float]:
    """Festival recordings of `texts` (wav + txt) until `minutes` of speech; (files, seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    total, count = 0.0, 0
    for index, text in enumerate(texts):
        if total >= 60 * minutes:
            break
        stem = folder / f"slt_{index:04d}"
        total += festival(text, stem.with_suffix(".wav"))
        stem.with_suffix(".txt").write_text(text + "\n")
        count += 1
    return count, total


def speak_all(pipe, texts: list[str], emotions=EMOTIONS) -> dict[str, list[tuple]]:
    """`pipe` speaks every text in every emotion (intensity 1): {emotion: [(audio, rate)]}."""
    spoken = {}
    for emotion in emotions:
        asked = emotion if emotion == "neutral" else f"{emotion}:1.0"
        outputs = [pipe(t, emotion=asked, generator=i) for i, t in enumerate(texts)]
        spoken[emotion] = [(o.audios[0], o.sample_rate) for o in outputs]
    return spoken


def measure(spoken: dict, texts: list[str], targets: list[tuple]) -> dict:
    """Similarity to the target's same sentence, WER and correlate changes of `speak_all`."""
    from emogen.errors import EmogenError
    from emogen.eval.speech import (
        acoustic_correlates,
        speaker_similarity,
        transcribe,
        word_error_counts,
    )

    def correlates(audio: np.ndarray, rate: int, text: str) -> dict | None:
        try:
            return acoustic_correlates(audio, rate, text=text)
        except EmogenError:  # no voiced speech: left out of the means, counted
            return None

    result = {}
    neutral = [correlates(a, r, t) for (a, r), t in zip(spoken["neutral"], texts)]
    for emotion, outputs in spoken.items():
        similarity = [
            speaker_similarity(a, r, ta, tr) for (a, r), (ta, tr) in zip(outputs, targets)
        ]
        counts = [word_error_counts(t, transcribe(a, r)) for (a, r), t in zip(outputs, texts)]
        row = {
            "similarity": statistics.fmean(similarity),
            "wer": sum(counts[1:], counts[0]).wer,
        }
        if emotion != "neutral":
            measured = [correlates(a, r, t) for (a, r), t in zip(outputs, texts)]
            pairs = [(m, n) for m, n in zip(measured, neutral) if m and n]
            row["unvoiced"] = len(texts) - len(pairs)
            for key in CORRELATES:
                row[key] = statistics.fmean(m[key] - n[key] for m, n in pairs) if pairs else None
        result[emotion] = row
    return result


def main() -> None:
    from emogen.eval.speech import speaker_similarity, transcribe, word_error_counts
    from emogen.pipelines import load_pipeline
    from emogen.speech.finetune import finetune_voice

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="tts-codec-lm", help="the codec-LM pipeline to tune")
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of target speech")
    parser.add_argument("--sentences", type=int, default=8, help="test sentences")
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/emogen-bench-finetune"), help="scratch folder"
    )
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    torch.set_num_threads(1)

    tests = [t for t in (HERE / "sentences.txt").read_text().splitlines() if t.strip()]
    tests = tests[: args.sentences]
    work: Path = args.work
    shutil.rmtree(work, ignore_errors=True)
    files, seconds = record_target(
        work / "recordings", prose_texts({t.lower() for t in tests}), args.minutes
    )
    print(f"target: {files} recordings, {seconds / 60:.2f} min")
    targets = []
    for index, text in enumerate(tests):
        festival(text, work / f"test_{index}.wav")
        audio, rate = sf.read(str(work / f"test_{index}.wav"), dtype="float32")
        targets.append((audio, rate))

    corpus_voice = load_pipeline("tts-default")
    reference = {
        "corpus voice (tts-default) vs target": statistics.fmean(
            speaker_similarity(o.audios[0], o.sample_rate, ta, tr)
            for o, (ta, tr) in zip((corpus_voice(t) for t in tests), targets)
        ),
        "target vs target, next sentence": statistics.fmean(
            speaker_similarity(*targets[i], *targets[(i + 1) % len(targets)])
            for i in range(len(targets))
        ),
    }
    del corpus_voice
    base = load_pipeline(args.base)

    # The ceiling of any language model over a codec's tokens: the target through the codec
    # (encode + decode), which the tokens can at best reproduce.
    def through(encoder, codec, sources: list[tuple]) -> tuple[float, float]:
        again = [(codec.decode(encoder.encode(a, r)), codec.sample_rate) for a, r in sources]
        counts = [word_error_counts(text, transcribe(*x)) for x, text in zip(again, tests)]
        similarity = statistics.fmean(speaker_similarity(*x, *t) for x, t in zip(again, targets))
        return similarity, sum(counts[1:], counts[0]).wer

    renditions = [
        (o.audio, o.sample_rate) for o in (base.voice.synthesize(t, seed=0) for t in tests)
    ]
    similarity, codec_wer = through(base.codec, base.codec, targets)
    reference["target through the base's codec (encode + decode) vs target"] = similarity
    before = measure(speak_all(base, tests), tests, targets)
    print("before", json.dumps(before, indent=1))

    wall, cpu = time.perf_counter(), time.process_time()
    folder = finetune_voice(
        work / "recordings", "slt", base=args.base, steps=args.steps,
        checkpoints=work / "checkpoints",
    )  # fmt: skip
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    codec_summary = json.loads((folder / "codec-run" / "training_summary.json").read_text())
    tuned = load_pipeline(folder)
    similarity, adapted_wer = through(base.codec, tuned.codec, renditions)
    reference["the corpus voice's codes through the adapted codec vs target"] = similarity
    del base
    after = measure(speak_all(tuned, tests), tests, targets)
    print("after", json.dumps(after, indent=1))
    results = {
        "base": str(args.base),
        "target_files": files,
        "target_minutes": seconds / 60,
        "finetune_wall_minutes": wall / 60,
        "finetune_cpu_minutes": cpu / 60,
        "codec_steps": codec_summary["steps"],
        "codec_eval_loss": [codec_summary["first_eval_loss"], codec_summary["final_eval_loss"]],
        "pitch_offset": codec_summary["pitch_offset"],
        "pitch_step_semitones": 12 * tuned.codec.pitch_step / np.log(2),
        "reference": reference,
        "codec_resynthesis_wer": codec_wer,
        "adapted_codec_resynthesis_wer": adapted_wer,
        "before": before,
        "after": after,
    }
    _write(args, tests, results)


def _write(args, tests: list[str], r: dict) -> None:
    out: Path = args.out
    lines = [
        "# Custom-voice benchmark: fine-tuning the codec-LM TTS on a new voice",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `python benchmarks/speech/bench_finetune.py --base {r['base']} "
        f"--minutes {args.minutes:g} --sentences {args.sentences}`",
        f"- target voice: Festival {FESTIVAL_VOICE} (CMU ARCTIC SLT, female; the corpus voice "
        f"is Piper's male joe): {r['target_files']} recordings, {r['target_minutes']:.2f} min",
        f"- fine-tuning (`emogen.speech.finetune.finetune_voice`, configs `finetune`; data "
        f"preparation included): {r['finetune_wall_minutes']:.1f} min wall, "
        f"{r['finetune_cpu_minutes']:.1f} min CPU, torch on 1 thread",
        f"  - the codec's decoder adapted {r['codec_steps']} steps (held-out reconstruction "
        f"loss {r['codec_eval_loss'][0]:.3f} -> {r['codec_eval_loss'][1]:.3f}); pitch offset "
        f"{r['pitch_offset']:+.1f} pitch steps "
        f"({r['pitch_offset'] * r['pitch_step_semitones']:+.1f} semitones); the language model is "
        "the base's",
        f"- machine: {platform.platform()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}",
        f"- test: the first {len(tests)} sentences of benchmarks/speech/sentences.txt; "
        "similarity: speaker-embedding cosine to the target's recording of the same sentence; "
        "WER: Whisper tiny.en; correlates: change from the same pipeline's neutral",
        "",
        "| reference | similarity |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.3f} |" for name, value in r["reference"].items()]
    lines += [
        "",
        f"Whisper's WER of the target through the base's codec: "
        f"{100 * r['codec_resynthesis_wer']:.1f} %; of the corpus voice's codes through the "
        f"adapted codec: {100 * r['adapted_codec_resynthesis_wer']:.1f} %.",
        "",
        "| pipeline | emotion | similarity | WER | " + " | ".join(CORRELATES) + " |",
        "|---|---|---|---|" + "---|" * len(CORRELATES),
    ]
    for stage in ("before", "after"):
        for emotion, row in r[stage].items():
            cells = [f"{row[k]:+.2f}" if row.get(k) is not None else "" for k in CORRELATES]
            lines.append(
                f"| {stage} | {emotion} | {row['similarity']:.3f} | {100 * row['wer']:.1f} % | "
                + " | ".join(cells)
                + " |"
            )
    lines.append("")
    (out / "RESULTS_finetune.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "results_finetune.json").write_text(json.dumps(r, indent=2), encoding="utf-8")
    print((out / "RESULTS_finetune.md").read_text())


if __name__ == "__main__":
    main()
