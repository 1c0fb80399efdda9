export { createParleyClient, isCloseEvent, type ParleyClient, type ParleyClientOptions, type Refetch, type Token } from './parley-client';
