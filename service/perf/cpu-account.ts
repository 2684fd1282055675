// Where the machine's CPU goes during a load run: the target's main thread, its other threads (libuv pool, GC,
// compiler), the database server, and everything else (the load generator, mostly). Read from /proc before and
// after a run, so the split is per answered request. On a 2-core machine the load generator, the service and the
// database share the same cores: a cost moved from one to another still shows here.
import { readFile } from 'node:fs/promises';

const CLOCK_TICKS = 100; // USER_HZ on Linux

async function procTicks(path: string): Promise<number> {
  try {
    const stat = await readFile(path, 'utf8');
    // The fields after the command name (which may contain spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

/** utime + stime of a whole process (all its threads) in seconds; NaN when it is gone. */
export async function processCpuSeconds(pid: number): Promise<number> {
  return (await procTicks(`/proc/${pid}/stat`)) / CLOCK_TICKS;
}

/** Busy ticks of the whole machine (every state but idle and iowait) from /proc/stat. */
async function machineBusyTicks(): Promise<number> {
  const text = await readFile('/proc/stat', 'utf8');
  const cpu = text.split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu as number[];
  return user! + nice! + system! + irq! + softirq! + steal!;
}

export interface CpuSnapshot {
  main: number;
  process: number;
  db: number;
  machine: number;
}

export interface CpuSplit {
  /** µs of CPU per request. */
  main: number;
  otherThreads: number;
  db: number;
  rest: number;
}

export async function cpuSnapshot(pid: number, dbPid: number | undefined): Promise<CpuSnapshot> {
  const [main, proc, db, machine] = await Promise.all([
    procTicks(`/proc/${pid}/task/${pid}/stat`),
    procTicks(`/proc/${pid}/stat`),
    dbPid === undefined ? Promise.resolve(0) : procTicks(`/proc/${dbPid}/stat`),
    machineBusyTicks(),
  ]);
  return { main, process: proc, db, machine };
}

/** The CPU between two snapshots, in µs per request. */
export function cpuPerRequest(before: CpuSnapshot, after: CpuSnapshot, requests: number): CpuSplit {
  const us = (ticks: number) => (ticks / CLOCK_TICKS / Math.max(requests, 1)) * 1e6;
  const main = after.main - before.main;
  const proc = after.process - before.process;
  const db = after.db - before.db;
  const machine = after.machine - before.machine;
  return { main: us(main), otherThreads: us(proc - main), db: us(db), rest: us(machine - proc - db) };
}

export function formatCpuSplit(s: CpuSplit): string {
  const total = s.main + s.otherThreads + s.db + s.rest;
  return (
    `cpu µs/request: main thread ${s.main.toFixed(1)}, other threads ${s.otherThreads.toFixed(1)}, ` +
    `database ${s.db.toFixed(1)}, rest (load generator, kernel, others) ${s.rest.toFixed(1)}, machine ${total.toFixed(1)}`
  );
}
