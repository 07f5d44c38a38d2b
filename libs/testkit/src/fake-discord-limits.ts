// The size limits Discord enforces on what a bot sends (API reference: "Create Message",
// "Embed Limits", "Message Components"). The fake refuses a payload past any of them with the
// 400 that Discord answers — code 50035 "Invalid Form Body" and an `errors` tree naming the
// field — so a bot that would be refused in production is refused in tests too.

export const DISCORD_LIMITS = {
  content: 2000,
  embeds: 10,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  /** Sum of every title, description, field name and value, footer text and author name. */
  embedTotal: 6000,
  actionRows: 5,
  componentsPerRow: 5,
  customId: 100,
  buttonLabel: 80,
  nonce: 25,
  threadName: 100,
  autocompleteChoices: 25,
  choiceName: 100,
} as const;

export interface FormError {
  /** Dotted path in the JSON body, like `embeds.0.description`. */
  path: string;
  code: string;
  message: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const len = (v: unknown): number => (typeof v === 'string' ? [...v].length : 0);

function tooLong(out: FormError[], path: string, value: unknown, max: number): void {
  if (typeof value === 'string' && len(value) > max) {
    out.push({
      path,
      code: 'BASE_TYPE_MAX_LENGTH',
      message: `Must be ${max} or fewer in length.`,
    });
  }
}

function checkEmbed(out: FormError[], path: string, e: unknown): number {
  if (!isObj(e)) {
    out.push({ path, code: 'MODEL_TYPE_CONVERT', message: 'Only dictionaries may be used in a ModelType' });
    return 0;
  }
  let total = 0;
  const text = (p: string, v: unknown, max: number) => {
    tooLong(out, `${path}.${p}`, v, max);
    total += len(v);
  };
  text('title', e.title, DISCORD_LIMITS.embedTitle);
  text('description', e.description, DISCORD_LIMITS.embedDescription);
  if (isObj(e.footer)) text('footer.text', e.footer.text, DISCORD_LIMITS.footerText);
  if (isObj(e.author)) text('author.name', e.author.name, DISCORD_LIMITS.authorName);
  if (e.fields !== undefined) {
    if (!Array.isArray(e.fields)) {
      out.push({ path: `${path}.fields`, code: 'BASE_TYPE_LIST', message: 'Must be a list.' });
    } else {
      if (e.fields.length > DISCORD_LIMITS.embedFields) {
        out.push({
          path: `${path}.fields`,
          code: 'BASE_TYPE_MAX_LENGTH',
          message: `Must be ${DISCORD_LIMITS.embedFields} or fewer in length.`,
        });
      }
      e.fields.forEach((f, i) => {
        if (!isObj(f)) return;
        if (len(f.name) === 0 || len(f.value) === 0) {
          out.push({
            path: `${path}.fields.${i}`,
            code: 'BASE_TYPE_REQUIRED',
            message: 'This field is required',
          });
        }
        text(`fields.${i}.name`, f.name, DISCORD_LIMITS.fieldName);
        text(`fields.${i}.value`, f.value, DISCORD_LIMITS.fieldValue);
      });
    }
  }
  return total;
}

function checkComponents(out: FormError[], components: unknown): void {
  if (components === undefined) return;
  if (!Array.isArray(components)) {
    out.push({ path: 'components', code: 'BASE_TYPE_LIST', message: 'Must be a list.' });
    return;
  }
  if (components.length > DISCORD_LIMITS.actionRows) {
    out.push({
      path: 'components',
      code: 'BASE_TYPE_MAX_LENGTH',
      message: `Must be ${DISCORD_LIMITS.actionRows} or fewer in length.`,
    });
  }
  const ids = new Set<string>();
  components.forEach((row, r) => {
    if (!isObj(row) || row.type !== 1 || !Array.isArray(row.components)) {
      out.push({
        path: `components.${r}`,
        code: 'UNION_TYPE_CHOICES',
        message: 'Value of field "type" must be one of (1,).',
      });
      return;
    }
    if (row.components.length === 0 || row.components.length > DISCORD_LIMITS.componentsPerRow) {
      out.push({
        path: `components.${r}.components`,
        code: 'BASE_TYPE_BAD_LENGTH',
        message: `Must be between 1 and ${DISCORD_LIMITS.componentsPerRow} in length.`,
      });
    }
    row.components.forEach((c, i) => {
      const p = `components.${r}.components.${i}`;
      if (!isObj(c)) return;
      tooLong(out, `${p}.label`, c.label, DISCORD_LIMITS.buttonLabel);
      // Link buttons (style 5) carry a url instead of a custom_id; every other one needs an id.
      if (c.style !== 5) {
        if (typeof c.custom_id !== 'string' || c.custom_id.length === 0) {
          out.push({ path: `${p}.custom_id`, code: 'BASE_TYPE_REQUIRED', message: 'This field is required' });
        } else {
          tooLong(out, `${p}.custom_id`, c.custom_id, DISCORD_LIMITS.customId);
          if (ids.has(c.custom_id)) {
            out.push({
              path: `${p}.custom_id`,
              code: 'COMPONENT_CUSTOM_ID_DUPLICATED',
              message: 'Component custom id cannot be duplicated',
            });
          }
          ids.add(c.custom_id);
        }
      }
    });
  });
}

/** Problems with a message body (create, edit, interaction reply, webhook edit or follow-up). */
export function messageProblems(body: unknown): FormError[] {
  const out: FormError[] = [];
  if (!isObj(body)) return [{ path: '', code: 'MODEL_TYPE_CONVERT', message: 'Body must be an object' }];
  tooLong(out, 'content', body.content, DISCORD_LIMITS.content);
  if (body.embeds !== undefined && body.embeds !== null) {
    if (!Array.isArray(body.embeds)) {
      out.push({ path: 'embeds', code: 'BASE_TYPE_LIST', message: 'Must be a list.' });
    } else {
      if (body.embeds.length > DISCORD_LIMITS.embeds) {
        out.push({
          path: 'embeds',
          code: 'BASE_TYPE_MAX_LENGTH',
          message: `Must be ${DISCORD_LIMITS.embeds} or fewer in length.`,
        });
      }
      let total = 0;
      body.embeds.forEach((e, i) => {
        total += checkEmbed(out, `embeds.${i}`, e);
      });
      if (total > DISCORD_LIMITS.embedTotal) {
        out.push({
          path: 'embeds',
          code: 'MAX_EMBED_SIZE_EXCEEDED',
          message: `Embed size exceeds maximum size of ${DISCORD_LIMITS.embedTotal}`,
        });
      }
    }
  }
  if (body.components !== null) checkComponents(out, body.components);
  if (body.nonce !== undefined) {
    const n = body.nonce;
    if (typeof n === 'string' ? n.length > DISCORD_LIMITS.nonce : typeof n !== 'number') {
      out.push({
        path: 'nonce',
        code: 'BASE_TYPE_MAX_LENGTH',
        message: `Must be ${DISCORD_LIMITS.nonce} or fewer in length.`,
      });
    }
  }
  return out;
}

/** Discord's 400 body for form errors: `{code: 50035, errors: {a: {b: {_errors: [...]}}}}`. */
export function invalidFormBody(problems: readonly FormError[]): Obj {
  const errors: Obj = {};
  for (const p of problems) {
    let node = errors;
    for (const part of p.path.split('.').filter((s) => s !== '')) {
      if (!isObj(node[part])) node[part] = {};
      node = node[part] as Obj;
    }
    const list = Array.isArray(node._errors) ? (node._errors as unknown[]) : [];
    list.push({ code: p.code, message: p.message });
    node._errors = list;
  }
  return { message: 'Invalid Form Body', code: 50035, errors };
}
