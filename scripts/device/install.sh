# On the GPU machine: install the carried wheels and make them importable. SOURCE it:
#
#   source scripts/device/install.sh [infer|train|av]   (default: train if carried, else infer)
#
# Installs .whl/<set>/*.whl with `pip install --no-index --no-deps --target /tmp/site` (the
# device README's recipe), puts /tmp/site first on PYTHONPATH and /tmp/site/bin (the `swift`
# command) first on PATH, links /tmp/videotemp-media to the carried .whl/media (the SFT jsonl
# there holds absolute paths under /tmp/videotemp-media), and sets PYTHON=python3 for the repo's
# scripts (sft/sft.sh, rl/*.sh), which default to a .venv that does not exist there.
# Returns non-zero (without exiting the calling shell) when something is missing.

_vt_install() {
  local set="${1:-}" root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  if [ -z "$set" ]; then
    if [ -d "$root/.whl/train" ]; then set=train; else set=infer; fi
  fi
  local dir="$root/.whl/$set"
  if ! ls "$dir"/*.whl >/dev/null 2>&1; then
    echo "[install] no wheels in $dir: carry \".whl/$set\" (scripts/device/fetch_wheels.sh $set)" >&2
    return 2
  fi
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-index --no-deps --no-compile \
      --no-cache-dir --upgrade --target /tmp/site "$dir"/*.whl || return 1
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
  export PATH="/tmp/site/bin:$PATH"
  export PYTHON="${PYTHON:-python3}"
  if [ -d "$root/.whl/media" ] && { [ -L /tmp/videotemp-media ] || [ ! -e /tmp/videotemp-media ]; }; then
    ln -sfn "$root/.whl/media" /tmp/videotemp-media
  fi
  echo "[install] $(ls "$dir"/*.whl | wc -l) wheels of .whl/$set in /tmp/site; PYTHONPATH=$PYTHONPATH"
}
_vt_install "$@"
