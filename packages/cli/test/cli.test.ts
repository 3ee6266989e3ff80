import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it, vi } from 'vitest';
import { startServer } from '@taskpulse/server';
import { main } from '../src/main.ts';
import { eventually } from '../../../test-support/eventually.ts';

const BIN = resolve(import.meta.dirname, '../bin/taskpulse.mjs');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'taskpulse-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the CLI in this process and returns what it printed. Spawning a tsx process per command
 * cost seconds each on a loaded machine (the test timed out at 30 s in CI); the bin itself is
 * exercised by the spawning tests below.
 */
async function cli(args: string[]): Promise<string> {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const exitCode = process.exitCode;
  try {
    await main(args);
    if (process.exitCode) throw new Error(`taskpulse ${args.join(' ')} failed: ${out.join('\n')}`);
    return out.join('\n');
  } finally {
    process.exitCode = exitCode;
    log.mockRestore();
    error.mockRestore();
  }
}

it('creates, lists and revokes keys in the database file, and the server honours them', async () => {
  const db = join(dir, 'keys.db');
  const created = JSON.parse(await cli(['keys', 'create', '--role', 'worker', '--name', 'ci', '--json', '--db', db]));
  expect(created).toMatchObject({ role: 'worker', name: 'ci' });
  expect(created.key).toMatch(/^tpk_/);
  expect(created.scopes).toEqual(['tasks:write', 'tasks:claim', 'tokens:mint', 'read']);
  const narrow = JSON.parse(await cli(['keys', 'create', '--name', 'queue', '--scopes', 'tasks:claim,read', '--json', '--db', db]));
  expect(narrow.scopes).toEqual(['tasks:claim', 'read']);
  await expect(cli(['keys', 'create', '--scopes', 'root', '--db', db])).rejects.toThrow(/--scopes must be a comma list/);
  const listed = JSON.parse(await cli(['keys', 'list', '--json', '--db', db]));
  expect(listed).toEqual([
    expect.objectContaining({ id: created.id, role: 'worker', revokedAt: null }),
    expect.objectContaining({ id: narrow.id, scopes: ['tasks:claim', 'read'] }),
  ]);

  const s = await startServer({ port: 0, db, logLevel: 'silent' });
  try {
    const ok = await fetch(`${s.url}/v1/tasks`, { method: 'POST', headers: { authorization: `Bearer ${created.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'x', owner: 'o' }) });
    expect(ok.status).toBe(201);
  } finally {
    await s.close();
  }
  expect(await cli(['keys', 'revoke', created.id, '--db', db])).toContain(`revoked ${created.id}`);
  const after = JSON.parse(await cli(['keys', 'list', '--json', '--db', db]));
  expect(after.find((k: any) => k.id === created.id).revokedAt).toBeTruthy();
});

it('rejects bad options with a clear message and a non-zero exit', async () => {
  const r = await run(process.execPath, [BIN, 'serve', '--port', 'abc'], { env: { ...process.env, TASKPULSE_PORT: '' } }).catch((e) => e);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('--port must be a whole number');
});

it('watch draws a live bar and exits 0 when the task completes', async () => {
  const admin = 'cli_admin_key_0123456789';
  const s = await startServer({ port: 0, db: join(dir, 'watch.db'), adminKey: admin, logLevel: 'silent' });
  try {
    const call = (path: string, body: unknown) =>
      fetch(s.url + path, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as Promise<any>);
    const { task, lease } = await call('/v1/tasks', { type: 'w', owner: 'o', start: true });
    const child = spawn(process.execPath, [BIN, 'watch', task.id, '--url', s.url, '--key', admin], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const seen = new Promise<void>((res) => child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('running')) res();
    }));
    await seen;
    await call(`/v1/tasks/${task.id}/progress`, { lease: lease.token, done: 1, total: 2, message: 'half way' });
    await eventually('the half-way report drawn', () => out.includes('half way'));
    await call(`/v1/tasks/${task.id}/complete`, { lease: lease.token });
    const code = await new Promise((res) => child.once('exit', res));
    expect(code).toBe(0);
    expect(out).toContain('50.0%');
    expect(out).toContain('completed');
  } finally {
    await s.close();
  }
});

it('dashboard prints a URL whose fragment holds a staff token the server accepts', async () => {
  const db = join(dir, 'dash.db');
  const s = await startServer({ port: 0, db, logLevel: 'silent' });
  try {
    // Without an admin key the token is signed with the secret stored in the database file.
    const out = (await run(process.execPath, [BIN, 'dashboard', '--db', db, '--url', s.url], { env: { ...process.env, TASKPULSE_ADMIN_KEY: '', TASKPULSE_SECRET: '' } })).stdout.trim();
    expect(out.startsWith(`${s.url}/#token=`)).toBe(true);
    const token = decodeURIComponent(out.split('#token=')[1]!);
    const list = await fetch(`${s.url}/v1/tasks`, { headers: { authorization: `Bearer ${token}` } });
    expect(list.status).toBe(200);
    const keys = await fetch(`${s.url}/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
    expect(keys.status).toBe(403);
  } finally {
    await s.close();
  }
});

it('serve answers / and client-side routes with the dashboard', async () => {
  const pages = join(dir, 'dash-pages');
  mkdirSync(pages, { recursive: true });
  writeFileSync(join(pages, 'index.html'), '<!doctype html><title>TaskPulse dashboard</title>');
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--db', join(dir, 'serve.db'), '--log-level', 'silent'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TASKPULSE_DASHBOARD_DIR: pages },
  });
  try {
    const url = await new Promise<string>((res, rej) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (\S+)/.exec(out);
        if (m) res(m[1]!);
      });
      child.once('exit', (code) => rej(new Error(`serve exited ${code}`)));
    });
    for (const p of ['/', '/tasks/tsk_123']) {
      const r = await fetch(url + p);
      expect(r.headers.get('content-type'), p).toContain('text/html');
      expect(await r.text()).toContain('TaskPulse dashboard');
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
  }
});
