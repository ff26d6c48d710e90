# On the GPU machine: install a staged stack and make it importable. SOURCE it:
#
#   source scripts/device/install.sh STACK        (train | latest | bench; default train)
#
# STACK's wheels come from the pool that `python3 scripts/device/pool.py receive` filled, call
# by call, from the carried chunks (scripts/device/stage.py made them; scripts/device/PLAN.md
# says which call carries which). Installs into /tmp/site-STACK once (later calls reuse it),
# unpacks the media to /tmp/videotemp-media, and exports PYTHONPATH, PATH (the stack's `swift`,
# `vllm`), PYTHON=python3 (the repository's scripts default to a .venv that is not there), the
# NVLink-multicast switches (off) and offline hubs. Returns non-zero without exiting the
# calling shell when something is missing, naming the chunk to carry.

_vt_install() {
  local stack="${1:-train}" root exports
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  exports="$(python3 "$root/scripts/device/pool.py" install "$stack")" || return $?
  eval "$exports"
  echo "[install] stack $stack: PYTHONPATH=$PYTHONPATH"
}
_vt_install "$@"
