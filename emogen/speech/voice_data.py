"""A folder of someone's recordings -> a checked training corpus for a custom voice.

`prepare_voice_data` reads every audio file of a folder (wav, flac, ogg, mp3), with the
transcript in a `.txt` file of the same name beside it when there is one, and decides per file
what can be trained on, saying why for everything it leaves out:

1. unreadable or empty files, silent ones, and ones with hardly any voiced frame (noise) are
   rejected;
2. Whisper (the bundled tiny.en, `emogen.eval.speech.transcribe_words`) listens to each file:
   no recognised word means no speech (music, noise, another language) and the file is
   rejected;
3. a given transcript must match what Whisper heard: an empty transcript, or a word error rate
   above `max_transcript_wer`, rejects the file (a transcript of another file, a truncated
   recording); a file without transcript takes Whisper's;
4. long files are cut at pauses (from the audio's energy) into segments of at most
   `max_segment_seconds` (a segment's words are Whisper's); segments under
   `min_segment_seconds` are dropped;
5. each segment's phonemes are timed on it (`emogen.face.audio_timing.align_phonemes`: the
   voice's rendition warped onto it), the alignment a codec LM with a phoneme pointer trains
   on (training/tts_codec_lm; `emogen voice finetune` adapts the codec instead and aligns
   renditions frame by frame itself); a segment that cannot be aligned is left out;
6. the segments are written at the voice's rate into `<out>/wavs/` with a manifest
   (`emogen.speech.corpus`, emotion neutral, with the alignment), and the report beside it.

If less than `min_total_seconds` of speech remains, `VoiceDataError` says so, with the report,
before anything is trained.

Example:
    >>> report = prepare_voice_data("my_recordings/", "checkpoints/anna/data", speaker="anna")
    >>> print(report.summary())
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..emotion import Emotion
from ..errors import EmogenError
from .audio import load_audio, save_audio
from .corpus import Utterance, write_manifest
from .world import WorldVocoder

__all__ = ["AUDIO_SUFFIXES", "VoiceDataError", "VoiceDataReport", "prepare_voice_data"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
REPORT_FILE = "report.json"
# silence kept before and after the speech of a segment cut from a long recording
EDGE_S = 0.15
# Speech is voiced a third to two thirds of the time; noise and most non-speech hardly ever
# (WORLD's F0 tracker, emogen.speech.world).
MIN_VOICED_SHARE = 0.15


class VoiceDataError(EmogenError):
    """The folder does not hold enough usable speech; `report` says what was rejected and why."""

    def __init__(self, message: str, report: VoiceDataReport):
        super().__init__(message)
        self.report = report


@dataclass
class VoiceDataReport:
    """What `prepare_voice_data` kept and left out.

    Attributes:
        segments: `(file, start_s, end_s, text)` of every kept segment.
        rejected: `(file, reason)` of every file (or segment) left out.
        seconds: speech kept in total.
        transcribed: files whose transcript came from Whisper.
        manifest: the written manifest (None when nothing was written).
    """

    segments: list[tuple[str, float, float, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    transcribed: list[str] = field(default_factory=list)
    manifest: str | None = None

    def summary(self) -> str:
        """A readable report: what was kept, and each rejection with its reason."""
        files = len({s[0] for s in self.segments})
        lines = [
            f"kept {len(self.segments)} segments from {files} files: {self.seconds / 60:.1f} "
            f"minutes of speech"
            + (
                f" ({len(self.transcribed)} files transcribed by Whisper)"
                if self.transcribed
                else ""
            )
        ]
        if self.rejected:
            lines.append(f"left out {len(self.rejected)}:")
            lines += [f"  {name}: {reason}" for name, reason in self.rejected]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "segments": [list(s) for s in self.segments],
            "rejected": [list(r) for r in self.rejected],
            "seconds": round(self.seconds, 2),
            "transcribed": self.transcribed,
            "manifest": self.manifest,
        }


def _segments(
    regions: list[tuple[float, float]],
    words: list[tuple[str, float, float]],
    duration: float,
    longest: float,
) -> list[tuple[float, float, str]]:
    """Cut a recording at pauses into pieces of at most `longest` seconds: stretches of speech
    (`regions`) are joined while they fit, a cut falls in the middle of the pause between two,
    and each word goes to the piece holding its middle. (Whisper's word times absorb the
    silence beside a word, so pauses come from the audio's energy, not from the words.) A
    stretch of speech longer than `longest` with no pause in it stays whole."""
    if duration <= longest or len(regions) < 2:
        return [(0.0, duration, " ".join(w for w, _, _ in words))]
    groups = [[regions[0]]]
    for region in regions[1:]:
        if region[1] - groups[-1][0][0] + 2 * EDGE_S <= longest:
            groups[-1].append(region)
        else:
            groups.append([region])
    # words go to the group before or after the middle of the pause between two groups
    middles = [(a[-1][1] + b[0][0]) / 2 for a, b in itertools.pairwise(groups)]
    pieces = []
    for index, group in enumerate(groups):
        low = middles[index - 1] if index else -np.inf
        high = middles[index] if index < len(middles) else np.inf
        inside = [w for w, a, b in words if low <= (a + b) / 2 < high]
        start, end = max(0.0, group[0][0] - EDGE_S), min(duration, group[-1][1] + EDGE_S)
        pieces.append((start, end, " ".join(inside)))
    return pieces


def prepare_voice_data(
    folder: str | os.PathLike,
    out: str | os.PathLike,
    speaker: str = "custom",
    sample_rate: int = 22050,
    min_total_seconds: float = 60.0,
    max_segment_seconds: float = 15.0,
    min_segment_seconds: float = 1.0,
    max_transcript_wer: float = 0.5,
    progress: bool = True,
) -> VoiceDataReport:
    """Check, transcribe and segment a folder of recordings into a training corpus.

    Args:
        folder: the recordings (wav, flac, ogg, mp3; a `.txt` transcript beside each, optional).
        out: where the segments, `manifest.jsonl` and `report.json` are written.
        speaker: the manifest's speaker name.
        sample_rate: the rate segments are written at (the voice's).
        min_total_seconds: less usable speech than this raises `VoiceDataError`.
        max_segment_seconds: longer recordings are cut at pauses.
        min_segment_seconds: shorter segments are left out.
        max_transcript_wer: a given transcript may differ from what Whisper hears by at most
            this word error rate.
        progress: show a progress bar.

    Returns:
        `VoiceDataReport` (also written to `<out>/report.json`).

    Raises:
        VoiceDataError: no audio file at all, or under `min_total_seconds` of usable speech.
    """
    from ..eval.speech import transcribe_words, word_error_rate
    from ..face.audio_timing import align_phonemes, speech_regions

    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise EmogenError(f"{folder} is not a folder of recordings")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    report = VoiceDataReport()
    if not files:
        found = sorted({p.suffix.lower() or p.name for p in folder.rglob("*") if p.is_file()})
        raise VoiceDataError(
            f"no audio in {folder}: expected {', '.join(AUDIO_SUFFIXES)} files"
            + (f" (found {', '.join(found)})" if found else " (the folder is empty)"),
            report,
        )
    kept: list[tuple[str, np.ndarray, str, tuple]] = []
    vocoder = WorldVocoder(window_f0_floor=65.0, aperiodicity_stride=4)
    for path in tqdm(files, desc="checking recordings", disable=not progress):
        name = str(path.relative_to(folder))
        try:
            audio, _ = load_audio(path, sample_rate=sample_rate, max_seconds=None)
        except EmogenError as error:
            report.rejected.append((name, f"unreadable or silent: {error}"))
            continue
        voiced = float(vocoder.analyze(audio, sample_rate).voiced.mean())
        if voiced < MIN_VOICED_SHARE:
            report.rejected.append(
                (name, f"no speech: {100 * voiced:.0f} % of its frames are voiced (noise?)")
            )
            continue
        words = transcribe_words(audio, sample_rate)
        if not words:
            report.rejected.append((name, "no speech recognised (noise, music or not English?)"))
            continue
        heard = " ".join(w for w, _, _ in words)
        transcript_path = path.with_suffix(".txt")
        if transcript_path.is_file():
            given = transcript_path.read_text(encoding="utf-8").strip()
            if not given:
                report.rejected.append((name, f"empty transcript {transcript_path.name}"))
                continue
            error_rate = word_error_rate(given, heard)
            if error_rate > max_transcript_wer:
                report.rejected.append(
                    (
                        name,
                        f"the transcript does not match the audio (word error rate "
                        f"{100 * error_rate:.0f} % against what Whisper heard: {heard[:60]!r})",
                    )
                )
                continue
        else:
            given = None
            report.transcribed.append(name)
        duration = len(audio) / sample_rate
        pieces = _segments(speech_regions(audio, sample_rate), words, duration, max_segment_seconds)
        if len(pieces) == 1 and given is not None:
            pieces = [(pieces[0][0], pieces[0][1], given)]
        for index, (start, end, text) in enumerate(pieces):
            if not text or end - start < min_segment_seconds:
                report.rejected.append(
                    (
                        f"{name} [{start:.1f}-{end:.1f} s]",
                        "no words" if not text else f"shorter than {min_segment_seconds} s",
                    )
                )
                continue
            segment = audio[int(start * sample_rate) : int(end * sample_rate)]
            try:  # the phoneme timing a codec LM with a phoneme pointer trains on
                timing = align_phonemes(segment, sample_rate, text)
            except EmogenError as error:
                report.rejected.append((f"{name} [{start:.1f}-{end:.1f} s]", f"unaligned: {error}"))
                continue
            alignment = tuple((t.phoneme, round(t.start, 4), round(t.end, 4)) for t in timing)
            kept.append((f"{path.stem}-{index:03d}", segment, text, alignment))
            report.segments.append((name, round(start, 2), round(end, 2), text))
            report.seconds += end - start

    out.mkdir(parents=True, exist_ok=True)
    if report.seconds < min_total_seconds:
        (out / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        raise VoiceDataError(
            f"{folder} has {report.seconds:.0f} s of usable speech; at least "
            f"{min_total_seconds:.0f} s are needed to fine-tune a voice.\n{report.summary()}",
            report,
        )
    (out / "wavs").mkdir(exist_ok=True)
    utterances = []
    neutral = Emotion.neutral()
    for identifier, segment, text, alignment in kept:
        relative = f"wavs/{identifier}.wav"
        save_audio(out / relative, segment, sample_rate)
        utterances.append(
            Utterance(
                id=identifier,
                audio=relative,
                text=text,
                speaker=speaker,
                emotion=neutral,
                duration_s=round(len(segment) / sample_rate, 4),
                language="en",
                alignment=alignment,
            )
        )
    report.manifest = str(write_manifest(out / "manifest.jsonl", utterances))
    (out / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report
