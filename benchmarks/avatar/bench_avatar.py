"""Avatar benchmark: end-to-end time, and the web demo under concurrent and repeated requests.

- End to end (in this process, one torch thread): `AvatarPipeline` (pipelines/avatar) answers
  each message of MESSAGES with the default portrait at the default size (512) and frame rate
  (25), and the MP4 is written: wall time (dialogue + speech + face analysis + rendering +
  encoding) against the reply audio's duration (target <= 3x for a reply of about 12 words),
  beside a peer measured in the same run: the plain Piper voice speaking the same reply
  (`voice.synthesize`, no emotion rendering, no face).
- Server (`emogen demo` in a subprocess): four simultaneous speech requests (`/speak`), each
  from its own gradio_client (all must succeed), then the server's resident memory (VmRSS) after
  5 and after 50 requests, speech and chat in turn (one chat client: its conversation grows)
  (target: within 10 %).

Writes RESULTS.md and results.json beside this file.

    .venv/bin/python benchmarks/avatar/bench_avatar.py               # ~5 minutes
    .venv/bin/python benchmarks/avatar/bench_avatar.py --no-server   # end to end only
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Messages of several kinds; replies run from 12 words (a greeting's) to about 40.
MESSAGES = [
    "Hi",
    "ok",
    "Thanks, that helps.",
    "I got the job!",
    "We won the match!",
    "I'm nervous about tomorrow.",
    "My cat is sick.",
    "I'm so angry at my landlord.",
]
SPEECH_TEXTS = [
    "The weather turned cold overnight.",
    "We will meet again at noon.",
    "Please close the window when you leave.",
    "That was the best concert of the year.",
]


def bench_end_to_end() -> list[dict]:
    from emogen.dialogue import Conversation
    from emogen.pipelines import load_pipeline

    avatar = load_pipeline("avatar")
    avatar("Hello there, how are you?", size=128, fps=5)  # warm-up: first calls load models
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, message in enumerate(MESSAGES):
            start = time.perf_counter()
            answer = avatar(message, conversation=Conversation(), generator=index)
            answer.save(Path(folder) / f"{index}.mp4", progress=False)
            wall = time.perf_counter() - start
            start = time.perf_counter()
            for sentence in answer.turn.sentences:
                avatar.tts.voice.synthesize(sentence)
            peer = time.perf_counter() - start
            duration = len(answer.audio) / answer.sample_rate
            rows.append(
                {
                    "message": message,
                    "reply": answer.text,
                    "words": len(answer.text.split()),
                    "audio_s": round(duration, 2),
                    "wall_s": round(wall, 2),
                    "wall_over_audio": round(wall / duration, 3),
                    "plain_voice_s": round(peer, 3),
                    "wall_over_plain_voice": round(wall / peer, 1),
                }
            )
            print(rows[-1], flush=True)
    return rows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def bench_server() -> dict:
    from gradio_client import Client

    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", GRADIO_ANALYTICS_ENABLED="False")
    command = [sys.executable, "-m", "emogen.cli", "demo", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            try:
                client = Client(url, verbose=False)
                break
            except Exception:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(server.stderr.read().decode()[-2000:]) from None
                time.sleep(1)

        def speak(text: str, emotion: str = "happy") -> float:
            start = time.perf_counter()
            Client(url, verbose=False).predict(text, emotion, "joe-us", 0, api_name="/speak")
            return time.perf_counter() - start

        speak("Warming up.")
        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(speak, text) for text in SPEECH_TEXTS]
            concurrent = []
            for future in futures:
                try:
                    concurrent.append({"ok": True, "seconds": round(future.result(), 2)})
                except Exception as error:  # reported, not raised: the table says what failed
                    concurrent.append({"ok": False, "error": str(error)[:200]})
        concurrent_wall = time.perf_counter() - start

        memory = {}
        for request in range(1, 51):
            if request % 2:
                speak(SPEECH_TEXTS[request % 4], "sad:0.5")
            else:
                client.predict(
                    MESSAGES[request % len(MESSAGES)], "warm", False, "plan", 0, api_name="/chat"
                )
            if request in (5, 50):
                memory[request] = round(_rss_mib(server.pid), 1)
        return {
            "concurrent_requests": concurrent,
            "concurrent_wall_s": round(concurrent_wall, 2),
            "rss_mib_after_5": memory[5],
            "rss_mib_after_50": memory[50],
            "rss_growth": round(memory[50] / memory[5] - 1, 4),
        }
    finally:
        server.terminate()
        server.wait(30)


def write_results(rows: list[dict], server: dict | None) -> None:
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads 1",
        "end_to_end": rows,
        "server": server,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    short = [row for row in rows if row["words"] <= 17]
    lines = [
        "# Avatar benchmark",
        "",
        f"`.venv/bin/python benchmarks/avatar/bench_avatar.py`, {results['date']}, "
        f"{results['machine']}. Absolute times on these shared machines are noisy: compare the "
        "ratios.",
        "",
        "## End to end (message -> reply, speech, MP4 of the astronaut at 512 px, 25 fps)",
        "",
        "Target: wall time <= 3x the reply audio's duration for a reply of about 12 words. "
        "Peer in the same run: the plain Piper voice speaking the reply's sentences.",
        "",
        "| message | words | audio s | wall s | wall / audio | wall / plain voice |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['message']} | {row['words']} | {row['audio_s']} | {row['wall_s']} | "
            f"{row['wall_over_audio']:.2f} | {row['wall_over_plain_voice']} |"
        )
    if short:
        worst = max(row["wall_over_audio"] for row in short)
        lines += ["", f"Replies of 12-17 words: wall / audio at most {worst:.2f} (target <= 3)."]
    if server is not None:
        ok = sum(r["ok"] for r in server["concurrent_requests"])
        lines += [
            "",
            "## Web demo server (`emogen demo`, gradio_client)",
            "",
            f"- Four simultaneous speech requests: {ok} of 4 succeeded, in "
            f"{server['concurrent_wall_s']} s together (each: "
            + ", ".join(
                f"{r['seconds']} s" if r["ok"] else f"failed: {r['error']}"
                for r in server["concurrent_requests"]
            )
            + ").",
            f"- Resident memory after 5 requests {server['rss_mib_after_5']} MiB, after 50 "
            f"{server['rss_mib_after_50']} MiB: {100 * server['rss_growth']:+.1f} % "
            "(target within 10 %).",
        ]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-server", action="store_true", help="skip the web demo part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = bench_end_to_end()
    server = None if args.no_server else bench_server()
    write_results(rows, server)
    print((HERE / "RESULTS.md").read_text())


if __name__ == "__main__":
    main()
