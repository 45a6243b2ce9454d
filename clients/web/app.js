// The live results page. Reads the election definition from /v1/election,
// then follows /v1/watch (Server-Sent Events of the Feed): a snapshot of
// every (contest, scope) total and seat allocation, then events carrying the
// new full values of whatever a commit changed. Nothing here is specific to
// one election: names, colours, seats, regions and thresholds all come from
// the definition and the feed. Every snapshot and event carries the
// transparency log's signed head of its revision: the page shows its root,
// how many witnesses cosigned it (from /v1/tree-head), and "check a
// station" verifies that station's inclusion proof (/v1/proof) in the
// browser with log.js.
'use strict';

(() => {
  // ---- protobuf JSON helpers ---------------------------------------------
  // The gateway speaks the protobuf JSON mapping: lowerCamelCase names,
  // 64-bit integers as strings, fields at their default value omitted.
  // Keys are normalised to lowerCamelCase so snake_case input works too.

  function camelize(value) {
    if (Array.isArray(value)) return value.map(camelize);
    if (value === null || typeof value !== 'object') return value;
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      out[key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())] =
          camelize(item);
    }
    return out;
  }

  // uint64 arrives as a string, uint32 as a number, a zero as nothing.
  const num = (v) => {
    const n = Number(v ?? 0);
    return Number.isFinite(n) ? n : 0;
  };
  // The same helpers for the page's other scripts (forensics.js).
  window.tallyJson = { camelize, num };

  // Enum values arrive as names; accept numbers too.
  const SCOPE_KINDS = ['SCOPE_KIND_UNSPECIFIED', 'SCOPE_KIND_NATIONAL',
    'SCOPE_KIND_REGION', 'SCOPE_KIND_DISTRICT'];
  const enumName = (v, names) => (typeof v === 'number' ? names[v] : v) || '';

  function scopeKey(scope) {
    const kind = enumName(scope?.kind, SCOPE_KINDS);
    if (kind === 'SCOPE_KIND_REGION') return `region/${scope.id || ''}`;
    if (kind === 'SCOPE_KIND_DISTRICT') return `district/${scope.id || ''}`;
    return 'national';
  }
  const key = (contestId, scope) => `${contestId || ''}|${scope}`;

  // ---- formatting --------------------------------------------------------
  const intFormat = new Intl.NumberFormat();
  const fmtInt = (n) => intFormat.format(n);
  const fmtPct = (part, whole, digits = 2) =>
    whole > 0 ? `${(100 * part / whole).toFixed(digits)}%` : '—';
  // A published share (Totals: ChoiceTotal.share, againstAllShare; exact
  // uint64 numerator and denominator) in percent, rounded half up in
  // integers as the commission and tallyctl round it; '—' while there is
  // none (nothing counted in the base yet). Never re-derived from votes.
  function fmtShare(share, digits = 2) {
    let n, d;
    try {
      n = BigInt(share?.numerator ?? 0);
      d = BigInt(share?.denominator ?? 0);
    } catch {
      return '—';
    }
    if (d === 0n) return '—';
    const scale = 10n ** BigInt(digits);
    const v = (n * 200n * scale + d) / (2n * d);
    const whole = v / scale;
    if (digits === 0) return `${whole}%`;
    return `${whole}.${(v % scale).toString().padStart(digits, '0')}%`;
  }

  // ---- state ---------------------------------------------------------------
  const state = {
    definition: null,
    model: null,                // derived from the definition, see buildModel
    totals: new Map(),          // "contest|scope" -> Totals
    allocations: new Map(),     // "contest|scope" -> SeatAllocation
    progress: null,             // Progress
    revision: 0,                // last revision applied or announced
    lastCommit: null,           // Date of the last commit applied
    synced: false,              // a snapshot has been completed
    signedHead: null,           // the log's SignedTreeHead of `revision`
    witnesses: 0,               // cosignatures of the head's checkpoint
  };
  // Snapshot messages accumulate here until snapshot_complete, so a
  // re-snapshot never shows a half-filled state.
  let staging = null;

  // ---- the election model --------------------------------------------------
  const KIND_LIST = 'CONTEST_KIND_PARTY_LIST';
  const KIND_SINGLE = 'CONTEST_KIND_SINGLE_MANDATE';
  const KIND_PRESIDENT = 'CONTEST_KIND_PRESIDENTIAL_MAJORITY';
  const CONTEST_KINDS = ['CONTEST_KIND_UNSPECIFIED', KIND_LIST, KIND_SINGLE,
    KIND_PRESIDENT];
  const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
    '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  const UNDECIDED = '#d9dce1';
  // The composition row of the self-nominated candidates: a key no choice
  // id can take (ids are [a-z0-9-]).
  const SELF = '(self-nominated)';
  const SELF_COLOUR = '#7f7f7f';

  // A candidate's name without a trailing "(district)" qualifier, so that
  // choices sharing an id across districts read as one group.
  const groupName = (name) => name.replace(/\s*\([^)]*\)\s*$/, '') || name;

  function buildModel(def) {
    const contests = (def.contests || []).map((c) => ({
      ...c,
      kind: enumName(c.kind, CONTEST_KINDS),
      seats: num(c.seats),
      choices: c.choices || [],
      scope: c.districtId ? `district/${c.districtId}` : 'national',
    }));
    // The headline contest: the national party list with the most seats,
    // else the first national contest, else the first contest.
    const national = contests.filter((c) => !c.districtId);
    const lists = national.filter((c) => c.kind === KIND_LIST);
    const primary = lists.sort((a, b) => b.seats - a.seats)[0] ||
        national[0] || contests[0] || null;

    // Parties: every choice of a party-list contest, by choice id, then the
    // self-nominated. Choices of other contests with ids of their own form
    // groups for display; their seats go to their nominating party
    // (seatParty).
    const parties = new Map();
    let paletteIndex = 0;
    const addParty = (choice, fromList) => {
      if (parties.has(choice.id)) return;
      parties.set(choice.id, {
        id: choice.id,
        name: fromList ? choice.name : groupName(choice.name || choice.id),
        colour: /^#[0-9a-f]{6}$/i.test(choice.colour || '') ?
          choice.colour : PALETTE[paletteIndex++ % PALETTE.length],
      });
    };
    if (primary) primary.choices.forEach((ch) => addParty(ch, true));
    contests.filter((c) => c.kind === KIND_LIST)
        .forEach((c) => c.choices.forEach((ch) => addParty(ch, true)));
    parties.set(SELF, { id: SELF, name: 'Self-nominated', colour: SELF_COLOUR });
    contests.forEach((c) => c.choices.forEach((ch) => addParty(ch, false)));

    // The house: every seat of every contest that fills seats in it (a
    // presidency is not a seat).
    const houseContests = contests.filter((c) => c.kind !== KIND_PRESIDENT);
    const house = houseContests.reduce((sum, c) => sum + c.seats, 0);
    return { contests, houseContests, primary, parties, house,
      regions: def.regions || [], districts: def.districts || [] };
  }

  // ---- applying feed messages --------------------------------------------
  function applyValues(target, message) {
    for (const t of message.totals || []) {
      target.totals.set(key(t.contestId, scopeKey(t.scope)), t);
    }
    for (const a of message.allocations || []) {
      target.allocations.set(key(a.contestId, scopeKey(a.scope)), a);
    }
    if (message.progress) target.progress = message.progress;
    if (message.signedHead) target.signedHead = message.signedHead;
  }

  const handlers = {
    snapshot(m) {
      if (!staging) staging = { totals: new Map(), allocations: new Map(),
        progress: null };
      applyValues(staging, m);
    },
    snapshot_complete(m) {
      const s = staging || { totals: new Map(), allocations: new Map(),
        progress: null };
      staging = null;
      state.totals = s.totals;
      state.allocations = s.allocations;
      state.progress = s.progress;
      if (s.signedHead) state.signedHead = s.signedHead;
      state.revision = num(m.revision);
      state.synced = true;
      // A snapshot carries no commit time: it is current as of now.
      if (!state.lastCommit) state.lastCommit = new Date();
      setConnection('live');
    },
    event(m) {
      applyValues(state, m);
      state.revision = Math.max(state.revision, num(m.revision));
      if (m.committedAt) state.lastCommit = new Date(m.committedAt);
      if (state.synced) setConnection('live');
    },
    progress(m) {
      state.revision = Math.max(state.revision, num(m.revision));
    },
    compacted() {
      // Our revision is older than the retained log: start again from a
      // snapshot on a new stream.
      reconnect(0, 'resyncing');
    },
    resync() {
      // A fresh snapshot follows on this stream.
      staging = null;
      setConnection('resyncing');
    },
  };
  const KINDS = Object.keys(handlers);

  function dispatch(kind, data) {
    let message;
    try {
      message = camelize(JSON.parse(data));
    } catch (e) {
      console.warn('unreadable feed message', kind, e);
      return;
    }
    // A message without an "event:" line may carry the whole WatchResponse.
    if (kind === 'message') {
      const inner = KINDS.find((k) => message[k] !== undefined ||
          message[k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] !==
          undefined);
      if (!inner) return;
      kind = inner;
      message = message[inner] ??
          message[inner.replace(/_([a-z])/g, (_, c) => c.toUpperCase())];
    }
    handlers[kind](message || {});
    streamFailures = 0;
    // Other sections of the page (forensics.js) follow the same feed.
    window.dispatchEvent(new CustomEvent('tally:feed',
        { detail: { kind, message: message || {} } }));
    lastMessageAt = Date.now();
    scheduleRender();
  }

  // ---- the connection ------------------------------------------------------
  let source = null;
  let lastMessageAt = 0;
  let retryDelay = 1000;
  let retryTimer = null;
  // The server sends progress at least every few seconds; silence this long
  // means a dead connection that the browser has not noticed.
  const STALE_MS = 45000;

  function setConnection(stateName) {
    const el = document.getElementById('connection-status');
    if (el.dataset.state === stateName) return;
    el.dataset.state = stateName;
    el.querySelector('.label').textContent = stateName;
  }

  // ---- the polling fallback -------------------------------------------------
  // Without EventSource, or when the stream keeps failing before any message
  // arrives (a proxy that cannot stream), the page polls /v1/results. With
  // cache: 'no-cache' the browser revalidates its copy with If-None-Match,
  // so an unchanged answer costs a 304, and a cache in front of the gateway
  // answers most polls itself. Every minute the stream is tried again; one
  // more failure brings the page back to polling.
  const POLL_MS = 1500;
  const MAX_STREAM_FAILURES = 3;
  const RETRY_STREAM_MS = 60000;
  let streamFailures = 0;
  let polling = false;
  let pollingSince = 0;
  let lastEtag = null;

  async function poll() {
    if (!polling) return;
    if (typeof EventSource !== 'undefined' &&
        Date.now() - pollingSince > RETRY_STREAM_MS) {
      polling = false;
      streamFailures = MAX_STREAM_FAILURES - 1;
      connect(state.synced ? state.revision : 0);
      return;
    }
    try {
      const r = await fetch('v1/results?all_scopes=true', { cache: 'no-cache' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const etag = r.headers.get('ETag');
      if (etag === null || etag !== lastEtag) {
        const m = camelize(await r.json());
        const results = m.results || [];
        handlers.snapshot({
          totals: results.map((x) => x.totals).filter(Boolean),
          allocations: results.map((x) => x.allocation)
              .filter((a) => a && a.contestId),
        });
        handlers.snapshot_complete({ revision: m.revision });
        lastEtag = etag;
        scheduleRender();
      }
      setConnection('polling');
    } catch (e) {
      setConnection('offline');
    }
    setTimeout(poll, POLL_MS);
  }

  function startPolling() {
    if (polling) return;
    polling = true;
    pollingSince = Date.now();
    if (source) source.close();
    source = null;
    clearTimeout(retryTimer);
    poll();
  }

  function connect(fromRevision) {
    if (typeof EventSource === 'undefined') return startPolling();
    const params = new URLSearchParams({ from_revision: String(fromRevision) });
    const es = new EventSource(`v1/watch?${params}`);
    source = es;
    lastMessageAt = Date.now();
    for (const kind of [...KINDS, 'message']) {
      es.addEventListener(kind, (e) => {
        if (es === source) dispatch(kind, e.data);
      });
    }
    es.onopen = () => {
      retryDelay = 1000;
      lastMessageAt = Date.now();
      setConnection(state.synced && !staging ? 'live' : 'syncing');
    };
    es.onerror = () => {
      if (es !== source) return;
      if (++streamFailures >= MAX_STREAM_FAILURES) return startPolling();
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error): retry ourselves, resuming
        // from what we have.
        reconnect(state.synced ? state.revision : 0, 'offline');
      } else {
        setConnection('reconnecting');
      }
    };
  }

  function reconnect(fromRevision, status) {
    if (polling) return;
    if (source) source.close();
    source = null;
    staging = null;
    if (fromRevision === 0) state.synced = false;
    setConnection(status);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => connect(fromRevision),
        fromRevision === 0 && status === 'resyncing' ? 0 : retryDelay);
    retryDelay = Math.min(retryDelay * 2, 30000);
  }

  setInterval(() => {
    if (source && Date.now() - lastMessageAt > STALE_MS) {
      if (++streamFailures >= MAX_STREAM_FAILURES) return startPolling();
      reconnect(state.synced ? state.revision : 0, 'reconnecting');
    }
  }, 5000);

  // ---- rendering -----------------------------------------------------------
  let renderTimer = null;
  function scheduleRender() {
    if (renderTimer === null) {
      renderTimer = setTimeout(() => {
        renderTimer = null;
        render();
      }, 40);
    }
  }

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === 'class') node.className = value;
      else if (name === 'style') node.style.cssText = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }
  function setValue(id, value, text) {
    const node = $(id);
    node.dataset.value = String(value);
    node.textContent = text;
  }

  function contestTotals(contest, scope = contest.scope) {
    return state.totals.get(key(contest.id, scope)) || null;
  }
  function contestAllocation(contest) {
    return state.allocations.get(key(contest.id, contest.scope)) || null;
  }
  const votesOf = (totals) => {
    const votes = new Map();
    for (const c of totals?.choices || []) votes.set(c.choiceId, num(c.votes));
    return votes;
  };

  // The number a threshold share is measured against (VoteBase).
  function baseVotes(totals, base) {
    const list = (totals?.choices || []).reduce((s, c) => s + num(c.votes), 0);
    if (base === 'VOTE_BASE_VALID_VOTES' || base === 2) {
      return list + num(totals?.againstAll);
    }
    if (base === 'VOTE_BASE_BALLOTS_CAST' || base === 3) {
      return num(totals?.ballotsCast) ||
          list + num(totals?.againstAll) + num(totals?.invalid);
    }
    return list;
  }
  const VOTE_BASES = ['VOTE_BASE_UNSPECIFIED', 'VOTE_BASE_LIST_VOTES',
    'VOTE_BASE_VALID_VOTES', 'VOTE_BASE_BALLOTS_CAST'];
  // The base of the published shares in words, as tallyctl names it
  // ("party votes + against all"): the totals' shareBase, else the rule's.
  function shareBaseWords(contest, totals) {
    const base = enumName(totals?.shareBase ?? contest.rule?.shareBase,
        VOTE_BASES);
    const votes = enumName(contest.kind, CONTEST_KINDS) ===
        'CONTEST_KIND_PARTY_LIST' ? 'party votes' : 'candidate votes';
    if (base === 'VOTE_BASE_BALLOTS_CAST') return 'ballots cast';
    if (base === 'VOTE_BASE_VALID_VOTES' && contest.againstAllOnBallot) {
      return `${votes} + against all`;
    }
    return votes;
  }
  // The threshold's base in words (it may differ from the shares' base).
  const THRESHOLD_BASE_WORDS = {
    VOTE_BASE_VALID_VOTES: 'of votes + against all',
    VOTE_BASE_BALLOTS_CAST: 'of ballots cast',
  };

  function render() {
    const model = state.model;
    if (!model) return;
    renderStatus(model);
    renderProgress(model);
    renderList(model);
    renderSeats(model);
    renderRegions(model);
    renderDistricts(model);
    renderLog();
  }

  // ---- the transparency log ------------------------------------------------
  const Log = window.TallyLog;
  const shortHex = (base64) => (base64 ? Log.toHex(Log.fromBase64(base64))
      .slice(0, 16) : '');
  let witnessesOfSize = -1;
  let witnessFetch = null;

  function renderLog() {
    const head = state.signedHead && state.signedHead.head;
    if (!head) return;
    const box = $('log-head');
    const size = num(head.treeSize);
    box.dataset.root = shortHex(head.rootHash);
    box.dataset.size = String(size);
    box.dataset.revision = String(num(head.revision));
    $('log-root').textContent = box.dataset.root;
    $('log-root').title = Log.toHex(Log.fromBase64(head.rootHash));
    $('log-size').textContent = fmtInt(size);
    $('log-revision').textContent = fmtInt(num(head.revision));
    $('log-witnesses').dataset.value = String(state.witnesses);
    $('log-witnesses').textContent = fmtInt(state.witnesses);
    // The cosignatures come with the checkpoint: asked again when the tree
    // grew, one request at a time.
    if (size !== witnessesOfSize && !witnessFetch) {
      witnessFetch = fetch('v1/tree-head', { cache: 'no-store' })
          .then((r) => (r.ok ? r.json() : null))
          .then((body) => {
            if (!body) return;
            const answer = camelize(body);
            const note = answer.checkpoint || '';
            // The log's own signature line and one line per witness.
            const lines = note.split('\n').filter((l) => l.startsWith('\u2014 '));
            witnessesOfSize = num(answer.signedHead?.head?.treeSize);
            state.witnesses = Math.max(0, lines.length - 1);
            scheduleRender();
          })
          .catch(() => {})
          .finally(() => { witnessFetch = null; });
    }
  }

  function showCheck(stateName, text) {
    const out = $('check-result');
    out.dataset.state = stateName;
    out.textContent = text;
  }

  // Fetches the station's inclusion proof for the page's list contest and
  // verifies it here: the leaf's hash, the path to the signed root, and
  // that the leaf holds this station's protocol of this contest.
  async function checkStation(stationText) {
    const station = Number(stationText);
    const contestId = $('national-total').dataset.contestId;
    if (!Number.isInteger(station) || station <= 0 || !contestId) {
      showCheck('failed', 'Enter a station id (a positive number).');
      return;
    }
    showCheck('checking', `Checking station ${station}…`);
    let proof;
    try {
      const params = new URLSearchParams({ contest: contestId,
        station: String(station) });
      const r = await fetch(`v1/proof?${params}`, { cache: 'no-store' });
      const body = camelize(await r.json());
      if (!r.ok) {
        showCheck('failed', `Station ${station}: ${body.error || `HTTP ${r.status}`}`);
        return;
      }
      proof = body;
    } catch (e) {
      showCheck('failed', `Station ${station}: the proof could not be fetched (${e.message}).`);
      return;
    }
    const head = proof.signedHead && proof.signedHead.head;
    if (!head) {
      showCheck('failed', `Station ${station}: the proof came without a signed head.`);
      return;
    }
    const leaf = Log.fromBase64(proof.leafData);
    const result = await Log.verifyInclusion(num(proof.leafIndex),
        num(proof.treeSize), leaf, (proof.auditPath || []).map(Log.fromBase64),
        Log.fromBase64(head.rootHash));
    let entry = null;
    try {
      entry = Log.decodeLogEntry(leaf);
    } catch (e) {
      result.ok = false;
      result.reason = `the leaf is not a log entry (${e.message})`;
    }
    if (result.ok && (entry.protocol.stationId !== station ||
        entry.protocol.contestId !== contestId)) {
      result.ok = false;
      result.reason = `the leaf holds station ${entry.protocol.stationId} of ` +
          `${entry.protocol.contestId}`;
    }
    if (!result.ok) {
      showCheck('failed', `Station ${station}: NOT proven: ${result.reason}.`);
      return;
    }
    const votes = entry.protocol.votes.map((v) =>
      `${v.choiceId} ${fmtInt(Number(v.votes))}`).join(', ');
    showCheck('verified', `Station ${station}, version ` +
        `${entry.protocol.version}: leaf ${fmtInt(num(proof.leafIndex))} of ` +
        `the ${fmtInt(num(proof.treeSize))} protocols under signed root ` +
        `${shortHex(head.rootHash)} (revision ${fmtInt(num(head.revision))}); ` +
        `proof verified in this browser. Counted: ${votes}.`);
  }

  function renderStatus(model) {
    const rev = $('revision');
    rev.dataset.revision = String(state.revision);
    rev.textContent = fmtInt(state.revision);
    if (state.lastCommit) {
      const t = $('last-update');
      t.dateTime = state.lastCommit.toISOString();
      t.textContent = formatTime(state.lastCommit, model);
    }
    // Final once every contest's allocation says so.
    const allocations = model.contests.map(contestAllocation);
    let status = 'waiting';
    if (state.synced && allocations.some(Boolean)) {
      status = allocations.every((a) => a && !a.provisional) ?
        'final' : 'provisional';
    }
    const pill = $('result-status');
    pill.dataset.status = status;
    pill.textContent = status;
  }

  function formatTime(date, model) {
    const options = { hour: '2-digit', minute: '2-digit', second: '2-digit',
      timeZoneName: 'short' };
    try {
      return date.toLocaleTimeString(undefined,
          { ...options, timeZone: model.timeZone || undefined });
    } catch (e) {
      return date.toLocaleTimeString(undefined, options);
    }
  }

  function renderProgress(model) {
    const primaryTotals = model.primary && contestTotals(model.primary);
    const reported = num(state.progress ? state.progress.stationsReported :
      primaryTotals?.stationsReported);
    const expected = num(state.progress ? state.progress.stationsExpected :
      primaryTotals?.stationsExpected);
    setValue('stations-reported', reported, fmtInt(reported));
    setValue('stations-expected', expected, fmtInt(expected));
    const share = expected > 0 ? reported / expected : 0;
    setValue('reported-percent', share.toFixed(6), fmtPct(reported, expected, 1));
    $('reported-bar').style.width = `${(100 * share).toFixed(2)}%`;

    const registered = num(primaryTotals?.registeredVoters);
    const issued = num(primaryTotals?.ballotsIssued);
    setValue('turnout', registered > 0 ? (issued / registered).toFixed(6) : 0,
        fmtPct(issued, registered, 1));
    $('registered-reported').textContent = fmtInt(registered);
    const cast = num(primaryTotals?.ballotsCast);
    setValue('ballots-cast', cast, fmtInt(cast));
    const detail = [`${fmtInt(num(primaryTotals?.invalid))} invalid`];
    if (model.primary?.againstAllOnBallot) {
      detail.push(`${fmtInt(num(primaryTotals?.againstAll))} against all`);
    }
    $('ballots-detail').textContent = detail.join(' · ');
  }

  // Rows are made once per contest and then only updated, so bar widths
  // animate between revisions.
  let listRows = null;

  function buildListRows(model) {
    const box = $('national-total');
    box.replaceChildren();
    box.dataset.contestId = model.primary.id;
    listRows = new Map();
    const row = (id, attrs, label, colour) => {
      const bar = el('div', { class: 'bar', style: `background:${colour}` });
      const votes = el('span', { class: 'votes' });
      const pct = el('span', { class: 'pct' });
      const seats = el('span', { class: 'seats' });
      const badge = el('span', { class: 'badge decided', hidden: '',
        title: 'These seats are certain whatever the stations still to ' +
          'report hold' }, 'decided');
      const node = el('div', { class: 'row', ...attrs },
          el('div', { class: 'label' },
              el('span', { class: 'swatch', style: `background:${colour}` }),
              el('span', { class: 'name', title: label }, label), badge),
          el('div', { class: 'track' }, bar),
          el('div', { class: 'figures' }, pct, votes, seats));
      listRows.set(id, { node, bar, votes, pct, seats, badge });
      box.append(node);
    };
    for (const choice of model.primary.choices) {
      const party = model.parties.get(choice.id);
      row(choice.id, { 'data-choice-id': choice.id }, choice.name,
          party.colour);
    }
    if (model.primary.againstAllOnBallot) {
      row(':against', { 'data-line': 'against-all', class: 'row other' },
          'Against all', '#8d939c');
    }
    row(':invalid', { 'data-line': 'invalid', class: 'row other' },
        'Invalid ballots', '#b9bec6');
    const line = el('div', { class: 'threshold', hidden: '' },
        el('span', {}, ''));
    line.id = 'threshold-line';
    box.append(line);
  }

  function renderList(model) {
    const contest = model.primary;
    if (!contest) return;
    if (!listRows) buildListRows(model);
    const totals = contestTotals(contest);
    const allocation = contestAllocation(contest);
    const votes = votesOf(totals);
    const rule = contest.rule || {};
    const thresholdPct = parseFloat(rule.thresholdPercent || '0') || 0;
    const base = baseVotes(totals, rule.thresholdBase);
    const thresholdVotes = allocation && allocation.thresholdVotes !== undefined ?
      num(allocation.thresholdVotes) : Math.ceil(base * thresholdPct / 100);
    const seatsBy = new Map();
    const passed = new Map();
    const certain = new Map();
    for (const c of allocation?.choices || []) {
      seatsBy.set(c.choiceId, num(c.seats));
      passed.set(c.choiceId, !!c.passedThreshold);
      certain.set(c.choiceId, seatsCertain(allocation, c));
    }

    const shares = new Map();
    for (const c of totals?.choices || []) shares.set(c.choiceId, c.share);
    // "Against all" has a share only where it is part of the base.
    const againstAllInBase = ['VOTE_BASE_VALID_VOTES', 'VOTE_BASE_BALLOTS_CAST']
        .includes(enumName(totals?.shareBase, VOTE_BASES));
    const lines = [...contest.choices.map((c) => [c.id, votes.get(c.id) || 0])];
    if (contest.againstAllOnBallot) {
      lines.push([':against', num(totals?.againstAll)]);
    }
    lines.push([':invalid', num(totals?.invalid)]);
    const scale = Math.max(1, ...lines.map(([, v]) => v),
        thresholdPct > 0 ? thresholdVotes : 0);

    for (const [id, v] of lines) {
      const row = listRows.get(id);
      row.node.dataset.votes = String(v);
      row.bar.style.width = `${(100 * v / scale).toFixed(3)}%`;
      row.votes.textContent = fmtInt(v);
      let pct = '';
      if (!id.startsWith(':')) {
        pct = fmtShare(shares.get(id));
      } else if (id === ':against' && againstAllInBase) {
        pct = fmtShare(totals?.againstAllShare);
      }
      row.pct.textContent = pct;
      row.node.dataset.percent = pct.endsWith('%') ? pct.slice(0, -1) : '';
      if (!id.startsWith(':')) {
        const seats = seatsBy.get(id) || 0;
        row.node.dataset.seats = String(seats);
        row.seats.textContent = seats > 0 ? `${seats} seats` : '';
        if (seats === 1) row.seats.textContent = '1 seat';
        // The list's seats that are certain (SeatAllocation ranges).
        const decided = !!certain.get(id);
        row.node.dataset.decided = String(decided);
        row.badge.hidden = !decided;
        const below = thresholdPct > 0 && base > 0 && (allocation ?
          !passed.get(id) : v < thresholdVotes);
        row.node.classList.toggle('below', below);
      }
    }

    const line = $('threshold-line');
    if (thresholdPct > 0 && base > 0) {
      line.hidden = false;
      line.style.setProperty('--at', (thresholdVotes / scale).toFixed(5));
      line.firstChild.textContent = `${rule.thresholdPercent}% threshold`;
    } else {
      line.hidden = true;
    }

    $('list-title').textContent = contest.name;
    const shareWords = shareBaseWords(contest, totals);
    $('list-base').dataset.shareBase = shareWords;
    const parts = [`Share of ${shareWords}`];
    if (thresholdPct > 0) {
      const of = THRESHOLD_BASE_WORDS[enumName(rule.thresholdBase, VOTE_BASES)] ||
          'of party votes';
      parts.push(`threshold ${rule.thresholdPercent}% ${of}`);
    }
    parts.push(`${fmtInt(contest.seats)} seats`);
    $('list-base').textContent = parts.join(' · ');
    $('list-allocation').textContent = allocationNote(allocation);
  }

  // A choice's seats are certain: the whole allocation is decided, or its
  // own range is closed while validation bounds what is still to come
  // (SeatAllocation.decided, range_basis, ChoiceSeats.min/max_seats).
  const RANGE_BASES = ['RANGE_BASIS_UNSPECIFIED', 'RANGE_BASIS_FINAL',
    'RANGE_BASIS_BALLOT_CAP', 'RANGE_BASIS_UNBOUNDED'];
  function seatsCertain(allocation, choice) {
    if (!allocation) return false;
    if (allocation.decided) return true;
    return enumName(allocation.rangeBasis, RANGE_BASES) ===
        'RANGE_BASIS_BALLOT_CAP' && num(choice.minSeats) === num(choice.maxSeats);
  }

  function allocationNote(allocation) {
    if (!allocation) return 'No results yet.';
    switch (allocation.status) {
      case 'ALLOCATION_STATUS_NO_VOTES': return 'No votes counted yet.';
      case 'ALLOCATION_STATUS_NO_LIST_PASSED':
        return 'No list has reached the threshold yet.';
      case 'ALLOCATION_STATUS_RUNOFF_REQUIRED': return 'A runoff is required.';
      case 'ALLOCATION_STATUS_AGAINST_ALL_PREVAILED':
        return '"Against all" leads: no winner.';
      default: {
        const last = allocation.lastSeat;
        const model = state.model;
        if (!last?.winnerChoiceId || !last.runnerUpChoiceId) return '';
        const name = (id) => model.parties.get(id)?.name || id;
        return `Last seat: ${name(last.winnerChoiceId)}. ${name(
            last.runnerUpChoiceId)} would take it with ${fmtInt(
            num(last.marginVotes))} more votes.`;
      }
    }
  }

  // ---- the hemicycle -------------------------------------------------------
  // Seats on concentric half rings, as many rows as needed for equal
  // spacing; ordered by angle so each party forms a wedge.
  function hemicycleLayout(n) {
    if (n <= 0) return { seats: [], dot: 0 };
    const inner = 0.38;
    let rows = 1;
    const radii = (r) => Array.from({ length: r }, (_, i) =>
      r === 1 ? 1 : inner + (1 - inner) * i / (r - 1));
    const gapOf = (r) => (r === 1 ? 1 - inner : (1 - inner) / (r - 1));
    const capacity = (r) => radii(r).reduce((s, rad) =>
      s + Math.floor(Math.PI * rad / gapOf(r)) + 1, 0);
    while (capacity(rows) < n && rows < 60) rows++;
    const rs = radii(rows);
    // Seats per row proportional to the radius (largest remainder).
    const sum = rs.reduce((s, r) => s + r, 0);
    const exact = rs.map((r) => n * r / sum);
    const counts = exact.map(Math.floor);
    let left = n - counts.reduce((s, c) => s + c, 0);
    exact.map((e, i) => [e - Math.floor(e), i]).sort((a, b) => b[0] - a[0])
        .forEach(([, i]) => { if (left > 0) { counts[i]++; left--; } });
    const seats = [];
    let minArc = Infinity;
    rs.forEach((r, i) => {
      const k = counts[i];
      if (k > 1) minArc = Math.min(minArc, Math.PI * r / (k - 1));
      for (let j = 0; j < k; j++) {
        const angle = k === 1 ? Math.PI / 2 : Math.PI * (1 - j / (k - 1));
        seats.push({ angle, r });
      }
    });
    seats.sort((a, b) => b.angle - a.angle || a.r - b.r);
    // Small houses would get huge dots: cap them.
    const dot = Math.min(0.42 * Math.min(gapOf(rows), minArc), 0.085);
    return { seats, dot };
  }

  let hemicycle = null;  // { house, circles: [] }

  function buildHemicycle(house) {
    const svg = $('hemicycle');
    const ns = 'http://www.w3.org/2000/svg';
    svg.replaceChildren();
    svg.dataset.house = String(house);
    const { seats, dot } = hemicycleLayout(house);
    // Centres on rings up to R, so the outer dots stay inside the box.
    const cx = 100, cy = 100, R = 98 / (1 + dot);
    svg.setAttribute('viewBox', `0 0 200 ${(cy + R * dot + 2).toFixed(1)}`);
    const circles = seats.map((s) => {
      const c = document.createElementNS(ns, 'circle');
      c.setAttribute('cx', (cx + R * s.r * Math.cos(s.angle)).toFixed(2));
      c.setAttribute('cy', (cy - R * s.r * Math.sin(s.angle)).toFixed(2));
      c.setAttribute('r', (R * dot).toFixed(2));
      c.setAttribute('fill', UNDECIDED);
      c.setAttribute('class', 'seat');
      svg.append(c);
      return c;
    });
    const total = document.createElementNS(ns, 'text');
    total.setAttribute('x', cx);
    total.setAttribute('y', cy - 4);
    total.setAttribute('class', 'house-total');
    total.textContent = String(house);
    const caption = document.createElementNS(ns, 'text');
    caption.setAttribute('x', cx);
    caption.setAttribute('y', cy + 6);
    caption.setAttribute('class', 'house-caption');
    caption.textContent = `majority ${Math.floor(house / 2) + 1}`;
    svg.append(total, caption);
    hemicycle = { house, circles };
  }

  // The party a seat of `contest` won by `choiceId` counts for: a list's
  // choice is the party; a candidate's is the party that nominated them
  // (Choice.party_id), or the self-nominated row. The same rule as
  // services/domain/composition.h (`tallyctl composition`).
  function seatParty(contest, choiceId) {
    if (contest.kind === KIND_LIST) return choiceId;
    const choice = contest.choices.find((ch) => ch.id === choiceId);
    return choice?.partyId || SELF;
  }

  // Seats per party: list seats from each list contest's allocation, one
  // seat per single-winner contest to its winner's (or current leader's)
  // nominating party.
  function seatCounts(model) {
    const counts = new Map();  // party id -> { list, district }
    const add = (id, field, n) => {
      if (!counts.has(id)) counts.set(id, { list: 0, district: 0 });
      counts.get(id)[field] += n;
    };
    let undecided = 0;
    for (const contest of model.houseContests) {
      const allocation = contestAllocation(contest);
      if (contest.kind === KIND_LIST) {
        let given = 0;
        for (const c of allocation?.choices || []) {
          const seats = num(c.seats);
          if (seats > 0) add(c.choiceId, 'list', seats);
          given += seats;
        }
        undecided += Math.max(0, contest.seats - given);
        continue;
      }
      // Single winner: the allocation's winner; without a decision yet
      // (no allocation, a runoff pending), nobody.
      let winners = (allocation?.choices || []).filter((c) => num(c.seats) > 0);
      if (!allocation) {
        const votes = [...votesOf(contestTotals(contest))]
            .filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]);
        winners = votes.length && (votes.length < 2 || votes[0][1] > votes[1][1]) ?
          [{ choiceId: votes[0][0], seats: 1 }] : [];
      }
      let given = 0;
      for (const w of winners) {
        add(seatParty(contest, w.choiceId), 'district', num(w.seats));
        given += num(w.seats);
      }
      undecided += Math.max(0, contest.seats - given);
    }
    return { counts, undecided };
  }

  function renderSeats(model) {
    $('seats-section').hidden = model.house === 0;
    if (model.house === 0) return;
    if (!hemicycle || hemicycle.house !== model.house) {
      buildHemicycle(model.house);
    }
    const { counts, undecided } = seatCounts(model);
    // Party order: the definition's, so blocks keep their place (the
    // self-nominated after the parties).
    const order = [...model.parties.keys()].filter((id) => counts.has(id));
    for (const id of counts.keys()) if (!order.includes(id)) order.push(id);
    let i = 0;
    const legend = $('seat-legend');
    legend.replaceChildren();
    for (const id of order) {
      const party = model.parties.get(id) ||
          { id, name: id, colour: PALETTE[0] };
      const c = counts.get(id);
      const total = c.list + c.district;
      for (let k = 0; k < total && i < hemicycle.circles.length; k++, i++) {
        hemicycle.circles[i].setAttribute('fill', party.colour);
        hemicycle.circles[i].dataset.party = id;
      }
      const split = [];
      if (c.list) split.push(`${c.list} list`);
      if (c.district) split.push(`${c.district} single-mandate`);
      legend.append(el('li', { 'data-party-id': id === SELF ? '' : id,
        'data-self-nominated': String(id === SELF), 'data-seats': String(total),
        'data-list-seats': String(c.list), 'data-district-seats': String(c.district) },
          el('span', { class: 'swatch', style: `background:${party.colour}` }),
          el('span', { class: 'name' }, party.name),
          el('span', { class: 'count' }, String(total)),
          el('span', { class: 'split' }, split.join(' + '))));
    }
    for (; i < hemicycle.circles.length; i++) {
      hemicycle.circles[i].setAttribute('fill', UNDECIDED);
      delete hemicycle.circles[i].dataset.party;
    }
    if (undecided > 0) {
      legend.append(el('li', { 'data-party-id': '', 'data-undecided': 'true',
        'data-seats': String(undecided) },
          el('span', { class: 'swatch', style: `background:${UNDECIDED}` }),
          el('span', { class: 'name' }, 'Not yet decided'),
          el('span', { class: 'count' }, String(undecided)),
          el('span', { class: 'split' }, '')));
    }
    const assigned = model.house - undecided;
    $('hemicycle').dataset.assigned = String(assigned);
    // Seats not yet certain (SeatAllocation.seats_open; every seat of a
    // contest without an allocation yet), and contests decided.
    let open = 0;
    let decidedContests = 0;
    for (const contest of model.houseContests) {
      const a = contestAllocation(contest);
      open += a ? num(a.seatsOpen) : contest.seats;
      if (a?.decided) decidedContests++;
    }
    const openBox = $('seats-open');
    openBox.dataset.seatsOpen = String(open);
    openBox.dataset.decidedContests = String(decidedContests);
    openBox.dataset.contests = String(model.houseContests.length);
    openBox.textContent = `Seats still open: ${fmtInt(open)} of ${fmtInt(
        model.house)} · ${decidedContests} of ${
        model.houseContests.length} contests decided`;
    $('house-note').textContent = `${fmtInt(model.house)} in the house`;
    const single = model.contests.filter((c) => c.kind === KIND_SINGLE).length;
    const final = model.houseContests.every((c) => {
      const a = contestAllocation(c);
      return a && !a.provisional;
    });
    $('seat-note').textContent = single === 0 ? '' : final ?
      'Single-mandate seats: the party that nominated each district\'s ' +
        'winner, or self-nominated.' :
      'Single-mandate seats go to the party of the candidate currently ' +
        'leading, or self-nominated.';
  }

  // ---- regions -------------------------------------------------------------
  let regionRows = null;

  function renderRegions(model) {
    const section = $('regions-section');
    const contest = model.primary;
    if (!contest || contest.districtId || model.regions.length < 2) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const body = $('region-table').tBodies[0];
    if (!regionRows) {
      regionRows = new Map();
      body.replaceChildren();
      for (const region of model.regions) {
        const cells = {
          reported: el('td', { class: 'num' }),
          turnout: el('td', { class: 'num' }),
          leading: el('td', { class: 'leading' }),
        };
        const tr = el('tr', { 'data-region-id': region.id },
            el('th', { scope: 'row' }, region.name || region.id),
            cells.reported, cells.turnout, cells.leading);
        regionRows.set(region.id, { tr, ...cells });
        body.append(tr);
      }
    }
    for (const region of model.regions) {
      const row = regionRows.get(region.id);
      const t = contestTotals(contest, `region/${region.id}`);
      const reported = num(t?.stationsReported);
      const expected = num(t?.stationsExpected);
      row.tr.dataset.stationsReported = String(reported);
      const meter = el('span', { class: 'mini' }, el('span', {
        style: `width:${expected ? (100 * reported / expected).toFixed(1) : 0}%` }));
      row.reported.replaceChildren(meter, el('span', {},
          expected ? fmtPct(reported, expected, 1) : '—'));
      row.turnout.textContent = fmtPct(num(t?.ballotsIssued),
          num(t?.registeredVoters), 1);
      const votes = [...votesOf(t)].sort((a, b) => b[1] - a[1]);
      if (votes.length && votes[0][1] > 0) {
        const party = model.parties.get(votes[0][0]) ||
            { name: votes[0][0], colour: PALETTE[0] };
        const leader = (t?.choices || []).find((c) => c.choiceId === votes[0][0]);
        row.tr.dataset.leading = votes[0][0];
        row.leading.replaceChildren(
            el('span', { class: 'swatch', style: `background:${party.colour}` }),
            el('span', { class: 'name' }, party.name),
            el('span', { class: 'pct' }, fmtShare(leader?.share, 1)));
      } else {
        delete row.tr.dataset.leading;
        row.leading.replaceChildren(el('span', { class: 'none' }, 'no results'));
      }
    }
  }

  // ---- districts -----------------------------------------------------------
  // One row per single-mandate contest: reporting, the leader, and whether
  // the winner is certain ("decided", SeatAllocation.decided, with the
  // revision it became so) or final.
  let districtRows = null;

  function renderDistricts(model) {
    const section = $('districts-section');
    const contests = model.contests.filter((c) => c.kind === KIND_SINGLE &&
        c.districtId);
    section.hidden = contests.length === 0;
    if (contests.length === 0) return;
    const body = $('district-table').tBodies[0];
    if (!districtRows) {
      districtRows = new Map();
      body.replaceChildren();
      const names = new Map(model.districts.map((d) => [d.id, d.name]));
      for (const contest of contests) {
        const cells = {
          reported: el('td', { class: 'num' }),
          leading: el('td', { class: 'leading' }),
          status: el('td', { class: 'status' }),
        };
        const tr = el('tr', { 'data-contest-id': contest.id,
          'data-district-id': contest.districtId, 'data-decided': 'false' },
            el('th', { scope: 'row' },
                names.get(contest.districtId) || contest.name || contest.id),
            cells.reported, cells.leading, cells.status);
        districtRows.set(contest.id, { tr, ...cells });
        body.append(tr);
      }
    }
    for (const contest of contests) {
      const row = districtRows.get(contest.id);
      const t = contestTotals(contest);
      const a = contestAllocation(contest);
      const reported = num(t?.stationsReported);
      const expected = num(t?.stationsExpected);
      row.reported.textContent = expected ? fmtPct(reported, expected, 1) : '—';
      const votes = [...votesOf(t)].sort((x, y) => y[1] - x[1]);
      const leaderId = a?.decidedWinnerChoiceId ||
          (votes.length && votes[0][1] > 0 ? votes[0][0] : '');
      if (leaderId) {
        const choice = contest.choices.find((ch) => ch.id === leaderId);
        const party = model.parties.get(seatParty(contest, leaderId)) ||
            { colour: PALETTE[0] };
        const share = (t?.choices || []).find((c) => c.choiceId === leaderId);
        row.leading.replaceChildren(
            el('span', { class: 'swatch', style: `background:${party.colour}` }),
            el('span', { class: 'name' }, choice?.name || leaderId),
            el('span', { class: 'pct' }, fmtShare(share?.share, 1)));
      } else {
        row.leading.replaceChildren(el('span', { class: 'none' }, 'no results'));
      }
      const decided = !!a?.decided;
      row.tr.dataset.decided = String(decided);
      row.tr.dataset.decidedRevision = String(num(a?.decidedRevision));
      row.tr.dataset.winner = a?.decidedWinnerChoiceId || '';
      if (decided) {
        row.status.replaceChildren(el('span', { class: 'badge decided',
          title: `decided at revision ${num(a.decidedRevision)}` },
        a.provisional ? 'decided' : 'final'));
      } else {
        row.status.replaceChildren(el('span', { class: 'none' }, 'open'));
      }
    }
  }

  // ---- start -----------------------------------------------------------------
  async function start() {
    let response;
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await fetch('v1/election', { cache: 'no-store' });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        response = camelize(await r.json());
        break;
      } catch (e) {
        setConnection('offline');
        $('election-name').textContent = 'Waiting for the results service…';
        await new Promise((done) => setTimeout(done,
            Math.min(1000 * 2 ** attempt, 30000)));
      }
    }
    const def = response.definition || {};
    state.definition = def;
    state.model = buildModel(def);
    state.model.timeZone = def.timeZone;
    document.title = `${def.name || def.id} — live results`;
    $('election-name').textContent = def.name || def.id || 'Election';
    const meta = [];
    if (def.date) meta.push(def.date);
    if (def.pollsCloseLocalTime) {
      meta.push(`polls close ${def.pollsCloseLocalTime}${def.timeZone ?
        ` (${def.timeZone})` : ''}`);
    }
    const registered = num(response.registeredVoters);
    if (registered) meta.push(`${fmtInt(registered)} registered voters`);
    $('election-meta').textContent = meta.join(' · ');
    render();
    $('check-form').addEventListener('submit', (event) => {
      event.preventDefault();
      checkStation($('check-station').value.trim());
    });
    setConnection('connecting');
    connect(0);
  }

  start();
})();
