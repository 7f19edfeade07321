"""How well visemes timed from the audio alone follow known phoneme timing.

Two voices with known timing speak held-out sentences (written for this benchmark, none from
training/speech_corpus/sentences.txt): emogen's TTS in several emotions (its alignment,
`SpeechChunk.alignment`, is the truth; the aligner's template voice is the same Piper voice, so
this is the home match), and espeak-ng's formant synthesizer at random rates and pitches (the
start of each phoneme from its phoneme events; a voice unlike the template, standing in for
"any other audio"). `emogen.face.audio_timing` aligns the audio without that timing, and is
scored on:

(a) phoneme onsets: the estimated and true phoneme strings are aligned by edit distance and each
    matched phoneme's start is compared (mean absolute error in ms, share within 20 and 40 ms;
    40 ms is one video frame at 25 fps). Stress and length marks belong to the phoneme before
    them, as in `viseme_segments`; for espeak-ng only the first sound of each event is scored
    (an event may hold a diphthong).
(b) mouth tracks at `--fps`: per-parameter RMSE of `mouth_track_from_audio` against
    `mouth_track(known alignment)`, Pearson r of jaw_open (frames of all sentences pooled, and
    the mean over sentences), the share of true bilabial closures (p b m) where the estimated
    lips close (lip_closure > 0.5 within one frame of the closure's centre), and the share of
    frames within the utterance where the estimate closes the lips and the truth does too.
(c) a peer with no phonemes: jaw_open = the normalised loudness envelope, lip_closure = 1 -
    that, the other parameters 0.
(d) CPU time per second of audio (one thread; Whisper included).

Ablations: the transcript given; `method="words"` (Whisper's word spans shared among their
phonemes) with Klatt or equal shares, and without snapping the spans to the energy envelope.

Run (about 3 minutes on one core):
    OMP_NUM_THREADS=1 python benchmarks/talking_head/bench_viseme_timing.py \
        --results benchmarks/talking_head/RESULTS_viseme_timing.md \
        --json benchmarks/talking_head/results_viseme_timing.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import unicodedata
from pathlib import Path
from unittest import mock

import numpy as np
from tqdm import tqdm

from emogen.eval import speech as speech_eval
from emogen.face import audio_timing
from emogen.face.audio_timing import align_audio
from emogen.face.visemes import MOUTH_PARAMETERS, mouth_track, viseme_segments
from emogen.pipelines import load_pipeline
from emogen.speech.voice import PhonemeTiming, PiperVoice

HERE = Path(__file__).parent
JAW, CLOSURE = MOUTH_PARAMETERS.index("jaw_open"), MOUTH_PARAMETERS.index("lip_closure")

# Held-out sentences (written for this benchmark) with the emotion each is spoken in.
SENTENCES = [
    ("Please bring me both of the blue umbrellas from the porch.", "neutral"),
    ("We finally won the championship after twelve long years!", "happy"),
    ("My old dog passed away quietly in his sleep last night.", "sad"),
    ("Stop moving my papers around without asking me first!", "angry"),
    ("Something is breathing behind that locked bedroom door.", "afraid"),
    ("You bought a whole pumpkin farm on a whim?", "surprised"),
    ("The milk in the fridge smells like a rotten sponge.", "disgusted"),
    ("Breathe slowly and let your shoulders drop a little.", "calm"),
    ("Maria mapped every path through the marble maze.", "happy"),
    ("The ferry leaves the harbour at a quarter past nine.", "neutral"),
    ("I never meant to break your beautiful purple vase.", "sad"),
    ("Who keeps parking that battered van in my spot?", "angry"),
    ("The lamp flickered and the whole room went black.", "afraid"),
    ("Bob brought a bamboo bicycle to the museum party.", "surprised"),
    ("Nobody wants to eat soup with a hair floating in it.", "disgusted"),
    ("Moonlight spilled softly over the empty meadow.", "calm"),
    ("Our team beat the record by almost a minute!", "excited"),
    ("Put the plums back before Mum sees the bowl is empty.", "neutral"),
    ("I waited by the phone all evening, but nobody called.", "sad"),
    ("How dare you open my private mail behind my back!", "angry"),
]


class EspeakSpeaker:
    """espeak-ng's own formant synthesizer (the espeakng_loader wheel's library), with the start
    of each phoneme from its phoneme events: a second, very different voice with known timing,
    for speech that is not emogen's."""

    PHONEME_EVENT, RATE, PITCH = 7, 1, 3

    def __init__(self, voice: str = "en-us"):
        import ctypes

        import espeakng_loader

        class Event(ctypes.Structure):  # espeak_EVENT of speak_lib.h
            _fields_ = [
                ("type", ctypes.c_int),
                ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int),
                ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int),
                ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p),
                ("id", ctypes.c_char * 8),
            ]

        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event)
        )
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []

        def on_audio(wav, num_samples, events) -> int:
            if wav and num_samples > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
            index = 0
            while events[index].type != 0:
                if events[index].type == self.PHONEME_EVENT:
                    name = events[index].id.decode("utf-8", "replace")
                    self._events.append((name, events[index].sample))
                index += 1
            return 0

        self._library = ctypes.CDLL(espeakng_loader.get_library_path())
        self._callback = callback_type(on_audio)  # kept alive as long as the library uses it
        # AUDIO_OUTPUT_SYNCHRONOUS; espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self._library.espeak_Initialize(2, 0, data, 0x0003)
        self._library.espeak_SetSynthCallback(self._callback)
        if self._library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")

    def speak(self, text: str, words_per_minute: int, pitch: int):
        """`(audio float32, sample_rate, alignment, scored)`: one `PhonemeTiming` per IPA
        character (an event's span shared equally by its characters) and, per character,
        whether its start is an event's (only those onsets are scored)."""
        self._chunks.clear()
        self._events.clear()
        self._library.espeak_SetParameter(self.RATE, words_per_minute, 0)
        self._library.espeak_SetParameter(self.PITCH, pitch, 0)
        encoded = text.encode()
        self._library.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, 0, None, None)
        self._library.espeak_Synchronize()
        audio = np.concatenate(self._chunks).astype(np.float32) / 32768.0
        alignment, scored = [], []
        for (name, sample), (_, next_sample) in zip(self._events[:-1], self._events[1:]):
            chars = [c for c in name if is_sound(c)]
            start, end = sample / self.sample_rate, next_sample / self.sample_rate
            bounds = np.linspace(start, end, len(chars) + 1)
            for k, char in enumerate(chars):
                alignment.append(PhonemeTiming(char, float(bounds[k]), float(bounds[k + 1])))
                scored.append(k == 0)
        return audio, self.sample_rate, alignment, scored


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-sentences", type=int, default=len(SENTENCES))
    parser.add_argument("--intensity", type=float, default=0.8)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pipeline", default="tts-default")
    parser.add_argument("--voices", nargs="+", choices=("tts", "espeak"), default=["tts", "espeak"])
    parser.add_argument("--results", type=Path, default=None, help="markdown table to write")
    parser.add_argument("--json", type=Path, default=None, help="summary JSON to write")
    return parser.parse_args()


def letters(alignment, scored=None) -> list[tuple[str, float, bool]]:
    """(phoneme, onset, scored) of the speech sounds of an alignment (marks, spaces and pauses
    left out)."""
    scored = [True] * len(alignment) if scored is None else scored
    return [(t.phoneme, t.start, k) for t, k in zip(alignment, scored) if is_sound(t.phoneme)]


def is_sound(char: str) -> bool:
    """A speech sound: a letter, not a stress or length mark (modifier letters, Lm)."""
    return unicodedata.category(char) in ("Ll", "Lu", "Lo")


def onset_errors(truth, estimate, scored=None) -> list[float]:
    """|onset error| in seconds of the (scored) true phonemes matched by edit distance."""
    a, b = letters(truth, scored), letters(estimate)
    cost = np.zeros((len(a) + 1, len(b) + 1), dtype=np.int64)
    cost[:, 0], cost[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost[i, j] = min(
                cost[i - 1, j - 1] + (a[i - 1][0] != b[j - 1][0]),
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
            )
    errors, i, j = [], len(a), len(b)
    while i > 0 and j > 0:
        mismatch = a[i - 1][0] != b[j - 1][0]
        if cost[i, j] == cost[i - 1, j - 1] + mismatch:
            if not mismatch and a[i - 1][2]:
                errors.append(abs(a[i - 1][1] - b[j - 1][1]))
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return errors


def loudness_track(audio: np.ndarray, rate: int, times: np.ndarray, fps: float) -> np.ndarray:
    """The peer: jaw_open follows the RMS amplitude (one frame's window), normalised."""
    half = round(rate / fps / 2)
    centres = np.round(times * rate).astype(int)
    envelope = np.array(
        [np.sqrt(np.mean(audio[max(0, c - half) : c + half] ** 2) + 1e-12) for c in centres]
    )
    envelope = np.clip(envelope / np.percentile(envelope, 95), 0.0, 1.0)
    track = np.zeros((len(times), len(MOUTH_PARAMETERS)))
    track[:, JAW] = 0.9 * envelope  # the widest jaw of the viseme table (A)
    track[:, CLOSURE] = 1.0 - envelope
    return track


def closure_scores(truth_alignment, estimate: np.ndarray, times: np.ndarray) -> tuple:
    """(true bilabial segments, those where the estimate closes the lips, lip_closure > 0.5,
    within one frame of their centre; frames of speech with the lips closed in the estimate,
    those closed in the truth too)."""
    step = times[1] - times[0]
    hits = total = 0
    for viseme, start, end in viseme_segments(truth_alignment):
        if viseme != "PBM":
            continue
        total += 1
        near = np.abs(times - (start + end) / 2) <= step
        hits += bool(near.any() and estimate[near, CLOSURE].max() > 0.5)
    spoken = viseme_segments(truth_alignment)
    speaking = (times >= spoken[0][1]) & (times <= spoken[-1][2]) if spoken else times < 0
    truth_closed = mouth_track(truth_alignment, times)[:, CLOSURE] > 0.5
    closed = (estimate[:, CLOSURE] > 0.5) & speaking
    return hits, total, int(closed.sum()), int((closed & truth_closed).sum())


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def summarise(records: list[dict], name: str) -> dict:
    errors = np.concatenate([r[name]["onset_errors"] for r in records]) * 1000
    matched = sum(len(r[name]["onset_errors"]) for r in records)
    true_phonemes = sum(r["true_phonemes"] for r in records)  # scored ones
    truth = np.concatenate([r["truth_track"] for r in records])
    estimate = np.concatenate([r[name]["track"] for r in records])
    rmse = np.sqrt(np.mean((truth - estimate) ** 2, axis=0))
    hits = sum(r[name]["closures"][0] for r in records)
    closures = sum(r[name]["closures"][1] for r in records)
    summary = {
        "onset_mae_ms": float(errors.mean()) if errors.size else float("nan"),
        "onset_median_ms": float(np.median(errors)) if errors.size else float("nan"),
        "within_20ms": float(np.mean(errors <= 20)) if errors.size else float("nan"),
        "within_40ms": float(np.mean(errors <= 40)) if errors.size else float("nan"),
        "phonemes_matched": matched / true_phonemes,
        "rmse": {p: float(v) for p, v in zip(MOUTH_PARAMETERS, rmse)},
        "jaw_r": pearson(truth[:, JAW], estimate[:, JAW]),
        "jaw_r_per_sentence": float(
            np.mean([pearson(r["truth_track"][:, JAW], r[name]["track"][:, JAW]) for r in records])
        ),
        "closures_hit": hits / closures,
        "closed_frames_right": sum(r[name]["closures"][3] for r in records)
        / max(1, sum(r[name]["closures"][2] for r in records)),
    }
    if "seconds" in records[0][name]:
        cpu = sum(r[name]["seconds"] for r in records)
        summary["cpu_s_per_audio_s"] = cpu / sum(r["duration"] for r in records)
    return summary


def speech(args: argparse.Namespace, voice: str):
    """Yield `(text, style, audio, sample_rate, true alignment, scored)` per sentence."""
    sentences = SENTENCES[: args.num_sentences]
    if voice == "tts":
        tts = load_pipeline(args.pipeline)
        for index, (text, emotion) in enumerate(sentences):
            chunk = next(
                iter(
                    tts.stream(
                        text, emotion=emotion, intensity=args.intensity, generator=args.seed + index
                    )
                )
            )
            yield text, emotion, chunk.audio, chunk.sample_rate, chunk.alignment, None
    else:
        speaker = EspeakSpeaker()
        rng = np.random.default_rng(args.seed)
        for text, _ in sentences:
            rate, pitch = int(rng.integers(140, 221)), int(rng.integers(25, 76))
            audio, sample_rate, truth, scored = speaker.speak(text, rate, pitch)
            yield text, f"{rate} wpm", audio, sample_rate, truth, scored


def stress_to_the_vowel(alignment: list[PhonemeTiming]) -> list[PhonemeTiming]:
    """The span of each stress mark given to the sound after it (the mark kept, 0 s long).

    In the Piper voice's alignment a stress mark lasts 56 ms on average, and 83 % of its 10 ms
    frames are nearer (MFCC distance) to the vowel after it than to the sound before it
    (measured on this benchmark's sentences), so acoustically it is the vowel's onset."""
    moved = list(alignment)
    for index, timing in enumerate(moved[:-1]):
        following = moved[index + 1]
        if timing.phoneme in "ˈˌ" and is_sound(following.phoneme):
            moved[index] = PhonemeTiming(timing.phoneme, timing.start, timing.start)
            moved[index + 1] = PhonemeTiming(following.phoneme, timing.start, following.end)
    return moved


def align_with_words(audio, rate, words, **kwargs):
    """`align_audio` with Whisper's words given (Whisper runs once per sentence, and every
    variant gets the same words)."""
    with mock.patch.object(speech_eval, "transcribe_words", lambda *args, **kw: words):
        return align_audio(audio, rate, **kwargs)


def evaluate(args: argparse.Namespace, voice: str) -> list[dict]:
    records = []
    sentences = tqdm(speech(args, voice), total=min(args.num_sentences, len(SENTENCES)), desc=voice)
    for text, style, audio, rate, truth, scored in sentences:
        times = np.arange(0.0, len(audio) / rate, 1.0 / args.fps)
        record = {
            "text": text,
            "style": style,
            "duration": len(audio) / rate,
            "true_phonemes": sum(k for _, _, k in letters(truth, scored)),
            "truth_track": mouth_track(truth, times),
        }
        start = time.process_time()
        words = speech_eval.transcribe_words(audio, rate)
        whisper_seconds = time.process_time() - start
        record["wer"] = speech_eval.word_error_counts(text, " ".join(w for w, _, _ in words))

        variants = {
            "audio only": {},
            "with transcript": {"transcript": text},
            "words, Klatt durations": {"method": "words"},
            "words, equal split": {"method": "words", "durations": "equal"},
        }
        for name, kwargs in variants.items():
            start = time.process_time()
            alignment = align_with_words(audio, rate, words, **kwargs)
            seconds = time.process_time() - start + whisper_seconds
            track = mouth_track(alignment, times)
            record[name] = {
                "onset_errors": np.array(onset_errors(truth, alignment, scored)),
                "track": track,
                "closures": closure_scores(truth, track, times),
                "seconds": seconds,
            }
        with mock.patch.object(audio_timing, "_snap_to_speech", lambda spans, regions: spans):
            alignment = align_with_words(audio, rate, words, method="words")
            alignment = [t for t in alignment if t.phoneme != "."]
        track = mouth_track(alignment, times)
        record["words, no energy snapping"] = {
            "onset_errors": np.array(onset_errors(truth, alignment, scored)),
            "track": track,
            "closures": closure_scores(truth, track, times),
        }
        if voice == "espeak":
            # espeak's events start a stressed vowel where it sounds; emogen's convention (the
            # voice's alignment, `viseme_segments`) gives the stress mark's span to the sound
            # before it. Scored both ways.
            alignment = stress_to_the_vowel(align_with_words(audio, rate, words))
            track = mouth_track(alignment, times)
            record[STRESS_VARIANT] = {
                "onset_errors": np.array(onset_errors(truth, alignment, scored)),
                "track": track,
                "closures": closure_scores(truth, track, times),
            }
        track = loudness_track(audio, rate, times, args.fps)
        record["loudness envelope"] = {
            "onset_errors": np.array([]),
            "track": track,
            "closures": closure_scores(truth, track, times),
        }
        records.append(record)
    return records


STRESS_VARIANT = "audio only, stress marks to the vowel"
NAMES = [
    "audio only",
    "with transcript",
    "words, Klatt durations",
    "words, equal split",
    "words, no energy snapping",
    "loudness envelope",
]


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    # Load Whisper, espeak and the template voice before anything is timed.
    warm = PiperVoice().synthesize("Hello there.", seed=0)
    align_audio(warm.audio, warm.sample_rate)

    lines = [
        "# Visemes timed from the audio alone, against known phoneme timing",
        "",
        "Tables made by `OMP_NUM_THREADS=1 python benchmarks/talking_head/bench_viseme_timing.py "
        "--results benchmarks/talking_head/RESULTS_viseme_timing.md --json "
        "benchmarks/talking_head/results_viseme_timing.json` (the metrics: its docstring).",
        "",
    ]
    results = {}
    for voice in args.voices:
        records = evaluate(args, voice)
        names = [*NAMES[:1], STRESS_VARIANT, *NAMES[1:]] if voice == "espeak" else NAMES
        summaries = {name: summarise(records, name) for name in names}
        wer = sum((r["wer"] for r in records[1:]), records[0]["wer"]).wer
        by_style = {}
        for style in dict.fromkeys(r["style"] for r in records):
            subset = [r for r in records if r["style"] == style]
            by_style[style] = summarise(subset, "audio only") | {"sentences": len(subset)}
        lines += table(voice, summaries, by_style if voice == "tts" else {}, records, wer, args)
        results[voice] = {"summaries": summaries, "by_style": by_style, "wer": wer}
    print("\n".join(lines))
    if args.results is not None:
        args.results.write_text("\n".join(lines) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def fmt(value: float, spec: str = ".3f") -> str:
    return "-" if value != value else format(value, spec)


def table(voice, summaries, by_style, records, wer, args) -> list[str]:
    seconds = sum(r["duration"] for r in records)
    if voice == "tts":
        source = (
            f"emogen's TTS (`{args.pipeline}`) at intensity {args.intensity} in "
            f"{len({r['style'] for r in records})} emotions, seed {args.seed}"
        )
    else:
        source = (
            "espeak-ng's formant voice (en-us) at 140 to 220 words a minute and pitch 25 to 75, "
            f"drawn with seed {args.seed}; onsets scored at espeak's phoneme events"
        )
    lines = [
        f"## {'TTS' if voice == 'tts' else 'espeak-ng'}: {len(records)} sentences, {seconds:.1f} s",
        "",
        f"{source}. Mouth tracks at {args.fps:g} fps. Whisper tiny.en's word error rate: "
        f"{100 * wer:.1f} %.",
        "",
        "| method | onset MAE ms | median ms | <= 20 ms | <= 40 ms | phonemes matched | "
        "jaw r | jaw r per sentence | closures hit | closed right | CPU s / audio s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summaries.items():
        lines.append(
            f"| {name} | {fmt(s['onset_mae_ms'], '.1f')} | {fmt(s['onset_median_ms'], '.1f')} | "
            f"{fmt(100 * s['within_20ms'], '.0f')} % | {fmt(100 * s['within_40ms'], '.0f')} % | "
            f"{fmt(100 * s['phonemes_matched'], '.0f')} % | {fmt(s['jaw_r'])} | "
            f"{fmt(s['jaw_r_per_sentence'])} | {100 * s['closures_hit']:.0f} % | "
            f"{100 * s['closed_frames_right']:.0f} % | "
            f"{fmt(s.get('cpu_s_per_audio_s', float('nan')), '.2f')} |"
        )
    lines += [
        "",
        "Mouth-track RMSE per parameter (the known-timing track as truth):",
        "",
        "| method | " + " | ".join(MOUTH_PARAMETERS) + " |",
        "|---|" + "---|" * len(MOUTH_PARAMETERS),
    ]
    for name, s in summaries.items():
        lines.append(
            f"| {name} | " + " | ".join(fmt(s["rmse"][p]) for p in MOUTH_PARAMETERS) + " |"
        )
    if by_style:
        lines += [
            "",
            "Audio only, by emotion:",
            "",
            "| emotion | sentences | onset MAE ms | <= 40 ms | jaw r | jaw RMSE |",
            "|---|---|---|---|---|---|",
        ]
        for style, s in by_style.items():
            lines.append(
                f"| {style} | {s['sentences']} | {fmt(s['onset_mae_ms'], '.1f')} | "
                f"{fmt(100 * s['within_40ms'], '.0f')} % | {fmt(s['jaw_r'])} | "
                f"{fmt(s['rmse']['jaw_open'])} |"
            )
    return [*lines, ""]


if __name__ == "__main__":
    main()
