# Sourced by the scripts: make .venv and install the project into it on first
# use, and again whenever pyproject.toml changes. Serialised by a lock, so two
# scripts started together (scripts/dev and scripts/test) both succeed: the
# second waits for the first's install, then finds it done.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python3}"
if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "OpenParty needs Python 3.11 or newer as '$python_bin' (set PYTHON=...)." >&2
  exit 1
fi
venv="$repo_root/.venv"
stamp="$venv/.installed-$(sha256sum "$repo_root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  mkdir -p "$repo_root/.local"
  exec 9>"$repo_root/.local/venv.lock"
  if ! flock -n 9; then
    echo "Waiting for another script that is setting up $venv..." >&2
    flock 9
  fi
  if [ ! -f "$stamp" ]; then
    echo "Setting up $venv (first run, or pyproject.toml changed)..." >&2
    [ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet -e "$repo_root[dev]" >&2
    rm -f "$venv"/.installed-*
    touch "$stamp"
  fi
  exec 9>&-
fi
export PATH="$venv/bin:$PATH"
