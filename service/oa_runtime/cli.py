"""`oa-runtime`: serve, up (service + Envoy, for `make run`), gateway (the Envoy sidecar),
migrate, retention, token, smoke, and `runs list|show|tail|cancel|start` (operator client, any
replica)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import logs
from .auth.token import Keyring, TokenPolicy, mint_token
from .config import Settings

DEV_SECRET_PATH = Path("var/dev-signing-secret")


def dev_secret_env(environ: dict[str, str]) -> dict[str, str]:
    """For local runs: when no signing secret is configured, use (and create once)
    a random one under var/, so `serve`, `up` and `token` agree without set-up."""
    if environ.get("RUNTIME_SIGNING_SECRET") or environ.get("RUNTIME_SIGNING_KEYS"):
        return environ
    if not DEV_SECRET_PATH.exists():
        DEV_SECRET_PATH.parent.mkdir(parents=True, exist_ok=True)
        DEV_SECRET_PATH.write_text(secrets.token_urlsafe(32))
        DEV_SECRET_PATH.chmod(0o600)
    return {**environ, "RUNTIME_SIGNING_SECRET": DEV_SECRET_PATH.read_text().strip()}


def _cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    env = dict(os.environ)
    if args.dev_secret:
        env = dev_secret_env(env)
    settings = Settings.from_env(env)
    logs.configure(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, environ=env))
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    """The service and Envoy together in the foreground; Ctrl-C stops both."""
    env = dev_secret_env(dict(os.environ))
    # `make run` serves /metrics on loopback, on a port the OS picks (two instances never clash);
    # the banner names it. Set RUNTIME_METRICS_PORT for a fixed one.
    env.setdefault("RUNTIME_METRICS_PORT", "0")
    settings = Settings.from_env(env)
    logs.configure(
        settings.log_level,
        "text" if settings.log_format == "json" and sys.stderr.isatty() else settings.log_format,
    )
    # Envoy's config, descriptor set and log live in a private directory per instance (not
    # in the checkout), so two `make run`s never overwrite each other's files.
    work = Path(tempfile.mkdtemp(prefix="oa-runtime-up-"))
    try:
        _up(settings, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _up(settings: Settings, env: dict[str, str], work: Path) -> None:
    from oa_gateway.config import GatewayConfig, build_descriptor_set, render_config
    from oa_gateway.launcher import start_envoy

    from .server import serve

    descriptor = build_descriptor_set(work / "runtime.binpb")
    admin_port = int(env.get("RUNTIME_ENVOY_ADMIN_PORT", "9901"))
    config = render_config(
        GatewayConfig(
            grpc_port=settings.grpc_port,
            grpc_host=settings.grpc_host,
            descriptor_path=descriptor,
            http_port=settings.http_port,
            admin_port=admin_port,
            # Loopback unless asked: `RUNTIME_HTTP_HOST=0.0.0.0` exposes the gateway.
            http_host=env.get("RUNTIME_HTTP_HOST", "127.0.0.1"),
        ),
        work / "envoy.yaml",
    )

    async def main() -> None:
        stop, ready = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        service = asyncio.create_task(serve(settings, environ=env, stop=stop, on_ready=lambda _: ready.set()))
        await asyncio.wait([service, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED)
        if service.done():
            await service  # failed to start: raise its error
            return
        try:
            # Blocking start (waits for Envoy's admin /ready) off the event loop,
            # which keeps serving Envoy's health checks meanwhile.
            envoy = await asyncio.to_thread(start_envoy, config, work_dir=work)
        except BaseException:
            stop.set()
            await service
            raise
        try:
            _print_banner(settings, env)
            await service
        finally:
            await asyncio.to_thread(envoy.stop)

    asyncio.run(main())


def _print_banner(settings: Settings, env: dict[str, str]) -> None:
    from .observability.metrics import metrics_port

    base = f"http://127.0.0.1:{settings.http_port}"
    grpc_addr = f"{settings.grpc_host}:{settings.grpc_port}"
    secret = Keyring.from_env(env).secret_for(None)
    ttl = TokenPolicy.from_env(env).max_ttl_s
    run_id = f"demo-{int(time.time())}"

    def token() -> str:  # tokens are single-use: one per request, bound to run, thread and user
        return mint_token(
            secret, ttl_s=ttl, now=time.time(), run_id=run_id, thread_id="thread-demo", user_id=42
        )

    body = json.dumps(
        {"runId": run_id, "threadId": "thread-demo", "userId": 42, "prompt": "/say Hello from the runtime"}
    )
    print(
        f"""
OpenAgents Runtime is up on {settings.database_url}
  gRPC  {grpc_addr}  (server reflection: grpcurl -plaintext {grpc_addr} list)
  HTTP  {base}  ({base}/healthz, {base}/readyz)
  metrics  http://{settings.metrics_host}:{metrics_port()}/metrics
  operator CLI  .venv/bin/oa-runtime runs list | runs tail <run id>   (mints its own tokens)

Start a run, then stream it as AI SDK SSE (tokens live {ttl} s and are single-use;
mint more with: .venv/bin/oa-runtime token --run-id {run_id} --thread-id thread-demo --user-id 42):
  curl -s {base}/internal/v1/runs -H 'content-type: application/json' \\
    -H 'X-OA-RUNTIME-SIGNATURE: {token()}' -d {shlex.quote(body)}
  curl -N {base}/internal/v1/runs/{run_id}/stream -H 'X-OA-RUNTIME-SIGNATURE: {token()}'
Press Ctrl-C to stop.
""",
        flush=True,
    )


def _cmd_migrate(args: argparse.Namespace) -> int:
    from .store import open_store

    settings = Settings.from_env()

    async def main() -> None:
        store = open_store(settings.database_url)
        await store.open()  # applies pending migrations
        await store.close()

    asyncio.run(main())
    print(f"migrations applied to {settings.database_url.split('@')[-1]}")
    return 0


def _cmd_reproject(args: argparse.Namespace) -> int:
    """Drift between the Laravel read models and the log: one JSON line per drift, then
    a summary; exit 1 when drift was found and not repaired."""
    from .app.reproject import reproject
    from .store import open_store
    from .store.base import SqlStore

    settings = Settings.from_env()

    async def main() -> int:
        store = open_store(settings.database_url)
        assert isinstance(store, SqlStore)  # both adapters are
        await store.open()
        try:
            report = await reproject(
                store,
                run_id=args.run_id,
                thread_id=args.thread_id,
                agent_id=args.agent_id,
                reconcile=args.reconcile,
            )
        finally:
            await store.close()
        for drift in report.found:
            print(json.dumps(drift.to_json()), flush=True)
        print(json.dumps(report.summary()), flush=True)
        return 0 if report.ok else 1

    return asyncio.run(main())


def _cmd_retention(args: argparse.Namespace) -> int:
    """One retention pass (README "Artifacts and retention"): one JSON line per stream whose
    floor moves and per artifact collected (or would be, with --dry-run), then a summary."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from .app.retention import policy_of, retention_pass
    from .store import open_store
    from .store.retention import open_retention_store

    settings = Settings.from_env()
    if args.retention_class:
        settings = replace(settings, retention_class=args.retention_class)
    if args.raw_age_s is not None:
        settings = replace(settings, retention_raw_age_s=args.raw_age_s)
    if args.artifact_grace_s is not None:
        settings = replace(settings, artifact_gc_grace_s=args.artifact_grace_s)
    policy = policy_of(settings)

    async def main() -> int:
        store = open_store(settings.database_url)
        await store.open()
        try:
            report = await retention_pass(
                open_retention_store(store),
                policy,
                datetime.now(UTC),
                dry_run=args.dry_run,
                batch=settings.retention_batch,
                artifact_grace=timedelta(seconds=settings.artifact_gc_grace_s),
            )
        finally:
            await store.close()
        for trim in report.trims:
            print(json.dumps(trim.to_json()), flush=True)
        for sha256, size in report.artifacts:
            print(json.dumps({"artifact": sha256, "bytes": size}), flush=True)
        print(json.dumps(report.summary()), flush=True)
        return 0

    return asyncio.run(main())


def _cmd_token(args: argparse.Namespace) -> int:
    env = dev_secret_env(dict(os.environ))
    keyring = Keyring.from_env(env)
    ttl = args.ttl if args.ttl is not None else TokenPolicy.from_env(env).max_ttl_s
    print(
        mint_token(
            keyring.secret_for(args.key_id),
            ttl_s=ttl,
            now=time.time(),
            run_id=args.run_id,
            thread_id=args.thread_id,
            user_id=args.user_id,
            guest_scope=args.guest_scope,
            scope="service" if args.service else None,
            worker_id=args.worker_id,
            agent_id=args.agent_id,
        )
    )
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    import grpc

    from .ops import runs_cli

    env = dev_secret_env(dict(os.environ))
    keyring = Keyring.from_env(env)
    tokens = runs_cli.TokenSource(
        keyring.secret_for(args.key_id),
        ttl_s=min(60, TokenPolicy.from_env(env).max_ttl_s),
        key_id=args.key_id or keyring.default_key_id,
    )
    settings = Settings.from_env(env)
    address = args.address or env.get("RUNTIME_ADDRESS") or f"{settings.grpc_host}:{settings.grpc_port}"
    with grpc.insecure_channel(address) as channel:
        client = runs_cli.RunsClient(channel, tokens)
        try:
            return runs_cli.run_command(client, args, sys.stdout, sys.stderr)
        except runs_cli.CliError as exc:
            print(f"oa-runtime runs {args.runs_command}: {exc}", file=sys.stderr)
            return exc.exit_code


def _cmd_smoke(args: argparse.Namespace) -> int:
    import httpx  # here, not at the top: `serve` starts without it

    from .ops.smoke import Smoke, SmokeFailed

    env = dev_secret_env(dict(os.environ))
    keyring = Keyring.from_env(env)
    base_url = args.base_url or env.get("RUNTIME_BASE_URL") or "http://127.0.0.1:8080"
    try:
        Smoke(base_url, keyring.secret_for(args.key_id), key_id=args.key_id or keyring.default_key_id).run()
    except (SmokeFailed, httpx.HTTPError) as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    print(f"smoke passed against {base_url}")
    return 0


def _cmd_gateway(args: argparse.Namespace) -> int:
    """The Envoy sidecar: renders the gateway config (plus the stats listener) and execs Envoy."""
    from oa_gateway.config import GatewayConfig, render_config
    from oa_gateway.launcher import find_envoy

    from .ops.gateway import with_stats_listener

    env = dict(os.environ)
    settings = Settings.from_env(env)
    admin_port = int(env.get("RUNTIME_ENVOY_ADMIN_PORT", "9901"))
    work = Path(args.work_dir)
    config = GatewayConfig(
        grpc_port=settings.grpc_port,
        grpc_host=env.get("RUNTIME_GATEWAY_UPSTREAM_HOST", "127.0.0.1"),
        descriptor_path=Path(args.descriptor),
        http_port=settings.http_port,
        admin_port=admin_port,
    )
    path = render_config(config, work / "envoy.yaml")
    stats_port = int(env.get("RUNTIME_ENVOY_STATS_PORT", "9902"))
    path.write_text(with_stats_listener(path.read_text(), stats_port=stats_port, admin_port=admin_port))
    if args.render_only:
        print(path)
        return 0
    envoy = str(find_envoy())
    os.execv(envoy, [envoy, "-c", str(path), "--log-level", env.get("RUNTIME_ENVOY_LOG_LEVEL", "warn")])


def _add_token_parser(sub: Any) -> None:
    token = sub.add_parser("token", help="print a valid X-OA-RUNTIME-SIGNATURE value")
    token.add_argument("--run-id")
    token.add_argument("--thread-id")
    token.add_argument("--user-id")
    token.add_argument("--guest-scope")
    token.add_argument("--worker-id", help="bind the token to one Codex worker")
    token.add_argument("--agent-id", help="bind the token to one long-lived agent")
    token.add_argument(
        "--service", action="store_true", help='scope "service" (needs RUNTIME_ALLOW_SERVICE_TOKENS=1)'
    )
    token.add_argument("--ttl", type=int, help="seconds (default RUNTIME_TOKEN_TTL_S, 60)")
    token.add_argument("--key-id", help="sign with this key of RUNTIME_SIGNING_KEYS")
    token.set_defaults(fn=_cmd_token)


def _add_retention_parser(sub: Any) -> None:
    retention = sub.add_parser(
        "retention", help="trim logs below their retention floor; collect unreferenced artifact bytes"
    )
    retention.add_argument("--dry-run", action="store_true", help="report what would go, remove nothing")
    retention.add_argument(
        "--class", dest="retention_class", help="default RUNTIME_RETENTION_CLASS (durable)"
    )
    retention.add_argument("--raw-age-s", type=float, help="keep raw events this long (runs: after they end)")
    retention.add_argument(
        "--artifact-grace-s", type=float, help="collect unreferenced bytes stored longer ago than this"
    )
    retention.set_defaults(fn=_cmd_retention)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oa-runtime", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC service (configuration from RUNTIME_* variables)")
    serve.add_argument(
        "--dev-secret", action="store_true", help="use/create var/dev-signing-secret when no secret is set"
    )
    serve.set_defaults(fn=_cmd_serve)
    sub.add_parser("up", help="the service and Envoy together (what `make run` runs)").set_defaults(
        fn=_cmd_up
    )
    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(fn=_cmd_migrate)
    reproject = sub.add_parser("reproject", help="check the Laravel read models against the log; repair")
    scope = reproject.add_mutually_exclusive_group(required=True)
    scope.add_argument("--run-id")
    scope.add_argument("--thread-id")
    scope.add_argument("--agent-id", help="one agent's row in the agents table")
    scope.add_argument("--all", action="store_true", help="every run, thread and agent")
    mode = reproject.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="report only (the default)")
    mode.add_argument("--reconcile", action="store_true", help="repair the drift by replay")
    reproject.set_defaults(fn=_cmd_reproject)
    _add_retention_parser(sub)
    _add_token_parser(sub)
    smoke = sub.add_parser("smoke", help="start, stream and cancel a run through a deployment's HTTP surface")
    smoke.add_argument(
        "--base-url", help="Envoy's URL (default RUNTIME_BASE_URL, else http://127.0.0.1:8080)"
    )
    smoke.add_argument("--key-id", help="sign with this key of RUNTIME_SIGNING_KEYS")
    smoke.set_defaults(fn=_cmd_smoke)
    gateway = sub.add_parser("gateway", help="the Envoy sidecar: render the gateway config and exec Envoy")
    gateway.add_argument("--descriptor", required=True, help="the FileDescriptorSet Envoy transcodes with")
    gateway.add_argument("--work-dir", default="/tmp/gateway", help="where the rendered config goes")
    gateway.add_argument("--render-only", action="store_true", help="print the config path, do not run")
    gateway.set_defaults(fn=_cmd_gateway)
    from .ops.runs_cli import add_runs_parser

    add_runs_parser(sub).set_defaults(fn=_cmd_runs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.fn(args)
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:
        logging.getLogger("oa_runtime").error("%s", exc)
        print(f"oa-runtime: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
