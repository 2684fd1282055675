// Twirp v7 serves exactly two encodings (https://twitchtv.github.io/twirp/docs/spec_v7.html#content-type):
// application/json and application/protobuf. Parameters such as `; charset=utf-8` are ignored.
export type TwirpEncoding = 'json' | 'protobuf';

export const CONTENT_TYPES: Record<TwirpEncoding, string> = {
  json: 'application/json',
  protobuf: 'application/protobuf',
};

/** The encoding a Content-Type header selects, or undefined when Twirp does not serve it. */
export function encodingOf(header: string | undefined): TwirpEncoding | undefined {
  if (header === undefined) return undefined;
  // The two exact spellings nearly every client sends, without slicing or case folding.
  if (header === 'application/json') return 'json';
  if (header === 'application/protobuf') return 'protobuf';
  const semi = header.indexOf(';');
  const media = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (media === 'application/json') return 'json';
  if (media === 'application/protobuf') return 'protobuf';
  return undefined;
}
