"""Face landmarks (emogen.face.landmarks): MediaPipe's FaceLandmarker on the two bundled
portraits, and portrait loading with its bad inputs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from emogen.face import (
    NUM_LANDMARKS,
    FaceError,
    FaceLandmarkDetector,
    default_model_path,
    load_portrait,
)

# Face-mesh indices (MediaPipe's canonical face model): nose tip, upper and lower inner lip,
# the outer eye corners.
NOSE, UPPER_LIP, LOWER_LIP, RIGHT_EYE, LEFT_EYE = 1, 13, 14, 33, 263


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_landmarks_of_the_bundled_portraits(detector, portraits, name):
    image = portraits[name]
    face = detector.detect_one(image)
    assert face.points.shape == (NUM_LANDMARKS, 3) and face.points.dtype == np.float32
    assert face.image_size == image.shape[:2] and len(face.blendshapes) == 52
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
    assert face.size > 90  # both faces are ~100-200 pixels across
    p = face.points
    # The geometry of a face: eyes above the nose above the mouth, the eyes either side.
    assert max(p[RIGHT_EYE, 1], p[LEFT_EYE, 1]) < p[NOSE, 1] < p[UPPER_LIP, 1] <= p[LOWER_LIP, 1]
    assert p[RIGHT_EYE, 0] < p[NOSE, 0] < p[LEFT_EYE, 0]


def test_blendshapes_read_the_expression(detector, portraits):
    smile = detector.detect_one(portraits["astronaut"]).blendshapes
    assert smile["mouthSmileLeft"] > 0.5 and smile["mouthSmileRight"] > 0.5  # she smiles
    assert detector.detect_one(portraits["grace_hopper"]).blendshapes["mouthSmileLeft"] < 0.5


def test_no_face_several_faces_and_small_faces(detector, portraits, caplog):
    with pytest.raises(FaceError, match="no face found"):
        detector.detect_one(np.full((256, 256, 3), 200, np.uint8))
    # The portrait beside a copy at 3/4 size: the larger face is animated, with a warning.
    big = portraits["grace_hopper"]
    small = np.asarray(Image.fromarray(big).resize((384, 450)))
    canvas = np.full((big.shape[0], big.shape[1] + small.shape[1], 3), 255, np.uint8)
    canvas[:, : big.shape[1]] = big
    canvas[: small.shape[0], big.shape[1] :] = small
    faces = detector.detect(canvas)
    assert len(faces) == 2 and faces[1].size == pytest.approx(0.75 * faces[0].size, rel=0.1)
    assert faces[0].box[2] <= big.shape[1] < faces[1].box[0]
    with caplog.at_level(logging.WARNING):
        assert detector.detect_one(canvas).size == faces[0].size
    assert "2 faces found" in caplog.text
    strict = FaceLandmarkDetector(min_face_size=300)
    with pytest.raises(FaceError, match="pixels across; at least 300"):
        strict.detect_one(big)


def test_portraits_load_from_every_form(tmp_path, portraits):
    rgb = portraits["astronaut"]
    grey = load_portrait(rgb.mean(axis=2).astype(np.uint8))
    assert grey.shape == rgb.shape and np.array_equal(grey[..., 0], grey[..., 2])
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])  # fully transparent: white
    assert (load_portrait(rgba) == 255).all()
    assert load_portrait(rgb.astype(np.float32) / 255.0).dtype == np.uint8
    # EXIF orientation 6 (rotate 90 degrees clockwise to view): width and height swap.
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb[:, :300]).save(path, exif=exif)
    assert load_portrait(path).shape == (300, 512, 3)
    # A huge image is downscaled to max_size on its larger side.
    huge = Image.fromarray(rgb).resize((3000, 1500))
    assert load_portrait(huge, max_size=2048).shape == (1024, 2048, 3)
    # PNG with alpha, through a path.
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    assert load_portrait(tmp_path / "alpha.png").shape == rgb.shape


def test_bad_portraits_are_clear_errors(tmp_path):
    with pytest.raises(FaceError, match="no image file at"):
        load_portrait(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(FaceError, match="is not an image PIL can read"):
        load_portrait(tmp_path / "notes.txt")
    with pytest.raises(FaceError, match=r"\(H, W\), \(H, W, 3\) or \(H, W, 4\)"):
        load_portrait(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(FaceError, match="uint8 or float"):
        load_portrait(np.zeros((4, 4, 3), np.int64))
    with pytest.raises(FaceError, match="a portrait is an image path"):
        load_portrait(42)
    with pytest.raises(FaceError, match="max_faces must be in"):
        FaceLandmarkDetector(max_faces=0)


def test_detector_config_round_trip_and_model_file(tmp_path):
    assert default_model_path().name == "face_landmarker.task"
    FaceLandmarkDetector(max_faces=2, min_face_size=80).save_pretrained(tmp_path)
    loaded = FaceLandmarkDetector.from_pretrained(tmp_path)
    assert loaded.config.max_faces == 2 and loaded.config.min_face_size == 80


def test_sample_portraits_ship_offline(tmp_path, monkeypatch):
    import skimage.data

    assert np.array_equal(load_portrait("astronaut"), skimage.data.astronaut())
    assert load_portrait("grace_hopper").shape == (600, 512, 3)
    # A file of that name in the working folder wins over the sample.
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "astronaut", format="PNG")
    assert load_portrait("astronaut").shape == (8, 8, 3)
    with pytest.raises(FaceError, match="no image file"):
        load_portrait("einstein")
