"""Agreement of independent annotators with the gold labels of the dialogue test sets.

    .venv/bin/python benchmarks/dialogue/bench_agreement.py                  # report
    .venv/bin/python benchmarks/dialogue/bench_agreement.py --packet /tmp/p  # a blank packet

Is the 90 % category target out of reach because the labels are ambiguous, or because the
recognizer reads less than a careful reader? Annotators who never saw the gold labels, the
pipeline or the repository label the sets' user turns again from the label guideline
(annotations/TASK.md; `--packet` writes the unlabelled turns and the guideline for a new
annotator). They are helper sessions (language-model agents) like the sets' writers, so their
agreement says the labels are what such a careful reader takes from the text, not what a crowd
of people would. Measured, per set: each annotator's category accuracy and valence-sign
agreement against the gold labels, the mean pairwise agreement between annotators, and beside
them the pipeline's numbers from the set's last `bench_dialogue.py` run (results_<set>.json):
the peer.

Results: RESULTS_agreement.md and results_agreement.json beside this file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from bench_dialogue import load_set, pct  # noqa: E402  (the dialogue benchmark's own)

ANNOTATIONS = HERE / "annotations"
GUIDELINE = ROOT / "training" / "text_emotion" / "README.md"
SETS = ("test3", "test4")


def load_gold(name: str) -> dict[str, list[dict]]:
    return {f"{name}/{row['id']}": row["turns"] for row in load_set(name)}


def write_packet(out: Path) -> None:
    """The unlabelled turns (conversations.json), TASK.md and the guideline's label table."""
    out.mkdir(parents=True, exist_ok=True)
    conversations = [
        {"id": cid, "user_turns": [turn["text"] for turn in turns]}
        for name in SETS
        for cid, turns in load_gold(name).items()
    ]
    (out / "conversations.json").write_text(
        json.dumps(conversations, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    table = re.search(r"\| label \| meaning \|.*?\n\n", GUIDELINE.read_text(encoding="utf-8"), re.S)
    if table is None:
        raise SystemExit(f"no label table found in {GUIDELINE}")
    (out / "guideline.md").write_text(table.group(0).rstrip() + "\n", encoding="utf-8")
    shutil.copy(ANNOTATIONS / "TASK.md", out / "TASK.md")
    print(f"packet of {sum(len(c['user_turns']) for c in conversations)} turns in {out}")


def check(annotation: dict, gold: dict[str, list[dict]], path: Path) -> None:
    for cid, turns in gold.items():
        labels = annotation.get(cid)
        if not isinstance(labels, list) or len(labels) != len(turns):
            raise SystemExit(f"{path}: {cid} needs {len(turns)} labels, got {labels!r:.60}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packet", type=Path, help="write an unlabelled packet here and stop")
    args = parser.parse_args()
    if args.packet:
        write_packet(args.packet)
        return

    paths = sorted(ANNOTATIONS.glob("annotator_*.json"))
    if len(paths) < 2:
        raise SystemExit(f"need at least two annotator_*.json files in {ANNOTATIONS}")
    annotations = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    report: dict = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "annotators": [p.name for p in paths],
        "sets": {},
    }
    for name in SETS:
        gold = load_gold(name)
        for annotation, path in zip(annotations, paths):
            check(annotation, gold, path)
        turns = [(cid, i) for cid, ts in gold.items() for i in range(len(ts))]
        row: dict = {"turns": len(turns)}
        for key in ("category", "valence_sign"):
            truth = [gold[cid][i][key] for cid, i in turns]
            labels = [[a[cid][i][key] for cid, i in turns] for a in annotations]
            row[f"{key}_vs_gold"] = [
                sum(x == y for x, y in zip(lab, truth)) / len(truth) for lab in labels
            ]
            pairs = list(itertools.combinations(labels, 2))
            row[f"{key}_pairwise"] = sum(
                sum(x == y for x, y in zip(p, q)) / len(truth) for p, q in pairs
            ) / len(pairs)
        results = HERE / f"results_{name}.json"
        if results.exists():
            run = json.loads(results.read_text(encoding="utf-8"))
            row["pipeline"] = {
                "date": run["date"],
                "category_accuracy": run["category_accuracy"],
                "valence_sign_agreement": run["valence_sign_agreement"],
            }
        report["sets"][name] = row

    (HERE / "results_agreement.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Annotator agreement on the dialogue test sets",
        "",
        f"- date: {report['date']}",
        "- command: `python benchmarks/dialogue/bench_agreement.py`",
        f"- annotators: {len(paths)} ({', '.join(report['annotators'])} in annotations/), "
        "each labelling every user turn from annotations/TASK.md and the label guideline, "
        "without the gold labels, the pipeline or the repository; they are helper sessions "
        "(language-model agents), like the writers of the sets",
        "",
        "| set | turns | annotators vs gold: category | pairwise: category | "
        "annotators vs gold: valence sign | pairwise: valence sign | pipeline: category / "
        "valence sign |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report["sets"].items():
        model = row.get("pipeline")
        lines.append(
            f"| {name} | {row['turns']} | "
            f"{' / '.join(pct(x) for x in row['category_vs_gold'])} | "
            f"{pct(row['category_pairwise'])} | "
            f"{' / '.join(pct(x) for x in row['valence_sign_vs_gold'])} | "
            f"{pct(row['valence_sign_pairwise'])} | "
            + (
                f"{pct(model['category_accuracy'])} / {pct(model['valence_sign_agreement'])} "
                f"({model['date']}) |"
                if model
                else "not run |"
            )
        )
    (HERE / "RESULTS_agreement.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
