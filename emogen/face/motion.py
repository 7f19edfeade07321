"""The face's own motion while it speaks: blinks, gaze shifts and head motion, with amplitude and
rate driven by arousal, so a clip never shows a frozen face (and never a jittering one: every
track is smooth at the frame rate).

- Blinks: about 17 a minute at rest and 26 in conversation (Bentivoglio et al. 1997, "Analysis
  of blink rate patterns in normal subjects"); emogen speaks, so 20 a minute at neutral arousal,
  scaled by 1 + 0.5 x arousal. A blink closes in 80 ms, stays shut 30 ms and opens in 170 ms
  (the lid's fast fall and slower rise; Evinger et al. 1991, "Eyelid movements"), and blinks are
  at least 0.8 s apart.
- Gaze: fixations of 0.6-2.5 s joined by saccades of one frame, mostly back near the camera,
  more frequent with arousal.
- Head: slow rotation and drift (a sum of low-frequency sinusoids, under 1 Hz) plus nods that
  follow the speech's loudness, as head motion follows prosody (Graf et al. 2002, "Visual
  prosody: facial movements accompanying speech"; Busso et al. 2007, "Rigid head motion in
  expressive speech animation"); amplitudes grow with arousal.
"""

from __future__ import annotations

import numpy as np

from ..errors import EmogenError

__all__ = ["blink_track", "frame_loudness", "gaze_track", "head_track"]

BLINKS_PER_MINUTE = 20.0
_BLINK_CLOSE_S, _BLINK_HOLD_S, _BLINK_OPEN_S = 0.08, 0.03, 0.17
_BLINK_GAP_S = 0.8
# Head amplitudes at neutral arousal: roll, yaw, pitch (degrees) and shift (IPD).
_HEAD_DEGREES = np.array([1.2, 2.5, 1.5])
_HEAD_SHIFT = 0.02
_NOD_DEGREES = 2.5


def _check(times: np.ndarray, arousal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    times = np.asarray(times, dtype=np.float64)
    arousal = np.asarray(arousal, dtype=np.float64)
    if times.ndim != 1 or arousal.shape != times.shape:
        raise EmogenError(
            f"times and arousal must be 1-D and the same length, got {times.shape} and "
            f"{arousal.shape}"
        )
    if len(times) > 1 and not np.all(np.diff(times) > 0):
        raise EmogenError("times must increase")
    return times, np.clip(arousal, -1.0, 1.0)


def blink_track(times: np.ndarray, arousal: np.ndarray, seed: int = 0) -> np.ndarray:
    """`(T,)` eyelid closure in [0, 1] at each time (seconds); arousal in [-1, 1] per time."""
    times, arousal = _check(times, arousal)
    closure = np.zeros(len(times))
    if not len(times):
        return closure
    rng = np.random.default_rng(seed)
    t = times[0] + rng.uniform(0.3, 2.0)
    while t < times[-1]:
        # The shape of one blink: a fast close, a short hold, a slower opening.
        into = times - t
        closing = np.clip(into / _BLINK_CLOSE_S, 0, 1)
        opening = np.clip(1 - (into - _BLINK_CLOSE_S - _BLINK_HOLD_S) / _BLINK_OPEN_S, 0, 1)
        shape = np.where(into < _BLINK_CLOSE_S, closing, opening) * (into >= 0)
        closure = np.maximum(closure, shape)
        rate = BLINKS_PER_MINUTE / 60 * (1 + 0.5 * float(np.interp(t, times, arousal)))
        t += _BLINK_GAP_S + rng.exponential(max(1 / rate - _BLINK_GAP_S, 0.2))
    return closure


def gaze_track(times: np.ndarray, arousal: np.ndarray, seed: int = 0) -> np.ndarray:
    """`(T, 2)` iris offset (right, down) in IPD units: fixations joined by quick saccades."""
    times, arousal = _check(times, arousal)
    rng = np.random.default_rng(seed + 1)
    gaze = np.zeros((len(times), 2))
    if not len(times):
        return gaze
    t, target = times[0], np.zeros(2)
    while t <= times[-1]:
        level = float(np.interp(t, times, arousal))
        hold = rng.uniform(0.6, 2.5) / (1 + 0.4 * level)
        gaze[times >= t] = target
        # Back near the camera two times out of three; otherwise a glance aside.
        spread = 0.012 if rng.random() < 0.67 else 0.035 * (1 + 0.3 * level)
        target = rng.normal(0.0, spread, 2) * np.array([1.0, 0.5])
        t += hold
    # A saccade takes about one frame: smooth over 40 ms so it is not a jump.
    return _smooth(gaze, times, 0.04)


def head_track(
    times: np.ndarray,
    arousal: np.ndarray,
    loudness: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Head motion: `(T, 3)` roll, yaw, pitch in degrees and `(T, 2)` shift in IPD units.

    Args:
        times: `(T,)` seconds.
        arousal: `(T,)` in [-1, 1]; scales amplitude (x0.5 at -1, x1.5 at +1) and speed.
        loudness: `(T,)` speech loudness in [0, 1] (None: no speech nods).
        seed: the random phases.
    """
    times, arousal = _check(times, arousal)
    rng = np.random.default_rng(seed + 2)
    gain = 1 + 0.5 * arousal
    # Phase advances with a speed that rises with arousal, so the motion is smooth at any rate.
    dt = np.diff(times, prepend=times[0] if len(times) else 0.0)
    phase_time = np.cumsum(dt * (1 + 0.3 * arousal))
    rotation = np.zeros((len(times), 3))
    shift = np.zeros((len(times), 2))
    for axis in range(3):
        for frequency in rng.uniform(0.08, 0.6, 3):
            rotation[:, axis] += np.sin(2 * np.pi * frequency * phase_time + rng.uniform(0, 6.3))
        rotation[:, axis] *= _HEAD_DEGREES[axis] / np.sqrt(3) * gain
    for axis in range(2):
        for frequency in rng.uniform(0.05, 0.3, 2):
            shift[:, axis] += np.sin(2 * np.pi * frequency * phase_time + rng.uniform(0, 6.3))
        shift[:, axis] *= _HEAD_SHIFT / np.sqrt(2) * gain
    if loudness is not None:
        loudness = np.asarray(loudness, dtype=np.float64)
        if loudness.shape != times.shape:
            raise EmogenError(f"loudness must have shape {times.shape}, got {loudness.shape}")
        # Emphasis lifts the chin slightly before it nods down (negative pitch: up).
        emphasis = _smooth(np.clip(loudness, 0, 1)[:, None], times, 0.15)[:, 0]
        rotation[:, 2] -= _NOD_DEGREES * gain * (emphasis - emphasis.mean())
    return rotation, shift


def frame_loudness(
    audio: np.ndarray, sample_rate: int, times: np.ndarray, window_s: float = 0.04
) -> np.ndarray:
    """`(T,)` speech loudness in [0, 1] at each time: the RMS level in a window around it, in dB
    mapped from 50 dB below the clip's loudest frame (0) to the loudest (1)."""
    audio = np.asarray(audio, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if audio.ndim != 1 or times.ndim != 1:
        raise EmogenError("frame_loudness takes a 1-D waveform and 1-D times")
    half = max(1, int(window_s * sample_rate / 2))
    centres = np.clip(np.round(times * sample_rate).astype(int), 0, max(len(audio) - 1, 0))
    squares = np.concatenate([[0.0], np.cumsum(audio**2)])
    lo, hi = np.clip(centres - half, 0, len(audio)), np.clip(centres + half, 0, len(audio))
    power = (squares[hi] - squares[lo]) / np.maximum(hi - lo, 1)
    level = 10 * np.log10(power + 1e-12)
    if not len(level):
        return level
    return np.clip((level - (level.max() - 50.0)) / 50.0, 0.0, 1.0)


def _smooth(values: np.ndarray, times: np.ndarray, seconds: float) -> np.ndarray:
    # A Gaussian low-pass over time (edges padded with their own values).
    if len(times) < 2:
        return values
    step = float(np.median(np.diff(times)))
    sigma = seconds / step
    radius = int(np.ceil(3 * sigma))
    if radius < 1:
        return values
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values, ((radius, radius), (0, 0)), mode="edge")
    return np.stack(
        [np.convolve(padded[:, c], kernel, mode="valid") for c in range(values.shape[1])], axis=1
    )
