"""The `emogen` command line. `emogen --help` lists the sub-commands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import EmogenError

logger = logging.getLogger("emogen")


def _round(mapping: dict[str, float], digits: int = 4) -> dict[str, float]:
    return {key: round(value, digits) for key, value in mapping.items()}


def emotion_json(emotion) -> dict:
    """The `emogen emotion --json` object: the emotion's dict, plus the category posterior.

    For a raw VAD emotion `category` is the most probable category at its effective point.
    """
    probabilities = emotion.probabilities()
    data = emotion.to_dict()
    data["category"] = emotion.category or next(iter(probabilities))
    data["probabilities"] = _round(probabilities)
    return data


def _cmd_emotion(args: argparse.Namespace) -> int:
    from .emotion import Emotion

    emotion = Emotion.parse(args.text)
    if args.intensity is not None:
        emotion = emotion.with_intensity(args.intensity)
    if args.json:
        print(json.dumps(emotion_json(emotion)))
        return 0
    valence, arousal, dominance = emotion.vad
    top = ", ".join(f"{name} {p:.2f}" for name, p in list(emotion.probabilities().items())[:3])
    print(f"emotion    {emotion.label()}")
    print(f"intensity  {emotion.intensity:.3f}")
    print(f"VAD        valence {valence:+.3f}  arousal {arousal:+.3f}  dominance {dominance:+.3f}")
    print(f"reads as   {top}")
    return 0


def _cmd_recognize(args: argparse.Namespace) -> int:
    from .emotion.text import recognize_sentences, recognize_text

    results = recognize_sentences(args.text) if args.sentences else [recognize_text(args.text)]
    for result in results:
        emotion = result.emotion
        if args.json:
            data = emotion_json(emotion)
            data.update(cues=list(result.cues), reason=result.reason)
            print(json.dumps(data))
            continue
        valence, arousal, dominance = emotion.vad
        print(
            f"{emotion.label()}  (v {valence:+.2f} a {arousal:+.2f} d {dominance:+.2f})"
            f"  cues: {', '.join(result.cues) or '-'}  [{result.reason}]"
        )
    return 0


def _cmd_curve(args: argparse.Namespace) -> int:
    from .emotion.curve import EmotionCurve

    curve = EmotionCurve.parse(args.spec)
    if args.json:
        print(json.dumps(curve.to_dict()))
        return 0
    for time in curve.times(args.fps, args.duration):
        emotion = curve.at(time)
        valence, arousal, dominance = emotion.vad
        position = f"{time:7.3f}s" if curve.unit == "seconds" else f"#{time:<7.3f}"
        print(
            f"{position}  {emotion.label():36s}  "
            f"v {valence:+.2f} a {arousal:+.2f} d {dominance:+.2f}"
        )
    return 0


def _cmd_voices(args: argparse.Namespace) -> int:
    from .speech.voice import list_voices

    voices = list_voices()
    if args.json:
        print(json.dumps([{**vars(v), "path": str(v.path)} for v in voices]))
        return 0
    for voice in voices:
        print(
            f"{voice.name:16s} {voice.language:8s} {voice.sample_rate} Hz  "
            f"{voice.quality or '-':8s}  {voice.license or '-'}  {voice.path}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emogen",
        description="emogen: emotional speech, faces and dialogue driven by one emotion space.",
    )
    parser.add_argument("--version", action="version", version=f"emogen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    sub = add("emotion", _cmd_emotion, "parse an emotion and show its VAD point and categories")
    sub.add_argument(
        "text",
        help="'happy', 'angry:0.8', 'slightly annoyed', '0.6 happy + 0.4 surprised', "
        "'v=0.2 a=-0.4 d=0.1', 'neutral'",
    )
    sub.add_argument("--intensity", type=float, help="override the intensity, in [0, 1]")
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = add("recognize", _cmd_recognize, "recognize the emotion of a text, with its cue words")
    sub.add_argument("text")
    sub.add_argument("--sentences", action="store_true", help="one result per sentence")
    sub.add_argument("--json", action="store_true", help="print one JSON object per result")

    sub = add("curve", _cmd_curve, "sample an emotion curve such as 'happy@0 -> sad:0.6@2.5'")
    sub.add_argument("spec")
    sub.add_argument("--fps", type=float, default=4.0, help="samples per second (default 4)")
    sub.add_argument("--duration", type=float, help="seconds to sample (default: last keyframe)")
    sub.add_argument("--json", action="store_true", help="print the curve as JSON")

    sub = add("voices", _cmd_voices, "list the installed voices (bundled and $EMOGEN_VOICES_DIR)")
    sub.add_argument("--json", action="store_true", help="print a JSON list")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    try:
        return args.handler(args)
    except EmogenError as error:
        print(f"emogen {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
