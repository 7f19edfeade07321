"""Codec benchmark: how well a codec's tokens give the speech back.

Each sentence of sentences.txt (held out from every training corpus) is spoken by `tts-default`
neutrally and in two emotions (happy, sad at intensity 1), then
- WORLD analysis + synthesis alone (the ceiling of a WORLD-frame codec), and
- each codec given: `encode` then `decode`, and `decode` from its first residual-VQ level only
  (with the pitch level of a pitch codec): what a codec language model's first level carries,
are measured against the original: Whisper tiny.en word error rate (the original's own WER is
the floor), mel-cepstral distortion in dB over voiced frames (MCD, Kubichek 1993, on the coded
envelope the frames carry: 10 / ln 10 * sqrt(2 * sum of squared coefficient differences),
without the energy coefficient), F0 error in cents over frames voiced in both, the voicing
decisions that agree, and the change of each emotion correlate the speech benchmark checks (how
much of the emotional rendering survives). Speed on one thread: encode + decode time per second
of audio (real-time factor), and the token rate.

Writes RESULTS_codec.md and results_codec.json beside this file.

    .venv/bin/python benchmarks/speech/bench_codec.py --codec pipelines/tts-codec-lm/codec
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
EMOTIONS = ("neutral", "happy", "sad")
CORRELATES = ("f0_mean_semitones", "f0_range_semitones", "energy_db", "speech_rate")


def frame_distances(reference: np.ndarray, other: np.ndarray, coder) -> dict[str, float]:
    """MCD (dB), F0 error (cents) and voicing agreement between two `(N, D)` frame matrices of
    the same speech (compared over the shorter length)."""
    layout = coder.layout
    length = min(len(reference), len(other))
    reference, other = reference[:length], other[:length]
    voiced_ref = reference[:, layout.voicing] > 0.5
    voiced_other = other[:, layout.voicing] > 0.5
    both = voiced_ref & voiced_other
    # coded envelope coefficients past the first (the energy term), as MCD is usually reported
    difference = reference[:, layout.envelope][:, 1:] - other[:, layout.envelope][:, 1:]
    mcd = 10 / np.log(10) * np.sqrt(2 * (difference**2).sum(1))
    cents = 1200 / np.log(2) * np.abs(reference[both, 0] - other[both, 0])
    return {
        "mcd_db": float(mcd[voiced_ref].mean()) if voiced_ref.any() else float("nan"),
        "f0_error_cents": float(np.median(cents)) if both.any() else float("nan"),
        "voicing_agreement": float((voiced_ref == voiced_other).mean()),
    }


def main() -> None:
    from emogen.eval.speech import acoustic_correlates, transcribe, word_error_rate
    from emogen.pipelines import load_pipeline
    from emogen.speech.codec import WorldFrameCodec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", nargs="+", required=True, help="codec folders (WorldFrameCodec)")
    parser.add_argument("--sentences", type=int, default=12, help="sentences of sentences.txt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sentences = (HERE / "sentences.txt").read_text().split("\n")[: args.sentences]
    tts = load_pipeline("tts-default")
    codecs = {Path(c).as_posix(): WorldFrameCodec.from_pretrained(c).eval() for c in args.codec}
    first = next(iter(codecs.values()))
    vocoder, coder = first.vocoder, first.coder
    methods = ["original", "WORLD analysis + synthesis"]
    methods += [m for name in codecs for m in (name, f"{name}, first level")]
    rows: dict[str, list[dict]] = {m: [] for m in methods}
    seconds_of_audio, timing = 0.0, {name: 0.0 for name in codecs}
    for index, sentence in enumerate(sentences):
        for emotion in EMOTIONS:
            out = tts(sentence, emotion=emotion, generator=index)
            audio, rate = out.audios[0], out.sample_rate
            seconds_of_audio += len(audio) / rate
            reference = coder.encode(vocoder.analyze(audio, rate))
            outputs = {
                "original": audio,
                "WORLD analysis + synthesis": vocoder.synthesize(coder.decode(reference)),
            }
            for name, codec in codecs.items():
                start = time.perf_counter()
                codes = codec.encode(audio, rate)
                outputs[name] = codec.decode(codes)
                timing[name] += time.perf_counter() - start
                outputs[f"{name}, first level"] = codec.decode(codes, levels=1)
            base = acoustic_correlates(audio, rate, text=sentence)
            for method, waveform in outputs.items():
                frames = coder.encode(vocoder.analyze(waveform, rate))
                correlates = acoustic_correlates(waveform, rate, text=sentence)
                rows[method].append(
                    {
                        "sentence": index,
                        "emotion": emotion,
                        "wer": word_error_rate(sentence, transcribe(waveform, rate)),
                        **frame_distances(reference, frames, coder),
                        **{f"{c}_change": correlates[c] - base[c] for c in CORRELATES},
                    }
                )
        print(f"sentence {index + 1}/{len(sentences)}", flush=True)

    summary = {}
    for method, items in rows.items():
        summary[method] = {
            key: float(np.nanmean([r[key] for r in items]))
            for key in items[0]
            if key not in ("sentence", "emotion")
        }
        if method in codecs:
            codec = codecs[method]
            summary[method]["real_time_factor"] = timing[method] / seconds_of_audio
            summary[method]["tokens_per_second"] = codec.frame_rate * codec.num_codebooks
            summary[method]["kbit_per_second"] = (
                codec.frame_rate * codec.num_codebooks * np.log2(codec.codebook_size) / 1000
            )
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, torch threads 1",
        "sentences": len(sentences),
        "emotions": EMOTIONS,
        "summary": summary,
        "rows": rows,
    }
    (HERE / "results_codec.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Codec benchmark (bench_codec.py)",
        "",
        f"{results['date']}, {results['machine']}: {len(sentences)} held-out sentences x "
        f"{', '.join(EMOTIONS)} spoken by tts-default; each measure against the original.",
        "",
        "| method | WER | MCD dB | F0 error (cents, median) | voicing agreement | "
        + " | ".join(f"{c} change" for c in CORRELATES)
        + " | real-time factor | tokens/s | kbit/s |",
        "|---|---|---|---|---|" + "---|" * len(CORRELATES) + "---|---|---|",
    ]
    for method, values in summary.items():
        extra = [
            f"{values[k]:.3f}" if k in values else "-"
            for k in ("real_time_factor", "tokens_per_second", "kbit_per_second")
        ]
        lines.append(
            f"| {method} | {100 * values['wer']:.1f} % | {values['mcd_db']:.2f} | "
            f"{values['f0_error_cents']:.0f} | {100 * values['voicing_agreement']:.1f} % | "
            + " | ".join(f"{values[f'{c}_change']:+.2f}" for c in CORRELATES)
            + " | "
            + " | ".join(extra)
            + " |"
        )
    (HERE / "RESULTS_codec.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
