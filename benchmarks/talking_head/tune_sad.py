"""How sad's sizes were chosen: a local random search on spoken clips, fold-free.

`tune_rig.py` searched every action unit on still frames; its sizes left the astronaut's sad
read as angry (3 % sad) while Grace Hopper's read sad only through a fold: the outer brows came
down 0.26 IPD, through the upper lids, and the warp mirrored the skin there into the eyes (52
triangles over the brows and lids turned over at sad, angry and afraid on the two portraits).
Once the rig stopped the skin at the lids (`FaceRig._skin_kept_above_lids`), this search chose
sad's own sizes again: the 1+4 combination's outer-brow drop and inner-brow lift, AU15's lip
corner depressor, the head's bow (AU54) and the eyes' drop (AU64), and the lids' coupling to
the gaze (at most 1).

Score: the lower of the two portraits' shares of frames that fer's classifier reads as sad
(top-1, every 3rd frame) on a clip of a sentence that is not in the benchmark's set, spoken sad
by `tts-default`, at intensity 1; minus 0.01 for each triangle over the brows and lids that sad
turns over (the eyes' own openings and irises left out). A candidate scales 3 of the sizes by a
log-normal step (sigma 0.3) and is kept when it scores higher. Two runs of 45 candidates (seed 1
from the sizes above, seed 2 from the first run's best), made with this search's first draft
(the same score; the rig's brow-lid floor then reached 0.1 IPD past the eye corners, now 0.25),
went from 0.0 (the astronaut never read sad) to 0.81 (astronaut 87 %, Grace Hopper 82 %); this
script scores the chosen sizes on the current rig 0.84 (84 % and 92 %, no fold, `--iterations
0`). The search shrank AU15 to
0.03 IPD: with 0.07 IPD, Grace Hopper's sad fell from 88 % to 27 % of benchmark frames (fer reads
her lowered mouth corners as neutral). The benchmark reads the same two portraits with the same
classifier, so its sad numbers are not an independent test of these sizes.

    .venv/bin/python benchmarks/talking_head/tune_sad.py --seed 1 --iterations 45
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

SENTENCE = "I waited all afternoon, but nobody came to the station to meet me."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=45)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)

    import emogen.face.rig as rig_module
    from emogen.eval.face import EXPRESSION_LABELS, ExpressionClassifier
    from emogen.face import SAMPLE_PORTRAITS, FaceLandmarkDetector, action_units, load_portrait
    from emogen.face.action_units import ACTION_UNITS
    from emogen.face.renderer import FaceRenderer
    from emogen.face.rig import FaceRig, MotionTrack
    from emogen.pipelines import load_pipeline

    pipe, tts = load_pipeline("talking-head"), load_pipeline("tts-default")
    detector, classifier = FaceLandmarkDetector(), ExpressionClassifier()
    images = {name: load_portrait(name) for name in SAMPLE_PORTRAITS}
    faces = {name: detector.detect_one(image) for name, image in images.items()}
    speech = tts(SENTENCE, emotion="sad", generator=0)
    eyes = set(
        rig_module.RIGHT_EYE_UPPER + rig_module.RIGHT_EYE_LOWER + rig_module.LEFT_EYE_UPPER
        + rig_module.LEFT_EYE_LOWER + rig_module.RIGHT_IRIS + rig_module.LEFT_IRIS
    )  # fmt: skip
    (outer, (outer_du, outer_dv), sigma), (inner, (_, inner_dv), _) = rig_module._COMBINATIONS[
        (1, 4)
    ]
    corner, (au15_du, au15_dv), au15_sigma = rig_module._AU_HANDLES[15][0]
    sizes = {
        "outer_du": outer_du, "outer_dv": outer_dv, "inner_dv": inner_dv, "au15_du": au15_du,
        "au15_dv": au15_dv, "lids": rig_module._LIDS_FOLLOW_GAZE,
        "head": rig_module._HEAD_DOWN, "eyes": rig_module._EYES_DOWN,
    }  # fmt: skip

    def apply(p: dict) -> None:
        rig_module._COMBINATIONS[(1, 4)] = [
            (outer, (p["outer_du"], p["outer_dv"]), sigma),
            (inner, (0.0, p["inner_dv"]), sigma),
        ]
        rig_module._AU_HANDLES[15] = [(corner, (p["au15_du"], p["au15_dv"]), au15_sigma)]
        rig_module._LIDS_FOLLOW_GAZE = min(p["lids"], 1.0)
        rig_module._HEAD_DOWN, rig_module._EYES_DOWN = p["head"], p["eyes"]

    def folds(name: str) -> int:
        rig = FaceRig(faces[name])
        renderer = FaceRenderer(images[name], rig)
        track = MotionTrack.still(1)
        track.action_units[0] = [action_units("sad")[au] for au in ACTION_UNITS]
        folded = renderer.turned_over(rig.displacement(track, 0))
        count = 0
        for triangle in renderer.triangles[folded]:
            if (triangle < len(rig.uv)).all() and (rig.uv[triangle, 1] < 0.2).all():
                count += not set(triangle.tolist()) <= eyes
        return count

    def score(p: dict) -> tuple[float, dict]:
        apply(p)
        shares, folded = {}, 0
        for name, image in images.items():
            clip = pipe(image, speech.audios[0], "sad", intensity=1.0,
                        sample_rate=speech.sample_rate, alignment=speech.alignments[0],
                        generator=0)  # fmt: skip
            frames = [clip.frames[i] for i in range(0, len(clip.frames), 3)]
            found = [detector.detect_one(frame) for frame in frames]
            top = np.asarray(classifier.predict_batch(frames, found)).argmax(1)
            shares[name] = float(np.mean(top == EXPRESSION_LABELS.index("sad")))
            folded += folds(name)
        return min(shares.values()) - 0.01 * folded, {**shares, "folds": folded}

    rng = np.random.default_rng(args.seed)
    best, (best_score, detail) = sizes, score(sizes)
    print("start", round(best_score, 3), detail, flush=True)
    for iteration in range(args.iterations):
        candidate = dict(best)
        for key in rng.choice(list(candidate), size=3, replace=False):
            candidate[key] *= float(np.exp(rng.normal(0, 0.3)))
        value, detail = score(candidate)
        if value > best_score:
            best, best_score = candidate, value
            print(iteration, round(best_score, 3), detail, flush=True)
    print(json.dumps({key: round(value, 4) for key, value in best.items()}))


if __name__ == "__main__":
    main()
