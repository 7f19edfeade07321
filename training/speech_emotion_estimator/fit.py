"""Fit the speech emotion estimator voice conversion uses for its source emotion.

The embedded TTS speaks the first 20 sentences of sentences.txt (30, written for this) neutrally
(three seeds each) and with every family of the renderer's profiles at intensities 0.5 and 1; the
prosody of each rendering is measured as voice conversion measures its input (the vc-default
vocoder's analysis, syllable nuclei for the rate: there is no transcript), and
`SpeechEmotionEstimator.fit` turns the rows into family directions; neutral renderings of the
other 10 set the floor below which speech reads as neutral. It is then evaluated on the
first 12 sentences of benchmarks/speech/sentences.txt (held out), and RESULTS.md is written beside
this file. The fitted config goes to emogen/speech/data/estimator/ and pipelines/vc-default is
re-saved with it.

    .venv/bin/python training/speech_emotion_estimator/fit.py            # ~25 min on 1 core
    .venv/bin/python training/speech_emotion_estimator/fit.py --quick    # 9 + 6 sentences, no save
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import torch

from emogen._files import atomic_path
from emogen.emotion.taxonomy import FAMILIES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CACHE_DIR = ROOT / "checkpoints" / "speech_emotion_estimator"
INTENSITIES = (0.5, 1.0)
HELD_OUT_SENTENCES = 12  # of benchmarks/speech/sentences.txt, for the family table
REMOVAL_SENTENCES = 8  # of those, converted back to neutral (22 conversions each)


def render_rows(tts, vc_vocoder, texts, seed_base, neutral_only=False):
    """Prosody rows of neutral (3 seeds) and emotional renderings of `texts`, cached under
    checkpoints/ by everything they depend on (re-fitting then takes seconds)."""
    key = json.dumps(
        [
            texts,
            seed_base,
            neutral_only,
            FAMILIES,
            INTENSITIES,
            dict(tts.renderer.config),
            dict(tts.vocoder.config),
            dict(vc_vocoder.config),
        ],
        sort_keys=True,
        default=str,
    )
    cache = CACHE_DIR / f"rows-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if cache.is_file():
        saved = np.load(cache)
        return saved["neutral"], saved["rows"], saved["labels"].tolist()
    neutral, rows, labels = _render_rows(tts, vc_vocoder, texts, seed_base, neutral_only)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as partial, open(partial, "wb") as handle:
        np.savez(handle, neutral=neutral, rows=rows, labels=np.array(labels, dtype=str))
    return neutral, rows, labels


def _render_rows(tts, vc_vocoder, texts, seed_base, neutral_only):
    from emogen.speech.prosody import prosody_features

    rate = tts.voice.sample_rate
    neutral, rows, labels = [], [], []

    def measure(audio):
        return prosody_features(audio, rate, vc_vocoder.analyze(audio, rate)).as_array()

    for index, text in enumerate(texts):
        for offset in (0, 1000, 2000):
            speech = tts.neutral_speech(text, seed=seed_base + index + offset)
            features = tts.vocoder.analyze(speech, rate)
            render = tts.renderer.render
            neutral.append(measure(render(speech, rate, "neutral", features=features).audio))
            if offset or neutral_only:
                continue
            for family in FAMILIES:
                for intensity in INTENSITIES:
                    emotion = f"{family}:{intensity}"
                    out = render(speech, rate, emotion, features=features, seed=index).audio
                    rows.append(measure(out))
                    labels.append(emotion)
        print(f"  [{index + 1}/{len(texts)}] {text}")
    width = len(neutral[0])
    return np.array(neutral), np.array(rows).reshape(-1, width), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="9 + 6 sentences; saves nothing")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from emogen.emotion import as_emotion
    from emogen.pipelines import EmotionalVCPipeline, load_pipeline
    from emogen.speech.estimator import SpeechEmotionEstimator

    train = [t for t in (HERE / "sentences.txt").read_text().splitlines() if t.strip()]
    held_out = [
        t for t in (ROOT / "benchmarks/speech/sentences.txt").read_text().splitlines() if t.strip()
    ]
    if args.quick:
        train, held_out = train[:9], held_out[:6]
    tts = load_pipeline("tts-default")
    vc_vocoder = load_pipeline("vc-default").vocoder

    # Two thirds fit the directions; the neutral renderings of the rest set the floor.
    split = 2 * len(train) // 3
    print(f"rendering {len(train)} training sentences")
    neutral, rows, labels = render_rows(tts, vc_vocoder, train[:split], seed_base=0)
    calibration, _, _ = render_rows(
        tts, vc_vocoder, train[split:], seed_base=split, neutral_only=True
    )
    estimator = SpeechEmotionEstimator.fit(neutral, rows, labels, calibration=calibration)
    if not args.quick:
        estimator.save_pretrained(ROOT / "emogen/speech/data/estimator")
        EmotionalVCPipeline.from_default(estimator=estimator).save_pretrained(
            ROOT / "pipelines/vc-default"
        )
        print("saved emogen/speech/data/estimator and pipelines/vc-default")
    held_out = held_out[:HELD_OUT_SENTENCES]

    print(f"rendering {len(held_out)} held-out sentences")
    test_neutral, test_rows, test_labels = render_rows(tts, vc_vocoder, held_out, seed_base=500)
    lines = _evaluate(estimator, test_neutral, test_rows, test_labels, as_emotion)
    print("converting held-out renderings back to neutral")
    lines += _removal(
        tts, EmotionalVCPipeline.from_default(estimator=estimator), held_out[:REMOVAL_SENTENCES]
    )
    lines = [
        "# Speech emotion estimator (voice conversion's source emotion)",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "- command: `python training/speech_emotion_estimator/fit.py"
        + (" --quick`" if args.quick else "`"),
        f"- fitted on {split} sentences (sentences.txt): {len(neutral)} neutral and "
        f"{len(rows)} emotional renderings ({', '.join(FAMILIES)} at {INTENSITIES}); "
        f"min_gain {estimator.config.min_gain:.2f} set on {len(calibration)} neutral renderings "
        f"of the other {len(train) - split}",
        f"- evaluated on {len(held_out)} held-out sentences (benchmarks/speech/sentences.txt), "
        "other seeds",
        f"- machine: {platform.platform()}, Python {platform.python_version()}",
        "",
        *lines,
        "",
        "## Fitted steps (change of each feature at intensity 1, in its own unit)",
        "",
        "| family | " + " | ".join(estimator.config.feature_names) + " |",
        "|---|" + "---|" * len(estimator.config.feature_names),
        *(
            f"| {family} | " + " | ".join(f"{v:+.2f}" for v in steps.values()) + " |"
            for family, steps in estimator.describe().items()
        ),
        "",
        "All renderings are of the bundled voice: this measures how well the estimator reads the",
        "renderer's own profiles back, not recorded emotional speech (no such corpus is offline).",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.quick:
        return
    (HERE / "RESULTS.md").write_text(report, encoding="utf-8")


def _evaluate(estimator, neutral, rows, labels, as_emotion) -> list[str]:
    """Held-out family accuracy, intensity error and neutral false alarms, as markdown lines."""
    from emogen.emotion.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    false_alarms = [not estimator.estimate_from_prosody(row).is_neutral for row in neutral]
    lines = [
        "## Held-out results",
        "",
        f"- neutral renderings read as neutral: {len(neutral) - sum(false_alarms)}/{len(neutral)}",
        "",
        "| true emotion | family right | read as neutral | mean estimated intensity |",
        "|---|---|---|---|",
    ]
    total_right = total = 0
    for label in sorted(set(labels), key=labels.index):
        estimates = [
            estimator.estimate_from_prosody(row) for row, lab in zip(rows, labels) if lab == label
        ]
        family = taxonomy.resolve(as_emotion(label).category)
        right = sum(1 for e in estimates if e.category == family)
        missed = sum(1 for e in estimates if e.is_neutral)
        mean_intensity = np.mean([0.0 if e.is_neutral else e.intensity for e in estimates])
        total_right, total = total_right + right, total + len(estimates)
        lines.append(f"| {label} | {right}/{len(estimates)} | {missed} | {mean_intensity:.2f} |")
    lines += [
        "",
        f"Family accuracy over all emotional renderings: {total_right}/{total} "
        f"({100 * total_right / total:.1f} %; chance {100 / len(FAMILIES):.1f} %).",
    ]
    return lines


REMOVAL_CUES = ("f0_mean_semitones", "f0_range_semitones", "energy_db", "spectral_tilt_db")


def _removal(tts, vc, texts) -> list[str]:
    """How much of an emotional rendering's prosody voice conversion to neutral takes out.

    Each held-out sentence is rendered with each family at intensity 1 and converted to neutral
    three ways: source "neutral" (nothing taken out), "auto" (the estimate) and the true emotion
    (the oracle). The distance to the sentence's neutral rendering is the mean absolute
    difference of pitch mean and range (semitones), level and alpha ratio (dB).
    """
    from emogen.speech.prosody import prosody_features

    rate = tts.voice.sample_rate

    def cues(audio):
        measured = prosody_features(audio, rate)
        return np.array([getattr(measured, name) for name in REMOVAL_CUES])

    distances = {family: {"neutral": [], "auto": [], "true": []} for family in FAMILIES}
    false_alarm, baseline = [], []
    for index, text in enumerate(texts):
        speech = tts.neutral_speech(text, seed=900 + index)
        features = tts.vocoder.analyze(speech, rate)
        reference = tts.renderer.render(speech, rate, "neutral", features=features).audio
        target = cues(reference)
        auto_neutral = vc(reference, emotion="neutral", sample_rate=rate, generator=0)
        false_alarm.append(np.abs(cues(auto_neutral.audios[0]) - target).mean())
        kept = vc(reference, emotion="neutral", source_emotion="neutral", sample_rate=rate)
        baseline.append(np.abs(cues(kept.audios[0]) - target).mean())
        for family in FAMILIES:
            emotional = tts.renderer.render(speech, rate, family, features=features, seed=index)
            for source in ("neutral", "auto", "true"):
                given = family if source == "true" else source
                out = vc(emotional.audio, "neutral", source_emotion=given, sample_rate=rate)
                distances[family][source].append(np.abs(cues(out.audios[0]) - target).mean())
        print(f"  [{index + 1}/{len(texts)}] converted")
    lines = [
        "",
        "## Converting back to neutral (held-out sentences, intensity 1)",
        "",
        "Mean absolute distance to the sentence's neutral rendering over pitch mean and range",
        "(semitones), level and alpha ratio (dB); lower is better. 'nothing' takes nothing out",
        "(source neutral), 'estimated' takes out the estimate (the pipeline's default), 'true'",
        "takes out the emotion the rendering really has.",
        "",
        "| rendered as | nothing | estimated | true | share removed by the estimate |",
        "|---|---|---|---|---|",
    ]
    for family, row in distances.items():
        nothing, auto, true = (float(np.mean(row[k])) for k in ("neutral", "auto", "true"))
        share = (nothing - auto) / (nothing - true) if nothing > true else float("nan")
        lines.append(
            f"| {family} | {nothing:.2f} | {auto:.2f} | {true:.2f} | {100 * share:.0f} % |"
        )
    lines += [
        "",
        f"Neutral renderings converted to neutral: mean distance {np.mean(baseline):.2f} taking "
        f"nothing out (resynthesis alone), {np.mean(false_alarm):.2f} with the estimate (the "
        "difference is what misreading neutral speech as emotional costs).",
    ]
    return lines


if __name__ == "__main__":
    main()
