// The xfmr playground: chat (streamed, with token probabilities), attention maps, RAG and the
// training dashboard. Plain DOM and canvas; everything it fetches comes from this server.
import { cutoffs, heatColor, niceTicks, showToken, sseParser, tokenLabel } from './lib.js';

const $ = (id) => document.getElementById(id);

/** @type {null | { id: string, architecture: Record<string, number | string | null>, attention: boolean, attention_max_tokens: number, rag: boolean, metrics: boolean }} */
let info = null;

// ---------------------------------------------------------------------------------------------
// Small helpers

/** The message of an OpenAI-style error response (or its status line). */
async function errorMessage(res) {
  try {
    const body = await res.json();
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON
  }
  return `${res.status} ${res.statusText}`;
}

// A server started with --api-key answers 401 to /v1/* and /api/* without the key: ask for it once,
// keep it for this tab (sessionStorage: gone when the tab closes) and send it as a Bearer token.
const KEY_STORE = 'xfmr-api-key';
let keyPrompt = null;
let keyDeclined = false; // the prompt was cancelled: do not ask again (metrics polling would) until a reload

function withKey(init = {}) {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) return init;
  return { ...init, headers: { ...init.headers, authorization: `Bearer ${key}` } };
}

/** fetch with the API key; on 401, asks for the key (one prompt for concurrent requests) and retries once. */
async function apiFetch(url, init = {}) {
  const res = await fetch(url, withKey(init));
  if (res.status !== 401 || keyDeclined) return res;
  keyPrompt ??= Promise.resolve().then(() => {
    const key = window.prompt('This server needs an API key (xfmr serve --api-key):');
    if (key) sessionStorage.setItem(KEY_STORE, key.trim());
    else keyDeclined = true;
    return Boolean(key);
  });
  const given = await keyPrompt;
  keyPrompt = null;
  return given ? fetch(url, withKey(init)) : res;
}

async function postJson(url, body, signal) {
  return apiFetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
}

function setStatus(el, text, isError = false) {
  el.textContent = text;
  el.classList.toggle('error', isError);
}

/** A canvas drawn at the device's pixel ratio; returns its 2D context in CSS pixels. */
function sizeCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function percent(p) {
  if (p === null || p === undefined || Number.isNaN(p)) return '–';
  if (p >= 0.995) return `${(p * 100).toFixed(0)}%`;
  if (p >= 0.001) return `${(p * 100).toFixed(1)}%`;
  return `${(p * 100).toExponential(0)}%`;
}

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs: arrow keys, Home and End move between them)

const tabs = [...document.querySelectorAll('[role="tab"]')];
const onShow = new Map();
const onHide = new Map();

function selectTab(tab, focus = true) {
  for (const t of tabs) {
    const selected = t === tab;
    t.setAttribute('aria-selected', String(selected));
    t.tabIndex = selected ? 0 : -1;
    const panel = $(t.getAttribute('aria-controls'));
    if (selected) {
      panel.hidden = false;
    } else if (!panel.hidden) {
      panel.hidden = true;
      onHide.get(t.id)?.();
    }
  }
  if (focus) tab.focus();
  const name = tab.id.replace(/^tab-/, '');
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
  onShow.get(tab.id)?.();
}

for (const tab of tabs) {
  tab.addEventListener('click', () => selectTab(tab));
  tab.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    selectTab(tabs[(next + tabs.length) % tabs.length]);
  });
}

// ---------------------------------------------------------------------------------------------
// Model info

async function loadInfo() {
  const res = await apiFetch('/api/info');
  if (!res.ok) {
    setStatus($('model-summary'), `Could not load the model info: ${await errorMessage(res)}`, true);
    return;
  }
  info = await res.json();
  const a = info.architecture;
  const parts = [`${info.id}`];
  if (a.arch)
    parts.push(`${a.arch}: ${a.layers} layers, ${a.heads} heads (${a.kv_heads} KV), d_model ${a.d_model}`);
  parts.push(`context ${a.context_length}, vocabulary ${a.vocab_size}`);
  $('model-summary').textContent = parts.join(' · ');
  fillSelect($('attention-layer'), a.layers ?? 0, 'layer');
  fillSelect($('attention-head'), a.heads ?? 0, 'head');
  if (!info.attention) setStatus($('attention-status'), 'The attention view needs a decoder model.', true);
}

function fillSelect(select, n, what) {
  select.replaceChildren(
    ...Array.from({ length: n }, (_, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = `${what} ${i}`;
      return o;
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Chat

/** @type {{ role: string, content: string }[]} */
const messages = [];
/** The tokens of the last answer: text, raw log-probability, and the listed alternatives. */
let answerTokens = [];
let selectedToken = -1;
let chatAbort = null;

function samplingSettings() {
  const num = (id) => {
    const v = $(id).value.trim();
    return v === '' ? null : Number(v);
  };
  return {
    temperature: num('temperature') ?? 1,
    topK: num('top-k') ?? 0,
    topP: num('top-p') ?? 1,
    seed: num('seed'),
    maxTokens: num('max-tokens') ?? 64,
  };
}

function addMessage(role, content) {
  const div = document.createElement('div');
  div.className = `msg ${role}`;
  const who = document.createElement('span');
  who.className = 'role';
  who.textContent = `${role}:`;
  const body = document.createElement('span');
  body.className = 'content';
  const text = document.createTextNode(content);
  body.append(text);
  div.append(who, body);
  $('chat-log').append(div);
  div.scrollIntoView({ block: 'end' });
  return { div, body, text };
}

async function sendChat(e) {
  e.preventDefault();
  if (chatAbort) return;
  const input = $('chat-input');
  const content = input.value;
  if (content.trim() === '') return;
  const s = samplingSettings();
  const bad = [
    ['temperature', s.temperature, s.temperature >= 0 && s.temperature <= 2],
    ['top-k', s.topK, Number.isInteger(s.topK) && s.topK >= 0],
    ['top-p', s.topP, s.topP > 0 && s.topP <= 1],
    ['seed', s.seed, s.seed === null || Number.isInteger(s.seed)],
    ['max tokens', s.maxTokens, Number.isInteger(s.maxTokens) && s.maxTokens >= 1],
  ].find(([, , ok]) => !ok);
  if (bad) {
    setStatus($('chat-status'), `${bad[0]}: ${bad[1]} is not allowed`, true);
    return;
  }
  input.value = '';
  messages.push({ role: 'user', content });
  addMessage('user', content);
  const out = addMessage('assistant', '');
  out.div.setAttribute('aria-busy', 'true');
  answerTokens = [];
  selectedToken = -1;
  renderTokens();

  const body = {
    model: info?.id ?? '',
    messages,
    stream: true,
    logprobs: true,
    top_logprobs: 5,
    temperature: s.temperature,
    top_p: s.topP,
    top_k: s.topK,
    max_tokens: s.maxTokens,
  };
  if (s.seed !== null) body.seed = s.seed;
  chatAbort = new AbortController();
  $('chat-send').disabled = true;
  $('chat-stop').disabled = false;
  setStatus($('chat-status'), 'Generating…');
  let answer = '';
  let finish = null;
  let error = null;
  try {
    const res = await postJson('/v1/chat/completions', body, chatAbort.signal);
    if (!res.ok) throw new Error(await errorMessage(res));
    const parser = sseParser((data) => {
      if (data === '[DONE]') return;
      const chunk = JSON.parse(data);
      if (chunk.error) {
        error = chunk.error.message;
        return;
      }
      const choice = chunk.choices?.[0];
      if (!choice) return;
      const piece = choice.delta?.content ?? '';
      if (piece) {
        answer += piece;
        out.text.appendData(piece);
      }
      const lp = choice.logprobs?.content;
      if (Array.isArray(lp) && lp.length > 0) {
        for (const t of lp)
          answerTokens.push({
            token: t.token,
            bytes: t.bytes,
            logprob: t.logprob,
            top: Array.isArray(t.top_logprobs) ? t.top_logprobs : [],
          });
      } else if (piece) {
        answerTokens.push({ token: piece, bytes: null, logprob: null, top: [] });
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
    parser.end();
  } catch (err) {
    error = err.name === 'AbortError' ? 'stopped' : err.message;
  } finally {
    chatAbort = null;
    $('chat-send').disabled = false;
    $('chat-stop').disabled = true;
    out.div.setAttribute('aria-busy', 'false');
  }
  messages.push({ role: 'assistant', content: answer });
  const n = answerTokens.length;
  if (error)
    setStatus(
      $('chat-status'),
      error === 'stopped' ? `Stopped after ${n} tokens.` : error,
      error !== 'stopped',
    );
  else setStatus($('chat-status'), `${n} tokens${finish ? ` (finish: ${finish})` : ''}.`);
  renderTokens();
}

$('chat-form').addEventListener('submit', sendChat);
$('chat-input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $('chat-form').requestSubmit();
  }
});
$('chat-stop').addEventListener('click', () => chatAbort?.abort());
$('chat-clear').addEventListener('click', () => {
  chatAbort?.abort();
  messages.length = 0;
  $('chat-log').replaceChildren();
  answerTokens = [];
  selectedToken = -1;
  renderTokens();
  setStatus($('chat-status'), 'Cleared.');
});

// ---------------------------------------------------------------------------------------------
// Token view

function renderTokens() {
  const box = $('token-chips');
  if (answerTokens.length === 0) {
    box.replaceChildren();
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = 'No answer yet: send a message in the Chat view.';
    box.append(p);
    $('token-detail').replaceChildren();
    return;
  }
  box.replaceChildren(
    ...answerTokens.map((t, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'chip';
      b.dataset.index = String(i);
      const p = t.logprob === null ? null : Math.exp(t.logprob);
      b.textContent = tokenLabel(t.token, t.bytes);
      if (p !== null) {
        b.dataset.prob = p.toFixed(4);
        b.style.background = heatColor(p);
        if (p > 0.55) b.style.color = '#fff';
      }
      b.setAttribute('aria-pressed', String(i === selectedToken));
      b.setAttribute('aria-label', `token ${i + 1} ${JSON.stringify(t.token)}, probability ${percent(p)}`);
      b.title = `${percent(p)}`;
      b.addEventListener('click', () => {
        selectedToken = i;
        for (const c of box.children) c.setAttribute('aria-pressed', String(c === b));
        renderTokenDetail();
      });
      return b;
    }),
  );
  renderTokenDetail();
}

function renderTokenDetail() {
  const detail = $('token-detail');
  const t = answerTokens[selectedToken];
  if (!t) {
    detail.replaceChildren();
    return;
  }
  const heading = document.createElement('h2');
  heading.textContent = `Token ${selectedToken + 1}: “${tokenLabel(t.token, t.bytes)}” (${percent(t.logprob === null ? null : Math.exp(t.logprob))})`;
  if (t.top.length === 0) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = 'The server sent no alternatives for this token.';
    detail.replaceChildren(heading, p);
    return;
  }
  const s = samplingSettings();
  const rows = cutoffs(t.top, {
    temperature: s.temperature,
    topK: s.topK,
    topP: s.topP,
    vocabSize: info?.architecture.vocab_size ?? 0,
  });
  const verdicts = {
    kept: 'kept',
    greedy: 'cut (temperature 0 is greedy)',
    'top-k': `cut by top-k ${s.topK}`,
    'top-p': `cut by top-p ${s.topP}`,
    maybe: `at the top-p ${s.topP} edge (depends on unlisted tokens)`,
  };
  const table = document.createElement('table');
  const caption = document.createElement('caption');
  caption.className = 'hint';
  caption.textContent = `Alternatives under the model, and what temperature ${s.temperature}, top-k ${s.topK}, top-p ${s.topP} would do`;
  const head = document.createElement('tr');
  for (const h of ['#', 'token', 'probability', '', 'with these settings']) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = h;
    head.append(th);
  }
  table.append(caption, head);
  rows.forEach((r, i) => {
    const tr = document.createElement('tr');
    if (r.status !== 'kept') tr.className = r.status === 'maybe' ? 'maybe' : 'cut';
    const chosen = r.token === t.token && r.logprob === t.logprob;
    if (chosen) tr.setAttribute('aria-current', 'true');
    const cells = [
      String(i + 1),
      tokenLabel(r.token, r.bytes) + (chosen ? ' (chosen)' : ''),
      percent(r.prob),
    ];
    for (const [j, c] of cells.entries()) {
      const td = document.createElement('td');
      td.textContent = c;
      if (j !== 1) td.className = 'num';
      tr.append(td);
    }
    const barCell = document.createElement('td');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.max(1, Math.round(r.prob * 120))}px`;
    barCell.append(bar);
    const verdict = document.createElement('td');
    verdict.className = 'verdict';
    verdict.textContent = verdicts[r.status];
    tr.append(barCell, verdict);
    table.append(tr);
  });
  detail.replaceChildren(heading, table);
}

for (const id of ['temperature', 'top-k', 'top-p']) $(id).addEventListener('input', renderTokenDetail);

// ---------------------------------------------------------------------------------------------
// Attention

/** @type {null | { tokens: string[], weights: number[][], layer: number, head: number }} */
let attention = null;
let attnGeometry = null;
let attnCursor = null;
let attnRequest = 0;

async function showAttention(e) {
  e?.preventDefault();
  const mine = ++attnRequest; // a later request wins over one still in flight
  const status = $('attention-status');
  const body = {
    text: $('attention-text').value,
    layer: Number($('attention-layer').value),
    head: Number($('attention-head').value),
  };
  setStatus(status, 'Computing…');
  try {
    const res = await postJson('/api/attention', body);
    if (!res.ok) throw new Error(await errorMessage(res));
    const map = await res.json();
    if (mine !== attnRequest) return;
    attention = map;
    attnCursor = null;
    drawAttention();
    setStatus(status, `${attention.tokens.length} tokens, layer ${attention.layer}, head ${attention.head}.`);
  } catch (err) {
    if (mine === attnRequest) setStatus(status, err.message, true);
  }
}

function drawAttention() {
  if (!attention) return;
  const canvas = $('attention-canvas');
  const { tokens, weights } = attention;
  const T = tokens.length;
  const labels = tokens.map((t) => {
    const s = showToken(t);
    return s.length > 12 ? `${s.slice(0, 11)}…` : s;
  });
  const font = '12px ui-monospace, Menlo, monospace';
  const probe = canvas.getContext('2d');
  probe.font = font;
  const labelW = Math.ceil(Math.max(20, ...labels.map((l) => probe.measureText(l).width))) + 8;
  const avail = Math.max(240, (canvas.parentElement?.clientWidth || 640) - labelW - 4);
  const cell = Math.max(8, Math.min(36, Math.floor(avail / T)));
  const top = Math.ceil(labelW * 0.75) + 6; // column labels at -50 degrees
  const left = labelW;
  const size = cell * T;
  const ctx = sizeCanvas(canvas, left + size + 2, top + size + 2);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, left + size + 2, top + size + 2);
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++) {
      ctx.fillStyle = j > i ? '#eceff3' : heatColor(weights[i][j]);
      ctx.fillRect(left + j * cell, top + i * cell, cell, cell);
    }
  ctx.strokeStyle = cssVar('--line') || '#d0d7de';
  ctx.strokeRect(left - 0.5, top - 0.5, size + 1, size + 1);
  ctx.font = font;
  ctx.fillStyle = cssVar('--fg') || '#000';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  const every = Math.ceil(12 / cell); // skip labels that would overlap
  for (let i = 0; i < T; i += every) ctx.fillText(labels[i], left - 4, top + i * cell + cell / 2);
  ctx.textAlign = 'left';
  for (let j = 0; j < T; j += every) {
    ctx.save();
    ctx.translate(left + j * cell + cell / 2, top - 4);
    ctx.rotate(-Math.PI * (50 / 180));
    ctx.fillText(labels[j], 0, 0);
    ctx.restore();
  }
  if (attnCursor) {
    const [i, j] = attnCursor;
    ctx.strokeStyle = '#d62728';
    ctx.lineWidth = 2;
    ctx.strokeRect(left + j * cell + 1, top + i * cell + 1, cell - 2, cell - 2);
  }
  attnGeometry = { left, top, cell, T };
}

function readCell(i, j) {
  if (!attention) return;
  attnCursor = [i, j];
  drawAttention();
  const { tokens, weights } = attention;
  const w = weights[i][j];
  $('attention-readout').textContent =
    `query ${i} “${showToken(tokens[i])}” → key ${j} “${showToken(tokens[j])}”: ` +
    (j > i ? 'masked (a later token)' : w.toFixed(4));
}

const attnCanvas = $('attention-canvas');
attnCanvas.addEventListener('mousemove', (e) => {
  const g = attnGeometry;
  if (!g) return;
  const r = attnCanvas.getBoundingClientRect();
  const x = e.clientX - r.left - g.left;
  const y = e.clientY - r.top - g.top;
  const i = Math.floor(y / g.cell);
  const j = Math.floor(x / g.cell);
  if (x < 0 || y < 0 || i >= g.T || j >= g.T) return;
  if (attnCursor && attnCursor[0] === i && attnCursor[1] === j) return;
  readCell(i, j);
});
attnCanvas.addEventListener('keydown', (e) => {
  const g = attnGeometry;
  if (!g) return;
  const move = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[e.key];
  if (!move) return;
  e.preventDefault();
  const [i0, j0] = attnCursor ?? [0, 0];
  const clamp = (v) => Math.max(0, Math.min(g.T - 1, v));
  readCell(clamp(attnCursor ? i0 + move[0] : 0), clamp(attnCursor ? j0 + move[1] : 0));
});
$('attention-form').addEventListener('submit', showAttention);
for (const id of ['attention-layer', 'attention-head'])
  $(id).addEventListener('change', () => {
    if (attention) showAttention();
  });

// ---------------------------------------------------------------------------------------------
// RAG

/**
 * A chunk's text with [start, end) marked: text nodes and one <mark>, never HTML (chunks and answers
 * are untrusted). Offsets outside the text mark nothing.
 */
function markedText(text, start, end) {
  const p = document.createElement('p');
  p.className = 'text';
  const ok =
    Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start < end && end <= text.length;
  if (!ok) {
    p.textContent = text;
    return p;
  }
  const mark = document.createElement('mark');
  mark.textContent = text.slice(start, end);
  p.append(document.createTextNode(text.slice(0, start)), mark, document.createTextNode(text.slice(end)));
  return p;
}

/** What the answer line under the answer says: where the quote is, who chose it, the confidence, the abstention. */
function quoteLine(r, sources) {
  const parts = [];
  const q = r.quote;
  if (q && sources[q.index])
    parts.push(`Quoted from [${q.index + 1}] ${q.source}, characters ${q.start}–${q.end}`);
  else if (r.abstained)
    parts.push('Not answered: the documents do not seem to hold the answer; the sources are listed');
  else if (r.grounded === false) parts.push('Free decoding: the answer is not a quote');
  // the model's confidence in its own quote; below its trust the extractive reader chose the span
  if (r.reader === 'extractive') parts.push('span chosen by the extractive reader');
  if (typeof r.confidence === 'number') parts.push(`model confidence ${r.confidence.toFixed(3)}`);
  return parts.join(' · ');
}

async function askRag(e) {
  e.preventDefault();
  const status = $('rag-status');
  const question = $('rag-question').value;
  const k = Number($('rag-k').value) || 3;
  const grounded = $('rag-grounded').checked;
  $('rag-ask').disabled = true;
  setStatus(status, 'Retrieving and answering…');
  $('rag-answer').textContent = '';
  $('rag-answer').classList.remove('abstained');
  $('rag-quote').textContent = '';
  $('rag-sources').replaceChildren();
  try {
    const res = await postJson('/v1/rag/ask', { question, k, grounded });
    if (!res.ok) throw new Error(await errorMessage(res));
    const r = await res.json();
    const sources = Array.isArray(r.sources) ? r.sources : [];
    $('rag-answer').textContent = (r.answer ?? '').trim();
    $('rag-answer').classList.toggle('abstained', r.abstained === true);
    $('rag-quote').textContent = quoteLine(r, sources);
    $('rag-sources').replaceChildren(
      ...sources.map((s, i) => {
        const li = document.createElement('li');
        const meta = document.createElement('div');
        meta.className = 'meta';
        const where = document.createElement('strong');
        where.className = 'source';
        where.textContent = `[${s.rank ?? ''}] ${s.source}`;
        const score = typeof s.score === 'number' ? s.score.toFixed(4) : String(s.score);
        meta.append(where, ` · chunk ${s.chunk} · score ${score}${s.truncated ? ' · truncated' : ''}`);
        const text = String(s.text ?? '');
        const quoted = r.quote?.index === i;
        if (quoted) li.classList.add('quoted');
        li.append(meta, quoted ? markedText(text, r.quote.start, r.quote.end) : markedText(text, -1, -1));
        return li;
      }),
    );
    setStatus(status, `${sources.length} sources.`);
    $('rag-sources').querySelector('li.quoted mark')?.scrollIntoView({ block: 'nearest' });
  } catch (err) {
    setStatus(status, err.message, true);
  } finally {
    $('rag-ask').disabled = false;
  }
}

$('rag-form').addEventListener('submit', askRag);

// ---------------------------------------------------------------------------------------------
// Dashboard

const POLL_MS = 2000;
const series = { train: [], val: [], speed: [] };
let metricsNext = 0;
let metricsTimer = null;
let metricsStopped = false;

async function pollMetrics() {
  metricsTimer = null;
  const status = $('dashboard-status');
  let again = POLL_MS;
  try {
    const res = await apiFetch(`/api/metrics?since=${metricsNext}`);
    if (!res.ok) {
      setStatus(status, await errorMessage(res), true);
      if (res.status === 404) metricsStopped = true; // no metrics file configured: nothing to poll
      return;
    }
    const r = await res.json();
    if (r.reset) {
      series.train = [];
      series.val = [];
      series.speed = [];
    }
    for (const m of r.records) {
      if (typeof m.step !== 'number') continue;
      if (typeof m.loss === 'number') series.train.push([m.step, m.loss]);
      if (typeof m.val_loss === 'number') series.val.push([m.step, m.val_loss]);
      if (typeof m.tok_s === 'number') series.speed.push([m.step, m.tok_s]);
    }
    metricsNext = r.next;
    drawDashboard();
    const last = series.train.at(-1);
    setStatus(
      status,
      last
        ? `${metricsNext} records; step ${last[0]}, train loss ${last[1].toFixed(4)}` +
            (series.val.length ? `, validation loss ${series.val.at(-1)[1].toFixed(4)}` : '') +
            (series.speed.length ? `, ${Math.round(series.speed.at(-1)[1])} tokens/s` : '')
        : 'Waiting for training metrics…',
    );
    if (r.more) again = 0;
  } catch (err) {
    setStatus(status, err.message, true);
  } finally {
    if (!metricsStopped && !$('panel-dashboard').hidden && !document.hidden)
      metricsTimer = setTimeout(pollMetrics, again);
  }
}

function startMetrics() {
  if (metricsTimer === null && !metricsStopped) pollMetrics();
  else drawDashboard();
}

function stopMetrics() {
  if (metricsTimer !== null) clearTimeout(metricsTimer);
  metricsTimer = null;
}

function drawDashboard() {
  const canvas = $('dashboard-canvas');
  const W = Math.max(320, Math.min(1100, canvas.parentElement?.clientWidth || 800) - 4);
  const H = Math.round(Math.min(420, W * 0.5));
  const ctx = sizeCanvas(canvas, W, H);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  const pad = { left: 56, right: 64, top: 12, bottom: 36 };
  const pw = W - pad.left - pad.right;
  const ph = H - pad.top - pad.bottom;
  const losses = [...series.train, ...series.val];
  const all = [...losses, ...series.speed];
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillStyle = cssVar('--muted') || '#555';
  if (all.length === 0) {
    ctx.textAlign = 'center';
    ctx.fillText('no records yet', W / 2, H / 2);
    return;
  }
  const range = (pts, axis) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const p of pts) {
      if (!Number.isFinite(p[axis])) continue;
      lo = Math.min(lo, p[axis]);
      hi = Math.max(hi, p[axis]);
    }
    return [lo, hi];
  };
  const [x0, x1raw] = range(all, 0);
  const x1 = x1raw > x0 ? x1raw : x0 + 1;
  const [l0, l1] = losses.length ? range(losses, 1) : [0, 1];
  const lossTicks = niceTicks(l0, l1, 5);
  const ly0 = Math.min(l0, lossTicks[0] ?? l0);
  const ly1 = Math.max(l1, lossTicks.at(-1) ?? l1, ly0 + 1e-9);
  const [s0raw, s1] = series.speed.length ? range(series.speed, 1) : [0, 1];
  const speedTicks = niceTicks(0, Math.max(s1, s0raw, 1), 4);
  const sy1 = Math.max(speedTicks.at(-1) ?? 1, s1, 1e-9);
  const X = (v) => pad.left + ((v - x0) / (x1 - x0)) * pw;
  const YL = (v) => pad.top + (1 - (v - ly0) / (ly1 - ly0)) * ph;
  const YS = (v) => pad.top + (1 - v / sy1) * ph;

  // grid and axes
  ctx.strokeStyle = '#e6e8eb';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of lossTicks) {
    const y = Math.round(YL(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(pad.left, y);
    ctx.lineTo(pad.left + pw, y);
    ctx.stroke();
    ctx.fillText(String(t), pad.left - 6, y);
  }
  if (series.speed.length) {
    ctx.textAlign = 'left';
    ctx.fillStyle = cssVar('--speed') || '#2ca02c';
    for (const t of speedTicks) ctx.fillText(String(t), pad.left + pw + 6, YS(t));
    ctx.fillStyle = cssVar('--muted') || '#555';
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(x0, x1, 6)) ctx.fillText(String(t), X(t), pad.top + ph + 6);
  ctx.fillText('step', pad.left + pw / 2, pad.top + ph + 20);
  ctx.strokeStyle = '#9aa1a9';
  ctx.strokeRect(pad.left + 0.5, pad.top + 0.5, pw, ph);

  const line = (pts, color, Y, width) => {
    if (pts.length === 0) return;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = width;
    ctx.beginPath();
    pts.forEach(([x, y], i) => {
      if (i === 0) ctx.moveTo(X(x), Y(y));
      else ctx.lineTo(X(x), Y(y));
    });
    ctx.stroke();
    if (pts.length < 40) for (const [x, y] of pts) ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4);
  };
  line(series.speed, cssVar('--speed') || '#2ca02c', YS, 1);
  line(series.train, cssVar('--train') || '#1f77b4', YL, 2);
  line(series.val, cssVar('--val') || '#ff7f0e', YL, 2);
}

onShow.set('tab-dashboard', startMetrics);
onHide.set('tab-dashboard', stopMetrics);
onShow.set('tab-tokens', renderTokens);
onShow.set('tab-attention', () => {
  // the first visit shows the example prompt's map
  if (attention === null && attnRequest === 0 && info?.attention) showAttention();
  else drawAttention();
});
document.addEventListener('visibilitychange', () => {
  if (document.hidden) stopMetrics();
  else if (!$('panel-dashboard').hidden) startMetrics();
});

// ---------------------------------------------------------------------------------------------
// Start

renderTokens();
loadInfo().finally(() => {
  const fromHash = tabs.find((t) => t.id === `tab-${location.hash.slice(1)}`);
  // a server with a RAG database is there to answer from its documents: open on that view
  const start = fromHash ?? (info?.rag ? $('tab-rag') : null);
  if (start) selectTab(start, false);
  document.body.dataset.ready = 'true';
});
