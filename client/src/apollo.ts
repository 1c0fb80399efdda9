/** The Apollo Client 4 side of the helper: `@parley/client/apollo` (needs `@apollo/client` and `rxjs`). */
export { ParleyWsLink, SocketClosedError } from './apollo-link';
