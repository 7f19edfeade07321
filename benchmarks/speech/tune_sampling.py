"""Choose a learned pipeline's sampling settings on sentences that are neither in the training
corpus nor in the benchmark: `diffusion_strength` and `noise_scale` for the diffusion models,
`temperature`, `top_k`, `emotion_guidance_scale` and (when its model has one) `phoneme_prior_scale`
for a codec LM.

For each setting of the grid: Whisper WER of the neutral and angry outputs, and how far angry
moves F0 (semitones) and energy (dB) from neutral (voice conversion converts the embedded TTS's
neutral rendering). The chosen setting: the lowest mean WER among those where angry still moves
F0 up by >= 1 semitone and energy by >= 1 dB (the cited direction; Banse & Scherer 1996), so a
setting that simply copies the input does not win. Writes `sampling_<name>.md` beside this file.

    .venv/bin/python benchmarks/speech/tune_sampling.py checkpoints/tts-diffusion-base/pipeline
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SENTENCES = ROOT / "training" / "speech_emotion_estimator" / "sentences.txt"
STRENGTHS = (1.0, 0.6, 0.3, 0.0)
NOISE_SCALES = (1.0, 0.5)
# Codec LM: from the recipe's default (0.8, 50) to greedy codes (top-k 1). VALL-E (Wang et al.
# 2023) samples because greedy decoding loops; here the phoneme pointer ends the utterance, and
# its advances are always drawn (greedy advances stall on one phoneme), so greedy codes are a
# fair candidate. Guidance 1 (none) as well as 1.5: guidance trades intelligibility for
# larger emotion moves.
TEMPERATURES_TOP_K = ((0.8, 50), (0.5, 10), (0.3, 5), (1.0, 1))
GUIDANCE_SCALES = (1.5, 1.0)
# With a phoneme prior (CodecLanguageModel.generate): none and two weights, at the temperature
# and top-k chosen without it (sampling_tts-codec-lm-base.md, 2026-11-23).
PRIOR_SCALES = (0.0, 1.0, 3.0)
PRIOR_TEMPERATURES_TOP_K = ((0.3, 5),)


def _grid(pipe) -> list[dict]:
    from emogen.pipelines import CodecLMTTSPipeline

    if isinstance(pipe, CodecLMTTSPipeline) and pipe.language_model.config.phoneme_prior:
        return [
            {"temperature": t, "top_k": k, "emotion_guidance_scale": g, "phoneme_prior_scale": p}
            for g, (t, k), p in itertools.product(
                GUIDANCE_SCALES, PRIOR_TEMPERATURES_TOP_K, PRIOR_SCALES
            )
        ]
    if isinstance(pipe, CodecLMTTSPipeline):
        return [
            {"temperature": t, "top_k": k, "emotion_guidance_scale": g}
            for g, (t, k) in itertools.product(GUIDANCE_SCALES, TEMPERATURES_TOP_K)
        ]
    # No noise is drawn at strength 0, so one noise scale suffices there.
    return [
        {"diffusion_strength": s, "noise_scale": n}
        for s, n in itertools.product(STRENGTHS, NOISE_SCALES)
        if s != 0.0 or n == NOISE_SCALES[0]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pipeline", help="a learned TTS or VC pipeline folder")
    parser.add_argument("--name", default=None, help="name of the results file")
    parser.add_argument("--sentences", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)

    from emogen.eval.speech import acoustic_correlates, transcribe, word_error_counts
    from emogen.pipelines import EmotionalVCPipeline, load_pipeline

    texts = [t for t in SENTENCES.read_text().splitlines() if t.strip()][: args.sentences]
    pipe = load_pipeline(args.pipeline)
    is_vc = isinstance(pipe, EmotionalVCPipeline)
    sources = []
    if is_vc:
        tts = load_pipeline("tts-default")
        sources = [tts(t, generator=i) for i, t in enumerate(texts)]
    rows = []
    for setting in _grid(pipe):
        pipe.register_to_config(**setting)
        errors, f0, energy = [], [], []
        for i, text in enumerate(texts):
            outs = {}
            for emotion in ("neutral", "angry"):
                if is_vc:
                    src = sources[i]
                    out = pipe((src.sample_rate, src.audios[0]), emotion=emotion,
                               source_emotion="neutral", generator=i)  # fmt: skip
                else:
                    out = pipe(text, emotion=emotion, generator=i)
                audio, rate = out.audios[0], out.sample_rate
                outs[emotion] = acoustic_correlates(audio, rate, text=text)
                errors.append(word_error_counts(text, transcribe(audio, rate)))
            f0.append(outs["angry"]["f0_mean_semitones"] - outs["neutral"]["f0_mean_semitones"])
            energy.append(outs["angry"]["energy_db"] - outs["neutral"]["energy_db"])
        wer = sum(errors[1:], errors[0]).wer
        row = (setting, wer, statistics.fmean(f0), statistics.fmean(energy))
        rows.append(row)
        print(f"{setting}: WER {wer:.3f}, angry F0 {row[2]:+.2f} st, energy {row[3]:+.2f} dB")
    valid = [r for r in rows if r[2] >= 1.0 and r[3] >= 1.0] or rows
    best = min(valid, key=lambda r: r[1])
    keys = list(rows[0][0])
    folder = Path(args.pipeline).resolve()
    name = args.name or (folder.parent.name if folder.name == "pipeline" else folder.name)
    lines = [
        f"# Sampling settings of {name}",
        "",
        f"`python benchmarks/speech/tune_sampling.py {args.pipeline}`: {len(texts)} sentences of "
        "training/speech_emotion_estimator/sentences.txt (in no training corpus and not in the "
        "benchmark), neutral and angry, one thread.",
        "",
        "| " + " | ".join(keys) + " | WER | angry F0 change (st) | angry energy (dB) |",
        "|" + "---|" * (len(keys) + 3),
        *(
            "| "
            + " | ".join(f"{v:g}" for v in setting.values())
            + f" | {100 * w:.1f} % | {f:+.2f} | {e:+.2f} |"
            for setting, w, f, e in rows
        ),
        "",
        "Chosen: " + ", ".join(f"{k} {v:g}" for k, v in best[0].items()) + " (lowest WER among "
        "the settings where angry raises F0 >= 1 st and energy >= 1 dB).",
        "",
    ]
    (HERE / f"sampling_{name}.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
