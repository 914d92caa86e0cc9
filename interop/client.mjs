// An independent OPC UA client (node-opcua) that exercises the twin's server the way a stranger's
// tool would: browse, read values with units and ranges, subscribe, receive an alarm condition
// event and acknowledge it with the standard Acknowledge method, call a command (and have one
// refused), read history. Prints one JSON object; exits non-zero on any error.
//
//   node client.mjs ENDPOINT USER PASSWORD [None|SignAndEncrypt] [PKI_DIR]
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import {
  AttributeIds, BrowseDirection, ClientMonitoredItem, DataType, MessageSecurityMode,
  OPCUAClient, SecurityPolicy, TimestampsToReturn, UserTokenType, constructEventFilter,
} from "node-opcua-client";

const [endpoint, userName, password, mode = "None", pkiDir = "./pki"] = process.argv.slice(2);
const secure = mode === "SignAndEncrypt";
const out = {};

async function properties(session, nodeId) {
  const refs = await session.browse({
    nodeId, browseDirection: BrowseDirection.Forward, includeSubtypes: true,
    referenceTypeId: "HasProperty", resultMask: 63,
  });
  const props = {};
  for (const r of refs.references) {
    const dv = await session.read({ nodeId: r.nodeId, attributeIds: AttributeIds.Value });
    props[r.browseName.name] = dv.value.value;
  }
  return props;
}

// Alarms & Conditions: stop pump 1 (an operator command), wait for the condition event of the
// alarm that follows, acknowledge it by ConditionId and EventId, and wait for the event saying so.
async function alarmAndAcknowledge(session) {
  const fields = ["EventId", "ConditionId", "ConditionName", "Message", "Severity",
    "ActiveState.Id", "AckedState.Id", "Retain"];
  const sub = await session.createSubscription2({
    requestedPublishingInterval: 100, requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 20, maxNotificationsPerPublish: 0, publishingEnabled: true,
    priority: 1,
  });
  const events = [];
  let wake = () => {};
  const item = ClientMonitoredItem.create(sub,
    { nodeId: "ns=2;s=satellite", attributeId: AttributeIds.EventNotifier },
    { samplingInterval: 0, discardOldest: true, queueSize: 1000,
      filter: constructEventFilter(fields) }, TimestampsToReturn.Neither);
  item.on("changed", (values) => {
    events.push(Object.fromEntries(fields.map((f, i) => [f, values[i].value])));
    wake();
  });
  const waitFor = (what, pred) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no event: ${what} within 20 s`)), 20000);
    wake = () => {
      const found = events.find(pred);
      if (found) { clearTimeout(timer); resolve(found); }
    };
    wake();
  });
  const stop = await session.call({
    objectId: "ns=2;s=satellite", methodId: "ns=2;s=satellite.SetPumpSpeed",
    inputArguments: [{ dataType: DataType.Int32, value: 1 }, { dataType: DataType.Double, value: 0 }],
  });
  if (stop.statusCode.name !== "Good") throw new Error(`SetPumpSpeed 0: ${stop.statusCode.name}`);
  const raised = await waitFor("an unacknowledged alarm", (e) => e.ConditionId
    && e["ActiveState.Id"] === true && e["AckedState.Id"] === false);
  const status = await session.acknowledgeCondition(raised.ConditionId, raised.EventId,
    "interop: pump 1 stopped on purpose");
  if (status.name !== "Good") throw new Error(`Acknowledge ${raised.ConditionName}: ${status.name}`);
  const acked = await waitFor("the acknowledgement", (e) => e.ConditionId
    && e.ConditionId.toString() === raised.ConditionId.toString() && e["AckedState.Id"] === true);
  await sub.terminate();
  return {
    condition: raised.ConditionName, condition_id: raised.ConditionId.toString(),
    severity: raised.Severity, message: raised.Message.text, acknowledge: status.name,
    acked_event: { acked: acked["AckedState.Id"], active: acked["ActiveState.Id"],
      retain: acked.Retain },
  };
}

async function main() {
  const certificateManager = new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: true });
  await certificateManager.initialize();
  const client = OPCUAClient.create({
    applicationName: "orbital-twin-interop",
    endpointMustExist: false,
    securityMode: secure ? MessageSecurityMode.SignAndEncrypt : MessageSecurityMode.None,
    securityPolicy: secure ? SecurityPolicy.Basic256Sha256 : SecurityPolicy.None,
    clientCertificateManager: certificateManager,
    connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
  });
  await client.connect(endpoint);
  const session = await client.createSession({ type: UserTokenType.UserName, userName, password });
  try {
    const sat = await session.browse("ns=2;s=satellite");
    out.satellite_children = sat.references.map((r) => r.browseName.name).sort();

    const gpu = "ns=2;s=compute.rack.1.gpu.1.temp_c";
    const dv = await session.read({ nodeId: gpu, attributeIds: AttributeIds.Value });
    const props = await properties(session, gpu);
    out.gpu_temp = {
      value: dv.value.value, status: dv.statusCode.name,
      source_timestamp: dv.sourceTimestamp.toISOString(),
      unit: props.EngineeringUnits.displayName.text, unit_id: props.EngineeringUnits.unitId,
      range: [props.EURange.low, props.EURange.high],
    };

    const sub = await session.createSubscription2({
      requestedPublishingInterval: 100, requestedLifetimeCount: 600,
      requestedMaxKeepAliveCount: 20, maxNotificationsPerPublish: 0, publishingEnabled: true,
      priority: 1,
    });
    const seen = [];
    const item = ClientMonitoredItem.create(sub,
      { nodeId: "ns=2;s=sim.time_s", attributeId: AttributeIds.Value },
      { samplingInterval: 100, discardOldest: true, queueSize: 10 }, TimestampsToReturn.Both);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no 3 notifications within 20 s")), 20000);
      item.on("changed", (v) => {
        seen.push(v.value.value);
        if (seen.length >= 3) { clearTimeout(timer); resolve(); }
      });
    });
    out.subscription = seen;
    await sub.terminate();

    out.alarm = await alarmAndAcknowledge(session);

    const ok = await session.call({
      objectId: "ns=2;s=satellite", methodId: "ns=2;s=satellite.SetPumpSpeed",
      inputArguments: [{ dataType: DataType.Int32, value: 1 }, { dataType: DataType.Double, value: 90 }],
    });
    const refused = await session.call({
      objectId: "ns=2;s=satellite", methodId: "ns=2;s=satellite.SetPumpSpeed",
      inputArguments: [{ dataType: DataType.Int32, value: 1 }, { dataType: DataType.Double, value: 150 }],
    });
    out.call = { ok: ok.statusCode.name, refused: refused.statusCode.name };

    const now = new Date();
    const hist = await session.readHistoryValue("ns=2;s=sim.time_s",
      new Date(now.getTime() - 10 * 365 * 86400e3), new Date(now.getTime() + 10 * 365 * 86400e3));
    out.history = { status: hist.statusCode.name, count: (hist.historyData?.dataValues ?? []).length };
  } finally {
    await session.close();
    await client.disconnect();
  }
}

main().then(() => { console.log(JSON.stringify(out)); process.exit(0); },
  (err) => { console.error(`interop failed: ${err.stack || err}`); process.exit(1); });
