import 'reflect-metadata';
import { runMigrations } from '@tcc/service';
import { paymentEntities, paymentMigrations } from './persistence/schema';

void runMigrations({ service: 'payment', entities: paymentEntities, migrations: paymentMigrations });
