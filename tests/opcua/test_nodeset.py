"""The NodeSet2 export imports into a fresh asyncua server with the same types."""

from __future__ import annotations

from asyncua import Server, ua

from twin.config import load_satellite
from twin.opcua.nodeset import export_nodeset
from twin.runtime import Twin


async def test_the_nodeset_imports_into_a_fresh_server_and_the_types_match(tmp_path):
    twin = Twin(load_satellite().config)
    path = tmp_path / "twin.xml"
    count = await export_nodeset(twin, path)
    fresh = Server()
    await fresh.init()
    await fresh.import_xml(path)
    ns = await fresh.get_namespace_index("urn:orbital-twin")
    base = fresh.get_node(ua.ObjectIds.BaseObjectType)
    types = {(await t.read_browse_name()).Name: t for t in await base.get_children(
        refs=ua.ObjectIds.HasSubtype) if t.nodeid.NamespaceIndex == ns}
    rack_members = {(await n.read_browse_name()).Name for n in await types["RackType"]
                    .get_children()}
    gpu = fresh.get_node(ua.NodeId("compute.rack.2.gpu.5.temp_c", ns))
    assert count > 3000
    assert {"SatelliteType", "RackType", "GpuType", "SimulationType", "SensorBoardType",
            "BatteryStringType", "RadiatorPanelType"} <= set(types)
    assert {"enabled", "power_cap_w", "power_w"} <= rack_members
    assert await gpu.read_type_definition() == ua.NodeId(ua.ObjectIds.AnalogItemType)
    eu = await (await gpu.get_child("0:EngineeringUnits")).read_value()  # Part 8 names
    assert eu.DisplayName.Text == "°C"
