// A non-.NET peer fleet, to check the load tool's peer-side figures against a client with another runtime, another
// HTTP/2 stack and another GC. Node's built-in http2 only, no packages. Each peer: its own HTTP/2 connection, the Job
// call, one sealed hello (made by `Reactive.Management.LoadTest hellos`), then it only reads: every message in a
// hold/heartbeat run is a heartbeat, timed on arrival.
//   node benchmarks/peer-check.mjs --hellos FILE [--target http://127.0.0.1:33073] [--heartbeat 1] [--duration 30]
//        [--ramp-per-second 2000] [--source-addresses N]
// benchmarks/load.sh --node-client runs it against our host with the same settings as the .NET tool.
import http2 from 'node:http2';
import net from 'node:net';
import fs from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, value, i, all) =>
  (i % 2 === 0 ? [...pairs, [value.replace(/^--/, ''), all[i + 1]]] : pairs), []));
const target = new URL(args.target ?? 'http://127.0.0.1:33073');
const intervalMs = Number(args.heartbeat ?? 1) * 1000;
const durationMs = Number(args.duration ?? 30) * 1000;
const rampPerSecond = Number(args['ramp-per-second'] ?? 2000);
const hellos = fs.readFileSync(args.hellos, 'utf8').split('\n').filter(line => line.length > 0).map(line => Buffer.from(line, 'base64'));
const sources = Number(args['source-addresses'] ?? Math.ceil(hellos.length / 20000));
const serverPid = args['server-pid'];
// The server's CPU time (utime + stime, in clock ticks of 1/100 s) and RSS, from /proc, when its pid is given.
const serverCpuSeconds = () => {
  const stat = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
const serverRssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${serverPid}/status`, 'utf8'))[1]);

let measuring = false;
let lost = 0;
let received = 0;
const lateness = [];
let gcMs = 0;
new PerformanceObserver(list => { if (measuring) for (const entry of list.getEntries()) gcMs += entry.duration; }).observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

function open(hello, index) {
  return new Promise((resolve, reject) => {
    const localAddress = `127.0.0.${2 + (index % sources)}`;
    const session = http2.connect(target.origin, {
      createConnection: () => net.connect({ host: target.hostname, port: Number(target.port), localAddress }),
    });
    session.on('error', () => { });
    const call = session.request({
      ':method': 'POST',
      ':path': '/management.ManagementService/Job',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    let buffered = Buffer.alloc(0);
    let last = null;
    call.on('data', chunk => {
      const now = process.hrtime.bigint();
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
        buffered = buffered.subarray(5 + buffered.readUInt32BE(1));
        // The first heartbeat's wait includes the handshake: counted from, not judged.
        if (measuring) {
          received++;
          if (last !== null) lateness.push(Math.max(0, Number(now - last) / 1e6 - intervalMs));
        }
        last = now;
      }
    });
    call.on('close', () => { if (measuring) lost++; });
    call.on('error', error => reject(error));
    // Open once the hello is written (a hold-only server never answers with headers).
    call.write(hello, () => resolve());
  });
}

const started = performance.now();
const opening = [];
for (let i = 0; i < hellos.length; i++) {
  const due = (i / rampPerSecond) * 1000;
  const wait = due - (performance.now() - started);
  if (wait > 0) await new Promise(done => setTimeout(done, wait));
  opening.push(open(hellos[i], i));
}
await Promise.all(opening);
process.stderr.write(`peer-check: ${hellos.length} streams open in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
await new Promise(done => setTimeout(done, intervalMs + 1000));

measuring = true;
loopDelay.enable();
const window = performance.now();
const cpuBefore = serverPid ? serverCpuSeconds() : 0;
await new Promise(done => setTimeout(done, durationMs));
measuring = false;
loopDelay.disable();
const seconds = (performance.now() - window) / 1000;
const serverCores = serverPid ? (serverCpuSeconds() - cpuBefore) / seconds : NaN;

const sorted = lateness.sort((a, b) => a - b);
const percentile = p => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))];
console.log(`| measure (Node ${process.version} client, one HTTP/2 connection per peer) | value |`);
console.log('|---|---|');
console.log(`| peers (streams lost) | ${hellos.length} (${lost}) |`);
console.log(`| heartbeats received | ${(received / seconds).toFixed(0)}/s (expected ${(hellos.length / (intervalMs / 1000)).toFixed(0)}/s) |`);
console.log(`| heartbeat lateness at the peer, p50 / p99 / max | ${percentile(50).toFixed(1)} / ${percentile(99).toFixed(1)} / ${percentile(100).toFixed(1)} ms (${sorted.length} judged) |`);
if (serverPid) console.log(`| server CPU while measuring; server RSS at the end | ${serverCores.toFixed(2)} cores; ${(serverRssKiB() / 1024).toFixed(0)} MiB |`);
console.log(`| client GC pauses while measuring; event loop delay p99 / max | ${gcMs.toFixed(0)} ms; ${(loopDelay.percentile(99) / 1e6).toFixed(1)} / ${(loopDelay.max / 1e6).toFixed(1)} ms |`);
process.exit(lost === 0 && received > 0 ? 0 : 1);
