// Drives a proxy-wasm module's request path in Node's V8, without Envoy,
// so that a profiler sees the module's own functions by name:
//
//   node --no-liftoff hit-profile.mjs MODULE.wasm CONFIG.json REQUESTS
//   node --no-liftoff --cpu-prof --cpu-prof-interval 20 hit-profile.mjs ...
//
// (`--no-liftoff`: as in Envoy, every function compiled by TurboFan up
// front; tests/scripts/module-instructions.sh runs it under callgrind.)
//
// The host is the least that answers what the filter asks on a request:
// request headers shaped like the benchmark's (one IdP token), `metadata`
// laid out as Envoy 1.40 serializes `jwt_authn`'s payload for a user,
// the clock; everything else succeeds and does nothing. The first request
// signs; the rest are the hit path. Prints nanoseconds per request, which
// mean something only against another module run the same way (the floor:
// noop-filter with {"mode": "floor"}), and on this noisy machine hardly
// even then: count instructions instead.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";

const [modulePath, configPath, requestsArg] = process.argv.slice(2);
const requests = Number(requestsArg ?? 100000);
const configuration = new TextEncoder().encode(await readFile(configPath, "utf8"));
const OK = 0, NOT_FOUND = 1, EMPTY = 7;

// --- protobuf, as Envoy writes google.protobuf.Struct and Metadata ---
function varint(n) {
  const out = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
const utf8 = (s) => [...new TextEncoder().encode(s)];
const field = (number, bytes) => [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
function value(v) {
  if (v === null) return [...varint(1 << 3), 0];
  if (typeof v === "number") {
    const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, v, true);
    return [...varint((2 << 3) | 1), ...b];
  }
  if (typeof v === "string") return field(3, utf8(v));
  if (typeof v === "boolean") return [...varint(4 << 3), v ? 1 : 0];
  if (Array.isArray(v)) return field(6, v.flatMap((item) => field(1, value(item))));
  return field(5, struct(v));
}
function struct(object) {
  return Object.entries(object).flatMap(([k, v]) => field(1, [...field(1, utf8(k)), ...field(2, value(v))]));
}
const now = Math.floor(Date.now() / 1000);
const CLOCK_NANOS = BigInt(now) * 1000000000n;
const payload = {
  iss: "https://idp.test", aud: "signed-headers-tests", iat: now, exp: now + 3600,
  sub: "alice", email: "alice@example.com", groups: ["engineering", "on-call"],
  name: "User alice", sid: "session-alice",
};
const metadata = new Uint8Array(field(1, [
  ...field(1, utf8("envoy.filters.http.jwt_authn")),
  ...field(2, struct({ jwt_payload: payload })),
]));

const token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImlkcC1rZXkifQ." + "x".repeat(380) + "." + "s".repeat(86);
const headers = [
  [":authority", "127.0.0.1:10000"], [":path", "/"], [":method", "GET"], [":scheme", "http"],
  ["authorization", "Bearer " + token], ["x-forwarded-proto", "http"],
  ["x-request-id", "6f1c2d3e-4b5a-4978-8a6b-5c4d3e2f1a0b"],
];

// --- the host ---
// Views of the module's memory, made again only when it grows: the host
// itself should allocate nothing per request, or the garbage collector's
// work would blur what the module costs.
let instance, buffer, view, heap;
function memory() {
  if (buffer !== instance.exports.memory.buffer) {
    buffer = instance.exports.memory.buffer;
    view = new DataView(buffer);
    heap = new Uint8Array(buffer);
  }
  return view;
}
const bytes = (ptr, len) => { memory(); return heap.subarray(ptr, ptr + len); };
const decoder = new TextDecoder();
const text = (ptr, len) => decoder.decode(bytes(ptr, len));
const METADATA = utf8("metadata");
function isMetadata(ptr, len) {
  if (len !== METADATA.length) return false;
  memory();
  for (let i = 0; i < len; i++) if (heap[ptr + i] !== METADATA[i]) return false;
  return true;
}
function give(data, returnData, returnSize) {
  const ptr = instance.exports.proxy_on_memory_allocate(data.length);
  memory();
  heap.set(data, ptr);
  view.setUint32(returnData, ptr, true);
  view.setUint32(returnSize, data.length, true);
  return OK;
}
function serializedMap(pairs) {
  const encoded = pairs.map(([k, v]) => [utf8(k), utf8(v)]);
  const size = 4 + encoded.length * 8 + encoded.reduce((n, [k, v]) => n + k.length + v.length + 2, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, encoded.length, true);
  let at = 4;
  for (const [k, v] of encoded) { view.setUint32(at, k.length, true); view.setUint32(at + 4, v.length, true); at += 8; }
  for (const [k, v] of encoded) { out.set(k, at); at += k.length + 1; out.set(v, at); at += v.length + 1; }
  return out;
}
const headerBytes = serializedMap(headers);
let nextMetric = 1;
let assertionBytes = 0;
const env = {
  proxy_log: (level, ptr, len) => { if (level >= 3) console.error(text(ptr, len)); return OK; },
  proxy_set_tick_period_milliseconds: () => OK,
  proxy_get_buffer_bytes: (type, start, max, returnData, returnSize) =>
    type === 7 ? give(configuration, returnData, returnSize) : NOT_FOUND,
  proxy_get_header_map_pairs: (_map, returnData, returnSize) => give(headerBytes, returnData, returnSize),
  proxy_get_header_map_value: () => NOT_FOUND,
  proxy_get_property: (ptr, len, returnData, returnSize) =>
    isMetadata(ptr, len) ? give(metadata, returnData, returnSize) : NOT_FOUND,
  proxy_get_current_time_nanoseconds: (returnTime) => {
    // A fixed clock: the same second for the whole run.
    memory().setBigUint64(returnTime, CLOCK_NANOS, true);
    return OK;
  },
  proxy_replace_header_map_value: (_map, _k, _kl, _v, valueLen) => { assertionBytes = valueLen; return OK; },
  proxy_add_header_map_value: () => OK,
  proxy_remove_header_map_value: () => OK,
  proxy_set_header_map_pairs: () => OK,
  proxy_define_metric: (_type, _ptr, _len, returnId) => { memory().setUint32(returnId, nextMetric++, true); return OK; },
  proxy_increment_metric: () => OK,
  proxy_get_shared_data: () => NOT_FOUND,
  proxy_set_shared_data: () => OK,
  proxy_register_shared_queue: (_p, _l, returnId) => { memory().setUint32(returnId, 1, true); return OK; },
  proxy_resolve_shared_queue: () => NOT_FOUND,
  proxy_enqueue_shared_queue: () => OK,
  proxy_dequeue_shared_queue: () => EMPTY,
  proxy_continue_stream: () => OK,
  proxy_close_stream: () => OK,
  proxy_send_local_response: () => OK,
  proxy_set_effective_context: () => OK,
  proxy_done: () => OK,
  proxy_get_status: () => NOT_FOUND,
  proxy_set_property: () => OK,
  proxy_set_buffer_bytes: () => OK,
  proxy_call_foreign_function: () => NOT_FOUND,
  proxy_http_call: () => NOT_FOUND,
  proxy_grpc_call: () => NOT_FOUND,
  proxy_grpc_stream: () => NOT_FOUND,
  proxy_grpc_send: () => NOT_FOUND,
  proxy_grpc_cancel: () => NOT_FOUND,
  proxy_grpc_close: () => NOT_FOUND,
};

const wasi = new WASI({ version: "preview1", args: [], env: {} });
const module = await WebAssembly.compile(await readFile(modulePath));
instance = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), env });
wasi.initialize(instance);
const x = instance.exports;
const ROOT = 1;
x.proxy_on_context_create(ROOT, 0);
x.proxy_on_vm_start?.(ROOT, 0);
if (!x.proxy_on_configure(ROOT, configuration.length)) throw new Error("the module refused its configuration");

function request(context) {
  x.proxy_on_context_create(context, ROOT);
  const action = x.proxy_on_request_headers(context, headers.length, 1);
  x.proxy_on_done(context);
  x.proxy_on_delete(context);
  return action;
}
if (request(2) !== 0) throw new Error("the first request did not continue");
if (assertionBytes === 0) throw new Error("the first request set no header");
// Past V8's tier-up before timing.
for (let i = 0; i < 20000; i++) request(3 + i);
const start = process.hrtime.bigint();
for (let i = 0; i < requests; i++) request(100000 + i);
const elapsed = Number(process.hrtime.bigint() - start);
console.log(JSON.stringify({ module: modulePath, requests, ns_per_request: Math.round(elapsed / requests), header_bytes: assertionBytes }));
