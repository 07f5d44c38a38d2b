import assert from 'node:assert/strict';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DatabaseUnreadableError, dbReadinessCheck, openDatabase, removeDatabaseFiles } from '@hal/db';
import { eq } from 'drizzle-orm';
import * as schema from './fixtures/schema.ts';

const migrationsFolder = fileURLToPath(new URL('./fixtures/drizzle', import.meta.url));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hal-db-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('db - open creates parent folders, applies migrations and sets pragmas', (t) => {
  const file = join(tempDir(t), 'nested', 'deeper', 'tracker.sqlite');
  const database = openDatabase({ file, migrationsFolder, schema });
  t.after(() => database.close());
  assert.equal(existsSync(file), true);
  assert.equal(database.sqlite.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(database.sqlite.pragma('busy_timeout', { simple: true }), 5000);
  assert.equal(database.sqlite.pragma('synchronous', { simple: true }), 1); // NORMAL
  assert.equal(database.sqlite.pragma('foreign_keys', { simple: true }), 1);
  const tables = database.sqlite
    .prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name")
    .all()
    .map((r) => (r as { name: string }).name);
  assert.deepEqual(tables, ['__drizzle_migrations', 'nodes', 'sessions']);
});

test('db - migrations run once and reopening keeps data', (t) => {
  const file = join(tempDir(t), 'tracker.sqlite');
  const first = openDatabase({ file, migrationsFolder, schema });
  first.db.insert(schema.nodes).values({ id: 'n1', status: 'online', lastSeen: 1 }).run();
  first.close();
  first.close(); // a second close is harmless

  const second = openDatabase({ file, migrationsFolder, schema });
  t.after(() => second.close());
  const applied = second.sqlite.prepare('select count(*) as n from __drizzle_migrations').get() as {
    n: number;
  };
  assert.equal(applied.n, 1);
  const node = second.db.query.nodes.findFirst({ where: eq(schema.nodes.id, 'n1') }).sync();
  assert.deepEqual(node, { id: 'n1', status: 'online', lastSeen: 1 });
});

test('db - the database and its WAL and shared-memory files are readable by their owner only, whatever the umask', (t) => {
  const dir = tempDir(t);
  const mode = (f: string) => (statSync(f).mode & 0o777).toString(8);
  const previous = process.umask(0o022);
  t.after(() => process.umask(previous));
  const file = join(dir, 'fresh', 'tracker.sqlite');
  const fresh = openDatabase({ file, migrationsFolder, schema });
  fresh.db.insert(schema.nodes).values({ id: 'n1', status: 'online', lastSeen: 1 }).run();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(mode(f), '600', f);
  assert.equal(mode(join(dir, 'fresh')), '700');
  fresh.close();

  // A file left world-readable by an older version is tightened when it is opened.
  const old = join(dir, 'old.sqlite');
  openDatabase({ file: old, migrationsFolder, schema }).close();
  chmodSync(old, 0o644);
  const reopened = openDatabase({ file: old, migrationsFolder, schema });
  t.after(() => reopened.close());
  reopened.db.insert(schema.nodes).values({ id: 'n2', status: 'online', lastSeen: 1 }).run();
  for (const f of [old, `${old}-wal`]) assert.equal(mode(f), '600', f);
});

test('db - foreign keys are enforced', (t) => {
  const database = openDatabase({ file: join(tempDir(t), 'fk.sqlite'), migrationsFolder, schema });
  t.after(() => database.close());
  assert.throws(
    () => database.db.insert(schema.sessions).values({ id: 's1', nodeId: 'missing', state: 'idle' }).run(),
    { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' },
  );
});

test('db - a file that is not a database throws DatabaseUnreadableError', (t) => {
  const file = join(tempDir(t), 'garbage.sqlite');
  writeFileSync(file, 'this is certainly not an sqlite file, just some text '.repeat(200));
  assert.throws(
    () => openDatabase({ file, migrationsFolder }),
    (err: unknown) => {
      assert.ok(err instanceof DatabaseUnreadableError);
      assert.equal(err.code, 'UNAVAILABLE');
      assert.equal(err.sqliteCode, 'SQLITE_NOTADB');
      assert.equal(err.file, file);
      assert.equal(err.message, `database file ${file} is unreadable (SQLITE_NOTADB)`);
      return true;
    },
  );
  // The service's way out: remove the files and rebuild from the stream.
  removeDatabaseFiles(file);
  const rebuilt = openDatabase({ file, migrationsFolder });
  t.after(() => rebuilt.close());
  assert.equal(rebuilt.sqlite.pragma('journal_mode', { simple: true }), 'wal');
});

test('db - a database whose schema page is damaged throws DatabaseUnreadableError (SQLITE_CORRUPT)', (t) => {
  const file = join(tempDir(t), 'damaged.sqlite');
  const database = openDatabase({ file, migrationsFolder });
  // Move everything from the WAL into the main file so the damage below hits real content.
  database.sqlite.pragma('wal_checkpoint(TRUNCATE)');
  database.close();
  // Keep the 100-byte file header (so it still looks like SQLite) and overwrite the schema page.
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(2000, 0xab), 0, 2000, 100);
  closeSync(fd);
  assert.throws(
    () => openDatabase({ file, migrationsFolder }),
    (err: unknown) => {
      assert.ok(err instanceof DatabaseUnreadableError);
      assert.equal(err.sqliteCode, 'SQLITE_CORRUPT');
      assert.equal(err.message, `database file ${file} is unreadable (SQLITE_CORRUPT)`);
      return true;
    },
  );
});

test('db - a missing migrations folder is an ordinary error, not unreadable', (t) => {
  const dir = tempDir(t);
  assert.throws(
    () => openDatabase({ file: join(dir, 'x.sqlite'), migrationsFolder: join(dir, 'nope') }),
    (err: unknown) => !(err instanceof DatabaseUnreadableError) && err instanceof Error,
  );
});

test('db - readiness check passes while open and fails once closed', (t) => {
  const database = openDatabase({ file: join(tempDir(t), 'ready.sqlite'), migrationsFolder });
  const check = dbReadinessCheck(database);
  assert.deepEqual(check(), { ok: true });
  database.close();
  assert.deepEqual(check(), { ok: false, detail: 'database is closed' });
});
