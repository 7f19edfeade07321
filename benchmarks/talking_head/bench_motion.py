"""Lip-sync of the learned audio-to-motion model against the audio-only peers, on held-out TTS.

Held-out speech, two sets of 24 texts, each spoken by `tts-default` in two emotions (the
families and neutral, intensities 1 and 0.5):

- written: the evaluation sentences of benchmarks/speech/sentences.txt (prose; training/
  speech_corpus excludes them);
- chat: chitchat messages (the model's training domain) that none of its corpora holds (the
  base speech corpus, `training/audio_to_motion/corpus_extra.yaml` and `corpus_prose.yaml`,
  recomputed from their configs).

The voice's own phoneme timing gives the ground truth, `emogen.face.visemes.mouth_track` at
25 fps. Every method sees only the audio (and, for the learned model, the emotion the speech was
rendered with):

- learned: `AudioToMotionModel.predict` (the shipped `pipelines/talking-head/motion_model`, or
  `--model DIR`), seeded;
- learned, emotion not given: the same with "neutral", whatever the speech's emotion;
- learned, prior only: the model's regression prior mu without the diffusion residual
  (`diffusion_strength=0`);
- rule-based: `emogen.face.audio_timing.mouth_track_from_audio` (Whisper words, espeak-ng
  phonemes, energy-snapped spans), without a transcript;
- loudness: a naive baseline, jaw opening = the loudness envelope (0 at 40 dB under the
  loudest frame, 0.8 at it), lips closed where it is quieter than -20 dB, the rest 0.

Metrics (per clip, then the mean over clips; RMSE over all frames):
- jaw_open r: Pearson correlation of the predicted and the true jaw opening;
- RMSE of each mouth parameter;
- bilabial hit rate: share of the p/b/m segments (viseme PBM) where the predicted lip_closure
  reaches 0.5 within the segment (+-20 ms); and the false-closure rate: share of vowel
  segments whose centre frame has lip_closure >= 0.5 (a mouth always shut would hit every
  bilabial);
- envelope r: the correlation of jaw opening with the loudness envelope
  (`emogen.eval.face.lip_sync_correlation`; the ground truth's own value is the reference);
- speed: seconds of computing per second of audio, one thread.

    .venv/bin/python benchmarks/talking_head/bench_motion.py    # ~5 minutes with rendering
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FPS = 25.0
EMOTIONS = ["neutral", "happy", "sad", "angry", "afraid", "disgusted", "surprised", "calm"]
CLOSED = 0.5  # lip_closure at or above this is a closed mouth
SLACK_S = 0.02
CHAT_SEED = 7
SETS = {
    "written": "the 24 sentences of benchmarks/speech/sentences.txt (written prose)",
    "chat": "24 chitchat messages outside every training corpus (the domain the model trained on)",
}


def written_sentences(count: int) -> list[str]:
    """The speech benchmark's evaluation sentences (training/speech_corpus never uses them)."""
    lines = (ROOT / "benchmarks/speech/sentences.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip()][:count]


def chat_sentences(count: int) -> list[str]:
    """`count` chitchat messages (seeded) that no training corpus of the model holds: the
    sentences of the base speech corpus, `corpus_extra.yaml` and `corpus_prose.yaml` (recomputed
    from their configs, so no corpus need be on disk; the prose holds no chitchat message, so the
    picks are those of the model trained without it) and the written benchmark sentences are
    excluded."""
    sys.path.insert(0, str(ROOT / "training/speech_corpus"))
    import build

    trained = set()
    for config in (
        ROOT / "training/speech_corpus/configs/base.yaml",
        ROOT / "training/audio_to_motion/corpus_extra.yaml",
        ROOT / "training/audio_to_motion/corpus_prose.yaml",
    ):
        trained |= {s.lower() for s in build.load_sentences(build.load_config(str(config)))}
    trained |= {s.lower() for s in written_sentences(10**6)}
    pool = [s for s in dict.fromkeys(build.chitchat_sentences()) if s.lower() not in trained]
    picks = np.random.default_rng(CHAT_SEED).choice(len(pool), count, replace=False)
    return [pool[i] for i in sorted(picks)]


def held_out_clips(cache: Path, sentences: list[str]) -> list[dict]:
    """Render (or load from `cache`) the held-out clips: audio, rate, alignment, emotion."""
    from emogen.pipelines import load_pipeline

    cache.mkdir(parents=True, exist_ok=True)
    pipe, clips = None, []
    for index, sentence in enumerate(sentences):
        for take, shift in enumerate((0, 3)):
            family = EMOTIONS[(index + shift) % len(EMOTIONS)]
            intensity = 1.0 if (index + take) % 2 == 0 else 0.5
            emotion = family if family == "neutral" else f"{family}:{intensity}"
            path = cache / f"{index:02d}-{take}.npz"
            if path.is_file():
                with np.load(path) as data:
                    if str(data["sentence"]) != sentence:
                        path.unlink()  # another sentence list: render again
            if not path.is_file():
                if pipe is None:
                    pipe = load_pipeline("tts-default")
                # A message of several sentences: the chunks one after the other (each ends
                # with its pause), their alignments on the clip's time line.
                chunks = list(pipe.stream(sentence, emotion=emotion, generator=index))
                timings, offset = [], 0.0
                for chunk in chunks:
                    timings += [(t.phoneme, t.start + offset, t.end + offset)
                                for t in chunk.alignment]  # fmt: skip
                    offset += len(chunk.audio) / chunk.sample_rate
                np.savez(
                    path,
                    audio=np.concatenate([chunk.audio for chunk in chunks]),
                    sample_rate=chunks[0].sample_rate,
                    phonemes=np.array([p for p, _, _ in timings]),
                    spans=np.array([[start, end] for _, start, end in timings]),
                    emotion=np.array(emotion),
                    sentence=np.array(sentence),
                )
            with np.load(path) as data:
                clips.append(
                    {
                        "audio": data["audio"].astype(np.float32),
                        "sample_rate": int(data["sample_rate"]),
                        "alignment": list(zip(data["phonemes"].tolist(), *data["spans"].T)),
                        "emotion": str(data["emotion"]),
                        "sentence": str(data["sentence"]),
                    }
                )
    return clips


def loudness_baseline(audio: np.ndarray, rate: int, num_frames: int) -> np.ndarray:
    """The naive peer: the loudness envelope as the jaw, quiet frames as closed lips."""
    from emogen.eval.face import loudness_envelope

    level = loudness_envelope(audio, rate, FPS, num_frames)
    openness = np.clip((level + 40.0) / 40.0, 0.0, 1.0)
    mouth = np.zeros((num_frames, 5))
    mouth[:, 0] = 0.8 * openness
    mouth[:, 3] = (level < -20.0).astype(float)
    return mouth


def closure_rates(alignment, mouth: np.ndarray) -> tuple[int, int, int, int]:
    """(bilabials, bilabials closed, vowels, vowels closed) of one clip."""
    from emogen.face.visemes import viseme_segments

    times = np.arange(len(mouth)) / FPS
    bilabials = hits = vowels = false = 0
    for viseme, start, end in viseme_segments(alignment):
        if viseme == "PBM":
            inside = np.flatnonzero((times >= start - SLACK_S) & (times <= end + SLACK_S))
            if not len(inside):
                inside = [int(np.argmin(np.abs(times - (start + end) / 2)))]
            bilabials += 1
            hits += bool(mouth[inside, 3].max() >= CLOSED)
        elif viseme in "AEIOU":
            centre = int(np.argmin(np.abs(times - (start + end) / 2)))
            vowels += 1
            false += bool(mouth[centre, 3] >= CLOSED)
    return bilabials, hits, vowels, false


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        default=str(ROOT / "pipelines/talking-head/motion_model"),
        help="the AudioToMotionModel folder (a run's <out>/motion to measure a checkpoint)",
    )
    parser.add_argument("--sentences", type=int, default=24)
    parser.add_argument("--cache", default="/tmp/emogen-bench-motion")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (model default)")
    parser.add_argument("--out", default=str(HERE / "RESULTS_motion.md"))
    parser.add_argument(
        "--no-rule-based", action="store_true", help="leave the Whisper peer out (quick checks)"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT))
    from emogen.eval.face import lip_sync_correlation, loudness_envelope
    from emogen.face.motion_model import AudioToMotionModel
    from emogen.face.visemes import MOUTH_PARAMETERS, mouth_track
    from emogen.speech.voice import PhonemeTiming

    model = AudioToMotionModel.from_pretrained(args.model).eval()
    weights = [*Path(args.model).glob("*.safetensors"), Path(args.model) / "config.json"]
    size_mb = sum(p.stat().st_size for p in weights) / 1e6

    methods = {
        "ground truth (known timing)": lambda c, t: mouth_track(c["alignment"], t),
        "learned (audio + emotion)": lambda c, t: model.predict(
            c["audio"], c["sample_rate"], c["emotion"], FPS, len(t), args.steps, generator=0
        ),
        "learned, emotion not given": lambda c, t: model.predict(
            c["audio"], c["sample_rate"], "neutral", FPS, len(t), args.steps, generator=0
        ),
    }

    methods["learned, prior only (diffusion_strength 0)"] = lambda c, t: model.predict(
        c["audio"], c["sample_rate"], c["emotion"], FPS, len(t), diffusion_strength=0.0
    )
    rule_note = ""
    try:
        if args.no_rule_based:
            raise ImportError("left out with --no-rule-based")
        from emogen.face.audio_timing import mouth_track_from_audio

        methods["rule-based (Whisper + espeak timing)"] = lambda c, t: mouth_track_from_audio(
            c["audio"], c["sample_rate"], t, transcript=None
        )
    except ImportError as error:
        rule_note = f"The rule-based audio path could not be imported ({error}); rerun later."
    methods["loudness envelope (naive)"] = lambda c, t: loudness_baseline(
        c["audio"], c["sample_rate"], len(t)
    )

    sets = {}
    for set_name in SETS:
        choose = written_sentences if set_name == "written" else chat_sentences
        clips = held_out_clips(Path(args.cache) / set_name, choose(args.sentences))
        for clip in clips:
            clip["alignment"] = [
                PhonemeTiming(p, float(s), float(e)) for p, s, e in clip["alignment"]
            ]
            clip["frames"] = max(
                1, math.ceil(len(clip["audio"]) / clip["sample_rate"] * FPS - 1e-9)
            )
        audio_seconds = sum(len(c["audio"]) / c["sample_rate"] for c in clips)
        results = {}
        for name, method in methods.items():
            correlations, envelope_r, squared = [], [], []
            counts = np.zeros(4)
            per_emotion: dict[str, list[float]] = {}
            started = time.perf_counter()
            outputs = [method(c, np.arange(c["frames"]) / FPS) for c in clips]
            seconds = time.perf_counter() - started
            for clip, mouth in zip(clips, outputs):
                mouth = np.asarray(mouth, dtype=np.float64)
                truth = mouth_track(clip["alignment"], np.arange(clip["frames"]) / FPS)
                r = lip_sync_correlation(mouth[:, 0], truth[:, 0])
                correlations.append(r)
                per_emotion.setdefault(clip["emotion"].split(":")[0], []).append(r)
                level = loudness_envelope(clip["audio"], clip["sample_rate"], FPS, clip["frames"])
                envelope_r.append(lip_sync_correlation(mouth[:, 0], level))
                squared.append((mouth - truth) ** 2)
                counts += closure_rates(clip["alignment"], mouth)
            squared = np.concatenate(squared)
            results[name] = {
                "jaw_open_r": float(np.mean(correlations)),
                "jaw_open_r_min": float(np.min(correlations)),
                "rmse": {
                    p: float(np.sqrt(squared[:, i].mean())) for i, p in enumerate(MOUTH_PARAMETERS)
                },
                "rmse_mean": float(np.sqrt(squared.mean())),
                "bilabial_hit_rate": float(counts[1] / max(counts[0], 1)),
                "vowel_false_closure_rate": float(counts[3] / max(counts[2], 1)),
                "envelope_r": float(np.mean(envelope_r)),
                "seconds_per_audio_second": seconds / audio_seconds,
                "jaw_open_r_by_emotion": {
                    k: float(np.mean(v)) for k, v in sorted(per_emotion.items())
                },
            }
            print(f"{set_name} / {name}: {json.dumps(results[name])}", flush=True)
        sets[set_name] = {
            "description": SETS[set_name],
            "clips": len(clips),
            "audio_seconds": round(audio_seconds, 1),
            "bilabials": int(counts[0]),
            "vowels": int(counts[2]),
            "sentences": sorted({c["sentence"] for c in clips}),
            "results": results,
        }

    summary = {
        "model": str(Path(args.model).resolve().relative_to(ROOT))
        if Path(args.model).resolve().is_relative_to(ROOT)
        else args.model,
        "model_mb": round(size_mb, 2),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "num_inference_steps": args.steps or model.config.num_inference_steps,
        "machine": platform.processor() or platform.machine(),
        "sets": sets,
    }
    (Path(args.out).parent / "results_motion.json").write_text(json.dumps(summary, indent=2) + "\n")
    Path(args.out).write_text(render(summary, rule_note))
    print(f"wrote {args.out}")


def render(summary: dict, note: str) -> str:
    lines = [
        "# Audio-to-motion: lip-sync from audio alone (bench_motion.py)",
        "",
        "Held-out TTS clips (each sentence spoken by tts-default in two emotions, the families "
        "and neutral at intensities 1 and 0.5), mouth parameters at 25 fps against the viseme "
        "rig's track from the voice's known phoneme timing. Every method sees the audio only "
        "(the learned model also the emotion). Learned model: "
        f"`{summary['model']}` ({summary['num_parameters']:,} parameters, "
        f"{summary['model_mb']} MB, {summary['num_inference_steps']} DPM-Solver steps, seed 0). "
        f"One CPU thread ({summary['machine']}, shared machine: times are noisy; compare within "
        "a table).",
    ]
    for set_name, data in summary["sets"].items():
        results = data["results"]
        lines += [
            "",
            f"## {set_name}: {data['description']}",
            "",
            f"{data['clips']} clips, {data['audio_seconds']} s of audio, {data['bilabials']} "
            f"p/b/m segments, {data['vowels']} vowel segments.",
            "",
            "| method | jaw_open r (min) | RMSE jaw / round / stretch / closure / tuck (mean) | "
            "bilabial hits | vowel false closures | jaw vs loudness r | s per s of audio |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in results.items():
            rmse = " / ".join(f"{v:.3f}" for v in row["rmse"].values())
            lines.append(
                f"| {name} | {row['jaw_open_r']:.3f} ({row['jaw_open_r_min']:.2f}) | {rmse} "
                f"({row['rmse_mean']:.3f}) | {100 * row['bilabial_hit_rate']:.1f} % | "
                f"{100 * row['vowel_false_closure_rate']:.1f} % | {row['envelope_r']:.3f} | "
                f"{row['seconds_per_audio_second']:.4f} |"
            )
        emotions = list(next(iter(results.values()))["jaw_open_r_by_emotion"])
        lines += [
            "",
            "jaw_open r by the speech's emotion:",
            "",
            "| method | " + " | ".join(emotions) + " |",
            "|---|" + "---|" * len(emotions),
        ]
        for name, row in results.items():
            values = " | ".join(f"{row['jaw_open_r_by_emotion'][e]:.3f}" for e in emotions)
            lines.append(f"| {name} | {values} |")
    lines += ["", "Raw numbers and the sentences: results_motion.json."]
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
