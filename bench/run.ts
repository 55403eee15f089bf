// Load benchmark. By default each comparison runs its two servers at the same time, both
// pinned to core 0, each loaded by its own wrk on core 1: the machine's noise hits both alike,
// and the scheduler gives each half the core, so the ratio of their req/s is the ratio of the
// work each does per request. `--sequential` runs every configuration in turn instead (rounds
// interleaved), as a server alone on its core.
// `--browser-headers` sends the ten header fields a browser sends with a page request besides
// Host (wrk alone sends Host only): every request header is work for an adapter building an environ.
// Usage: node --import tsx bench/run.ts [--rounds 5] [--duration 5] [--connections 50] [--only a,b] [--sequential] [--browser-headers]
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigs } from './configs.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string' },
    sequential: { type: 'boolean', default: false },
    'browser-headers': { type: 'boolean', default: false },
  },
});
const BROWSER_HEADERS = [
  'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Accept-Language: en-US,en;q=0.9',
  'Accept-Encoding: gzip, deflate, br',
  'Sec-Fetch-Site: none',
  'Sec-Fetch-Mode: navigate',
  'Sec-Fetch-Dest: document',
  'Upgrade-Insecure-Requests: 1',
  'Cookie: session=abc123; theme=dark',
  'sec-ch-ua: "Chromium";v="131"',
];
const headerArgs = values['browser-headers'] ? BROWSER_HEADERS.flatMap((header) => ['-H', header]) : [];
const rounds = Number(values.rounds);
const duration = Number(values.duration);
// Build the packages (not the test project): the servers load their dist.
const packageDirs = readdirSync('packages').filter((d) => existsSync(`packages/${d}/tsconfig.json`));
execFileSync('npx', ['tsc', '-b', ...packageDirs.map((d) => `packages/${d}`)], { stdio: 'inherit' });
const only = values.only?.split(',');
const { comparisons } = await loadConfigs();
const pairs = comparisons.filter(([subject, base]) => !only || only.includes(subject) || only.includes(base));

interface Run { rps: number; cpuPerRequest: number }
interface Server { child: ChildProcess; port: number }

function start(name: string): Promise<Server> {
  // Packages load from their compiled dist (condition `ngi-dist`), as an installed copy would.
  const child = spawn('taskset', ['-c', '0', process.execPath, '--conditions=ngi-dist', '--import', 'tsx', 'bench/server.ts', name], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (data: Buffer) => resolve({ child, port: Number(String(data).trim()) }));
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

async function stop(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Loads a server for `seconds` with wrk on core 1; resolves with its req/s. */
function wrk(port: number, seconds: number): Promise<number> {
  const args = ['-c', '1', 'wrk', '-t1', `-c${values.connections}`, `-d${seconds}s`, ...headerArgs, `http://127.0.0.1:${port}/`];
  return new Promise((resolve, reject) => {
    execFile('taskset', args, { encoding: 'utf8' }, (error, out) => {
      if (error) return reject(error);
      if (/Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.test(out)) return reject(new Error(`wrk reported errors:\n${out}`));
      resolve(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]));
    });
  });
}

/** Loads all the servers at once; every load ends before this does, failed or not. */
async function loadAll(servers: Server[], seconds: number): Promise<number[]> {
  const settled = await Promise.allSettled(servers.map((server) => wrk(server.port, seconds)));
  const failed = settled.find((result) => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((result) => (result as PromiseFulfilledResult<number>).value);
}

/** Warms the servers up, then loads them all at once; one run per server. */
async function measure(servers: Server[]): Promise<Run[]> {
  await loadAll(servers, 2);
  const before = servers.map((server) => cpuSeconds(server.child.pid!));
  const rps = await loadAll(servers, duration);
  return servers.map((server, i) => {
    const cpu = cpuSeconds(server.child.pid!) - before[i]!;
    return { rps: rps[i]!, cpuPerRequest: (cpu / (rps[i]! * duration)) * 1e6 };
  });
}

/** Starts the servers of `names`, measures them at once, and stops them. */
async function measureServers(names: string[]): Promise<Run[]> {
  const servers = await Promise.all(names.map(start));
  try {
    return await measure(servers);
  } finally {
    await Promise.all(servers.map(stop));
  }
}

/** Per comparison, its subject's and its baseline's runs, round by round. */
const results = pairs.map(() => ({ subject: [] as Run[], base: [] as Run[] }));
const log = (round: number, name: string, run: Run) =>
  console.error(`round ${round} ${name}: ${run.rps.toFixed(0)} req/s, ${run.cpuPerRequest.toFixed(1)} µs CPU/req`);

if (values.sequential) {
  const names = [...new Set(pairs.flatMap(([subject, base]) => [base, subject]))];
  const runs = new Map<string, Run[]>(names.map((n) => [n, []]));
  for (let round = 1; round <= rounds; round++) {
    // Every other round runs in reverse order, so a machine that drifts favours neither side.
    for (const name of round % 2 === 1 ? names : [...names].reverse()) {
      const [run] = await measureServers([name]);
      runs.get(name)!.push(run!);
      log(round, name, run!);
    }
  }
  pairs.forEach(([subject, base], i) => Object.assign(results[i]!, { subject: runs.get(subject)!, base: runs.get(base)! }));
} else {
  for (let round = 1; round <= rounds; round++) {
    for (const [i, [subject, base]] of pairs.entries()) {
      let runs: Run[];
      try {
        runs = await measureServers([subject, base]);
      } catch (error) {
        // A round wrk saw errors in (a timeout in a long GC pause, say) measures nothing: it is
        // left out, and the table says how many rounds a ratio stands on.
        console.error(`round ${round} ${subject} (with ${base}): left out, ${String((error as Error).message).split('\n')[0]}`);
        continue;
      }
      const [s, b] = runs;
      results[i]!.subject.push(s!);
      results[i]!.base.push(b!);
      log(round, `${subject} (with ${base}: ${b!.rps.toFixed(0)} req/s)`, s!);
    }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`\n| subject | baseline | median req/s ratio (min–max) | CPU µs/req subject / baseline | target |`);
console.log(`|---|---|---|---|---|`);
for (const [i, [subject, base, target]] of pairs.entries()) {
  const { subject: s, base: b } = results[i]!;
  if (s.length === 0) {
    console.log(`| ${subject} | ${base} | no round without errors | — | ${target === null ? '—' : `≥ ${target}`} |`);
    continue;
  }
  const ratios = s.map((run, i) => run.rps / b[i]!.rps);
  const kept = s.length < rounds ? `, ${s.length} of ${rounds} rounds` : '';
  const cpu = `${median(s.map((r) => r.cpuPerRequest)).toFixed(1)} / ${median(b.map((r) => r.cpuPerRequest)).toFixed(1)}`;
  const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
  console.log(`| ${subject} | ${base} | ${median(ratios).toFixed(2)} (${range}${kept}) | ${cpu} | ${target === null ? '—' : `≥ ${target}`} |`);
}
