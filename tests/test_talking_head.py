"""The talking head: the expression rig, the renderer, idle motion, MP4 writing, the pipeline and
`emogen talk`, on the two bundled portraits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

import emogen.face.renderer as renderer_module
from emogen.cli import main
from emogen.emotion import EmotionCurve
from emogen.errors import EmogenError
from emogen.face import FaceError, action_units
from emogen.face.action_units import ACTION_UNITS
from emogen.face.motion import blink_track, frame_loudness, gaze_track, head_track
from emogen.face.renderer import FaceRenderer
from emogen.face.rig import (
    LEFT_EYE_LOWER,
    LEFT_EYE_UPPER,
    LEFT_IRIS,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_UPPER,
    RIGHT_IRIS,
    FaceRig,
    MotionTrack,
)
from emogen.face.video import probe_video, read_video, write_video
from emogen.face.visemes import MOUTH_PARAMETERS
from emogen.pipelines.talking_head import TalkingHeadPipeline
from emogen.speech.voice import PhonemeTiming

JAW, CLOSURE = MOUTH_PARAMETERS.index("jaw_open"), MOUTH_PARAMETERS.index("lip_closure")
RATE = 16000


@pytest.fixture(scope="module")
def rigs(detector, portraits) -> dict:
    return {name: FaceRig(detector.detect_one(image)) for name, image in portraits.items()}


def _expression(rig: FaceRig, emotion: str, intensity: float = 1.0) -> np.ndarray:
    track = MotionTrack.still(1)
    units = action_units(emotion) if emotion != "neutral" else {}
    track.action_units[0] = [units.get(au, 0.0) * intensity for au in ACTION_UNITS]
    return rig.to_uv(rig.points[:478] + rig.displacement(track, 0)[:478])


def _gap(rig: FaceRig, track: MotionTrack, frame: int = 0) -> float:
    return rig.lip_gap(rig.displacement(track, frame))


def test_rig_emotions_move_the_face_as_their_prototypes(rigs):
    rig = rigs["grace_hopper"]
    neutral = _expression(rig, "neutral")
    corners, inner_brows = [61, 291], [107, 336]
    for emotion, points, direction in [
        ("happy", corners, -1),  # lip corners up (v is downwards)
        ("sad", corners, +1),  # lip corners down
        ("surprised", inner_brows, -1),  # brows up
        ("angry", inner_brows, +1),  # brows down
    ]:
        moved = _expression(rig, emotion)[points, 1] - neutral[points, 1]
        assert np.all(direction * moved > 0.02), (emotion, moved)
    # Every pair of the six basic emotions gives a clearly different face.
    faces = {e: _expression(rig, e) for e in ("happy", "sad", "surprised", "afraid", "angry",
                                             "disgusted")}  # fmt: skip
    names = list(faces)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert np.abs(faces[first] - faces[second]).max() > 0.03, (first, second)


def test_rig_scales_with_intensity_and_neutralises_the_portrait(rigs):
    rig = rigs["grace_hopper"]
    neutral = _expression(rig, "neutral")
    half = _expression(rig, "happy", 0.5) - neutral
    full = _expression(rig, "happy", 1.0) - neutral
    assert np.allclose(2 * half[[61, 291]], full[[61, 291]], atol=1e-6)
    # The astronaut smiles in her photograph: at rest the rig pulls her lip corners in and down.
    astronaut = rigs["astronaut"]
    neutral = _expression(astronaut, "neutral")
    rest = neutral - astronaut.uv[:478]
    assert np.all(rest[[61, 291], 1] > 0.02)
    # ... and her smile's arc leaves the lip line: the closed lips meet on a straight line.
    lip_line = neutral[LIPS_UPPER_INNER]
    chord = np.interp(lip_line[:, 0], lip_line[[0, -1], 0], lip_line[[0, -1], 1])
    assert np.abs(lip_line[:, 1] - chord).max() < 0.01


def test_rig_closes_the_mouth_at_rest_and_opens_it_with_the_jaw(rigs):
    for rig in rigs.values():
        track = MotionTrack.still(3)
        track.mouth[1] = [0.9, 0.0, 0.2, 0.0, 0.0]  # an open "a"
        track.action_units[2] = [action_units("sad")[au] for au in ACTION_UNITS]
        assert _gap(rig, track, 0) < 0.005  # lips together, even for the smiling astronaut
        assert _gap(rig, track, 1) > 0.3
        assert _gap(rig, track, 2) < 0.005  # a sad mouth at rest stays closed


def test_rig_blink_brings_the_upper_lid_to_the_lower(rigs):
    rig = rigs["grace_hopper"]
    track = MotionTrack.still(2)
    track.blink[1] = 1.0
    for frame, open_ in ((0, True), (1, False)):
        moved = rig.to_uv(rig.points[:478] + rig.displacement(track, frame)[:478])
        lid_gap = moved[145, 1] - moved[159, 1]  # right eye, middle of the lids
        assert (lid_gap > 0.05) if open_ else (abs(lid_gap) < 0.01), (frame, lid_gap)


def test_rig_lids_close_with_au43_and_follow_the_eyes_down_but_not_the_head(rigs):
    rig = rigs["grace_hopper"]
    columns = list(ACTION_UNITS)

    def lid_gap(unit: int | None, value: float = 1.0) -> float:
        track = MotionTrack.still(1)
        if unit is not None:
            track.action_units[0, columns.index(unit)] = value
        moved = rig.to_uv(rig.points[:478] + rig.displacement(track, 0)[:478])
        return moved[145, 1] - moved[159, 1]

    open_ = lid_gap(None)
    assert abs(lid_gap(43)) < 0.01  # eyes closed
    assert lid_gap(43, 0.5) == pytest.approx(open_ / 2, abs=0.01)
    # The lids follow the gaze down at least as far as AU43 at the same intensity closes them.
    assert lid_gap(64, 0.5) <= lid_gap(43, 0.5) + 1e-6
    assert lid_gap(54) == pytest.approx(open_, abs=0.005)  # the head bows, the eyes stay open


def test_rig_brows_come_down_onto_the_lids_not_through_them(portraits, rigs):
    # Sad and angry lower the brows towards the lids; the warp must not fold the skin between.
    # The eyes' openings and irises are left out: closing lids flatten the triangles between
    # them, and a lowered iris slips under the lower lid.
    eyes = set(RIGHT_EYE_UPPER + RIGHT_EYE_LOWER + LEFT_EYE_UPPER + LEFT_EYE_LOWER)
    eyes |= set(RIGHT_IRIS + LEFT_IRIS)
    for name, rig in rigs.items():
        renderer = FaceRenderer(portraits[name], rig)
        points = renderer.triangles
        inside = np.all(points < 478, axis=1)
        upper_face = np.zeros(len(points), bool)
        upper_face[inside] = np.all(rig.uv[points[inside], 1] < 0.2, axis=1)
        upper_face &= [not set(t.tolist()) <= eyes for t in points]  # the eyes' own openings
        for emotion in ("sad", "angry", "afraid"):
            track = MotionTrack.still(1)
            track.action_units[0] = [action_units(emotion)[au] for au in ACTION_UNITS]
            folded = renderer.turned_over(rig.displacement(track, 0))
            assert not folded[upper_face].any(), (name, emotion, points[folded & upper_face])


def test_motion_track_checks_its_shapes():
    track = MotionTrack.still(4)
    with pytest.raises(EmogenError, match="blink must have shape"):
        MotionTrack(track.action_units, track.mouth, np.zeros(3), track.gaze,
                    track.head_rotation, track.head_shift)  # fmt: skip


def test_renderer_keeps_the_portrait_at_rest_and_the_background_always(portraits, rigs):
    image = portraits["grace_hopper"]
    rig = rigs["grace_hopper"]
    renderer = FaceRenderer(image, rig)
    zero = np.zeros_like(rig.points)
    assert np.abs(renderer.render(zero).astype(int) - image).max() <= 1
    track = MotionTrack.still(1)
    track.mouth[0] = [0.9, 0.0, 0.2, 0.0, 0.0]
    track.action_units[0] = [action_units("surprised")[au] for au in ACTION_UNITS]
    track.head_rotation[0] = [2.0, 3.0, 2.0]
    frame = renderer.render(rig.displacement(track, 0))
    x0, y0, x1, y1 = renderer.box
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame[outside], image[outside])
    # The open mouth shows a painted interior: darker than the closed lips it replaces.
    upper, lower = rig.inner_lips(rig.displacement(track, 0))
    centre = np.round((upper[5] + lower[5]) / 2).astype(int)
    mouth_now = frame[centre[1] - 1 : centre[1] + 2, centre[0] - 3 : centre[0] + 4].mean()
    mouth_before = image[centre[1] - 1 : centre[1] + 2, centre[0] - 3 : centre[0] + 4].mean()
    assert mouth_now < mouth_before - 20
    with pytest.raises(EmogenError, match="displacement must have shape"):
        renderer.render(np.zeros((3, 2)))


def test_idle_motion_follows_arousal_and_is_smooth():
    times = np.arange(0, 120, 1 / 25)
    calm, excited = np.full(len(times), -1.0), np.full(len(times), 1.0)

    def blinks(track: np.ndarray) -> int:
        return int(np.sum((track[1:] >= 0.99) & (track[:-1] < 0.99)))

    assert blinks(blink_track(times, excited)) > 1.5 * blinks(blink_track(times, calm))
    assert 20 <= blinks(blink_track(times, np.zeros(len(times)))) <= 60  # ~20 a minute
    rotation_calm, _ = head_track(times, calm)
    rotation_excited, shift = head_track(times, excited)
    assert rotation_excited.std() > 2 * rotation_calm.std()
    # Smooth at the frame rate: no jitter from frame to frame.
    assert np.abs(np.diff(rotation_excited, axis=0)).max() < 0.5  # degrees per frame
    assert np.abs(np.diff(shift, axis=0)).max() < 0.005
    gaze = gaze_track(times, excited)
    assert 0.005 < np.abs(gaze).max() < 0.2 and len(np.unique(gaze.round(3), axis=0)) > 10
    with pytest.raises(EmogenError, match="same length"):
        head_track(times, calm[:10])


def test_frame_loudness_marks_speech_and_silence():
    audio = np.zeros(RATE * 2, np.float32)
    audio[RATE // 2 : RATE] = 0.3 * np.sin(np.arange(RATE // 2) * 0.2)
    loudness = frame_loudness(audio, RATE, np.arange(50) / 25)
    assert loudness[15:23].min() > 0.9 and loudness[30:].max() < 0.05


def test_video_round_trip_with_audio(tmp_path):
    frames = [np.full((64, 96, 3), 10 * i, np.uint8) for i in range(25)]
    audio = 0.2 * np.sin(np.arange(RATE) * 0.1).astype(np.float32)
    path = write_video(tmp_path / "clip.mp4", iter(frames), 25, audio, RATE, progress=False)
    info = probe_video(path)
    assert (info["video_codec"], info["audio_codec"]) == ("h264", "aac")
    assert (info["width"], info["height"], info["frames"]) == (96, 64, 25)
    assert abs(info["duration"] - 1.0) < 0.1
    back, fps = read_video(path)
    assert fps == 25 and back.shape == (25, 64, 96, 3)
    assert abs(float(back[12].mean()) - 120) < 3


def test_video_failure_leaves_no_file(tmp_path):
    def broken():
        yield np.zeros((64, 64, 3), np.uint8)
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError, match="renderer failed"):
        write_video(tmp_path / "clip.mp4", broken(), 25, progress=False)
    with pytest.raises(EmogenError, match="even frame sides"):
        write_video(tmp_path / "odd.mp4", [np.zeros((63, 64, 3), np.uint8)], 25, progress=False)
    with pytest.raises(EmogenError, match=r"does not end in \.mp4"):
        write_video(tmp_path / "clip.avi", [np.zeros((64, 64, 3), np.uint8)], 25)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def speech(tts_default) -> tuple[np.ndarray, int, list[PhonemeTiming]]:
    (chunk,) = tts_default.stream("Hello, my friend.", emotion="happy", generator=0)
    return chunk.audio, chunk.sample_rate, chunk.alignment


@pytest.fixture(scope="module")
def pipe(detector) -> TalkingHeadPipeline:
    return TalkingHeadPipeline.from_default(detector=detector)


def test_pipeline_end_to_end_mp4(pipe, portraits, speech, tmp_path):
    audio, rate, alignment = speech
    clip = pipe(
        portraits["grace_hopper"], audio, "happy@0 -> sad@1", sample_rate=rate,
        alignment=alignment, size=256,
    )  # fmt: skip
    duration = len(audio) / rate
    assert clip.fps == 25 and abs(len(clip.frames) - duration * 25) <= 1
    first = clip.frames[0]
    assert first.shape == (256, 218, 3)  # the whole portrait (600 x 512), its longer side 256
    # The mouth follows the phoneme timing: it moves while speaking and closes at the end.
    jaw = clip.motion.mouth[:, JAW]
    assert jaw.max() > 0.3 and jaw.std() > 0.08 and jaw[-1] < 0.05
    # Happy lifts the lip corners, then the curve turns sad.
    assert clip.motion.action_units[0, ACTION_UNITS_INDEX[12]] == pytest.approx(1.0)
    assert clip.motion.action_units[-1, ACTION_UNITS_INDEX[15]] > 0.9
    path = clip.save(tmp_path / "talk.mp4", progress=False)
    info = probe_video(path)
    assert (info["video_codec"], info["audio_codec"]) == ("h264", "aac")
    assert abs(info["duration"] - duration) < 0.1 and (info["width"], info["height"]) == (218, 256)


ACTION_UNITS_INDEX = {au: i for i, au in enumerate(ACTION_UNITS)}


def test_pipeline_follows_a_tts_output_and_a_sentence_plan(pipe, portraits, tts_default):
    out = tts_default("I passed! But my friend did not.", emotion="neutral", generator=0)
    starts, alignment = out.sentence_starts[0], out.alignments[0]
    assert len(starts) == 2 and starts[0] == 0 and starts[1] > 0.5
    assert alignment[-1].end <= len(out.audios[0]) / out.sample_rate + 1e-6
    plan = EmotionCurve.from_sentences(["happy", "sad"])
    clip = pipe(
        portraits["astronaut"], out.audios[0], plan, sample_rate=out.sample_rate,
        alignment=alignment, sentence_starts=starts, size=128,
    )  # fmt: skip
    first, last = clip.motion.action_units[0], clip.motion.action_units[-1]
    assert first[ACTION_UNITS_INDEX[12]] > 0.9 and last[ACTION_UNITS_INDEX[15]] > 0.9


def test_pipeline_save_load_round_trip(pipe, portraits, speech, tmp_path):
    audio, rate, alignment = speech
    pipe.save_pretrained(tmp_path / "talking-head")
    loaded = TalkingHeadPipeline.from_pretrained(tmp_path / "talking-head")
    assert loaded.config.fps == pipe.config.fps and loaded.config.size == pipe.config.size
    kwargs = {"sample_rate": rate, "alignment": alignment, "size": 128, "generator": 3}
    first = pipe(portraits["astronaut"], audio, "angry", **kwargs)
    again = loaded(portraits["astronaut"], audio, "angry", **kwargs)
    assert np.array_equal(first.frames[10], again.frames[10])


def test_pipeline_bad_inputs(pipe, portraits, speech, tmp_path):
    audio, rate, alignment = speech
    good = {"sample_rate": rate, "alignment": alignment, "size": 128}
    not_an_image = tmp_path / "portrait.png"
    not_an_image.write_text("not an image")
    with pytest.raises(FaceError):
        pipe(not_an_image, audio, **good)
    with pytest.raises(FaceError, match="no face"):
        pipe(np.full((256, 256, 3), 200, np.uint8), audio, **good)
    with pytest.raises(EmogenError, match="silent"):
        pipe(portraits["grace_hopper"], np.zeros(rate), **good)
    short = TalkingHeadPipeline.from_default(detector=pipe.detector, max_audio_seconds=0.5)
    with pytest.raises(EmogenError, match="long"):
        short(portraits["grace_hopper"], audio, **good)
    with pytest.raises(EmogenError, match="fps"):
        pipe(portraits["grace_hopper"], audio, fps=0, **good)
    with pytest.raises(EmogenError, match="curves over seconds"):
        pipe(portraits["grace_hopper"], audio, "happy@#0 -> sad@#1", **good)
    with pytest.raises(EmogenError, match="mouth='alignment'"):
        pipe(portraits["grace_hopper"], audio, sample_rate=rate, mouth="alignment")
    # Greyscale and RGBA portraits work.
    grey = np.asarray(Image.fromarray(portraits["grace_hopper"]).convert("L"))
    assert pipe(grey, audio, **good).frames[0].shape == (128, 110, 3)


def test_cli_talk(portraits, speech, tmp_path, capsys):
    audio, rate, _ = speech
    import soundfile

    portrait, wav = tmp_path / "grace.png", tmp_path / "speech.wav"
    Image.fromarray(portraits["grace_hopper"]).save(portrait)
    soundfile.write(wav, audio, rate)
    out = tmp_path / "talk.mp4"
    argv = ["talk", str(portrait), str(wav), "--emotion", "surprised", "--out", str(out)]
    assert main([*argv, "--size", "128", "--fps", "20", "--intensity", "0.5"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    info = probe_video(out)
    assert info["fps"] == 20 and (info["width"], info["height"]) == (110, 128)
    assert main([*argv[:-1], str(tmp_path / "talk.avi")]) == 2
    assert "must be an .mp4" in capsys.readouterr().err
    assert main([*argv[:3], "--emotion", "hapy", "--out", str(tmp_path / "x.mp4")]) == 2
    assert main(["talk", str(wav), str(wav), "--out", str(tmp_path / "y.mp4")]) == 2
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "y.mp4").exists()


def test_rig_undoes_a_photographed_smile_to_a_mouth_at_rest(rigs):
    astronaut, grace = rigs["astronaut"], rigs["grace_hopper"]
    assert astronaut.portrait_smile > 0.4 and grace.portrait_smile < 0.2
    neutral = _expression(astronaut, "neutral")
    width = neutral[291, 0] - neutral[61, 0]
    # The corners come down and in.
    assert width < astronaut.uv[291, 0] - astronaut.uv[61, 0] - 0.2
    # How much of the photographed smile a frame shows: all of it in the photograph's pose,
    # none at intensity 0, all of it again when the rig smiles.
    track = MotionTrack.still(2)
    track.action_units[1] = [action_units("happy")[au] for au in ACTION_UNITS]
    assert astronaut.smile_shown(np.zeros_like(astronaut.points)) == pytest.approx(1.0)
    assert astronaut.smile_shown(astronaut.displacement(track, 0)) == pytest.approx(0.0, abs=1e-6)
    assert astronaut.smile_shown(astronaut.displacement(track, 1)) == 1.0


def test_renderer_takes_the_smiles_texture_out_and_closes_the_lips(portraits, rigs):
    rig = rigs["astronaut"]
    renderer = FaceRenderer(portraits["astronaut"], rig)
    assert FaceRenderer(portraits["grace_hopper"], rigs["grace_hopper"])._smile_shading is None
    track = MotionTrack.still(2)
    track.action_units[1] = [action_units("happy")[au] for au in ACTION_UNITS]
    neutral, happy = (renderer.render(rig.displacement(track, i)) for i in (0, 1))
    shading, renderer._smile_shading = renderer._smile_shading, None
    neutral_raw, happy_raw = (renderer.render(rig.displacement(track, i)) for i in (0, 1))
    renderer._smile_shading = shading
    assert np.array_equal(happy, happy_raw)  # a smile keeps its texture

    def folds(frame: np.ndarray) -> float:
        # Shading between skin grain and broad light, from the nose tip to the chin.
        grey = frame.mean(2)
        band = cv2.GaussianBlur(grey, (0, 0), 0.03 * rig.ipd) - cv2.GaussianBlur(
            grey, (0, 0), 0.25 * rig.ipd
        )
        top, bottom = int(rig.points[1, 1]), int(rig.points[152, 1])
        left, right = int(rig.points[234, 0]), int(rig.points[454, 0])
        return float(np.abs(band[top:bottom, left:right]).mean())

    assert folds(neutral) < 0.85 * folds(neutral_raw)
    # The closed lips meet on a line darker than the lips above and below it.
    upper, _ = rig.inner_lips(rig.displacement(track, 0))
    xs, ys = np.round(upper[3:-3]).astype(int).T
    seam = neutral[ys, xs].mean()
    lips = (neutral[ys - 3, xs].mean() + neutral[ys + 3, xs].mean()) / 2
    assert seam < lips - 15


def test_open_mouth_is_painted_from_the_lips_and_rimmed_by_them(portraits, rigs, monkeypatch):
    # The astronaut was photographed with parted lips: her teeth do not pale the lip colour
    # that the cavity, tongue and rim are painted from.
    rig, image = rigs["astronaut"], portraits["astronaut"]
    renderer = FaceRenderer(image, rig)
    outer = np.concatenate([rig.points[LIPS_UPPER_OUTER], rig.points[LIPS_LOWER_OUTER][::-1]])
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(outer).astype(np.int32)], 1)
    with_teeth = image[mask > 0].astype(float).mean(0)
    redness = renderer._lip_colour[0] - renderer._lip_colour[2]
    assert redness > with_teeth[0] - with_teeth[2] + 3
    # An open mouth: the lips' inner surface lightens the opening's edge, not its middle.
    track = MotionTrack.still(1)
    track.mouth[0, MOUTH_PARAMETERS.index("jaw_open")] = 0.6
    track.mouth[0, MOUTH_PARAMETERS.index("lip_closure")] = 0.0
    displacement = rig.displacement(track, 0)
    upper, lower = rig.inner_lips(displacement)
    opening = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(np.concatenate([upper, lower[::-1]])).astype(np.int32)], 1)
    middle = np.round((upper[5] + lower[5]) / 2).astype(int)
    edge = (opening > 0) & (cv2.erode(opening, np.ones((3, 3), np.uint8)) == 0)
    edge[: middle[1]] = False  # the lower lip's side: the upper teeth cover the other
    rimmed = renderer.render(displacement).astype(float)
    monkeypatch.setattr(renderer_module, "_INNER_LIP_RIM", 1e-6)
    bare = renderer.render(displacement).astype(float)
    assert rimmed[edge].mean() > bare[edge].mean() + 5
    assert np.abs(rimmed[middle[1], middle[0]] - bare[middle[1], middle[0]]).max() <= 2
