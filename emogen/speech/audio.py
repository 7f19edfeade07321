"""Audio input and output: the one place emogen reads, checks, resamples and writes waveforms.

`load_audio` takes what a user has (a path in wav, flac, ogg or mp3, a numpy array in any common
layout, or Gradio's `(sample_rate, array)` tuple) and returns float32 mono at the rate asked for,
or an `EmogenError` that says what is wrong with it. `save_audio` writes atomically, so a failure
never leaves a partial file behind.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from .._files import atomic_path
from ..errors import EmogenError

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "MAX_CHANNELS",
    "SILENCE_PEAK",
    "WRITABLE_FORMATS",
    "load_audio",
    "mask_runs",
    "resample",
    "rms_db",
    "save_audio",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_SECONDS = 600.0
MAX_CHANNELS = 8
# Peak amplitude under which audio counts as silent (-80 dBFS: below 16-bit dither noise).
SILENCE_PEAK = 1e-4
# Extension -> (libsndfile format, subtype). 16-bit PCM is what speech corpora and players expect.
WRITABLE_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}
_INT_SCALES = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}

AudioSource = str | os.PathLike | np.ndarray | tuple


def load_audio(
    path_or_array: AudioSource,
    sample_rate: int | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    *,
    source_sample_rate: int | None = None,
) -> tuple[np.ndarray, int]:
    """Read or take audio, check it, downmix it to mono and resample it.

    Args:
        path_or_array: one of
            - a path to an audio file (wav, flac, ogg/vorbis, mp3, or any other format
              libsndfile reads);
            - a numpy array, `(T,)` mono or `(T, C)` / `(C, T)` with C <= 8 channels, float in
              [-1, 1] or int16/int32 PCM; it is at `source_sample_rate`, or at `sample_rate`
              when `source_sample_rate` is not given;
            - a tuple `(sample_rate, array)` as Gradio's `gr.Audio(type="numpy")` gives, or
              `(array, sample_rate)`.
        sample_rate: rate in Hz to return; None keeps the source's rate.
        max_seconds: longest audio accepted, in seconds (checked before decoding a file);
            None for no limit.
        source_sample_rate: the rate of an array `path_or_array` (ignored for files and tuples,
            which carry their own).

    Returns:
        `(audio, sample_rate)`: `(T,)` float32 C-contiguous mono waveform (a new array, never a
            view of the input) and its rate in Hz.

    Raises:
        EmogenError: missing or unreadable file, unknown layout, empty, silent (peak below 1e-4)
            or non-finite audio, audio longer than `max_seconds`, bad sample rates.
    """
    if sample_rate is not None:
        sample_rate = _check_rate("sample_rate", sample_rate)
    if max_seconds is not None and not (
        isinstance(max_seconds, int | float)
        and not isinstance(max_seconds, bool)
        and max_seconds > 0
    ):
        raise EmogenError(f"max_seconds must be a number > 0 or None, got {max_seconds!r}")

    source = path_or_array
    if isinstance(source, tuple):
        audio, rate = _split_tuple(source)
        audio, name = _array_to_mono(audio), "the audio array"
    elif isinstance(source, np.ndarray):
        rate = source_sample_rate if source_sample_rate is not None else sample_rate
        if rate is None:
            raise EmogenError(
                "an audio array needs its sample rate: pass source_sample_rate= (or "
                "sample_rate= when it is already at that rate), or a (sample_rate, array) tuple"
            )
        rate = _check_rate("source_sample_rate", rate)
        audio, name = _array_to_mono(source), "the audio array"
    elif isinstance(source, str | os.PathLike):
        audio, rate = _read_file(Path(source), max_seconds)
        name = f"audio file {str(source)!r}"
    else:
        raise EmogenError(
            "audio must be a file path, a numpy array or a (sample_rate, array) tuple, got "
            f"{type(source).__name__}"
        )

    _check_content(audio, rate, name, max_seconds)
    if sample_rate is not None and sample_rate != rate:
        audio, rate = resample(audio, rate, sample_rate), sample_rate
    return np.array(audio, dtype=np.float32, order="C"), rate


def resample(audio: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """`(T,)` audio at `rate` -> float32 at `target_rate` (polyphase, scipy's Kaiser window)."""
    if rate == target_rate:
        return np.asarray(audio, dtype=np.float32)
    divisor = math.gcd(target_rate, rate)
    return resample_poly(audio, target_rate // divisor, rate // divisor).astype(np.float32)


def save_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write `audio` to `path` atomically, in the format its extension names.

    The samples go to a hidden temporary file in the same folder, which is then renamed over
    `path` (`os.replace`), so readers never see a partial file and a failure leaves none.

    Args:
        path: destination; extension .wav or .flac (16-bit PCM), .ogg (Vorbis) or .mp3.
            Its folder must exist.
        audio: `(T,)` mono or `(T, C)` float waveform in [-1, 1]. Samples beyond are clipped
            by the 16-bit encoders, with a warning.
        sample_rate: in Hz.

    Returns:
        The path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_FORMATS:
        raise EmogenError(
            f"cannot tell the audio format of {str(path)!r} from its extension "
            f"{suffix or '(none)'!r}; use one of {', '.join(WRITABLE_FORMATS)}"
        )
    file_format, subtype = WRITABLE_FORMATS[suffix]
    if file_format not in soundfile.available_formats():
        raise EmogenError(
            f"this libsndfile ({soundfile.__libsndfile_version__}) cannot write {suffix} files; "
            "save as .wav or .flac"
        )
    sample_rate = _check_rate("sample_rate", sample_rate)
    if not isinstance(audio, np.ndarray) or audio.ndim not in (1, 2):
        raise EmogenError(f"audio must be a numpy array (T,) or (T, C), got {_describe(audio)}")
    if audio.shape[0] == 0:
        raise EmogenError(f"refusing to write empty audio to {str(path)!r}")
    if not np.issubdtype(audio.dtype, np.floating):
        raise EmogenError(f"audio must be a float array in [-1, 1], got dtype {audio.dtype}")
    if not np.isfinite(audio).all():
        raise EmogenError(f"refusing to write {str(path)!r}: audio has NaN or infinite samples")
    if not path.parent.is_dir():
        raise EmogenError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0:
        logger.warning("audio peak %.3f > 1.0 is clipped when writing %s", peak, path)

    try:
        with atomic_path(path) as temporary:
            soundfile.write(temporary, audio, sample_rate, format=file_format, subtype=subtype)
    except soundfile.LibsndfileError as error:
        raise EmogenError(
            f"could not write {str(path)!r} as {file_format}/{subtype} at {sample_rate} Hz: "
            f"{error.error_string}"
        ) from error
    except OSError as error:
        raise EmogenError(f"cannot write {str(path)!r}: {error.strerror or error}") from error
    return path


def rms_db(audio: np.ndarray, floor_db: float = -120.0) -> float:
    """Root-mean-square level of `audio` in dB relative to full scale (1.0), at least `floor_db`."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.size == 0:
        return floor_db
    power = float(np.mean(np.square(audio)))
    return max(floor_db, 10.0 * math.log10(power)) if power > 0 else floor_db


def mask_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """`[(start, stop), ...]` index runs (stop exclusive) where a 1-D bool mask is True."""
    edges = np.diff(np.concatenate(([0], np.asarray(mask).astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _read_file(path: Path, max_seconds: float | None) -> tuple[np.ndarray, int]:
    if not path.exists():
        raise EmogenError(f"audio file not found: {str(path)!r}")
    if path.is_dir():
        raise EmogenError(f"expected an audio file, got the folder {str(path)!r}")
    try:
        duration = soundfile.info(path).duration
        if max_seconds is None or duration <= max_seconds:
            audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        problem = error.error_string
        if path.stat().st_size == 0:
            problem = "the file is empty (0 bytes)"
        raise EmogenError(
            f"cannot read audio file {str(path)!r}: {problem}; readable formats: wav, flac, "
            "ogg (vorbis, opus), mp3, aiff and the others libsndfile knows"
        ) from error
    if max_seconds is not None and duration > max_seconds:
        raise EmogenError(_too_long(f"audio file {str(path)!r}", duration, max_seconds))
    # (T, C) -> (T,): the mean keeps the level of correlated channels.
    return audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0], int(rate)


def _split_tuple(source: tuple) -> tuple[np.ndarray, int]:
    if len(source) == 2:
        first, second = source
        if isinstance(second, np.ndarray) and not isinstance(first, np.ndarray):
            first, second = second, first
        if isinstance(first, np.ndarray):
            return first, _check_rate("the tuple's sample rate", second)
    raise EmogenError(
        "an audio tuple must be (sample_rate, array) as Gradio gives, or (array, sample_rate); "
        f"got a tuple of {len(source)} items"
    )


def _array_to_mono(audio: np.ndarray) -> np.ndarray:
    if audio.dtype in _INT_SCALES:
        audio = audio.astype(np.float32) / np.float32(_INT_SCALES[audio.dtype])
    elif audio.dtype == np.uint8:
        audio = (audio.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(audio.dtype, np.floating):
        audio = audio.astype(np.float32, copy=False)
    else:
        raise EmogenError(
            f"audio array dtype {audio.dtype} is not audio; use float (in [-1, 1]), int16 or int32"
        )
    if audio.ndim == 1:
        return audio
    if audio.ndim == 2:
        rows, columns = audio.shape
        # The channel axis is the short one: (T, C) as soundfile returns, or (C, T) as torch does.
        if columns <= MAX_CHANNELS and columns <= rows:
            return audio.mean(axis=1) if columns > 1 else audio[:, 0]
        if rows <= MAX_CHANNELS and rows < columns:
            return audio.mean(axis=0) if rows > 1 else audio[0]
    raise EmogenError(
        f"audio array of shape {audio.shape} is not mono (T,) or multichannel (T, C) / (C, T) "
        f"with at most {MAX_CHANNELS} channels"
    )


def _check_content(audio: np.ndarray, rate: int, name: str, max_seconds: float | None) -> None:
    if audio.shape[0] == 0:
        raise EmogenError(f"{name} is empty (0 samples)")
    finite = np.isfinite(audio)
    if not finite.all():
        bad = int(audio.shape[0] - np.count_nonzero(finite))
        raise EmogenError(f"{name} has {bad} non-finite samples (NaN or inf)")
    duration = audio.shape[0] / rate
    if max_seconds is not None and duration > max_seconds:
        raise EmogenError(_too_long(name, duration, max_seconds))
    peak = float(np.max(np.abs(audio)))
    if peak < SILENCE_PEAK:
        raise EmogenError(
            f"the audio is silent: {name} peaks at {peak:.2e}, below {SILENCE_PEAK:g} (-80 dBFS)"
        )


def _too_long(name: str, duration: float, max_seconds: float) -> str:
    return (
        f"{name} is {duration:.1f} s long, over the limit of {max_seconds:g} s; pass a larger "
        "max_seconds (or max_seconds=None for no limit) to accept it"
    )


def _check_rate(name: str, rate: object) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer):
        raise EmogenError(f"{name} must be an integer number of Hz, got {rate!r}")
    if not 1000 <= int(rate) <= 768_000:
        raise EmogenError(f"{name} must be between 1000 and 768000 Hz, got {rate}")
    return int(rate)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__
