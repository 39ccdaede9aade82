import { z } from 'zod';
import { consumerConfigShape, env, serviceConfigShape } from '@tcc/config';

export const orderConfigSchema = z.object({
  ...serviceConfigShape,
  ...consumerConfigShape,
  KAFKA_GROUP_ID: env.string('tcc-order'),
});
export type OrderConfig = z.infer<typeof orderConfigSchema>;
