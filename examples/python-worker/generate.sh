#!/usr/bin/env bash
# Generates the Python message classes and gRPC stubs this worker uses into ./gen, from the same
# .proto files the server is built from (proto/coord/v1). Needs Debian's protobuf-compiler and
# protobuf-compiler-grpc (protoc and grpc_python_plugin). The worker needs only worker.proto and
# what it imports, so Google's HTTP annotations (coordinator.proto) are not required.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$here/gen"

protoc="${PROTOC:-$(command -v protoc || true)}"
plugin="${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || true)}"
if [ -z "$protoc" ]; then echo "generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; fi
if [ -z "$plugin" ]; then echo "generate.sh: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)" >&2; exit 1; fi

# The well-known types (google/protobuf/*.proto) ship with protoc under /usr/include.
wkt_include=/usr/include
if [ ! -f "$wkt_include/google/protobuf/struct.proto" ]; then
  wkt_include="$(dirname "$(dirname "$protoc")")/include"
fi

rm -rf "$out"
mkdir -p "$out"
"$protoc" \
  -I "$root/proto" -I "$wkt_include" \
  --plugin=protoc-gen-grpc_python="$plugin" \
  --python_out="$out" --grpc_python_out="$out" \
  coord/v1/common.proto coord/v1/task.proto coord/v1/worker.proto

# The stubs import `coord.v1.worker_pb2`: make coord and coord.v1 regular packages.
touch "$out/coord/__init__.py" "$out/coord/v1/__init__.py"
echo "generated $(find "$out" -name '*_pb2*.py' | wc -l) modules in $out"
