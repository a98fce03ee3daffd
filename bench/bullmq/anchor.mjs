// The anchor of bench/http_bench.sh's queue figures: BullMQ on Redis, on
// the same machine in the same run. Producers add jobs the way a booking
// makes them (a bulk of --per jobs, like the seed's jobs of one booking,
// written together), as fast as Redis takes them, while one Worker
// processes them with --concurrency jobs at once (each job a no-op: the
// figure is the queue's own cost, as our seed jobs' effects are small
// writes). After --seconds, producing stops and the backlog drains.
//
// Usage: node anchor.mjs --port P [--seconds S] [--producers N]
//          [--per K] [--concurrency C]
// Prints one line:
//   BULLMQ added_per_s= processed_per_s= drain_per_s= backlog_at_end=
// added_per_s and processed_per_s are over the producing window (jobs
// done while jobs are being added: the sustained figure when the backlog
// stays small, the most the worker keeps up with when it grows);
// drain_per_s is the rate at which the backlog left at the end is
// processed with nothing being added.
import { Queue, Worker } from "bullmq";

const args = new Map();
for (let i = 2; i + 1 < process.argv.length; i += 2)
  args.set(process.argv[i].replace(/^--/, ""), process.argv[i + 1]);
const port = Number(args.get("port") ?? 6379);
const seconds = Number(args.get("seconds") ?? 10);
const producers = Number(args.get("producers") ?? 32);
const per = Number(args.get("per") ?? 6);
const concurrency = Number(args.get("concurrency") ?? 256);
const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };

const queue = new Queue("seed", { connection });
await queue.obliterate({ force: true }).catch(() => {});
let processed = 0;
const worker = new Worker("seed", async () => {}, {
  connection,
  concurrency,
  removeOnComplete: { count: 0 },
  removeOnFail: { count: 1000 },
});
worker.on("completed", () => {
  processed += 1;
});
await worker.waitUntilReady();

let added = 0;
let producing = true;
const t0 = Date.now();
const loops = [];
for (let p = 0; p < producers; ++p)
  loops.push(
    (async () => {
      while (producing) {
        const jobs = [];
        for (let k = 0; k < per; ++k)
          jobs.push({
            name: "job",
            data: { booking: added, k },
            opts: { removeOnComplete: true, attempts: 3 },
          });
        await queue.addBulk(jobs);
        added += per;
      }
    })()
  );
await new Promise((r) => setTimeout(r, seconds * 1000));
producing = false;
await Promise.all(loops);
const window = (Date.now() - t0) / 1000;
const processedInWindow = processed;
const deadline = Date.now() + 120000;
while (processed < added && Date.now() < deadline)
  await new Promise((r) => setTimeout(r, 50));
const drainSeconds = (Date.now() - t0) / 1000 - window;
const drained = processed - processedInWindow;
console.log(
  `BULLMQ added_per_s=${Math.round(added / window)}` +
    ` processed_per_s=${Math.round(processedInWindow / window)}` +
    ` drain_per_s=${drainSeconds > 0 ? Math.round(drained / drainSeconds) : 0}` +
    ` backlog_at_end=${added - processedInWindow}`
);
await worker.close();
await queue.close();
process.exit(0);
