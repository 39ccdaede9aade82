import 'reflect-metadata';
import { runMigrations } from '@tcc/service';
import { orderEntities, orderMigrations } from './persistence/schema';

void runMigrations({ service: 'order', entities: orderEntities, migrations: orderMigrations });
