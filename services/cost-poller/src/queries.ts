import { type NatsConnection, type Server, serve } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { CostQuery, costQuerySchemas, QueueGroup, subjects } from '@hal/protocol';
import type { Budgets } from './budgets.ts';
import type { buildReport } from './report.ts';

export interface CostQueriesDeps {
  nc: NatsConnection;
  log: Logger;
  report: (req: Parameters<typeof buildReport>[0]) => ReturnType<typeof buildReport>;
  budgets: Budgets;
}

/** Answers `hal.q.cost.report` and `hal.q.cost.budgets` in the `hal-cost` queue group. */
export function createCostQueries(deps: CostQueriesDeps): { start(): Promise<void>; stop(): Promise<void> } {
  let servers: Server[] = [];
  return {
    async start() {
      servers = [
        serve(deps.nc, {
          subject: subjects.costQuery(CostQuery.REPORT),
          queue: QueueGroup.COST,
          schema: costQuerySchemas.report.request,
          log: deps.log,
          handler: async (req) => deps.report(req),
        }),
        serve(deps.nc, {
          subject: subjects.costQuery(CostQuery.BUDGETS),
          queue: QueueGroup.COST,
          schema: costQuerySchemas.budgets.request,
          log: deps.log,
          handler: async () => ({ budgets: deps.budgets.views() }),
        }),
      ];
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      servers = [];
    },
  };
}
