"""Speech corpora as JSONL manifests, and preparers for the emotional corpora users may have.

A manifest has one utterance per line, a JSON object with the fields

    id          unique name of the utterance (other lines refer to it by `pair`)
    audio       path of the audio file, relative to the manifest's folder
    text        what is said
    speaker     who says it
    emotion     `Emotion.to_dict()` (or any `Emotion.parse` string), or null when unlabelled
    curve       optional: an `EmotionCurve.to_dict()` when the emotion changes inside the
                utterance (the `emotion` is then usually null)
    pair        optional: the id of the parallel NEUTRAL utterance (same text and speaker),
                the source side of a voice-conversion pair
    duration_s  length of the audio in seconds (read from the file when left out)
    language    optional: language code of the text ("en", "zh")
    alignment   optional: `[[phoneme, start_s, end_s], ...]`, when each phoneme is spoken in this
                audio, in order (starts never before the previous end; gaps are silence), within
                `duration_s`; the duration targets of a duration predictor (see
                `emogen.speech.frames.phoneme_frame_durations`)

for example

    {"id": "0011_000351", "audio": "0011/Angry/0011_000351.wav", "text": "...",
     "speaker": "0011", "emotion": {"category": "angry", ...}, "pair": "0011_000001",
     "duration_s": 2.71, "language": "en"}

`read_manifest` checks every line (valid JSON, the fields, known emotion labels, the audio file
there and readable, `pair` naming an utterance of the manifest) and reports all bad lines at
once with their line numbers. The preparers turn the layouts of ESD, RAVDESS and CREMA-D, and a
plain folder of wav + txt, into this format; they reference the corpus files where they are
(nothing is copied or resampled).

Example:
    >>> manifest = prepare_ravdess("RAVDESS", "data/ravdess.jsonl")
    >>> manifest = read_manifest("data/ravdess.jsonl")
    >>> [(emotional.id, neutral.id) for emotional, neutral in manifest.pairs()][:1]
    [('03-01-05-02-01-01-01', '03-01-01-01-01-01-01')]
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile

from .._files import atomic_path
from ..emotion import Emotion, EmotionCurve, as_emotion
from ..errors import EmogenError

__all__ = [
    "CREMA_D_EMOTIONS",
    "CREMA_D_LEVELS",
    "CREMA_D_SENTENCES",
    "ESD_EMOTIONS",
    "MANIFEST_FIELDS",
    "RAVDESS_EMOTIONS",
    "RAVDESS_INTENSITIES",
    "RAVDESS_STATEMENTS",
    "Manifest",
    "ManifestError",
    "ManifestProblem",
    "Utterance",
    "audio_duration",
    "prepare_crema_d",
    "prepare_esd",
    "prepare_folder",
    "prepare_ravdess",
    "read_manifest",
    "write_manifest",
]

logger = logging.getLogger(__name__)

MANIFEST_FIELDS = (
    "id",
    "audio",
    "text",
    "speaker",
    "emotion",
    "curve",
    "pair",
    "duration_s",
    "language",
    "alignment",
)
_REQUIRED = ("id", "audio", "text", "speaker", "emotion")

# ESD (Zhou et al. 2021, "Seen and unseen emotional style transfer for voice conversion with a new
# emotional speech dataset", ICASSP; github.com/HLTSingapore/Emotional-Speech-Data): speakers
# 0001-0010 Mandarin, 0011-0020 English; each has a folder per emotion (wavs directly inside, or
# in train/evaluation/test) and `<speaker>.txt` with lines `id<TAB>text<TAB>emotion`. The 350
# sentences are the same in every emotion (a parallel corpus); no intensity levels.
ESD_EMOTIONS = {
    "Angry": "angry",
    "Happy": "happy",
    "Neutral": "neutral",
    "Sad": "sad",
    "Surprise": "surprised",
}

# RAVDESS (Livingstone & Russo 2018, PLoS ONE 13(5): e0196391): `Actor_XX/MM-VV-EE-II-SS-RR-AA.wav`
# with modality MM (03 = audio-only), vocal channel VV (01 speech, 02 song), emotion EE,
# intensity II, statement SS, repetition RR and actor AA (odd male, even female).
RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "afraid",  # "fearful"
    "07": "disgusted",
    "08": "surprised",
}
# "normal" and "strong" (no strong neutral). The corpus gives no scale between them; we read
# strong as the full emotion and normal as half of it (override with `intensities=`).
RAVDESS_INTENSITIES = {"01": 0.5, "02": 1.0}
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}

# CREMA-D (Cao et al. 2014, IEEE Trans. Affective Computing 5(4); github.com/
# CheyneyComputerScience/CREMA-D): `AudioWAV/<actor 1001-1091>_<sentence>_<emotion>_<level>.wav`,
# 12 sentences, 6 emotions, levels LO/MD/HI and XX (unspecified).
CREMA_D_SENTENCES = {
    "IEO": "It's eleven o'clock.",
    "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.",
    "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.",
    "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.",
    "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.",
    "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.",
    "WSI": "We'll stop in a couple of minutes.",
}
CREMA_D_EMOTIONS = {
    "ANG": "angry",
    "DIS": "disgusted",
    "FEA": "afraid",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
# The corpus's raters saw the levels as 20 (low), 50 (medium) and 80 (high) ("dispLevel" in its
# README); we scale them so that high is 1. Unspecified (XX, 11 of the 12 sentences) counts as
# medium: the actors were given the emotion without a level.
CREMA_D_LEVELS = {"LO": 20 / 80, "MD": 50 / 80, "HI": 1.0, "XX": 50 / 80}

_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_CREMA_D_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
_TEXT_ENCODINGS = ("utf-8-sig", "gb18030")


class ManifestError(EmogenError):
    """A manifest with bad lines; `problems` lists them, each with its line number."""

    def __init__(self, message: str, problems: Sequence[ManifestProblem] = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class ManifestProblem:
    """One bad manifest line: its number (1-based) and what is wrong with it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Utterance:
    """One line of a manifest (see the module docstring for the fields)."""

    id: str
    audio: str
    text: str
    speaker: str
    emotion: Emotion | None
    duration_s: float
    curve: EmotionCurve | None = None
    pair: str | None = None
    language: str | None = None
    alignment: tuple[tuple[str, float, float], ...] | None = None

    @classmethod
    def from_json(
        cls,
        data: Mapping[str, Any],
        root: str | os.PathLike | None = None,
        check_audio: bool = False,
    ) -> Utterance:
        """Parse and check one manifest line's dict (EmogenError says what is wrong).

        Args:
            data: the line's JSON object.
            root: the manifest's folder; needed to check the audio, or to read `duration_s`
                from it when the line has none.
            check_audio: check that the audio file exists and its header reads.
        """
        return _utterance_from_json(data, None if root is None else Path(root), check_audio)

    def to_json(self) -> dict[str, Any]:
        """The manifest line as a JSON-ready dict (optional fields only when set)."""
        data: dict[str, Any] = {
            "id": self.id,
            "audio": self.audio,
            "text": self.text,
            "speaker": self.speaker,
            "emotion": None if self.emotion is None else self.emotion.to_dict(),
        }
        if self.curve is not None:
            data["curve"] = self.curve.to_dict()
        if self.pair is not None:
            data["pair"] = self.pair
        data["duration_s"] = round(float(self.duration_s), 4)
        if self.language is not None:
            data["language"] = self.language
        if self.alignment is not None:
            data["alignment"] = [
                [phoneme, round(float(start), 4), round(float(end), 4)]
                for phoneme, start, end in self.alignment
            ]
        return data


@dataclass
class Manifest:
    """The utterances of a manifest file, with the folder their audio paths are relative to.

    Attributes:
        root: the manifest's folder.
        utterances: the good lines, in file order.
        problems: the bad lines left out (only with `read_manifest(..., skip_bad=True)`).
    """

    root: Path
    utterances: list[Utterance]
    problems: list[ManifestProblem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def __getitem__(self, index: int) -> Utterance:
        return self.utterances[index]

    def audio_path(self, utterance: Utterance) -> Path:
        """Where the audio of `utterance` lies."""
        return self.root / utterance.audio

    def by_id(self) -> dict[str, Utterance]:
        return {utterance.id: utterance for utterance in self.utterances}

    def pairs(self) -> list[tuple[Utterance, Utterance]]:
        """`(emotional, neutral)` voice-conversion pairs: each utterance with a `pair`, and the
        utterance it names (pairs whose neutral side was left out are dropped)."""
        index = self.by_id()
        return [
            (u, index[u.pair]) for u in self.utterances if u.pair is not None and u.pair in index
        ]

    @property
    def duration_s(self) -> float:
        """Total audio in seconds."""
        return float(sum(u.duration_s for u in self.utterances))


# ---------------------------------------------------------------------- reading and writing


def read_manifest(
    path: str | os.PathLike, skip_bad: bool = False, check_audio: bool = True
) -> Manifest:
    """Read and check a JSONL manifest.

    Every line is checked: valid JSON object, the required fields (id, audio, text, speaker,
    emotion) with the right types, a known emotion label (or curve), a unique id, a `pair` that
    names another utterance of the manifest, and (with `check_audio`) an audio file that exists
    and whose header libsndfile reads. Blank lines are ignored.

    Args:
        path: the manifest file.
        skip_bad: leave bad lines out (listed in `Manifest.problems`, and logged) instead of
            raising.
        check_audio: open each audio file's header (its samples are not decoded).

    Returns:
        The `Manifest`.

    Raises:
        ManifestError: a missing or unreadable manifest, one without a single utterance, or (unless
            `skip_bad`) any bad line; the message lists every bad line with its number.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest not found: {str(path)!r}")
    root = path.parent
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read manifest {str(path)!r}: {error}") from None

    problems: list[ManifestProblem] = []
    parsed: list[tuple[int, Utterance]] = []
    first_line: dict[str, int] = {}  # id -> first line naming it, bad lines included
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        line_id = _peek_id(line)
        if line_id is not None:
            first_line.setdefault(line_id, number)
        try:
            utterance = _parse_line(line, root, check_audio)
        except EmogenError as error:
            problems.append(ManifestProblem(number, str(error)))
            continue
        if first_line[utterance.id] != number:
            problems.append(
                ManifestProblem(
                    number, f"id {utterance.id!r} repeats line {first_line[utterance.id]}"
                )
            )
            continue
        parsed.append((number, utterance))

    utterances = []
    for number, utterance in parsed:
        if utterance.pair is not None and utterance.pair not in first_line:
            problems.append(
                ManifestProblem(number, f"pair {utterance.pair!r} is not an id of this manifest")
            )
        else:
            utterances.append(utterance)
    # With skip_bad, an utterance whose neutral side was left out keeps no pair.
    kept = {u.id for u in utterances}
    utterances = [
        u if u.pair is None or u.pair in kept else dataclasses.replace(u, pair=None)
        for u in utterances
    ]
    problems.sort(key=lambda problem: problem.line)

    if problems:
        report = _report(path, problems, len([line for line in lines if line.strip()]))
        if not skip_bad:
            raise ManifestError(
                report + "\nFix these lines, or pass skip_bad=True (--skip-bad) to leave them out.",
                problems,
            )
        logger.warning("%s\nThese lines are left out (skip_bad).", report)
    if not utterances:
        raise ManifestError(f"manifest {str(path)!r} has no usable utterance", problems)
    return Manifest(root, utterances, problems)


def write_manifest(path: str | os.PathLike, utterances: Iterable[Utterance]) -> Path:
    """Write utterances as a JSONL manifest, atomically (a temporary file renamed over `path`).

    Audio paths are written as they are: relative to `path`'s folder.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise EmogenError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    text = "".join(json.dumps(u.to_json(), ensure_ascii=False) + "\n" for u in utterances)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return path


def _peek_id(line: str) -> str | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _parse_line(line: str, root: Path, check_audio: bool) -> Utterance:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise EmogenError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    return Utterance.from_json(data, root, check_audio)


def _utterance_from_json(data: Any, root: Path | None, check_audio: bool) -> Utterance:
    if not isinstance(data, Mapping):
        raise EmogenError(f"expected a JSON object, got {type(data).__name__}")
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise EmogenError(f"missing field(s) {missing}; a line needs {list(_REQUIRED)}")
    unknown = sorted(set(data) - set(MANIFEST_FIELDS))
    if unknown:
        raise EmogenError(f"unknown field(s) {unknown}; allowed: {list(MANIFEST_FIELDS)}")
    for name in ("id", "audio", "text", "speaker"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise EmogenError(f"{name!r} must be a non-empty string, got {data[name]!r}")
    for name in ("pair", "language"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise EmogenError(f"{name!r} must be a string or null, got {data[name]!r}")

    emotion = None
    if data["emotion"] is not None:
        if not isinstance(data["emotion"], dict | str):
            raise EmogenError(
                f"'emotion' must be an Emotion.to_dict() object, an emotion string or null, got "
                f"{data['emotion']!r}"
            )
        try:
            emotion = as_emotion(data["emotion"])
        except EmogenError as error:
            raise EmogenError(f"bad emotion: {error}") from None
    curve = None
    if data.get("curve") is not None:
        try:
            curve = EmotionCurve.from_dict(data["curve"])
        except EmogenError as error:
            raise EmogenError(f"bad curve: {error}") from None
    if data.get("pair") == data["id"]:
        raise EmogenError(f"utterance {data['id']!r} is its own pair")

    duration = data.get("duration_s")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float) or not duration > 0
    ):
        raise EmogenError(f"'duration_s' must be a number > 0, got {duration!r}")
    if root is None and duration is None:
        raise EmogenError("'duration_s' is missing (and no folder was given to read the audio)")
    if root is not None and (check_audio or duration is None):
        header_duration = audio_duration(root / data["audio"], data["audio"])
        duration = duration if duration is not None else header_duration
    alignment = None
    if data.get("alignment") is not None:
        alignment = _check_alignment(data["alignment"], float(duration))
    return Utterance(
        id=data["id"],
        audio=data["audio"],
        text=data["text"],
        speaker=data["speaker"],
        emotion=emotion,
        duration_s=float(duration),
        curve=curve,
        pair=data.get("pair"),
        language=data.get("language"),
        alignment=alignment,
    )


def _check_alignment(value: Any, duration: float) -> tuple[tuple[str, float, float], ...]:
    """The `alignment` field as a tuple of `(phoneme, start_s, end_s)`; EmogenError if it is not
    a list of such triples in order within the audio."""
    if not isinstance(value, list) or not value:
        raise EmogenError(
            f"'alignment' must be a non-empty list of [phoneme, start_s, end_s], got {value!r:.80}"
        )
    alignment = []
    previous_end = 0.0
    for index, entry in enumerate(value):
        where = f"alignment[{index}]"
        if not isinstance(entry, list | tuple) or len(entry) != 3:
            raise EmogenError(f"{where} must be [phoneme, start_s, end_s], got {entry!r}")
        phoneme, start, end = entry
        if not isinstance(phoneme, str) or not phoneme:
            raise EmogenError(f"{where}: the phoneme must be a non-empty string, got {phoneme!r}")
        for number in (start, end):
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise EmogenError(f"{where}: times must be numbers in seconds, got {entry!r}")
        if not previous_end <= start <= end:
            raise EmogenError(
                f"{where} {entry!r} is out of order: need previous end ({previous_end:g} s) "
                "<= start <= end"
            )
        if end > duration:
            raise EmogenError(f"{where} {entry!r} ends after the audio ({duration:g} s)")
        alignment.append((phoneme, float(start), float(end)))
        previous_end = end
    return tuple(alignment)


def audio_duration(path: Path, shown: str | None = None) -> float:
    """Duration in seconds from the file's header (no samples decoded); EmogenError if it is
    missing, unreadable or empty. `shown`: how messages name the file (default its path)."""
    shown = str(path) if shown is None else shown
    if not path.is_file():
        raise EmogenError(f"audio file {shown!r} not found (looked for {str(path)!r})")
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        problem = getattr(error, "error_string", str(error))
        raise EmogenError(f"unreadable audio {shown!r}: {problem}") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise EmogenError(f"audio file {shown!r} is empty (0 samples)")
    return info.frames / info.samplerate


def _report(path: Path, problems: Sequence[ManifestProblem], num_lines: int) -> str:
    lines = {problem.line for problem in problems}
    head = f"{str(path)!r}: {len(lines)} of {num_lines} lines are bad:"
    return "\n".join([head, *(f"  {problem}" for problem in problems)])


# ---------------------------------------------------------------------- preparers


def prepare_esd(
    root: str | os.PathLike,
    manifest: str | os.PathLike,
    speakers: Sequence[str] | None = None,
) -> Manifest:
    """Write the manifest of an ESD copy (Zhou et al. 2021; layout in `ESD_EMOTIONS`' comment).

    Every emotional utterance is paired with the neutral one of the same speaker and text.
    Speakers 0001-0010 get `language="zh"`, 0011-0020 `"en"`.

    Args:
        root: the folder holding the speaker folders 0001...0020 (searched up to two levels
            down, as archives nest it in "Emotion Speech Dataset/").
        manifest: the manifest file to write (its folder must exist).
        speakers: only these speaker folders (e.g. the English ones, `["0011", ..., "0020"]`).

    Returns:
        The `Manifest` written.
    """
    root, manifest = _check_root(root, "ESD"), Path(manifest)
    speaker_dirs = sorted(
        {p.parent for p in root.glob("**/[0-9][0-9][0-9][0-9]/*.txt") if p.stem == p.parent.name}
    )
    if speakers is not None:
        speaker_dirs = [d for d in speaker_dirs if d.name in set(speakers)]
    if not speaker_dirs:
        raise EmogenError(
            f"no ESD speaker folder in {str(root)!r}: expected folders like 0011/ holding "
            "0011.txt and Angry/ Happy/ Neutral/ Sad/ Surprise/"
        )
    utterances, skipped = [], []
    for speaker_dir in speaker_dirs:
        speaker = speaker_dir.name
        texts = _read_esd_texts(speaker_dir / f"{speaker}.txt")
        language = "zh" if int(speaker) <= 10 else "en"
        found = []
        for folder, category in ESD_EMOTIONS.items():
            for wav in sorted((speaker_dir / folder).glob("**/*.wav")):
                if wav.stem not in texts:
                    skipped.append(f"{wav}: no line for {wav.stem!r} in {speaker}.txt")
                    continue
                found.append((wav, category))
        neutral_by_text = {texts[w.stem]: w.stem for w, c in found if c == "neutral"}
        for wav, category in found:
            text = texts[wav.stem]
            pair = None if category == "neutral" else neutral_by_text.get(text)
            utterance = _utterance(
                wav, manifest, wav.stem, text, speaker, Emotion.from_category(category), skipped
            )
            if utterance is not None:
                utterances.append(dataclasses.replace(utterance, pair=pair, language=language))
    return _finish(manifest, utterances, skipped, "ESD")


def prepare_ravdess(
    root: str | os.PathLike,
    manifest: str | os.PathLike,
    intensities: Mapping[str, float] | None = None,
    include_song: bool = False,
) -> Manifest:
    """Write the manifest of a RAVDESS copy (Livingstone & Russo 2018; naming in
    `RAVDESS_EMOTIONS`' comment).

    Only audio-only files (modality 03, `.wav`) are read. Each emotional utterance is paired
    with the neutral one of the same actor, statement and repetition.

    Args:
        root: the folder holding Actor_01 ... Actor_24 (searched recursively).
        manifest: the manifest file to write.
        intensities: emotion intensity per intensity code (default `RAVDESS_INTENSITIES`:
            normal 0.5, strong 1.0).
        include_song: also take the sung files (vocal channel 02); they are not speech.

    Returns:
        The `Manifest` written.
    """
    root, manifest = _check_root(root, "RAVDESS"), Path(manifest)
    levels = dict(RAVDESS_INTENSITIES if intensities is None else intensities)
    utterances, skipped, keys = [], [], {}
    for wav in sorted(root.glob("**/*.wav")):
        match = _RAVDESS_NAME.match(wav.stem)
        if not match:
            skipped.append(f"{wav}: not a RAVDESS name MM-VV-EE-II-SS-RR-AA")
            continue
        modality, channel, code, level, statement, repetition, actor = match.groups()
        if modality != "03" or channel not in (("01", "02") if include_song else ("01",)):
            continue
        if (
            code not in RAVDESS_EMOTIONS
            or level not in levels
            or statement not in RAVDESS_STATEMENTS
        ):
            skipped.append(f"{wav}: unknown emotion, intensity or statement code")
            continue
        category = RAVDESS_EMOTIONS[code]
        emotion = Emotion.from_category(category, intensity=1.0 if code == "01" else levels[level])
        text = RAVDESS_STATEMENTS[statement]
        utterance = _utterance(wav, manifest, wav.stem, text, f"ravdess_{actor}", emotion, skipped)
        if utterance is not None:
            utterances.append(dataclasses.replace(utterance, language="en"))
            keys[wav.stem] = ((channel, statement, repetition, actor), code == "01")
    return _finish(manifest, _pair_with_neutral(utterances, keys), skipped, "RAVDESS")


def prepare_crema_d(
    root: str | os.PathLike,
    manifest: str | os.PathLike,
    levels: Mapping[str, float] | None = None,
) -> Manifest:
    """Write the manifest of a CREMA-D copy (Cao et al. 2014; naming in `CREMA_D_EMOTIONS`'
    comment).

    Each emotional utterance is paired with the neutral one of the same actor and sentence.

    Args:
        root: the CREMA-D folder (its AudioWAV/ is used when present) or AudioWAV itself.
        manifest: the manifest file to write.
        levels: emotion intensity per level code (default `CREMA_D_LEVELS`).

    Returns:
        The `Manifest` written.
    """
    root, manifest = _check_root(root, "CREMA-D"), Path(manifest)
    folder = root / "AudioWAV" if (root / "AudioWAV").is_dir() else root
    levels = dict(CREMA_D_LEVELS if levels is None else levels)
    utterances, skipped, keys = [], [], {}
    for wav in sorted(folder.glob("*.wav")):
        match = _CREMA_D_NAME.match(wav.stem)
        if not match:
            skipped.append(f"{wav}: not a CREMA-D name ACTOR_SENTENCE_EMOTION_LEVEL")
            continue
        actor, sentence, code, level = match.groups()
        if sentence not in CREMA_D_SENTENCES or code not in CREMA_D_EMOTIONS or level not in levels:
            skipped.append(f"{wav}: unknown sentence, emotion or level code")
            continue
        category = CREMA_D_EMOTIONS[code]
        emotion = Emotion.from_category(category, intensity=1.0 if code == "NEU" else levels[level])
        text = CREMA_D_SENTENCES[sentence]
        utterance = _utterance(wav, manifest, wav.stem, text, f"crema_{actor}", emotion, skipped)
        if utterance is not None:
            utterances.append(dataclasses.replace(utterance, language="en"))
            keys[wav.stem] = ((actor, sentence), code == "NEU")
    return _finish(manifest, _pair_with_neutral(utterances, keys), skipped, "CREMA-D")


def _pair_with_neutral(
    utterances: list[Utterance], keys: Mapping[str, tuple[tuple, bool]]
) -> list[Utterance]:
    """Point each emotional utterance at the neutral one of its group.

    `keys`: utterance id -> (group, is neutral), the group naming what a parallel pair shares
    (speaker and sentence, and for RAVDESS also channel and repetition).
    """
    neutral = {group: name for name, (group, is_neutral) in keys.items() if is_neutral}
    return [
        u if keys[u.id][1] else dataclasses.replace(u, pair=neutral.get(keys[u.id][0]))
        for u in utterances
    ]


def prepare_folder(
    root: str | os.PathLike,
    manifest: str | os.PathLike,
    speaker: str | None = None,
    emotion: str | None = None,
    language: str | None = None,
) -> Manifest:
    """Write the manifest of a plain folder of recordings, for a custom voice.

    The folder holds audio files (wav, flac, ogg, mp3; subfolders are searched too) and, beside
    each, a same-name `.txt` with its text. An optional `metadata.csv` or `metadata.tsv` with a
    header row labels them: a `file` column (the audio name, with or without extension, relative
    to the folder), and any of `text` (used where there is no .txt), `emotion` (any string
    `Emotion.parse` reads: "angry", "happy:0.6", "0.7 sad + 0.3 afraid"; empty = unlabelled)
    and `speaker`.

    Args:
        root: the folder.
        manifest: the manifest file to write.
        speaker: speaker name (default: the folder's name).
        emotion: the emotion of the files that have none in the metadata (e.g. "neutral" for a
            voice recorded neutrally); None leaves them unlabelled.
        language: language code written on every line, or None.

    Returns:
        The `Manifest` written.

    Raises:
        EmogenError: metadata rows with unknown emotions or files (all listed with their line
            numbers), or a folder without a single usable recording.
    """
    root, manifest = _check_root(root, "the voice folder"), Path(manifest)
    speaker = speaker or root.name
    default = None if emotion is None else as_emotion(emotion)
    metadata = _read_metadata(root)
    audio_files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3") and not p.name.startswith(".")
    )
    utterances, skipped = [], []
    for path in audio_files:
        name = path.relative_to(root).with_suffix("").as_posix()
        row = metadata.get(name, {})
        text_file = path.with_suffix(".txt")
        text = _read_text(text_file).strip() if text_file.is_file() else row.get("text", "")
        if not text.strip():
            skipped.append(f"{path}: no text (no {text_file.name}, no text in the metadata)")
            continue
        label = row.get("emotion", default)
        utterance_id = name.replace("/", "_")
        utterance = _utterance(
            path,
            manifest,
            utterance_id,
            " ".join(text.split()),
            row.get("speaker") or speaker,
            label,
            skipped,
        )
        if utterance is not None:
            utterances.append(dataclasses.replace(utterance, language=language))
    return _finish(manifest, utterances, skipped, "the voice folder")


def _read_metadata(root: Path) -> dict[str, dict[str, Any]]:
    """`metadata.csv`/`.tsv` rows by file name (no extension), emotions parsed; all bad rows
    raise together."""
    found = [
        (root / name, delimiter)
        for name, delimiter in (("metadata.csv", ","), ("metadata.tsv", "\t"))
        if (root / name).is_file()
    ]
    if not found:
        return {}
    path, delimiter = found[0]
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        if "file" not in columns:
            raise EmogenError(
                f"{str(path)!r} needs a header row with a 'file' column (and any of 'text', "
                f"'emotion', 'speaker'); got columns {columns}"
            )
        rows, problems = {}, []
        for number, raw in enumerate(reader, start=2):
            row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            file_name = row.get("file", "")
            stem = Path(file_name).with_suffix("").as_posix() if file_name else ""
            if not stem:
                problems.append(f"line {number}: empty 'file'")
                continue
            entry: dict[str, Any] = {"text": row.get("text", ""), "speaker": row.get("speaker")}
            if row.get("emotion"):
                try:
                    entry["emotion"] = as_emotion(row["emotion"])
                except EmogenError as error:
                    problems.append(f"line {number}: {error}")
                    continue
            rows[stem] = entry
    missing = [
        stem
        for stem in rows
        if not any(
            (root / stem).with_suffix(s).is_file() for s in (".wav", ".flac", ".ogg", ".mp3")
        )
    ]
    problems += [f"file {stem!r} listed but not found" for stem in missing]
    if problems:
        raise EmogenError(f"{str(path)!r} has bad rows:\n  " + "\n  ".join(problems))
    return rows


def _read_esd_texts(path: Path) -> dict[str, str]:
    """ESD `<speaker>.txt`: `id<TAB>text<TAB>emotion` per line (the Mandarin files are not all
    UTF-8, and a few lines separate fields by spaces, so the first and last tokens are taken as
    id and emotion)."""
    texts = {}
    for line in _read_text(path).splitlines():
        fields = [f for f in line.strip().split("\t") if f.strip()]
        if len(fields) < 3:
            tokens = line.split()
            if len(tokens) < 3:
                continue
            fields = [tokens[0], " ".join(tokens[1:-1]), tokens[-1]]
        texts[fields[0].strip()] = " ".join(" ".join(fields[1:-1]).split())
    return texts


def _read_text(path: Path) -> str:
    """Text of a transcript file: UTF-8, UTF-16 with a byte-order mark, or GB 18030 (a superset of
    the GBK some Mandarin corpora use)."""
    data = path.read_bytes()
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else _TEXT_ENCODINGS
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise EmogenError(f"cannot decode {str(path)!r} as {', '.join(encodings)}")


def _check_root(root: str | os.PathLike, corpus: str) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise EmogenError(f"{corpus} folder not found: {str(root)!r}")
    return root


def _utterance(
    path: Path,
    manifest: Path,
    utterance_id: str,
    text: str,
    speaker: str,
    emotion: Emotion | None,
    skipped: list[str],
) -> Utterance | None:
    """An utterance of `path` relative to the manifest's folder, or None (noted) if unreadable."""
    try:
        duration = audio_duration(path, str(path))
    except EmogenError as error:
        skipped.append(str(error))
        return None
    relative = os.path.relpath(path.resolve(), manifest.parent.resolve())
    return Utterance(
        id=utterance_id,
        audio=Path(relative).as_posix(),
        text=text,
        speaker=speaker,
        emotion=emotion,
        duration_s=duration,
    )


def _finish(
    manifest: Path, utterances: list[Utterance], skipped: list[str], corpus: str
) -> Manifest:
    if skipped:
        shown = "\n  ".join(skipped[:20])
        more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        logger.warning("%s: %d file(s) left out:\n  %s%s", corpus, len(skipped), shown, more)
    if not utterances:
        raise EmogenError(f"found no usable {corpus} recording; left out: {skipped[:5]}")
    write_manifest(manifest, utterances)
    logger.info("%s: wrote %d utterances to %s", corpus, len(utterances), manifest)
    return Manifest(manifest.parent, utterances)
