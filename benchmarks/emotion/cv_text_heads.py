"""Leave-one-set-out cross-validation of the text-emotion heads' constants.

For each retired test set (benchmarks/emotion/text_emotion_test.jsonl ... _test5, whose sentences
are among the training examples), the examples' embeddings and both logistic heads are refitted
without that set's sentences and the set is scored; the dev set is scored with everything. Prints
basic-seven accuracy, valence-sign agreement and accuracy over all labels on the dev set and
pooled over the folds, for each (CATEGORY_HEAD_WEIGHT, CATEGORY_HEAD_L2) on the grid. The blind
test set is never read. Each fold re-embeds ~2,600 sentences: ~15 minutes for the default grid.

    .venv/bin/python benchmarks/emotion/cv_text_heads.py --weights 0,1,2 --l2 0.03,0.3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RETIRED = ("test", "test2", "test3", "test4", "test5")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default="0,1,2", help="CATEGORY_HEAD_WEIGHT values")
    parser.add_argument("--l2", default="0.03,0.3", help="CATEGORY_HEAD_L2 values")
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")]
    penalties = [float(p) for p in args.l2.split(",")]

    import torch

    torch.set_num_threads(1)
    from emogen.emotion import load_taxonomy
    from emogen.emotion import text as text_emotion
    from emogen.eval.text import valence_sign as sign

    taxonomy = load_taxonomy()
    basic7 = taxonomy.group("basic7")

    def load(name: str) -> list[dict]:
        lines = (HERE / f"text_emotion_{name}.jsonl").read_text("utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        for row in rows:
            row["category"] = taxonomy.resolve(row["category"])
        return rows

    def to_basic(name: str) -> str:
        return name if name in basic7 else taxonomy.nearest(taxonomy.vad(name), names=basic7)

    def score(rows: list[dict]) -> np.ndarray:
        """[basic-seven hits, basic-seven total, valence hits, total, all-label hits]."""
        results = text_emotion.recognize_texts([row["text"] for row in rows])
        predicted = [r.emotion.category or taxonomy.nearest(r.emotion.vad) for r in results]
        basic = [(row["category"], to_basic(p)) for row, p in zip(rows, predicted)]
        basic = [(g, p) for g, p in basic if g in basic7]
        return np.array(
            [
                sum(g == p for g, p in basic),
                len(basic),
                sum(row["valence_sign"] == sign(r.emotion.vad[0]) for row, r in zip(rows, results)),
                len(rows),
                sum(row["category"] == p for row, p in zip(rows, predicted)),
            ]
        )

    everything = text_emotion._valence_examples()
    folds = {"dev": load("dev"), **{name: load(name) for name in RETIRED}}
    scores: dict[tuple[float, float], dict[str, np.ndarray]] = {}
    for fold, rows in folds.items():
        held = set() if fold == "dev" else {row["text"] for row in rows}
        keep = [i for i, s in enumerate(everything[0]) if s not in held]
        bank = (tuple(everything[0][i] for i in keep), everything[1][keep], everything[2][keep])
        text_emotion._valence_examples = lambda bank=bank: bank  # type: ignore[assignment]
        text_emotion._valence_example_embeddings.cache_clear()
        text_emotion._head_training_features.cache_clear()
        text_emotion._valence_head.cache_clear()
        for penalty in penalties:
            text_emotion.CATEGORY_HEAD_L2 = penalty
            text_emotion._category_head.cache_clear()
            for weight in weights:
                text_emotion.CATEGORY_HEAD_WEIGHT = weight
                scores.setdefault((weight, penalty), {})[fold] = score(rows)
        print(f"fold {fold} done", flush=True)

    print("\n| weight | L2 | dev basic-7 | dev valence | CV basic-7 | CV valence | CV all labels |")
    print("|---|---|---|---|---|---|---|")
    for (weight, penalty), by_fold in scores.items():
        dev = by_fold["dev"]
        cv = sum(by_fold[name] for name in RETIRED)
        print(
            f"| {weight:g} | {penalty:g} | {100 * dev[0] / dev[1]:.1f} % | "
            f"{100 * dev[2] / dev[3]:.1f} % | {100 * cv[0] / cv[1]:.1f} % | "
            f"{100 * cv[2] / cv[3]:.1f} % | {100 * cv[4] / cv[3]:.1f} % |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
