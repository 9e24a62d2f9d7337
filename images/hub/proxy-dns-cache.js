// Loaded into configurable-http-proxy with `node --require` (images/hub/mlops-hub-proxy).
//
// The proxy opens a new connection to the hub for every request it passes on (http-proxy without
// an agent), and each connection first asks Docker's DNS for `hub` through libuv's four worker
// threads. In a storm of server starts dockerd answers those lookups in 100-300 ms and they queue
// behind each other: the hub's API took up to 1 s through the proxy while the hub answered in
// 50 ms. Here a name is looked up once at a time, requests arriving together share that lookup,
// and its answer is kept for a second and then refreshed in the background (sharedLookup). A
// failed lookup is never kept: a hub that is not up yet is looked up again by the next request.
// User servers are routed by IP address and never reach this code.
"use strict";

const dns = require("dns");

const DEFAULT_TTL_MS = 1000;

// MLOPS_PROXY_DNS_TTL_MS: milliseconds an answer is kept (0: only lookups in flight are shared);
// unset or empty: the default; anything else is refused, naming the variable
function ttlFromEnv(env) {
  const raw = env.MLOPS_PROXY_DNS_TTL_MS;
  if (raw === undefined || raw.trim() === "") return DEFAULT_TTL_MS;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`MLOPS_PROXY_DNS_TTL_MS: milliseconds, 0 or more (empty: ${DEFAULT_TTL_MS}), got '${raw}'`);
  }
  return value;
}

function normalise(options) {
  if (typeof options === "number") return { family: options };
  return options || {};
}

// A dns.lookup with the same signature as `lookup`, running at most one `lookup` per name and
// options at a time. An answer younger than `ttlMs` is given at once. One older, up to `staleMs`,
// is given at once too while a lookup in the background refreshes it: a slow resolver then delays
// no request at all. A failed lookup drops the kept answer (a hub that stopped is not asked for at
// its old address past that lookup). ttlMs 0: only lookups in flight are shared.
function sharedLookup(lookup, ttlMs, now = Date.now, staleMs = 10 * ttlMs) {
  const answers = new Map(); // key -> {at, args}
  const waiting = new Map(); // key -> callbacks of the lookup in flight
  function refresh(key, hostname, options) {
    waiting.set(key, []);
    lookup(hostname, options, (...args) => {
      const callbacks = waiting.get(key);
      waiting.delete(key);
      if (args[0]) answers.delete(key);
      else if (ttlMs > 0) answers.set(key, { at: now(), args });
      for (const cb of callbacks) cb(...args);
    });
  }
  return function lookupShared(hostname, options, callback) {
    if (typeof options === "function") {
      callback = options;
      options = {};
    }
    const opts = normalise(options);
    const key = JSON.stringify([hostname, opts.family || 0, Boolean(opts.all), opts.hints || 0, opts.verbatim]);
    const kept = answers.get(key);
    const age = kept ? now() - kept.at : Infinity;
    if (age < staleMs) {
      if (age >= ttlMs && !waiting.has(key)) refresh(key, hostname, options);
      process.nextTick(callback, ...kept.args);
      return;
    }
    if (!waiting.has(key)) refresh(key, hostname, options);
    waiting.get(key).push(callback);
  };
}

module.exports = { sharedLookup, ttlFromEnv };

// loading is installing: `node --require` has no other way in
let ttlMs;
try {
  ttlMs = ttlFromEnv(process.env);
} catch (e) {
  console.error(`mlops-hub-proxy: ${e.message}`);
  process.exit(2);
}
dns.lookup = sharedLookup(dns.lookup.bind(dns), ttlMs);
