import { AccountExport } from './account-export.entity';
import { ConversationEventRecord } from './conversation-event.entity';
import { Conversation } from './conversation.entity';
import { InboundEvent } from './inbound-event.entity';
import { Membership } from './membership.entity';
import { Message } from './message.entity';
import { MessageMention } from './message-mention.entity';
import { MetricInstanceMinute } from './metric-instance-minute.entity';
import { MetricSample } from './metric-sample.entity';
import { Reaction } from './reaction.entity';
import { User } from './user.entity';
import { UserPresence } from './user-presence.entity';
import { WebhookDelivery } from './webhook-delivery.entity';
import { WebhookEndpoint } from './webhook-endpoint.entity';

export const entities = [User, Conversation, Membership, Message, Reaction, ConversationEventRecord, MetricSample, MetricInstanceMinute, AccountExport, InboundEvent, MessageMention, UserPresence, WebhookEndpoint, WebhookDelivery];
