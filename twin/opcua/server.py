"""The twin's OPC UA server: set up in a page, like asyncua's ``server-minimal.py``.

:class:`TwinServer` builds the address space from the catalogue, adds the methods, publishes
the mirror, turns the twin's events into OPC UA events and its alarms into conditions
(:mod:`twin.opcua.alarms`), answers HistoryRead from a ring of frames and the live recording
(:mod:`twin.opcua.history`), and serves with security and users from :class:`ServerOptions`.
:func:`serve` runs the twin with it until stopped; :func:`serve_command` /
:func:`add_serve_arguments` are for the CLI.

Security: Basic256Sha256, Aes128Sha256RsaOaep and Aes256Sha256RsaPss, each Sign and
SignAndEncrypt, with a self-signed certificate generated on first start in the state directory
(application URI in its SAN). ``None`` only with ``allow_none`` and a loopback endpoint.
Sessions on the unsecured discovery channel are refused (:mod:`twin.opcua.asyncua_patches`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from twin.errors import TwinError
from twin.opcua import asyncua_patches
from twin.opcua.addressspace import NAMESPACE_URI, TwinNodes, build_address_space
from twin.opcua.alarms import AlarmProjection, TwinEvent
from twin.opcua.history import DEFAULT_CAPACITY, MirrorHistory, recording_of
from twin.opcua.methods import add_methods
from twin.opcua.publisher import Publisher
from twin.opcua.trust import TrustList
from twin.opcua.users import RolePermissions, TwinUserManager, UserStore, first_start_users

if TYPE_CHECKING:
    from hil.lab import LabConfig
    from twin.commands import Event
    from twin.runtime import Twin
    from twin.store import RunReader

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "opc.tcp://127.0.0.1:4840/orbital-twin/"
GC_GEN0_THRESHOLD = 50_000  # with freeze_gc (net new container objects between collections)
SECURE = [
    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ua.SecurityPolicyType.Basic256Sha256_Sign,
    ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
    ua.SecurityPolicyType.Aes256Sha256RsaPss_Sign,
    ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
    ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
]


@dataclass
class ServerOptions:
    endpoint: str = DEFAULT_ENDPOINT
    state_dir: Path = Path("state")
    users_file: Path | None = None  # default: state_dir/users.json, created on first start
    allow_none: bool = False  # the None security policy (loopback endpoints only)
    anonymous: bool | None = None  # None: as the users file says
    policies: tuple[ua.SecurityPolicyType, ...] = tuple(SECURE)
    trust_new: bool = False  # trust (and save) unknown client certificates: first use only
    fast_path: bool = True  # our publisher path and the asyncua patches
    freeze_gc: bool = True
    history_frames: int = DEFAULT_CAPACITY  # frames in the in-memory history ring
    history_store: RunReader | None = None  # older history; default: the twin's recording


def is_loopback(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def application_uri() -> str:
    return f"{NAMESPACE_URI}:server:{socket.gethostname()}"


async def ensure_certificate(state_dir: Path) -> tuple[Path, Path]:
    """The server's certificate (DER) and key (PEM, mode 0600), made on first start."""
    pki = state_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    cert, key = pki / "server_cert.der", pki / "server_key.pem"
    await setup_self_signed_certificate(
        key, cert, application_uri(), socket.gethostname(),
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        {"countryName": "EU", "organizationName": "orbital-twin",
         "commonName": f"orbital-twin@{socket.gethostname()}"})
    os.chmod(key, 0o600)
    return cert, key


class TwinServer:
    """One twin served over OPC UA. ``async with TwinServer(twin, options) as srv:``."""

    def __init__(self, twin: Twin, options: ServerOptions | None = None) -> None:
        self.twin = twin
        self.options = options or ServerOptions()
        self.server: Server | None = None
        self.nodes: TwinNodes | None = None
        self.publisher: Publisher | None = None
        self.alarms: AlarmProjection | None = None
        self.created_users: dict[str, str] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._events: asyncio.Queue[Event] = asyncio.Queue(maxsize=10_000)
        self._gc_threshold = gc.get_threshold()

    @property
    def url(self) -> str:
        return self.options.endpoint

    def security_summary(self) -> str:
        """The policies offered, in one line for the start-up message."""
        names = [p.name.removesuffix("Security") if p is ua.SecurityPolicyType.NoSecurity
                 else p.name for p in self.options.policies]
        secured = sorted({n.rsplit("_", 1)[0] for n in names if n != "No"})
        text = ", ".join(secured) + " (Sign, SignAndEncrypt; client certificates from "
        text += f"{Path(self.options.state_dir) / 'pki' / 'trusted'}"
        text += ", or --trust-new)" if not self.options.trust_new else ", new ones trusted)"
        if "No" in names:
            text = "None (loopback only; a password is still needed), " + text
        return text

    async def start(self) -> None:
        opt = self.options
        if opt.allow_none and ua.SecurityPolicyType.NoSecurity not in opt.policies:
            if not is_loopback(opt.endpoint):
                raise TwinError(f"endpoint {opt.endpoint}: the None security policy is only "
                                "allowed on a loopback address (127.0.0.1, ::1, localhost)")
            opt.policies = (ua.SecurityPolicyType.NoSecurity, *opt.policies)
        if opt.fast_path:
            asyncua_patches.apply()
        if opt.users_file is not None:
            store = UserStore.load(opt.users_file)
        else:
            store, self.created_users = first_start_users(opt.state_dir)
        if opt.anonymous is not None:
            store.anonymous = opt.anonymous
        server = Server(user_manager=TwinUserManager(store))
        server.iserver.bind_condition_methods = True  # ConditionRefresh (see opcua/alarms.py)
        await server.init()
        server.set_endpoint(opt.endpoint)
        server.set_server_name(f"orbital-twin {self.twin.config.satellite.name}")
        await server.set_application_uri(application_uri())
        server.product_uri = NAMESPACE_URI
        cert, key = await ensure_certificate(opt.state_dir)
        await server.load_certificate(cert)
        await server.load_private_key(key)
        server.set_security_policy(list(opt.policies), permission_ruleset=RolePermissions())
        self.trust = TrustList(opt.state_dir, trust_new=opt.trust_new)
        server.set_certificate_validator(self.trust.validate)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if store.anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        self.nodes = await build_address_space(server, self.twin.catalogue,
                                               list(self.twin.mirror.values),
                                               self.twin.publish_hz)
        await add_methods(server, self.twin, self.nodes)
        self._event_gen = await server.get_event_generator(TwinEvent(), self.nodes.satellite)
        self.history = MirrorHistory(self.twin, opt.history_frames,
                                     opt.history_store or recording_of(self.twin))
        server.iserver.history_manager.set_storage(self.history)
        self.publisher = Publisher(server, self.twin, self.nodes, fast=opt.fast_path)
        self.alarms = AlarmProjection(server, self.twin, self.nodes, self.publisher.source_time)
        self.twin.on_frame(self.publisher.frame_ready)
        self.twin.on_mirror_change(self.publisher.frame_ready)  # boards' values while paused
        self.twin.on_event(self._queue_event)
        self.server = server
        try:
            await server.start()
        except OSError as exc:
            raise TwinError(f"endpoint {opt.endpoint}: cannot listen ({exc.strerror or exc}); "
                            "is another twin (or OPC UA server) using that port? Choose "
                            "another with --endpoint opc.tcp://127.0.0.1:PORT/orbital-twin/"
                            ) from None
        if opt.freeze_gc:
            gc.collect()
            gc.freeze()  # the address space is long-lived: keep it out of full collections
            # Publishing makes a few objects per value and subscriber that die within a tick;
            # collecting every 700 of them kept traversing them (1/3 of the CPU at 5,000 values).
            gc.set_threshold(GC_GEN0_THRESHOLD, *self._gc_threshold[1:])
        await self.publisher.publish()
        await self.alarms.start()
        self._tasks = [asyncio.create_task(self.publisher.run(self._stop)),
                       asyncio.create_task(self._emit_events())]

    def _queue_event(self, ev: Event) -> None:
        try:
            self._events.put_nowait(ev)
        except asyncio.QueueFull:
            log.warning("OPC UA event queue full; dropped: %s", ev.message)

    async def _emit_events(self) -> None:
        assert self.publisher is not None and self.alarms is not None
        while True:
            ev = await self._events.get()
            try:
                if ev.kind == "alarm" and self.alarms.handles(ev.data):
                    await self.alarms.emit(ev.sim_s, ev.message, ev.data)
                    continue
                gen = self._event_gen
                gen.event.SourceName = f"twin.{ev.kind}"
                gen.event.Severity = int(ev.severity)
                await gen.trigger(time_attr=self.publisher.source_time(ev.sim_s),
                                  message=ev.message)
            except Exception:  # one bad event must not end the events of the session
                log.exception("OPC UA event not sent: %s", ev.message)

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if self.options.freeze_gc:
            gc.unfreeze()
            gc.set_threshold(*self._gc_threshold)

    async def __aenter__(self) -> TwinServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(twin: Twin, endpoint: str = DEFAULT_ENDPOINT, state_dir: Path | str = "state",
                stop: asyncio.Event | None = None, allow_none: bool = False,
                anonymous: bool | None = None, users_file: Path | None = None,
                out: object = sys.stdout, trust_new: bool = False,
                within: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None
                ) -> None:
    """Serve ``twin`` until ``stop`` is set: print the endpoint (and new passwords once).
    ``within``: what else runs while it serves (the stub boards), entered once the server is
    up (building the address space holds the loop up; the boards' polls should not wait on
    it) and before the endpoint is printed."""
    options = ServerOptions(endpoint=endpoint, state_dir=Path(state_dir), allow_none=allow_none,
                            anonymous=anonymous, users_file=users_file, trust_new=trust_new)
    stop = stop or asyncio.Event()
    async with TwinServer(twin, options) as srv, \
            (within() if within is not None else contextlib.nullcontext()):
        for name, password in srv.created_users.items():
            print(f"created OPC UA user {name!r} with password {password!r} (shown once; "
                  f"stored hashed in {Path(state_dir) / 'users.json'}, and kept for the "
                  f"console of twin up in {Path(state_dir) / 'console-credentials.json'}, "
                  "mode 0600)", file=out)  # type: ignore
        print(f"OPC UA server listening on {srv.url}", file=out, flush=True)  # type: ignore
        print(f"security: {srv.security_summary()}", file=out, flush=True)  # type: ignore
        await twin.run(stop)


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Options for ``twin up --headless`` and ``twin serve``."""
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT,
                   help=f"OPC UA endpoint URL (default {DEFAULT_ENDPOINT})")
    p.add_argument("--state-dir", default="state", help="certificates, users, checkpoints "
                   "(default ./state)")
    p.add_argument("--users", default=None, help="users file (default STATE_DIR/users.json, "
                   "created with an operator and an engineer on first start)")
    p.add_argument("--allow-none", action="store_true", help="also offer the unencrypted None "
                   "security policy (loopback endpoints only)")
    p.add_argument("--trust-new", action="store_true", help="trust and remember unknown client "
                   "certificates (first use); otherwise they land in STATE_DIR/pki/rejected/")
    p.add_argument("--anonymous", action="store_true", help="accept anonymous sessions as "
                   "viewers")
    p.add_argument("--speed", type=float, default=1.0, help="real-time factor (default 1)")
    p.add_argument("--paused", action="store_true", help="start with simulated time paused")
    p.add_argument("--publish-hz", type=float, default=10.0, help="publish rate (default 10)")
    p.add_argument("--config", default=None, help="satellite file")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--influx", default=None, metavar="FILE", help="also send telemetry to "
                   "InfluxDB: [influx] table of FILE, or the TWIN_INFLUX_* environment")
    p.add_argument("--boards", default=None, metavar="FILE", help="twin serve: poll the real "
                   "boards listed in this lab file (see configs/lab-example.toml)")
    from twin.recording import add_record_arguments

    add_record_arguments(p)


def twin_from_args(args: argparse.Namespace) -> tuple[Twin, LabConfig | None]:
    """The twin of ``twin up`` / ``twin serve`` built with its boards' ``hil.*`` channels:
    the firmware stubs' boards for ``up``, the lab file's boards for ``serve --boards``, none
    otherwise. Returns the twin and the lab (or None)."""
    from twin.cli import load_config
    from twin.runtime import Twin

    config = load_config(args.config)
    options = dict(seed=args.seed, state_dir=args.state_dir,
                   mode="paused" if args.paused else "realtime", speed=args.speed,
                   publish_hz=args.publish_hz)
    up = getattr(args, "command", None) == "up"
    if getattr(args, "boards", None):
        if up:
            raise TwinError("--boards is for twin serve; twin up runs the firmware stubs")
        from hil.lab import lab_twin

        return lab_twin(config, args.boards, **options)
    if up:
        from twin.embedded import embedded_twin

        return embedded_twin(config, **options), None
    return Twin(config, **options), None


def serve_command(args: argparse.Namespace) -> int:
    """``twin serve`` / ``twin up --headless``: the twin and its OPC UA server until Ctrl-C."""
    from twin.recording import LiveTelemetry

    twin, lab = twin_from_args(args)
    telemetry = LiveTelemetry(twin, args)  # run store, and InfluxDB when configured
    runner = serve
    if getattr(args, "command", None) == "up":  # the embedded default: stub boards on wires
        from twin.embedded import run_embedded as runner
    elif lab is not None:  # real boards in a lab
        from hil.lab import run_lab

        async def runner(twin, endpoint, state_dir, **kw):  # type: ignore[no-redef]
            await run_lab(twin, lab, endpoint, state_dir, **kw)
    try:
        # the embedded default works out of the box on loopback, with or without its console
        embedded = getattr(args, "command", None) == "up" and is_loopback(args.endpoint)
        asyncio.run(runner(twin, args.endpoint, args.state_dir,
                           allow_none=args.allow_none or embedded,
                           anonymous=True if args.anonymous else None,
                           users_file=Path(args.users) if args.users else None,
                           trust_new=args.trust_new))
    finally:
        done = telemetry.close()
        if done:
            print(done, file=sys.stderr)
    return 0
