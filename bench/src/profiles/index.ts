// The one entry point the CLI uses: name or path -> document -> overrides -> validated Profile, or a
// ProfileError listing every problem (file and flags together).
import type { Profile } from '../types';
import { readProfileDocument, resolveProfilePath } from './load';
import { applyOverrides, type ProfileOverrides } from './overrides';
import { ProfileError, validateProfile } from './validate';

export { ProfileError } from './validate';
export { ProfileLoadError, shippedProfileNames, looksLikePath, PROFILES_DIR } from './load';
export type { ProfileOverrides } from './overrides';

export function loadProfile(nameOrPath: string, overrides: ProfileOverrides = {}): { profile: Profile; path: string } {
  const path = resolveProfilePath(nameOrPath);
  const { doc, fallbackName } = readProfileDocument(path);
  const applied = applyOverrides(doc, overrides);
  const v = validateProfile(applied.doc, fallbackName);
  const problems = [...applied.errors, ...('errors' in v ? v.errors : [])];
  if (problems.length > 0 || 'errors' in v) throw new ProfileError(path, problems);
  return { profile: v.profile, path };
}
