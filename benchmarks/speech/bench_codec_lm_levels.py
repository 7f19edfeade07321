"""How well a codec language model predicts each level of its codec's tokens on unseen speech.

For each codec-LM pipeline given, every sentence of a held-out corpus manifest (default: the one
`heldout_corpus.yaml` builds) is encoded with the pipeline's own codec, and the language model
scores the real tokens with teacher forcing under the sentence's emotion: the cross-entropy
(nats) and top-1 accuracy of each level, beside the entropy of the level's unigram distribution
(what a model that learned nothing about the context would score). A level the model cannot
predict is one it samples at random when it speaks. Writes RESULTS_codec_lm_levels.md.

    .venv/bin/python training/speech_corpus/build.py \\
        --config benchmarks/speech/heldout_corpus.yaml --out data/corpus-heldout
    .venv/bin/python benchmarks/speech/bench_codec_lm_levels.py pipelines/tts-codec-lm
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def level_scores(pipeline_path: str, manifest: Path) -> dict[str, list[float]]:
    """Per-level cross-entropy, top-1 accuracy and unigram entropy of one pipeline."""
    import torch.nn.functional as F
    from accelerate import Accelerator

    from emogen.pipelines import load_pipeline
    from emogen.speech.acoustic import emotion_embedding

    sys.path.insert(0, str(ROOT / "training" / "tts_codec_lm"))
    import train as recipe  # the recipe's data path: sentences, codes and pointer targets

    pipe = load_pipeline(pipeline_path)
    model, encoder = pipe.language_model.eval(), pipe.emotion_encoder.eval()
    config = {**recipe.load_config("base"), "validation_texts": 0, "max_sentence_frames": 10**6}
    with tempfile.TemporaryDirectory() as scratch:
        sentences, _, _, _ = recipe.build_data(
            [manifest], Path(scratch), config, pipe.codec, Accelerator(cpu=True)
        )
    levels = model.config.num_codebooks
    total, right, count = np.zeros(levels), np.zeros(levels), np.zeros(levels)
    with torch.no_grad():
        for sentence in sentences:
            frames = sentence.codes.shape[1]
            logits = model(
                emotion_embedding(encoder, [sentence.emotion]),
                sentence.tokens[None],
                torch.tensor([len(sentence.tokens)]),
                sentence.codes[None],
                torch.tensor([frames]),
                None if sentence.frame_phonemes is None else sentence.frame_phonemes[None],
            ).logits[0]
            for level in range(levels):  # the delay pattern: level q of frame t at step t + q
                scores, target = logits[level : level + frames, level], sentence.codes[level]
                total[level] += float(F.cross_entropy(scores, target, reduction="sum"))
                right[level] += float((scores.argmax(-1) == target).sum())
                count[level] += frames
    unigram = []
    for level in range(levels):
        codes = torch.cat([s.codes[level] for s in sentences])
        p = torch.bincount(codes, minlength=pipe.codec.codebook_size).double()
        p = p[p > 0] / p.sum()
        unigram.append(float(-(p * p.log()).sum()))
    return {
        "cross_entropy": (total / count).tolist(),
        "top1": (right / count).tolist(),
        "unigram_entropy": unigram,
        "sentences": len(sentences),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pipelines", nargs="+", help="codec-LM pipeline folders or names")
    parser.add_argument("--manifest", default=str(ROOT / "data/corpus-heldout/manifest.jsonl"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Codec LM: how well each level of the tokens is predicted",
        "",
        f"- date: {date}",
        "- command: `python benchmarks/speech/bench_codec_lm_levels.py "
        + " ".join(args.pipelines)
        + "`",
        "- data: the held-out corpus of heldout_corpus.yaml (sentences in no training corpus, "
        "neutral and angry), encoded by each pipeline's own codec; teacher forcing under the "
        "sentence's emotion",
        "- cross-entropy in nats per token (lower is better); unigram: the entropy of the level's "
        "code distribution in this data, what a model blind to the context would score",
        "",
        "| pipeline | level | cross-entropy | unigram entropy | top-1 |",
        "|---|---|---|---|---|",
    ]
    for path in args.pipelines:
        scores = level_scores(path, Path(args.manifest))
        for level, (ce, uni, top1) in enumerate(
            zip(scores["cross_entropy"], scores["unigram_entropy"], scores["top1"])
        ):
            lines.append(f"| {path} | {level} | {ce:.2f} | {uni:.2f} | {100 * top1:.1f} % |")
        print("\n".join(lines[-len(scores["top1"]) :]), flush=True)
    (HERE / "RESULTS_codec_lm_levels.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
