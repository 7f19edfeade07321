"""The emogen web demo (Gradio), Hugging Face Spaces style: `python demos/app.py` serves it.

Options: `--host` (default 127.0.0.1; 0.0.0.0 to serve other machines) and `--port` (default
7860, or $PORT / $GRADIO_SERVER_PORT as Spaces set them). The same app runs from the CLI as
`emogen demo`; the app itself is `emogen.demo` (tabs, limits, handlers).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Run from a checkout without installing: the repository root holds the `emogen` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emogen.demo import DemoLimits, launch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    default_port = int(os.environ.get("GRADIO_SERVER_PORT", os.environ.get("PORT", 7860)))
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument(
        "--max-upload-size", default=DemoLimits.max_upload_size, help="largest upload, e.g. 20mb"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DemoLimits.concurrency_limit,
        help="requests run at once (2 suits a 2-core machine)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up checks
    limits = DemoLimits(max_upload_size=args.max_upload_size, concurrency_limit=args.concurrency)
    launch(args.host, args.port, limits)


if __name__ == "__main__":
    main()
