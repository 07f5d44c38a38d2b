#!/usr/bin/env node
// Runs dist/main.js when built, else src/main.ts from source (scripts/source-loader.mjs).
import { runEntry } from '../../../scripts/source-loader.mjs';

await runEntry(import.meta.url);
