// Entry point: the only place that reads process.argv and process.env.
import { runCli } from './cli.ts';

const abort = new AbortController();
process.once('SIGINT', () => abort.abort());

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: abort.signal,
});
