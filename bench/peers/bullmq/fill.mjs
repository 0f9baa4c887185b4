import { Queue } from "bullmq";
const q = new Queue("bench", { connection: { host: "127.0.0.1", port: Number(process.env.PORT) } });
const n = Number(process.argv[2]);
for (let i = 0; i < n; i += 1000) {
  const jobs = [];
  for (let k = i; k < Math.min(n, i + 1000); k++)
    jobs.push({ name: "transform", data: { id: k, username: "User_1",
      email: "User1@Example.COM", full_name: "User One", created_at: 1700000000000 } });
  await q.addBulk(jobs);
}
await q.close();
