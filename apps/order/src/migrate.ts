import 'reflect-metadata';
import { runMigrations } from '@tcc/service';
import { orderMigrations } from './persistence/schema';

void runMigrations({ service: 'order', entities: [], migrations: orderMigrations });
