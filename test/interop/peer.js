// A Fedify peer for Agora's interop tests: one Person actor on
// 127.0.0.1:<port>, its own WebFinger, an inbox that records what Fedify
// verified, and a small JSON control API under /control/ that the Go tests
// drive. It prints one JSON "ready" line on stdout when it listens.
//
//   node peer.js --name alice [--port 0] [--first-knock rfc9421|draft-cavage-http-signatures-12]
//
// Test-only settings: allowPrivateAddress (fetching from loopback). Fedify
// verifies every signature itself; skipSignatureVerification is never set.

import http from "node:http";
import { Temporal } from "@js-temporal/polyfill";
import { createHash, randomUUID, webcrypto } from "node:crypto";
import { parseArgs } from "node:util";
import {
  createFederation,
  MemoryKvStore,
  verifyRequest,
} from "@fedify/fedify";
import {
  Accept,
  Announce,
  Create,
  Delete,
  Follow,
  Like,
  Mention,
  Note,
  Person,
  PUBLIC_COLLECTION,
  Reject,
  Tombstone,
  Undo,
  Update,
  Endpoints,
  isActor,
} from "@fedify/fedify/vocab";

const { values: args } = parseArgs({
  options: {
    name: { type: "string", default: "alice" },
    port: { type: "string", default: "0" },
    "first-knock": { type: "string", default: "rfc9421" },
  },
});
const NAME = args.name;

if (process.env.PEER_DEBUG) {
  const { configure, getConsoleSink } = await import("@logtape/logtape");
  await configure({
    sinks: { console: getConsoleSink() },
    loggers: [
      { category: "fedify", sinks: ["console"], lowestLevel: "debug" },
      { category: ["logtape", "meta"], sinks: ["console"], lowestLevel: "warning" },
    ],
  });
}

// RSA-2048: Fedify's own generateCryptoKeyPair makes 4096-bit keys, which
// take seconds.
async function rsaKeyPair() {
  return await webcrypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
}
const published = await rsaKeyPair(); // the key the actor document shows
let signingKey = published.privateKey; // swapped by /control/swap-key

// State the control API reads.
const received = []; // activities Fedify verified and handed to a listener
const unverified = []; // activities Fedify refused to verify
const requests = []; // every HTTP request: method, path, status, signature scheme
const notes = new Map(); // id -> { note, recipients }
const following = new Map(); // group actor id -> Follow
let tamperInbox = false; // /control/tamper: alter inbound inbox bodies in transit

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(args.port), "127.0.0.1", resolve));
const port = server.address().port;
const origin = `http://127.0.0.1:${port}`;

const federation = createFederation({
  kv: new MemoryKvStore(),
  origin,
  allowPrivateAddress: true,
  firstKnock: args["first-knock"],
});

federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== NAME) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: `Fedify ${identifier}`,
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      outbox: new URL(`${origin}/users/${identifier}/outbox`),
      followers: ctx.getFollowersUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher(async (_ctx, identifier) => {
    if (identifier !== NAME) return [];
    return [{ privateKey: signingKey, publicKey: published.publicKey }];
  });

federation.setFollowersDispatcher("/users/{identifier}/followers", async () => ({ items: [] }));

federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", (ctx, values) => {
  const n = notes.get(ctx.getObjectUri(Note, values).href);
  return n?.deleted ? null : n?.note ?? null;
});

// The Create of each note is served too, so that an Announce{Create}
// (FEP-1b12) can be checked against its origin.
federation.setObjectDispatcher(Create, "/users/{identifier}/notes/{id}/create", (ctx, values) => {
  const n = notes.get(ctx.getObjectUri(Note, values).href);
  return n?.deleted ? null : n?.create ?? null;
});

async function record(ctx, activity) {
  const entry = {
    type: activity.constructor.typeId?.href?.split("#").pop() ?? "Object",
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    objectId: null,
    objectType: null,
    json: await activity.toJsonLd(),
    fetched: null,
    fetchError: null,
    at: new Date().toISOString(),
  };
  entry.objectId = activity.objectId?.href ?? null;
  // Announce{Note id}: fetch the announced object from its origin, as
  // Mastodon does before it shows a boost. Other activities' objects are
  // kept as sent.
  if (!(activity instanceof Announce)) {
    received.push(entry);
    return;
  }
  try {
    const obj = await activity.getObject({ documentLoader: ctx.documentLoader });
    if (obj != null) {
      entry.objectType = obj.constructor.typeId?.href?.split("#").pop() ?? null;
      entry.objectId = obj.id?.href ?? entry.objectId;
      entry.fetched = await obj.toJsonLd();
    }
  } catch (e) {
    entry.fetchError = String(e);
  }
  received.push(entry);
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, record)
  .on(Reject, record)
  .on(Announce, record)
  .on(Undo, record)
  .on(Create, record)
  .on(Update, record)
  .on(Delete, record)
  .on(Follow, record)
  .on(Like, record)
  .onUnverifiedActivity((_ctx, activity, reason) => {
    unverified.push({ id: activity.id?.href ?? null, reason: String(reason?.type ?? reason) });
    // undefined: Fedify answers 401.
  })
  .onError((_ctx, error) => {
    console.error("inbox error:", error);
  });

// WebFinger over http: Fedify's own handle look-up always uses https.
async function resolve(ctx, target) {
  let url = target;
  const m = /^@?([^@]+)@(.+)$/.exec(target);
  if (m) {
    const res = await fetch(
      `http://${m[2]}/.well-known/webfinger?resource=${encodeURIComponent(`acct:${m[1]}@${m[2]}`)}`,
      { headers: { Accept: "application/jrd+json" } },
    );
    if (!res.ok) throw new Error(`webfinger ${target}: ${res.status}`);
    const jrd = await res.json();
    const self = (jrd.links ?? []).find(
      (l) => l.rel === "self" && /activity\+json|ld\+json/.test(l.type ?? ""),
    );
    if (!self) throw new Error(`webfinger ${target}: no self link`);
    url = self.href;
  }
  const obj = await ctx.lookupObject(url);
  if (obj == null || !isActor(obj)) throw new Error(`${url} is not an actor`);
  return obj;
}

function actorSummary(a) {
  return {
    id: a.id?.href,
    type: a.constructor.typeId?.href?.split("#").pop(),
    preferredUsername: a.preferredUsername?.toString() ?? null,
    name: a.name?.toString() ?? null,
    inbox: a.inboxId?.href ?? null,
    sharedInbox: a.endpoints?.sharedInbox?.href ?? null,
    followers: a.followersId?.href ?? null,
  };
}

function addressing(ctx, groups, visibility) {
  const followers = ctx.getFollowersUri(NAME);
  const ids = groups.map((g) => g.id);
  switch (visibility) {
    case "unlisted":
      return { tos: [followers], ccs: [PUBLIC_COLLECTION, ...ids] };
    case "followers":
      return { tos: [followers], ccs: ids };
    case "direct":
      return { tos: ids, ccs: [] };
    default:
      return { tos: [PUBLIC_COLLECTION], ccs: [followers, ...ids] };
  }
}

async function send(ctx, recipients, activity) {
  await ctx.sendActivity({ identifier: NAME }, recipients, activity, { immediate: true });
}

const control = {
  async follow(ctx, body) {
    const group = await resolve(ctx, body.target);
    const follow = new Follow({
      id: new URL(`${origin}/users/${NAME}/follows/${randomUUID()}`),
      actor: ctx.getActorUri(NAME),
      object: group.id,
    });
    await send(ctx, group, follow);
    following.set(group.id.href, follow);
    return { follow: follow.id.href, actor: actorSummary(group) };
  },
  async unfollow(ctx, body) {
    const group = await resolve(ctx, body.target);
    const follow = following.get(group.id.href);
    if (!follow) throw new Error(`not following ${group.id.href}`);
    const undo = new Undo({
      id: new URL(`${origin}/users/${NAME}/undos/${randomUUID()}`),
      actor: ctx.getActorUri(NAME),
      object: follow,
    });
    await send(ctx, group, undo);
    following.delete(group.id.href);
    return { undo: undo.id.href };
  },
  async lookup(ctx, body) {
    return { actor: actorSummary(await resolve(ctx, body.target)) };
  },
  async post(ctx, body) {
    const groups = await Promise.all((body.to ?? []).map((t) => resolve(ctx, t)));
    const id = new URL(`${origin}/users/${NAME}/notes/${randomUUID()}`);
    const { tos, ccs } = addressing(ctx, groups, body.visibility ?? "public");
    const note = new Note({
      id,
      url: id,
      attribution: ctx.getActorUri(NAME),
      content: body.content ?? "",
      tos,
      ccs,
      tags: groups.map(
        (g) => new Mention({ href: g.id, name: `@${g.preferredUsername}@${g.id.host}` }),
      ),
      replyTarget: body.inReplyTo ? new URL(body.inReplyTo) : null,
      published: Temporal.Now.instant(),
    });
    const create = new Create({
      id: new URL(`${id.href}/create`),
      actor: ctx.getActorUri(NAME),
      object: note,
      tos,
      ccs,
    });
    notes.set(id.href, { note, create, recipients: groups });
    await send(ctx, groups, create);
    return { note: id.href, create: create.id.href };
  },
  async edit(ctx, body) {
    const n = notes.get(body.note);
    if (!n) throw new Error(`no note ${body.note}`);
    n.note = n.note.clone({ content: body.content, updated: Temporal.Now.instant() });
    const update = new Update({
      id: new URL(`${body.note}/update/${randomUUID()}`),
      actor: ctx.getActorUri(NAME),
      object: n.note,
      tos: n.note.toIds,
      ccs: n.note.ccIds,
    });
    await send(ctx, n.recipients, update);
    return { update: update.id.href };
  },
  async delete(ctx, body) {
    const n = notes.get(body.note);
    if (!n) throw new Error(`no note ${body.note}`);
    n.deleted = true;
    const del = new Delete({
      id: new URL(`${body.note}/delete`),
      actor: ctx.getActorUri(NAME),
      object: new Tombstone({ id: n.note.id }),
      tos: n.note.toIds,
      ccs: n.note.ccIds,
    });
    await send(ctx, n.recipients, del);
    return { delete: del.id.href };
  },
  async like(ctx, body) {
    const groups = await Promise.all((body.to ?? []).map((t) => resolve(ctx, t)));
    const like = new Like({
      id: new URL(`${origin}/users/${NAME}/likes/${randomUUID()}`),
      actor: ctx.getActorUri(NAME),
      object: new URL(body.object),
    });
    await send(ctx, groups, like);
    return { like: like.id.href };
  },
  // A GET signed by this actor (Fedify's authenticated document loader).
  async fetch(ctx, body) {
    const loader = await ctx.getDocumentLoader({ identifier: NAME });
    const doc = await loader(body.url);
    return { document: doc.document };
  },
  async "swap-key"() {
    signingKey = (await rsaKeyPair()).privateKey;
    return { swapped: true };
  },
  async tamper(_ctx, body) {
    tamperInbox = !!body.on;
    return { tamper: tamperInbox };
  },
};

// tamper alters an inbox POST as a man in the middle would: one field of
// the activity changes and the body digests are recomputed, so that only
// the signature can tell.
function tamper(headers, body) {
  const obj = JSON.parse(body.toString("utf8"));
  obj.summary = "tampered in transit";
  const out = Buffer.from(JSON.stringify(obj));
  const sum = createHash("sha256").update(out).digest("base64");
  if (headers.has("digest")) headers.set("digest", `SHA-256=${sum}`);
  if (headers.has("content-digest")) headers.set("content-digest", `sha-256=:${sum}:`);
  headers.delete("content-length");
  return out;
}

function json(status, value) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

async function handle(req) {
  const url = new URL(req.url);
  const ctx = federation.createContext(req, undefined);
  if (url.pathname.startsWith("/control/")) {
    const op = url.pathname.slice("/control/".length);
    if (req.method === "GET") {
      switch (op) {
        case "received":
          return json(200, received);
        case "unverified":
          return json(200, unverified);
        case "requests":
          return json(200, requests);
      }
      return json(404, { error: `no ${op}` });
    }
    if (!(op in control)) return json(404, { error: `no ${op}` });
    try {
      const body = await req.json().catch(() => ({}));
      return json(200, await control[op](ctx, body));
    } catch (e) {
      return json(502, { error: String(e), status: e?.statusCode ?? null });
    }
  }
  return await federation.fetch(req, { contextData: undefined });
}

server.on("request", async (inc, out) => {
  try {
    const chunks = [];
    for await (const c of inc) chunks.push(c);
    let body = Buffer.concat(chunks);
    // The URL from the Host header, as the sender saw it: RFC 9421
    // signatures cover @target-uri and @authority.
    const url = new URL(inc.url, `http://${inc.headers.host}`);
    const headers = new Headers();
    for (const [k, v] of Object.entries(inc.headers)) {
      headers.set(k, Array.isArray(v) ? v.join(", ") : v);
    }
    const isInbox = inc.method === "POST" && /\/inbox$/.test(url.pathname);
    let tampered = false;
    if (isInbox && tamperInbox && body.length > 0) {
      body = tamper(headers, body);
      tampered = true;
    }
    const req = new Request(url, {
      method: inc.method,
      headers,
      body: inc.method === "GET" || inc.method === "HEAD" ? undefined : body,
    });
    const entry = {
      method: inc.method,
      path: url.pathname + url.search,
      scheme: headers.has("signature-input") ? "rfc9421" : headers.has("signature") ? "draft-cavage-http-signatures-12" : null,
      keyId: null,
      verified: null,
      tampered,
      status: 0,
    };
    // A signed GET (Agora fetching this actor or a note): verify it with
    // Fedify, for the record; the document is served either way.
    if (entry.scheme && inc.method === "GET" && !url.pathname.startsWith("/control/")) {
      const ctx = federation.createContext(req, undefined);
      const key = await verifyRequest(req.clone(), {
        documentLoader: ctx.documentLoader,
        contextLoader: ctx.contextLoader,
      }).catch(() => null);
      entry.verified = key != null;
      entry.keyId = key?.id?.href ?? null;
    }
    const res = await handle(req);
    entry.status = res.status;
    if (!url.pathname.startsWith("/control/")) requests.push(entry);
    out.statusCode = res.status;
    res.headers.forEach((v, k) => out.setHeader(k, v));
    out.end(Buffer.from(await res.arrayBuffer()));
  } catch (e) {
    console.error("request failed:", e);
    out.statusCode = 500;
    out.end(String(e));
  }
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// The test that started this peer may die without cleaning up: stdin
// closes with it, and so does the peer.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

console.log(
  JSON.stringify({
    ready: true,
    origin,
    port,
    actor: `${origin}/users/${NAME}`,
    handle: `@${NAME}@127.0.0.1:${port}`,
    firstKnock: args["first-knock"],
  }),
);
