"""Face evaluation (emogen.eval.face): fer's expression classifier on the bundled portraits,
mouth opening, the loudness envelope and lip-sync correlation, background SSIM."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

# The portraits and the landmark detector of the landmark tests, shared rather than rebuilt
# (fixtures named as test arguments, which ruff's F811 takes for redefinitions).
from emogen.errors import EmogenError
from emogen.eval.face import (
    EXPRESSION_LABELS,
    MOUTH_CLOSED,
    ExpressionClassifier,
    _import_keras,
    background_ssim,
    expression_face_box,
    expression_model_path,
    face_region_mask,
    lip_sync_correlation,
    loudness_envelope,
    mouth_opening,
    silent_frames,
)
from emogen.face import FaceLandmarks


@pytest.fixture(scope="module")
def faces(detector, portraits):
    return {name: detector.detect_one(image) for name, image in portraits.items()}


@pytest.fixture(scope="module")
def classifier():
    return ExpressionClassifier()


def open_mouth(image: np.ndarray, face: FaceLandmarks, gap: float) -> np.ndarray:
    """The portrait with its jaw dropped: everything below the lip line moved down by `gap`
    inter-ocular distances, a dark mouth interior between the mouth corners."""
    points = face.points
    line = round(float(points[13, 1] + points[14, 1]) / 2)
    shift = round(gap * float(np.linalg.norm(points[33, :2] - points[263, :2])))
    out = image.copy()
    out[line + shift :] = image[line : len(image) - shift]
    out[line : line + shift] = image[line]
    out[line : line + shift, int(points[61, 0]) : int(points[291, 0])] = (40, 20, 20)
    return out


# ---------------------------------------------------------------------------- expression


def test_expressions_of_the_bundled_portraits(classifier, portraits, faces):
    assert expression_model_path().name == "emotion_model.hdf5"
    assert classifier.input_size == (64, 64)
    smile = classifier.predict(portraits["astronaut"], faces["astronaut"])
    assert list(smile) == list(EXPRESSION_LABELS)
    assert sum(smile.values()) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= p <= 1.0 for p in smile.values())
    # She smiles, with teeth: happy, near certain (0.998 measured).
    assert max(smile, key=smile.get) == "happy" and smile["happy"] > 0.95
    # Grace Hopper's closed-mouth official portrait: neutral (0.976), a trace of sad and angry.
    calm = classifier.predict(portraits["grace_hopper"], faces["grace_hopper"])
    assert max(calm, key=calm.get) == "neutral" and calm["neutral"] > 0.8
    assert calm["happy"] < 0.05


def test_landmark_box_is_where_fers_haar_cascade_puts_it(faces):
    # fer's own detector (haarcascade_frontalface_default, fer's settings) finds these boxes.
    assert expression_face_box(faces["astronaut"]) == pytest.approx((177, 66, 95, 95), abs=3)
    assert expression_face_box(faces["grace_hopper"]) == pytest.approx((155, 105, 222, 222), abs=3)
    # A detector's box is made square as fer does: the shorter side grows about the centre.
    assert expression_face_box((10, 20, 50, 80)) == (0, 20, 60, 60)
    assert expression_face_box(np.array([10.0, 20.0, 70.0, 40.0])) == (10, 0, 60, 60)


def test_mirrored_face_batch_and_box_give_the_same_reading(classifier, detector, portraits, faces):
    images = [portraits["astronaut"], portraits["grace_hopper"]]
    mirrored = [image[:, ::-1] for image in images]
    batch = classifier.predict_batch(
        images + mirrored,
        [faces["astronaut"], faces["grace_hopper"], *(detector.detect_one(m) for m in mirrored)],
    )
    assert batch.shape == (4, 7) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[:2], batch[2:], atol=0.02)  # 0.007 at most, measured
    single = classifier.predict(images[1], faces["grace_hopper"])
    np.testing.assert_allclose(batch[1], list(single.values()), atol=1e-5)
    # A box instead of landmarks: the astronaut's landmark box still reads happy.
    boxed = classifier.predict(images[0], faces["astronaut"].box)
    assert max(boxed, key=boxed.get) == "happy"
    # A face at the image's edge is padded as fer pads it, not cut short.
    assert classifier.crop(images[0], (-30, -30, 40, 40)).shape == (64, 64)


def test_classifier_errors(classifier, portraits, faces, monkeypatch):
    image = portraits["astronaut"]
    with pytest.raises(EmogenError, match="2 images but 1 faces"):
        classifier.predict_batch([image, image], [faces["astronaut"]])
    with pytest.raises(EmogenError, match="use predict for one image"):
        classifier.predict_batch(image, [faces["astronaut"]])
    with pytest.raises(EmogenError, match="no images"):
        classifier.predict_batch([], [])
    with pytest.raises(EmogenError, match="4 finite numbers"):
        classifier.predict(image, (1, 2, 3))
    with pytest.raises(EmogenError, match="has no area"):
        classifier.predict(image, (50, 50, 50, 80))
    with pytest.raises(EmogenError, match="image must be an RGB array"):
        classifier.predict("portrait.png", faces["astronaut"])
    with pytest.raises(EmogenError, match="offset must be"):
        ExpressionClassifier(offset=-1)
    with pytest.raises(EmogenError, match="no expression model file"):
        ExpressionClassifier(model_path="missing.hdf5")
    # keras on another backend cannot run it: said, not failed on deep inside keras.
    other = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setitem(sys.modules, "keras", other)
    with pytest.raises(EmogenError, match="already imported with the 'jax' backend"):
        _import_keras()
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(EmogenError, match="KERAS_BACKEND is 'tensorflow'"):
        _import_keras()


# ---------------------------------------------------------------------------- lip sync


def test_mouth_opening_grows_as_the_jaw_drops(detector, portraits, faces):
    # Grace Hopper's lips are closed; the astronaut's smile parts them over her teeth.
    assert mouth_opening(faces["grace_hopper"]) < MOUTH_CLOSED
    assert mouth_opening(faces["astronaut"]) > MOUTH_CLOSED
    image, face = portraits["grace_hopper"], faces["grace_hopper"]
    openings = [mouth_opening(detector.detect_one(open_mouth(image, face, g))) for g in (0.1, 0.3)]
    assert MOUTH_CLOSED < openings[0] < openings[1]  # 0.12, 0.24 measured
    # Independent of the image's scale: the same face at half size reads the same.
    half = detector.detect_one(image[::2, ::2].copy())
    assert mouth_opening(half) == pytest.approx(mouth_opening(face), abs=0.01)
    with pytest.raises(EmogenError, match="takes FaceLandmarks"):
        mouth_opening(face.points)
    with pytest.raises(EmogenError, match="468 or 478 points"):
        mouth_opening(FaceLandmarks(face.points[:100]))


def test_loudness_envelope_finds_the_tone_between_silences():
    rate, fps = 16000, 25
    time = np.arange(rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * time)
    audio = np.concatenate([np.zeros(rate), tone, np.zeros(rate)]).astype(np.float32)
    envelope = loudness_envelope(audio, rate, fps)
    assert envelope.shape == (75,) and envelope.max() == 0.0 and envelope.min() == -60.0
    np.testing.assert_allclose(envelope[26:49], 0.0, atol=0.1)  # the tone, at full level
    assert (envelope[:24] == -60.0).all() and (envelope[52:] == -60.0).all()
    assert envelope[25] == pytest.approx(-3.0, abs=0.2)  # a window half in the tone
    silent = silent_frames(envelope, fps)
    assert silent[:24].all() and silent[52:].all() and not silent[25:50].any()
    # int16 audio, a set frame count (the video's), a file-like rate mismatch is not guessed.
    pcm = (audio * 32767).astype(np.int16)
    assert loudness_envelope(pcm, rate, fps, num_frames=80).shape == (80,)
    # A short dip inside speech is not a pause.
    dip = np.zeros(20)
    dip[8:11] = -50.0
    assert not silent_frames(dip, fps, min_duration_s=0.2).any()
    assert silent_frames(dip, fps, min_duration_s=0.1)[8:11].all()


def test_lip_sync_correlation():
    rng = np.random.default_rng(0)
    loudness = rng.normal(size=500)
    assert lip_sync_correlation(2.0 * loudness + 1.0, loudness) == pytest.approx(1.0)
    assert lip_sync_correlation(-loudness, loudness) == pytest.approx(-1.0)
    assert lip_sync_correlation(loudness + rng.normal(size=500), loudness) > 0.6  # r ~ 0.71
    assert abs(lip_sync_correlation(rng.normal(size=500), loudness)) < 0.1
    assert lip_sync_correlation(np.full(500, 0.02), loudness) == 0.0  # a mouth that never moves


def test_lip_sync_errors():
    with pytest.raises(EmogenError, match="3 mouth openings but 4 envelope frames"):
        lip_sync_correlation(np.zeros(3), np.zeros(4))
    with pytest.raises(EmogenError, match="at least 2 frames"):
        lip_sync_correlation([0.1], [0.0])
    with pytest.raises(EmogenError, match="non-finite"):
        lip_sync_correlation([0.1, np.nan], [0.0, 1.0])
    with pytest.raises(EmogenError, match="must be 1-D"):
        silent_frames(np.zeros((2, 2)), 25)
    with pytest.raises(EmogenError, match="fps must be"):
        loudness_envelope(np.ones(100), 16000, 0)
    with pytest.raises(EmogenError, match="silent"):
        loudness_envelope(np.zeros(16000), 16000, 25)
    with pytest.raises(EmogenError, match="num_frames must be"):
        loudness_envelope(np.ones(1600), 16000, 25, num_frames=0)


# ------------------------------------------------------------------ identity and background


def test_background_ssim_sees_the_background_not_the_face(portraits, faces):
    image, face = portraits["astronaut"], faces["astronaut"]
    assert background_ssim(image, image, face) == pytest.approx(1.0)
    mask = face_region_mask(image.shape, face)
    assert 0.03 < mask.mean() < 0.15  # a 100-pixel face in a 512 x 512 picture, with margin
    x0, y0, x1, y1 = (round(v) for v in face.box)
    assert mask[y0:y1, x0:x1].all() and not mask[:, : x0 - 40].any()
    # Everything inside the landmarks' hull changed (an inverted face): the score stays 1.
    changed = image.copy()
    hull = face_region_mask(image.shape, face, margin=0.0)
    changed[hull] = 255 - changed[hull]
    assert background_ssim(image, changed, face) == pytest.approx(1.0)
    assert background_ssim(image, changed, face, margin=0.0) < 0.999  # windows over the edge
    # Noise over the background: the score drops well below the benchmark's 0.95.
    noisy = image.astype(np.int16) + np.random.default_rng(0).normal(0, 25, image.shape)
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    noisy[mask] = image[mask]
    assert background_ssim(image, noisy, face) < 0.7


def test_background_ssim_errors(portraits, faces):
    image, face = portraits["astronaut"], faces["astronaut"]
    with pytest.raises(EmogenError, match="compare images of the same size"):
        background_ssim(image, image[:-1], face)
    with pytest.raises(EmogenError, match="margin must be"):
        background_ssim(image, image, face, margin=-0.1)
    with pytest.raises(EmogenError, match="non-empty list of them"):
        background_ssim(image, image, [])
    with pytest.raises(EmogenError, match="covers the whole image"):
        background_ssim(image, image, face, margin=9.0)
