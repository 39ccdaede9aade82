import {
  cpuPerOrder,
  instanceNames,
  instanceUrls,
  machineBusyMs,
  perService,
  processCpuMs,
  stepCpu,
} from './cpu';

describe('CPU accounting', () => {
  it('reads the machine busy time from /proc/stat (user, nice, system, irq, softirq, steal)', () => {
    const stat = 'cpu  100 5 50 9000 40 3 2 10 0 0\ncpu0 50 2 25 4500 20 1 1 5 0 0\n';
    expect(machineBusyMs(stat)).toBe((100 + 5 + 50 + 3 + 2 + 10) * 10);
    expect(machineBusyMs('intr 1 2 3\n')).toBeUndefined();
  });

  it('reads process_cpu_seconds_total from a metrics page', () => {
    const page = [
      '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
      'process_cpu_user_seconds_total{service="order"} 1.5',
      'process_cpu_seconds_total{service="order"} 2.25',
    ].join('\n');
    expect(processCpuMs(page)).toBe(2250);
    expect(processCpuMs('')).toBeUndefined();
  });

  it('splits CPU per order into the services, the generator and the rest of the machine', () => {
    const before = { order: 1_000, stock: 500, 'load generator': 100, machine: 10_000 };
    const after = { order: 3_000, stock: 1_500, 'load generator': 300, machine: 16_000 };
    expect(cpuPerOrder(before, after, 100)).toEqual({
      order: 20,
      stock: 10,
      'load generator': 2,
      'Kafka, PostgreSQL, rest': 28,
      machine: 60,
    });
    expect(cpuPerOrder(before, after, 0)).toEqual({});
  });
});

describe('CPU of services that run several instances', () => {
  const one = {
    order: ['http://127.0.0.1:9464/metrics'],
    stock: ['http://127.0.0.1:9465/metrics'],
  };
  const two = {
    order: ['http://10.0.0.5:9464/metrics', 'http://10.0.0.6:9464/metrics'],
    stock: ['http://127.0.0.1:9465/metrics'],
  };

  it('names one instance by its service, several by service and host:port', () => {
    expect(instanceNames('order', one.order)).toEqual(['order']);
    expect(instanceNames('order', two.order)).toEqual(['order 10.0.0.5:9464', 'order 10.0.0.6:9464']);
    expect(instanceUrls(two)).toEqual([
      ['order 10.0.0.5:9464', 'http://10.0.0.5:9464/metrics'],
      ['order 10.0.0.6:9464', 'http://10.0.0.6:9464/metrics'],
      ['stock', 'http://127.0.0.1:9465/metrics'],
    ]);
  });

  it('with one instance each, reads exactly as before: per service, in the same order', () => {
    const before = { order: 1_000, stock: 500, 'load generator': 100, machine: 10_000 };
    const after = { order: 3_000, stock: 1_500, 'load generator': 300, machine: 16_000 };
    expect(perService(before, one)).toEqual(before);
    const cpu = stepCpu(before, after, 100, one);
    expect(cpu).toEqual({ cpuMsPerOrder: cpuPerOrder(before, after, 100) });
    expect(Object.keys(cpu.cpuMsPerOrder)).toEqual(Object.keys(cpuPerOrder(before, after, 100)));
  });

  it("sums a service's instances, and shows each instance's share of the step's orders", () => {
    const before = {
      'order 10.0.0.5:9464': 1_000,
      'order 10.0.0.6:9464': 2_000,
      stock: 500,
      'load generator': 100,
      machine: 10_000,
    };
    const after = {
      'order 10.0.0.5:9464': 2_500,
      'order 10.0.0.6:9464': 3_333,
      stock: 1_500,
      'load generator': 300,
      machine: 16_000,
    };
    expect(stepCpu(before, after, 100, two)).toEqual({
      cpuMsPerOrder: {
        order: 28.33,
        stock: 10,
        'load generator': 2,
        'Kafka, PostgreSQL, rest': 19.67,
        machine: 60,
      },
      cpuMsPerOrderByInstance: { 'order 10.0.0.5:9464': 15, 'order 10.0.0.6:9464': 13.33, stock: 10 },
    });
  });

  it('leaves out a service with an instance not read, rather than understate it', () => {
    const snapshot = { 'order 10.0.0.5:9464': 1_000, stock: 500, 'load generator': 100, machine: 10_000 };
    expect(perService(snapshot, two)).toEqual({ stock: 500, 'load generator': 100, machine: 10_000 });
    const after = { ...snapshot, 'order 10.0.0.5:9464': 2_000, 'order 10.0.0.6:9464': 9_000 };
    expect(stepCpu(snapshot, after, 100, two)).toMatchObject({
      cpuMsPerOrder: { stock: 0, 'load generator': 0 },
      cpuMsPerOrderByInstance: { 'order 10.0.0.5:9464': 10, stock: 0 },
    });
    expect(stepCpu(snapshot, after, 100, two).cpuMsPerOrder).not.toHaveProperty('order');
  });
});
