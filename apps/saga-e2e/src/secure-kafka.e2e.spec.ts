import { randomBytes, randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import type { Kafka } from 'kafkajs';
import { Topics } from '@tcc/contracts';
import { ServiceProcess, freePort, testAuthEnv, waitFor } from '@tcc/testing';
import { SecureKafka, kafkaErrorType } from './support/secure-kafka';
import type { SecureUser } from './support/secure-kafka';
import { SERVICES, Stack } from './support/stack';

/**
 * The saga on a secured broker (infra/local/kafka.sh start --secure): TLS, every service with its
 * own SCRAM-SHA-512 user, and ACLs that give each one only the topics it reads and writes.
 */
describe('the saga on a secured Kafka: SASL_SSL, SCRAM-SHA-512, least-privilege ACLs', () => {
  const prefix = `e2e-secure-${randomBytes(3).toString('hex')}.`;
  let kafka: SecureKafka;
  let stack: Stack;
  const credentials = {} as Record<SecureUser, Record<string, string>>;
  const opened: { disconnect: () => Promise<void> }[] = [];

  beforeAll(async () => {
    kafka = await SecureKafka.start(prefix);
    for (const user of ['admin', ...SERVICES] as const) credentials[user] = await kafka.credentials(user);
    stack = await Stack.start('secure', {
      prefix,
      brokers: kafka.brokers,
      env: { order: credentials.order, stock: credentials.stock, payment: credentials.payment },
    });
  });

  afterAll(async () => {
    await Promise.all(opened.map((c) => c.disconnect().catch(() => undefined)));
    await stack?.stop();
    await kafka?.stop();
  });

  /** Connects a producer of this client (remembered, so it is closed at the end). */
  async function producerOf(client: Kafka) {
    const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    opened.push(producer);
    await producer.connect();
    return producer;
  }

  it('places an order that gets CONFIRMED, each service connected as itself', async () => {
    const product = await stack.createProduct(3, 700);
    const customer = await stack.openWallet(5_000);
    const order = { customerId: customer, lines: [{ productId: product, quantity: 2 }] };
    // a service just started may still refuse with 503 (busy): the same key again is safe
    const key = randomUUID();
    const placed = await waitFor(
      async () => {
        const res = await stack.placeOrder(order, key);
        return res.status === 503 ? undefined : res;
      },
      { description: 'POST /orders to be admitted' },
    );
    expect(placed.status).toBe(202);
    const done = await stack.finalOrder(placed.body.id);
    expect(done).toMatchObject({ status: 'CONFIRMED', total: 1_400 });
    expect(await stack.product(product)).toMatchObject({ sold: 2, reserved: 0 });
    expect(await stack.wallet(customer)).toMatchObject({ captured: 1_400, held: 0 });
  });

  it("refuses stock's credentials on tcc.payment.commands: topic authorization failed", async () => {
    const producer = await producerOf(kafka.client(credentials.stock));
    const send = producer.send({
      topic: stack.topic(Topics.paymentCommands),
      acks: -1,
      messages: [{ key: 'a-customer', value: '{"type":"PaymentConfirm"}' }],
    });
    await expect(send.catch(kafkaErrorType)).resolves.toBe('TOPIC_AUTHORIZATION_FAILED');
  });

  it('lets a client without credentials, or with a wrong password, neither write nor read', async () => {
    // the same client with the admin's credentials gets in: what fails below is the missing credentials
    const admin = kafka.client(credentials.admin).admin();
    opened.push(admin);
    await admin.connect();
    const target = stack.topic(Topics.stockCommands);
    expect(await admin.listTopics()).toContain(target);
    const written = async () =>
      (await admin.fetchTopicOffsets(target)).reduce((sum, p) => sum + Number(p.high), 0);
    const before = await written();

    const tlsOnly = { KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: credentials.admin['KAFKA_SSL_CA_FILE'] ?? '' };
    const wrongPassword = { ...credentials.admin, KAFKA_SASL_PASSWORD: 'not-the-password' };
    // the broker closes a connection that does not authenticate; a wrong password fails SCRAM
    const closed = 'Closed connection';
    const refused = expect.stringMatching(/^SASL SCRAM SHA512 authentication failed/);
    const attempts = [
      ['TLS without credentials', tlsOnly, closed],
      ['neither TLS nor credentials', {}, closed],
      ['a wrong password', wrongPassword, refused],
    ] as const;
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'done',
        (e: Error) => e.message,
      );
    for (const [how, vars, answer] of attempts) {
      const client = kafka.client(vars);
      const producer = client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      const consumer = client.consumer({ groupId: `${prefix}intruder` });
      opened.push(producer, consumer);
      const write = producer
        .connect()
        .then(() => producer.send({ topic: target, acks: -1, messages: [{ key: 'k', value: 'v' }] }));
      const read = consumer
        .connect()
        .then(() => consumer.subscribe({ topics: [target], fromBeginning: true }));
      expect({ how, write: await outcome(write), read: await outcome(read) }).toEqual({
        how,
        write: answer,
        read: answer,
      });
    }
    expect(await written()).toBe(before);
  });

  it('never writes a Kafka password to a log', () => {
    const passwords = SERVICES.map((s) => credentials[s]['KAFKA_SASL_PASSWORD'] ?? '');
    expect(passwords.every((p) => p.length >= 32)).toBe(true);
    for (const [name, proc] of stack.processes) {
      const output = `${proc.stdout}\n${proc.stderr}`;
      expect(output).toContain(`"service":"${name}"`);
      for (const password of passwords) expect([name, output.includes(password)]).toEqual([name, false]);
    }
  });

  it('does not start a service whose credentials do not fit together, and says which', async () => {
    const port = await freePort();
    const proc = ServiceProcess.start('stock', {
      ...testAuthEnv,
      PORT: String(port),
      DATABASE_URL: stack.databases.get('stock')?.url ?? '',
      KAFKA_BROKERS: kafka.brokers,
      KAFKA_SSL: 'true',
      KAFKA_SASL_USERNAME: 'stock',
    });
    const result = await proc.waitExit();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('KAFKA_SASL_USERNAME is set but KAFKA_SASL_PASSWORD is not');
  });
});
