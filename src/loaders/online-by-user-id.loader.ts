import DataLoader from 'dataloader';
import type { PresenceStore } from '../subscriptions/presence';

/** One presence look-up (one Redis pipeline in cluster mode) for every `User.online` in a response. */
export function createOnlineByUserIdLoader(presence: PresenceStore): DataLoader<string, boolean> {
  return new DataLoader(async (userIds) => {
    const online = await presence.online(userIds);
    return userIds.map((id) => online.has(id));
  });
}
