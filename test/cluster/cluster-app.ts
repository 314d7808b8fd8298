// The fault suite's app (test/fault/app-with-faults.ts: the real startApp, the effect
// ledger, fault metrics) with the example processors on quorum queues, for the cluster
// suite. The queue type is set on the exported definitions before the app copies them
// (TROUPE_CLUSTER_QUEUE_TYPE, `quorum` by default), as the fault app sets its handler
// hang. Test code only.
//
//   TROUPE_AMQP_URL=amqp://…:5691,amqp://…:5692 node --import tsx test/cluster/cluster-app.ts
import { companyInvalidated } from '@troupe/processor-company-invalidated';
import { companySync } from '@troupe/processor-company-sync';
import { companyUpdated } from '@troupe/processor-company-updated';

const queueType = process.env['TROUPE_CLUSTER_QUEUE_TYPE'] === 'classic' ? 'classic' : 'quorum';
for (const definition of [companyUpdated, companyInvalidated, companySync]) {
  Object.assign(definition, { queueType });
}
await import('../fault/app-with-faults.js');
