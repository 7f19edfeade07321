"""Speech benchmark: acoustic correlates, intelligibility, voice kept and speed.

For each sentence of sentences.txt the embedded TTS speaks it neutrally; every basic emotion is then
rendered at intensities 0 .. 1 and measured against the neutral rendering:

- acoustic correlates (emogen.eval.speech.acoustic_correlates): pitch mean and range (semitones,
  20-80 percentile span as in eGeMAPS), speech rate (the sentence's syllables, counted from its
  espeak-ng transcription, per second of speaking time), energy (dB), spectral tilt (alpha ratio,
  dB). Each must move in the
  direction of the cited profile (data/prosody_profiles.json) and monotonically with intensity;
- intelligibility: Whisper tiny.en word error rate at intensity 0.7 vs the neutral rendering;
- voice kept: speaker similarity of each emotional rendering (0.7) to the neutral rendering;
- speed on one thread, as ratios measured in the same run: emotional TTS time / plain Piper time
  of the same text, voice-conversion real-time factor, first-chunk latency of streaming.

Writes RESULTS.md, results.json and intensity_response.png beside this file.

    .venv/bin/python benchmarks/speech/bench_speech.py            # 24 sentences, ~15 min
    .venv/bin/python benchmarks/speech/bench_speech.py --quick    # 6 sentences

`--compare PIPELINE ...` measures whole pipelines side by side instead, in one run and one table
(RESULTS_compare.md, results_compare.json): the learned TTS/VC beside the embedded defaults,
through the same public API a user calls. For each pipeline and sentence: the neutral output,
and each basic emotion at intensity 0.5 and 1 (same seed), measured against that neutral output
(direction and monotonicity of the correlates, as above; intensity 0 is the neutral output
itself); Whisper WER of the neutral and full-intensity outputs; speaker similarity of every output
to the corpus voice (the embedded TTS's neutral rendering of the same sentence); real-time
factor of one sentence at angry:0.7 on one thread, and for a codec-LM pipeline its tokens per
second (codec frames x codebooks of that sentence / its wall time). VC pipelines convert that
neutral rendering (`source_emotion="neutral"`). `--best-of N` adds a row for each codec-LM
pipeline generating N candidates per sentence at its own sampling settings and keeping the
verifier's best (Llasa's inference-time scaling) beside the row at its default `best_of`, so
whether it helps is measured in the same run (tts-codec-lm speaks one candidate by default:
`--best-of 4` adds its best-of-4 row). The verifier transcribes with the same Whisper
tiny.en as the WER column, so a best-of row's WER is the chosen candidates' as that recogniser
hears them: an optimistic estimate.

    .venv/bin/python benchmarks/speech/bench_speech.py --sentences 12 \
        --compare tts-default tts-diffusion vc-default vc-diffusion
    .venv/bin/python benchmarks/speech/bench_speech.py --sentences 8 --best-of 4 \
        --compare tts-default tts-diffusion tts-codec-lm
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from emogen.emotion.taxonomy import FAMILIES

HERE = Path(__file__).resolve().parent
EMOTIONS = FAMILIES  # the basic families the renderer has profiles for
INTENSITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
# measured correlate -> the profile control whose sign says which way it must move
CORRELATES = {
    "f0_mean_semitones": "pitch_shift_st",
    "f0_range_semitones": "pitch_range_log2",
    "speech_rate": "rate_log2",
    "energy_db": "energy_db",
    "spectral_tilt_db": "tilt_db_per_octave",
}
MIN_EFFECT = {  # smaller mean changes at intensity 1 count as "no change"
    "f0_mean_semitones": 0.3,
    "f0_range_semitones": 0.3,
    "speech_rate": 0.1,
    "energy_db": 0.5,
    "spectral_tilt_db": 0.5,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 sentences, no WER/similarity")
    parser.add_argument("--sentences", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument(
        "--compare", nargs="+", metavar="PIPELINE", help="compare these pipelines (see above)"
    )
    parser.add_argument(
        "--best-of", type=int, default=None, help="with --compare: a best-of-N row per codec LM"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)  # before the work: results are written at the end
    if args.compare:
        compare(args)
        return

    from emogen.eval.speech import acoustic_correlates
    from emogen.pipelines import load_pipeline
    from emogen.speech.renderer import PROSODY_CONTROLS

    texts = [t for t in (HERE / "sentences.txt").read_text().splitlines() if t.strip()]
    texts = texts[: args.sentences or (6 if args.quick else len(texts))]
    tts = load_pipeline("tts-default")
    voice, vocoder, renderer = tts.voice, tts.vocoder, tts.renderer
    rate = voice.sample_rate

    # ----- renderings and correlates --------------------------------------------------------------
    neutral_audio, rendered, deltas = [], {}, {e: {i: [] for i in INTENSITIES} for e in EMOTIONS}
    started = time.perf_counter()
    for index, text in enumerate(texts):
        speech = tts.neutral_speech(text, seed=index)
        features = vocoder.analyze(speech, rate)
        neutral = renderer.render(speech, rate, "neutral", features=features, seed=index).audio
        neutral_audio.append(neutral)
        base = acoustic_correlates(neutral, rate, text=text)
        for emotion in EMOTIONS:
            for intensity in INTENSITIES:
                out = renderer.render(
                    speech, rate, f"{emotion}:{intensity}", features=features, seed=index
                ).audio
                measured = acoustic_correlates(out, rate, text=text)
                deltas[emotion][intensity].append({k: measured[k] - base[k] for k in CORRELATES})
                if intensity == 0.75 or (intensity == 0.5 and args.quick):
                    rendered[(emotion, index)] = out
        print(f"[{index + 1}/{len(texts)}] {time.perf_counter() - started:.0f} s  {text}")

    profiles = {e: renderer.controls(e) for e in EMOTIONS}
    table, monotone_ok, direction_ok = {}, {}, {}
    for emotion in EMOTIONS:
        for correlate, control in CORRELATES.items():
            means = [
                statistics.fmean(d[correlate] for d in deltas[emotion][i]) for i in INTENSITIES
            ]
            table[(emotion, correlate)] = means
            expected = np.sign(profiles[emotion][control])
            effect = means[-1]
            if expected == 0:
                direction_ok[(emotion, correlate)] = None  # the profile leaves it alone
                continue
            direction_ok[(emotion, correlate)] = bool(
                np.sign(effect) == expected and abs(effect) >= MIN_EFFECT[correlate]
            )
            steps = np.diff(means) * expected
            monotone_ok[(emotion, correlate)] = bool((steps > -0.05 * abs(effect)).all())

    # ----- intelligibility and voice --------------------------------------------------------------
    wer_rows, similarity_rows = {}, {}
    if not args.quick:
        from emogen.eval.speech import speaker_similarity, transcribe, word_error_counts

        def corpus_wer(audios: list[np.ndarray]) -> float:  # total errors / total words
            counts = [word_error_counts(t, transcribe(a, rate)) for a, t in zip(audios, texts)]
            return sum(counts[1:], counts[0]).wer

        wer_rows["neutral"] = corpus_wer(neutral_audio)
        for emotion in EMOTIONS:
            audios = [rendered[(emotion, i)] for i in range(len(texts))]
            wer_rows[emotion] = corpus_wer(audios)
            similarity_rows[emotion] = statistics.fmean(
                speaker_similarity(a, rate, n, rate) for a, n in zip(audios, neutral_audio)
            )

    # ----- speed, as ratios against the plain Piper voice in the same run ------------------------
    speed_text = texts[0]
    voice.synthesize(speed_text, seed=0)  # warm
    piper_times, tts_times = [], []
    for _ in range(5):
        t = time.perf_counter()
        voice.synthesize(speed_text, seed=0)
        piper_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = tts(speed_text, emotion="angry:0.7", generator=0)
        tts_times.append(time.perf_counter() - t)
    audio_s = len(out.audios[0]) / out.sample_rate
    vc = load_pipeline("vc-default")
    vc_times = []
    for _ in range(3):
        t = time.perf_counter()
        vc(neutral_audio[0], emotion="sad:0.7", sample_rate=rate)
        vc_times.append(time.perf_counter() - t)
    stream_text = " ".join(texts[:3])
    t = time.perf_counter()
    first = next(iter(tts.stream(stream_text, emotion="happy", generator=0)))
    first_chunk_s = time.perf_counter() - t
    speed = {
        "plain_piper_s": statistics.median(piper_times),
        "emotional_tts_s": statistics.median(tts_times),
        "tts_over_piper": statistics.median(tts_times) / statistics.median(piper_times),
        "vc_rtf": statistics.median(vc_times) / (len(neutral_audio[0]) / rate),
        "stream_first_chunk_s": first_chunk_s,
        "stream_first_chunk_audio_s": len(first.audio) / first.sample_rate,
        "audio_s": audio_s,
    }

    _write(
        args,
        texts,
        table,
        direction_ok,
        monotone_ok,
        wer_rows,
        similarity_rows,
        speed,
        PROSODY_CONTROLS,
    )


def _write(args, texts, table, direction_ok, monotone_ok, wer_rows, similarity, speed, controls):
    out: Path = args.out
    command = "python benchmarks/speech/bench_speech.py" + (" --quick" if args.quick else "")
    lines = [
        "# Speech benchmark",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `{command}`",
        f"- sentences: {len(texts)} (benchmarks/speech/sentences.txt), voice joe-us (Piper VITS)",
        f"- machine: {platform.platform()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}, 1 thread",
        "",
        "## Acoustic correlates: mean change from the neutral rendering",
        "",
        "Each cell: change at intensity 0 / 0.25 / 0.5 / 0.75 / 1; the mark says whether the "
        "change at 1 goes the way the cited profile says (ok / WRONG / '-' where the profile "
        "leaves the cue alone) and whether it grows monotonically with intensity "
        "(mono / NOT MONO).",
        "",
        "| emotion | " + " | ".join(CORRELATES) + " |",
        "|---|" + "---|" * len(CORRELATES),
    ]
    for emotion in EMOTIONS:
        cells = []
        for correlate in CORRELATES:
            values = "/".join(f"{v:+.2f}" for v in table[(emotion, correlate)])
            ok = direction_ok[(emotion, correlate)]
            mark = "-" if ok is None else ("ok" if ok else "WRONG")
            mono = monotone_ok.get((emotion, correlate))
            mono_mark = "" if mono is None else (" mono" if mono else " NOT MONO")
            cells.append(f"{values} {mark}{mono_mark}")
        lines.append(f"| {emotion} | " + " | ".join(cells) + " |")
    checked = [v for v in direction_ok.values() if v is not None]
    lines += [
        "",
        f"Direction as cited: {sum(checked)}/{len(checked)}; monotonic: "
        f"{sum(monotone_ok.values())}/{len(monotone_ok)}.",
        "",
    ]
    if wer_rows:
        lines += [
            "## Intelligibility and voice (intensity 0.75)",
            "",
            "| rendering | WER (Whisper tiny.en) | speaker similarity to neutral |",
            "|---|---|---|",
            f"| neutral | {100 * wer_rows['neutral']:.1f} % | 1.000 |",
        ]
        for emotion in EMOTIONS:
            lines.append(
                f"| {emotion} | {100 * wer_rows[emotion]:.1f} % | {similarity[emotion]:.3f} |"
            )
        lines.append("")
    lines += [
        "## Speed (one thread, ratios from the same run)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| plain Piper synthesis of sentence 1 | {speed['plain_piper_s']:.3f} s |",
        f"| emotional TTS of the same text (angry 0.7) | {speed['emotional_tts_s']:.3f} s |",
        f"| emotional TTS / plain Piper | {speed['tts_over_piper']:.2f}x |",
        f"| voice conversion real-time factor | {speed['vc_rtf']:.3f} |",
        f"| streaming first-chunk latency (3 sentences) | {speed['stream_first_chunk_s']:.3f} s |",
        "",
    ]
    (out / "RESULTS.md").write_text("\n".join(lines), encoding="utf-8")
    serial = {
        "correlates": {f"{e}|{c}": v for (e, c), v in table.items()},
        "direction_ok": {f"{e}|{c}": v for (e, c), v in direction_ok.items()},
        "monotone_ok": {f"{e}|{c}": v for (e, c), v in monotone_ok.items()},
        "wer": wer_rows,
        "speaker_similarity": similarity,
        "speed": speed,
        "intensities": list(INTENSITIES),
    }
    (out / "results.json").write_text(json.dumps(serial, indent=2), encoding="utf-8")
    _plot(out / "intensity_response.png", table)
    print((out / "RESULTS.md").read_text())


COMPARE_INTENSITIES = (0.5, 1.0)


def compare(args) -> None:
    """The `--compare` mode (module docstring): one table for several pipelines."""
    from emogen.eval.speech import (
        acoustic_correlates,
        speaker_similarity,
        transcribe,
        word_error_counts,
    )
    from emogen.pipelines import CodecLMTTSPipeline, EmotionalVCPipeline, load_pipeline

    texts = [t for t in (HERE / "sentences.txt").read_text().splitlines() if t.strip()]
    texts = texts[: args.sentences or len(texts)]
    reference_tts = load_pipeline("tts-default")
    renderer = reference_tts.renderer
    references = [reference_tts(t, generator=i) for i, t in enumerate(texts)]
    ref_rate = references[0].sample_rate
    references = [r.audios[0] for r in references]
    results = {}
    variants = []  # (row label, pipeline, extra call arguments)
    for name in args.compare:
        pipe = load_pipeline(name)
        if not isinstance(pipe, CodecLMTTSPipeline):
            variants.append((name, pipe, {}))
            continue
        default = pipe.config.best_of
        variants.append((f"{name}, best of {default} (its default)", pipe, {}))
        if args.best_of and args.best_of != default:
            variants.append((f"{name}, best of {args.best_of}", pipe, {"best_of": args.best_of}))
    for name, pipe, extra in variants:
        is_vc = isinstance(pipe, EmotionalVCPipeline)

        def run(index: int, emotion: str, pipe=pipe, is_vc=is_vc, extra=extra):
            if is_vc:
                out = pipe(references[index], emotion=emotion, sample_rate=ref_rate,
                           source_emotion="neutral", generator=index)  # fmt: skip
            else:
                out = pipe(texts[index], emotion=emotion, generator=index, **extra)
            return out.audios[0], out.sample_rate

        started = time.perf_counter()
        deltas = {(e, i): [] for e in EMOTIONS for i in COMPARE_INTENSITIES}
        errors = {"neutral": [], "emotional": []}
        similarity = {"neutral": [], "emotional": []}
        for index, text in enumerate(texts):
            neutral, rate = run(index, "neutral")
            base = acoustic_correlates(neutral, rate, text=text)
            errors["neutral"].append(word_error_counts(text, transcribe(neutral, rate)))
            similarity["neutral"].append(
                speaker_similarity(neutral, rate, references[index], ref_rate)
            )
            for emotion in EMOTIONS:
                for intensity in COMPARE_INTENSITIES:
                    audio, rate = run(index, f"{emotion}:{intensity}")
                    measured = acoustic_correlates(audio, rate, text=text)
                    deltas[(emotion, intensity)].append(
                        {k: measured[k] - base[k] for k in CORRELATES}
                    )
                    if intensity == 1.0:
                        errors["emotional"].append(word_error_counts(text, transcribe(audio, rate)))
                        similarity["emotional"].append(
                            speaker_similarity(audio, rate, references[index], ref_rate)
                        )
            print(f"{name} [{index + 1}/{len(texts)}] {time.perf_counter() - started:.0f} s")

        direction, monotone, table = [], [], {}
        for emotion in EMOTIONS:
            controls = renderer.controls(emotion)  # the cited profile every pipeline follows
            for correlate, control in CORRELATES.items():
                means = [0.0] + [
                    statistics.fmean(d[correlate] for d in deltas[(emotion, i)])
                    for i in COMPARE_INTENSITIES
                ]
                table[f"{emotion}|{correlate}"] = means
                expected = np.sign(controls[control])
                if expected == 0:
                    continue
                direction.append(
                    bool(np.sign(means[-1]) == expected and abs(means[-1]) >= MIN_EFFECT[correlate])
                )
                monotone.append(bool((np.diff(means) * expected > -0.05 * abs(means[-1])).all()))

        times = []
        for _ in range(3):
            t = time.perf_counter()
            audio, rate = run(0, "angry:0.7")
            times.append(time.perf_counter() - t)
        tokens = None
        if isinstance(pipe, CodecLMTTSPipeline):
            tokens = len(audio) / rate * pipe.codec.frame_rate * pipe.codec.num_codebooks
        results[name] = {
            "kind": "vc" if is_vc else "tts",
            "wer_neutral": sum(errors["neutral"][1:], errors["neutral"][0]).wer,
            "wer_emotional": sum(errors["emotional"][1:], errors["emotional"][0]).wer,
            "direction_ok": sum(direction),
            "monotonic": sum(monotone),
            "checked": len(direction),
            "similarity_neutral": statistics.fmean(similarity["neutral"]),
            "similarity_emotional": statistics.fmean(similarity["emotional"]),
            "rtf": statistics.median(times) / (len(audio) / rate),
            "tokens_per_second": tokens / statistics.median(times) if tokens else None,
            "correlates": table,
        }
    _write_compare(args, texts, results)


def _write_compare(args, texts: list[str], results: dict[str, dict]) -> None:
    out: Path = args.out
    command = (
        "python benchmarks/speech/bench_speech.py "
        + (f"--sentences {args.sentences} " if args.sentences else "")
        + (f"--best-of {args.best_of} " if args.best_of else "")
        + "--compare "
        + " ".join(args.compare)
    )
    lines = [
        "# Speech benchmark: pipelines side by side",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `{command}`",
        f"- sentences: the first {len(texts)} of benchmarks/speech/sentences.txt (never in any "
        "training corpus: the corpus builder excludes them)",
        f"- machine: {platform.platform()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}, 1 thread",
        "- WER: Whisper tiny.en, all words of the neutral outputs / of the 7 basic emotions at "
        "intensity 1; similarity: speaker embedding cosine to the embedded TTS's neutral "
        "rendering of the same sentence (the corpus voice); direction / monotonic: the 5 "
        "correlates x 7 emotions whose cited profile moves them, at intensity 0 / 0.5 / 1; "
        "RTF: seconds of compute per second of audio, one sentence at angry:0.7; tokens/s: "
        "a codec LM's codec frames x codebooks of that sentence per second of wall time",
        "- best of N: N candidates at the pipeline's own sampling, the verifier's choice kept; "
        "the verifier's Whisper is the WER column's, so its WER is an optimistic estimate",
        "",
        "| pipeline | kind | WER neutral | WER emotional | direction | monotonic | "
        "similarity neutral | similarity emotional | RTF | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['kind']} | {100 * r['wer_neutral']:.1f} % | "
            f"{100 * r['wer_emotional']:.1f} % | {r['direction_ok']}/{r['checked']} | "
            f"{r['monotonic']}/{r['checked']} | {r['similarity_neutral']:.3f} | "
            f"{r['similarity_emotional']:.3f} | {r['rtf']:.3f} | "
            + (f"{r['tokens_per_second']:.0f} |" if r.get("tokens_per_second") else "- |")
        )
    lines += [
        "",
        "## Correlates at intensity 0 / 0.5 / 1 (change from each pipeline's neutral)",
        "",
    ]
    for name, r in results.items():
        lines += [f"### {name}", "", "| emotion | " + " | ".join(CORRELATES) + " |",
                  "|---|" + "---|" * len(CORRELATES)]  # fmt: skip
        for emotion in EMOTIONS:
            cells = [
                "/".join(f"{v:+.2f}" for v in r["correlates"][f"{emotion}|{c}"]) for c in CORRELATES
            ]
            lines.append(f"| {emotion} | " + " | ".join(cells) + " |")
        lines.append("")
    (out / "RESULTS_compare.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "results_compare.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print((out / "RESULTS_compare.md").read_text())


def _plot(path: Path, table) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    fig, axes = plt.subplots(1, len(CORRELATES), figsize=(4 * len(CORRELATES), 3.6))
    for axis, correlate in zip(axes, CORRELATES):
        for emotion in EMOTIONS:
            axis.plot(INTENSITIES, table[(emotion, correlate)], marker="o", label=emotion)
        axis.axhline(0, color="grey", lw=0.5)
        axis.set_title(correlate)
        axis.set_xlabel("intensity")
    axes[0].set_ylabel("change from neutral")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
