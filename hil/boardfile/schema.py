"""The board-file schema: what a ``configs/boards/*.toml`` file may say, checked on load.

TOML tables become these frozen dataclasses through :func:`twin.configschema.build` (unknown
keys, wrong types and out-of-range values are one-line ``ConfigError``s);
:mod:`hil.boardfile.loader` then resolves them against the channel catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twin.configschema import param

BOARDS_DIR = Path(__file__).resolve().parents[2] / "configs" / "boards"
TABLES = ("coils", "discrete_inputs", "holding_registers", "input_registers")
BIT_TABLES = ("coils", "discrete_inputs")
WRITABLE_TABLES = ("coils", "holding_registers")
READ_FUNCTION = {"coils": 1, "discrete_inputs": 2, "holding_registers": 3, "input_registers": 4}
TYPES = {"int16": (16, True), "uint16": (16, False), "int32": (32, True), "uint32": (32, False),
         "bool": (1, False)}
STATUS_FIELDS = {  # name: (default type, meaning)
    "fw_version": ("uint16", "firmware version, major × 256 + minor"),
    "uptime_s": ("uint32", "seconds since the board (re)started"),
    "sample_count": ("uint32", "samples taken since start"),
    "sample_time_s": ("uint32", "time stamp of the last sample, whole seconds (simulated time)"),
    "sample_time_ms": ("uint16", "milliseconds part of the sample time stamp"),
    "rx_frames": ("uint16", "frames received for this board"),
    "frame_errors": ("uint16", "frames dropped for a bad CRC, checksum or header"),
    "exceptions": ("uint16", "exception or NAK answers sent"),
    "foreign_frames": ("uint16", "frames for other device ids, ignored"),
}


# --- the file schema (TOML → these, checked by twin.configschema) ----------------------------
@dataclass(frozen=True, slots=True)
class BoardSection:
    name: str = param(doc="board name: lower case, digits, _; names its hil.<name>.* channels")
    protocol: str = param(choices=("modbus_rtu", "modbus_tcp", "ascii"), doc="wire protocol")
    firmware_version: str = param(doc="MAJOR.MINOR")
    description: str = param("", doc="free text")
    device_id: int = param(1, ge=1, le=247, doc="Modbus device (unit) id")
    sample_rate_hz: float = param(10.0, gt=0.0, le=1000.0, doc="how often the board samples")
    word_order: str = param("big", choices=("big", "little"), doc="default 32-bit word order")
    talker: str = param("RK", doc="ASCII: talker prefix of CMD/ACK/NAK/QRY sentences")
    seed: int = param(0, ge=0, doc="noise seed of the firmware stub")


@dataclass(frozen=True, slots=True)
class LinkSection:
    baud: int = param(115200, ge=300, le=4_000_000, doc="serial bit rate")
    bytesize: int = param(8, ge=7, le=8, doc="data bits")
    parity: str = param("N", choices=("N", "E", "O"), doc="parity")
    stopbits: int = param(1, ge=1, le=2, doc="stop bits")
    turnaround_ms: float = param(0.0, ge=0.0, le=1000.0, doc="RS-485 turnaround before answers")
    interframe_ms: float = param(0.0, ge=0.0, le=1000.0,
                                 doc="RTU frame gap; 0: 3.5 characters (1.75 ms above 19200 Bd)")
    device: str = param("", doc="serial device of a real board")
    host: str = param("127.0.0.1", doc="TCP host of a real board")
    port: int = param(502, ge=0, le=65535, doc="TCP port of a real board")
    timeout_s: float = param(0.5, gt=0.0, le=60.0, doc="poller answer timeout")
    retries: int = param(1, ge=0, le=10, doc="poller retries of a request that timed out or "
                         "came back garbled (not after an exception, NAK or link down)")
    telemetry_period_s: float = param(1.0, gt=0.0, le=3600.0, doc="ASCII telemetry period")
    status_query_s: float = param(5.0, ge=0.0, le=3600.0, doc="ASCII: ask for the status "
                                  "sentence this often to time the round trip; 0: never")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    path: str = param("", doc="catalogue channel path or template with {i}")
    status: str = param("", doc="status-block field: " + ", ".join(STATUS_FIELDS))
    setting: str = param("", doc="board-local setting name (holding registers)")
    name: str = param("", doc="ASCII command name")
    address: int = param(-1, ge=0, le=65535, doc="first register or bit (0-based PDU address)")
    type: str = param("", choices=tuple(TYPES), doc="raw type")
    scale: float = param(1.0, gt=0.0, doc="value = raw × scale + offset")
    offset: float = param(0.0, doc="value = raw × scale + offset")
    word_order: str = param("", choices=("big", "little"), doc="32-bit word order")
    count: int | str = param(0, ge=1, choices=("all",), doc="instances of a template, or 'all'")
    indices: tuple[int, ...] = param((), ge=1, doc="instances of a template")
    stride: int = param(0, ge=1, doc="address step between instances (default: width)")
    range: tuple[float, ...] = param((), doc="sensor range [lo, hi] in channel units")
    noise: float = param(0.0, ge=0.0, doc="sensor noise σ in channel units (the stub adds it)")
    adc_bits: int = param(0, ge=2, le=24, doc="stub ADC resolution over the sensor range")
    states: tuple[str, ...] = param((), doc="enum labels a coil writes for 0 and 1")
    default: float = param(0.0, doc="setting value at (re)start")
    unit: str = param("", doc="unit of a setting")
    residual_tolerance: float = param(0.0, ge=0.0, doc="± measured − model before a yellow "
                                      "residual alarm (red at twice); 0: 6 σ + 2 resolution")
    description: str = param("", doc="free text")


@dataclass(frozen=True, slots=True)
class SentenceSpec:
    id: str = param(doc="sentence id, e.g. RKGPU")
    fields: tuple[FieldSpec, ...] = param(doc="fields after the keys")
    keys: tuple[str, ...] = param((), doc="placeholders of the path templates, sent first")
    periodic: bool = param(True, doc="sent every telemetry period")
    description: str = param("", doc="free text")


@dataclass(frozen=True, slots=True)
class BoardFileSpec:
    board: BoardSection = param(doc="identity")
    link: LinkSection = param(LinkSection(), doc="transport")
    coils: tuple[FieldSpec, ...] = param((), doc="function 01/05/15")
    discrete_inputs: tuple[FieldSpec, ...] = param((), doc="function 02")
    holding_registers: tuple[FieldSpec, ...] = param((), doc="function 03/06/16")
    input_registers: tuple[FieldSpec, ...] = param((), doc="function 04")
    sentences: tuple[SentenceSpec, ...] = param((), doc="ASCII telemetry")
    commands: tuple[FieldSpec, ...] = param((), doc="ASCII commands")
