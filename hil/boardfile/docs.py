"""Board files as Markdown (``twin boards doc``): register maps, sentence sets, hil channels.

Rendered from the loaded boards, so the docs cannot drift from what the stubs serve and the
pollers decode; ``docs/boards.md`` is this module's output (a test compares them).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from hil.boardfile.loader import load_board, load_boards
from hil.boardfile.model import Board, Field, default_residual
from hil.boardfile.schema import BIT_TABLES, BOARDS_DIR, TABLES
from twin.catalogue import HIL_COUNTERS, LATENCY_WINDOW, LATENCY_YELLOW_FRACTION


def _num(x: float) -> str:
    return f"{x:g}"


def render_markdown(board: Board) -> str:
    """The board's register map or sentence set as Markdown, from the loaded board."""
    b, ln = board, board.link
    out = [f"## {b.name}: {b.description}".rstrip(": "), ""]
    proto = {"modbus_rtu": "Modbus RTU", "modbus_tcp": "Modbus TCP", "ascii": "ASCII sentences"}
    line = f"{proto[b.protocol]}, firmware {b.firmware_version} (status code {b.fw_code})"
    if b.protocol == "modbus_tcp":
        line += f", unit id {b.device_id}, port {ln.port}"
    else:
        line += (f", {ln.baud} Bd {ln.bytesize}{ln.parity}{ln.stopbits}, turnaround "
                 f"{_num(ln.turnaround_ms)} ms")
        if b.protocol == "modbus_rtu":
            line += f", device id {b.device_id}"
    out += [line + f"; samples at {_num(b.sample_rate_hz)} Hz. Source: `{_rel(b.source)}`.", ""]
    if b.protocol != "ascii":
        out += [f"32-bit values use two registers; word order per row (board default "
                f"**{b.word_order}**: {_order_text(b.word_order)}). Addresses are 0-based PDU "
                "addresses; gaps below a table's end read as 0 (reserved).", ""]
        names = {"coils": "Coils (01 read, 05/15 write)", "discrete_inputs":
                 "Discrete inputs (02)", "holding_registers": "Holding registers (03 read, "
                 "06/16 write)", "input_registers": "Input registers (04)"}
        for t in TABLES:
            rows = board.table(t)
            if rows:
                out += [f"### {names[t]}", "", *_table(rows, registers=t not in BIT_TABLES), ""]
        return "\n".join(out + render_link(b))
    tk = b.talker
    out += [f"Telemetry every {_num(ln.telemetry_period_s)} s. Commands "
            f"`${tk}CMD,<NAME>,<keys>,<value>*hh` are answered `${tk}ACK,<NAME>,<keys>,<value>`"
            f" or `${tk}NAK,<NAME>,[<keys>,]<reason>` (reasons: CHECKSUM, FORMAT, UNKNOWN, "
            f"INDEX, RANGE, FAILED); `${tk}QRY,<ID>[,<keys>]*hh` asks for sentences now. "
            "Checksum: XOR of the characters between `$` and `*`, two hex digits; lines end "
            "CR LF.", ""]
    for s in board.sentences:
        ranges = ", ".join(f"{k} = {_span([ix[n] for ix, _ in s.instances])}"
                           for n, k in enumerate(s.keys))
        out += [f"### `${s.id}` {s.description}", "",
                "`$" + ",".join([s.id, *(f"<{k}>" for k in s.keys),
                                 *(f"<{t.key.rsplit('.', 1)[-1]}>" for t in s.templates)]) + "*hh`"
                + (f" ({ranges}; {len(s.instances)} sentences)" if ranges else "")
                + ("" if s.periodic else " on request only"), ""]
        out += [*_table(s.instances[0][1], registers=True, templates=s.templates,
                        first=1 + len(s.keys)), ""]
    out += ["### Commands", "", "| name | keys | channel | type | resolution | accepted |",
            "| --- | --- | --- | --- | --- | --- |"]
    for c in board.commands:
        keys = ", ".join(f"{k} = {_span([ix[n] for ix, _ in c.instances])}"
                         for n, k in enumerate(c.keys))
        t = c.template
        res = f"{_num(t.resolution)} {t.unit}".rstrip()
        out.append(f"| `{c.name}` | {keys} | `{c.path}` | {t.type} | {res} | "
                   f"{_num(t.limits[0])}..{_num(t.limits[1])} |")
    return "\n".join([*out, "", *render_link(b)]) + "\n"


def _order_text(order: str) -> str:
    return "high word first, ABCD" if order == "big" else "low word first, CDAB"


def _span(xs: Sequence[int]) -> str:
    return f"{min(xs)}..{max(xs)}" if xs else "-"


def _rel(source: str) -> str:
    p = Path(source).resolve()
    try:
        return str(p.relative_to(BOARDS_DIR.parent.parent))
    except ValueError:
        return source


def _table(rows: Sequence[Field], registers: bool, templates: Sequence[Field] = (),
           first: int = 0) -> list[str]:
    head = ["address", "type", "channel", "unit", "scale", "offset", "resolution",
            "quantisation ±", "sensor range", "noise σ", "residual ±", "access", "description"]
    if templates:
        head[0] = "field"
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for n, f in enumerate(rows):
        if templates:
            addr, key = str(first + n), templates[n].key
        else:
            addr = str(f.address) if f.width == 1 else f"{f.address}–{f.address + 1}"
            key = f.key
        typ = f.type + (f" {f.word_order}" if f.width == 2 and not templates else "")
        rng = f"{_num(f.range[0])}..{_num(f.range[1])}" if f.range else ""
        desc = f.description
        if f.switch and f.states:
            off, on = f.enum[f.states[0]], f.enum[f.states[1]]
            others = [e for e in f.enum if e != off]
            desc += (f" (a switch: 0 = {off}, 1 = {' or '.join(others)}; writing 1 selects {on} "
                     f"from {off} and leaves {' or '.join(o for o in others if o != on)} as it "
                     f"is; command only: a read cannot tell {' and '.join(others)} apart, so "
                     "the twin takes no measurement from it)")
        elif f.enum:
            desc += " (" + (f"0 = {f.enum[f.states[0]]}, 1 = {f.enum[f.states[1]]}"
                            if f.states else ", ".join(f"{i} = {e}" for i, e in
                                                       enumerate(f.enum))) + ")"
        if f.kind == "setting":
            desc += f" (default {_num(f.default)})"
        cells = [addr, typ, f"`{key}`", f.unit, _num(f.scale) if registers else "",
                 _num(f.offset) if f.offset else "", _num(f.resolution) if registers else "",
                 f"{f.max_error:.4g}" if registers else "", rng,
                 _num(f.noise) if f.noise else "", _residual(f), "rw" if f.writable else "r",
                 desc.replace("|", "/")]
        out.append("| " + " | ".join(cells) + " |")
    return out


def _residual(f: Field) -> str:
    """The yellow residual limit, marked ``(file)`` when the board file sets another one."""
    if not f.residual:
        return ""
    return f"{f.residual:.3g}" + ("" if f.residual == default_residual(f.noise, f.resolution)
                                  else " (file)")


def render_link(board: Board) -> list[str]:
    """The board's ``hil.*`` channels in a twin built with it."""
    b, timeout_ms = board, board.link.timeout_s * 1000.0
    n = len(board.residual_limits())
    counters = ", ".join(f"`.{c}`" for c in HIL_COUNTERS)
    ln = b.link
    tries = {0: "not at all", 1: "once", 2: "twice"}.get(ln.retries, f"up to {ln.retries} times")
    if b.protocol == "ascii":
        poll = (f"The poller waits {_num(timeout_ms)} ms for an answer to a query or command "
                f"(`[link] timeout_s`) and repeats one that went unanswered {tries} "
                f"(`retries`); it asks for `{_status_query(b)}` every "
                f"{_num(ln.status_query_s)} s (`status_query_s`) to time the round trip, and "
                f"asks for a whole cycle when the line has been silent for 1.25 telemetry "
                f"periods." if ln.status_query_s else
                f"The poller waits {_num(timeout_ms)} ms for an answer to a query or command "
                f"(`[link] timeout_s`) and repeats one that went unanswered {tries} "
                "(`retries`); `status_query_s = 0`: no status queries, so the latency is "
                "timed on commands and on queries after a silence only.")
    else:
        poll = (f"The poller reads every table once per {_num(1000.0 / b.sample_rate_hz)} ms "
                f"and waits {_num(timeout_ms)} ms for each answer (`[link] timeout_s`); a "
                f"request that timed out or came back garbled is repeated {tries} "
                "(`retries`), one with an exception answer or on a link that is down is not.")
    timed = (" (status queries, other queries and commands: telemetry comes unasked)"
             if b.protocol == "ascii" else "")
    return ["### Poller", "", poll + " The first failure of an outage is logged as a warning "
            "naming the board and address, repeats at debug level, the recovery at info level "
            "with the outage's length.", "",
            "### Link and residual channels", "",
            f"`hil.{b.name}.online` (bool; red when 0: no answer for two poll periods), the "
            f"counters {counters}, and `hil.{b.name}.latency_ms` (median of the last "
            f"{LATENCY_WINDOW} round trips"
            f"{timed}"
            "; yellow above "
            f"{_num(LATENCY_YELLOW_FRACTION * timeout_ms)} ms, "
            f"{_num(LATENCY_YELLOW_FRACTION * 100)} % of the {_num(timeout_ms)} ms timeout). "
            f"{n} residual channels `hil.residual.<channel>`: yellow beyond ± the *residual ±* "
            f"column, red beyond twice it.", ""]


def _status_query(board: Board) -> str:
    """The sentence a status query asks for (as :class:`hil.asciipoll.AsciiPoller` picks it)."""
    ids = [s.id for s in board.sentences if not s.periodic] or [
        s.id for s in board.sentences if all(f.kind == "status" for f in s.templates)]
    return f"${ids[0]}" if ids else "the status sentence"


def render_all(boards: Iterable[Board]) -> str:
    head = ("# Sensor boards\n\n<!-- Generated from configs/boards/*.toml by `twin boards doc` "
            "(or `python -m hil.boardfile`); do not edit: regenerate with\n"
            "     python -m hil.boardfile > docs/boards.md -->\n\n"
            "Each board's map, as the firmware stubs serve it and the pollers decode it "
            "(`hil/boardfile/`). `value = raw × scale + offset`; raw values saturate at the "
            "type's limits and decode flagged *saturated*; values outside a sensor range "
            "decode flagged *out_of_range*. Resolution is the quantisation step (register LSB, "
            "or the ADC step over the sensor range where coarser); a stub without noise reads "
            "within *quantisation ±* of the truth. Status counters wrap.\n\n"
            "A twin built with these boards (`twin up`, `twin serve --boards`) has link "
            "channels per board, `hil.<board>.online`, `.polls`, `.timeouts`, `.errors`, "
            "`.exceptions`, `.link_down` and `.latency_ms`, and a residual channel "
            "`hil.residual.<channel>` = measured − model (in the channel's unit; the model at "
            "the board's sample time, 0 between that and the model's next step, as a value read "
            "over several requests may be a sample newer) for each read-only float channel a "
            "board measures and the plant models. *Residual ±* is the residual's yellow limit: "
            "the field's `residual_tolerance` where the file sets it (marked *file* where that "
            "differs from the default), else 6 σ of the sensor noise plus 2 × the resolution. "
            "With about a thousand noisy readings a second on the shipped boards, 4 σ would "
            "raise a false alarm every quarter minute, 6 σ about once a week. The red limit is "
            "twice the yellow one; where two boards measure a channel, the looser limits "
            "apply, and the mirror shows the board with the better link, then the finer "
            "encoding (the smaller *quantisation ±*), then the board listed first. "
            "The twin's alarm book raises limit alarms on all these channels: a board offline, "
            "a slow link, a sensor or a model that disagrees.\n\n"
            "Commands to writable rows (`rw`) and ASCII commands: in `twin serve --boards`, a "
            "twin command the twin accepts (OPC UA, console, scenario) is answered Good at once "
            "and then written to every board that has its channel, each write confirmed by "
            "read-back or ACK; a board that refuses (Modbus exception, NAK), stays silent or "
            "reads back another value reports it later, as a `board` event of severity 700 "
            "naming the board, the channel and the reason (the bench kit's `bench.command` "
            "waits for these verdicts: docs/benchkit.md). In `twin up` the stub boards' own "
            "writes (a Modbus master or a CMD on their wire) go through the twin's command "
            "path; one it refuses is refused on the wire (exception 04, NAK FAILED).\n")
    return head + "\n" + "\n".join(render_markdown(b).rstrip("\n") + "\n" for b in boards)


# --- command line (the lead wires these into `twin boards`) ----------------------------------
def add_boards_arguments(parser: argparse.ArgumentParser) -> None:
    """``twin boards doc [BOARD ...] [--config FILE] [--out FILE]``."""
    sub = parser.add_subparsers(dest="boards_command", metavar="ACTION", required=True)
    doc = sub.add_parser("doc", help="print the boards' register maps as Markdown",
                         description="Print each board's register map or sentence set as "
                         "Markdown, generated from configs/boards/*.toml.")
    doc.add_argument("boards", nargs="*", help="board names or files (default: all)")
    doc.add_argument("--config", default=None, help="satellite file (default: configs/"
                     "satellite.toml)")
    doc.add_argument("--out", default=None, help="write to this file instead of stdout")


def boards_command(args: argparse.Namespace) -> int:
    return boards_doc_command(args)


def boards_doc_command(args: argparse.Namespace) -> int:
    from twin.catalogue import build_catalogue
    from twin.config import DEFAULT_SATELLITE, load_satellite

    cat = build_catalogue(load_satellite(args.config or DEFAULT_SATELLITE).config)
    names = getattr(args, "boards", None)
    boards = ([load_board(n, cat) for n in names] if names
              else list(load_boards(cat).values()))
    text = render_all(boards)
    if getattr(args, "out", None):
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
