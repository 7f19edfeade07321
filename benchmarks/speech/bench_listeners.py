"""Two listeners: does a choice made by listening to Whisper help a listener it never heard?

The codec LM's best-of-N verifier keeps the candidate Whisper tiny.en understands best, and the
speech benchmark measures WER with that same Whisper, so its best-of rows are optimistic. Here
the same outputs are also transcribed by CMU PocketSphinx (`transcribe_pocketsphinx`), which
shares nothing with Whisper: a gain the verifier found only in Whisper's ear does not show in
its column. Each pipeline speaks the first sentences of sentences.txt (held out from every
training corpus) neutrally and in the 7 basic emotions at intensity 1 (seed = sentence index);
corpus WER (total errors / total words) of the neutral and the emotional outputs per listener.

Writes RESULTS_listeners.md and results_listeners.json beside this file.

    .venv/bin/python benchmarks/speech/bench_listeners.py --sentences 8
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
EMOTIONS = ("neutral", "happy", "sad", "angry", "afraid", "disgusted", "surprised", "calm")
# (row label, pipeline, call arguments)
VARIANTS = (
    ("tts-default", "tts-default", {}),
    ("tts-diffusion", "tts-diffusion", {}),
    ("tts-codec-lm, one candidate", "tts-codec-lm", {"best_of": 1}),
    ("tts-codec-lm, best of 4", "tts-codec-lm", {"best_of": 4}),
)
LISTENERS = ("Whisper tiny.en", "PocketSphinx")


def main() -> None:
    from emogen.eval.speech import transcribe, transcribe_pocketsphinx, word_error_counts
    from emogen.pipelines import load_pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=8, help="sentences of sentences.txt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    texts = (HERE / "sentences.txt").read_text().split("\n")[: args.sentences]
    listeners = dict(zip(LISTENERS, (transcribe, transcribe_pocketsphinx)))
    results, pipelines = {}, {}
    for label, name, options in VARIANTS:
        pipe = pipelines.setdefault(name, load_pipeline(name))
        counts = {(who, kind): [] for who in LISTENERS for kind in ("neutral", "emotional")}
        transcripts = []
        started = time.perf_counter()
        for index, text in enumerate(texts):
            for emotion in EMOTIONS:
                out = pipe(text, emotion=emotion, generator=index, **options)
                kind = "neutral" if emotion == "neutral" else "emotional"
                heard = {}
                for who, listen in listeners.items():
                    heard[who] = listen(out.audios[0], out.sample_rate)
                    counts[(who, kind)].append(word_error_counts(text, heard[who]))
                transcripts.append({"sentence": index, "emotion": emotion, **heard})
            print(f"{label} [{index + 1}/{len(texts)}] {time.perf_counter() - started:.0f} s",
                  flush=True)  # fmt: skip
        results[label] = {
            "wer": {f"{who}|{kind}": sum(c[1:], c[0]).wer for (who, kind), c in counts.items()},
            "transcripts": transcripts,
        }
    date = datetime.datetime.now(datetime.UTC)
    (HERE / "results_listeners.json").write_text(
        json.dumps({"date": date.isoformat(timespec="minutes"), "results": results}, indent=2)
    )
    lines = [
        "# Speech benchmark: two listeners",
        "",
        f"- date: {date:%Y-%m-%d %H:%M} UTC",
        f"- command: `python benchmarks/speech/bench_listeners.py --sentences {len(texts)}`",
        f"- {len(texts)} sentences of benchmarks/speech/sentences.txt x neutral and 7 emotions at "
        "intensity 1; corpus WER of the neutral / emotional outputs",
        f"- machine: {platform.platform()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}, 1 thread",
        "- the codec LM's best-of-4 verifier listens with Whisper tiny.en; PocketSphinx never "
        "took part in any choice",
        "",
        "| pipeline | Whisper WER neutral | Whisper WER emotional | PocketSphinx WER neutral | "
        "PocketSphinx WER emotional |",
        "|---|---|---|---|---|",
    ]
    for label, r in results.items():
        cells = [f"{100 * r['wer'][f'{who}|{kind}']:.1f} %" for who in LISTENERS
                 for kind in ("neutral", "emotional")]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    (HERE / "RESULTS_listeners.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
