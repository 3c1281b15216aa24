"""A local buf plugin that generates Python (`_pb2.py`, `_pb2.pyi`, `_pb2_grpc.py`).

buf hands a plugin a CodeGeneratorRequest on stdin. grpcio-tools bundles protoc
and the gRPC Python generator as a library but no standalone plugin binaries,
and the machines cannot download any, so this plugin writes the request's
descriptors to a temporary descriptor set and runs the bundled protoc on it
in-process. Output is byte-for-byte what `python -m grpc_tools.protoc` makes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc  # type: ignore[import-untyped]  # grpcio-tools ships no stubs


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as tmp:
        descriptor_set = Path(tmp, "in.binpb")
        descriptor_set.write_bytes(
            descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString()
        )
        out = Path(tmp, "out")
        out.mkdir()
        code = protoc.main(
            [
                "protoc",
                f"--descriptor_set_in={descriptor_set}",
                f"--python_out={out}",
                f"--pyi_out={out}",
                f"--grpc_python_out={out}",
                *request.file_to_generate,
            ]
        )
        if code != 0:
            response.error = f"grpc_tools.protoc exited with {code}"
        else:
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                response.file.add(name=str(path.relative_to(out)), content=path.read_text())
    sys.stdout.buffer.write(response.SerializeToString())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
