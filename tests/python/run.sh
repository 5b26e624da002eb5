#!/usr/bin/env bash
# tests/python/run.sh — Tessera's public gRPC API called from a client generated in another
# language (Python, grpcio). Generates stubs from proto/ into tests/python/gen/ (git-ignored),
# then runs test_grpc_chat.py with unittest.
#
#   TESSERA_GRPC_TARGET=127.0.0.1:8080 TESSERA_TEST_API_KEY=<key> tests/python/run.sh
#
# tests/e2e/python-grpc.test.ts starts a gateway and runs this. Exit status: unittest's (0 when
# every test passed), 3 when python3 or grpcio/grpcio-tools are missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "tests/python: $PY is not installed; run scripts/infra up (it installs python3 and grpcio)" >&2
  exit 3
fi
if ! "$PY" -c 'import grpc, grpc_tools.protoc, google.protobuf' >/dev/null 2>&1; then
  echo "tests/python: grpcio / grpcio-tools / protobuf are missing for $(command -v "$PY"); run scripts/infra up" \
    "(or: $PY -m pip install grpcio grpcio-tools protobuf)" >&2
  exit 3
fi

# Fresh stubs every run, built aside and swapped in so a half-written gen/ is never imported.
# grpc_tools.protoc adds its bundled well-known types (google/protobuf/struct.proto) itself.
tmp=$(mktemp -d "$HERE/.gen.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
"$PY" -m grpc_tools.protoc -I "$REPO/proto" --python_out="$tmp" --grpc_python_out="$tmp" \
  "$REPO/proto/tessera/gateway/v1/gateway.proto" "$REPO/proto/tessera/chat/v1/chat.proto"
rm -rf "$HERE/gen"
mv "$tmp" "$HERE/gen"

cd "$HERE"
PYTHONPATH="$HERE/gen${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m unittest -v test_grpc_chat
