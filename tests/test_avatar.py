"""AvatarPipeline: dialogue -> speech -> talking head on one emotion plan; `emogen avatar`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emogen.cli import main
from emogen.dialogue import Conversation
from emogen.face import FaceError
from emogen.face.action_units import action_unit_track
from emogen.face.video import probe_video
from emogen.pipelines import AvatarPipeline, load_pipeline

MESSAGE = "My best friend is moving away next week."


@pytest.fixture(scope="module")
def avatar() -> AvatarPipeline:
    return load_pipeline(
        "avatar"
    )  # the shipped folder: links to dialogue, tts-default, talking-head


@pytest.fixture(scope="module")
def answer(avatar: AvatarPipeline):
    conversation = Conversation()
    out = avatar(MESSAGE, portrait="grace_hopper", conversation=conversation, size=128, fps=10)
    return out, conversation


def test_voice_and_face_follow_the_reply_plan(answer) -> None:
    out, conversation = answer
    turn = out.turn
    assert out.text == turn.text and turn.text
    # the voice: one chunk per planned sentence, each with the plan's emotion for it
    assert out.speech.sentences[0] == turn.sentences
    assert out.speech.emotions[0] == turn.plan.for_sentences(len(turn.sentences))
    # the face: the same plan on the speech's clock
    starts = out.speech.sentence_starts[0]
    times = np.arange(len(out.video.frames)) / out.video.fps
    expected = action_unit_track(turn.plan.timed(starts), times)
    np.testing.assert_allclose(out.video.motion.action_units, expected, atol=1e-6)
    assert out.video.motion.action_units.max() > 0.1  # the reply's emotion shows on the face
    # the lips move while speaking (phoneme timing from the TTS) and the audio is the reply's
    assert out.video.motion.mouth[:, 0].max() > 0.2
    np.testing.assert_array_equal(out.video.audio, out.audio)
    assert len(out.video.frames) == pytest.approx(len(out.audio) / out.sample_rate * 10, abs=1)
    assert [m.role for m in conversation] == ["user", "assistant"]
    assert conversation.last("assistant").text == turn.text


def test_save_writes_an_mp4_with_both_streams(answer, tmp_path) -> None:
    out, _ = answer
    path = out.save(tmp_path / "avatar.mp4", progress=False)
    info = probe_video(path)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert info["width"] <= 128 and info["height"] <= 128
    assert info["duration"] == pytest.approx(len(out.audio) / out.sample_rate, abs=0.15)


def test_bad_portrait_fails_before_any_work(avatar: AvatarPipeline, tmp_path) -> None:
    text = tmp_path / "portrait.png"
    text.write_text("not an image")
    conversation = Conversation()
    with pytest.raises(FaceError, match="image"):
        avatar(MESSAGE, portrait=text, conversation=conversation)
    assert len(conversation) == 0  # the dialogue never ran


def test_save_load_round_trip(avatar: AvatarPipeline, tmp_path) -> None:
    avatar.save_pretrained(tmp_path / "avatar")
    loaded = AvatarPipeline.from_pretrained(tmp_path / "avatar")
    assert type(loaded.dialogue) is type(avatar.dialogue)
    assert type(loaded.tts) is type(avatar.tts)
    assert type(loaded.talking_head) is type(avatar.talking_head)
    assert loaded.config.portrait == "astronaut"
    assert loaded.talking_head.motion_model is not None


def test_cli_avatar_json(tmp_path, capsys) -> None:
    out = tmp_path / "answer.mp4"
    history = tmp_path / "history.json"
    argv = ["avatar", "I passed my exam!", "--out", str(out), "--size", "96", "--fps", "8"]
    code = main([*argv, "--json", "--seed", "1", "--save-history", str(history)])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["text"] and data["video"] == str(out)
    assert data["user_emotion"]["valence"] > 0  # good news
    assert probe_video(out)["audio_codec"] == "aac"
    assert len(Conversation.load(history)) == 2


def test_cli_avatar_refuses_bad_input(tmp_path, capsys) -> None:
    assert main(["avatar", "hello", "--out", str(tmp_path / "a.gif")]) == 2
    assert "--out must be an .mp4" in capsys.readouterr().err
    assert main(["avatar", "   ", "--out", str(tmp_path / "a.mp4")]) == 2
    assert "empty" in capsys.readouterr().err
    assert not (tmp_path / "a.mp4").exists()


def test_an_emotion_replaces_the_plan_for_voice_and_face(avatar: AvatarPipeline) -> None:
    out = avatar(MESSAGE, portrait="grace_hopper", emotion="calm:0.6", size=96, fps=5)
    assert {e.label() for e in out.speech.emotions[0]} == {"calm:0.6"}
    times = np.arange(len(out.video.frames)) / out.video.fps
    np.testing.assert_allclose(
        out.video.motion.action_units, action_unit_track("calm:0.6", times), atol=1e-6
    )
    assert out.turn.plan.keyframes[0].emotion.category != "calm"  # the plan itself was not
