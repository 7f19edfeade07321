"""Choose the weight of the emotion term in a codec LM's best-of-N verifier, on sentences that
are neither in the training corpus nor in the benchmark.

Each sentence is spoken N times (seeds 1 .. N, the pipeline's own sampling) neutrally and in the
7 basic emotions; each candidate's Whisper transcript and the VAD distance the estimator hears
(`CodecLMTTSPipeline.verifier_terms`) are recorded once, and every weight of the grid picks
its candidates from them (`verifier_score`). For each weight, and for 1, 2 and N candidates:
Whisper WER of the neutral and emotional choices, their mean VAD distance, and how far angry
moves F0 and energy from the chosen neutral. The verifier's Whisper is the one measuring WER,
so the WER of a choice is optimistic; the distance and the correlates are not what it optimises
for words. Writes `verifier_<name>.md` beside this file.

    .venv/bin/python benchmarks/speech/tune_verifier.py tts-codec-lm --sentences 30
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SENTENCES = ROOT / "training" / "speech_emotion_estimator" / "sentences.txt"
EMOTIONS = ("neutral", "happy", "sad", "angry", "afraid", "disgusted", "surprised", "calm")
WEIGHTS = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pipeline", help="a codec-LM TTS pipeline (name or folder)")
    parser.add_argument("--name", default=None, help="name of the results file")
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from emogen.eval.speech import acoustic_correlates, word_error_counts
    from emogen.pipelines import CodecLMTTSPipeline, load_pipeline
    from emogen.pipelines.tts_codec_lm import verifier_score

    texts = [t for t in SENTENCES.read_text().splitlines() if t.strip()][: args.sentences]
    pipe = load_pipeline(args.pipeline)
    if not isinstance(pipe, CodecLMTTSPipeline):
        raise SystemExit(f"{args.pipeline} is not a codec-LM TTS pipeline")
    # candidates[(emotion, sentence)]: (word error counts, VAD distance, correlates) per seed
    candidates: dict[tuple[str, int], list] = {}
    started = time.perf_counter()
    for seed in range(1, args.candidates + 1):
        for emotion in EMOTIONS:
            out = pipe(texts, emotion=emotion, generator=seed)
            for index, (text, audio) in enumerate(zip(texts, out.audios)):
                transcript, distance = pipe.verifier_terms(
                    audio, out.sample_rate, out.emotions[index][0]
                )
                correlates = acoustic_correlates(audio, out.sample_rate, text=text)
                candidates.setdefault((emotion, index), []).append(
                    (word_error_counts(text, transcript), distance, correlates)
                )
            print(f"seed {seed} {emotion}: {time.perf_counter() - started:.0f} s", flush=True)

    def choose(weight: float | None, count: int) -> dict:
        """Each utterance's chosen candidate among the first `count` (None: the first)."""
        return {
            key: max(
                options[:count],
                key=lambda o: 0.0 if weight is None else verifier_score(o[0].wer, o[1], weight),
            )
            for key, options in candidates.items()
        }

    rows = []
    settings = [(1, None)] + [(n, w) for n in sorted({2, args.candidates}) for w in WEIGHTS]
    for count, weight in settings:
        chosen = choose(weight, count)

        def wer(emotions: tuple[str, ...], chosen=chosen) -> float:
            counts = [c[0] for (e, _), c in chosen.items() if e in emotions]
            return sum(counts[1:], counts[0]).wer

        def change(emotion: str, correlate: str, chosen=chosen) -> float:
            return statistics.fmean(
                chosen[(emotion, i)][2][correlate] - chosen[("neutral", i)][2][correlate]
                for i in range(len(texts))
            )

        distance = statistics.fmean(c[1] for (e, _), c in chosen.items() if e != "neutral")
        rows.append(
            (count, weight, wer(EMOTIONS[:1]), wer(EMOTIONS[1:]), distance,
             change("angry", "f0_mean_semitones"), change("angry", "energy_db"),
             change("sad", "f0_mean_semitones"))
        )  # fmt: skip
    folder = Path(args.pipeline)
    name = args.name or (folder.parent.name if folder.name == "pipeline" else folder.name)
    lines = [
        f"# Best-of-N verifier of {name}",
        "",
        f"`python benchmarks/speech/tune_verifier.py {args.pipeline} --sentences "
        f"{len(texts)} --candidates {args.candidates}`: {len(texts)} sentences of "
        "training/speech_emotion_estimator/sentences.txt (in no training corpus and not in the "
        f"benchmark) x {len(EMOTIONS)} emotions at intensity 1, one thread, "
        f"{(time.perf_counter() - started) / 60:.0f} minutes. Candidates: seeds 1 .. "
        f"{args.candidates} at the pipeline's own sampling. Score: minus Whisper's WER, minus "
        "the weight times the VAD distance the estimator hears. WER is Whisper tiny.en's, the "
        "verifier's own recogniser: optimistic for a choice.",
        "",
        "| candidates | emotion weight | WER neutral | WER emotional | mean VAD distance "
        "(emotional) | angry F0 change (st) | angry energy (dB) | sad F0 change (st) |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {n} | {'-' if w is None else f'{w:g}'} | {100 * a:.1f} % | {100 * b:.1f} % | "
            f"{d:.3f} | {f:+.2f} | {e:+.2f} | {s:+.2f} |"
            for n, w, a, b, d, f, e, s in rows
        ),
        "",
    ]
    (HERE / f"verifier_{name}.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
