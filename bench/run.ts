// Interleaved load benchmark: each round runs every configuration once, the server pinned
// to core 0 and wrk to core 1; ratios compare runs of the same round.
// Usage: node --import tsx bench/run.ts [--rounds 5] [--duration 5] [--connections 50] [--only a,b]
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigs } from './configs.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
// Build the packages (not the test project): the servers load their dist.
const packageDirs = readdirSync('packages').filter((d) => existsSync(`packages/${d}/tsconfig.json`));
execFileSync('npx', ['tsc', '-b', ...packageDirs.map((d) => `packages/${d}`)], { stdio: 'inherit' });
const only = values.only?.split(',');
const { comparisons } = await loadConfigs();
const pairs = comparisons.filter(([subject, base]) => !only || only.includes(subject) || only.includes(base));
const names = [...new Set(pairs.flatMap(([subject, base]) => [base, subject]))];

interface Run { rps: number; cpuPerRequest: number }
const results = new Map<string, Run[]>(names.map((n) => [n, []]));

function start(name: string): Promise<{ child: ChildProcess; port: number }> {
  // Packages load from their compiled dist (condition `ngi-dist`), as an installed copy would.
  const child = spawn('taskset', ['-c', '0', process.execPath, '--conditions=ngi-dist', '--import', 'tsx', 'bench/server.ts', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (data: Buffer) => resolve({ child, port: Number(String(data).trim()) }));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function wrk(port: number, seconds: number): number {
  const out = execFileSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${values.connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
  if (errors) throw new Error(`wrk reported errors:\n${out}`);
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
}

async function measure(name: string): Promise<Run> {
  const { child, port } = await start(name);
  try {
    wrk(port, 2);
    const before = cpuSeconds(child.pid!);
    const rps = wrk(port, Number(values.duration));
    const cpu = cpuSeconds(child.pid!) - before;
    return { rps, cpuPerRequest: (cpu / (rps * Number(values.duration))) * 1e6 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

for (let round = 1; round <= rounds; round++) {
  for (const name of names) {
    const run = await measure(name);
    results.get(name)!.push(run);
    console.error(`round ${round} ${name}: ${run.rps.toFixed(0)} req/s, ${run.cpuPerRequest.toFixed(1)} µs CPU/req`);
  }
}

console.log(`\n| subject | baseline | median req/s ratio (min–max) | CPU µs/req subject / baseline | target |`);
console.log(`|---|---|---|---|---|`);
for (const [subject, base, target] of pairs) {
  const s = results.get(subject)!;
  const b = results.get(base)!;
  const ratios = s.map((run, i) => run.rps / b[i]!.rps);
  const cpu = `${median(s.map((r) => r.cpuPerRequest)).toFixed(1)} / ${median(b.map((r) => r.cpuPerRequest)).toFixed(1)}`;
  const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  console.log(`| ${subject} | ${base} | ${median(ratios).toFixed(2)} (${range}) | ${cpu} | ${target === null ? '—' : `≥ ${target}`} |`);
}
