"""The expression rig: action units, visemes, blinks, gaze and head pose as displacements of the
portrait's face mesh (MediaPipe's 478 points).

Geometry works in a face frame: origin between the pupils, u towards the subject's left eye
(image right), v downwards, one unit = the inter-pupil distance (IPD). Each action unit moves
handle landmarks (brows, lids, cheeks, lip corners, nose wings) by a vector at intensity 1, and
the rest of the mesh follows with a Gaussian falloff, as in the region-based muscle models of
facial animation (Waters 1987, "A muscle model for animating three-dimensional facial
expression"). The directions follow the FACS appearance changes (Ekman, Friesen & Hager 2002,
"FACS Manual"); the sizes are emogen's: a local random search over them maximised the
probability that fer's expression classifier (FER-2013) gives the intended class on the two
sample portraits (benchmarks/talking_head/tune_rig.py), within caps that keep the face from
folding or caricature (lip corners pulled out by at most 0.25 IPD). So the expression benchmark
measures the rig on the portraits it was tuned on (benchmarks/talking_head/RESULTS.md). At full
intensity AU12 pulls the lip corners up by 0.26 IPD and out by 0.25, a broad grin. Sad's sizes
(the 1+4 brows, AU15, AU54, AU64) come from a later search on spoken clips
(benchmarks/talking_head/tune_sad.py), made once the brows came down onto the upper lids and no
longer through them (`FaceRig._skin_kept_above_lids`).

The mouth is absolute, not relative: the lower inner lip is placed at the upper inner lip plus
a target gap, so a portrait photographed with an open mouth still closes it for the rest viseme
and for bilabials. The portrait's own expression is read from MediaPipe's blendshapes and taken
out (an AU it already shows is the rig's starting point; a smile is measured from the mouth
corners' height instead, and the lip line it bowed is straightened), so intensity 0 gives a
neutral face. The smile's texture (bunched cheeks, deepened folds) moves with the mesh; the
renderer takes it out as far as a frame shows less of the smile than the photograph
(`FaceRig.smile_shown`, `FaceRenderer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import EmogenError
from .action_units import ACTION_UNITS
from .landmarks import NUM_LANDMARKS, FaceLandmarks
from .visemes import MOUTH_PARAMETERS

__all__ = ["RIG_ANCHOR_RINGS", "FaceRig", "MotionTrack"]

# MediaPipe face mesh contours (mediapipe/python/solutions/face_mesh_connections.py); "right" is
# the subject's right, image left.
LIPS_UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LIPS_LOWER_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
LIPS_UPPER_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIPS_LOWER_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
RIGHT_EYE_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]
RIGHT_EYE_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
LEFT_EYE_UPPER = [263, 466, 388, 387, 386, 385, 384, 398, 362]
LEFT_EYE_LOWER = [263, 249, 390, 373, 374, 380, 381, 382, 362]
RIGHT_IRIS = [468, 469, 470, 471, 472]
LEFT_IRIS = [473, 474, 475, 476, 477]
SILHOUETTE = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
]  # fmt: skip
# The nose from the bridge to the wings (its convex hull covers it).
NOSE = [
    168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 98, 64, 48, 115, 220, 45, 51, 3, 196, 122, 193, 129,
    102, 327, 294, 278, 344, 440, 275, 281, 248, 419, 351, 417, 358, 331,
]  # fmt: skip
_RIGHT_BROW_INNER = [55, 65, 107, 66, 52]
_RIGHT_BROW_OUTER = [46, 53, 70, 63, 105]
_RIGHT_CHEEK = [50, 117, 118, 101, 36, 205, 187, 123, 116]
_RIGHT_NOSE_WING = [129, 98, 64, 48, 115, 220, 102]
_RIGHT_UPPER_LIP = [37, 39, 40, 185, 0, 11, 12, 72, 73]
_RIGHT_CORNER = [61, 78]
_LOWER_LIP = [14, 87, 178, 88, 317, 402, 318, 17, 84, 181, 314, 405, 321, 15, 16, 86, 316]

# Rings of extra points around the face: the head's rigid motion reaches the hair and neck
# through the first (scale 1.35 of the silhouette about the face centre, 80 % of the motion) and
# stops at the second (scale 2.0): beyond it the portrait stays still.
RIG_ANCHOR_RINGS = ((1.35, 0.8), (2.0, 0.0))

# Mouth sizes in IPD units: the largest inner-lip gap (jaw fully open) and the chin's travel.
_MAX_GAP = 0.42
_JAW_TRAVEL = 0.32
# AU54 and AU64 at intensity 1: the head bows 5.7 degrees, the irises drop 0.03 IPD.
_HEAD_DOWN = 5.67
_EYES_DOWN = 0.03
# The upper lids follow the eyes down (lid-gaze coupling: Becker & Fuchs 1988, "Lid-eye
# coordination during vertical gaze changes"). AU64's handle moves the lid's middle with the iris
# (0.02 IPD); this closes the lids further, at 1 as far as AU43 would: sad's lowered lids. The
# rig's sizes were searched with it (it acted, by mistake, as the blink until 0c13975).
_LIDS_FOLLOW_GAZE = 1.0
# The skin above an upper lid keeps at least this share of its rest distance to the lid
# (`FaceRig._skin_kept_above_lids`).
_BROW_LID_FLOOR = 0.35
# The share of the lips' opening the upper lip makes by lifting (`FaceRig._mouth`).
_UPPER_LIP_SHARE = 0.25
# The lips part (AU25) by this much of the IPD at intensity 1.
_LIPS_PART = 0.28


@dataclass
class MotionTrack:
    """Everything that moves the face, per video frame.

    Attributes:
        action_units: `(T, len(ACTION_UNITS))` intensities in [0, 1], `ACTION_UNITS` order.
        mouth: `(T, 5)` mouth parameters in [0, 1] (`MOUTH_PARAMETERS` order).
        blink: `(T,)` eyelid closure in [0, 1] (1: closed).
        gaze: `(T, 2)` iris offset (right, down) in IPD units.
        head_rotation: `(T, 3)` roll, yaw, pitch in degrees.
        head_shift: `(T, 2)` head translation (right, down) in IPD units.
    """

    action_units: np.ndarray
    mouth: np.ndarray
    blink: np.ndarray
    gaze: np.ndarray
    head_rotation: np.ndarray
    head_shift: np.ndarray

    def __post_init__(self) -> None:
        frames = len(self.mouth)
        shapes = {
            "action_units": (frames, len(ACTION_UNITS)),
            "mouth": (frames, len(MOUTH_PARAMETERS)),
            "blink": (frames,),
            "gaze": (frames, 2),
            "head_rotation": (frames, 3),
            "head_shift": (frames, 2),
        }
        for name, shape in shapes.items():
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != shape:
                raise EmogenError(f"MotionTrack.{name} must have shape {shape}, got {value.shape}")
            setattr(self, name, value)

    def __len__(self) -> int:
        return len(self.mouth)

    @classmethod
    def still(cls, frames: int) -> MotionTrack:
        """A neutral face at rest: no expression, mouth closed, eyes open, head still."""
        mouth = np.zeros((frames, len(MOUTH_PARAMETERS)))
        mouth[:, MOUTH_PARAMETERS.index("lip_closure")] = 1.0
        return cls(
            np.zeros((frames, len(ACTION_UNITS))),
            mouth,
            np.zeros(frames),
            np.zeros((frames, 2)),
            np.zeros((frames, 3)),
            np.zeros((frames, 2)),
        )


# AU -> [(handles (right side; mirrored to the left), (du, dv) in IPD at intensity 1, sigma)].
# du points away from the midline (mirrored with the side).
_AU_HANDLES: dict[int, list[tuple[list[int], tuple[float, float], float]]] = {
    1: [(_RIGHT_BROW_INNER, (0.0, -0.15), 0.16)],
    2: [(_RIGHT_BROW_OUTER, (0.0, -0.26), 0.16)],
    4: [(_RIGHT_BROW_INNER, (-0.11, 0.2), 0.15), (_RIGHT_BROW_OUTER, (-0.047, 0.0), 0.15)],
    5: [(RIGHT_EYE_UPPER[2:7], (0.0, -0.04), 0.06)],
    6: [(_RIGHT_CHEEK, (0.0, -0.065), 0.16), (RIGHT_EYE_LOWER[2:7], (0.0, -0.04), 0.05)],
    7: [(RIGHT_EYE_LOWER[2:7], (0.0, -0.021), 0.05), (RIGHT_EYE_UPPER[2:7], (0.0, 0.015), 0.05)],
    9: [
        (_RIGHT_NOSE_WING, (0.0, -0.087), 0.09),
        (_RIGHT_UPPER_LIP, (0.0, -0.069), 0.08),
        (_RIGHT_BROW_INNER, (-0.056, 0.027), 0.14),
    ],
    12: [(_RIGHT_CORNER, (0.25, -0.26), 0.22)],
    15: [(_RIGHT_CORNER, (0.016, 0.031), 0.24)],
    16: [],  # the lower lip: part of the mouth gap (FaceRig._mouth)
    20: [(_RIGHT_CORNER, (0.175, 0.047), 0.22)],
    23: [(_RIGHT_CORNER, (-0.05, 0.0), 0.16)],
    25: [],  # lips part: part of the mouth gap
    26: [],  # the jaw: part of the mouth gap
    43: [],  # the lids: part of the blink
    54: [],  # head down: part of the head pose
    64: [(RIGHT_EYE_UPPER[2:7], (0.0, 0.02), 0.05)],  # eyes down: the lids follow the irises
}
# Combinations with an appearance of their own (FACS Manual, "1+4": the inner brows raised
# and drawn together while the brows' outer parts are lowered, the oblique brows of sadness);
# it acts with the weaker AU's intensity, so AU4 alone lowers the brows in a V (anger).
_COMBINATIONS: dict[tuple[int, int], list[tuple[list[int], tuple[float, float], float]]] = {
    (1, 4): [(_RIGHT_BROW_OUTER, (-0.007, 0.18), 0.15), (_RIGHT_BROW_INNER, (0.0, -0.171), 0.15)],
}


def _with_combinations(units: np.ndarray) -> np.ndarray:
    # AU intensities (ACTION_UNITS order) followed by each combination's (the weaker AU's).
    index = {unit: i for i, unit in enumerate(ACTION_UNITS)}
    both = [min(units[index[a]], units[index[b]]) for a, b in _COMBINATIONS]
    return np.concatenate([units, both])


# MediaPipe blendshapes (ARKit names) that show each AU in the portrait itself.
_AU_BLENDSHAPES = {
    1: ["browInnerUp"],
    2: ["browOuterUpLeft", "browOuterUpRight"],
    4: ["browDownLeft", "browDownRight"],
    5: ["eyeWideLeft", "eyeWideRight"],
    6: ["cheekSquintLeft", "cheekSquintRight"],
    9: ["noseSneerLeft", "noseSneerRight"],
    15: ["mouthFrownLeft", "mouthFrownRight"],
    20: ["mouthStretchLeft", "mouthStretchRight"],
}


def _mirror(index: int, points_uv: np.ndarray) -> int:
    # The left-side twin of a right-side landmark: the point nearest its reflection.
    target = points_uv[index] * np.array([-1.0, 1.0])
    return int(np.argmin(np.linalg.norm(points_uv[:NUM_LANDMARKS] - target, axis=1)))


class FaceRig:
    """Turns a `MotionTrack` frame into pixel displacements of the portrait's mesh points.

    Args:
        landmarks: the portrait's face, in the pixel coordinates of the image to animate.

    Attributes:
        points: `(P, 2)` rest positions in pixels: the 478 mesh points, then the anchor rings.
        weights_rigid: `(P,)` how much of the head's rigid motion each point follows.
        portrait_smile: the smile the portrait was photographed with, as AU12 intensity in
            [0, 1]; the rig takes it out, so intensity 0 is a neutral face.
    """

    def __init__(self, landmarks: FaceLandmarks):
        points = np.asarray(landmarks.points, dtype=np.float64)
        if points.shape != (NUM_LANDMARKS, 3):
            raise EmogenError(f"expected {NUM_LANDMARKS} landmarks, got {points.shape}")
        right_pupil, left_pupil = points[RIGHT_IRIS[0], :2], points[LEFT_IRIS[0], :2]
        self.ipd = float(np.linalg.norm(left_pupil - right_pupil))
        if self.ipd < 4:
            raise EmogenError(f"the eyes are {self.ipd:.1f} pixels apart: the face is too small")
        self.origin = (left_pupil + right_pupil) / 2
        self.axis_u = (left_pupil - right_pupil) / self.ipd
        self.axis_v = np.array([-self.axis_u[1], self.axis_u[0]])
        self.uv = self.to_uv(points[:, :2])
        self.depth = points[:, 2] / self.ipd
        self._basis = self._action_unit_basis()
        self._portrait_units = self._portrait_action_units(landmarks.blendshapes)
        self.portrait_smile = self._portrait_smile()
        smile = self._smile_undone(self.portrait_smile)
        self._undo_portrait = smile + self._lip_line_straightened(smile)

        centre = self.uv[SILHOUETTE].mean(0)
        rings = [centre + scale * (self.uv[SILHOUETTE] - centre) for scale, _ in RIG_ANCHOR_RINGS]
        self.points = np.concatenate([points[:, :2], *[self.to_pixels(r) for r in rings]])
        self.weights_rigid = np.concatenate(
            [np.ones(NUM_LANDMARKS)]
            + [np.full(len(SILHOUETTE), weight) for _, weight in RIG_ANCHOR_RINGS]
        )
        self._centre_uv = centre
        self._lower_face = self._jaw_weights()
        # The smile's lift in the photograph and in the rig's neutral face (`smile_shown`).
        self._photographed_lift = self._corner_lift(np.zeros((NUM_LANDMARKS, 2)))
        self._neutral_lift = self._corner_lift(self.displacement(MotionTrack.still(1), 0))

    # -- frames -------------------------------------------------------------------------------

    def to_uv(self, pixels: np.ndarray) -> np.ndarray:
        """Pixel coordinates `(..., 2)` -> face-frame coordinates (IPD units)."""
        offset = np.asarray(pixels, dtype=np.float64) - self.origin
        return np.stack([offset @ self.axis_u, offset @ self.axis_v], axis=-1) / self.ipd

    def to_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Face-frame coordinates `(..., 2)` -> pixel coordinates."""
        uv = np.asarray(uv, dtype=np.float64) * self.ipd
        return self.origin + uv[..., :1] * self.axis_u + uv[..., 1:] * self.axis_v

    def _vector_to_pixels(self, uv: np.ndarray) -> np.ndarray:
        uv = uv * self.ipd
        return uv[..., :1] * self.axis_u + uv[..., 1:] * self.axis_v

    # -- set-up -------------------------------------------------------------------------------

    def _action_unit_basis(self) -> np.ndarray:
        # (A + C, N, 2): the displacement in the face frame of each AU at intensity 1, then of
        # each combination's own appearance.
        lists = [_AU_HANDLES[unit] for unit in ACTION_UNITS] + list(_COMBINATIONS.values())
        return np.stack([self._handle_field(handles) for handles in lists])

    def _handle_field(self, groups: list[tuple[list[int], tuple[float, float], float]]):
        field = np.zeros((NUM_LANDMARKS, 2))
        for handles, (du, dv), sigma in groups:
            for side in (-1.0, 1.0):  # right side (u < 0), then the left
                side_handles = handles if side < 0 else [_mirror(h, self.uv) for h in handles]
                distance = np.linalg.norm(
                    self.uv[:NUM_LANDMARKS, None] - self.uv[None, side_handles], axis=2
                ).min(1)
                falloff = np.exp(-(distance**2) / (2 * sigma**2))
                # Only this side's half of the face (a soft edge at the midline).
                half = 1 / (1 + np.exp(-side * self.uv[:NUM_LANDMARKS, 0] / 0.05))
                field += (falloff * half)[:, None] * np.array([side * du, dv])
        return field

    def _portrait_smile(self) -> float:
        # The photograph's own smile, measured rather than read from a blendshape score: how far
        # the mouth corners sit above the middle of the lips, as a fraction of AU12's lift at
        # intensity 1; a neutral portrait's corners sit on the line (0).
        middle = (self.uv[13, 1] + self.uv[14, 1]) / 2
        lift = float(np.clip(middle - self.uv[[61, 291], 1].mean(), 0.0, 0.3))
        return min(lift / -_AU_HANDLES[12][0][1][1], 1.0)

    def _smile_undone(self, smile: float) -> np.ndarray:
        # That much AU12 taken out (its lift at intensity 1 is known).
        return -smile * self._basis[list(ACTION_UNITS).index(12)]

    def _corner_lift(self, displacement: np.ndarray) -> float:
        # How far the mouth corners, displaced by `(N, 2)` pixels, sit above the middle of the
        # upper inner lip, in IPD: the smile as a frame shows it (the jaw moves neither,
        # `_jaw_weights`).
        moved = self.to_uv(self.points[:NUM_LANDMARKS] + displacement[:NUM_LANDMARKS])
        return float(moved[13, 1] - moved[[61, 291], 1].mean())

    def smile_shown(self, displacement: np.ndarray) -> float:
        """How much of the portrait's own smile a frame shows, in [0, 1]: 1 where the mouth
        corners sit as high as in the photograph (or higher), 0 where the rig took the smile
        out (`portrait_smile`), measured on `(P, 2)` pixel displacements of `points`. The
        renderer scales the smile's texture by it (`FaceRenderer`)."""
        span = self._photographed_lift - self._neutral_lift
        if self.portrait_smile <= 0 or span <= 1e-6:
            return 1.0
        lift = self._corner_lift(displacement)
        return float(np.clip((lift - self._neutral_lift) / span, 0.0, 1.0))

    def _lip_line_straightened(self, smile_undone: np.ndarray) -> np.ndarray:
        # At rest the lips meet on a line between the mouth corners. A smile also bows the upper
        # lip up into an arc (over the teeth when the lips part; FACS Manual, AU12), which
        # lowering the corners alone leaves behind: the closed lips then meet on a wavy line.
        # Each point of the upper inner lip goes onto the chord between the (undone) corners,
        # taking the upper lip and the skin above along over about the lip's height (0.1 IPD);
        # `_mouth` closes the lower lip onto it. A neutral portrait's lip line barely moves.
        upper = self.uv[LIPS_UPPER_INNER] + smile_undone[LIPS_UPPER_INNER]
        chord = np.interp(upper[:, 0], upper[[0, -1], 0], upper[[0, -1], 1])
        order = np.argsort(upper[:, 0])
        points = self.uv[:NUM_LANDMARKS] + smile_undone
        lip_line = np.interp(points[:, 0], upper[order, 0], upper[order, 1])
        lowered = np.interp(points[:, 0], upper[order, 0], (chord - upper[:, 1])[order], 0, 0)
        above = lip_line - points[:, 1]  # > 0 above the upper inner lip
        follow = np.where(above >= -1e-6, np.exp(-(above**2) / (2 * 0.1**2)), 0.0)
        field = np.zeros((NUM_LANDMARKS, 2))
        field[:, 1] = lowered * follow
        return field

    def _portrait_action_units(self, blendshapes: dict[str, float]) -> np.ndarray:
        units = np.zeros(len(ACTION_UNITS) + len(_COMBINATIONS))
        for column, unit in enumerate(ACTION_UNITS):
            names = _AU_BLENDSHAPES.get(unit, [])
            if names and all(name in blendshapes for name in names):
                units[column] = float(np.mean([blendshapes[name] for name in names]))
        units[len(ACTION_UNITS) :] = _with_combinations(units[: len(ACTION_UNITS)])[
            len(ACTION_UNITS) :
        ]
        return units

    def _jaw_weights(self) -> np.ndarray:
        # How far each point travels with the chin: nothing above the mouth corners, all of it
        # from the lower lip down, less towards the jaw angles (the jaw turns about the ears).
        uv = self.uv[:NUM_LANDMARKS]
        corners_v = uv[[61, 291], 1].mean()
        lip_v = uv[17, 1]  # the bottom of the lower lip
        below = np.clip((uv[:, 1] - corners_v) / max(lip_v - corners_v, 1e-3), 0, 1)
        below = below * below * (3 - 2 * below)  # smoothstep
        jaw_width = max(abs(uv[[172, 397], 0]).max(), 1e-3)
        spread = np.clip(1 - 0.7 * (uv[:, 0] / jaw_width) ** 2, 0, 1)
        return below * spread

    # -- per frame ----------------------------------------------------------------------------

    def displacement(self, track: MotionTrack, frame: int) -> np.ndarray:
        """`(P, 2)` pixel displacement of `points` at one frame of a track."""
        units = _with_combinations(track.action_units[frame]) - self._portrait_units
        uv = np.tensordot(units, self._basis, axes=1) + self._undo_portrait  # (N, 2), face frame
        uv += self._mouth(track.mouth[frame], track.action_units[frame], uv)
        au = dict(zip(ACTION_UNITS, track.action_units[frame]))
        lids = track.blink[frame] + au[43] + _LIDS_FOLLOW_GAZE * au[64]
        uv += self._blink(float(np.clip(lids, 0, 1)))
        uv += self._skin_kept_above_lids(uv)
        for iris in (RIGHT_IRIS, LEFT_IRIS):
            uv[iris] += track.gaze[frame] + np.array([0.0, _EYES_DOWN * au[64]])
        moved = self._vector_to_pixels(uv)
        full = np.zeros((len(self.points), 2))
        full[:NUM_LANDMARKS] = moved
        rotation = track.head_rotation[frame] + np.array([0.0, 0.0, _HEAD_DOWN * au[54]])
        return full + self._head(rotation, track.head_shift[frame])

    def _mouth(self, mouth: np.ndarray, units: np.ndarray, expression: np.ndarray) -> np.ndarray:
        # What the mouth adds to the expression's displacement `(N, 2)`.
        jaw_open, lip_round, lip_stretch, lip_closure, lip_tuck = mouth
        au = dict(zip(ACTION_UNITS, units))
        # The emotion's jaw drop (AU26) and lower-lip depressor (AU16) open the mouth too.
        jaw = 1 - (1 - jaw_open) * (1 - 0.5 * au[26])
        closure = lip_closure * (1 - au[26]) * (1 - 0.6 * au[16]) * (1 - au[25])
        uv = np.zeros((NUM_LANDMARKS, 2))
        # Chin and lower face follow the jaw.
        uv[:, 1] += _JAW_TRAVEL * jaw * self._lower_face
        # The lower lip sits at the (expression-moved) upper lip plus the target gap, widest at
        # the middle: lips closed by the rig stay closed whatever the expression does.
        upper = self.uv[LIPS_UPPER_INNER] + expression[LIPS_UPPER_INNER]
        lower = self.uv[LIPS_LOWER_INNER] + expression[LIPS_LOWER_INNER]
        left, right = upper[0, 0], upper[-1, 0]
        middle, half_width = (left + right) / 2, max((right - left) / 2, 1e-3)
        profile = np.sqrt(np.clip(1 - ((lower[:, 0] - middle) / half_width) ** 2, 0, 1))
        parted = 0.08 * au[16] + _LIPS_PART * au[25]
        gap = (_MAX_GAP * jaw * (1 - closure) + parted) * (1 - 0.8 * lip_tuck) * profile
        order = np.argsort(upper[:, 0])
        upper_at = np.interp(lower[:, 0], upper[order, 0], upper[order, 1])
        lower_move = upper_at + (1 - _UPPER_LIP_SHARE) * gap - lower[:, 1]
        uv[LIPS_LOWER_INNER, 1] = lower_move
        # The upper lip's middle lifts a little off the teeth as the lips part, so the opening
        # is a lens, not a half-disc under a straight upper lip (a grin's shape).
        upper_profile = np.sqrt(np.clip(1 - ((upper[:, 0] - middle) / half_width) ** 2, 0, 1))
        gap_upper = (_MAX_GAP * jaw * (1 - closure) + parted) * (1 - 0.8 * lip_tuck)
        uv[LIPS_UPPER_INNER[1:-1], 1] -= (_UPPER_LIP_SHARE * gap_upper * upper_profile)[1:-1]
        # The outer lower lip and the skin under it move with the inner lip above them.
        under = [i for i in _LOWER_LIP if i not in LIPS_LOWER_INNER]
        order = np.argsort(lower[:, 0])
        uv[under, 1] = np.interp(self.uv[under, 0], lower[order, 0], lower_move[order])
        uv[under, 1] -= 0.03 * lip_tuck
        # Rounding narrows the lips, stretching (and AU20/23 via their handles) widens them.
        scale = 0.25 * lip_stretch - 0.3 * lip_round
        lips = self.uv[:NUM_LANDMARKS]
        near = np.exp(
            -(((lips[:, 0] - middle) / 0.6) ** 2) - ((lips[:, 1] - upper[:, 1].mean()) / 0.22) ** 2
        )
        uv[:, 0] += scale * (lips[:, 0] - middle) * near
        return uv

    def _skin_kept_above_lids(self, displacement: np.ndarray) -> np.ndarray:
        # The brows and the skin under them come down onto the upper lid, never through it: the
        # lowered brow pushes the skin above the eye down over the lid and narrows the eye (the
        # FACS Manual's AU4), the tissue between compressing. Where the sizes would take a point
        # closer to the displaced lid than `_BROW_LID_FLOOR` of its rest distance, it stops
        # there softly, so the mesh does not turn over between brow and lid and the warp never
        # mirrors the brow into the eye (tests/test_talking_head.py).
        moved = self.uv[:NUM_LANDMARKS] + displacement
        correction = np.zeros((NUM_LANDMARKS, 2))
        for upper_ids in (RIGHT_EYE_UPPER, LEFT_EYE_UPPER):
            rest, lid = self.uv[upper_ids], moved[upper_ids]
            order_rest, order_lid = np.argsort(rest[:, 0]), np.argsort(lid[:, 0])
            gap_rest = np.interp(self.uv[:NUM_LANDMARKS, 0], *rest[order_rest].T)
            gap_rest = gap_rest - self.uv[:NUM_LANDMARKS, 1]
            gap = np.interp(moved[:, 0], *lid[order_lid].T) - moved[:, 1]
            # Points over this eye and beside its corners (where the outer brow comes down).
            width = rest[:, 0].max() - rest[:, 0].min()
            middle = rest[:, 0].mean()
            over = np.abs(self.uv[:NUM_LANDMARKS, 0] - middle) < 0.5 * width + 0.25
            over &= (gap_rest > 1e-3) & (gap_rest < 0.6)
            over[upper_ids] = False
            floor = _BROW_LID_FLOOR * gap_rest
            # A soft minimum: gap where well above the floor, the floor where far below it.
            softness = 0.25 * floor + 1e-6
            kept = floor + softness * np.logaddexp(0.0, (gap - floor) / softness)
            correction[over, 1] = (gap - kept)[over]
        return correction

    def _blink(self, closure: float) -> np.ndarray:
        # The upper lid comes down to the lower lid; the iris inside is squeezed towards it and
        # the skin above follows a little (Gaussian falloff over 0.06 IPD).
        uv = np.zeros((NUM_LANDMARKS, 2))
        if closure <= 0:
            return uv
        for upper_ids, lower_ids in (
            (RIGHT_EYE_UPPER, RIGHT_EYE_LOWER),
            (LEFT_EYE_UPPER, LEFT_EYE_LOWER),
        ):
            upper, lower = self.uv[upper_ids], self.uv[lower_ids]
            order_u, order_l = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
            lo, hi = upper[:, 0].min(), upper[:, 0].max()
            pts = self.uv[:NUM_LANDMARKS]
            inside = (pts[:, 0] > lo) & (pts[:, 0] < hi)
            top = np.interp(pts[:, 0], upper[order_u, 0], upper[order_u, 1])
            bottom = np.interp(pts[:, 0], lower[order_l, 0], lower[order_l, 1])
            travel = closure * np.maximum(bottom - top, 0)
            between = inside & (pts[:, 1] >= top - 1e-6) & (pts[:, 1] <= bottom)
            fraction = np.where(between, (bottom - pts[:, 1]) / np.maximum(bottom - top, 1e-6), 0)
            above = inside & (pts[:, 1] < top - 1e-6) & (top - pts[:, 1] < 0.2)
            fraction = np.where(above, np.exp(-((top - pts[:, 1]) ** 2) / (2 * 0.06**2)), fraction)
            fraction[lower_ids] = 0.0
            fraction[upper_ids] = 1.0
            fraction[[upper_ids[0], upper_ids[-1]]] = 0.0  # the eye corners stay
            uv[:, 1] += travel * fraction
        return uv

    def _head(self, rotation: np.ndarray, shift: np.ndarray) -> np.ndarray:
        # A small 3-D rotation of the mesh about the face centre (orthographic view), plus a
        # shift; the anchor rings take the 2-D part of it, scaled by their weight.
        roll, yaw, pitch = np.radians(rotation)
        if not (roll or yaw or pitch or shift.any()):
            return np.zeros((len(self.points), 2))
        cr, sr, cy, sy, cp, sp = (
            np.cos(roll),
            np.sin(roll),
            np.cos(yaw),
            np.sin(yaw),
            *(
                np.cos(pitch),
                np.sin(pitch),
            ),
        )
        rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        rot = rz @ ry @ rx
        centre = np.array([*self._centre_uv, float(self.depth.mean())])
        mesh = np.column_stack([self.uv, self.depth]) - centre
        moved = mesh @ rot.T - mesh
        rings_uv = self.to_uv(self.points[NUM_LANDMARKS:]) - self._centre_uv
        planar = rings_uv @ rot[:2, :2].T - rings_uv
        uv = np.concatenate([moved[:, :2], planar]) + shift
        return self._vector_to_pixels(uv) * self.weights_rigid[:, None]

    def inner_lips(self, displacement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The displaced inner-lip contours in pixels: upper `(11, 2)` and lower `(11, 2)`, from
        the right corner to the left."""
        moved = self.points + displacement
        return moved[LIPS_UPPER_INNER], moved[LIPS_LOWER_INNER]

    def teeth(self, track: MotionTrack, frame: int) -> float:
        """How much of the teeth an open mouth shows, in [0, 1]: a smile (AU12) and stretched
        lips bare them; a dropped jaw alone (surprise, fear) shows mostly the dark mouth."""
        units = dict(zip(ACTION_UNITS, track.action_units[frame]))
        stretch = track.mouth[frame][MOUTH_PARAMETERS.index("lip_stretch")]
        return float(np.clip(0.35 + units[12] + 0.4 * stretch - 0.3 * units[26], 0.1, 1.0))

    def lip_gap(self, displacement: np.ndarray) -> float:
        """How far the lips are parted (IPD units): the largest vertical distance, in the face
        frame, from the displaced upper inner lip down to the lower one."""
        upper, lower = (self.to_uv(contour) for contour in self.inner_lips(displacement))
        order = np.argsort(upper[:, 0])
        return float(np.max(lower[:, 1] - np.interp(lower[:, 0], *upper[order].T)))
