#!/usr/bin/env node
// Bundles test files for scripts/run-tests.mjs (testkit's compileTestFiles, which owns esbuild).
// Started as `node --conditions=hal-source --import tsx compile-tests.mjs <outdir> <file>...`.
import { compileTestFiles } from '@hal/testkit';

const [outdir, ...files] = process.argv.slice(2);
await compileTestFiles(files, outdir);
