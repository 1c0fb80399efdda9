import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { ParleyClient } from '@parley/client';
import { connect, request, session, signIn, subscribe, type Viewer } from './api';
import { field, h, say } from './dom';
import './style.css';

/**
 * The live dashboard: signs in as an ADMIN and plots the cluster-wide `metrics` subscription, one
 * point a second, for the last ten minutes.
 */

interface Snapshot {
  at: string;
  messagesPerMinute: number;
  requestsPerSecond: number;
  errorsPerMinute: number;
  p95LatencyMs: number;
  connectedClients: number;
  activeSubscriptions: number;
  onlineUsers: number;
  instances: number;
}

const WINDOW = 600;
const PANELS: { title: string; series: { key: keyof Snapshot; label: string; stroke: string }[] }[] = [
  { title: 'Messages / min', series: [{ key: 'messagesPerMinute', label: 'messages/min', stroke: '#2563eb' }] },
  {
    title: 'Connections',
    series: [
      { key: 'connectedClients', label: 'sockets', stroke: '#059669' },
      { key: 'activeSubscriptions', label: 'subscriptions', stroke: '#d97706' },
      { key: 'onlineUsers', label: 'users online', stroke: '#7c3aed' },
    ],
  },
  { title: 'p95 latency (ms)', series: [{ key: 'p95LatencyMs', label: 'p95 ms', stroke: '#dc2626' }] },
  {
    title: 'Traffic',
    series: [
      { key: 'requestsPerSecond', label: 'requests/s', stroke: '#0891b2' },
      { key: 'errorsPerMinute', label: 'errors/min', stroke: '#be123c' },
    ],
  },
];
const TILES: { key: keyof Snapshot; label: string }[] = [
  { key: 'messagesPerMinute', label: 'messages/min' },
  { key: 'connectedClients', label: 'sockets' },
  { key: 'activeSubscriptions', label: 'subscriptions' },
  { key: 'p95LatencyMs', label: 'p95 ms' },
  { key: 'instances', label: 'instances' },
];

const root = document.getElementById('app')!;
/** The drawing width inside a panel (its padding left out). */
const widthOf = (holder: HTMLElement) => Math.max(200, holder.clientWidth - 26);
let client: ParleyClient | undefined;

function signInView(message?: string): void {
  const form = h(
    'form',
    { class: 'card', 'data-testid': 'sign-in' },
    h('h1', {}, 'Parley dashboard'),
    h('p', { class: 'hint' }, 'For ADMIN accounts (npm run admin:grant -- <handle>).'),
    h('label', {}, 'Handle or e-mail', h('input', { name: 'login', autocomplete: 'username', required: true })),
    h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit' }, 'Sign in'),
    h('p', { id: 'status', role: 'alert' }, message ?? ''),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await signIn(field(form, 'login'), field(form, 'password'));
      await boot();
    } catch (error) {
      say(error instanceof Error ? error.message : String(error));
    }
  });
  root.replaceChildren(form);
}

function live(viewer: Viewer): void {
  const state = h('span', { class: 'connection', 'data-testid': 'connection' }, 'connecting');
  const tiles = TILES.map(({ key, label }) => ({ key, value: h('strong', { 'data-testid': `tile-${key}` }, '–'), label }));
  const grid = h('div', { class: 'panels' });
  const cleanups: (() => void)[] = [];
  const signOut = (message?: string) => {
    session.token = null;
    for (const cleanup of cleanups.splice(0)) cleanup();
    void client?.dispose();
    client = undefined;
    signInView(message);
  };
  const signOutButton = h('button', { type: 'button', class: 'link', onclick: () => signOut() }, 'Sign out');
  root.replaceChildren(
    h(
      'div',
      { class: 'dashboard' },
      h('header', {}, h('strong', {}, 'Parley dashboard'), h('span', {}, `@${viewer.handle}`), state, signOutButton),
      h('div', { class: 'tiles' }, ...tiles.map((t) => h('div', { class: 'tile' }, t.value, h('small', {}, t.label)))),
      grid,
      h('p', { id: 'status', role: 'alert' }),
    ),
  );
  const times: number[] = [];
  const columns = new Map<keyof Snapshot, number[]>();
  const charts = PANELS.map((panel) => {
    for (const s of panel.series) columns.set(s.key, []);
    const holder = h('figure', { class: 'panel', 'data-testid': 'chart', 'data-points': '0' }, h('figcaption', {}, panel.title));
    grid.append(holder);
    const plot = new uPlot(
      {
        width: widthOf(holder),
        height: 200,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [{}, ...panel.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2 }))],
        axes: [{}, { size: 56 }],
      },
      [[], ...panel.series.map(() => [])],
      holder,
    );
    // Charts follow their panel's width (the grid reflows with the window).
    const resized = new ResizeObserver(() => plot.setSize({ width: widthOf(holder), height: 200 }));
    resized.observe(holder);
    cleanups.push(() => {
      resized.disconnect();
      plot.destroy();
    });
    return { panel, plot, holder };
  });

  client = connect(
    (s) => {
      state.textContent = s;
      state.dataset.state = s;
    },
    () => signOut('Your session ended: sign in again.'),
    // The metrics stream needs nothing read again: each tick carries the whole picture.
    () => undefined,
  );
  subscribe<{ metrics: Snapshot }>(
    client,
    'Metrics',
    { intervalSeconds: 1 },
    ({ metrics }) => {
      times.push(Date.parse(metrics.at) / 1000);
      for (const [key, values] of columns) values.push(Number(metrics[key]));
      if (times.length > WINDOW) {
        times.shift();
        for (const values of columns.values()) values.shift();
      }
      for (const { panel, plot, holder } of charts) {
        plot.setData([times, ...panel.series.map((s) => columns.get(s.key)!)]);
        holder.dataset.points = String(times.length);
      }
      for (const tile of tiles) tile.value.textContent = Number(metrics[tile.key]).toLocaleString('en', { maximumFractionDigits: 1 });
    },
    (error) => say(error.code === 'FORBIDDEN' ? 'This account is not an ADMIN: ask an operator to run npm run admin:grant.' : error.message),
  );
}

async function boot(): Promise<void> {
  if (!session.token) return signInView();
  const me = await request<{ me: Viewer | null }>('Me').catch(() => ({ me: null }));
  if (!me.me) {
    session.token = null;
    return signInView();
  }
  if (me.me.role !== 'ADMIN') return signInView(`@${me.me.handle} is not an ADMIN: ask an operator to run npm run admin:grant -- ${me.me.handle}.`);
  live(me.me);
}

void boot();
