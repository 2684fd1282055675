// The environment the bench gives the service it starts itself.

/** Largest ALLOWED_PROPERTIES value the bench passes on (an environment variable, not a file). */
const MAX_ALLOWED_PROPERTIES_CHARS = 64 * 1024;

/**
 * The self-started service accepts only the properties it is told about (ALLOWED_PROPERTIES, default "news"):
 * pass the profile's key space on, so valid requests are valid. --service-env wins.
 */
export function serviceEnvFor(
  properties: string[], extra: Record<string, string>, warn: (obj: Record<string, unknown>, msg: string) => void,
): Record<string, string> {
  const env: Record<string, string> = {};
  const joined = properties.join(',');
  if (joined.length <= MAX_ALLOWED_PROPERTIES_CHARS) env.ALLOWED_PROPERTIES = joined;
  else if (extra.ALLOWED_PROPERTIES === undefined) {
    warn({ chars: joined.length }, 'the profile has too many property names to pass as ALLOWED_PROPERTIES; set it with --service-env');
  }
  return { ...env, ...extra };
}
