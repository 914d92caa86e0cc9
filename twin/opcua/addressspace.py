"""The OPC UA address space, built from the channel catalogue by one function.

:func:`build_address_space` adds to a fresh asyncua server:

- the project namespace (:data:`NAMESPACE_URI`) and one ObjectType per kind of part
  (``SatelliteType``, ``SolarArrayWingType``, ``BatteryStringType``, ``PowerBusType``,
  ``PcduChannelType``, ``CoolantLoopType``, ``PumpType``, ``RadiatorPanelType``, ``RackType``,
  ``GpuType``, ``SensorBoardType``, ``SimulationType``, ``OrbitType``), each declaring the
  variables its instances carry (ModellingRule Mandatory);
- ``Objects/Satellite`` and ``Objects/Simulation`` with one object per catalogue component,
  nested by path (``compute.rack.2.gpu.5`` is ``Satellite/Compute/Rack2/Gpu5``);
- one variable per channel with the string NodeId of its path
  (``ns=2;s=compute.rack.2.gpu.5.temp_c``):
  floats and ints are ``AnalogItemType`` with ``EURange`` and (when the channel has a unit)
  ``EngineeringUnits`` as UNECE codes; booleans are ``Boolean``; enumerations are ``Int32``
  ``MultiStateDiscreteType`` with ``EnumStrings``; channels with yellow/red limits get a
  ``LimitState`` property (``ok``/``yellow``/``red``) that the alarm module keeps current.

Every variable is read-only: commands go through the methods, the one command path.
Nodes are added in batches through the internal session, not one ``add_variable`` call each
(a few thousand nodes build in well under a second). asyncua adds a child reference with a
linear scan of the parent's references, so no node gets more than :data:`MAX_CHILDREN`
indexed children: beyond that they are spread over range folders (``Racks 101-200``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asyncua import ua

from twin.catalogue import Channel

if TYPE_CHECKING:
    from asyncua import Server

    from twin.catalogue import Catalogue

NAMESPACE_URI = "urn:orbital-twin"
UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
MAX_CHILDREN = 100

# Catalogue unit → (UNECE Recommendation 20 common code, name). Part 8, 5.6.3.
UNITS: dict[str, tuple[str, str]] = {
    "°C": ("CEL", "degree Celsius"),
    "K": ("KEL", "kelvin"),
    "W": ("WTT", "watt"),
    "kW": ("KWT", "kilowatt"),
    "V": ("VLT", "volt"),
    "A": ("AMP", "ampere"),
    "%": ("P1", "percent"),
    "kg/s": ("KGS", "kilogram per second"),
    "kg": ("KGM", "kilogram"),
    "MHz": ("MHZ", "megahertz"),
    "s": ("SEC", "second"),
    "deg": ("DD", "degree (unit of angle)"),
    "rad": ("C81", "radian"),
    "W/m²": ("D54", "watt per square metre"),
    "J": ("JOU", "joule"),
    "Wh": ("WHR", "watt hour"),
    "Ah": ("AMH", "ampere hour"),
}

# Generic component (indices as N) → (ObjectType name, browse-name stem).
COMPONENTS: dict[str, tuple[str, str]] = {
    "sim": ("SimulationType", "Simulation"),
    "orbit": ("OrbitType", "Orbit"),
    "power": ("", "Power"),
    "power.array": ("", "SolarArray"),
    "power.array.N": ("SolarArrayWingType", "Wing"),
    "power.battery": ("", "Battery"),
    "power.battery.N": ("BatteryStringType", "String"),
    "power.bus": ("PowerBusType", "Bus"),
    "power.pcdu": ("", "Pcdu"),
    "power.pcdu.rack.N": ("PcduChannelType", "RackChannel"),
    "power.balance": ("", "EnergyBalance"),
    "compute": ("", "Compute"),
    "compute.rack.N": ("RackType", "Rack"),
    "compute.rack.N.gpu.N": ("GpuType", "Gpu"),
    "thermal": ("", "Thermal"),
    "thermal.loop.N": ("CoolantLoopType", "Loop"),
    "thermal.pump.N": ("PumpType", "Pump"),
    "thermal.radiator": ("", "Radiator"),
    "thermal.radiator.N": ("RadiatorPanelType", "Panel"),
    "thermal.avionics": ("", "Avionics"),
    "thermal.balance": ("", "HeatBalance"),
}
TYPE_DESCRIPTIONS: dict[str, str] = {
    "SatelliteType": "A compute satellite: power, thermal and compute subsystems.",
    "SolarArrayWingType": "One solar array wing with its drive.",
    "BatteryStringType": "One battery string with its charge/discharge regulators and heater.",
    "PowerBusType": "The regulated main power bus.",
    "PcduChannelType": "One power distribution channel with a latching current limiter.",
    "CoolantLoopType": "One pumped coolant loop.",
    "PumpType": "One coolant pump.",
    "RadiatorPanelType": "One deployable radiator panel.",
    "RackType": "One compute rack.",
    "GpuType": "One GPU.",
    "SensorBoardType": "A sensor board on the hardware-in-loop link.",
    "SimulationType": "Simulated time and the simulation's controls.",
    "OrbitType": "The orbit and the Sun as the satellite sees them.",
}
_IDX = re.compile(r"\.\d+(?=\.|$)")
_I = ua.ObjectIds


def unit_id(code: str) -> int:
    """UnitId of a UNECE common code (Part 8, 5.6.3: the code's ASCII bytes, big-endian)."""
    uid = 0
    for c in code.upper()[:3]:
        uid = (uid << 8) | ord(c)
    return uid


def eu_information(unit: str) -> ua.EUInformation | None:
    """EngineeringUnits for a catalogue unit; UnitId -1 for units UNECE does not list."""
    if not unit:
        return None
    code, name = UNITS.get(unit, ("", unit))
    return ua.EUInformation(NamespaceUri=UNECE_NAMESPACE, UnitId=unit_id(code) if code else -1,
                            DisplayName=ua.LocalizedText(unit), Description=ua.LocalizedText(name))


VARIANT = {"float": ua.VariantType.Double, "int": ua.VariantType.Int32,
           "bool": ua.VariantType.Boolean, "enum": ua.VariantType.Int32}
DATATYPE = {"float": _I.Double, "int": _I.Int32, "bool": _I.Boolean, "enum": _I.Int32}


def python_value(ch: Channel, value: float) -> float | int | bool | None:
    """A mirror value (float64) as the Python value of the channel's variant type."""
    if value != value:  # NaN: no data yet
        return None
    if ch.dtype == "float":
        return float(value)
    if ch.dtype == "bool":
        return bool(value)
    return int(round(value))


@dataclass(slots=True)
class TwinNodes:
    """What the server needs after building: namespace, key objects, per-channel NodeIds."""

    ns: int
    satellite: ua.NodeId
    simulation: ua.NodeId
    types: dict[str, ua.NodeId]
    channel_ids: list[ua.NodeId]  # in catalogue (frame) order
    limit_state_ids: dict[int, ua.NodeId] = field(default_factory=dict)  # channel index → node
    node_count: int = 0


class _Batch:
    """AddNodesItems and references collected in dependency order, added in one call."""

    def __init__(self, ns: int) -> None:
        self.ns = ns
        self.items: list[ua.AddNodesItem] = []
        self.refs: list[ua.AddReferencesItem] = []
        self.children: Counter[ua.NodeId] = Counter()

    def nid(self, s: str) -> ua.NodeId:
        return ua.NodeId(s, self.ns)

    def _add(self, parent: ua.NodeId, nid: ua.NodeId, name: str, nclass: ua.NodeClass,
             ref: int, typedef: int | ua.NodeId | None, attrs: object) -> ua.NodeId:
        item = ua.AddNodesItem()
        item.ParentNodeId = parent
        item.ReferenceTypeId = ua.NodeId(ref)
        item.RequestedNewNodeId = nid
        item.BrowseName = ua.QualifiedName(name, 0 if name in STANDARD_PROPERTIES else self.ns)
        item.NodeClass = nclass
        item.NodeAttributes = attrs
        if typedef is not None:
            item.TypeDefinition = typedef if isinstance(typedef, ua.NodeId) else ua.NodeId(typedef)
        self.items.append(item)
        self.children[parent] += 1
        return nid

    def object(self, parent: ua.NodeId, nid: ua.NodeId, name: str, typedef: int | ua.NodeId,
               description: str = "", ref: int = _I.HasComponent, notifier: int = 0) -> ua.NodeId:
        a = ua.ObjectAttributes(DisplayName=ua.LocalizedText(name),
                                Description=ua.LocalizedText(description or name),
                                EventNotifier=notifier, WriteMask=0, UserWriteMask=0)
        return self._add(parent, nid, name, ua.NodeClass.Object, ref, typedef, a)

    def object_type(self, name: str, description: str) -> ua.NodeId:
        a = ua.ObjectTypeAttributes(DisplayName=ua.LocalizedText(name),
                                    Description=ua.LocalizedText(description), IsAbstract=False)
        return self._add(ua.NodeId(_I.BaseObjectType), self.nid(f"types.{name}"), name,
                         ua.NodeClass.ObjectType, _I.HasSubtype, None, a)

    def variable(self, parent: ua.NodeId, nid: ua.NodeId, name: str, value: ua.Variant,
                 datatype: int, typedef: int, description: str = "", ref: int = _I.HasComponent,
                 rank: int = ua.ValueRank.Scalar, sampling_ms: float = 0.0,
                 status: int = 0, history: bool = False) -> ua.NodeId:
        access = ua.AccessLevel.CurrentRead.mask
        if history:  # channels: HistoryRead served by twin.opcua.history
            access |= ua.AccessLevel.HistoryRead.mask
        a = ua.VariableAttributes(
            DisplayName=ua.LocalizedText(name), Description=ua.LocalizedText(description or name),
            Value=value, DataType=ua.NodeId(datatype), ValueRank=rank,
            AccessLevel=access, UserAccessLevel=access,
            MinimumSamplingInterval=sampling_ms, Historizing=history, WriteMask=0,
            UserWriteMask=0)
        if rank == ua.ValueRank.OneDimension:
            a.ArrayDimensions = [0]
        return self._add(parent, nid, name, ua.NodeClass.Variable, ref, typedef, a)

    def prop(self, parent: ua.NodeId, name: str, value: ua.Variant, datatype: int,
             rank: int = ua.ValueRank.Scalar) -> ua.NodeId:
        return self.variable(parent, ua.NodeId(f"{parent.Identifier}.{name}", self.ns), name,
                             value, datatype, _I.PropertyType, ref=_I.HasProperty, rank=rank)

    def mandatory(self, nid: ua.NodeId) -> None:
        ref = ua.AddReferencesItem(SourceNodeId=nid, IsForward=True,
                                   ReferenceTypeId=ua.NodeId(_I.HasModellingRule),
                                   TargetNodeId=ua.NodeId(_I.ModellingRule_Mandatory),
                                   TargetNodeClass=ua.NodeClass.Object)
        self.refs.append(ref)

    async def commit(self, server: Server) -> None:
        results = await server.iserver.isession.add_nodes(self.items)
        for item, res in zip(self.items, results, strict=True):
            if not res.StatusCode.is_good():
                raise RuntimeError(f"adding OPC UA node {item.RequestedNewNodeId.to_string()}: "
                                   f"{res.StatusCode.name}")
        for code in await server.iserver.isession.add_references(self.refs):
            code.check()


# Properties the OPC UA standard defines (Part 8: AnalogItemType, MultiStateDiscreteType): their
# browse names are in namespace 0, so that a generic client finds them as 0:EURange and so on.
STANDARD_PROPERTIES = frozenset({"EURange", "EngineeringUnits", "EnumStrings"})


def generic(component: str) -> str:
    """``compute.rack.2.gpu.5`` → ``compute.rack.N.gpu.N``."""
    return _IDX.sub(".N", component)


def parent_of(component: str) -> str:
    """The component an object hangs under: indexed parts skip their kind segment."""
    parts = component.split(".")
    if parts[-1].isdigit():
        return ".".join(parts[:-2])
    return ".".join(parts[:-1])


def browse_name(component: str) -> str:
    stem = COMPONENTS.get(generic(component), ("", ""))[1]
    parts = component.split(".")
    if parts[-1].isdigit():
        return f"{stem or parts[-2].capitalize()}{parts[-1]}"
    return stem or parts[-1].capitalize()


def _add_channel_variable(b: _Batch, parent: ua.NodeId, nid: ua.NodeId, ch: Channel,
                          value: ua.Variant, sampling_ms: float, status: int = 0) -> None:
    unit = f" [{ch.unit}]" if ch.unit else ""
    desc = f"{ch.description}{unit}"
    name = ch.path.rsplit(".", 1)[1]
    if ch.dtype in ("float", "int"):
        b.variable(parent, nid, name, value, DATATYPE[ch.dtype], _I.AnalogItemType, desc,
                   sampling_ms=sampling_ms, history=True)
        b.prop(nid, "EURange", ua.Variant(ua.Range(float(ch.lo), float(ch.hi))), _I.Range)
        eu = eu_information(ch.unit)
        if eu is not None:
            b.prop(nid, "EngineeringUnits", ua.Variant(eu), _I.EUInformation)
    elif ch.dtype == "enum":
        b.variable(parent, nid, name, value, _I.Int32, _I.MultiStateDiscreteType, desc,
                   sampling_ms=sampling_ms, history=True)
        labels = [ua.LocalizedText(s) for s in ch.enum]
        b.prop(nid, "EnumStrings", ua.Variant(labels, ua.VariantType.LocalizedText),
               _I.LocalizedText, rank=ua.ValueRank.OneDimension)
    else:
        b.variable(parent, nid, name, value, _I.Boolean, _I.BaseDataVariableType, desc,
                   sampling_ms=sampling_ms, history=True)


def _limited(ch: Channel) -> bool:
    return ch.yellow != (None, None) or ch.red != (None, None)


async def build_address_space(server: Server, catalogue: Catalogue, values: list[float] | None
                              = None, publish_hz: float = 10.0) -> TwinNodes:
    """Types, objects and one variable per channel; returns the NodeIds the server needs.

    ``values`` (frame order, e.g. ``twin.mirror.values``) seeds the variables; without it they
    start empty with BadWaitingForInitialData until the first publish.
    """
    ns = await server.register_namespace(NAMESPACE_URI)
    b = _Batch(ns)
    sampling_ms = 1000.0 / publish_hz
    # --- types ------------------------------------------------------------------------
    by_component: dict[str, list[Channel]] = {}
    for ch in catalogue.channels:
        by_component.setdefault(ch.component, []).append(ch)
    types = {name: b.object_type(name, desc) for name, desc in TYPE_DESCRIPTIONS.items()}
    declared: set[str] = set()
    for comp, chans in by_component.items():
        typename = COMPONENTS.get(generic(comp), ("", ""))[0]
        if not typename or typename in declared:
            continue
        declared.add(typename)
        for ch in chans:
            member = b.nid(f"types.{typename}.{ch.path.rsplit('.', 1)[1]}")
            _add_channel_variable(b, types[typename], member, ch, ua.Variant(None), sampling_ms)
            b.mandatory(member)
    # --- instances ----------------------------------------------------------------------
    objects = ua.NodeId(_I.ObjectsFolder)
    satellite = b.object(objects, b.nid("satellite"), "Satellite", types["SatelliteType"],
                         "The satellite", ref=_I.Organizes, notifier=1)
    b.object(satellite, b.nid("boards"), "Boards", _I.FolderType,
             "Sensor boards on the hardware-in-loop link (SensorBoardType)")
    made: dict[str, ua.NodeId] = {"": satellite}
    kids: Counter[tuple[str, str]] = Counter()  # (parent, kind) → indexed children
    for comp in by_component:
        parts = comp.split(".")
        if parts[-1].isdigit():
            kids[(parent_of(comp), parts[-2])] += 1

    def ensure(comp: str) -> ua.NodeId:
        if comp in made:
            return made[comp]
        if comp == "sim":
            parent = objects
        else:
            parent = ensure(parent_of(comp))
            parts = comp.split(".")
            if parts[-1].isdigit() and kids[(parent_of(comp), parts[-2])] > MAX_CHILDREN:
                parent = _range_folder(b, made, parent_of(comp), parts[-2], int(parts[-1]))
        typename = COMPONENTS.get(generic(comp), ("", ""))[0]
        typedef = types[typename] if typename else ua.NodeId(_I.BaseObjectType)
        ref = _I.Organizes if parent == objects else _I.HasComponent
        made[comp] = b.object(parent, b.nid(comp), browse_name(comp), typedef,
                              TYPE_DESCRIPTIONS.get(typename, ""), ref=ref)
        return made[comp]

    channel_ids: list[ua.NodeId] = []
    limit_ids: dict[int, ua.NodeId] = {}
    for ch in catalogue.channels:
        parent = ensure(ch.component)
        nid = b.nid(ch.path)
        v = python_value(ch, values[ch.index]) if values is not None else None
        variant = ua.Variant(v, VARIANT[ch.dtype]) if v is not None else ua.Variant(None)
        _add_channel_variable(b, parent, nid, ch, variant, sampling_ms)
        channel_ids.append(nid)
        if _limited(ch):
            limit_ids[ch.index] = b.prop(nid, "LimitState", ua.Variant("ok"), _I.String)
    too_many = [n for n, c in b.children.items() if c > MAX_CHILDREN]
    if too_many:
        raise AssertionError(f"address space: {too_many[0].to_string()} has more than "
                             f"{MAX_CHILDREN} children")
    await b.commit(server)
    return TwinNodes(ns, satellite, made["sim"], types, channel_ids, limit_ids, len(b.items))


def _range_folder(b: _Batch, made: dict[str, ua.NodeId], parent: str, kind: str,
                  index: int) -> ua.NodeId:
    lo = (index - 1) // MAX_CHILDREN * MAX_CHILDREN + 1
    key = f"{parent}.{kind}s{lo}" if parent else f"{kind}s{lo}"
    if key not in made:
        name = f"{kind.capitalize()}s {lo}-{lo + MAX_CHILDREN - 1}"
        made[key] = b.object(made[parent], b.nid(key), name, _I.FolderType, ref=_I.Organizes)
    return made[key]
