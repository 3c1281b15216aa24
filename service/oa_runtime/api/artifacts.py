"""ArtifactService: converts requests to core types, calls the use cases (`app/artifacts.py`)
and converts the answers. Errors are DomainErrors, mapped to statuses by the edge interceptor.

FetchArtifact streams google.api.HttpBody messages: through Envoy the HTTP body is the
artifact's bytes with its media type as the content type (from the first message) and the
initial metadata below as headers. Everything that can fail is checked before the first
message, so a failure is an HTTP status with the one JSON error shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc.aio
from google.api import httpbody_pb2
from openagents.runtime.v1 import artifact_service_pb2 as pb
from openagents.runtime.v1 import artifact_service_pb2_grpc as pb_grpc

from ..app import artifacts as app
from ..core.artifacts import Artifact
from ..ports import ArtifactStore
from .convert import _timestamp


class ArtifactService(pb_grpc.ArtifactServiceServicer):  # type: ignore[misc]
    def __init__(self, store: ArtifactStore) -> None:
        self.store = store

    async def ListArtifacts(
        self, request: pb.ListArtifactsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListArtifactsResponse:
        scope = app.scope_of(request.run_id, request.thread_id, request.agent_id)
        page, token = await app.list_artifacts(self.store, scope, request.page_size, request.page_token)
        return pb.ListArtifactsResponse(artifacts=[artifact_to_proto(a) for a in page], next_page_token=token)

    async def FetchArtifact(
        self, request: pb.FetchArtifactRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FetchArtifactResponse]:
        scope = app.scope_of(request.run_id, request.thread_id, request.agent_id)
        fetch = await app.open_fetch(self.store, scope, request.sha256, request.offset, request.length)
        ref = fetch.artifact.ref
        await context.send_initial_metadata(
            (
                ("x-oa-artifact-sha256", ref.sha256),
                ("x-oa-artifact-size", str(ref.size_bytes)),
                ("content-disposition", _attachment(ref.name)),
                ("x-content-type-options", "nosniff"),
            )
        )
        sent = False
        async for data in app.read_chunks(self.store, fetch):
            sent = True
            yield _body(ref.media_type, data)
        if not sent:  # an empty range still needs one message: it carries the content type
            yield _body(ref.media_type, b"")


def _body(media_type: str, data: bytes) -> pb.FetchArtifactResponse:
    return pb.FetchArtifactResponse(body=httpbody_pb2.HttpBody(content_type=media_type, data=data))


def _attachment(name: str) -> str:
    """A Content-Disposition header value; the name is printable ASCII without quotes or
    backslashes (anything else becomes `_`), so the header can never be split or forged."""
    safe = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "artifact"
    return f'attachment; filename="{safe}"'


def artifact_to_proto(a: Artifact) -> pb.Artifact:
    return pb.Artifact(
        sha256=a.ref.sha256,
        name=a.ref.name,
        media_type=a.ref.media_type,
        size_bytes=a.ref.size_bytes,
        producer=a.producer,
        seq=a.seq,
        run_id=a.run_id,
        thread_id=a.thread_id,
        agent_id=a.agent_id,
        preview=a.preview,
        create_time=_timestamp(a.created_at),
    )
