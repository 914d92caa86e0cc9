"""The address space built from the catalogue, read by a real asyncua client."""

from __future__ import annotations

import pytest
from _opcua import connect
from asyncua import ua

from twin.opcua.addressspace import MAX_CHILDREN, UNECE_NAMESPACE, browse_name, parent_of, unit_id
from twin.opcua.server import TwinServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

HIERARCHICAL = {ua.NodeId(i) for i in (ua.ObjectIds.HasComponent, ua.ObjectIds.Organizes,
                                       ua.ObjectIds.HasProperty)}


async def test_unece_unit_ids_follow_part_8():
    assert unit_id("CEL") == 4408652  # Part 8 annex: degree Celsius
    assert unit_id("WTT") == 5723220
    assert unit_id("P1") == 20529


async def test_indexed_components_nest_under_their_parent_without_the_kind_segment():
    assert parent_of("compute.rack.2.gpu.5") == "compute.rack.2"
    assert parent_of("compute.rack.2") == "compute"
    assert parent_of("power.pcdu.rack.3") == "power.pcdu"
    assert browse_name("compute.rack.2.gpu.5") == "Gpu5"
    assert browse_name("power.array.1") == "Wing1"


async def test_every_channel_is_addressable_by_its_path(served: TwinServer):
    async with connect(served.url, "vera") as c:
        ns = await c.get_namespace_index("urn:orbital-twin")
        paths = [ch.path for ch in served.twin.catalogue.channels]
        nodes = [c.get_node(ua.NodeId(p, ns)) for p in paths]
        values = await c.read_values(nodes)
    assert len(values) == len(paths) > 900  # every channel of the default satellite


async def test_a_gpu_temperature_is_an_analog_item_in_celsius_with_its_range(served: TwinServer):
    async with connect(served.url, "vera") as c:
        node = c.get_node("ns=2;s=compute.rack.2.gpu.5.temp_c")
        typedef = await node.read_type_definition()
        eu = await (await node.get_child("0:EngineeringUnits")).read_value()
        rng = await (await node.get_child("0:EURange")).read_value()
        dtype = await node.read_data_type()
        path = await node.get_path(as_string=True)
    assert typedef == ua.NodeId(ua.ObjectIds.AnalogItemType)
    assert (eu.NamespaceUri, eu.UnitId, eu.DisplayName.Text) == (UNECE_NAMESPACE, unit_id("CEL"),
                                                                 "°C")
    assert (rng.Low, rng.High) == (-40.0, 150.0)
    assert dtype == ua.NodeId(ua.ObjectIds.Double)
    assert path[-4:] == ["2:Compute", "2:Rack2", "2:Gpu5", "2:temp_c"]


async def test_states_are_booleans_and_enumerations_with_their_labels(served: TwinServer):
    async with connect(served.url, "vera") as c:
        sunlit = c.get_node("ns=2;s=orbit.sunlit")
        mode = c.get_node("ns=2;s=power.battery.1.heater_mode")
        labels = await (await mode.get_child("0:EnumStrings")).read_value()
        assert await sunlit.read_data_type() == ua.NodeId(ua.ObjectIds.Boolean)
        assert isinstance(await sunlit.read_value(), bool)
        assert await mode.read_type_definition() == ua.NodeId(ua.ObjectIds.MultiStateDiscreteType)
        assert [t.Text for t in labels] == ["auto", "off", "on"]


async def test_parts_are_instances_of_project_object_types(served: TwinServer):
    async with connect(served.url, "vera") as c:
        rack = c.get_node("ns=2;s=compute.rack.3")
        typedef = c.get_node(await rack.read_type_definition())
        members = {(await n.read_browse_name()).Name for n in await typedef.get_children()}
        wing = await c.get_node("ns=2;s=power.array.2").read_type_definition()
        type_name = (await typedef.read_browse_name()).Name
    assert type_name == "RackType"
    assert {"enabled", "power_cap_w", "power_w"} <= members
    assert wing == ua.NodeId("types.SolarArrayWingType", 2)


async def test_variables_are_read_only_and_a_write_is_refused(served: TwinServer):
    async with connect(served.url, "erin") as c:
        node = c.get_node("ns=2;s=thermal.pump.1.speed_pct")
        with pytest.raises(ua.UaStatusCodeError):
            await node.write_value(ua.DataValue(ua.Variant(10.0, ua.VariantType.Double)))


async def test_no_node_has_more_than_a_hundred_children(served: TwinServer):
    assert served.server is not None
    aspace = served.server.iserver.aspace
    worst = 0
    for nid in [*served.nodes.channel_ids, served.nodes.satellite]:
        parent = aspace[nid]
        worst = max(worst, sum(1 for r in parent.references
                               if r.IsForward and r.ReferenceTypeId in HIERARCHICAL))
    compute = aspace[ua.NodeId("compute", 2)]
    worst = max(worst, sum(1 for r in compute.references if r.IsForward))
    assert 0 < worst <= MAX_CHILDREN
