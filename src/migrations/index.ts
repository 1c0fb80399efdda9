import { InitialSchema1732280000000 } from './1732280000000-initial-schema';
import { UserPrefixSearch1732290000000 } from './1732290000000-user-prefix-search';

/** In order of application. The migration CLI and start-up both read this list. */
export const migrations = [InitialSchema1732280000000, UserPrefixSearch1732290000000];
