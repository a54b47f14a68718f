// Validates the rendered manifests of deploy/kubernetes offline and extracts what the shell test
// then runs for real.
//
//   node k8s_validate.mjs RENDERED.yaml OUT_DIR
//
// 1. Schemas: every object is checked against the Kubernetes OpenAPI schema of its kind, with the
//    validators the npm package kubernetes-models ships (JSON schemas generated from Kubernetes'
//    OpenAPI spec, compiled by ajv; run on ajv's runtime through @kubernetes-models/validate).
//    Those schemas, like Kubernetes' own, do not forbid unknown fields; the checks below cover the
//    fields this deployment depends on.
// 2. Consistency: selectors match pod labels, mounts name volumes, volumes and envFrom name
//    objects that exist, probes and ports agree with the flags, the grace period covers the
//    drain, every container has requests and a locked-down securityContext, images are set.
// 3. Extraction into OUT_DIR: config.yaml, the token, the TLS files and the CA from the rendered
//    ConfigMaps and Secrets, and the control plane's and the sidecar's command lines and the
//    sidecar's preStop command (one argument per line), for the shell test to run.
//
// Prints one line per finding ("FAIL ...") and exits 1 if there is any; else a summary line.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import YAML from "yaml";

const require = createRequire(import.meta.url);
const [renderedFile, outDir] = process.argv.slice(2);
if (!renderedFile || !outDir) {
  console.error("usage: node k8s_validate.mjs RENDERED.yaml OUT_DIR");
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });

const failures = [];
const fail = (msg) => failures.push(msg);
const check = (cond, msg) => {
  if (!cond) fail(msg);
};

const docs = YAML.parseAllDocuments(fs.readFileSync(renderedFile, "utf8"))
  .map((d) => d.toJS())
  .filter((o) => o != null);
const name = (o) => `${o.kind}/${o.metadata?.name}`;
// kustomize 5 folds long base64 values of Secret data over several lines; the API server's
// decoder (Go's encoding/base64) skips the newlines, the schema's "byte" format does not.
for (const o of docs) {
  if (o.kind === "Secret" && o.data) {
    for (const k of Object.keys(o.data)) o.data[k] = String(o.data[k]).replace(/\s+/g, "");
  }
}

// 1. Schemas.
for (const obj of docs) {
  const modulePath = `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
  let Model;
  try {
    Model = require(modulePath)[obj.kind];
  } catch (e) {
    fail(`${name(obj)}: no schema for ${obj.apiVersion} ${obj.kind} (${e.message.split("\n")[0]})`);
    continue;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    fail(`${name(obj)}: ${e.message}`);
  }
}

// 2. Consistency.
const find = (kind, n) => docs.find((o) => o.kind === kind && o.metadata?.name === n);
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => (labels ?? {})[k] === v);
const flagValue = (args, flag) => {
  const a = (args ?? []).find((x) => x.startsWith(`${flag}=`));
  return a === undefined ? undefined : a.slice(flag.length + 1);
};
const portOf = (addr) => Number(String(addr).split(":").pop());

const deployments = docs.filter((o) => o.kind === "Deployment");
check(deployments.length === 2, `expected 2 Deployments, got ${deployments.length}`);
for (const d of deployments) {
  const pod = d.spec.template;
  check(
    matches(d.spec.selector.matchLabels, pod.metadata.labels),
    `${name(d)}: selector does not match its pod labels`,
  );
  const volumes = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
  for (const v of volumes.values()) {
    if (v.configMap) check(find("ConfigMap", v.configMap.name), `${name(d)}: no ConfigMap ${v.configMap.name}`);
    if (v.secret) check(find("Secret", v.secret.secretName), `${name(d)}: no Secret ${v.secret.secretName}`);
  }
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
  for (const c of containers) {
    const where = `${name(d)} container ${c.name}`;
    check(/^[^:@]+[:@].+/.test(c.image ?? ""), `${where}: image "${c.image}" has no tag`);
    for (const m of c.volumeMounts ?? []) {
      check(volumes.has(m.name), `${where}: mounts unknown volume ${m.name}`);
      check(!m.subPath, `${where}: subPath mount ${m.name} would never see updates`);
    }
    for (const e of c.envFrom ?? []) {
      if (e.secretRef) check(find("Secret", e.secretRef.name), `${where}: no Secret ${e.secretRef.name}`);
    }
    check(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${where}: no cpu/memory requests`);
    check(c.resources?.limits?.memory, `${where}: no memory limit`);
    const sc = c.securityContext ?? {};
    check(sc.allowPrivilegeEscalation === false, `${where}: allowPrivilegeEscalation not false`);
    check(sc.readOnlyRootFilesystem === true, `${where}: root filesystem not read-only`);
    check((sc.capabilities?.drop ?? []).includes("ALL"), `${where}: capabilities not dropped`);
  }
  check(pod.spec.securityContext?.runAsNonRoot === true, `${name(d)}: runAsNonRoot not set`);
  check(pod.metadata.annotations?.["prometheus.io/scrape"] === "true", `${name(d)}: no scrape annotation`);
}

const cp = find("Deployment", "cc-relay-control-plane");
const app = find("Deployment", "example-app");
const config = find("ConfigMap", "cc-relay-config");
let drainMs = 30000;
if (config) {
  const parsed = YAML.parse(config.data["config.yaml"]);
  drainMs = parsed?.server?.timeouts?.drain_ms ?? 30000;
} else {
  fail("no ConfigMap cc-relay-config");
}

if (cp) {
  check(cp.spec.replicas === 1, "control plane: replicas must be 1 (one control plane)");
  check(cp.spec.strategy?.type === "Recreate", "control plane: strategy must be Recreate (one state file)");
  const c = cp.spec.template.spec.containers[0];
  const args = c.args;
  check(args[0] === "control-plane", "control plane: first argument is not control-plane");
  for (const flag of ["--token-file", "--tls-cert", "--tls-key", "--state-file", "--config"]) {
    check(flagValue(args, flag), `control plane: ${flag} missing`);
  }
  const cfg = flagValue(args, "--config") ?? "";
  const state = flagValue(args, "--state-file") ?? "";
  const configMount = (c.volumeMounts ?? []).find((m) => cfg.startsWith(`${m.mountPath}/`));
  check(configMount?.name === "config", "control plane: --config is not in the ConfigMap volume");
  check(!state.startsWith(`${configMount?.mountPath}/`), "control plane: state file in the read-only ConfigMap volume");
  const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  check(ports.grpc === portOf(flagValue(args, "--listen")), "control plane: grpc port differs from --listen");
  check(ports["http-metrics"] === portOf(flagValue(args, "--http-listen")), "control plane: metrics port differs from --http-listen");
  const svc = find("Service", "cc-relay-control-plane");
  check(svc && matches(svc.spec.selector, cp.spec.template.metadata.labels), "control plane: Service selector does not match");
  for (const p of svc?.spec.ports ?? []) {
    check(ports[p.targetPort] !== undefined, `Service port ${p.name}: unknown targetPort ${p.targetPort}`);
  }
  fs.writeFileSync(path.join(outDir, "control-plane.args"), args.join("\n") + "\n");
}

if (app) {
  const spec = app.spec.template.spec;
  const sidecar = (spec.initContainers ?? [])[0];
  check(sidecar?.restartPolicy === "Always", "sidecar: not a native sidecar (initContainers[0].restartPolicy: Always)");
  const args = sidecar?.args ?? [];
  check(args[0] === "data-plane", "sidecar: first argument is not data-plane");
  const listen = flagValue(args, "--listen") ?? "";
  check(listen.startsWith("127.0.0.1:"), "sidecar: client API not on loopback");
  const metricsPort = portOf(flagValue(args, "--metrics-listen"));
  for (const probe of ["startupProbe", "readinessProbe"]) {
    const p = sidecar?.[probe]?.httpGet;
    check(p?.path === "/health", `sidecar: ${probe} is not GET /health`);
    const port = typeof p?.port === "string"
      ? (sidecar.ports ?? []).find((x) => x.name === p.port)?.containerPort
      : p?.port;
    check(port === metricsPort, `sidecar: ${probe} port ${port} is not the --metrics-listen port ${metricsPort}`);
  }
  const target = flagValue(args, "--control-plane") ?? "";
  check(target.startsWith("cc-relay-control-plane.cc-relay.svc:"), `sidecar: --control-plane ${target}`);
  check(flagValue(args, "--tls-ca") && flagValue(args, "--token-file"), "sidecar: needs --tls-ca and --token-file");
  const preStop = sidecar?.lifecycle?.preStop?.exec?.command ?? [];
  check(preStop.includes("drain"), "sidecar: no preStop drain");
  check(flagValue(preStop, "--addr") === flagValue(args, "--admin-listen"), "sidecar: preStop --addr is not --admin-listen");
  const appPort = (spec.containers[0].env ?? []).find((e) => e.name === "ANTHROPIC_BASE_URL")?.value ?? "";
  check(appPort.endsWith(`:${portOf(listen)}`), "app: ANTHROPIC_BASE_URL is not the sidecar's --listen");
  const grace = spec.terminationGracePeriodSeconds ?? 30;
  check(grace >= drainMs / 1000 + 10, `pod: terminationGracePeriodSeconds ${grace} < drain ${drainMs / 1000} s + 10 s`);
  check(app.spec.template.metadata.labels["cc-relay/data-plane"] === "true", "app pod: no cc-relay/data-plane label");
  const pdb = find("PodDisruptionBudget", "example-app");
  check(pdb && matches(pdb.spec.selector.matchLabels, app.spec.template.metadata.labels), "PDB does not select the app");
  check(pdb && app.spec.replicas > (pdb.spec.minAvailable ?? 0), "PDB: minAvailable leaves no pod to evict");
  fs.writeFileSync(path.join(outDir, "data-plane.args"), args.join("\n") + "\n");
  fs.writeFileSync(path.join(outDir, "prestop.args"), preStop.join("\n") + "\n");
  // The control plane's policy admits the sidecar, the app's policy lets it out to the control plane.
  const cpPolicy = find("NetworkPolicy", "cc-relay-control-plane");
  const admitted = (cpPolicy?.spec.ingress ?? []).some(
    (r) => (r.ports ?? []).some((p) => p.port === 8788) &&
      (r.from ?? []).some((f) => matches(f.podSelector?.matchLabels, app.spec.template.metadata.labels)),
  );
  check(admitted, "control plane NetworkPolicy does not admit the sidecar on 8788");
  const appPolicy = find("NetworkPolicy", "example-app");
  check(appPolicy && matches(appPolicy.spec.podSelector.matchLabels, app.spec.template.metadata.labels), "app NetworkPolicy does not select the app");
  const egressTo = (port) => (appPolicy?.spec.egress ?? []).some((r) => (r.ports ?? []).some((p) => p.port === port));
  check(egressTo(8788) && egressTo(443) && egressTo(53), "app NetworkPolicy: egress to 8788, 443 and 53 needed");
}

// 3. Extraction (files the shell test gives the real binaries).
const secretFile = (secret, key) => Buffer.from(find("Secret", secret)?.data?.[key] ?? "", "base64");
if (config) fs.writeFileSync(path.join(outDir, "config.yaml"), config.data["config.yaml"]);
fs.writeFileSync(path.join(outDir, "token"), secretFile("cc-relay-plane-token", "token"));
fs.writeFileSync(path.join(outDir, "tls.crt"), secretFile("cc-relay-control-plane-tls", "tls.crt"));
fs.writeFileSync(path.join(outDir, "tls.key"), secretFile("cc-relay-control-plane-tls", "tls.key"), { mode: 0o600 });
fs.writeFileSync(path.join(outDir, "ca.crt"), find("ConfigMap", "cc-relay-ca")?.data?.["ca.crt"] ?? "");
check(find("Secret", "cc-relay-control-plane-tls")?.type === "kubernetes.io/tls", "TLS Secret is not of type kubernetes.io/tls");

for (const f of failures) console.log(`FAIL ${f}`);
if (failures.length > 0) process.exit(1);
const kinds = docs.map((o) => o.kind).sort().join(" ");
console.log(`valid: ${docs.length} objects (${kinds})`);
