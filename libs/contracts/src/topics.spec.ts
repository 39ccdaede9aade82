import { allTopics, deadLetterTopicOf, serviceTopics, Topics, topicsOf } from './index';

describe('the topics each service uses', () => {
  const services = Object.keys(serviceTopics) as (keyof typeof serviceTopics)[];

  it('together are every topic the project has', () => {
    expect(new Set(services.flatMap(topicsOf))).toEqual(new Set(allTopics));
  });

  it('give every working topic one reader, which alone writes its dead letters', () => {
    for (const topic of Object.values(Topics)) {
      const readers = services.filter((s) => (serviceTopics[s].reads as readonly string[]).includes(topic));
      expect([topic, readers.length]).toEqual([topic, 1]);
      const writersOfDeadLetters = services.filter((s) =>
        (serviceTopics[s].writes as readonly string[]).includes(deadLetterTopicOf(topic)),
      );
      expect([topic, writersOfDeadLetters]).toEqual([topic, readers]);
    }
  });

  it('send every command and reply where its reader listens', () => {
    expect(serviceTopics.order.writes).toEqual(
      expect.arrayContaining([Topics.stockCommands, Topics.paymentCommands]),
    );
    expect(serviceTopics.stock.writes).toContain(Topics.orderReplies);
    expect(serviceTopics.payment.writes).toContain(Topics.orderReplies);
  });
});
