import { ProductEntity } from './product.entity';
import { Products1763740000000 } from './migrations/1763740000000-products';

/** Every entity and migration of the stock database, in one place for the app and the migrate command. */
export const stockEntities = [ProductEntity];
export const stockMigrations = [Products1763740000000];
