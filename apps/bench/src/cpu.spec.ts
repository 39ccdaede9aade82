import { cpuPerOrder, machineBusyMs, processCpuMs } from './cpu';

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
