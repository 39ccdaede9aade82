import { z } from 'zod';
import { consumerConfigShape, env, serviceConfigShape } from '@tcc/config';

export const stockConfigSchema = z.object({
  ...serviceConfigShape,
  ...consumerConfigShape,
  KAFKA_GROUP_ID: env.string('tcc-stock'),
});
export type StockConfig = z.infer<typeof stockConfigSchema>;
