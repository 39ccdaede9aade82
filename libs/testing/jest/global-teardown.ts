import type { StartedInfrastructure } from '../src/infrastructure';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __TCC_INFRA__?: StartedInfrastructure }).__TCC_INFRA__?.stop();
}
