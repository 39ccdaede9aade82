import { migratedTestDatabase } from '@tcc/testing';
import { stockEntities, stockMigrations } from './schema';

describe('stock entities (real PostgreSQL)', () => {
  it('map the migrated schema: TypeORM would change no table or column of theirs', async () => {
    const database = await migratedTestDatabase('stock_schema', stockEntities, stockMigrations);
    try {
      const changes = (await database.db.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
      // the migrations own constraints and indexes; the entities declare none of them
      expect(changes.filter((q) => !/^(ALTER TABLE "\w+" )?DROP (CONSTRAINT|INDEX) /.test(q))).toEqual([]);
    } finally {
      await database.drop();
    }
  });
});
