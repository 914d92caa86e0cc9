// An independent OPC UA client (node-opcua) that exercises the twin's server the way a stranger's
// tool would: browse, read values with units and ranges, subscribe, call a command (and have one
// refused), read history. Prints one JSON object; exits non-zero on any error.
//
//   node client.mjs ENDPOINT USER PASSWORD [None|SignAndEncrypt] [PKI_DIR]
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import {
  AttributeIds, BrowseDirection, ClientMonitoredItem, DataType, MessageSecurityMode,
  OPCUAClient, SecurityPolicy, TimestampsToReturn, UserTokenType,
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
