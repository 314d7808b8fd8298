// AMQP topic-exchange matching: words separated by dots, `*` matches one word, `#` zero or more.

/** Whether `routingKey` matches the binding `pattern`. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  if (pattern === routingKey || pattern === '#') return true;
  return matchWords(pattern.split('.'), 0, routingKey.split('.'), 0);
}

function matchWords(
  pattern: readonly string[],
  p: number,
  key: readonly string[],
  k: number,
): boolean {
  if (p === pattern.length) return k === key.length;
  const word = pattern[p];
  if (word === '#') {
    for (let skip = k; skip <= key.length; skip += 1) {
      if (matchWords(pattern, p + 1, key, skip)) return true;
    }
    return false;
  }
  if (k === key.length) return false;
  return (word === '*' || word === key[k]) && matchWords(pattern, p + 1, key, k + 1);
}
