import { z } from 'zod';

/**
 * The parts of opencode's API (1.18.x) the agent reads. Every object is loose: opencode adds fields
 * between versions and the agent must keep working, so only what we use is checked.
 */

const tokens = z.looseObject({
  input: z.number().default(0),
  output: z.number().default(0),
  reasoning: z.number().default(0),
  cache: z.looseObject({ read: z.number().default(0), write: z.number().default(0) }).prefault({}),
});

export const ocSessionSchema = z.looseObject({
  id: z.string(),
  title: z.string().optional(),
  directory: z.string().optional(),
  parentID: z.string().optional(),
  time: z.looseObject({ created: z.number().optional(), updated: z.number().optional() }).optional(),
});
export type OcSession = z.infer<typeof ocSessionSchema>;

export const ocStatusSchema = z.looseObject({
  type: z.string(),
  attempt: z.number().optional(),
  message: z.string().optional(),
  next: z.number().optional(),
});
export type OcStatus = z.infer<typeof ocStatusSchema>;

export const ocStatusMapSchema = z.record(z.string(), ocStatusSchema);

export const ocMessageInfoSchema = z.looseObject({
  id: z.string(),
  sessionID: z.string(),
  role: z.string(),
  modelID: z.string().optional(),
  providerID: z.string().optional(),
  cost: z.number().optional(),
  tokens: tokens.optional(),
  finish: z.string().optional(),
  error: z.looseObject({ name: z.string().optional() }).optional(),
  time: z.looseObject({ created: z.number().optional(), completed: z.number().optional() }).optional(),
});
export type OcMessageInfo = z.infer<typeof ocMessageInfoSchema>;

export const ocPartSchema = z.looseObject({
  id: z.string(),
  sessionID: z.string(),
  messageID: z.string(),
  type: z.string(),
  text: z.string().optional(),
  synthetic: z.boolean().optional(),
  tool: z.string().optional(),
  callID: z.string().optional(),
  state: z
    .looseObject({
      status: z.string().optional(),
      input: z.unknown().optional(),
      output: z.unknown().optional(),
      error: z.unknown().optional(),
      title: z.string().optional(),
    })
    .optional(),
  time: z.looseObject({ start: z.number().optional(), end: z.number().optional() }).optional(),
});
export type OcPart = z.infer<typeof ocPartSchema>;

export const ocMessageSchema = z.looseObject({ info: ocMessageInfoSchema, parts: z.array(ocPartSchema) });
export type OcMessage = z.infer<typeof ocMessageSchema>;

export const ocPermissionSchema = z.looseObject({
  id: z.string(),
  sessionID: z.string(),
  permission: z.string().optional(),
  /** Older shape (`permission.updated`): `type` and `pattern` instead of `permission` and `patterns`. */
  type: z.string().optional(),
  patterns: z.array(z.string()).optional(),
  pattern: z.union([z.string(), z.array(z.string())]).optional(),
  title: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  tool: z.looseObject({ messageID: z.string().optional(), callID: z.string().optional() }).optional(),
});
export type OcPermission = z.infer<typeof ocPermissionSchema>;

/** One SSE event of `/event`; `/global/event` wraps it as `{directory, payload}`. */
export const ocEventSchema = z.looseObject({
  id: z.string().optional(),
  type: z.string().min(1),
  properties: z.record(z.string(), z.unknown()).default({}),
});
export type OcEvent = z.infer<typeof ocEventSchema>;

export const ocGlobalEventSchema = z.looseObject({
  directory: z.string().optional(),
  payload: ocEventSchema,
});
