"""The web demo through its API (gradio_client against the in-process server of conftest's
`demo_server`), and its pure parts (emotion controls, limits, pipeline cache) without a server."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emogen.demo.limits import DemoLimits
from emogen.emotion import Emotion, EmotionCurve
from emogen.errors import EmogenError

gradio_client = pytest.importorskip("gradio_client")
AppError = gradio_client.exceptions.AppError

ASSETS = Path(__import__("tempfile").gettempdir()) / "emogen-demo-assets"


@pytest.fixture(scope="module")
def client(demo_server):
    return gradio_client.Client(demo_server.local_url, verbose=False)


def _median_f0(path: str) -> float:
    from emogen.speech.world import WorldVocoder

    audio, rate = soundfile.read(path, dtype="float32")
    f0 = WorldVocoder().analyze(audio, rate).f0
    return float(np.median(f0[f0 > 0]))


def _seconds(info: str) -> float:
    return float(re.search(r"([\d.]+) s\b", info).group(1))


# ----- the API, with real pipelines ---------------------------------------------------------------
def test_api_names_are_stable(demo_server):
    names = {fn.api_name for fn in demo_server.fns.values()}
    assert {"speak", "convert", "talk", "chat", "chat_clear", "avatar", "avatar_clear"} <= names


def test_speak_renders_the_emotion(client):
    happy, plot, info = client.predict(
        "We won the match!", "happy:0.9", "joe-us", 0, api_name="/speak"
    )
    sad, _, sad_info = client.predict(
        "We won the match!", "sad:0.9", "joe-us", 0, api_name="/speak"
    )
    details = soundfile.info(happy)
    assert details.samplerate == 22050
    assert details.duration == pytest.approx(_seconds(info), abs=0.01)
    assert 0.5 < details.duration < 5
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image")
    assert "happy:0.9" in info and "We won the match!" in info
    assert "sad:0.9" in sad_info
    # The renderer's happy profile raises the pitch, its sad one lowers it (Murray & Arnott 1993).
    assert _median_f0(happy) > _median_f0(sad) * 1.1


def test_convert_changes_the_emotion_of_uploaded_speech(client):
    source = ASSETS / "example-speech.wav"
    converted, plot, info = client.predict(
        gradio_client.handle_file(str(source)), "sad:0.8", "neutral", 0, api_name="/convert"
    )
    before, after = soundfile.info(str(source)), soundfile.info(converted)
    assert after.samplerate == before.samplerate == 22050
    assert after.duration == pytest.approx(_seconds(info), abs=0.01)
    assert 0.7 * before.duration < after.duration < 1.6 * before.duration
    assert plot["type"] == "matplotlib"
    assert "neutral" in info and "sad:0.8" in info
    assert _median_f0(converted) < _median_f0(str(source))


def test_talk_speaks_a_text_with_a_portrait(client):
    from emogen.face.video import probe_video

    video, info = client.predict(
        gradio_client.handle_file(str(ASSETS / "astronaut.png")),
        None,
        "Hi there.",
        "happy:0.8",
        128,
        8,
        0,
        api_name="/talk",
    )
    probe = probe_video(video["video"] if isinstance(video, dict) else video)
    assert probe["video_codec"] == "h264" and probe["audio_codec"] == "aac"
    assert max(probe["width"], probe["height"]) == 128
    assert probe["fps"] == pytest.approx(8)
    assert probe["duration"] == pytest.approx(_seconds(info), abs=0.2)


def test_talk_animates_uploaded_audio_along_a_curve(client):
    from emogen.face.video import probe_video

    video, info = client.predict(
        gradio_client.handle_file(str(ASSETS / "grace_hopper.png")),
        gradio_client.handle_file(str(ASSETS / "example-speech.wav")),
        "",
        "calm@0 -> surprised@1.5",
        96,
        5,
        0,
        api_name="/talk",
    )
    probe = probe_video(video["video"] if isinstance(video, dict) else video)
    assert probe["audio_codec"] == "aac" and max(probe["width"], probe["height"]) == 96
    speech = soundfile.info(str(ASSETS / "example-speech.wav")).duration
    assert probe["duration"] == pytest.approx(speech, abs=0.25)
    assert "Curve over seconds" in info


def test_chat_keeps_the_conversation_per_session(demo_server):
    from emogen.dialogue.planner import STRATEGIES

    client = gradio_client.Client(demo_server.local_url, verbose=False)
    messages, turns, plot, audio, cleared = client.predict(
        "My dog died on Sunday and I can't stop crying.",
        "warm",
        False,
        "plan",
        0,
        api_name="/chat",
    )
    assert [m["role"] for m in messages] == ["user", "assistant"]
    reply = messages[1]["content"][0]["text"]
    assert len(reply.split()) > 5 and audio is None and cleared == ""
    rows = [line for line in turns.splitlines() if line.startswith("| 1 ")]
    assert len(rows) == 1 and "sad" in rows[0]
    assert any(f"| {strategy} |" in rows[0] for strategy in STRATEGIES)
    assert plot["type"] == "matplotlib"
    # The second turn continues the same conversation and is spoken with the plan's emotion.
    messages, turns, _, audio, _ = client.predict(
        "I keep looking at his bowl.", "calm", True, "plan", 0, api_name="/chat"
    )
    assert len(messages) == 4 and "| 2 |" in turns
    assert soundfile.info(audio).duration > 1.0
    # Another client is another browser session: a new conversation.
    other = gradio_client.Client(demo_server.local_url, verbose=False)
    messages, *_ = other.predict("Hello!", "neutral", False, "plan", 0, api_name="/chat")
    assert len(messages) == 2
    assert client.predict(api_name="/chat_clear")[0] == []


def test_avatar_answers_with_a_talking_face(client):
    from emogen.face.video import probe_video

    portrait = gradio_client.handle_file(str(ASSETS / "grace_hopper.png"))
    video, info, messages, cleared = client.predict(
        "I failed my driving test again.", portrait, "warm", "plan", 96, 5, 0, api_name="/avatar"
    )
    probe = probe_video(video["video"] if isinstance(video, dict) else video)
    assert probe["video_codec"] == "h264" and probe["audio_codec"] == "aac"
    assert probe["duration"] > 2.0  # a reply of a few sentences
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"][0]["text"] in info and cleared == ""
    assert "the dialogue's plan" in info
    # The next turn continues the conversation, voice and face with the controls' emotion.
    video, info, messages, _ = client.predict(
        "Thanks, that helps.", portrait, "calm", "calm:0.6", 96, 5, 0, api_name="/avatar"
    )
    assert len(messages) == 4 and "calm:0.6" in info.split("voice and face:")[1]
    assert probe_video(video["video"] if isinstance(video, dict) else video)["audio_codec"]


BAD_INPUTS = {
    "empty text": ("/speak", ("   ", "happy", "joe-us", 0), "text is empty"),
    "unknown emotion": ("/speak", ("Hello.", "hapy", "joe-us", 0), "Did you mean"),
    "too long text": ("/speak", ("x" * 301, "happy", "joe-us", 0), "at most 300"),
    "no portrait": ("/talk", (None, None, "Hi.", "happy", 128, 8, 0), "no portrait"),
    "text as portrait": ("/talk", ("TXT", None, "Hi.", "happy", 128, 8, 0), "is not an image"),
    "no speech": ("/talk", ("PORTRAIT", None, "", "happy", 128, 8, 0), "no speech"),
    "no face": ("/talk", ("BLANK", None, "Hi.", "happy", 128, 8, 0), "face"),
    "text as audio": ("/convert", ("TXT", "sad", "auto", 0), "as audio"),
    "no audio": ("/convert", (None, "sad", "auto", 0), "no audio"),
    "empty message": ("/chat", ("", "warm", False, "plan", 0), "message is empty"),
    "plan in speech": ("/speak", ("Hello.", "plan", "joe-us", 0), "not available here"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_message(client, case, tmp_path):
    endpoint, args, message = BAD_INPUTS[case]
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not an image, not audio")
    blank = tmp_path / "wall.png"
    __import__("PIL.Image").Image.new("RGB", (200, 160), (128, 128, 128)).save(blank)
    files = {"TXT": text_file, "PORTRAIT": ASSETS / "astronaut.png", "BLANK": blank}
    args = [gradio_client.handle_file(str(files[a])) if a in files else a for a in args]
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)


def test_oversized_upload_is_refused_and_the_server_keeps_serving(demo_server, client, tmp_path):
    import httpx

    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (demo_server.emogen_limits.max_upload_bytes + 1))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client's check
        client.predict(gradio_client.handle_file(str(big)), "sad", "auto", 0, api_name="/convert")
    # The server refuses it too (a browser gets this message).
    with big.open("rb") as file:
        response = httpx.post(
            demo_server.local_url + "gradio_api/upload", files={"files": ("big.wav", file)}
        )
    assert response.status_code == 413 and "maximum" in response.text.lower()
    messages, *_ = client.predict(
        "Thanks for listening.", "warm", False, "plan", 0, api_name="/chat"
    )
    assert messages[-1]["role"] == "assistant"


# ----- the controls and the plumbing, without a server --------------------------------------------
def test_compose_emotion_follows_the_mode():
    from emogen.demo.controls import compose_emotion

    rows = [[0, "happy", 0.8], [2.0, "sad", None], [None, "", None]]
    args = ("happy", 0.5, 0.3, -0.4, 0.1, "0.6 happy + 0.4 surprised", rows, "seconds", False)
    assert compose_emotion("category", *args) == "happy:0.5"
    assert Emotion.parse(compose_emotion("vad", *args)) == Emotion.from_vad(0.3, -0.4, 0.1, 0.5)
    mixture = Emotion.parse(compose_emotion("mixture", *args))
    assert dict(mixture.mixture) == pytest.approx({"happy": 0.6, "surprised": 0.4})
    assert mixture.intensity == 0.5
    curve = EmotionCurve.parse(compose_emotion("curve", *args))
    assert [k.position for k in curve] == [0, 2] and curve.unit == "seconds"
    assert [k.emotion.intensity for k in curve] == [0.8, 1.0]  # a blank intensity is 1
    smooth = compose_emotion("curve", *args[:7], "sentences", True)
    assert EmotionCurve.parse(smooth).unit == "sentences" and "~>" in smooth
    assert compose_emotion("plan", *args) == "plan"
    # Unparseable input is passed on as written, for the pipeline's parser to name the problem.
    assert compose_emotion("mixture", *args[:5], "0.6 hapy + 0.4 sad", *args[6:]) == (
        "0.6 hapy + 0.4 sad"
    )
    with pytest.raises(EmogenError, match="mode"):
        compose_emotion("loud", *args)


def test_read_emotion_and_preview():
    from emogen.demo.controls import preview, read_emotion

    assert read_emotion("angry:0.5") == Emotion.parse("angry:0.5")
    assert isinstance(read_emotion("happy@#0 -> sad@#1"), EmotionCurve)
    assert read_emotion("Plan", special=("plan",)) == "plan"
    with pytest.raises(EmogenError, match="no emotion given"):
        read_emotion("  ")
    with pytest.raises(EmogenError, match="Chat and Avatar"):
        read_emotion("plan")
    summary, image = preview("sad", ())
    assert "**sad**" in summary and "nearest category *sad*" in summary
    assert image.shape[2] == 3
    summary, _ = preview("hapy", ())
    assert "Cannot use this emotion" in summary and "happy" in summary


def test_plane_clicks_map_to_valence_and_arousal():
    from emogen.demo.controls import plane_click
    from emogen.demo.plots import plane_geometry, plane_with_marker

    geometry = plane_geometry()
    assert plane_click(geometry.left, geometry.top) == (-1.0, 1.0)
    assert plane_click(geometry.right, geometry.bottom) == (1.0, -1.0)
    assert plane_click(*geometry.to_pixel(0.42, -0.3)) == (0.42, -0.3)
    assert plane_click(-50, 10_000) == (-1.0, -1.0)  # outside the square: clipped
    # The marker is painted where the point is (red), and nowhere else changes colour there.
    x, y = (round(c) for c in geometry.to_pixel(0.5, 0.5))
    marked, blank = plane_with_marker([(0.5, 0.5)]), plane_with_marker([])
    assert tuple(marked[y, x]) == (214, 39, 40) and tuple(blank[y, x]) != (214, 39, 40)


def test_demo_limits_are_checked():
    limits = DemoLimits(max_upload_size="2mb")
    assert limits.max_upload_bytes == 2 * 1024**2
    assert limits.concurrency_limit == 2
    for bad in (
        {"max_upload_size": "lots"},
        {"concurrency_limit": 0},
        {"max_fps": 90},
        {"max_audio_seconds": -1},
        {"max_video_size": 4096},
    ):
        with pytest.raises(EmogenError, match="DemoLimits"):
            DemoLimits(**bad)


def test_pipeline_cache_loads_once_under_concurrent_first_use():
    from emogen.demo.models import PipelineCache

    calls = []

    def loader(name, voice):
        calls.append(name)
        time.sleep(0.05)
        return object()

    cache = PipelineCache(loader)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("tts"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["tts"] and len({id(r) for r in results}) == 1
    with cache.use("tts") as pipe:
        assert pipe is results[0]
    assert cache.loaded() == [("tts", None)]


def test_output_files_are_pruned_by_age(tmp_path):
    import os

    from emogen.demo.handlers import OutputFiles

    outputs = OutputFiles(tmp_path, keep_seconds=60)
    old = outputs.new("speech", ".wav")
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 120, time.time() - 120))
    fresh = outputs.new("speech", ".wav")
    fresh.write_bytes(b"x")
    assert fresh.parent == tmp_path and fresh.suffix == ".wav"
    outputs.new("talk", ".mp4")
    assert not old.exists() and fresh.exists()


def test_pitch_and_trajectory_plots_show_their_data():
    from emogen.demo.plots import curve_figure, pitch_figure, trajectory_figure

    times = np.arange(100) * 0.005
    figure = pitch_figure(
        [("neutral", times, np.full(100, 100.0)), ("happy", times, np.zeros(100))]
    )
    (axes,) = figure.axes
    labels = [line.get_label() for line in axes.lines]
    assert labels == ["neutral (mean 100 Hz)", "happy"]  # all unvoiced: no mean
    figure = trajectory_figure(
        [Emotion.parse("sad"), Emotion.parse("angry")], [Emotion.parse("calm"), None]
    )
    lines = {line.get_label(): line for line in figure.axes[0].lines}
    assert list(lines["user valence"].get_xdata()) == [1, 2]
    assert list(lines["agent arousal"].get_xdata()) == [1]
    figure = curve_figure(EmotionCurve.parse("happy@0 -> sad@2"))
    valence = figure.axes[0].lines[0].get_ydata()
    assert valence[0] == pytest.approx(Emotion.parse("happy").vad[0])
    assert valence[-1] == pytest.approx(Emotion.parse("sad").vad[0])
