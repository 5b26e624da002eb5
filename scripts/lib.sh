# Shared helpers for scripts/: progress lines and a one-time npm install.
step() { printf '[%s] %s\n' "${STEP_TAG:-tessera}" "$*" >&2; }

# Install npm packages when node_modules is missing or older than the lockfile.
ensure_node_modules() {
  if [ ! -x node_modules/.bin/tsx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    # `npm install`, not `npm ci`: the lockfile cannot list buf's optional per-platform
    # binaries that the registry does not serve, which `npm ci` rejects as out of sync.
    step "installing npm packages (npm install)…"
    npm install --no-audit --no-fund --loglevel=error
  fi
}

# Generate protobuf code into libs/gen (buf + local protoc-gen-es); cheap when nothing changed.
generate() {
  step "generating code from proto/ (buf generate)…"
  npx --no-install buf generate
}

# Bundle every service into dist/ (esbuild; ~0.1 s) so processes run on plain node.
bundle() {
  step "bundling services into dist/ (esbuild)…"
  node scripts/build.mjs
}
