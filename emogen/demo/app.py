"""The web demo: one Gradio app with a tab per pipeline, all sharing one emotion space.

    python demos/app.py            # or: emogen demo --host 127.0.0.1 --port 7860

Tabs: Speech (TTS), Voice conversion, Talking head, Chat (empathetic dialogue), Avatar (dialogue
+ speech + talking head). Every tab has the same emotion controls (`controls.py`); every button
has a stable `api_name` ("speak", "convert", "talk", "chat", "avatar") for `gradio_client`.
Pipelines load on first use, once per process (`models.PIPELINES`).
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no telemetry calls

import gradio as gr

from ..errors import EmogenError
from .controls import emotion_controls
from .handlers import SAMPLE_TEXT, DemoHandlers, make_workdir, remove_workdir
from .limits import DemoLimits
from .models import BUNDLED_VOICE, PIPELINES, PipelineCache

__all__ = ["build_app", "launch"]

logger = logging.getLogger(__name__)

TITLE = "emogen: one emotion space for speech, faces and dialogue"
# Example assets shared by every app on this machine (made once; the portraits are copies of the
# samples that ship with scikit-image and matplotlib, the wav is the bundled voice).
ASSETS_DIR = Path(tempfile.gettempdir()) / "emogen-demo-assets"
# A conversation kept for a browser session is dropped after this long without a request.
STATE_SECONDS = 3600
SAMPLE_PORTRAIT_NAMES = ("astronaut", "grace_hopper")  # emogen.face.SAMPLE_PORTRAITS
EXAMPLE_SPEECH = "I finally finished the report, and I think it is good."
INTRO = """
# emogen
Emotion-controllable speech, voice conversion, talking heads and empathetic dialogue, offline on
a CPU, all driven by **one emotion space**: categories with an intensity, valence-arousal-dominance
points, mixtures and emotion curves over time. Pick the emotion with the controls in each tab:
the control you touched last decides it, and the box under them shows the exact emotion the
pipeline gets (you can pass that string to the API too).
"""


def _show_errors(handler: Callable) -> Callable:
    """Turn the errors a user can fix (`EmogenError`) into a message in the page."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except EmogenError as error:
            raise gr.Error(str(error)) from None

    return wrapper


def _images_only(image: gr.Image) -> gr.Image:
    """Make an image input refuse a file that is not an image with a message in the page.

    gr.Image decodes uploads before the handler runs, and its error for a non-image (a .txt
    sent through the API) reaches the client only as "Error"; a
    `gr.Error` raised while preprocessing is shown as it is.
    """
    from PIL import UnidentifiedImageError

    preprocess = image.preprocess

    def checked(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError):
            name = getattr(payload, "orig_name", None) or getattr(payload, "path", "the file")
            raise gr.Error(
                f"{Path(str(name)).name!r} is not an image; upload a PNG, JPEG or WebP photo"
            ) from None

    image.preprocess = checked  # an instance attribute: the component's frontend is unchanged
    return image


def example_assets(pipelines: PipelineCache, folder: Path = ASSETS_DIR) -> dict[str, Path]:
    """The example files: the two sample portraits as PNG and a sentence of the bundled voice
    (spoken once by the TTS, then reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    assets = {name: folder / f"{name}.png" for name in SAMPLE_PORTRAIT_NAMES}
    for name, path in assets.items():
        if not path.is_file():  # (emogen.face imports torch: only when a copy is missing)
            from PIL import Image

            from ..face import load_portrait

            partial = path.with_name(f".{path.stem}-{os.getpid()}.png")
            Image.fromarray(load_portrait(name)).save(partial)
            os.replace(partial, path)
    speech = folder / "example-speech.wav"
    if not speech.is_file():
        from ..speech.audio import save_audio

        logger.info("speaking the voice conversion example (once): %r", EXAMPLE_SPEECH)
        with pipelines.use("tts-default") as tts:
            out = tts(EXAMPLE_SPEECH, emotion="neutral", generator=0)
        save_audio(speech, out.audios[0], out.sample_rate)
    assets["speech"] = speech
    return assets


def _voices() -> list[str]:
    from ..speech.voice import list_voices

    try:
        return [voice.name for voice in list_voices()]
    except EmogenError as error:  # a broken $EMOGEN_VOICES_DIR must not stop the demo
        logger.warning("listing voices: %s", error)
        return [BUNDLED_VOICE]


def _personalities() -> list[str]:
    from ..dialogue.planner import PERSONALITIES

    return list(PERSONALITIES)


def _seed(prefix: str) -> gr.Number:
    return gr.Number(0, precision=0, minimum=0, label="Seed", elem_id=f"{prefix}-seed")


def _video_controls(prefix: str, limits: DemoLimits) -> tuple[gr.Slider, gr.Slider]:
    size = gr.Slider(
        64,
        limits.max_video_size,
        value=min(256, limits.max_video_size),
        step=2,
        label="Size (longer side, pixels)",
        elem_id=f"{prefix}-size",
    )
    fps = gr.Slider(
        1,
        limits.max_fps,
        value=min(12, limits.max_fps),
        step=1,
        label="Frames per second",
        elem_id=f"{prefix}-fps",
    )
    return size, fps


def _speech_tab(handlers: DemoHandlers, assets: dict[str, Path]) -> None:
    voices = _voices()
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(
                "We won the match! I still can't believe it.",
                label="Text",
                lines=3,
                max_length=handlers.limits.max_text_characters,
                elem_id="speech-text",
            )
            with gr.Row():
                voice = gr.Dropdown(
                    voices,
                    value=voices[0],
                    label="Voice",
                    interactive=len(voices) > 1,
                    elem_id="speech-voice",
                )
                seed = _seed("speech")
            controls = emotion_controls("speech", units=("sentences", "seconds"), special=("auto",))
            button = gr.Button("Speak", variant="primary", elem_id="speech-button")
        with gr.Column(scale=2):
            audio = gr.Audio(
                label="Emotional speech", type="filepath", interactive=False, elem_id="speech-audio"
            )
            pitch = gr.Plot(label="Pitch contour", elem_id="speech-pitch")
            info = gr.Markdown(label="details", elem_id="speech-info")
    gr.Examples(
        [
            ["We won the match! I still can't believe it.", "category", "happy", 0.9, ""],
            ["The train is late again. Never mind, we have time.", "auto", "happy", 0.8, ""],
            ["Surprise! We got you a cake.", "mixture", "happy", 0.9, "0.6 happy + 0.4 surprised"],
        ],
        [text, controls.mode, controls.category, controls.intensity, controls.mixture],
        api_name="speech_example",
        label="Examples",
    )
    _run(
        button,
        handlers.speak,
        [text, controls.emotion, voice, seed],
        [audio, pitch, info],
        "speak",
        controls,
    )


def _vc_tab(handlers: DemoHandlers, assets: dict[str, Path]) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Audio(
                sources=["upload", "microphone"],
                type="filepath",
                label=f"Speech to convert (at most {handlers.limits.max_audio_seconds:g} s)",
                elem_id="vc-input",
            )
            with gr.Row():
                source_emotion = gr.Textbox(
                    "auto",
                    label="Emotion the input already has",
                    info="'auto' estimates it from the prosody; 'neutral' takes nothing out",
                    elem_id="vc-source-emotion",
                )
                seed = _seed("vc")
            controls = emotion_controls("vc", category="sad", intensity=0.7)
            button = gr.Button("Convert", variant="primary", elem_id="vc-button")
        with gr.Column(scale=2):
            audio = gr.Audio(
                label="Converted speech", type="filepath", interactive=False, elem_id="vc-audio"
            )
            pitch = gr.Plot(label="Pitch contour", elem_id="vc-pitch")
            info = gr.Markdown(label="details", elem_id="vc-info")
    gr.Examples(
        [
            [str(assets["speech"]), "category", "sad", 0.7],
            [str(assets["speech"]), "category", "angry", 0.9],
            [str(assets["speech"]), "category", "happy", 0.8],
        ],
        [source, controls.mode, controls.category, controls.intensity],
        api_name="vc_example",
        label="Examples (a sentence of the bundled voice)",
    )
    _run(
        button,
        handlers.convert,
        [source, controls.emotion, source_emotion, seed],
        [audio, pitch, info],
        "convert",
        controls,
    )


def _talk_tab(handlers: DemoHandlers, assets: dict[str, Path]) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                portrait = _images_only(
                    gr.Image(
                        type="filepath",
                        label="Portrait (one face)",
                        sources=["upload"],
                        elem_id="talk-portrait",
                        height=260,
                    )
                )
                with gr.Column():
                    audio = gr.Audio(
                        sources=["upload", "microphone"],
                        type="filepath",
                        label="Speech (or leave empty and type a text)",
                        elem_id="talk-audio",
                    )
                    text = gr.Textbox(
                        label="...or speak this text (TTS)",
                        placeholder=SAMPLE_TEXT,
                        lines=2,
                        elem_id="talk-text",
                    )
            with gr.Row():
                size, fps = _video_controls("talk", handlers.limits)
                seed = _seed("talk")
            controls = emotion_controls("talk")
            button = gr.Button("Animate", variant="primary", elem_id="talk-button")
        with gr.Column(scale=2):
            video = gr.Video(label="Talking head", interactive=False, elem_id="talk-video")
            info = gr.Markdown(label="details", elem_id="talk-info")
    gr.Examples(
        [
            [str(assets["astronaut"]), SAMPLE_TEXT, "category", "happy", 0.9],
            [
                str(assets["grace_hopper"]),
                "I am afraid the results are not what we hoped.",
                "category",
                "sad",
                0.8,
            ],
            [
                str(assets["astronaut"]),
                "First the good news. Then the bad news.",
                "curve",
                "happy",
                0.8,
            ],
        ],
        [portrait, text, controls.mode, controls.category, controls.intensity],
        api_name="talk_example",
        label="Examples (sample portraits of scikit-image and matplotlib)",
    )
    _run(
        button,
        handlers.talk,
        [portrait, audio, text, controls.emotion, size, fps, seed],
        [video, info],
        "talk",
        controls,
    )


def _chat_tab(handlers: DemoHandlers, assets: dict[str, Path]) -> None:
    from ..dialogue.conversation import Conversation

    conversation = gr.State(Conversation(), time_to_live=STATE_SECONDS)
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Conversation", height=360, elem_id="chat-bot")
            message = gr.Textbox(
                label="Your message",
                placeholder="How are you feeling?",
                max_length=handlers.limits.max_text_characters,
                elem_id="chat-message",
            )
            with gr.Row():
                personality = gr.Dropdown(
                    _personalities(), value="warm", label="Personality", elem_id="chat-personality"
                )
                speak = gr.Checkbox(False, label="Speak the replies", elem_id="chat-speak")
                seed = _seed("chat")
            with gr.Row():
                button = gr.Button("Send", variant="primary", elem_id="chat-button")
                clear = gr.Button("New conversation", elem_id="chat-clear")
            with gr.Accordion("Voice of the spoken replies", open=False):
                controls = emotion_controls(
                    "chat", units=("sentences", "seconds"), special=("plan",), default_mode="plan"
                )
        with gr.Column(scale=2):
            reply_audio = gr.Audio(
                label="Spoken reply", type="filepath", interactive=False, elem_id="chat-audio"
            )
            trajectory = gr.Plot(label="Emotion trajectory", elem_id="chat-trajectory")
            turns = gr.Markdown(label="turns", elem_id="chat-turns")
    gr.Examples(
        [
            ["My dog died on Sunday and I can't stop crying.", "warm"],
            ["I got the job!! I start on Monday!", "cheerful"],
            ["My exam is tomorrow and I haven't slept.", "calm"],
        ],
        [message, personality],
        api_name="chat_example",
        label="Examples",
    )
    outputs = [chatbot, turns, trajectory, reply_audio, conversation, message]
    inputs = [message, personality, speak, controls.emotion, seed, conversation]
    _run(button, handlers.chat, inputs, outputs, "chat", controls, submit=message)
    clear.click(
        handlers.new_conversation,
        None,
        [chatbot, turns, trajectory, reply_audio, conversation],
        api_name="chat_clear",
        queue=False,
    )


def _avatar_tab(handlers: DemoHandlers, assets: dict[str, Path]) -> None:
    from ..dialogue.conversation import Conversation

    conversation = gr.State(Conversation(), time_to_live=STATE_SECONDS)
    with gr.Row():
        with gr.Column(scale=3):
            message = gr.Textbox(
                label="Your message",
                placeholder="Tell the avatar something",
                max_length=handlers.limits.max_text_characters,
                elem_id="avatar-message",
            )
            with gr.Row():
                portrait = _images_only(
                    gr.Image(
                        str(assets["grace_hopper"]),
                        type="filepath",
                        label="Avatar's portrait",
                        sources=["upload"],
                        elem_id="avatar-portrait",
                        height=220,
                    )
                )
                with gr.Column():
                    personality = gr.Dropdown(
                        _personalities(),
                        value="warm",
                        label="Personality",
                        elem_id="avatar-personality",
                    )
                    size, fps = _video_controls("avatar", handlers.limits)
                    seed = _seed("avatar")
            with gr.Accordion("Emotion of voice and face", open=False):
                controls = emotion_controls(
                    "avatar", units=("sentences", "seconds"), special=("plan",), default_mode="plan"
                )
            with gr.Row():
                button = gr.Button("Send", variant="primary", elem_id="avatar-button")
                clear = gr.Button("New conversation", elem_id="avatar-clear")
        with gr.Column(scale=2):
            video = gr.Video(label="The avatar's answer", interactive=False, elem_id="avatar-video")
            info = gr.Markdown(label="reply", elem_id="avatar-info")
            chatbot = gr.Chatbot(label="Conversation", height=240, elem_id="avatar-bot")
    gr.Examples(
        [
            ["I failed my driving test again.", str(assets["grace_hopper"]), "warm"],
            ["We are having a baby!", str(assets["astronaut"]), "cheerful"],
        ],
        [message, portrait, personality],
        api_name="avatar_example",
        label="Examples",
    )
    inputs = [message, portrait, personality, controls.emotion, size, fps, seed, conversation]
    outputs = [video, info, chatbot, conversation, message]
    _run(button, handlers.avatar, inputs, outputs, "avatar", controls, submit=message)
    clear.click(
        lambda: ([], "", None, Conversation()),
        None,
        [chatbot, info, video, conversation],
        api_name="avatar_clear",
        queue=False,
    )


def _run(
    button: gr.Button,
    handler: Callable,
    inputs: list,
    outputs: list,
    api_name: str,
    controls: Any,
    submit: gr.Textbox | None = None,
) -> None:
    # The click first writes the controls' emotion string (so a control changed just before the
    # click counts), then runs the handler, the endpoint API clients call by `api_name`.
    from .controls import compose_emotion

    triggers = [button.click] + ([submit.submit] if submit is not None else [])
    gr.on(
        triggers,
        compose_emotion,
        controls.inputs,
        controls.emotion,
        api_name=f"{api_name}_emotion",
        api_visibility="undocumented",
        queue=False,
    ).then(_show_errors(handler), inputs, outputs, api_name=api_name)


def build_app(
    limits: DemoLimits | None = None, pipelines: PipelineCache | None = None
) -> gr.Blocks:
    """The demo app, queued with the limits' concurrency (not launched).

    Args:
        limits: the demo's limits (default `DemoLimits()`); pass the same to `launch` or
            `Blocks.launch(max_file_size=limits.max_upload_size)` for the upload limit.
        pipelines: where pipelines are loaded and kept (default: one cache per process).

    Returns:
        The `gr.Blocks`; `app.emogen_limits` holds the limits.
    """
    limits = limits or DemoLimits()
    pipelines = pipelines or PIPELINES
    workdir = make_workdir()
    handlers = DemoHandlers(limits, pipelines, workdir)
    assets = example_assets(pipelines)
    # Gradio's cache of served files: every 15 minutes, delete those older than an hour.
    with gr.Blocks(title=TITLE, delete_cache=(900, 3600)) as app:
        gr.Markdown(INTRO)
        with gr.Tabs(elem_id="tabs"):
            for name, build in (
                ("Speech", _speech_tab),
                ("Voice conversion", _vc_tab),
                ("Talking head", _talk_tab),
                ("Chat", _chat_tab),
                ("Avatar", _avatar_tab),
            ):
                tab_id = name.lower().replace(" ", "-")
                with gr.Tab(name, id=tab_id, elem_id=f"tab-{tab_id}"):
                    build(handlers, assets)
        gr.Markdown(
            f"Limits: text {limits.max_text_characters} characters, audio "
            f"{limits.max_audio_seconds:g} s, uploads {limits.max_upload_size}, portraits "
            f"{limits.max_portrait_pixels:,} pixels; {limits.concurrency_limit} requests at "
            "once. Everything runs on this machine; nothing is sent anywhere."
        )
    app.queue(default_concurrency_limit=limits.concurrency_limit, max_size=limits.max_queue_size)
    app.emogen_limits = limits
    weakref.finalize(app, remove_workdir, workdir)
    return app


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    limits: DemoLimits | None = None,
    **launch_kwargs: Any,
) -> gr.Blocks:
    """Build the app and serve it (blocking, unless `prevent_thread_lock=True` is passed).

    Args:
        host: the address to listen on ("0.0.0.0" for every interface).
        port: the port.
        limits: the demo's limits (also sets the upload limit, `max_file_size`).
        **launch_kwargs: passed to `gr.Blocks.launch` (e.g. `prevent_thread_lock`, `share`).

    Returns:
        The running `gr.Blocks` (`.local_url`; `.close()` stops it).
    """
    limits = limits or DemoLimits()
    app = build_app(limits)
    launch_kwargs.setdefault("max_file_size", limits.max_upload_size)
    launch_kwargs.setdefault("ssr_mode", False)
    launch_kwargs.setdefault("footer_links", ["api", "settings"])
    app.launch(server_name=host, server_port=port, **launch_kwargs)
    return app
