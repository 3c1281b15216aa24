"""Renders gateway/envoy.yaml.tmpl and builds the protobuf descriptor set Envoy transcodes with."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from oa_gateway.errors import local_reply_mappers

# gateway/oa_gateway/config.py → the repository root is two levels above the package.
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "gateway" / "envoy.yaml.tmpl"


@dataclass(frozen=True)
class GatewayConfig:
    """Values for the template's placeholders. Port 0 lets the OS pick; the launcher reports it."""

    grpc_port: int
    descriptor_path: Path
    grpc_host: str = "127.0.0.1"
    http_port: int = 8080
    admin_port: int = 9901
    # Loopback unless the deployment says otherwise (RUNTIME_HTTP_HOST for `make run`).
    http_host: str = "127.0.0.1"

    def placeholders(self) -> dict[str, str]:
        return {
            "HTTP_HOST": self.http_host,
            "HTTP_PORT": str(self.http_port),
            "LOCAL_REPLY_MAPPERS": local_reply_mappers(),
            "ADMIN_PORT": str(self.admin_port),
            "GRPC_HOST": self.grpc_host,
            "GRPC_PORT": str(self.grpc_port),
            # Envoy resolves a relative path against its own working directory, not ours.
            "DESCRIPTOR_PATH": str(self.descriptor_path.resolve()),
        }


def render_config(config: GatewayConfig, out_path: Path, template_path: Path = TEMPLATE_PATH) -> Path:
    """Writes the rendered bootstrap to `out_path`. A placeholder without a value raises KeyError."""
    rendered = Template(template_path.read_text()).substitute(config.placeholders())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(rendered)
    return out_path


def find_buf() -> Path:
    """The buf binary: $OA_BUF, else the repo's npm-installed copy, else buf on PATH."""
    explicit = os.environ.get("OA_BUF")
    if explicit:
        return Path(explicit)
    local = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "buf"
    if local.exists():
        return local
    on_path = shutil.which("buf")
    if on_path is None:
        raise FileNotFoundError("buf not found: set OA_BUF or install @bufbuild/buf into .tools/")
    return Path(on_path)


def build_descriptor_set(out_path: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Builds the whole buf workspace (imports included, so google/rpc/error_details.proto is
    there and ErrorInfo details reach HTTP clients) into a FileDescriptorSet at `out_path`."""
    out_path = out_path.resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(find_buf()), "build", "--as-file-descriptor-set", "-o", str(out_path)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"buf build failed ({result.returncode}): {result.stderr.strip()}")
    return out_path
