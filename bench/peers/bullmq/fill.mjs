import { Queue } from "bullmq";
const q = new Queue(process.env.QUEUE || "bench", { connection: { host: "127.0.0.1", port: Number(process.env.PORT) } });
const [workload, n] = [process.argv[2], Number(process.argv[3])];
const job = (k) => workload === "sleep" ? { name: "sleep", data: { ms: 1000 } }
  : workload === "http" ? { name: "http", data: { url: process.env.HTTP_URL } }
  : workload === "hash" ? { name: "hash", data: { password: `Secret${k}x` } }
  : { name: "transform", data: { id: k, username: "User_1", email: "User1@Example.COM",
                                 full_name: "User One", created_at: 1700000000000 } };
for (let i = 0; i < n; i += 1000) {
  const jobs = [];
  for (let k = i; k < Math.min(n, i + 1000); k++) jobs.push(job(k));
  await q.addBulk(jobs);
}
await q.close();
