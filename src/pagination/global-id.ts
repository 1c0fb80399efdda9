import { BadUserInputError } from '../errors';

/** Types whose ids are handed out as global ids (the webhook ones are not `Node`s: ADMINs see them by their own fields). */
export type NodeType = 'User' | 'Conversation' | 'Message' | 'AccountExport' | 'WebhookEndpoint' | 'WebhookDelivery';
const NODE_TYPES = new Set<string>(['User', 'Conversation', 'Message', 'AccountExport', 'WebhookEndpoint', 'WebhookDelivery']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Opaque, globally unique id: base64url of `<Type>:<uuid>`. */
export function toGlobalId(type: NodeType, id: string): string {
  return Buffer.from(`${type}:${id}`, 'utf8').toString('base64url');
}

/** Decodes any global id; BAD_USER_INPUT when it is not one Parley could have issued. */
export function fromGlobalId(globalId: string): { type: NodeType; id: string } {
  const decoded = /^[A-Za-z0-9_-]{1,100}$/.test(globalId) ? Buffer.from(globalId, 'base64url').toString('utf8') : '';
  const [type, id] = decoded.split(':');
  if (!NODE_TYPES.has(type) || !UUID.test(id ?? '') || decoded !== `${type}:${id}`) {
    throw new BadUserInputError(`"${globalId.slice(0, 100)}" is not a valid id.`);
  }
  return { type: type as NodeType, id };
}

/** Decodes a global id that must be of `type`. */
export function fromGlobalIdOf(type: NodeType, globalId: string): string {
  const decoded = fromGlobalId(globalId);
  if (decoded.type !== type) throw new BadUserInputError(`"${globalId.slice(0, 100)}" is not a ${type} id.`);
  return decoded.id;
}
