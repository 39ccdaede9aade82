import { z } from 'zod';
import { consumerConfigShape, env, serviceConfigShape } from '@tcc/config';

export const paymentConfigSchema = z.object({
  ...serviceConfigShape,
  ...consumerConfigShape,
  KAFKA_GROUP_ID: env.string('tcc-payment'),
});
export type PaymentConfig = z.infer<typeof paymentConfigSchema>;
