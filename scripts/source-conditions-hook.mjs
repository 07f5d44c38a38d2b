// Module resolve hook (see source-loader.mjs): adds the `hal-source` export condition.
/** @public the module hook Node calls */
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, 'hal-source'] });
}
