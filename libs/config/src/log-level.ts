import { z } from 'zod';
import { notPlaceholder } from './placeholder.ts';

/** pino's levels; `silent` turns logging off (tests). */
export const LogLevel = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
  FATAL: 'fatal',
  SILENT: 'silent',
} as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

export const logLevelSchema = z.enum(Object.values(LogLevel) as [LogLevel, ...LogLevel[]]).default('info');

/** A secret: a non-empty string, not an example's placeholder; where the minimum length matters the caller adds it. */
export const secretSchema = notPlaceholder(z.string()).min(1);
