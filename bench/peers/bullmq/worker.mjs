// The guide's operations as one BullMQ processor: transform_user_data, an
// I/O wait, argon2id password hashing (libsodium, as jobq) and an HTTP GET
// with Node's fetch (as jobq's http.request). Completed jobs are removed
// when REMOVE_ON_COMPLETE is set.
import { Worker } from "bullmq";
import sodium from "sodium-native";
const connection = { host: "127.0.0.1", port: Number(process.env.PORT) };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
new Worker(process.env.QUEUE || "bench", async (job) => {
  const u = job.data;
  switch (job.name) {
  case "sleep":
    await sleep(u.ms);
    return null;
  case "http": { // as jobq's http.request: status, headers, body
    const res = await fetch(u.url);
    const body = await res.text();
    if (res.status >= 400) throw new Error(`HTTP ${res.status}`);
    return { status: res.status, headers: Object.fromEntries(res.headers), body };
  }
  case "hash": {
    const out = Buffer.alloc(sodium.crypto_pwhash_STRBYTES);
    sodium.crypto_pwhash_str(out, Buffer.from(u.password), sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE);
    return out.toString().replace(/\0+$/, "");
  }
  default:
    return { id: u.id, username: (u.username || "").toLowerCase(),
             email: (u.email || "").toLowerCase(), created_at: u.created_at,
             display_name: u.full_name || u.username };
  }
}, { connection, concurrency: Number(process.env.CONCURRENCY || 100),
     removeOnComplete: process.env.REMOVE_ON_COMPLETE ? { count: 0 } : undefined });
