// A full subscriber for bench/opcua_publish.py: node-opcua subscribes to every node id in
// NODEIDS_FILE (one per line) in one subscription, prints {"ready": true} once the monitored
// items exist, counts what arrives until a line "stop" (or the end of stdin), then prints one
// JSON object and exits.
//
//   node subscriber.mjs ENDPOINT NODEIDS_FILE BASE_UNIX_S [PUBLISH_MS] [QUEUE_SIZE] [PKI_DIR]
//
// The bench stamps tick k as SourceTimestamp = BASE_UNIX_S + k seconds, so the tick of a value
// is its SourceTimestamp minus BASE (values from before tick 1 are not counted), and the
// latency of a value is the wall clock at its "changed" event minus its ServerTimestamp (the
// moment the server published it, same host, same clock). Output:
//   {"client":"node-opcua","values":N,"per_tick":{k:count},"out_of_order":N,
//    "lat_hist_ms":[count per 1 ms, last bin: >= its index],"lat_max_ms":x,"cpu_s":x,"wall_s":x}
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import {
  AttributeIds, ClientMonitoredItemGroup, MessageSecurityMode, OPCUAClient, SecurityPolicy,
  TimestampsToReturn,
} from "node-opcua-client";

const [endpoint, idsFile, baseArg, publishArg = "50", queueArg = "10", pkiDir = "./pki"] =
  process.argv.slice(2);
const baseMs = Number(baseArg) * 1000;
const nodeIds = readFileSync(idsFile, "utf8").split("\n").filter((s) => s.length > 0);
const HIST = 10000;
const hist = new Array(HIST).fill(0);
const perTick = {};
const lastTick = new Int32Array(nodeIds.length).fill(-1);
let values = 0;
let outOfOrder = 0;
let latMax = 0;

function onChanged(_item, dv, index) {
  const now = Date.now();
  const tick = Math.round((dv.sourceTimestamp.getTime() - baseMs) / 1000);
  if (tick < 1) return; // the initial values, from before the bench's first tick
  values += 1;
  perTick[tick] = (perTick[tick] || 0) + 1;
  if (tick <= lastTick[index]) outOfOrder += 1;
  lastTick[index] = tick;
  const lat = now - dv.serverTimestamp.getTime();
  if (lat > latMax) latMax = lat;
  hist[Math.min(HIST - 1, Math.max(0, Math.floor(lat)))] += 1;
}

async function main() {
  const certificateManager = new OPCUACertificateManager({
    rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: true,
  });
  await certificateManager.initialize();
  const client = OPCUAClient.create({
    clientCertificateManager: certificateManager,
    applicationName: "orbital-twin-bench-subscriber", endpointMustExist: false,
    securityMode: MessageSecurityMode.None, securityPolicy: SecurityPolicy.None,
    connectionStrategy: { maxRetry: 2, initialDelay: 200, maxDelay: 1000 },
  });
  await client.connect(endpoint);
  const session = await client.createSession();
  const sub = await session.createSubscription2({
    requestedPublishingInterval: Number(publishArg), requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 20, maxNotificationsPerPublish: 0, publishingEnabled: true,
    priority: 1,
  });
  const items = nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value }));
  const group = ClientMonitoredItemGroup.create(sub, items,
    { samplingInterval: 0, discardOldest: true, queueSize: Number(queueArg) },
    TimestampsToReturn.Both);
  await new Promise((resolve, reject) => {
    group.once("initialized", resolve);
    group.once("err", (msg) => reject(new Error(msg)));
  });
  group.on("changed", onChanged);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  console.log(JSON.stringify({ ready: true }));
  await new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.on("line", (line) => { if (line.trim() === "stop") resolve(); });
    rl.on("close", resolve);
  });
  const cpu = process.cpuUsage(cpu0);
  const wall = (performance.now() - t0) / 1000;
  const out = {
    client: "node-opcua", values, per_tick: perTick, out_of_order: outOfOrder,
    lat_hist_ms: hist, lat_max_ms: latMax, cpu_s: (cpu.user + cpu.system) / 1e6, wall_s: wall,
  };
  await sub.terminate();
  await session.close();
  await client.disconnect();
  return out;
}

main().then((out) => { console.log(JSON.stringify(out)); process.exit(0); },
  (err) => { console.error(`subscriber failed: ${err.stack || err}`); process.exit(1); });
