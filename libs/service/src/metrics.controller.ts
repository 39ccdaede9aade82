import { Controller, Get, Header, Module } from '@nestjs/common';
import { metricsRegistry } from '@tcc/observability';

/** GET /metrics in Prometheus' text format: this service's counters, gauges, histograms and process metrics. */
@Controller('metrics')
export class MetricsController {
  @Get()
  @Header('Content-Type', metricsRegistry.contentType)
  metrics(): Promise<string> {
    return metricsRegistry.metrics();
  }
}

@Module({ controllers: [MetricsController] })
export class MetricsModule {}
