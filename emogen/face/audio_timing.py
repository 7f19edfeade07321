"""Visemes timed from the audio alone, for speech whose phoneme timing is not known.

When the talking head speaks emogen's own TTS, the voice gives each phoneme's start and end
(`SpeechChunk.alignment`). Any other audio is aligned here, offline:

1. Words from Whisper (`emogen.eval.speech.transcribe_words`: tiny.en, with word timestamps
   from dynamic time warping of its cross-attention). A transcript, when given, replaces the
   recognised words, which lend it their times (`align_audio` says how they are matched).
2. Stretches of speech from the energy envelope (`speech_regions`): pauses between them are rest
   segments, so the mouth closes in silences, and each stretch's words are those Whisper places
   in it.
3. Phonemes timed in each stretch, by default by alignment by synthesis (Malfrère & Dutoit
   1997; the method of the aeneas aligner): emogen's voice speaks the stretch's words, its
   phoneme timing is known, and dynamic time warping of MFCCs maps that timing onto the audio.
   The voice's phonemes are espeak-ng's IPA, the characters of the viseme table. The fallback
   (`method="words"`, and stretches over `MAX_WARP_S`) shares each word's Whisper span, snapped
   to the stretch's edges, among its phonemes by their inherent durations (Klatt 1979).

`mouth_track_from_audio` turns that alignment into mouth parameters, as for known timing.
Accuracy against known timing, on emogen's TTS and on espeak-ng's formant voice:
benchmarks/talking_head/RESULTS_viseme_timing.md.
"""

from __future__ import annotations

import functools
import itertools
import logging
import unicodedata
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..errors import EmogenError
from ..speech.audio import load_audio, mask_runs
from ..speech.voice import PhonemeTiming, espeak_ipa
from .visemes import mouth_track

__all__ = [
    "ACTIVITY_RANGE_DB",
    "align_audio",
    "align_phonemes",
    "mouth_track_from_audio",
    "pause_weights",
    "rest_in_pauses",
    "speech_regions",
    "time_map",
]

logger = logging.getLogger(__name__)

ANALYSIS_RATE = 16000
FRAME_S = 0.010  # energy envelope hop
WINDOW_S = 0.025
# A frame is speech when its level is within this many dB of the loud frames (the 99th
# percentile), and at least NOISE_MARGIN_DB above the quiet ones (the 5th percentile).
ACTIVITY_RANGE_DB = 35.0
NOISE_MARGIN_DB = 6.0
# Quieter stretches shorter than this are inside speech (stop closures last 50-130 ms; Klatt
# 1979's inherent durations of p, t, k), longer ones are pauses where the mouth rests.
MIN_PAUSE_S = 0.15
MAX_WARP_S = 20.0  # longer stretches of unbroken speech are timed by words (DTW memory)
MIN_SPEECH_S = 0.04  # shorter bursts (clicks) are not speech
SILENT_PEAK = 1e-4  # as emogen.speech.audio: below it, nothing is said

# Inherent segment durations in ms, Klatt 1979 ("Synthesis by rule of segmental durations in
# English sentences"), as tabulated for MITalk (Allen, Hunnicutt & Klatt 1987), keyed by the
# IPA espeak-ng writes for en-us. Diphthongs are two characters there (eɪ aɪ aʊ oʊ ɔɪ) and
# share their diphthong's duration below.
_INHERENT_MS = {
    # vowels
    "i": 155, "ɪ": 135, "e": 150, "ɛ": 150, "æ": 230, "ɑ": 240, "ɔ": 240, "o": 220, "ʊ": 160,
    "u": 210, "ʌ": 140, "ə": 120, "ɐ": 120, "ɚ": 180, "ɜ": 180, "ᵻ": 110, "a": 240, "ɒ": 240,
    # consonants
    "p": 90, "b": 85, "t": 75, "d": 75, "k": 80, "ɡ": 80, "g": 80, "f": 100, "v": 60, "θ": 90,
    "ð": 50, "s": 105, "z": 75, "ʃ": 105, "ʒ": 70, "ʧ": 70, "ʤ": 70, "h": 80, "m": 70, "n": 60,
    "ŋ": 95, "l": 80, "ɫ": 80, "ɹ": 80, "r": 80, "w": 80, "j": 80, "ɾ": 20, "ʔ": 30, "x": 80,
}  # fmt: skip
_DIPHTHONG_MS = {"eɪ": 190, "aɪ": 250, "aʊ": 260, "oʊ": 220, "ɔɪ": 280}
_DIPHTHONG_ONSET_SHARE = 0.6
_DEFAULT_MS = 80
# Klatt 1979 shortens the vowels of unstressed syllables (to about half of their inherent
# duration above a minimum); 0.7 of the whole is emogen's simplification of that rule.
_UNSTRESSED_SHARE = 0.7
_VOWELS = set("iɪeɛæɑɔoʊuʌəɐɚɜᵻaɒy")
_STRESS = set("ˈˌ")
_LENGTH = "ː"


def align_audio(
    audio: np.ndarray,
    sample_rate: int,
    transcript: str | None = None,
    *,
    method: Literal["synthesis", "words"] = "synthesis",
    durations: Literal["klatt", "equal"] = "klatt",
) -> list[PhonemeTiming]:
    """When each phoneme of English speech is spoken, from the audio (and its words, if known).

    The speech must be English (Whisper tiny.en, the en-us voice).

    Args:
        audio: `(T,)` mono (or `(T, C)`, downmixed) float waveform in [-1, 1], or int PCM.
        sample_rate: its rate in Hz (any rate `emogen.speech.audio.load_audio` accepts).
        transcript: what is said, if known. Whisper still gives the word times: the transcript's
            words (normalised as for the word error rate) are aligned to the recognised words by
            minimum edit distance; a matched or substituted word takes its recognised word's
            span, and a run of transcript words Whisper missed shares the time between its
            neighbours with them (or the speech before the first / after the last recognised
            word). The phonemes are always the transcript's. Recognised words the transcript
            lacks are dropped. None: the recognised words are used.
        method: "synthesis" to warp a synthetic rendition of the words onto the audio (the more
            accurate: see the benchmark), "words" to share each word's span among its phonemes.
        durations: for "words" (and stretches of speech longer than `MAX_WARP_S`), how a
            word's span is shared: "klatt" by inherent durations (Klatt 1979), "equal" in equal
            parts.

    Returns:
        `PhonemeTiming`s in time order, one IPA character each (the viseme table's), and "."
        for each pause; seconds from the start of `audio`. Empty when the audio is silent (peak
        below 1e-4) or no word is found, so the mouth stays at rest.

    Raises:
        EmogenError: empty, non-finite or malformed audio, a bad sample rate, a transcript that
            is not a string, an unknown `method` or `durations`.

    Example:
        >>> chunk = next(iter(load_pipeline("tts-default").stream("Maybe we should buy bread.")))
        >>> align_audio(chunk.audio, chunk.sample_rate)[:3]
        [PhonemeTiming(phoneme='m', start=0.05, end=0.13), ...]
    """
    # 1. Check the inputs; silence is no speech.
    from ..eval.speech import normalize_text, transcribe_words

    if method not in ("synthesis", "words"):
        raise EmogenError(f"method must be 'synthesis' or 'words', got {method!r}")
    if durations not in ("klatt", "equal"):
        raise EmogenError(f"durations must be 'klatt' or 'equal', got {durations!r}")
    if transcript is not None and not isinstance(transcript, str):
        raise EmogenError(f"transcript must be a string or None, got {type(transcript).__name__}")
    waveform = _check_audio(audio, sample_rate)
    if waveform is None:
        return []

    # 2. Words with their times, and the stretches of speech in the energy envelope.
    recognised = transcribe_words(waveform, ANALYSIS_RATE)
    regions = speech_regions(waveform, ANALYSIS_RATE)
    if transcript is None:
        words = [
            (token, start, end)
            for word, start, end in recognised
            for token in [" ".join(normalize_text(word))]
            if token
        ]
    else:
        words = _match_transcript(normalize_text(transcript), recognised, regions)
    if not words or not regions:
        logger.warning(
            "no words found in %.2f s of audio: the mouth stays at rest", _seconds(waveform)
        )
        return []

    spans = _snap_to_speech([(start, end) for _, start, end in words], regions)
    region_of = [_region_index(span, regions) for span in spans]

    # 3. Phonemes timed in each stretch of speech: by a synthetic rendition warped onto it, or
    #    by sharing each word's span among its phonemes.
    alignment = []
    for region, (onset, offset) in enumerate(regions):
        inside = [index for index, r in enumerate(region_of) if r == region]
        if not inside:  # a noise or a word Whisper did not catch: the mouth rests
            continue
        region_words = [words[index][0] for index in inside]
        if method == "synthesis" and offset - onset <= MAX_WARP_S:
            alignment.extend(_synthesis_alignment(waveform, region_words, onset, offset))
            continue
        if method == "synthesis":
            logger.info("%.1f s of speech without a pause: timed by words", offset - onset)
        for index, phonemes in zip(inside, _word_phonemes(region_words)):
            alignment.extend(_spread(phonemes, *spans[index], durations))

    # 4. Pauses rest.
    for (_, pause_start), (pause_end, _) in itertools.pairwise(regions):
        alignment.append(PhonemeTiming(".", pause_start, pause_end))
    return sorted(alignment, key=lambda timing: timing.start)  # stable: ties keep their order


def mouth_track_from_audio(
    audio: np.ndarray,
    sample_rate: int,
    times: np.ndarray,
    transcript: str | None = None,
) -> np.ndarray:
    """`(T, len(MOUTH_PARAMETERS))` mouth parameters at `times` (seconds), from speech audio.

    `align_audio` (Whisper's words, emogen's voice warped onto the audio, pauses from the energy
    envelope) and then `emogen.face.visemes.mouth_track`, as for known phoneme timing. Silent
    audio gives the mouth at rest throughout. About 0.3-0.45 s of CPU per second of audio on one
    thread, plus ~2 s to load Whisper and the voice on first use.

    Args:
        audio: `(T,)` waveform, as for `align_audio`.
        sample_rate: its rate in Hz.
        times: `(T,)` seconds at which to sample the mouth (e.g. video frames).
        transcript: what is said, if known (see `align_audio`).

    Example:
        >>> times = np.arange(0, len(audio) / rate, 1 / 25)
        >>> mouth = mouth_track_from_audio(audio, rate, times)  # (len(times), 5)
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or not np.isfinite(times).all():
        raise EmogenError(f"times must be a 1-D array of finite seconds, got shape {times.shape}")
    return mouth_track(align_audio(audio, sample_rate, transcript), times)


def speech_regions(waveform: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """`(start_s, end_s)` stretches of speech in `(T,)` audio, by its energy envelope.

    A 10 ms frame is speech when its RMS level is within `ACTIVITY_RANGE_DB` of the 99th
    percentile and `NOISE_MARGIN_DB` above the 5th; gaps shorter than `MIN_PAUSE_S` are
    bridged and bursts shorter than `MIN_SPEECH_S` dropped.
    """
    level = _frame_level_db(waveform, sample_rate)
    if level.size == 0:
        return []
    loud, quiet = np.percentile(level, 99), np.percentile(level, 5)
    active = level > max(loud - ACTIVITY_RANGE_DB, quiet + NOISE_MARGIN_DB)
    regions = mask_runs(active)
    merged: list[list[int]] = []
    for start, end in regions:
        if merged and (start - merged[-1][1]) * FRAME_S < MIN_PAUSE_S:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [
        (start * FRAME_S, end * FRAME_S)
        for start, end in merged
        if (end - start) * FRAME_S >= MIN_SPEECH_S
    ]


def pause_weights(audio: np.ndarray, sample_rate: int, times: np.ndarray) -> np.ndarray:
    """`(T,)` in [0, 1]: how far each time lies inside a pause of the audio (`speech_regions`,
    pauses of at least `MIN_PAUSE_S`), with 40 ms ramps at its edges; 1 throughout silence.
    For mouth tracks that do not know where the speech stops (a learned model's)."""
    times = np.asarray(times, dtype=np.float64)
    waveform = _check_audio(audio, sample_rate)
    if waveform is None:
        return np.ones(len(times))
    regions = speech_regions(waveform, ANALYSIS_RATE)
    edges = [-np.inf, *[t for region in regions for t in region], np.inf]
    weights = np.zeros(len(times))
    ramp = 0.04
    for start, end in zip(edges[::2], edges[1::2]):
        if end - start < MIN_PAUSE_S:
            continue
        inside = np.minimum(times - start, end - times)  # distance into the pause
        weights = np.maximum(weights, np.clip(inside / ramp, 0.0, 1.0))
    return weights


def rest_in_pauses(
    alignment: Sequence[PhonemeTiming], audio: np.ndarray, sample_rate: int
) -> list[PhonemeTiming]:
    """A known alignment with the audio's pauses made rest: phoneme spans are cut where they
    run into a pause of the energy envelope (`speech_regions`: a synthesiser's last phoneme of
    a sentence often spans its trailing silence), and each pause becomes a rest segment ("."),
    so the mouth closes wherever nothing is heard."""
    waveform = _check_audio(audio, sample_rate)
    if waveform is None:  # silent: rest throughout
        return [PhonemeTiming(".", 0.0, len(np.asarray(audio)) / sample_rate)]
    regions = speech_regions(waveform, ANALYSIS_RATE)
    duration = _seconds(waveform)
    edges = [0.0, *[t for region in regions for t in region], duration]
    pauses = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= MIN_PAUSE_S]
    kept = []
    for timing in alignment:
        start, end = timing.start, timing.end
        for pause_start, pause_end in pauses:
            if start >= pause_start and end <= pause_end:
                start = end  # wholly inside a pause
            elif start < pause_start < end:
                end = pause_start
            elif start < pause_end < end:
                start = pause_end
        if end > start or timing.end == timing.start:
            kept.append(PhonemeTiming(timing.phoneme, start, max(start, end)))
    kept += [PhonemeTiming(".", a, b) for a, b in pauses]
    return sorted(kept, key=lambda timing: (timing.start, timing.end))


# ---------------------------------------------------------------------------- helpers


def _check_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """`(T,)` float32 audio at `ANALYSIS_RATE`, or None when it is silent."""
    if not isinstance(audio, np.ndarray):
        raise EmogenError(f"audio must be a numpy array (T,), got {type(audio).__name__}")
    if audio.size == 0:
        raise EmogenError("audio is empty: give at least one sample of speech")
    if audio.ndim not in (1, 2):
        raise EmogenError(f"audio must be (T,) mono or (T, C), got shape {audio.shape}")
    if np.issubdtype(audio.dtype, np.floating) and not np.isfinite(audio).all():
        raise EmogenError("audio has NaN or infinite samples")
    peak = np.abs(audio).max() / (np.iinfo(audio.dtype).max if audio.dtype.kind == "i" else 1)
    if peak < SILENT_PEAK:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise EmogenError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
        return None
    waveform, _ = load_audio(audio, ANALYSIS_RATE, max_seconds=None, source_sample_rate=sample_rate)
    return waveform


def _seconds(waveform: np.ndarray) -> float:
    return len(waveform) / ANALYSIS_RATE


def _frame_level_db(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """`(frames,)` RMS level in dB of `WINDOW_S` windows every `FRAME_S`, centred."""
    hop, window = round(FRAME_S * sample_rate), round(WINDOW_S * sample_rate)
    num_frames = int(np.ceil(len(waveform) / hop))
    padded = np.pad(waveform.astype(np.float64), (window // 2, window))
    frames = np.lib.stride_tricks.sliding_window_view(padded, window)[::hop][:num_frames]
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def _match_transcript(
    reference: list[str],
    recognised: Sequence[tuple[str, float, float]],
    regions: Sequence[tuple[float, float]],
) -> list[tuple[str, float, float]]:
    """The transcript's words with the times of the recognised words they align to."""
    from ..eval.speech import normalize_text

    hypothesis = [(" ".join(normalize_text(w)), s, e) for w, s, e in recognised]
    hypothesis = [(w, s, e) for w, s, e in hypothesis if w]
    if not reference:
        return []
    # Levenshtein alignment (unit costs); matches and substitutions carry the time over.
    rows, columns = len(reference) + 1, len(hypothesis) + 1
    cost = np.zeros((rows, columns), dtype=np.int64)
    cost[:, 0], cost[0, :] = np.arange(rows), np.arange(columns)
    for i in range(1, rows):
        for j in range(1, columns):
            cost[i, j] = min(
                cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1][0]),
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
            )
    times: list[tuple[float, float] | None] = [None] * len(reference)
    i, j = rows - 1, columns - 1
    while i > 0 and j > 0:
        if cost[i, j] == cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1][0]):
            times[i - 1] = hypothesis[j - 1][1:]
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    # Runs of missed words share the time between their neighbours, with them.
    speech_start, speech_end = regions[0][0], regions[-1][1]
    index = 0
    while index < len(reference):
        if times[index] is not None:
            index += 1
            continue
        run_end = index
        while run_end < len(reference) and times[run_end] is None:
            run_end += 1
        first = index - 1 if index > 0 else index  # include the timed neighbours
        last = run_end if run_end < len(reference) else run_end - 1
        start = times[first][0] if times[first] is not None else speech_start
        end = times[last][1] if times[last] is not None else speech_end
        shared = range(first, last + 1)
        weights = np.array([len(reference[k]) for k in shared], dtype=np.float64)
        bounds = start + (end - start) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
        for k, word_start, word_end in zip(shared, bounds[:-1], bounds[1:]):
            times[k] = (float(word_start), float(word_end))
        index = run_end
    return [(word, *span) for word, span in zip(reference, times)]


def _word_phonemes(words: Sequence[str]) -> list[str]:
    """IPA of each word (NFD, stress marks kept), phonemised in context.

    espeak-ng joins some words ("of the" -> "ʌvðə"); a " - " between words keeps them apart
    without changing their reduced forms. Should the count still differ, each word is
    phonemised alone.
    """
    joined = _phonemize(" - ".join(words)).split()
    if len(joined) == len(words):
        return joined
    return ["".join(_phonemize(word).split()) for word in words]


@functools.lru_cache(maxsize=4096)
def _phonemize(text: str) -> str:
    """espeak-ng IPA of `text` with the template voice's espeak voice (as the voices do)."""
    language = _template_voice().espeak_voice
    return espeak_ipa(text, language).replace("-", " ")


def _snap_to_speech(
    spans: Sequence[tuple[float, float]], regions: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Word spans moved onto the stretches of speech: each region's first word starts at its
    onset and its last word ends at its offset; spans are clamped into their region."""
    region_of = [_region_index(span, regions) for span in spans]
    spans = [list(span) for span in spans]
    for index, ((start, end), region) in enumerate(zip(spans, region_of)):
        onset, offset = regions[region]
        first = index == 0 or region_of[index - 1] != region
        last = index == len(spans) - 1 or region_of[index + 1] != region
        start = onset if first else min(max(start, onset), offset)
        end = offset if last else min(max(end, onset), offset)
        if index > 0 and not first:
            start = max(start, spans[index - 1][1])
        spans[index] = [start, max(start, end)]
    return [(float(start), float(end)) for start, end in spans]


def _is_sound(char: str) -> bool:
    """A speech sound: a letter, not a stress or length mark (modifier letters) or diacritic."""
    return unicodedata.category(char) in ("Ll", "Lu", "Lo")


def _region_index(span: tuple[float, float], regions: Sequence[tuple[float, float]]) -> int:
    """The stretch of speech a word's span overlaps most (the nearest if none)."""
    start, end = span
    overlap = [min(end, b) - max(start, a) for a, b in regions]
    best = int(np.argmax(overlap))
    if overlap[best] <= 0:
        best = int(np.argmin([min(abs(start - b), abs(end - a)) for a, b in regions]))
    return best


def _spread(
    phonemes: str, start: float, end: float, durations: Literal["klatt", "equal"] = "klatt"
) -> list[PhonemeTiming]:
    """The word's phoneme characters sharing `[start, end]`, by inherent duration."""
    units: list[tuple[str, float]] = []
    # espeak-ng writes a stress mark before its syllable's nucleus; a consonant after a vowel
    # ends the syllable.
    stressed = after_vowel = False
    for index, char in enumerate(phonemes):
        if char in _STRESS:
            stressed = True
            continue
        if not _is_sound(char):
            continue  # a length mark or diacritic: part of the phoneme before it
        is_vowel = char in _VOWELS
        if after_vowel and not is_vowel:
            stressed = False
        after_vowel = is_vowel
        weight = float(_INHERENT_MS.get(char, _DEFAULT_MS))
        if phonemes[index : index + 2] in _DIPHTHONG_MS:
            weight = _DIPHTHONG_MS[phonemes[index : index + 2]] * _DIPHTHONG_ONSET_SHARE
        elif index > 0 and phonemes[index - 1 : index + 1] in _DIPHTHONG_MS:
            weight = _DIPHTHONG_MS[phonemes[index - 1 : index + 1]] * (1 - _DIPHTHONG_ONSET_SHARE)
        if is_vowel and not stressed:
            weight *= _UNSTRESSED_SHARE
        units.append((char, 1.0 if durations == "equal" else weight))
    if not units:
        return []
    weights = np.array([weight for _, weight in units])
    bounds = start + (end - start) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
    return [
        PhonemeTiming(char, float(a), float(b))
        for (char, _), a, b in zip(units, bounds[:-1], bounds[1:])
    ]


# ---------------------------------------------------------------------- alignment by synthesis


@functools.lru_cache(maxsize=1)
def _template_voice():
    """emogen's bundled voice, loaded once: the template speaker and the phonemizer."""
    from ..speech.voice import PiperVoice

    return PiperVoice()


def _synthesis_alignment(
    waveform: np.ndarray, words: Sequence[str], onset: float, offset: float
) -> list[PhonemeTiming]:
    """Phonemes of `words` timed on `waveform[onset:offset]` (seconds) by warping a synthetic
    rendition onto it: Malfrère & Dutoit 1997 ("High-quality speech synthesis for phonetic speech
    segmentation"), the method of the aeneas aligner. emogen's voice speaks the words with its
    mean durations (no duration noise); MFCCs of both, each less its mean over the utterance
    (cepstral mean normalisation, which removes much of a speaker's and channel's colour), are
    matched by dynamic time warping, and each phoneme's start and end on the template map
    through the warping path. Stress and length marks are kept where the voice puts them, so
    `viseme_segments` reads them as for the voice's own alignment."""
    voice = _template_voice()
    template = voice.synthesize(" ".join(words), noise_w=0.0, seed=0)
    if not template.alignment:
        raise EmogenError(f"{voice.model_path.name} gives no phoneme timing to align with")
    return [
        t
        for t in _warp_template(
            waveform, template.audio, template.sample_rate, template.alignment, onset, offset
        )
        if _is_sound(t.phoneme) or t.phoneme in _STRESS or t.phoneme == _LENGTH
    ]


def align_phonemes(audio: np.ndarray, sample_rate: int, text: str) -> list[PhonemeTiming]:
    """Every phoneme character of `text` as emogen's voice phonemizes it sentence by sentence
    (`PiperVoice.phonemize` of each `split_sentences` part, joined: what a corpus manifest's
    `alignment` holds), timed on `audio` by warping the voice's rendition of those sentences
    over the span from the first to the last stretch of speech (`_synthesis_alignment`'s
    method, for the codec LM's phoneme pointer on a custom voice's recordings).

    Raises:
        EmogenError: silent or malformed audio, an empty text, more than `MAX_WARP_S` of speech.
    """
    from ..emotion.text import split_sentences

    waveform = _check_audio(audio, sample_rate)
    sentences = split_sentences(text) if isinstance(text, str) else []
    if waveform is None or not sentences:
        raise EmogenError("nothing to align: silent audio or an empty text")
    regions = speech_regions(waveform, ANALYSIS_RATE)
    if not regions:
        raise EmogenError("nothing to align: no stretch of speech in the audio")
    onset, offset = regions[0][0], regions[-1][1]
    if offset - onset > MAX_WARP_S:
        raise EmogenError(f"{offset - onset:.1f} s of speech: at most {MAX_WARP_S:g} s align")
    voice = _template_voice()
    pieces, alignment, shift = [], [], 0.0
    for sentence in sentences:
        rendition = voice.synthesize(sentence, noise_w=0.0, seed=0)
        if not rendition.alignment:
            raise EmogenError(f"{voice.model_path.name} gives no phoneme timing to align with")
        pieces.append(rendition.audio)
        alignment += [PhonemeTiming(t.phoneme, t.start + shift, t.end + shift)
                      for t in rendition.alignment]  # fmt: skip
        shift += len(rendition.audio) / rendition.sample_rate
    return _warp_template(
        waveform, np.concatenate(pieces), voice.sample_rate, alignment, onset, offset
    )


def _warp_template(
    waveform: np.ndarray,
    template: np.ndarray,
    rate: int,
    alignment: Sequence[PhonemeTiming],
    onset: float,
    offset: float,
) -> list[PhonemeTiming]:
    """`alignment` (of the `template` audio at `rate`) mapped onto `waveform[onset:offset]`
    (seconds, at `ANALYSIS_RATE`) by DTW of their MFCCs (see `_synthesis_alignment`)."""
    spoken = [t for t in alignment if _is_sound(t.phoneme)]
    if not spoken:
        raise EmogenError("the text has no phoneme to align")
    template_start, template_end = spoken[0].start, spoken[-1].end
    template_audio = load_audio(
        template[round(template_start * rate) : round(template_end * rate)],
        ANALYSIS_RATE,
        max_seconds=None,
        source_sample_rate=rate,
    )[0]
    segment = waveform[round(onset * ANALYSIS_RATE) : round(offset * ANALYSIS_RATE)]
    path = _dtw_path(_mfcc(template_audio), _mfcc(segment))  # (template frame, segment frame)
    # Each template frame -> the mean segment frame matched to it.
    counts = np.bincount(path[:, 0])
    mean_frame = np.bincount(path[:, 0], weights=path[:, 1]) / np.maximum(counts, 1)
    template_frames = np.arange(len(mean_frame)) * FRAME_S

    def warp(t: float) -> float:
        frame = np.interp(t - template_start, template_frames, mean_frame)
        return float(np.clip(onset + frame * FRAME_S, onset, offset))

    return [PhonemeTiming(t.phoneme, warp(t.start), warp(t.end)) for t in alignment]


def time_map(
    template: np.ndarray, segment: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where each moment of `segment` falls in `template`, two recordings of the same words
    (in any voices, both at `sample_rate`): DTW of their MFCCs, as `align_phonemes` maps a
    rendition's phoneme timing onto a recording.

    Returns:
        `(segment_times, template_times)` in seconds, `FRAME_S` apart (for `np.interp`): the
        mean template time matched to each segment frame.
    """
    features = [
        _mfcc(load_audio(x, ANALYSIS_RATE, max_seconds=None, source_sample_rate=sample_rate)[0])
        for x in (template, segment)
    ]
    path = _dtw_path(*features)  # (template frame, segment frame)
    counts = np.bincount(path[:, 1])
    mean_frame = np.bincount(path[:, 1], weights=path[:, 0]) / np.maximum(counts, 1)
    return np.arange(len(mean_frame)) * FRAME_S, mean_frame * FRAME_S


def _mfcc(waveform: np.ndarray, num_coefficients: int = 13) -> np.ndarray:
    """`(frames, 2 * num_coefficients)` MFCCs c0.. and their deltas at `FRAME_S`, less their
    mean over the utterance (cepstral mean normalisation). Tuned on sentences apart from the
    benchmark's, spoken by espeak-ng against emogen's voice: mean normalisation alone aligned
    better than mean and variance (onset error 28 against 35 ms), c0 (loudness) helped a little,
    and 20 coefficients did worse than 13."""
    from scipy.fft import dct

    from ..eval.speech import mel_filters  # 40 Slaney bands, 512-point FFT at 16 kHz

    hop, window, n_fft = round(FRAME_S * ANALYSIS_RATE), round(WINDOW_S * ANALYSIS_RATE), 512
    emphasised = np.append(waveform[:1], waveform[1:] - 0.97 * waveform[:-1]).astype(np.float64)
    num_frames = max(1, int(np.ceil(len(emphasised) / hop)))
    padded = np.pad(emphasised, (window // 2, window))
    frames = np.lib.stride_tricks.sliding_window_view(padded, window)[::hop][:num_frames]
    power = np.abs(np.fft.rfft(frames * np.hamming(window), n_fft, axis=1)) ** 2
    log_mel = np.log(power @ mel_filters().T.astype(np.float64) + 1e-10)
    cepstra = dct(log_mel, type=2, norm="ortho", axis=1)[:, :num_coefficients]
    deltas = np.gradient(cepstra, axis=0) if len(cepstra) > 1 else np.zeros_like(cepstra)
    features = np.concatenate([cepstra, deltas], axis=1)
    return features - features.mean(0)


def _dtw_path(template: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """`(L, 2)` index pairs of the minimum-cost monotonic path from (0, 0) to the last frames
    of both (steps right, down and diagonal), by Euclidean distance."""
    cost = np.sqrt(
        np.maximum(
            (template**2).sum(1)[:, None] + (segment**2).sum(1)[None] - 2 * template @ segment.T,
            0.0,
        )
    )
    rows, columns = cost.shape
    total = np.empty_like(cost)
    total[0] = np.cumsum(cost[0])
    for i in range(1, rows):
        # total[i, j] = cost[i, j] + min(total[i-1, j], total[i-1, j-1], total[i, j-1]); the
        # run along the row is a running minimum over prefix sums.
        above = total[i - 1].copy()
        above[1:] = np.minimum(above[1:], total[i - 1, :-1])
        entry = cost[i] + above
        prefix = np.cumsum(cost[i])
        total[i] = prefix + np.minimum.accumulate(entry - prefix)
    path = [(rows - 1, columns - 1)]
    i, j = rows - 1, columns - 1
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            moves = (total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])
            step = int(np.argmin(moves))
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        path.append((i, j))
    return np.array(path[::-1])
