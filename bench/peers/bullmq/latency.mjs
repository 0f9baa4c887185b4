// Enqueue-to-completion latency for single jobs sent one at a time to an
// idle BullMQ worker, with BullMQ's own completion notice
// (job.waitUntilFinished over QueueEvents), beside a PING loop on the same
// client for the Redis round trip.
import { Queue, QueueEvents } from "bullmq";
const connection = { host: "127.0.0.1", port: Number(process.env.PORT) };
const q = new Queue("lat", { connection });
const ev = new QueueEvents("lat", { connection });
await ev.waitUntilReady();
const n = Number(process.argv[2]);
const client = await q.client;
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const us = (t) => Number(process.hrtime.bigint() - t) / 1000;
const rtt = [];
for (let i = 0; i < n; i++) { const t = process.hrtime.bigint(); await client.ping(); rtt.push(us(t)); }
const lat = [];
for (let i = 0; i < n; i++) {
  const t = process.hrtime.bigint();
  const job = process.env.HTTP_URL
    ? await q.add("http", { url: process.env.HTTP_URL })
    : await q.add("t", { id: i, username: "User_1", email: "User1@Example.COM",
                         full_name: "User One", created_at: 1700000000000 });
  await job.waitUntilFinished(ev);
  lat.push(us(t));
}
rtt.sort((a, b) => a - b); lat.sort((a, b) => a - b);
console.log(JSON.stringify({ n, rtt_us: pct(rtt, 0.5), p50_us: pct(lat, 0.5),
  p99_us: pct(lat, 0.99), p999_us: pct(lat, 0.999) }));
await ev.close(); await q.close();
