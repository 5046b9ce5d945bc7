#!/usr/bin/env bash
# Set up (or refresh) the project's environment, then run the server or the test suite.
#   bash scripts/run.sh serve [antiphon serve options]
#   bash scripts/run.sh test  [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."

need_system=(espeak-ng libportaudio2)
# the tests also render questions with the other offline synthesizers (antiphon eval --voices)
[[ "${1:-}" == test ]] && need_system+=(chromium alsa-utils flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts haproxy)
missing=()
for p in "${need_system[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "antiphon: installing system packages: ${missing[*]}" >&2
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "antiphon: need root or sudo to install ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1; fi
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "antiphon: could not install ${missing[*]}; install them with your package manager and retry" >&2; exit 1
  fi
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [[ ! -x .venv/bin/python ]]; then
  echo "antiphon: creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi
stamp=.venv/.antiphon-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "antiphon: installing Python dependencies into .venv (torch is large; first run takes minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[dev]"
  touch "$stamp"
fi
# SAM, a held-out voice family for `antiphon eval --voices sam`: its pyaudio dependency is for playback only
# and would need PortAudio headers to build, so it goes in without its dependencies
if [[ "${1:-}" == test && ! -f .venv/.samtts-installed ]]; then
  .venv/bin/python -m pip install -q --no-deps "samtts==0.3.0" && touch .venv/.samtts-installed
fi

# pipecat-ai brings its own onnxruntime, which would replace the project's: its test client gets a venv of its own
if [[ "${1:-}" == test && ! -f .venv-pipecat/.installed ]]; then
  echo "antiphon: creating .venv-pipecat for the pipecat client test" >&2
  "$PY" -m venv .venv-pipecat && .venv-pipecat/bin/python -m pip install -q "pipecat-ai[openai]==1.14.*" \
    && touch .venv-pipecat/.installed
fi

# livekit-agents likewise pins its own versions: its test client gets a venv of its own too
if [[ "${1:-}" == test && ! -f .venv-livekit/.installed ]]; then
  echo "antiphon: creating .venv-livekit for the livekit-agents client test" >&2
  "$PY" -m venv .venv-livekit && .venv-livekit/bin/python -m pip install -q "livekit-agents[openai]==1.8.*" \
    && touch .venv-livekit/.installed
fi

cmd=${1:-}; shift || true
case "$cmd" in
  serve) exec .venv/bin/antiphon serve "$@" ;;
  # -P: the repository root must not sit on sys.path, where its kernels/ would hide the installed `kernels`
  test)  .venv/bin/ruff check . && exec .venv/bin/python -P -m pytest "$@" ;;
  *) echo "usage: bash scripts/run.sh serve|test [options]" >&2; exit 2 ;;
esac
