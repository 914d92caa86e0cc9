"""``twin nodeset``: the twin's address space (types and instances) as a NodeSet2 XML file.

Built exactly as the server builds it (:func:`~twin.opcua.addressspace.build_address_space`
and the methods), in an unstarted asyncua server, then written with asyncua's XmlExporter.
Another server imports it with ``Server.import_xml``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from asyncua import Server

from twin.opcua.addressspace import build_address_space
from twin.opcua.methods import add_methods


async def export_nodeset(twin: object, path: Path) -> int:
    """Write the NodeSet2 file; returns the number of nodes exported."""
    from asyncua.common.xmlexporter import XmlExporter

    server = Server()
    await server.init()
    nodes = await build_address_space(server, twin.catalogue)  # type: ignore[attr-defined]
    await add_methods(server, twin, nodes)  # type: ignore[arg-type]
    ns_nodes = [server.get_node(nid) for nid in server.iserver.aspace.keys()  # noqa: SIM118
                if nid.NamespaceIndex == nodes.ns]
    exporter = XmlExporter(server, export_values=True)
    await exporter.build_etree(ns_nodes)
    await exporter.write_xml(path)
    return len(ns_nodes)


def add_nodeset_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="orbital-twin.NodeSet2.xml",
                   help="file to write (default orbital-twin.NodeSet2.xml)")
    p.add_argument("--config", default=None, help="satellite file")


def nodeset_command(args: argparse.Namespace) -> int:
    from twin.cli import load_config
    from twin.runtime import Twin

    twin = Twin(load_config(args.config))
    n = asyncio.run(export_nodeset(twin, Path(args.out)))
    print(f"wrote {n} nodes to {args.out}")
    return 0
