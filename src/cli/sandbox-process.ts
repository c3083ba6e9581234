import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SnowlineError } from '../errors.js';

/** The ready line the sandbox process prints: where both sandboxes listen and how to sign in. */
export interface SandboxReady {
  servicenow: {
    url: string;
    user: string;
    password: string;
    clientId: string;
    clientSecret: string;
    [k: string]: unknown;
  };
  defender: {
    url: string;
    tenantId: string;
    token: string;
    clientId?: string;
    clientSecret?: string;
    subscriptions: string[];
    sensors: Array<{
      name: string;
      url: string;
      token: string;
      site?: string;
      zone?: string;
      purdueLevel?: number;
    }>;
    console: { url: string; token: string };
    [k: string]: unknown;
  };
  caFile: string | null;
  config: string | null;
  /** CIs the sandbox pre-loaded as ServiceNow Discovery's (`--discovered`): Snowline should adopt them. */
  discovered?: Array<{ deviceId: number; sysId: string; name: string }>;
  [k: string]: unknown;
}

/** A running sandbox process. */
export interface SandboxProcess {
  readonly ready: SandboxReady;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Stops the sandboxes (SIGTERM) and waits for the process to exit. */
  stop(): Promise<void>;
}

/**
 * Where the sandbox entry point is. The sandboxes are an independent implementation of the
 * public contracts, so the engine never imports them: it starts them as their own process
 * (which also keeps their memory out of Snowline's in benchmarks).
 */
export function sandboxEntry(): string {
  const entry = fileURLToPath(new URL('../sandbox/main.js', import.meta.url));
  if (!existsSync(entry)) {
    throw new SnowlineError(
      'SANDBOX_MISSING',
      `the sandbox is not built (${entry} is missing); run \`npm run build\``,
    );
  }
  return entry;
}

/**
 * Starts both sandboxes in a child process and resolves once it prints its ready line.
 *
 * @param args sandbox options, e.g. `['--dataset', 'demo']`.
 */
export async function startSandboxProcess(
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<SandboxProcess> {
  const child = spawn(process.execPath, [sandboxEntry(), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<SandboxReady>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(
        new SnowlineError(
          'SANDBOX_START',
          `the sandbox did not become ready within ${(options.timeoutMs ?? 180_000) / 1000} s`,
        ),
      );
    }, options.timeoutMs ?? 180_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as SandboxReady);
      } catch (error) {
        child.kill('SIGTERM');
        reject(
          new SnowlineError(
            'SANDBOX_START',
            `the sandbox printed an unreadable ready line: ${line.slice(0, 200)}`,
            { cause: error },
          ),
        );
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new SnowlineError('SANDBOX_START', `the sandbox exited before it was ready (code ${code ?? signal})`),
      );
    });
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  lines.on('line', () => {});
  return {
    ready,
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
