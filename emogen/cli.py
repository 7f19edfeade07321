"""The `emogen` command line. `emogen --help` lists the sub-commands."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

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


def _speech_emotion(args: argparse.Namespace):
    """The emotion argument of tts/vc: --curve, or --emotion (any form, or `auto` for tts)."""
    from .emotion import Emotion
    from .emotion.curve import EmotionCurve

    if args.curve and args.emotion is not None:
        raise EmogenError("give either --emotion or --curve, not both")
    if args.curve:
        return EmotionCurve.parse(args.curve)
    emotion = args.emotion or "neutral"
    if emotion.strip().lower() == "auto":
        return "auto"
    return Emotion.parse(emotion)  # parse now: a bad emotion fails before any work


def _cmd_tts(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm.auto import tqdm

    from .pipelines import load_pipeline
    from .speech.audio import save_audio

    if (args.text is None) == (args.text_file is None):
        raise EmogenError("give TEXT or --text-file, not both and not neither")
    emotion = _speech_emotion(args)
    if args.text is not None:
        if not args.out:
            raise EmogenError("--out FILE.wav is required with TEXT")
        jobs = [(args.text, Path(args.out))]
    else:
        if not args.out_dir:
            raise EmogenError("--out-dir DIR is required with --text-file")
        try:
            lines = Path(args.text_file).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise EmogenError(f"cannot read --text-file {args.text_file}: {error}") from None
        lines = [line.strip() for line in lines if line.strip()]
        if not lines:
            raise EmogenError(f"--text-file {args.text_file} has no non-empty line")
        out_dir = Path(args.out_dir)
        jobs = [(line, out_dir / f"{i:04d}.wav") for i, line in enumerate(lines, 1)]
    _quiet_loading()
    pipe = load_pipeline(args.pipeline)
    options = _learned_options(args, pipe)
    if args.best_of is not None:
        from .pipelines import CodecLMTTSPipeline

        if not isinstance(pipe, CodecLMTTSPipeline):
            raise EmogenError(
                f"--best-of applies to codec-LM pipelines (tts-codec-lm), not {args.pipeline}"
            )
        if args.best_of < 1:
            raise EmogenError(f"--best-of must be >= 1, got {args.best_of}")
        options["best_of"] = args.best_of
    for text, _ in jobs:  # every line is checked before anything is written
        pipe.check_inputs(text, args.intensity)
    if args.out_dir:
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    for text, path in tqdm(jobs, desc="tts", disable=len(jobs) < 2):
        out = pipe(
            text,
            emotion=emotion,
            intensity=args.intensity,
            generator=args.seed,
            **options,
        )
        save_audio(path, out.audios[0], out.sample_rate)
        logger.info("wrote %s (%s)", path, ", ".join(e.label() for e in out.emotions[0]))
        if len(jobs) == 1:
            print(path)
    if len(jobs) > 1:
        print(f"wrote {len(jobs)} files to {jobs[0][1].parent}")
    return 0


def _quiet_loading() -> None:
    """Hide diffusers' per-component loading bar (the CLI shows its own progress)."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()


def _cmd_vc(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .pipelines import load_pipeline
    from .speech.audio import save_audio

    emotion = _speech_emotion(args)
    if emotion == "auto":
        raise EmogenError("voice conversion needs a target emotion; 'auto' is for tts")
    source = args.source_emotion
    if source.strip().lower() != "auto":
        source = _parse_emotion(source)  # a bad emotion fails before the pipeline loads
    _quiet_loading()
    pipe = load_pipeline(args.pipeline)
    out = pipe(
        args.input,
        emotion=emotion,
        intensity=args.intensity,
        source_emotion=source,
        preserve_duration=args.preserve_duration,
        generator=args.seed,
        **_learned_options(args, pipe),
    )
    save_audio(Path(args.out), out.audios[0], out.sample_rate)
    print(args.out)
    return 0


def _personality(text: str | None):
    """--personality: a preset name or Big Five traits as JSON."""
    from .dialogue import as_personality

    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            return as_personality(json.loads(text))
        except json.JSONDecodeError as error:
            raise EmogenError(f"--personality is not valid JSON: {error.msg}") from None
    return as_personality(text)


def _cmd_chat(args: argparse.Namespace) -> int:
    from .dialogue import Conversation
    from .pipelines import load_pipeline

    personality = _personality(args.personality)
    conversation = Conversation.load(args.history) if args.history else Conversation()
    _quiet_loading()
    pipe = load_pipeline(args.pipeline)

    def answer(message: str) -> None:
        turn = pipe(message, conversation=conversation, personality=personality, seed=args.seed)
        if args.json:
            print(json.dumps(turn.to_dict()))
        else:
            print(turn.text)
        if args.save_history:
            conversation.save(args.save_history)

    if args.message is not None:
        answer(args.message)
        return 0
    if sys.stdin.isatty():
        print("emogen chat: write a message and press Enter; 'quit' or Ctrl-D ends.")
    while True:
        try:
            message = input("you> " if sys.stdin.isatty() else "")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if message.strip().lower() in ("quit", "exit"):
            return 0
        try:
            answer(message)
        except EmogenError as error:  # one bad message does not end the conversation
            print(f"emogen chat: {error}", file=sys.stderr)


def _cmd_talk(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .pipelines import load_pipeline

    emotion = _speech_emotion(args)
    if emotion == "auto":
        raise EmogenError("the talking head needs an emotion or a curve; 'auto' is for tts")
    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise EmogenError(f"--out must be an .mp4 file, got {args.out}")
    _quiet_loading()
    pipe = load_pipeline(args.pipeline)
    clip = pipe(
        args.portrait,
        args.audio,
        emotion=emotion,
        intensity=args.intensity,
        transcript=args.transcript,
        mouth=args.mouth,
        fps=args.fps,
        size=args.size,
        generator=args.seed,
    )
    clip.save(out, progress=sys.stderr.isatty())
    print(out)
    return 0


def _cmd_avatar(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .dialogue import Conversation
    from .pipelines import load_pipeline

    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise EmogenError(f"--out must be an .mp4 file, got {args.out}")
    personality = _personality(args.personality)
    conversation = Conversation.load(args.history) if args.history else Conversation()
    _quiet_loading()
    pipe = load_pipeline(args.pipeline)
    answer = pipe(
        args.message,
        portrait=args.portrait,
        conversation=conversation,
        personality=personality,
        fps=args.fps,
        size=args.size,
        generator=args.seed,
    )
    answer.save(out, progress=sys.stderr.isatty())
    if args.save_history:
        conversation.save(args.save_history)
    if args.json:
        data = answer.turn.to_dict()
        data.update(video=str(out), duration=round(len(answer.audio) / answer.sample_rate, 3))
        print(json.dumps(data))
    else:
        print(answer.text)
        print(out)
    return 0


def _cmd_voice_finetune(args: argparse.Namespace) -> int:
    from .speech.finetune import finetune_voice
    from .speech.voice_data import VoiceDataError

    _quiet_loading()
    try:
        folder = finetune_voice(
            args.folder,
            args.name,
            base=args.base,
            steps=args.steps,
            resume=args.resume,
            min_total_seconds=60.0 * args.min_minutes,
            progress=sys.stderr.isatty(),
        )
    except VoiceDataError as error:  # the report says what was left out and why
        print(f"emogen voice finetune: {error}", file=sys.stderr)
        return 2
    print(folder)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import DemoLimits, launch

    limits = DemoLimits()
    if args.concurrency is not None:
        limits = replace(limits, concurrency_limit=args.concurrency)
    launch(host=args.host, port=args.port, limits=limits)
    return 0


def _learned_options(args: argparse.Namespace, pipe) -> dict:
    """--guidance/--steps as `pipe`'s keywords (only those given: defaults stay the pipeline's);
    a flag `pipe` has no keyword for is an error that names it."""
    import inspect

    if args.steps is not None and args.steps < 1:
        raise EmogenError(f"--steps must be >= 1, got {args.steps}")
    if args.guidance is not None and not args.guidance >= 0:
        raise EmogenError(f"--guidance must be >= 0, got {args.guidance}")
    flags = {"emotion_guidance_scale": "--guidance", "num_inference_steps": "--steps"}
    options = {"emotion_guidance_scale": args.guidance, "num_inference_steps": args.steps}
    options = {key: value for key, value in options.items() if value is not None}
    accepted = inspect.signature(pipe.__call__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        for key in options:
            if key not in accepted:
                raise EmogenError(
                    f"{flags[key]} does not apply to {args.pipeline} ({type(pipe).__name__})"
                )
    return options


def _parse_emotion(text: str):
    from .emotion import Emotion

    return Emotion.parse(text)


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

    sub = add("tts", _cmd_tts, "speak text with an emotion (wav out)")
    sub.add_argument("text", nargs="?", help="the text to speak (or use --text-file)")
    sub.add_argument("--text-file", help="speak each non-empty line into --out-dir/0001.wav, ...")
    sub.add_argument("--out", help="output wav file (with TEXT)")
    sub.add_argument("--out-dir", help="output folder (with --text-file)")
    _speech_arguments(sub, "tts-default", auto=True)
    sub.add_argument(
        "--best-of",
        type=int,
        help="codec-LM pipelines: candidates per sentence for the verifier (1: fastest; "
        "default from the pipeline)",
    )

    sub = add("vc", _cmd_vc, "convert the emotion of speech (wav, flac, ogg, mp3 in; wav out)")
    sub.add_argument("input", help="input audio file")
    sub.add_argument("--out", required=True, help="output wav file")
    sub.add_argument(
        "--source-emotion",
        default="auto",
        help="the emotion the input carries, taken out first; 'auto' (default) estimates it "
        "from the input's prosody, 'neutral' treats the input as neutral",
    )
    sub.add_argument(
        "--preserve-duration", action="store_true", help="keep the input's length exactly"
    )
    _speech_arguments(sub, "vc-default", auto=False)

    sub = add("chat", _cmd_chat, "talk with the empathetic dialogue pipeline")
    sub.add_argument(
        "message", nargs="?", help="answer this one message and exit (default: a conversation)"
    )
    sub.add_argument("--json", action="store_true", help="print each reply as one JSON object")
    sub.add_argument(
        "--personality",
        help="a preset (warm, calm, cheerful, neutral) or Big Five traits as JSON, e.g. "
        '\'{"agreeableness": 0.8, "neuroticism": -0.5}\' (each in [-1, 1]); default warm',
    )
    sub.add_argument("--history", help="a JSON conversation to continue (a list of messages)")
    sub.add_argument("--save-history", help="write the conversation here after each reply")
    sub.add_argument("--pipeline", default="dialogue", help="pipeline folder or short name")
    sub.add_argument("--seed", type=int, help="seed of the reply's choices")

    sub = add("talk", _cmd_talk, "animate a portrait speaking an audio file with an emotion (MP4)")
    sub.add_argument(
        "portrait",
        help="portrait image (jpg, png, ...; one clearly visible face), or a sample that ships "
        "offline: astronaut, grace_hopper",
    )
    sub.add_argument("audio", help="speech audio (wav, flac, ogg, mp3; at most 5 minutes)")
    sub.add_argument("--out", required=True, help="output .mp4 file (H.264 + AAC)")
    sub.add_argument("--emotion", help="the face's emotion, any form `emogen emotion` accepts")
    sub.add_argument("--intensity", type=float, help="replace the emotion's intensity, in [0, 1]")
    sub.add_argument("--curve", help="an emotion curve over seconds instead: 'happy@0 -> sad@2.5'")
    sub.add_argument("--fps", type=float, help="frames per second (default 25)")
    sub.add_argument("--size", type=int, help="longer side of the video in pixels (default 512)")
    sub.add_argument("--transcript", help="what the audio says, when known (helps lip timing)")
    sub.add_argument(
        "--mouth",
        default="auto",
        choices=["auto", "learned", "rules"],
        help="lip motion from the learned audio-to-motion model or from visemes timed by "
        "Whisper ('auto': the pipeline's model when it has one)",
    )
    sub.add_argument(
        "--pipeline", default="talking-head", help="pipeline folder or short name (talking-head)"
    )
    sub.add_argument("--seed", type=int, help="seed of blinks, gaze and head motion")

    sub = add(
        "avatar",
        _cmd_avatar,
        "answer a message with an empathetic reply, spoken and shown by a talking face (MP4)",
    )
    sub.add_argument("message", help="the user's message")
    sub.add_argument("--out", required=True, help="output .mp4 file (H.264 + AAC)")
    sub.add_argument(
        "--portrait",
        help="portrait image, or a sample that ships offline: astronaut (default), grace_hopper",
    )
    sub.add_argument(
        "--personality", help="a preset (warm, calm, cheerful, neutral) or Big Five traits as JSON"
    )
    sub.add_argument("--history", help="a JSON conversation to continue (a list of messages)")
    sub.add_argument("--save-history", help="write the conversation here after the reply")
    sub.add_argument("--fps", type=float, help="frames per second (default 25)")
    sub.add_argument("--size", type=int, help="longer side of the video in pixels (default 512)")
    sub.add_argument("--json", action="store_true", help="print the turn as one JSON object")
    sub.add_argument("--pipeline", default="avatar", help="pipeline folder or short name (avatar)")
    sub.add_argument("--seed", type=int, help="seed of the wording, the voice and the motion")

    sub = add(
        "demo", _cmd_demo, "serve the Gradio web demo (speech, VC, talking head, chat, avatar)"
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    sub.add_argument("--port", type=int, default=7860, help="port (7860)")
    sub.add_argument(
        "--concurrency", type=int, help="requests worked on at once (default: the demo's limit)"
    )

    sub = add("voice", _cmd_voice_finetune, "custom voices: fine-tune the codec-LM TTS on yours")
    voice_commands = sub.add_subparsers(dest="voice_command", metavar="COMMAND", required=True)
    sub = voice_commands.add_parser(
        "finetune",
        help="fine-tune on a folder of recordings; writes a pipeline to checkpoints/NAME",
        description="Check, transcribe and segment the recordings, fine-tune the codec-LM TTS "
        "on them, and write the pipeline to checkpoints/NAME (emogen tts --pipeline "
        "checkpoints/NAME ...).",
    )
    sub.add_argument(
        "folder", help="wav/flac/ogg/mp3 recordings, with .txt transcripts beside them (optional)"
    )
    sub.add_argument("--name", required=True, help="the voice's name (checkpoints/NAME)")
    sub.add_argument(
        "--base", default="tts-codec-lm", help="the codec-LM pipeline to start from (tts-codec-lm)"
    )
    sub.add_argument(
        "--steps", type=int, help="codec decoder steps (default: its finetune config's, 1200)"
    )
    sub.add_argument("--resume", action="store_true", help="continue an interrupted run")
    sub.add_argument(
        "--min-minutes", type=float, default=1.0, help="least usable speech accepted (1 minute)"
    )

    sub = add("voices", _cmd_voices, "list the installed voices (bundled and $EMOGEN_VOICES_DIR)")
    sub.add_argument("--json", action="store_true", help="print a JSON list")
    return parser


def _speech_arguments(sub: argparse.ArgumentParser, default: str, auto: bool) -> None:
    forms = "any form `emogen emotion` accepts" + (", or `auto` (follow the text)" if auto else "")
    sub.add_argument("--emotion", help=f"target emotion: {forms} (default neutral)")
    sub.add_argument("--intensity", type=float, help="replace the emotion's intensity, in [0, 1]")
    sub.add_argument(
        "--curve", help="an emotion curve instead: 'happy@0 -> sad@2.5', 'happy@#0 -> sad@#1'"
    )
    sub.add_argument(
        "--pipeline", default=default, help=f"pipeline folder or short name ({default})"
    )
    sub.add_argument("--seed", type=int, help="seed of the variation (same seed, same audio)")
    sub.add_argument(
        "--guidance",
        type=float,
        help="learned pipelines: emotion guidance scale (1 plain, 0 no emotion, >1 stronger; "
        "default from the pipeline)",
    )
    sub.add_argument(
        "--steps", type=int, help="learned pipelines: denoising steps (default from the pipeline)"
    )


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
