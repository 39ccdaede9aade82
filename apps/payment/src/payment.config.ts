import { z } from 'zod';
import { consumerConfigShape, env, serviceConfigShape } from '@tcc/config';

export const paymentConfigSchema = z.object({
  ...serviceConfigShape,
  ...consumerConfigShape,
  KAFKA_GROUP_ID: env.string('tcc-payment'),
  /** upper bound of a hold's time to live; the order asks for deadline + confirm window */
  HOLD_MAX_MS: env.int({ min: 1_000, max: 7 * 24 * 3_600_000, fallback: 3_600_000 }),
  /** how often expired holds are looked for and released */
  SWEEP_INTERVAL_MS: env.int({ min: 50, max: 3_600_000, fallback: 1_000 }),
});
export type PaymentConfig = z.infer<typeof paymentConfigSchema>;
