import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** A throwaway PostgreSQL cluster on loopback, for tests and benchmarks. */
export interface ThrowawayPostgres {
  /** Superuser URL of the cluster's `postgres` database. */
  readonly url: string;
  /** Stops the server and removes its data folder. */
  stop(): void;
}

/**
 * Where a PostgreSQL server binary is: on PATH, or in Debian's versioned folder
 * (`/usr/lib/postgresql/<major>/bin`), which the `postgresql` package does not put on PATH.
 */
function which(binary: string): string | null {
  const found = spawnSync(
    'sh',
    [
      '-c',
      `command -v ${binary} || ls -1d /usr/lib/postgresql/*/bin/${binary} 2>/dev/null | sort -V | tail -n 1`,
    ],
    {
      encoding: 'utf8',
    },
  );
  const path = found.stdout.trim().split('\n')[0] ?? '';
  return path === '' ? null : path;
}

/** True when `initdb` and `pg_ctl` can be found. */
export function postgresAvailable(): boolean {
  return which('initdb') !== null && which('pg_ctl') !== null;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a PostgreSQL cluster in a temporary folder on a free loopback port. initdb refuses to
 * run as root, so when we are root the cluster belongs to the `postgres` system user and the
 * binaries run through `runuser`. Durability is switched off: the cluster lives for one test run.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const asRoot = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'snowline-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    const pwd = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    chownSync(dir, Number(pwd), Number(gid));
    chmodSync(dir, 0o700);
  }
  const run = (name: string, args: string[]) => {
    const binary = which(name) ?? name;
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
    const result = spawnSync(cmd, argv, { encoding: 'utf8', cwd: dir });
    if (result.status !== 0) {
      throw new Error(
        `${binary} ${args.join(' ')} failed (exit ${result.status}): ${result.stderr || result.stdout}`,
      );
    }
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freeLoopbackPort();
  const serverOptions = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-k ${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
  ].join(' ');
  run('pg_ctl', ['-D', data, '-o', serverOptions, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
