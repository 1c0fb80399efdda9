import { InitialSchema1732280000000 } from './1732280000000-initial-schema';
import { UserPrefixSearch1732290000000 } from './1732290000000-user-prefix-search';
import { JobsAccountsMetrics1732300000000 } from './1732300000000-jobs-accounts-metrics';
import { InboundEvents1732310000000 } from './1732310000000-inbound-events';
import { ErasureSafeUniques1732320000000 } from './1732320000000-erasure-safe-uniques';
import { SendMessageFunction1732330000000 } from './1732330000000-send-message-function';
import { ChangeMessageFunction1732340000000 } from './1732340000000-change-message-function';
import { ExternalIdentities1732350000000 } from './1732350000000-external-identities';
import { Sessions1732360000000 } from './1732360000000-sessions';
import { Replies1732370000000 } from './1732370000000-replies';
import { MentionsUnread1732380000000 } from './1732380000000-mentions-unread';
import { OutboundWebhooks1732390000000 } from './1732390000000-outbound-webhooks';

/** In order of application. The migration CLI and start-up both read this list. */
export const migrations = [InitialSchema1732280000000, UserPrefixSearch1732290000000, JobsAccountsMetrics1732300000000, InboundEvents1732310000000, ErasureSafeUniques1732320000000, SendMessageFunction1732330000000, ChangeMessageFunction1732340000000, ExternalIdentities1732350000000, Sessions1732360000000, Replies1732370000000, MentionsUnread1732380000000, OutboundWebhooks1732390000000];
