// hybridsync lab: a real SCIMMY service provider (npm scimmy + scimmy-routers, Express) on loopback.
// SCIMMY parses and validates requests, applies filters, PATCH and paging; the resources live in
// memory here. Started by hybridsync/engine/lab/scimmy.py: binds 127.0.0.1 on a free port, prints
// "PORT n", exits when its owner's stdin pipe closes. The bearer token and the backdoor token come
// in the environment. The backdoor (/_lab/..., its own header) is the one of engine/lab/scim.py.
import crypto from "node:crypto";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const token = process.env.HYBRIDSYNC_LAB_SCIM_TOKEN; delete process.env.HYBRIDSYNC_LAB_SCIM_TOKEN;
const backdoorToken = process.env.HYBRIDSYNC_LAB_SCIM_BACKDOOR; delete process.env.HYBRIDSYNC_LAB_SCIM_BACKDOOR;
const options = JSON.parse(process.env.HYBRIDSYNC_LAB_SCIM_FEATURES || "{}");
const BASE = "/scim/v2";
const store = new Map(); // id -> {type, data}
let counts = {};
let seq = 0;

const clone = (x) => JSON.parse(JSON.stringify(x));
const typed = (type) => [...store.values()].filter((r) => r.type === type).map((r) => r.data);

function save(type, resource, instance) {
  const now = new Date().toISOString();
  const id = resource?.id ?? `${type === "User" ? "u" : "g"}${(++seq).toString().padStart(6, "0")}-${crypto.randomUUID().slice(0, 8)}`;
  const old = store.get(id);
  if (resource?.id && (!old || old.type !== type)) throw new SCIMMY.Types.Error(404, null, `Resource ${id} not found`);
  const data = clone(instance);
  delete data.schemas; delete data.meta;
  if (type === "User") {
    const clash = typed("User").find((u) => u.id !== id && String(u.userName).toLowerCase() === String(data.userName).toLowerCase());
    if (clash) throw new SCIMMY.Types.Error(409, "uniqueness", `userName ${data.userName} is taken`);
  }
  data.id = id;
  data.meta = { created: old?.data.meta?.created ?? now, lastModified: now };
  store.set(id, { type, data });
  return clone(data);
}

function declare(Resource, type) {
  SCIMMY.Resources.declare(Resource)
    .ingress((resource, instance) => save(type, resource, instance))
    .egress((resource) => {
      if (resource.id) {
        const found = store.get(resource.id);
        if (!found || found.type !== type) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        return clone(found.data);
      }
      const all = typed(type).map(clone);
      return resource.filter ? resource.filter.match(all) : all;
    })
    .degress((resource) => {
      const found = store.get(resource.id);
      if (!found || found.type !== type) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
      store.delete(resource.id);
    });
}
declare(SCIMMY.Resources.User, "User");
declare(SCIMMY.Resources.Group, "Group");
SCIMMY.Config.set({ patch: true, filter: { supported: true, maxResults: 200 }, sort: true, etag: false, bulk: false,
  changePassword: false });

const app = express();
app.use("/_lab", express.json({ limit: "50mb" }), (req, res, next) => {
  const given = req.header("X-Lab-Backdoor") || "";
  if (given.length !== backdoorToken.length || !crypto.timingSafeEqual(Buffer.from(given), Buffer.from(backdoorToken))) {
    return res.status(401).end();
  }
  next();
});
const dump = (data, members = true) => { const out = clone(data); if (!members) delete out.members; return out; };
const withSchemas = (type, data) => ({ schemas: [`urn:ietf:params:scim:schemas:core:2.0:${type}`], ...data });
app.post("/_lab/reset", (req, res) => { store.clear(); counts = {}; res.status(204).end(); });
app.get("/_lab/requests", (req, res) => res.json(counts));
app.get("/_lab/resources", (req, res) => {
  const members = req.query.members !== "0";
  res.json([...store.values()].filter((r) => !req.query.type || r.type === req.query.type)
    .map((r) => withSchemas(r.type, dump(r.data, members))));
});
app.get("/_lab/resources/:id", (req, res) => {
  const found = store.get(req.params.id);
  return found ? res.json(withSchemas(found.type, dump(found.data))) : res.status(404).end();
});
app.delete("/_lab/resources/:id", (req, res) => {
  return store.delete(req.params.id) ? res.status(204).end() : res.status(404).end();
});
app.post("/_lab/seed", (req, res) => {
  res.json(req.body.resources.map((r) => withSchemas(req.body.type, save(req.body.type, null, r))));
});
app.use(BASE, (req, res, next) => {
  const endpoint = "/" + req.path.replace(/^\/+/, "").split("/")[0];
  counts[req.method] = (counts[req.method] || 0) + 1;
  counts[`${req.method} ${endpoint}`] = (counts[`${req.method} ${endpoint}`] || 0) + 1;
  next();
});
app.use(BASE, new SCIMMYRouters({
  type: "bearer",
  docUri: "https://example.invalid/lab",
  handler: (request) => {
    if (request.header("Authorization") !== `Bearer ${token}`) throw new Error("Authorization failed");
    return "lab";
  },
}));

const server = app.listen(Number(options.port || 0), "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
server.keepAliveTimeout = 60000;
if (options.tie) {
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
}
process.on("SIGTERM", () => process.exit(0));
