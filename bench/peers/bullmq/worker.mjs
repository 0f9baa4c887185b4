// The guide's transform_user_data as a BullMQ processor.
import { Worker } from "bullmq";
const connection = { host: "127.0.0.1", port: Number(process.env.PORT) };
new Worker(process.env.QUEUE || "bench", async (job) => {
  const u = job.data;
  return { id: u.id, username: (u.username || "").toLowerCase(),
           email: (u.email || "").toLowerCase(), created_at: u.created_at,
           display_name: u.full_name || u.username };
}, { connection, concurrency: Number(process.env.CONCURRENCY || 100) });
