"""Benchmark of the empathetic dialogue pipeline on a labelled set of conversations.

    .venv/bin/python benchmarks/dialogue/bench_dialogue.py                 # the fourth test set
    .venv/bin/python benchmarks/dialogue/bench_dialogue.py --set test3     # the third test set
    .venv/bin/python benchmarks/dialogue/bench_dialogue.py --set test2     # the second test set
    .venv/bin/python benchmarks/dialogue/bench_dialogue.py --set test      # the first test set
    .venv/bin/python benchmarks/dialogue/bench_dialogue.py --set dev       # the development set

Each conversation of the set (dialogue_<set>.jsonl: user turns with a gold category, valence
sign and crisis flag) is played through one `Conversation`, so the recognizer sees the earlier
turns. Measured:
- user emotion: category accuracy over the 15 labels and valence-sign agreement (the sign of
  the recognised effective valence, |v| < 0.05 counting as 0), also on the context-dependent
  turns alone;
- crisis: recall of the crisis turns (a safety reply) and false alarms on the others;
- response emotion appropriateness, by stated rules (module constants below);
- latency per turn on one thread after loading, beside the text recognizer alone on the same
  messages (the peer: the ratio says what planning and writing add);
- diversity over a 20-turn conversation (the set's first 20 turns in order, one conversation):
  distinct-1/2 (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural
  Conversation Models": unique n-grams / all n-grams over the replies) and sentence repetition
  (share of reply sentences said before in the conversation).

Results: RESULTS_<set>.md and results_<set>.json beside this file. The four test sets were
written blind (helpers that never saw the pipeline or its data), each committed before anything
ran on it. The first (`test`) and second (`test2`) are no longer blind: the crisis patterns were
widened after their first runs missed crisis turns, and the first steered the recognizer's
training data and steps. The third (`test3`, 2026-11-23) was run for reporting only, but two
recognizers have now been measured on it. The fourth (`test4`, 2026-11-24, written from the label
guideline in training/text_emotion/README.md by a helper that never opened the repository) was
the blind one until the MPNet recognizer: which of its layers run in int8 was chosen looking at
all five sets (training/text_emotion/README.md), so none is blind now; a fifth would be.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

# A reply to a negative user turn: never positive with high arousal (no cheering at grief)...
HIGH_AROUSAL = 0.3
POSITIVE = 0.2
# ... and never negative (no mirrored despair).
RULES = {
    "negative_user_no_positive_high_arousal": "negative user -> not (v > 0.2 and a > 0.3)",
    "negative_user_no_negative_reply": "negative user -> reply valence >= 0",
    "negative_user_calm_reply": "negative user -> reply arousal <= 0",
    "positive_user_positive_reply": "positive user -> reply valence > 0 (mimicry)",
    "crisis_safety_reply": "crisis turn -> safety reply with a calm caring emotion",
}


def load_set(name: str) -> list[dict]:
    """The conversations of `dialogue_<name>.jsonl` beside this file."""
    lines = (HERE / f"dialogue_{name}.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def distinct(replies: list[str], n: int) -> float:
    grams = [
        tuple(words[i : i + n])
        for words in (r.lower().split() for r in replies)
        for i in range(len(words) - n + 1)
    ]
    return len(set(grams)) / len(grams) if grams else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set", default="test4", choices=["test4", "test3", "test2", "test", "dev"]
    )
    parser.add_argument("--pipeline", default="dialogue")
    parser.add_argument("--context-weight", type=float, default=None, help="override (dev only)")
    parser.add_argument("--recognizer-weight", type=float, default=None, help="override (dev only)")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    from emogen.dialogue import Conversation
    from emogen.emotion import recognize_text
    from emogen.eval.text import valence_sign as sign
    from emogen.pipelines import load_pipeline

    conversations = load_set(args.set)
    pipe = load_pipeline(args.pipeline)
    overrides = {
        "context_weight": args.context_weight,
        "recognizer_weight": args.recognizer_weight,
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    if overrides and args.set != "dev":
        raise SystemExit("tune on the dev set: weight overrides are refused on the test sets")
    pipe.register_to_config(**overrides)
    pipe("Warming up the recognizer and the response material.")  # loading is not latency

    rows, latencies = [], []
    for conversation in conversations:
        state = Conversation()
        for gold in conversation["turns"]:
            started = time.perf_counter()
            turn = pipe(gold["text"], conversation=state)
            latencies.append(time.perf_counter() - started)
            rows.append((conversation["id"], gold, turn))
    peer = []
    for _, gold, _ in rows:
        started = time.perf_counter()
        recognize_text(gold["text"])
        peer.append(time.perf_counter() - started)

    # diversity over one 20-turn conversation
    state, replies = Conversation(), []
    for _, gold, _ in rows[:20]:
        replies.append(pipe(gold["text"], conversation=state).text)
    sentences = [s for m in state.by("assistant") for s in _sentences(m.text)]
    seen, repeated = set(), 0
    for sentence in sentences:
        repeated += sentence in seen
        seen.add(sentence)

    def accuracy(selected) -> tuple[int, int, int]:
        hits = sum(turn.user_emotion.category == gold["category"] for _, gold, turn in selected)
        signs = sum(
            sign(turn.user_emotion.vad[0]) == gold["valence_sign"] for _, gold, turn in selected
        )
        return hits, signs, len(selected)

    checks: dict[str, list[bool]] = {name: [] for name in RULES}
    for _, gold, turn in rows:
        v, a, _ = turn.response_emotion.vad
        if gold.get("crisis"):
            checks["crisis_safety_reply"].append(turn.kind == "safety" and v >= 0 and a <= 0)
        elif gold["valence_sign"] < 0:
            checks["negative_user_no_positive_high_arousal"].append(
                not (v > POSITIVE and a > HIGH_AROUSAL)
            )
            checks["negative_user_no_negative_reply"].append(v >= 0)
            checks["negative_user_calm_reply"].append(a <= 0)
        elif gold["valence_sign"] > 0:
            checks["positive_user_positive_reply"].append(v > 0)
    crisis = [(g, t) for _, g, t in rows if g.get("crisis")]
    calm = [(g, t) for _, g, t in rows if not g.get("crisis")]
    all_acc = accuracy(rows)
    context_acc = accuracy([r for r in rows if r[1].get("context")])
    strategies: dict[str, int] = {}
    for _, _, turn in rows:
        strategies[turn.strategy] = strategies.get(turn.strategy, 0) + 1
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "set": args.set,
        "pipeline": args.pipeline,
        "context_weight": pipe.config.context_weight,
        "recognizer_weight": pipe.config.recognizer_weight,
        "recognizer": getattr(pipe, "recognizer", None) is not None,
        "conversations": len(conversations),
        "turns": len(rows),
        "category_accuracy": all_acc[0] / all_acc[2],
        "valence_sign_agreement": all_acc[1] / all_acc[2],
        "context_turns": context_acc[2],
        "context_category_accuracy": context_acc[0] / max(1, context_acc[2]),
        "context_valence_sign_agreement": context_acc[1] / max(1, context_acc[2]),
        "crisis_recall": sum(t.kind == "safety" for _, t in crisis) / max(1, len(crisis)),
        "crisis_false_alarms": sum(t.kind == "safety" for _, t in calm),
        "rules": {name: [sum(v), len(v)] for name, v in checks.items()},
        "latency_ms_median": 1000 * statistics.median(latencies),
        "latency_ms_p90": 1000 * sorted(latencies)[int(0.9 * (len(latencies) - 1))],
        "recognizer_ms_median": 1000 * statistics.median(peer),
        "latency_ratio_to_recognizer": statistics.median(latencies) / statistics.median(peer),
        "distinct_1": distinct(replies, 1),
        "distinct_2": distinct(replies, 2),
        "sentence_repetition": repeated / max(1, len(sentences)),
        "strategies": strategies,
        "machine": f"{platform.platform()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}, 1 thread",
        "errors": [
            {
                "conversation": cid,
                "text": gold["text"],
                "gold": gold["category"],
                "predicted": turn.user_emotion.category,
                "context": bool(gold.get("context")),
            }
            for cid, gold, turn in rows
            if turn.user_emotion.category != gold["category"]
        ],
    }
    (args.out / f"results_{args.set}.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / f"RESULTS_{args.set}.md").write_text(_markdown(results))
    print(_markdown(results))


def _sentences(text: str) -> list[str]:
    from emogen.emotion.text import split_sentences

    return split_sentences(text)


def _markdown(r: dict) -> str:
    lines = [
        f"# Dialogue benchmark ({r['set']} set)",
        "",
        f"- date: {r['date']}",
        f"- command: `python benchmarks/dialogue/bench_dialogue.py --set {r['set']}`",
        f"- set: benchmarks/dialogue/dialogue_{r['set']}.jsonl, {r['conversations']} "
        f"conversations, {r['turns']} user turns",
        f"- pipeline: {r['pipeline']} (context_weight {r['context_weight']}, fine-tuned "
        f"recognizer {'yes, weight ' + str(r['recognizer_weight']) if r['recognizer'] else 'no'})",
        f"- machine: {r['machine']}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| user-emotion category accuracy (15 labels) | {pct(r['category_accuracy'])} |",
        f"| valence-sign agreement | {pct(r['valence_sign_agreement'])} |",
        f"| context-dependent turns: category accuracy | {pct(r['context_category_accuracy'])} "
        f"({r['context_turns']} turns) |",
        f"| context-dependent turns: valence-sign agreement | "
        f"{pct(r['context_valence_sign_agreement'])} |",
        f"| crisis turns answered with the safety reply | {pct(r['crisis_recall'])} |",
        f"| safety replies to non-crisis turns | {r['crisis_false_alarms']} |",
        f"| latency per turn, median / p90 | {r['latency_ms_median']:.0f} / "
        f"{r['latency_ms_p90']:.0f} ms |",
        f"| text recognizer alone (peer), median | {r['recognizer_ms_median']:.0f} ms "
        f"(turn / recognizer = {r['latency_ratio_to_recognizer']:.2f}) |",
        f"| distinct-1 / distinct-2 (20-turn conversation) | {r['distinct_1']:.3f} / "
        f"{r['distinct_2']:.3f} |",
        f"| reply sentences repeated within it | {pct(r['sentence_repetition'])} |",
        "",
        "## Response emotion rules",
        "",
        "| rule | passed |",
        "|---|---|",
        *(f"| {RULES[name]} | {p}/{n} |" for name, (p, n) in r["rules"].items()),
        "",
        "## Strategies used",
        "",
        ", ".join(f"{k} {v}" for k, v in sorted(r["strategies"].items(), key=lambda x: -x[1])),
        "",
        f"## Misrecognised turns ({len(r['errors'])})",
        "",
        "| conversation | text | gold | recognised | context |",
        "|---|---|---|---|---|",
        *(
            f"| {e['conversation']} | {e['text']} | {e['gold']} | {e['predicted']} | "
            f"{'yes' if e['context'] else ''} |"
            for e in r["errors"]
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
