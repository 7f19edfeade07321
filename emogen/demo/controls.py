"""The emotion controls every tab shares, and the one string they produce.

The controls write ONE emotion string (any form `Emotion.parse` or `EmotionCurve.parse` reads:
"happy:0.8", "v=0.3 a=0.5 d=0 i=0.8", "(0.6 happy + 0.4 surprised):0.8",
"happy:0.8@#0 -> sad:0.6@#1"), shown read-only under them; that string is what the tab's
pipeline gets, and what an API client passes. Which control writes it is the `mode` radio:

    category   the category dropdown, scaled by the intensity slider
    vad        the valence/arousal/dominance sliders (or a click on the plane), scaled by intensity
    mixture    the mixture text box ("0.6 happy + 0.4 surprised"), scaled by intensity
    curve      the keyframe table (each row: position, emotion, its own intensity)
    plan/auto  special modes of some tabs: the dialogue's plan (Chat, Avatar), or the emotion
               recognised from each sentence of the text (Speech)

Touching a control switches the mode to that control's, so the last control used wins and the
radio always says which one that is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..emotion import Emotion, EmotionCurve, as_emotion, load_taxonomy
from ..errors import EmogenError
from .plots import curve_figure, plane_geometry, plane_with_marker

MODES = {
    "category": "Category",
    "vad": "Valence / arousal / dominance",
    "mixture": "Mixture",
    "curve": "Curve over time",
}
SPECIAL_MODES = {
    "plan": (
        "Dialogue plan",
        "the reply's emotion as the dialogue planned it, sentence by sentence",
    ),
    "auto": ("From the text", "recognised from each sentence's text"),
}
CURVE_HEADERS = ["at", "emotion", "intensity"]
UNIT_LABELS = {"sentences": "sentence index (#0, #1, ...)", "seconds": "seconds"}


def compose_emotion(
    mode: str,
    category: str,
    intensity: float,
    valence: float,
    arousal: float,
    dominance: float,
    mixture: str,
    curve_rows: Any,
    curve_unit: str,
    curve_smooth: bool,
) -> str:
    """The emotion string the controls stand for in `mode`.

    Input that does not parse (a bad mixture, a bad curve row) is passed on as written, so the
    pipeline's parser names what is wrong when the user runs it; `describe` shows it at once.
    """
    if mode in SPECIAL_MODES:
        return mode
    if mode not in MODES:
        raise EmogenError(f"emotion mode must be one of {[*MODES, *SPECIAL_MODES]}, got {mode!r}")
    intensity = round(float(intensity), 3)
    if mode == "category":
        return str(Emotion.from_category(category or "neutral", intensity))
    if mode == "vad":
        point = (round(float(x), 3) for x in (valence, arousal, dominance))
        return str(Emotion.from_vad(*point, intensity=intensity))
    if mode == "mixture":
        try:
            return str(Emotion.parse(mixture).with_intensity(intensity))
        except EmogenError:
            return mixture
    rows = curve_table(curve_rows)
    mark = "#" if curve_unit == "sentences" else ""
    arrow = " ~> " if curve_smooth else " -> "
    written = arrow.join(f"{emotion}:{level}@{mark}{_number(at)}" for at, emotion, level in rows)
    try:
        keyframes = [(at, as_emotion(emotion).with_intensity(level)) for at, emotion, level in rows]
        curve = EmotionCurve(
            keyframes, unit=curve_unit, interpolation="smooth" if curve_smooth else "linear"
        )
    except (EmogenError, TypeError, ValueError):
        return written
    return str(curve)


def curve_table(rows: Any) -> list[tuple[Any, str, Any]]:
    """The filled rows of the keyframe table as `(at, emotion, intensity)`; blank rows are
    skipped, a blank intensity is 1."""
    if rows is None:
        return []
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame
        rows = rows.values.tolist()
    table = []
    for row in rows:
        cells = list(row) + [None] * (3 - len(row))
        at, emotion, level = cells[:3]
        if _blank(at) and _blank(emotion):
            continue
        table.append(
            (
                _cell_number(at),
                str(emotion or "").strip(),
                1.0 if _blank(level) else _cell_number(level),
            )
        )
    return table


def read_emotion(text: str, special: Sequence[str] = ()) -> Emotion | EmotionCurve | str:
    """Parse the emotion string a tab received (from its controls or an API client).

    Returns:
        An `Emotion`, an `EmotionCurve` (text with '@'), or the special mode's name when it is
        one of `special` ("plan", "auto").

    Raises:
        EmogenError: empty or malformed text; the message lists the accepted forms.
    """
    if not isinstance(text, str) or not text.strip():
        raise EmogenError(
            "no emotion given: choose one with the emotion controls, or pass a string such as "
            "'happy:0.8', '0.6 happy + 0.4 surprised', 'v=0.3 a=0.5 d=0' or "
            "'happy@0 -> sad@2.5'"
        )
    text = text.strip()
    if text.lower() in special:
        return text.lower()
    if text.lower() in SPECIAL_MODES:
        raise EmogenError(
            f"emotion {text!r} is not available here; it works in: "
            + ", ".join(f"{name} ({where})" for name, where in _SPECIAL_WHERE.items())
        )
    if "@" in text:
        return EmotionCurve.parse(text)
    return Emotion.parse(text)


_SPECIAL_WHERE = {"plan": "Chat and Avatar tabs", "auto": "Speech tab"}


def describe(value: Emotion | EmotionCurve | str) -> str:
    """Markdown: what the emotion is (label, effective VAD, nearest category)."""
    if isinstance(value, str):
        return f"**{SPECIAL_MODES[value][0]}**: {SPECIAL_MODES[value][1]}."
    if isinstance(value, Emotion):
        return f"**{value.label()}**: {_vad_text(value)}"
    unit = "sentences" if value.unit == "sentences" else "seconds"
    lines = [f"**Curve over {unit}** ({value.interpolation}, {len(value)} keyframes):"]
    mark = "#" if value.unit == "sentences" else ""
    for keyframe in value:
        lines.append(
            f"- at {mark}{_number(keyframe.position)}: {keyframe.emotion.label()}, "
            + _vad_text(keyframe.emotion)
        )
    return "\n".join(lines)


def preview(text: str, special: Sequence[str]) -> tuple[str, Any]:
    """The summary markdown and the plane image with the emotion marked (an error message and
    an unmarked plane when the text does not parse)."""
    try:
        value = read_emotion(text, special)
    except EmogenError as error:
        return f"**Cannot use this emotion**: {error}", plane_with_marker([])
    if isinstance(value, str):
        points = []
    elif isinstance(value, Emotion):
        points = [value.vad[:2]]
    else:
        points = [keyframe.emotion.vad[:2] for keyframe in value]
    return describe(value), plane_with_marker(points)


def plane_click(x: float, y: float) -> tuple[float, float]:
    """(valence, arousal) of a click at pixel (x, y) of the plane image."""
    return plane_geometry().to_va(x, y)


def _vad_text(emotion: Emotion) -> str:
    valence, arousal, dominance = emotion.vad
    return (
        f"effective v={valence:+.2f} a={arousal:+.2f} d={dominance:+.2f}, "
        f"intensity {emotion.intensity:.2f}, nearest category *{emotion.nearest_category()}*"
    )


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _cell_number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _number(value: Any) -> str:
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


# ----- the Gradio components ---------------------------------------------------------------------
@dataclass
class EmotionControls:
    """The components of one tab's emotion controls; `emotion` is the textbox with the string
    the tab's pipeline gets, `inputs` the controls `compose_emotion` reads (in its order)."""

    prefix: str
    mode: Any
    category: Any
    intensity: Any
    valence: Any
    arousal: Any
    dominance: Any
    mixture: Any
    curve: Any
    curve_unit: Any
    curve_smooth: Any
    curve_plot: Any
    plane: Any
    emotion: Any
    summary: Any
    special: tuple[str, ...] = field(default=())

    @property
    def inputs(self) -> list[Any]:
        return [
            self.mode,
            self.category,
            self.intensity,
            self.valence,
            self.arousal,
            self.dominance,
            self.mixture,
            self.curve,
            self.curve_unit,
            self.curve_smooth,
        ]


def emotion_controls(
    prefix: str,
    *,
    units: Sequence[str] = ("seconds",),
    special: Sequence[str] = (),
    default_mode: str = "category",
    category: str = "happy",
    intensity: float = 0.8,
    curve: Sequence[Sequence[Any]] | None = None,
) -> EmotionControls:
    """Build the emotion controls inside the current Blocks context and wire them.

    Args:
        prefix: the tab's name, used in `elem_id`s (`{prefix}-emotion-mode`, `{prefix}-va-plane`,
            `{prefix}-emotion`, ...) and in the helper events' `api_name`s
            (`{prefix}_compose_emotion`, `{prefix}_plane_click`, ...).
        units: the curve units the tab accepts ("sentences" only makes sense for speech made
            from text), the first is the default.
        special: special modes offered first ("plan", "auto").
        default_mode: the mode selected at start.
        category, intensity: the initial category and intensity.
        curve: the initial keyframe rows `(at, emotion, intensity)`.
    """
    taxonomy = load_taxonomy()
    special = tuple(special)
    choices = [(SPECIAL_MODES[name][0], name) for name in special]
    choices += [(label, name) for name, label in MODES.items()]
    if curve is None:
        curve = (
            [[0, "happy", 0.8], [1, "sad", 0.6]]
            if units[0] == "sentences"
            else [[0, "calm", 0.6], [1.0, "happy", 0.9], [2.0, "surprised", 0.8]]
        )
    initial = compose_emotion(
        default_mode,
        category,
        intensity,
        0.0,
        0.0,
        0.0,
        "0.6 happy + 0.4 surprised",
        curve,
        units[0],
        False,
    )
    summary_text, plane_image = preview(initial, special)

    with gr.Group(elem_id=f"{prefix}-emotion-controls"):
        mode = gr.Radio(
            choices,
            value=default_mode,
            label="Emotion from (the control you touch last wins)",
            elem_id=f"{prefix}-emotion-mode",
        )
        with gr.Row():
            category_box = gr.Dropdown(
                list(taxonomy.names),
                value=category,
                label="Category",
                elem_id=f"{prefix}-category",
            )
            intensity_slider = gr.Slider(
                0.0,
                1.0,
                value=intensity,
                step=0.05,
                label="Intensity",
                info="scales category, VAD and mixture (curve rows have their own)",
                elem_id=f"{prefix}-intensity",
            )
        mixture = gr.Textbox(
            "0.6 happy + 0.4 surprised",
            label="Mixture",
            info="weights are proportions: '0.6 happy + 0.4 surprised'",
            elem_id=f"{prefix}-mixture",
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=200):
                valence = gr.Slider(
                    -1, 1, value=0.0, step=0.01, label="Valence", elem_id=f"{prefix}-valence"
                )
                arousal = gr.Slider(
                    -1, 1, value=0.0, step=0.01, label="Arousal", elem_id=f"{prefix}-arousal"
                )
                dominance = gr.Slider(
                    -1, 1, value=0.0, step=0.01, label="Dominance", elem_id=f"{prefix}-dominance"
                )
            plane = gr.Image(
                plane_image,
                label="Valence-arousal plane (click)",
                interactive=False,
                buttons=[],
                elem_id=f"{prefix}-va-plane",
                scale=1,
                min_width=240,
            )
        with gr.Accordion("Emotion curve (keyframes)", open=units[0] == "sentences"):
            curve_table_box = gr.Dataframe(
                value=[list(row) for row in curve],
                headers=CURVE_HEADERS,
                datatype=["number", "str", "number"],
                column_count=3,
                interactive=True,
                label="Keyframes: position, emotion (any form), intensity",
                elem_id=f"{prefix}-curve",
                type="array",
            )
            with gr.Row():
                curve_unit = gr.Radio(
                    [(UNIT_LABELS[unit], unit) for unit in units],
                    value=units[0],
                    label="Positions in",
                    interactive=len(units) > 1,
                    elem_id=f"{prefix}-curve-unit",
                )
                curve_smooth = gr.Checkbox(
                    False,
                    label="Smooth (ease between keyframes)",
                    elem_id=f"{prefix}-curve-smooth",
                )
            curve_plot = gr.Plot(
                _curve_plot(curve, units[0], False),
                label="Valence and arousal along the curve",
                elem_id=f"{prefix}-curve-plot",
            )
        emotion = gr.Textbox(
            initial,
            label="Emotion sent to the pipeline",
            interactive=False,
            elem_id=f"{prefix}-emotion",
        )
        summary = gr.Markdown(summary_text, elem_id=f"{prefix}-emotion-summary")

    controls = EmotionControls(
        prefix,
        mode,
        category_box,
        intensity_slider,
        valence,
        arousal,
        dominance,
        mixture,
        curve_table_box,
        curve_unit,
        curve_smooth,
        curve_plot,
        plane,
        emotion,
        summary,
        special,
    )
    _wire(controls)
    return controls


def _curve_plot(rows: Any, unit: str, smooth: bool) -> Any:
    try:
        text = compose_emotion("curve", "", 1, 0, 0, 0, "", rows, unit, smooth)
        return curve_figure(EmotionCurve.parse(text))
    except EmogenError:
        return None


def _wire(controls: EmotionControls) -> None:
    prefix, special = controls.prefix, controls.special
    private = {"queue": False, "api_visibility": "undocumented"}

    # Touching a control selects its mode (the last control used wins).
    for component, mode in (
        (controls.category, "category"),
        (controls.valence, "vad"),
        (controls.arousal, "vad"),
        (controls.dominance, "vad"),
        (controls.mixture, "mixture"),
        (controls.curve, "curve"),
        (controls.curve_smooth, "curve"),
    ):
        component.input(
            lambda m=mode: m,
            None,
            controls.mode,
            api_name=f"{prefix}_select_{mode}_{_name(component)}",
            **private,
        )

    gr.on(
        [component.change for component in controls.inputs],
        compose_emotion,
        controls.inputs,
        controls.emotion,
        api_name=f"{prefix}_compose_emotion",
        **private,
    )
    controls.emotion.change(
        lambda text: preview(text, special),
        controls.emotion,
        [controls.summary, controls.plane],
        api_name=f"{prefix}_describe_emotion",
        **private,
    )

    controls.plane.select(
        _on_plane_click,
        None,
        [controls.valence, controls.arousal, controls.mode],
        api_name=f"{prefix}_plane_click",
        **private,
    )
    gr.on(
        [controls.curve.change, controls.curve_unit.change, controls.curve_smooth.change],
        _curve_plot,
        [controls.curve, controls.curve_unit, controls.curve_smooth],
        controls.curve_plot,
        api_name=f"{prefix}_curve_plot",
        **private,
    )


def _on_plane_click(event: gr.SelectData) -> tuple[float, float, str]:
    valence, arousal = plane_click(*event.index[:2])
    return valence, arousal, "vad"


def _name(component: Any) -> str:
    return (component.elem_id or "control").rsplit("-", 1)[-1]
