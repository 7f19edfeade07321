"""The talking head's renderer: warps the portrait along the displaced face mesh, one frame at a
time, and paints the mouth interior when the lips part.

The warp is piecewise affine over a Delaunay triangulation of the rig's points (the 478 mesh
points, two anchor rings around the face and the corners of the warped region), as in
image-warping face animation (Beier & Neely 1992 for feature-based warps; piecewise-affine
face warps as in Active Appearance Models, Cootes, Edwards & Taylor 2001). The triangulation
is made once on the rest pose; per frame each displaced triangle is rasterised into a triangle-id
map and every output pixel is mapped back through its triangle's affine transform (one backward
`cv2.remap`). Triangles that collapse (closed lids, closed lips) are drawn first, with a
least-squares map, so no pixel of the original eye or mouth shows through. Outside the outer
ring nothing moves, so the background stays still.

Teeth, tongue and mouth cavity are drawn inside the displaced inner-lip contour, with colours
taken from the portrait's lips, because a closed-mouth photograph has no pixels to show there.
The converse holds for a portrait photographed with parted lips: its opening is inpainted and
the line where the closed lips meet is drawn. A portrait photographed smiling also carries the
smile's shading (bunched cheeks, deepened nasolabial folds and corner creases), which the warp
moves but cannot take out; a band of it is attenuated in the lower face as far as the rig has
undone the smile (expression details as a shading layer: Liu, Shan & Zhang 2001).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

from ..errors import EmogenError
from .landmarks import NUM_LANDMARKS
from .rig import (
    LEFT_EYE_LOWER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_OUTER,
    NOSE,
    RIGHT_EYE_LOWER,
    SILHOUETTE,
    FaceRig,
)

__all__ = ["FaceRenderer"]

_TEETH = np.array([226.0, 221.0, 208.0])
_INNER_LIP_RIM = 0.05  # most of the lips' inner surface seen inside the opening, in IPD


class FaceRenderer:
    """Renders frames of one portrait from rig displacements.

    Args:
        image: `(H, W, 3)` uint8 RGB portrait (the size frames come out at).
        rig: the portrait's `FaceRig`, in the same pixel coordinates.

    Example:
        >>> renderer = FaceRenderer(image, rig)
        >>> frame = renderer.render(rig.displacement(track, 0))
    """

    def __init__(self, image: np.ndarray, rig: FaceRig):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise EmogenError(f"the renderer takes (H, W, 3) uint8 RGB, got {image.shape}")
        self.image = image
        self.rig = rig
        height, width = image.shape[:2]
        outer = rig.points[NUM_LANDMARKS:]
        x0, y0 = np.floor(outer.min(0)).astype(int)
        x1, y1 = np.ceil(outer.max(0)).astype(int) + 1
        self.box = (max(x0, 0), max(y0, 0), min(x1, width), min(y1, height))
        bx0, by0, bx1, by1 = self.box
        if bx1 - bx0 < 8 or by1 - by0 < 8:
            raise EmogenError("the face lies outside the image")
        corners = np.array(
            [[bx0, by0], [bx1, by0], [bx0, by1], [bx1, by1], [(bx0 + bx1) / 2, by0]],
            dtype=np.float64,
        )
        corners = np.concatenate(
            [corners, [[(bx0 + bx1) / 2, by1], [bx0, (by0 + by1) / 2], [bx1, (by0 + by1) / 2]]]
        )
        vertices = np.concatenate([rig.points, corners])
        self._extra = len(corners)
        self._triangles = Delaunay(vertices).simplices
        self._vertices = vertices - np.array([bx0, by0])  # rest positions in region pixels
        ys, xs = np.mgrid[0 : by1 - by0, 0 : bx1 - bx0]
        self._xs, self._ys = xs.astype(np.float32), ys.astype(np.float32)
        self._ids = np.empty(xs.shape, np.int32)
        self._region = np.ascontiguousarray(image[by0:by1, bx0:bx1])
        self._fill_open_mouth()
        self._smile_shading = self._smile_shading_of()
        self._lip_colour = self._lip_colour_of(image)

    def _fill_open_mouth(self) -> None:
        # A portrait photographed with parted lips has teeth between them; the rig closes the
        # mouth at rest, and slivers of those teeth would show on the lip line. Inpaint the
        # opening from the lips around it (Telea 2004) so closing it shows lips only.
        self._inpainted_mouth = self.rig.lip_gap(np.zeros_like(self.rig.points)) >= 0.02
        if not self._inpainted_mouth:
            return
        upper, lower = self.rig.inner_lips(np.zeros_like(self.rig.points))
        opening = np.concatenate([upper, lower[::-1]]) - np.array(self.box[:2])
        mask = np.zeros(self._region.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(opening).astype(np.int32)], 255)
        # 0.05 IPD beyond the contour (at least a pixel): the teeth's edges would otherwise pale
        # the lower lip.
        reach = max(1, round(0.05 * self.rig.ipd))
        mask = cv2.dilate(mask, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
        self._region = cv2.inpaint(self._region, mask, 3, cv2.INPAINT_TELEA)

    def _smile_shading_of(self) -> np.ndarray | None:
        # A smile is texture as well as shape: the cheeks bunch up into highlights and the
        # nasolabial folds and the creases beside the mouth corners deepen (FACS Manual, AU6 and
        # AU12). Moving the mesh takes the smile's shape out (`FaceRig._smile_undone`) but
        # carries that shading along, and it reads as a smile. Expression details are a shading
        # layer over the face (Liu, Shan & Zhang 2001, "Expressive expression mapping with ratio
        # images"): here the band between skin grain (0.03 IPD) and the face's broad shading
        # (0.25 IPD), over the lower face around the mouth but not the lips, nose or eyes.
        # `render` takes out the share of it that belongs to the part of the smile a frame no
        # longer shows (1 - `FaceRig.smile_shown`): all of it at intensity 0 (the band also holds
        # some of the face's own modelling; its broad shading keeps the shape). A portrait smiling
        # less than FACS's trace intensity (A, 0.2 AU12) keeps its texture: what shading it has
        # is its own.
        if self.rig.portrait_smile < 0.2:
            return None
        rig, origin = self.rig, np.array(self.box[:2], dtype=np.float64)
        height, width = self._region.shape[:2]
        ys, xs = np.mgrid[0:height, 0:width]
        uv = rig.to_uv(np.stack([xs, ys], axis=-1) + origin)
        # The lower face: below the eyes' lower lids and inside the silhouette pulled in by 15 %.
        silhouette = rig.uv[SILHOUETTE]
        centre = silhouette.mean(0)
        inside = np.zeros((height, width), np.float32)
        contour = rig.to_pixels(centre + 0.85 * (silhouette - centre)) - origin
        cv2.fillPoly(inside, [np.round(contour).astype(np.int32)], 1.0)
        lids = rig.uv[RIGHT_EYE_LOWER + LEFT_EYE_LOWER, 1].max()
        inside *= uv[..., 1] > lids + 0.1
        for contour in (
            np.concatenate([rig.points[LIPS_UPPER_OUTER], rig.points[LIPS_LOWER_OUTER][::-1]]),
            cv2.convexHull(rig.points[NOSE].astype(np.float32))[:, 0],
        ):
            cv2.fillPoly(inside, [np.round(contour - origin).astype(np.int32)], 0.0)
        mask = cv2.GaussianBlur(inside, (0, 0), 0.05 * rig.ipd)[..., None]
        region = self._region.astype(np.float32)
        grain = cv2.GaussianBlur(region, (0, 0), 0.03 * rig.ipd)
        broad = cv2.GaussianBlur(region, (0, 0), 0.25 * rig.ipd)
        return mask * (grain - broad)

    def _lip_colour_of(self, image: np.ndarray) -> np.ndarray:
        mask = np.zeros(image.shape[:2], np.uint8)
        outer = np.concatenate(
            [self.rig.points[LIPS_UPPER_OUTER], self.rig.points[LIPS_LOWER_OUTER][::-1]]
        )
        cv2.fillPoly(mask, [np.round(outer).astype(np.int32)], 1)
        # Lips only: a portrait photographed with parted lips shows teeth inside the inner
        # contour, which would pale the colour the cavity and tongue are painted from.
        upper, lower = self.rig.inner_lips(np.zeros_like(self.rig.points))
        inner = np.concatenate([upper, lower[::-1]])
        cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 0)
        pixels = image[mask > 0]
        return pixels.mean(0) if len(pixels) else np.array([150.0, 80.0, 80.0])

    def render(self, displacement: np.ndarray, teeth: float = 1.0) -> np.ndarray:
        """One `(H, W, 3)` uint8 frame from `(P, 2)` pixel displacements of the rig's points;
        `teeth` in [0, 1] scales how much of the teeth an open mouth shows (`FaceRig.teeth`).
        A portrait photographed smiling loses its smile's shading as far as the displacement
        lowers its mouth corners (`FaceRig.smile_shown`)."""
        displacement = np.asarray(displacement, dtype=np.float64)
        if displacement.shape != self.rig.points.shape:
            raise EmogenError(
                f"displacement must have shape {self.rig.points.shape}, got {displacement.shape}"
            )
        bx0, by0, bx1, by1 = self.box
        full = np.concatenate([displacement, np.zeros((self._extra, 2))])
        moved = self._vertices + full
        # Per triangle, the affine map from its displaced corners back to its rest corners.
        destination = moved[self._triangles]  # (M, 3, 2)
        corners = np.concatenate([destination, np.ones((len(destination), 3, 1))], axis=2)
        determinant = np.linalg.det(corners)
        flat = np.abs(determinant) < 1e-6  # collapsed: lids or lips closed
        affine = np.empty((len(destination), 3, 2))
        rest = self._vertices[self._triangles]
        affine[~flat] = np.linalg.solve(corners[~flat], rest[~flat])
        affine[flat] = np.linalg.pinv(corners[flat]) @ rest[flat]
        # Rasterise which triangle covers each output pixel (sub-pixel vertices: 4 shift bits);
        # collapsed triangles first, so proper ones win where they meet.
        self._ids.fill(-1)
        vertices = np.round(destination * 16).astype(np.int32)
        for index in [*np.flatnonzero(flat), *np.flatnonzero(~flat)]:
            cv2.fillConvexPoly(self._ids, vertices[index], int(index), cv2.LINE_8, 4)
        covered = self._ids >= 0
        ids = np.where(covered, self._ids, 0)
        a = affine.astype(np.float32)
        map_x = a[ids, 0, 0] * self._xs + a[ids, 1, 0] * self._ys + a[ids, 2, 0]
        map_y = a[ids, 0, 1] * self._xs + a[ids, 1, 1] * self._ys + a[ids, 2, 1]
        map_x = np.where(covered, map_x, self._xs)
        map_y = np.where(covered, map_y, self._ys)
        source = self._region
        if self._smile_shading is not None:
            share = 1.0 - self.rig.smile_shown(displacement)
            if share > 0.01:
                source = np.clip(self._region - share * self._smile_shading, 0, 255)
                source = source.astype(np.uint8)
        region = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        frame = self.image.copy()
        frame[by0:by1, bx0:bx1] = region
        self._paint_mouth(frame, displacement, teeth)
        return frame

    @property
    def triangles(self) -> np.ndarray:
        """`(M, 3)` the warp's triangles: indices into the rig's points, then (from
        `len(rig.points)` on) the fixed corners of the face box."""
        return self._triangles

    def turned_over(self, displacement: np.ndarray) -> np.ndarray:
        """`(M,)` True for each triangle that `(P, 2)` pixel displacements of the rig's points
        turn over: a fold, where the warp would mirror that patch of the portrait. (Lids and
        lips closing flatten the triangles between them, which may tip over by a hair.)"""
        full = np.concatenate(
            [np.asarray(displacement, dtype=np.float64), np.zeros((self._extra, 2))]
        )

        def signed_areas(points: np.ndarray) -> np.ndarray:
            a, b, c = (points[self._triangles[:, i]] for i in range(3))
            (ux, uy), (vx, vy) = (b - a).T, (c - a).T
            return ux * vy - uy * vx

        return signed_areas(self._vertices) * signed_areas(self._vertices + full) < 0

    def _paint_lip_seam(self, frame: np.ndarray, displacement: np.ndarray) -> None:
        # Closed lips meet on a thin dark line (the lips' own shadow). A portrait photographed
        # with parted lips has none (its opening was inpainted with lip colour,
        # `_fill_open_mouth`), so the closed lips would melt into one pink patch: draw it along
        # the upper inner lip, about 0.025 IPD thick, fading out at the corners. Where the lips
        # part, the mouth interior is painted over it.
        upper, _ = self.rig.inner_lips(displacement)
        box = _patch_box(upper, frame.shape, 3)
        if box is None:
            return
        x0, y0, x1, y1 = box
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        vertices = np.round((upper - np.array([x0, y0])) * 4).astype(np.int32)
        thickness = max(round(0.025 * self.rig.ipd), 1)
        cv2.polylines(mask, [vertices], False, 1.0, thickness, cv2.LINE_AA, shift=2)
        along = np.linspace(-1, 1, len(upper))
        order = np.argsort(upper[:, 0])
        fade = np.interp(np.arange(x0, x1), upper[order, 0], (1 - along**4)[order])[None, :]
        alpha = (cv2.GaussianBlur(mask, (0, 0), 0.6) * fade * 0.6)[..., None]
        patch = frame[y0:y1, x0:x1].astype(np.float32)
        seam = self._lip_colour * 0.4
        frame[y0:y1, x0:x1] = np.clip(patch * (1 - alpha) + seam * alpha, 0, 255).astype(np.uint8)

    def _paint_mouth(self, frame: np.ndarray, displacement: np.ndarray, teeth: float) -> None:
        ipd, down = self.rig.ipd, self.rig.axis_v
        if self._inpainted_mouth:
            self._paint_lip_seam(frame, displacement)
        gap = self.rig.lip_gap(displacement) * ipd  # pixels
        if gap < 0.6:
            return
        upper, lower = self.rig.inner_lips(displacement)
        polygon = np.concatenate([upper, lower[::-1]])
        box = _patch_box(polygon, frame.shape, 2)
        if box is None:
            return
        x0, y0, x1, y1 = box
        origin = np.array([x0, y0])
        scale = 4  # sub-pixel polygon vertices (cv2 `shift` bits = 2)

        def mask_of(points: np.ndarray) -> np.ndarray:
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            vertices = np.round((points - origin) * scale).astype(np.int32)
            cv2.fillPoly(mask, [vertices], 255, lineType=cv2.LINE_AA, shift=2)
            return mask.astype(np.float32) / 255

        mouth = mask_of(polygon)
        if not mouth.any():
            return
        cavity = self._lip_colour * 0.28
        interior = np.empty((y1 - y0, x1 - x0, 3), np.float32)
        interior[:] = cavity
        # The tongue: low in the mouth, seen once the jaw has dropped a little.
        middle = (lower[len(lower) // 2] + upper[len(upper) // 2]) / 2
        tongue_height = 0.45 * gap
        width_mouth = float(np.linalg.norm(upper[-1] - upper[0]))
        centre = lower[len(lower) // 2] - down * tongue_height * 0.2
        tongue = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.ellipse(
            tongue,
            (
                (float(centre[0] - x0), float(centre[1] - y0)),
                (0.55 * width_mouth, tongue_height),
                float(np.degrees(np.arctan2(self.rig.axis_u[1], self.rig.axis_u[0]))),
            ),
            255,
            -1,
            cv2.LINE_AA,
        )
        tongue_weight = tongue.astype(np.float32)[..., None] / 255 * 0.8
        interior = interior * (1 - tongue_weight) + self._lip_colour * 0.55 * tongue_weight
        # The lips' inner (wet) surface rims the opening before the cavity's shadow, more of it
        # as the lips part: without it a portrait with pale lips shows a dark hole cut into the
        # skin, which reads as a gasp.
        inside = cv2.distanceTransform((mouth > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        rim_width = min(_INNER_LIP_RIM * ipd, 0.6 * gap)
        rim = np.clip(1 - inside / rim_width, 0, 1)[..., None]
        interior = interior * (1 - rim) + self._lip_colour * 0.7 * rim
        # Upper teeth hang from the middle of the upper lip; the lower teeth show when the jaw
        # is well open. Both are thickest at the middle and shaded towards the corners.
        upper_teeth = min(0.1 * ipd, 0.5 * gap) * teeth
        lower_teeth = min(0.05 * ipd, max(gap - 0.22 * ipd, 0.0)) * teeth
        across = np.abs((np.arange(x0, x1) - middle[0]) / max(width_mouth / 2, 1))
        shading = np.clip(1.05 - 0.8 * across**2, 0.35, 1.0)[None, :, None]
        for edge, depth, shade in (
            (upper[2:-2], upper_teeth, 0.95),
            (lower[3:-3], -lower_teeth, 0.8),
        ):
            if abs(depth) < 0.3:
                continue
            t = np.linspace(-1, 1, len(edge))[:, None]
            band = np.concatenate([edge, (edge + down * depth * np.sqrt(1 - 0.7 * t**2))[::-1]])
            weight = mask_of(band)[..., None]
            interior = interior * (1 - weight) + _TEETH * shade * shading * weight
        interior = cv2.GaussianBlur(interior, (3, 3), 0)
        alpha = mouth[..., None]
        patch = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = np.clip(patch * (1 - alpha) + interior * alpha, 0, 255).astype(
            np.uint8
        )


def _patch_box(
    points: np.ndarray, shape: tuple[int, ...], margin: int
) -> tuple[int, int, int, int] | None:
    """The pixel box `(x0, y0, x1, y1)` around `(N, 2)` points with `margin` pixels on each
    side, clipped to a frame of `shape`; None when less than 2 pixels of it are inside."""
    x0, y0 = np.floor(points.min(0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(0)).astype(int) + margin + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
    return None if x1 - x0 < 2 or y1 - y0 < 2 else (int(x0), int(y0), int(x1), int(y1))
