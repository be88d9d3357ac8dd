// Validates Istio and Gateway API documents with the JSON schemas of @kubernetes-models
// (generated from Istio's and the Gateway API's own definitions). Run by scripts/validate-manifests:
// stdin is a JSON list of {where, doc}; stdout is one line per failure, "<where>: <path>: <message>".
// These schemas accept fields they do not define (a misspelt `wieght` passes), so
// scripts/check-manifests checks the fields the labs use, and CI adds the team's strict validator.
import { readFileSync } from "node:fs";

// API group → the package holding its models, as "<package>/<group>/<version>/<Kind>".
const PACKAGES = {
  "networking.istio.io": "@kubernetes-models/istio",
  "security.istio.io": "@kubernetes-models/istio",
  "telemetry.istio.io": "@kubernetes-models/istio",
  "extensions.istio.io": "@kubernetes-models/istio",
  "install.istio.io": "@kubernetes-models/istio",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
};

async function model(apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  const pkg = PACKAGES[group];
  if (!pkg || !version || !/^[A-Za-z0-9]+$/.test(kind)) return null;
  try {
    return (await import(`${pkg}/${group}/${version}/${kind}`))[kind] ?? null;
  } catch (e) {
    if (e.code === "ERR_MODULE_NOT_FOUND" || e.code === "ERR_PACKAGE_PATH_NOT_EXPORTED") return null;
    throw e;
  }
}

const failures = [];
for (const { where, doc } of JSON.parse(readFileSync(0, "utf8"))) {
  const Model = await model(doc.apiVersion, doc.kind);
  if (!Model) {
    failures.push(`${where}: unknown kind ${doc.apiVersion} ${doc.kind}`);
    continue;
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    // ajv's errors, one per line; the message alone when there is no list.
    const errors = Array.isArray(e.errors) && e.errors.length ? e.errors : [{ message: e.message }];
    const seen = new Set();
    for (const { instancePath = "", message } of errors) {
      const path = instancePath.replace(/^\//, "").replaceAll("/", ".") || "(root)";
      const line = `${where}: ${path}: ${message}`;
      if (!seen.has(line)) failures.push(line);
      seen.add(line);
    }
  }
}
process.stdout.write(failures.map((f) => f + "\n").join(""));
