// Credential redaction over hostile URL forms: the password is gone whatever it holds,
// the rest of the text (user, host, path, the message around it) is kept.
import { describe, expect, it } from 'vitest';
import { redactCredentials, redactedMessage } from '../src/index.js';

describe('redactCredentials', () => {
  const cases: readonly { name: string; text: string; expected: string; secrets: string[] }[] = [
    {
      name: 'a plain password',
      text: 'amqp://guest:guest@127.0.0.1:5672/vh',
      expected: 'amqp://guest:***@127.0.0.1:5672/vh',
      secrets: [],
    },
    {
      name: 'a / in the password',
      text: 'arangodb://root:Sec/retArango2@127.0.0.1:8529/x',
      expected: 'arangodb://root:***@127.0.0.1:8529/x',
      secrets: ['Sec/ret', 'retArango2'],
    },
    {
      name: 'an @ in the password',
      text: 'arangodb://root:S3c@ret@db.local:8529/app',
      expected: 'arangodb://root:***@db.local:8529/app',
      secrets: ['S3c', 'ret@db'],
    },
    {
      name: 'a : in the password',
      text: 'http://root:pa:ss:word@h:1',
      expected: 'http://root:***@h:1',
      secrets: ['pa:ss', 'ss:word'],
    },
    {
      name: 'every hostile character at once',
      text: 'arangodbs://admin:a/b@c:d%40e%2Ff@db:8530/_db/app?x=1',
      expected: 'arangodbs://admin:***@db:8530/_db/app?x=1',
      secrets: ['a/b', 'c:d', '%40e', '%2Ff'],
    },
    {
      name: 'percent-encoded characters only',
      text: 'amqps://app:p%40ss%3Aw%2Frd@broker:5671/%2F',
      expected: 'amqps://app:***@broker:5671/%2F',
      secrets: ['p%40ss', 'w%2Frd'],
    },
    {
      name: 'an empty password',
      text: 'amqp://guest:@h',
      expected: 'amqp://guest:***@h',
      secrets: [],
    },
    {
      name: 'a comma-separated list of URLs',
      text: 'http://root:one/1@a:8529,http://root:two@2@b:8529,https://root:th:ree@c:8529',
      expected: 'http://root:***@a:8529,http://root:***@b:8529,https://root:***@c:8529',
      secrets: ['one/1', 'two@2', 'th:ree'],
    },
    {
      name: 'URLs quoted inside an error message',
      text: 'url: not a URL: "http://root:Sec/retArango2@127.0.0.1:8529/x" (see \'amqp://u:hid@den@h\')',
      expected: 'url: not a URL: "http://root:***@127.0.0.1:8529/x" (see \'amqp://u:***@h\')',
      secrets: ['Sec/ret', 'hid@den'],
    },
    {
      name: 'a URL in a JSON log line',
      text: '{"level":50,"msg":"failed","err":{"message":"connect arangodb://r:x/y@z@h:1 refused"}}',
      expected:
        '{"level":50,"msg":"failed","err":{"message":"connect arangodb://r:***@h:1 refused"}}',
      secrets: ['x/y', 'y@z'],
    },
    {
      name: 'a user name alone',
      text: 'amqp://guest@h:5672',
      expected: 'amqp://guest@h:5672',
      secrets: [],
    },
    {
      name: 'no credentials',
      text: 'http://127.0.0.1:9464/readyz and sqlite:./data/troupe.db',
      expected: 'http://127.0.0.1:9464/readyz and sqlite:./data/troupe.db',
      secrets: [],
    },
    {
      name: 'upper-case scheme, several URLs on one line',
      text: 'A AMQP://u:p1@h B http://v:p2@k',
      expected: 'A AMQP://u:***@h B http://v:***@k',
      secrets: ['p1', 'p2'],
    },
  ];

  it.each(cases)('redacts $name', ({ text, expected, secrets }) => {
    const redacted = redactCredentials(text);
    expect(redacted).toBe(expected);
    for (const secret of secrets) expect(redacted).not.toContain(secret);
  });

  it('is idempotent', () => {
    for (const { text } of cases) {
      expect(redactCredentials(redactCredentials(text))).toBe(redactCredentials(text));
    }
  });

  it('redactedMessage takes errors and anything else', () => {
    expect(redactedMessage(new Error('at amqp://u:s3cr/et@h'))).toBe('at amqp://u:***@h');
    expect(redactedMessage('amqp://u:p@h')).toBe('amqp://u:***@h');
    expect(redactedMessage(42)).toBe('42');
  });
});
