"""The demo's pictures: the clickable valence-arousal plane and the matplotlib plots.

Figures are built with `matplotlib.figure.Figure` (not pyplot), so nothing is kept in a global
registry between requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import matplotlib

matplotlib.use("Agg")

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..emotion import Emotion, EmotionCurve, load_taxonomy
from ..emotion.taxonomy import FAMILIES, NEUTRAL

PLANE_PIXELS = 480
# The axes' box in figure fractions: the plane image maps pixels to valence/arousal through it.
_AXES_BOX = (0.12, 0.08, 0.84, 0.86)  # left, bottom, width, height
VALENCE_COLOR, AROUSAL_COLOR = "#1f77b4", "#d62728"


@dataclass(frozen=True)
class PlaneGeometry:
    """Where the [-1, 1]^2 valence-arousal square lies in the plane image (pixels, y down)."""

    left: float
    right: float
    top: float
    bottom: float

    def to_pixel(self, valence: float, arousal: float) -> tuple[float, float]:
        x = self.left + (valence + 1) / 2 * (self.right - self.left)
        y = self.top + (1 - arousal) / 2 * (self.bottom - self.top)
        return x, y

    def to_va(self, x: float, y: float) -> tuple[float, float]:
        """The (valence, arousal) of a pixel, clipped to [-1, 1] and rounded to 0.01."""
        valence = -1 + 2 * (x - self.left) / (self.right - self.left)
        arousal = 1 - 2 * (y - self.top) / (self.bottom - self.top)
        return (
            round(float(np.clip(valence, -1, 1)), 2),
            round(float(np.clip(arousal, -1, 1)), 2),
        )


def plane_geometry(pixels: int = PLANE_PIXELS) -> PlaneGeometry:
    left, bottom, width, height = _AXES_BOX
    return PlaneGeometry(
        left=left * pixels,
        right=(left + width) * pixels,
        top=(1 - bottom - height) * pixels,
        bottom=(1 - bottom) * pixels,
    )


@lru_cache(maxsize=1)
def plane_background(pixels: int = PLANE_PIXELS) -> np.ndarray:
    """The valence-arousal plane with every taxonomy category at its centroid, `(P, P, 3)` uint8
    RGB (drawn once; markers are painted on copies)."""
    taxonomy = load_taxonomy()
    figure = Figure(figsize=(pixels / 100, pixels / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes(_AXES_BOX)
    axes.set_xlim(-1, 1)
    axes.set_ylim(-1, 1)
    axes.axhline(0, color="0.8", lw=0.8)
    axes.axvline(0, color="0.8", lw=0.8)
    axes.set_xlabel("valence", fontsize=8, labelpad=1)
    axes.set_ylabel("arousal", fontsize=8, labelpad=1)
    axes.tick_params(labelsize=7)
    for category in taxonomy.categories.values():
        valence, arousal, _ = category.vad
        main = category.name in FAMILIES or category.name == NEUTRAL
        axes.plot(valence, arousal, "o", ms=3.5 if main else 2.5, color="k" if main else "0.45")
        axes.annotate(
            category.name,
            (valence, arousal),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=7.5 if main else 5.5,
            fontweight="bold" if main else "normal",
            color="k" if main else "0.35",
        )
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def plane_with_marker(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """The plane with the emotion's effective (valence, arousal) marked: one point, or a curve's
    keyframes joined in order (the last one filled)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(plane_background())
    draw = ImageDraw.Draw(image)
    geometry = plane_geometry()
    pixels = [geometry.to_pixel(v, a) for v, a in points]
    if len(pixels) > 1:
        draw.line(pixels, fill=(214, 39, 40), width=2)
    for index, (x, y) in enumerate(pixels):
        radius = 7 if index == len(pixels) - 1 else 4
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, fill=(214, 39, 40), outline=(255, 255, 255), width=2)
    return np.asarray(image)


def curve_figure(curve: EmotionCurve, samples: int = 100) -> Figure:
    """Effective valence and arousal along a curve (over seconds or sentence index)."""
    end = max(curve.end, curve.start + 1.0)
    positions = np.linspace(0.0, end, samples)
    track = curve.vad_track(positions)
    figure = Figure(figsize=(5, 2.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.plot(positions, track[:, 0], color=VALENCE_COLOR, label="valence")
    axes.plot(positions, track[:, 1], color=AROUSAL_COLOR, label="arousal")
    for keyframe in curve:
        valence, arousal, _ = keyframe.emotion.vad
        axes.plot([keyframe.position] * 2, [valence, arousal], "o", color="k", ms=3)
        label = keyframe.emotion.label()
        axes.annotate(
            label,
            (keyframe.position, max(valence, arousal)),
            fontsize=7,
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
        )
    axes.set_ylim(-1.05, 1.15)
    axes.set_xlabel("sentence" if curve.unit == "sentences" else "seconds", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.axhline(0, color="0.85", lw=0.8)
    axes.legend(fontsize=7, loc="lower right")
    return figure


def pitch_figure(
    tracks: Sequence[tuple[str, np.ndarray, np.ndarray]], title: str = "pitch contour"
) -> Figure:
    """F0 over time of several renderings: `(label, times (N,), f0 (N,) Hz, 0 = unvoiced)`."""
    figure = Figure(figsize=(6, 2.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    colors = ("0.55", "#d62728", "#1f77b4")
    for (label, times, f0), color in zip(tracks, colors):
        voiced = np.where(f0 > 0, f0, np.nan)
        voiced_f0 = f0[f0 > 0]
        mean = f" (mean {voiced_f0.mean():.0f} Hz)" if voiced_f0.size else ""
        axes.plot(times, voiced, color=color, lw=1.3, label=label + mean)
    axes.set_xlabel("seconds", fontsize=8)
    axes.set_ylabel("F0 (Hz)", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.set_title(title, fontsize=9, loc="right")
    axes.legend(fontsize=7, loc="upper right")
    return figure


def trajectory_figure(user: Sequence[Emotion | None], agent: Sequence[Emotion | None]) -> Figure:
    """Valence and arousal of the user's and the agent's emotion, turn by turn."""
    figure = Figure(figsize=(6, 2.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for emotions, who, style in ((user, "user", "o-"), (agent, "agent", "s--")):
        turns = [i + 1 for i, e in enumerate(emotions) if e is not None]
        vad = np.array([e.vad for e in emotions if e is not None]).reshape(-1, 3)
        axes.plot(turns, vad[:, 0], style, color=VALENCE_COLOR, label=f"{who} valence", ms=4)
        axes.plot(turns, vad[:, 1], style, color=AROUSAL_COLOR, label=f"{who} arousal", ms=4)
    axes.set_ylim(-1.05, 1.05)
    axes.set_xlabel("turn", fontsize=8)
    axes.axhline(0, color="0.85", lw=0.8)
    axes.tick_params(labelsize=7)
    count = max(len(user), len(agent), 1)
    axes.set_xticks(range(1, count + 1))
    axes.set_title("emotion over the conversation", fontsize=9, loc="right")
    axes.legend(fontsize=6.5, ncols=2, loc="lower left")
    return figure
