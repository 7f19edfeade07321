"""Talking-head benchmark: expression, lip sync, identity and background, speed and memory.

Speech: sentences of benchmarks/speech/sentences.txt (held out from every training corpus)
spoken by `tts-default` in the emotion being shown; portraits: the two that ship offline,
skimage's astronaut (photographed smiling, lips parted) and matplotlib's Grace Hopper (neutral).
Clips come from `TalkingHeadPipeline` (pipelines/talking-head) through its public API.

- Expression: fer's classifier (`emogen.eval.face.ExpressionClassifier`, FER-2013 mini-Xception)
  on every 3rd frame of a spoken clip, per portrait, for the six basic emotions at intensities
  0, 0.25, 0.5, 0.75 and 1: the share of frames where the intended class is top-1 (target at
  intensity 1: >= 70 % for happy, sad, angry, surprised), the share read as neutral at
  intensity 0 (the neutral face on the neutral voice's clip of the same sentence: every emotion
  at 0 is that clip), and the intended class's mean probability per intensity (should rise).
- Lip sync: landmarks re-detected on every output frame; Pearson correlation between mouth
  opening (`mouth_opening`) and the speech loudness envelope (target >= 0.5), and the share of
  frames in pauses (`silent_frames`) where the mouth is closed, on clips of two sentences (so
  each holds a pause), neutral, happy and sad in turn; for each mouth source: the TTS's
  phoneme timing, the learned audio-to-motion model and visemes timed by Whisper (the last two
  see only the audio).
- Identity and background: SSIM outside the dilated face region (`background_ssim`) of every
  5th frame against the portrait (target >= 0.95).
- Speed on one thread: frames rendered per second at 512 x 512 (target >= 25), and the whole
  clip (analysis + rendering + encoding) against the audio's duration (target <= 1), each
  beside a peer measured in the same run: encoding the still portrait as the same clip
  (`write_video`), the cost every talking head pays.
- Memory: peak Python allocations (tracemalloc) while saving a clip of 8 s and of 32 s: flat
  when frames stream to the encoder.

Writes RESULTS.md and results.json beside this file.

    .venv/bin/python benchmarks/talking_head/bench_talking_head.py           # ~10 minutes
    .venv/bin/python benchmarks/talking_head/bench_talking_head.py --quick   # ~3 minutes
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EMOTIONS = ["happy", "sad", "angry", "surprised", "afraid", "disgusted"]
TARGETS = ["happy", "sad", "angry", "surprised"]
FER_CLASS = {
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "surprised": "surprise",
    "afraid": "fear",
    "disgusted": "disgust",
    "neutral": "neutral",
}
INTENSITIES = [0.0, 0.25, 0.5, 0.75, 1.0]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sentences and intensities")
    parser.add_argument("--pipeline", default="talking-head")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE)
    return parser.parse_args()


def portraits() -> dict[str, np.ndarray]:
    from emogen.face import SAMPLE_PORTRAITS, load_portrait

    return {name: load_portrait(name) for name in SAMPLE_PORTRAITS}


def sentences(count: int) -> list[str]:
    lines = (ROOT / "benchmarks/speech/sentences.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()][:count]


def speak(tts, text: str, emotion: str, seed: int) -> dict:
    out = tts(text, emotion=emotion, generator=seed)
    return {
        "audio": out.audios[0],
        "rate": out.sample_rate,
        "alignment": out.alignments[0],
        "text": text,
    }


def expression(pipe, tts, images, classifier, detector, texts, intensities, seed) -> dict:
    """Per portrait, emotion and intensity: the classifier's reading of every 3rd frame."""
    results = {}
    for name, image in images.items():
        for emotion in ["neutral", *EMOTIONS]:
            speech = speak(tts, texts[0], emotion, seed)
            for intensity in intensities if emotion != "neutral" else [0.0]:
                if intensity == 0 and emotion != "neutral":
                    # every emotion at 0 is the neutral face, shown speaking neutrally
                    results[(name, emotion, 0.0)] = results[(name, "neutral", 0.0)]
                    continue
                clip = pipe(
                    image,
                    speech["audio"],
                    emotion,
                    intensity=intensity,
                    sample_rate=speech["rate"],
                    alignment=speech["alignment"],
                    generator=seed,
                )
                frames = [clip.frames[i] for i in range(0, len(clip.frames), 3)]
                faces = [detector.detect_one(frame) for frame in frames]
                results[(name, emotion, intensity)] = classifier.predict_batch(frames, faces)
    return results


def summarise_expression(results: dict, intensities: list[float]) -> dict:
    from emogen.eval.face import EXPRESSION_LABELS

    summary = {}
    names = sorted({key[0] for key in results})
    for emotion in EMOTIONS:
        column = EXPRESSION_LABELS.index(FER_CLASS[emotion])
        row = {}
        for name in names:
            probabilities = [results[(name, emotion, i)][:, column].mean() for i in intensities]
            full = results[(name, emotion, intensities[-1])]
            row[name] = {
                "top1_at_1": float(np.mean(full.argmax(1) == column)),
                "probability_by_intensity": [round(float(p), 3) for p in probabilities],
                "rises": bool(np.all(np.diff(probabilities) > -0.02)),
                "read_as": EXPRESSION_LABELS[
                    int(np.bincount(full.argmax(1), minlength=7).argmax())
                ],
            }
        summary[emotion] = row
    readings = {
        name: np.bincount(results[(name, "neutral", 0.0)].argmax(1), minlength=7)
        / len(results[(name, "neutral", 0.0)])
        for name in names
    }
    summary["neutral_at_0"] = {
        name: float(share[EXPRESSION_LABELS.index("neutral")]) for name, share in readings.items()
    }
    summary["read_at_0"] = {
        name: {label: round(float(v), 3) for label, v in zip(EXPRESSION_LABELS, share) if v}
        for name, share in readings.items()
    }
    return summary


def lip_sync(pipe, tts, images, detector, texts, seed, sources) -> dict:
    from emogen.eval.face import (
        MOUTH_CLOSED,
        background_ssim,
        lip_sync_correlation,
        loudness_envelope,
        mouth_opening,
        silent_frames,
    )

    records = {source: [] for source in sources}
    ssims = []
    # Clips of two sentences each, so that each holds a pause where the mouth should rest.
    pairs = [" ".join(texts[i : i + 2]) for i in range(0, len(texts) - 1, 2)]
    for index, text in enumerate(pairs):
        speech = speak(tts, text, ["neutral", "happy", "sad"][index % 3], seed)
        for image in images.values():
            for source in sources:
                clip = pipe(
                    image,
                    speech["audio"],
                    "neutral",
                    sample_rate=speech["rate"],
                    alignment=speech["alignment"] if source == "alignment" else None,
                    mouth=source,
                    generator=seed,
                )
                frames = list(clip.frames)
                faces = [detector.detect_one(frame) for frame in frames]
                openings = np.array([mouth_opening(face) for face in faces])
                envelope = loudness_envelope(
                    clip.audio, clip.sample_rate, clip.fps, num_frames=len(frames)
                )
                silent = silent_frames(envelope, clip.fps)
                records[source].append(
                    {
                        "r": lip_sync_correlation(openings, envelope),
                        "closed_in_pauses": float(np.mean(openings[silent] < MOUTH_CLOSED))
                        if silent.any()
                        else float("nan"),
                        "pause_frames": int(silent.sum()),
                    }
                )
                if source == sources[0]:
                    portrait_face = detector.detect_one(clip.frames._renderer.image)
                    ssims += [
                        background_ssim(
                            clip.frames._renderer.image, frames[i], [portrait_face, faces[i]]
                        )
                        for i in range(0, len(frames), 5)
                    ]
    summary = {
        source: {
            "r_mean": float(np.mean([r["r"] for r in rows])),
            "r_min": float(np.min([r["r"] for r in rows])),
            "closed_in_pauses": float(np.nanmean([r["closed_in_pauses"] for r in rows])),
            "clips": len(rows),
        }
        for source, rows in records.items()
    }
    summary["background_ssim"] = {"mean": float(np.mean(ssims)), "min": float(np.min(ssims))}
    return summary


def speed(pipe, tts, image, texts, seed, sources) -> dict:
    from emogen.face.video import write_video

    torch.set_num_threads(1)
    speech = speak(tts, " ".join(texts[:2]), "happy", seed)
    duration = len(speech["audio"]) / speech["rate"]
    out = {"audio_seconds": duration}
    with tempfile.TemporaryDirectory() as scratch:
        clip = pipe(
            image, speech["audio"], "happy", sample_rate=speech["rate"],
            alignment=speech["alignment"], size=512, generator=seed,
        )  # fmt: skip
        start = time.perf_counter()
        for _ in clip.frames:
            pass
        render = time.perf_counter() - start
        out["render_fps_512"] = len(clip.frames) / render
        start = time.perf_counter()
        still = (clip.frames._renderer.image for _ in range(len(clip.frames)))
        write_video(
            Path(scratch) / "still.mp4", still, clip.fps, clip.audio, clip.sample_rate,
            len(clip.frames), progress=False,
        )  # fmt: skip
        out["still_encode_seconds"] = time.perf_counter() - start
        for source in sources:
            start = time.perf_counter()
            clip = pipe(
                image, speech["audio"], "happy", sample_rate=speech["rate"],
                alignment=speech["alignment"] if source == "alignment" else None,
                mouth=source, size=512, generator=seed,
            )  # fmt: skip
            analysed = time.perf_counter() - start
            clip.save(Path(scratch) / f"{source}.mp4", progress=False)
            total = time.perf_counter() - start
            out[source] = {
                "analysis_seconds": analysed,
                "total_seconds": total,
                "x_audio": total / duration,
                "x_still_encode": total / out["still_encode_seconds"],
            }
    return out


def memory(pipe, tts, image, seed) -> dict:
    speech = speak(tts, sentences(1)[0], "neutral", seed)
    audio, rate = speech["audio"], speech["rate"]
    peaks = {}
    with tempfile.TemporaryDirectory() as scratch:
        for seconds in (8, 32):
            repeats = int(np.ceil(seconds * rate / len(audio)))
            long_audio = np.tile(audio, repeats)[: seconds * rate]
            # Mouth from the learned model (or Whisper's timing): analysis like a user's clip.
            mouth = "learned" if pipe.motion_model is not None else "rules"
            clip = pipe(
                image, long_audio, "happy", sample_rate=rate, mouth=mouth, size=512,
                generator=seed,
            )  # fmt: skip
            tracemalloc.start()
            clip.save(Path(scratch) / f"{seconds}.mp4", progress=False)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            peaks[seconds] = peak / 2**20
    return {"peak_mib_8s": peaks[8], "peak_mib_32s": peaks[32], "ratio": peaks[32] / peaks[8]}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    from emogen.eval.face import ExpressionClassifier
    from emogen.face import FaceLandmarkDetector
    from emogen.pipelines import load_pipeline

    pipe = load_pipeline(args.pipeline)
    tts = load_pipeline("tts-default")
    detector = FaceLandmarkDetector()
    classifier = ExpressionClassifier()
    images = portraits()
    intensities = [0.0, 0.5, 1.0] if args.quick else INTENSITIES
    texts = sentences(4 if args.quick else 12)
    sources = ["alignment", *(["learned"] if pipe.motion_model is not None else []), "rules"]

    started = time.perf_counter()
    raw = expression(pipe, tts, images, classifier, detector, texts, intensities, args.seed)
    results = {"expression": summarise_expression(raw, intensities)}
    results["lip_sync"] = lip_sync(pipe, tts, images, detector, texts, args.seed, sources)
    results["speed"] = speed(pipe, tts, images["astronaut"], texts, args.seed, sources)
    results["memory"] = memory(pipe, tts, images["astronaut"], args.seed)
    results["meta"] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, torch threads 1",
        "pipeline": args.pipeline,
        "intensities": intensities,
        "sentences": len(texts),
        "minutes": (time.perf_counter() - started) / 60,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "RESULTS.md").write_text("\n".join(report(results, sources)) + "\n")
    print("\n".join(report(results, sources)))


def report(results: dict, sources: list[str]) -> list[str]:
    meta, expression_ = results["meta"], results["expression"]
    names = list(expression_["neutral_at_0"])
    lines = [
        "# Talking-head benchmark",
        "",
        f"Run {meta['date']} on {meta['machine']}; pipeline `{meta['pipeline']}`, "
        f"{meta['sentences']} held-out sentences, {meta['minutes']:.1f} minutes. Reproduce: "
        "`.venv/bin/python benchmarks/talking_head/bench_talking_head.py`.",
        "",
        "## Expression (fer's classifier on every 3rd frame of a spoken clip)",
        "",
        "Top-1 share of the intended class at intensity 1 (target >= 70 % for happy, sad, "
        "angry, surprised), the class most frames read as, and the intended class's mean "
        f"probability at intensities {meta['intensities']}.",
        "",
        "| emotion | "
        + " | ".join(f"{n} top-1 | {n} read as | {n} p(intended)" for n in names)
        + " |",
        "|---|" + "---|---|---|" * len(names),
    ]
    for emotion in EMOTIONS:
        cells = []
        for name in names:
            row = expression_[emotion][name]
            rises = "" if row["rises"] else " (not rising)"
            cells += [
                f"{100 * row['top1_at_1']:.0f} %",
                row["read_as"],
                " / ".join(f"{p:.2f}" for p in row["probability_by_intensity"]) + rises,
            ]
        lines.append(f"| {emotion} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Read as neutral at intensity 0 (the neutral face speaking with the neutral voice): "
        + ", ".join(
            f"{n} {100 * v:.0f} % (all readings: "
            + ", ".join(f"{k} {100 * p:.0f} %" for k, p in expression_["read_at_0"][n].items())
            + ")"
            for n, v in expression_["neutral_at_0"].items()
        ),
        "",
        "## Lip sync (landmarks re-detected on the output frames)",
        "",
        "| mouth from | r(opening, loudness) mean | min | closed in pauses | clips |",
        "|---|---|---|---|---|",
    ]
    for source in sources:
        row = results["lip_sync"][source]
        lines.append(
            f"| {source} | {row['r_mean']:.3f} | {row['r_min']:.3f} | "
            f"{100 * row['closed_in_pauses']:.0f} % | {row['clips']} |"
        )
    ssim = results["lip_sync"]["background_ssim"]
    speed_ = results["speed"]
    lines += [
        "",
        f"Background SSIM outside the face region: mean {ssim['mean']:.4f}, min "
        f"{ssim['min']:.4f} (target >= 0.95).",
        "",
        f"## Speed (one thread, {speed_['audio_seconds']:.1f} s of speech, 512 x 512)",
        "",
        f"Rendering: {speed_['render_fps_512']:.0f} frames per second (target >= 25). Peer: "
        "encoding the still portrait as the same clip took "
        f"{speed_['still_encode_seconds']:.2f} s.",
        "",
        "| mouth from | analysis s | whole clip s | x audio duration | x still encode |",
        "|---|---|---|---|---|",
    ]
    for source in sources:
        row = speed_[source]
        lines.append(
            f"| {source} | {row['analysis_seconds']:.2f} | {row['total_seconds']:.2f} | "
            f"{row['x_audio']:.2f} | {row['x_still_encode']:.1f} |"
        )
    mem = results["memory"]
    lines += [
        "",
        f"Memory: peak Python allocations while saving an 8 s clip {mem['peak_mib_8s']:.1f} MiB, "
        f"a 32 s clip {mem['peak_mib_32s']:.1f} MiB (x{mem['ratio']:.2f}).",
    ]
    return lines


if __name__ == "__main__":
    main()
