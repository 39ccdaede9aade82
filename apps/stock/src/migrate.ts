import 'reflect-metadata';
import { runMigrations } from '@tcc/service';
import { stockEntities, stockMigrations } from './persistence/schema';

void runMigrations({ service: 'stock', entities: stockEntities, migrations: stockMigrations });
