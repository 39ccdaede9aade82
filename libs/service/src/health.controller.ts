import { Controller, Get, Injectable, Module } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TerminusModule,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import type { HealthCheckResult, HealthIndicatorResult } from '@nestjs/terminus';
import { KafkaConnections } from '@tcc/kafka';
import { Public } from './http/auth/access';

@Injectable()
export class KafkaHealthIndicator {
  constructor(
    private readonly kafka: KafkaConnections,
    private readonly indicators: HealthIndicatorService,
  ) {}

  async check(key: 'kafka'): Promise<HealthIndicatorResult<'kafka'>> {
    const indicator = this.indicators.check(key);
    try {
      return indicator.up(await this.kafka.ping());
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }
}

/** GET /health: 200 when the database and Kafka both answer, 503 with the failing part named otherwise. */
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly kafka: KafkaHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.database.pingCheck('database', { timeout: 2_000 }),
      () => this.kafka.check('kafka'),
    ]);
  }
}

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [KafkaHealthIndicator],
})
export class HealthModule {}
